//! Redeployment after outages on the local (kwok) cluster (issue 14): `kraftwerk pod
//! list|info|restart|replace`, a replace that survives operator kills and is done exactly
//! once. Pods are simulated, so the clusters carry `kraftwerk.dev/skip-kafka-gates: "true"`.
//! Run with `make test-integration` (ignored by a plain `cargo test`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Node, PersistentVolumeClaim, Pod};
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use support::{Operator, TestEnv};

/// Every uid each object (by name) had, in order, from a watch: a new uid is a new object.
struct Uids {
    seen: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Uids {
    fn start<K>(api: Api<K>, cluster: &str) -> Uids
    where
        K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    {
        let seen: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Arc::default();
        let s = seen.clone();
        let config = watcher::Config::default().labels(&format!("kraftwerk.dev/cluster={cluster}"));
        let task = tokio::spawn(async move {
            let mut events = watcher(api, config).default_backoff().boxed();
            while let Some(event) = events.next().await {
                if let Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) = event {
                    let mut s = s.lock().unwrap();
                    let uids = s.entry(o.name_any()).or_default();
                    let uid = o.uid().unwrap_or_default();
                    if uids.last() != Some(&uid) {
                        uids.push(uid);
                    }
                }
            }
        });
        Uids { seen, task }
    }

    fn of(&self, name: &str) -> Vec<String> {
        self.seen.lock().unwrap().get(name).cloned().unwrap_or_default()
    }

    fn counts(&self) -> BTreeMap<String, usize> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.len()))
            .collect()
    }
}

impl Drop for Uids {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `kraftwerk <args>` against the test cluster; its stdout.
fn cli(env: &TestEnv, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kraftwerk"))
        .args(args)
        .args(["-n", &env.ns])
        .output()
        .expect("run the kraftwerk CLI");
    assert!(
        out.status.success(),
        "kraftwerk {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn wait_until<F: Fn() -> bool>(what: &str, timeout: Duration, env: &TestEnv, f: F) {
    env.wait_until(what, timeout, f).await;
}

/// A 3+3 cluster that rolls on pod readiness, ready and stable.
async fn ready_cluster(env: &TestEnv, name: &str, spec: Value) {
    env.create_kc(&env.ns, name, spec).await.expect("create");
    env.annotate_kc(name, json!({"kraftwerk.dev/skip-kafka-gates": "true"}))
        .await;
    env.wait_ready(&env.ns, name).await;
    env.wait_condition(&env.ns, name, "Progressing", "False", None)
        .await;
}

fn restart_operator(env: &mut TestEnv, label: &str) -> impl std::future::Future<Output = Operator> + use<> {
    env.operator.kill();
    let namespaces = env.namespaces.clone();
    let name = format!("recovery-{label}-{}", env.ns);
    async move { Operator::start(&name, &namespaces).await }
}

/// `pod replace` discards the broker's volume and recreates its pod, exactly once although the
/// operator is killed right after the request, once the claim is going, and once the pod is
/// going; `pod restart` restarts a node once and keeps its volume; `pod list` and `pod info`
/// show the nodes and the volume.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn pod_replace_and_restart_are_done_once_across_operator_kills() {
    let mut env = TestEnv::new("recovery_replace").await;
    let c = "rep";
    ready_cluster(
        &env,
        c,
        json!({"brokers": {"replicas": 3}, "controllers": {"replicas": 3}}),
    )
    .await;
    let pods = Uids::start(env.api::<Pod>(), c);
    let claims = Uids::start(env.api::<PersistentVolumeClaim>(), c);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before_pods = pods.counts();
    let before_claims = claims.counts();
    assert_eq!(before_pods.len(), 6, "{before_pods:?}");

    let listed: Value = serde_json::from_str(&cli(&env, &["pod", "list", c, "-o", "json"])).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(6), "{listed}");
    let info = cli(&env, &["pod", "info", c, "broker-1"]);
    assert!(
        info.contains("Claim:      data-rep-broker-1 (volume pvc-"),
        "{info}"
    );
    let old_volume = info
        .lines()
        .find(|l| l.starts_with("Claim:"))
        .unwrap()
        .to_string();

    let out = cli(&env, &["pod", "replace", c, "broker-1"]);
    assert!(out.contains("requested replace of broker 1"), "{out}");
    let start = Instant::now();
    // Kill 1: right after the request.
    env.operator = restart_operator(&mut env, "1").await;
    // Kill 2: once the claim is going (deleted or terminating).
    let old_claim = claims.of("data-rep-broker-1")[0].clone();
    until_going(
        &env,
        &env.api::<PersistentVolumeClaim>(),
        "data-rep-broker-1",
        &old_claim,
    )
    .await;
    env.operator = restart_operator(&mut env, "2").await;
    // Kill 3: once the old pod is gone or going.
    let old_pod = pods.of("rep-broker-1")[0].clone();
    until_going(&env, &env.api::<Pod>(), "rep-broker-1", &old_pod).await;
    env.operator = restart_operator(&mut env, "3").await;
    wait_until(
        "a new pod and a new claim for broker 1",
        Duration::from_secs(180),
        &env,
        || pods.of("rep-broker-1").len() >= 2 && claims.of("data-rep-broker-1").len() >= 2,
    )
    .await;
    env.wait_ready(&env.ns, c).await;
    env.wait_condition(&env.ns, c, "Progressing", "False", None).await;
    let took = start.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut want_pods = before_pods.clone();
    *want_pods.get_mut("rep-broker-1").unwrap() += 1;
    let mut want_claims = before_claims.clone();
    *want_claims.get_mut("data-rep-broker-1").unwrap() += 1;
    assert_eq!(pods.counts(), want_pods, "only broker 1's pod is new, once");
    assert_eq!(claims.counts(), want_claims, "only broker 1's claim is new, once");
    let cm: ConfigMap = env.api::<ConfigMap>().get("rep-broker-1").await.unwrap();
    let record = cm
        .annotations()
        .get("kraftwerk.dev/replaced-for")
        .cloned()
        .unwrap_or_default();
    assert!(
        record.starts_with("1@") && record.ends_with(&format!("@{old_pod}")),
        "{record}"
    );
    let info = cli(&env, &["pod", "info", c, "rep-broker-1", "-o", "json"]);
    let info: Value = serde_json::from_str(&info).unwrap();
    assert!(
        !old_volume.contains(info["volume"].as_str().unwrap()),
        "a new volume: {info}"
    );
    println!("replace with 3 operator kills: {took:?}");

    // Restart: a new pod, the same claim, once.
    let out = cli(&env, &["pod", "restart", c, "2"]);
    assert!(out.contains("requested restart of broker 2"), "{out}");
    wait_until("broker 2 restarted", Duration::from_secs(120), &env, || {
        pods.of("rep-broker-2").len() >= 2
    })
    .await;
    env.wait_condition(&env.ns, c, "Progressing", "False", None).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    *want_pods.get_mut("rep-broker-2").unwrap() += 1;
    assert_eq!(pods.counts(), want_pods, "only broker 2's pod is new, once");
    assert_eq!(claims.counts(), want_claims, "a restart keeps the claim");
}

// --- Node loss -----------------------------------------------------------------------------

/// Turns kwok nodes NotReady by writing their status (kwok leaves a node annotated
/// `kwok.x-k8s.io/status=custom` alone), with the transition time now, as a node lifecycle
/// controller would; `restore` (also on drop) hands them back to kwok, Ready.
struct LostNodes {
    names: Vec<String>,
}

fn kubectl_ok(args: &[&str]) {
    let out = support::kubectl().args(args).output().expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ready_patch(status: &str) -> String {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    json!({"status": {"conditions": [{
        "type": "Ready", "status": status, "reason": "Test", "message": "set by integration_recovery",
        "lastTransitionTime": now, "lastHeartbeatTime": now,
    }]}})
    .to_string()
}

/// kubectl commands that write a node's readiness (`custom` hands it to the test).
fn readiness_commands(node: &str, ready: bool) -> [Vec<String>; 3] {
    let status = if ready { "True" } else { "False" };
    let patch = vec![
        "patch".into(),
        "node".into(),
        node.into(),
        "--subresource=status".into(),
        "--type=strategic".into(),
        "-p".into(),
        ready_patch(status),
    ];
    let annotate: Vec<String> = if ready {
        vec![
            "annotate".into(),
            "node".into(),
            node.into(),
            "kwok.x-k8s.io/status-".into(),
        ]
    } else {
        vec![
            "annotate".into(),
            "node".into(),
            node.into(),
            "--overwrite".into(),
            "kwok.x-k8s.io/status=custom".into(),
        ]
    };
    // As the node lifecycle controller does: no new pods on a node that is not Ready.
    let taint: Vec<String> = vec![
        "taint".into(),
        "node".into(),
        node.into(),
        format!("{NOT_READY}:NoSchedule{}", if ready { "-" } else { "" }),
        "--overwrite".into(),
    ];
    // NotReady: kwok lets go of the node first; Ready: the status is written before kwok takes it back.
    if ready {
        [patch, annotate, taint]
    } else {
        [annotate, patch, taint]
    }
}

/// The taint of a node whose Ready condition is False (the controller manager also manages it).
const NOT_READY: &str = "node.kubernetes.io/not-ready";

impl LostNodes {
    fn lose(names: &[&str]) -> LostNodes {
        for n in names {
            for args in readiness_commands(n, false) {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                kubectl_ok(&args);
            }
        }
        LostNodes {
            names: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    fn restore(&mut self) {
        for n in std::mem::take(&mut self.names) {
            let [patch, annotate, taint] = readiness_commands(&n, true);
            for args in [patch, annotate] {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                kubectl_ok(&args);
            }
            // The controller manager may have lifted the taint already.
            let _ = support::kubectl().args(taint).output();
            settled(&n);
        }
    }
}

/// Waits until the controller manager has seen `node` Ready again: its node lifecycle
/// controller lifts the not-ready taints then. Until it has, it marks every pod that lands on
/// the node not Ready, and kwok never sets such a pod Ready again, so the next test's cluster
/// would wait for ever on it. One monitor period (5 s) more covers a controller that saw
/// the node NotReady without tainting it yet.
fn settled(node: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = support::kubectl()
            .args(["get", "node", node, "-o", "jsonpath={.spec.taints[*].key}"])
            .output()
            .expect("run kubectl");
        let taints = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && !taints.contains(NOT_READY) && !taints.contains(UNREACHABLE) {
            break;
        }
        assert!(Instant::now() < deadline, "node {node} still tainted: {taints}");
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(6));
}

/// The taint of a node whose controller manager lost its heartbeats.
const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

impl Drop for LostNodes {
    fn drop(&mut self) {
        for n in std::mem::take(&mut self.names) {
            for args in readiness_commands(&n, true) {
                let _ = support::kubectl().args(args).output();
            }
        }
    }
}

/// The storage class of node-local volumes: no provisioner, volumes made by hand.
const LOCAL: &str = "kraftwerk-test-local";

/// A local PersistentVolume pinned to `node` (node affinity on the hostname label).
fn local_pv(ns: &str, node: &str, k: i32) -> Value {
    json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": format!("{ns}-{node}-{k}"), "labels": {"kraftwerk.dev/test": ns}},
        "spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
            "storageClassName": LOCAL, "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": format!("/tmp/{ns}/{node}/{k}")},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}
        }
    })
}

/// The local storage class and two local PersistentVolumes per kwok node, for this test's
/// namespace (deleted by [`delete_local_pvs`]).
fn local_storage(env: &TestEnv) {
    apply_json(&json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": LOCAL}, "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": "WaitForFirstConsumer", "reclaimPolicy": "Retain"
    }));
    for i in 0..6 {
        for k in 0..2 {
            apply_json(&local_pv(&env.ns, &format!("kwok-node-{i}"), k));
        }
    }
}

/// A 3+3 cluster, brokers on node-local volumes ([`local_storage`]), controllers on the
/// hostpath provisioner's (no node affinity), with `recovery` as its spec.recovery.
async fn local_cluster(env: &TestEnv, name: &str, recovery: Value) {
    local_storage(env);
    ready_cluster(
        env,
        name,
        json!({
            "brokers": {"replicas": 3, "storage": {"size": "1Gi", "storageClassName": LOCAL}},
            "controllers": {"replicas": 3},
            "recovery": recovery,
        }),
    )
    .await;
}

fn delete_local_pvs(env: &TestEnv) {
    let _ = support::kubectl()
        .args([
            "delete",
            "pv",
            "-l",
            &format!("kraftwerk.dev/test={}", env.ns),
            "--wait=false",
        ])
        .output();
}

fn apply_json(v: &Value) {
    let dir = std::env::temp_dir().join(format!("kraftwerk-recovery-{}", uuid_like()));
    std::fs::write(&dir, v.to_string()).unwrap();
    kubectl_ok(&["apply", "-f", dir.to_str().unwrap()]);
    let _ = std::fs::remove_file(dir);
}

fn uuid_like() -> String {
    format!("{:?}", Instant::now()).replace(|c: char| !c.is_ascii_alphanumeric(), "")
}

/// Where each pod of the cluster runs (pod name -> node).
async fn placement(env: &TestEnv) -> BTreeMap<String, String> {
    env.api::<Pod>()
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| Some((p.name_any(), p.spec?.node_name?)))
        .collect()
}

/// Waits until the object `name` whose uid was `uid` is going: deleted, terminating, or
/// replaced by another.
async fn until_going<K>(env: &TestEnv, api: &Api<K>, name: &str, uid: &str)
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    while api
        .get_opt(name)
        .await
        .unwrap()
        .is_some_and(|o| o.meta().deletion_timestamp.is_none() && o.meta().uid.as_deref() == Some(uid))
    {
        assert!(
            Instant::now() < deadline,
            "{name} never went\n{}",
            env.operator.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until pod `name` is bound and Ready; its node.
async fn bound_ready(env: &TestEnv, name: &str) -> String {
    let pods: Api<Pod> = env.api();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(p) = pods.get_opt(name).await.unwrap()
            && p.metadata.deletion_timestamp.is_none()
            && let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.clone())
            && p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        {
            return node;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never bound and Ready\n{}",
            env.operator.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every Event of the test namespace: (reason, note).
async fn all_events(env: &TestEnv) -> Vec<(Option<String>, Option<String>)> {
    let events: Api<k8s_openapi::api::events::v1::Event> = env.api();
    events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| (e.reason, e.note))
        .collect()
}

/// The notes of the Events with `reason`.
async fn event_notes(env: &TestEnv, reason: &str) -> Vec<String> {
    all_events(env)
        .await
        .into_iter()
        .filter(|(r, _)| r.as_deref() == Some(reason))
        .filter_map(|(_, note)| note)
        .collect()
}

async fn degraded(
    env: &TestEnv,
    c: &str,
) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    env.get_kc(&env.ns, c)
        .await
        .status?
        .conditions
        .into_iter()
        .find(|x| x.type_ == "Degraded")
}

/// Node loss on kwok: brokers on node-local volumes (PersistentVolumes pinned to a node),
/// controllers on network volumes (the hostpath provisioner's, reachable from any node). With
/// a 10 s timeout:
/// 1. a node back before the timeout changes nothing;
/// 2. a broker's node lost: after the timeout its claim and pod are replaced (new volume, on
///    another node), Degraded=NodeLost names the node, exactly once although the operator is
///    killed three times during the recovery;
/// 3. a controller's node lost: the pod is force-deleted and recreated elsewhere on the same
///    claim;
/// 4. two nodes lost: recovered one at a time (the second pod deleted only once the first is
///    back);
/// 5. the manual policy only reports (the kubectl commands), and a roll during the loss
///    completes on the healthy nodes, skipping the stranded one.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn node_loss_is_recovered_one_node_at_a_time_with_the_right_volume_behaviour() {
    let mut env = TestEnv::new("recovery_node_loss").await;
    let c = "nl";
    local_cluster(&env, c, json!({"nodeLossTimeoutSeconds": 10})).await;
    let pods = Uids::start(env.api::<Pod>(), c);
    let claims = Uids::start(env.api::<PersistentVolumeClaim>(), c);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start_pods = pods.counts();
    let start_claims = claims.counts();
    let at = placement(&env).await;
    println!("placement: {at:?}");

    // 1. Back before the timeout: nothing.
    let n0 = at["nl-broker-0"].clone();
    let mut lost = LostNodes::lose(&[&n0]);
    tokio::time::sleep(Duration::from_secs(4)).await;
    lost.restore();
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(pods.counts(), start_pods, "a node back in time changes nothing");
    assert_eq!(claims.counts(), start_claims);

    // 2. A broker's node lost: its local volume is replaced, once, across three kills.
    let n1 = at["nl-broker-1"].clone();
    let old_pod = pods.of("nl-broker-1")[0].clone();
    let claim_api: Api<PersistentVolumeClaim> = env.api();
    let old_volume = claim_api
        .get("data-nl-broker-1")
        .await
        .unwrap()
        .spec
        .and_then(|s| s.volume_name)
        .expect("bound");
    let lost_at = Instant::now();
    let mut lost = LostNodes::lose(&[&n1]);
    // Kill 1: before the timeout; the next operator counts from the Node's transition time,
    // not from its own start.
    tokio::time::sleep(Duration::from_secs(5)).await;
    env.operator = restart_operator(&mut env, "nl1").await;
    let restarted = Instant::now();
    // Kill 2: once the claim is going.
    let old_claim = claims.of("data-nl-broker-1")[0].clone();
    until_going(&env, &claim_api, "data-nl-broker-1", &old_claim).await;
    // Never before the timeout, counted from the Node's Ready transition (the API server's clock).
    let node_api: Api<k8s_openapi::api::core::v1::Node> = Api::all(env.client.clone());
    let since = node_api
        .get(&n1)
        .await
        .unwrap()
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .and_then(|c| c.last_transition_time)
        .unwrap();
    if let Some(deleted) = claim_api
        .get_opt("data-nl-broker-1")
        .await
        .unwrap()
        .and_then(|c| c.metadata.deletion_timestamp)
    {
        assert!(
            deleted.0.as_second() >= since.0.as_second() + 10,
            "claim deleted at {deleted:?}, node not Ready since {since:?}"
        );
    }
    println!(
        "claim going {:?} after the loss, {:?} after the operator restarted 5 s into it",
        lost_at.elapsed(),
        restarted.elapsed()
    );
    env.operator = restart_operator(&mut env, "nl2").await;
    // Kill 3: once the old pod is gone.
    until_going(&env, &env.api::<Pod>(), "nl-broker-1", &old_pod).await;
    env.operator = restart_operator(&mut env, "nl3").await;
    let new_node = bound_ready(&env, "nl-broker-1").await;
    let recovered_in = lost_at.elapsed();
    env.wait_ready(&env.ns, c).await;
    assert_ne!(new_node, n1, "recreated on another node");
    assert_eq!(pods.of("nl-broker-1").len(), 2, "one new pod");
    assert_eq!(
        claims.of("data-nl-broker-1").len(),
        2,
        "one new claim (a new local volume)"
    );
    let old_pv: k8s_openapi::api::core::v1::PersistentVolume =
        Api::all(env.client.clone()).get(&old_volume).await.unwrap();
    assert_eq!(
        old_pv.status.and_then(|s| s.phase).as_deref(),
        Some("Released"),
        "the old volume is released (its reclaim policy decides the rest)"
    );
    let notes = event_notes(&env, "NodeLost").await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains(&format!("node {n1} lost (not Ready since")) && n.contains("nl-broker-1")),
        "a Warning Event NodeLost: {notes:?}; all events: {:?}",
        all_events(&env).await
    );
    // (The RecoveringPod Event of this step may be lost with a killed operator: it follows the
    // deletions. Step 3, without kills, checks it.)
    lost.restore();
    env.wait_condition(&env.ns, c, "Degraded", "False", None).await;
    println!(
        "broker node lost -> broker back on a new volume: {recovered_in:?} (timeout 10 s, 3 operator kills)"
    );

    // 3. A controller's node lost: recreated elsewhere on the same claim. A controller alone on
    // its node when there is one; the scheduler may also have paired every controller with a
    // broker, whose pod is then recovered too (on a new local volume).
    let at = placement(&env).await;
    let sharing = |node: &String| at.values().filter(|x| *x == node).count();
    let (ctrl, nc) = at
        .iter()
        .filter(|(p, _)| p.contains("controller"))
        .min_by_key(|(_, n)| sharing(n))
        .map(|(p, n)| (p.clone(), n.clone()))
        .expect("a controller");
    let before = claims.of(&format!("data-{ctrl}"));
    let pods_before = pods.of(&ctrl).len();
    let mut lost = LostNodes::lose(&[&nc]);
    wait_until("the controller recreated", Duration::from_secs(120), &env, || {
        pods.of(&ctrl).len() > pods_before
    })
    .await;
    env.wait_ready(&env.ns, c).await;
    assert_eq!(
        claims.of(&format!("data-{ctrl}")),
        before,
        "the same claim (a network volume)"
    );
    assert_ne!(bound_ready(&env, &ctrl).await, nc);
    let notes = event_notes(&env, "RecoveringPod").await;
    assert!(
        notes.iter().any(|n| n.contains(&format!(
            "force-deleting {ctrl} from lost node {nc}; it is recreated elsewhere on its volume"
        ))),
        "{notes:?}"
    );
    lost.restore();
    env.wait_condition(&env.ns, c, "Degraded", "False", None).await;

    // 4. Two nodes lost: one at a time. Two brokers on different nodes (the scheduler spreads
    // them, but does not have to).
    let at = placement(&env).await;
    let brokers: Vec<(&String, &String)> = at.iter().filter(|(p, _)| p.contains("broker")).collect();
    let (a, b) = brokers
        .iter()
        .flat_map(|x| brokers.iter().map(move |y| (x, y)))
        .find(|(x, y)| x.0 < y.0 && x.1 != y.1)
        .map(|(x, y)| (x.0.clone(), y.0.clone()))
        .expect("two brokers on different nodes");
    let (na, nb) = (at[&a].clone(), at[&b].clone());
    let counts = pods.counts();
    let watch = ReadyTimes::start(env.api::<Pod>(), c);
    let mut lost = LostNodes::lose(&[&na, &nb]);
    wait_until("both brokers recreated", Duration::from_secs(180), &env, || {
        pods.of(&a).len() > counts[&a] && pods.of(&b).len() > counts[&b]
    })
    .await;
    env.wait_ready(&env.ns, c).await;
    let t = watch.times();
    // Whichever went first, the other went only once it was back.
    let (first, second) = if t.gone[&a] <= t.gone[&b] {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let (first_back, second_gone) = (t.ready[first], t.gone[second]);
    assert!(
        second_gone >= first_back,
        "{second}'s pod went ({second_gone:?}) before {first} was back ({first_back:?})"
    );
    lost.restore();
    env.wait_condition(&env.ns, c, "Degraded", "False", None).await;

    // 5. Manual: status only; a roll meanwhile completes on the healthy nodes.
    env.patch_kc_spec(&env.ns, c, json!({"recovery": {"policy": "Manual"}}))
        .await
        .unwrap();
    let at = placement(&env).await;
    let nm = at["nl-broker-1"].clone();
    // Every pod on that node is stranded (broker 1 may share it with another node of the cluster).
    let stranded: Vec<String> = at
        .iter()
        .filter(|(_, n)| **n == nm)
        .map(|(p, _)| p.clone())
        .collect();
    let counts = pods.counts();
    let claims_before = claims.counts();
    let mut lost = LostNodes::lose(&[&nm]);
    let deadline = Instant::now() + Duration::from_secs(90);
    let message = loop {
        if let Some(d) = degraded(&env, c).await
            && d.reason == "NodeLost"
        {
            break d.message;
        }
        assert!(
            Instant::now() < deadline,
            "no NodeLost\n{}",
            env.operator.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        message.contains("kubectl delete pvc data-nl-broker-1 --wait=false && kubectl delete pod nl-broker-1 --force --grace-period=0"),
        "{message}"
    );
    env.patch_kc_spec(&env.ns, c, json!({"config": {"num.io.threads": 9}}))
        .await
        .unwrap();
    wait_until(
        "the roll on the healthy nodes",
        Duration::from_secs(180),
        &env,
        || {
            counts
                .iter()
                .filter(|(p, _)| !stranded.contains(p))
                .all(|(p, n)| pods.of(p).len() > *n)
        },
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rollout = env.get_kc(&env.ns, c).await.status.and_then(|s| s.rollout);
        let complete = |r: &kraftwerk::crd::RolloutStatus| {
            r.phases
                .iter()
                .flat_map(|p| p.steps.iter())
                .filter(|s| s.state == kraftwerk::crd::StepState::Complete)
                .count()
        };
        if let Some(r) = rollout
            && r.message
                .contains(&format!("nl-broker-1 (on lost node {nm}, being recovered)"))
            && complete(&r) == 6 - stranded.len()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the roll did not complete on the healthy nodes\n{}",
            env.operator.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for p in &stranded {
        assert_eq!(pods.of(p).len(), counts[p], "manual: stranded {p} stays");
    }
    assert_eq!(claims.counts(), claims_before, "manual: no claim deleted");
    lost.restore();
    // Back: the stale broker 1 is rolled too.
    wait_until(
        "broker 1 rolled after its node came back",
        Duration::from_secs(120),
        &env,
        || pods.of("nl-broker-1").len() > counts["nl-broker-1"],
    )
    .await;
    env.wait_condition(&env.ns, c, "Degraded", "False", None).await;
    delete_local_pvs(&env);
}

/// A deleted Node object, created again as it was on drop (kwok takes it back, Ready).
struct DeletedNode(Option<Value>);

impl DeletedNode {
    async fn delete(env: &TestEnv, name: &str) -> DeletedNode {
        let nodes: Api<Node> = Api::all(env.client.clone());
        let mut saved = serde_json::to_value(nodes.get(name).await.unwrap()).unwrap();
        let meta = saved["metadata"].as_object_mut().unwrap();
        for k in ["uid", "resourceVersion", "creationTimestamp", "managedFields"] {
            meta.remove(k);
        }
        saved.as_object_mut().unwrap().remove("status");
        kubectl_ok(&["delete", "node", name, "--wait=true"]);
        DeletedNode(Some(saved))
    }
}

impl Drop for DeletedNode {
    fn drop(&mut self) {
        if let Some(node) = self.0.take() {
            apply_json(&node);
            if let Some(name) = node["metadata"]["name"].as_str() {
                settled(name);
            }
        }
    }
}

/// A broker on a node-local volume whose Node object is deleted (not only NotReady): the pod
/// collector deletes the pods of a deleted Node, and the pod made again can only run where
/// its volume is, so the scheduler cannot place it and no NotReady node is there to time.
/// Recovery sees the volume pinned to a node that is gone: the claim and the pod are replaced
/// at once (the 300 s default timeout does not apply) and the broker comes back on a new
/// volume on another node. The operator is down while the Node and the pod go, as when it is
/// restarted meanwhile.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn a_broker_whose_node_object_is_deleted_comes_back_on_a_new_volume() {
    let mut env = TestEnv::new("recovery_node_gone").await;
    let c = "ng";
    local_cluster(&env, c, json!({})).await;
    let pods = Uids::start(env.api::<Pod>(), c);
    let claims = Uids::start(env.api::<PersistentVolumeClaim>(), c);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let at = placement(&env).await;
    let gone = at["ng-broker-1"].clone();
    let old_pod = pods.of("ng-broker-1")[0].clone();
    let old_claim = claims.of("data-ng-broker-1")[0].clone();

    let next = restart_operator(&mut env, "ng");
    let deleted = DeletedNode::delete(&env, &gone).await;
    // As the pod collector does with the pods of a deleted Node.
    for (pod, node) in &at {
        if *node == gone {
            kubectl_ok(&["-n", &env.ns, "delete", "pod", pod, "--force", "--grace-period=0"]);
        }
    }
    let lost_at = Instant::now();
    env.operator = next.await;
    let new_node = bound_ready(&env, "ng-broker-1").await;
    let took = lost_at.elapsed();
    env.wait_ready(&env.ns, c).await;
    assert_ne!(new_node, gone);
    let new_claim = claims.of("data-ng-broker-1");
    assert!(
        new_claim.len() >= 2 && new_claim.last() != Some(&old_claim),
        "a new claim (a new local volume): {new_claim:?}"
    );
    assert_ne!(pods.of("ng-broker-1").last(), Some(&old_pod));
    let notes = event_notes(&env, "NodeLost").await;
    assert!(
        notes.iter().any(
            |n| n.contains(&format!("node {gone} lost (its Node object is gone) with"))
                && n.contains("ng-broker-1")
        ),
        "{notes:?}"
    );
    let notes = event_notes(&env, "RecoveringPod").await;
    assert!(
        notes.iter().any(|n| n.contains(&format!(
            "replacing ng-broker-1: its volume data-ng-broker-1 is local to lost node {gone}"
        ))),
        "{notes:?}"
    );
    env.wait_condition(&env.ns, c, "Degraded", "False", None).await;
    // The pass that replaced the pod went no further with the pods it had observed before
    // (a rack or address annotation of the deleted pod failed with 404).
    let log = std::fs::read_to_string(&env.operator.log_path).unwrap();
    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("reconcile failed") && l.contains("not found"))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    println!("Node object deleted -> broker back on a new volume on {new_node} in {took:?}");
    drop(deleted);
    delete_local_pvs(&env);
}

/// `spec.recovery.replaceMisplaced`: brokers spread one per node (`hostname:UNIQUE`), then the
/// constraint becomes `@zone:IS:zone-a`. Each broker outside zone-a is replaced (a new pod and a
/// new claim) and lands in zone-a, one at a time (the next goes only once the previous one is
/// back), once each; the brokers already in zone-a and the controllers are left alone.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn misplaced_brokers_are_replaced_one_at_a_time() {
    const ZONE: &str = "topology.kubernetes.io/zone";
    let env = TestEnv::new("recovery_misplaced").await;
    let c = "mp";
    ready_cluster(
        &env,
        c,
        json!({
            "brokers": {"replicas": 3, "placement": {"constraints": "hostname:UNIQUE"}},
            "controllers": {"replicas": 3},
            "recovery": {"replaceMisplaced": true},
        }),
    )
    .await;
    let pods = Uids::start(env.api::<Pod>(), c);
    let claims = Uids::start(env.api::<PersistentVolumeClaim>(), c);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (start_pods, start_claims) = (pods.counts(), claims.counts());
    let zones: BTreeMap<String, String> = Api::<Node>::all(env.client.clone())
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| (n.name_any(), n.labels().get(ZONE).cloned().unwrap_or_default()))
        .collect();
    let at = placement(&env).await;
    let brokers: Vec<String> = (0..3).map(|i| format!("mp-broker-{i}")).collect();
    let misplaced: Vec<&String> = brokers.iter().filter(|b| zones[&at[*b]] != "zone-a").collect();
    assert!(
        !misplaced.is_empty(),
        "UNIQUE over 3 zones puts a broker outside zone-a: {at:?}"
    );

    let watch = ReadyTimes::start(env.api::<Pod>(), c);
    env.patch_kc_spec(
        &env.ns,
        c,
        json!({"brokers": {"placement": {"constraints": "@zone:IS:zone-a"}}}),
    )
    .await
    .unwrap();
    wait_until(
        "every misplaced broker replaced",
        Duration::from_secs(180),
        &env,
        || misplaced.iter().all(|b| pods.of(b).len() > start_pods[*b]),
    )
    .await;
    env.wait_ready(&env.ns, c).await;
    env.wait_condition(&env.ns, c, "Progressing", "False", None).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let now = placement(&env).await;
    for b in &brokers {
        assert_eq!(zones[&now[b]], "zone-a", "{b} on {}", now[b]);
    }
    // Once each, and nothing else.
    let mut want_pods = start_pods.clone();
    let mut want_claims = start_claims.clone();
    for b in &misplaced {
        *want_pods.get_mut(*b).unwrap() += 1;
        *want_claims.get_mut(&format!("data-{b}")).unwrap() += 1;
        let cm: ConfigMap = env.api::<ConfigMap>().get(b).await.unwrap();
        let record = cm
            .annotations()
            .get("kraftwerk.dev/replaced-for")
            .cloned()
            .unwrap_or_default();
        assert_eq!(record, format!("placement:{}@{}", at[*b], pods.of(b)[0]));
    }
    assert_eq!(
        pods.counts(),
        want_pods,
        "only the misplaced brokers are new, once"
    );
    assert_eq!(claims.counts(), want_claims, "each with a new claim");
    // One at a time: each replaced broker went only once the one before was back.
    let t = watch.times();
    let mut order: Vec<(Instant, Instant)> = misplaced.iter().map(|b| (t.gone[*b], t.ready[*b])).collect();
    order.sort();
    for w in order.windows(2) {
        assert!(
            w[1].0 >= w[0].1,
            "a broker went before the previous one was back: {order:?}"
        );
    }
    println!("misplaced brokers {misplaced:?} replaced into zone-a one at a time");
}

/// When each pod was last seen Ready (a new uid) and when its first uid went.
struct ReadyTimes {
    times: Arc<Mutex<Times>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default, Clone)]
struct Times {
    first_uid: BTreeMap<String, String>,
    ready: BTreeMap<String, Instant>,
    gone: BTreeMap<String, Instant>,
}

impl ReadyTimes {
    fn start(api: Api<Pod>, cluster: &str) -> ReadyTimes {
        let times: Arc<Mutex<Times>> = Arc::default();
        let t = times.clone();
        let config = watcher::Config::default().labels(&format!("kraftwerk.dev/cluster={cluster}"));
        let task = tokio::spawn(async move {
            let mut events = watcher(api, config).default_backoff().boxed();
            while let Some(event) = events.next().await {
                let (pod, deleted) = match event {
                    Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => (p, false),
                    Ok(watcher::Event::Delete(p)) => (p, true),
                    _ => continue,
                };
                let mut t = t.lock().unwrap();
                let name = pod.name_any();
                let uid = pod.uid().unwrap_or_default();
                let first = t
                    .first_uid
                    .entry(name.clone())
                    .or_insert_with(|| uid.clone())
                    .clone();
                let ready = pod
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                if uid == first && (deleted || pod.metadata.deletion_timestamp.is_some()) {
                    t.gone.entry(name).or_insert_with(Instant::now);
                } else if uid != first && ready && !deleted {
                    t.ready.entry(name).or_insert_with(Instant::now);
                }
            }
        });
        ReadyTimes { times, task }
    }

    fn times(&self) -> Times {
        self.times.lock().unwrap().clone()
    }
}

impl Drop for ReadyTimes {
    fn drop(&mut self) {
        self.task.abort();
    }
}
