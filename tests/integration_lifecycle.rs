//! Integration tests on the local cluster: creation, status, pod loss, deletion and no churn.
//! Run with `make test-integration` (they are ignored by a plain `cargo test`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Node, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::watcher::{self, watcher};
use kube::{Resource, ResourceExt};
use serde_json::json;
use support::{Names, TIMEOUT, TestEnv, wait_for};

/// Label selector of everything that belongs to one cluster.
fn sel(cluster: &str) -> ListParams {
    ListParams::default().labels(&format!("kraftwerk.dev/cluster={cluster}"))
}

/// A minimal KafkaCluster (`spec: {}`) produces exactly the contract's objects, the pods are
/// bound to (simulated) nodes by the real scheduler, and the status reports Ready, the
/// bootstrap address and one entry per node.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn minimal_cluster_creates_every_object_and_becomes_ready() {
    let env = TestEnv::new("creation").await;
    let ns = env.ns.clone();
    let c = "demo";
    env.create_kc(&ns, c, json!({}))
        .await
        .expect("create the KafkaCluster");
    let kc = env.wait_ready(&ns, c).await;
    let names = Names::new(c, 3, 3);

    // Services: headless with publishNotReadyAddresses, and the bootstrap ClusterIP.
    assert_eq!(env.names_of::<Service>(&ns, c).await, names.services());
    let svcs: Api<Service> = env.api();
    let headless = svcs.get(&format!("{c}-kafka-headless")).await.unwrap();
    let hs = headless.spec.unwrap();
    assert_eq!(
        hs.cluster_ip.as_deref(),
        Some("None"),
        "headless Service must have clusterIP None"
    );
    assert_eq!(hs.publish_not_ready_addresses, Some(true));
    let bootstrap = svcs.get(&format!("{c}-kafka-bootstrap")).await.unwrap();
    let bs = bootstrap.spec.unwrap();
    assert_ne!(
        bs.cluster_ip.as_deref(),
        Some("None"),
        "bootstrap Service must be a ClusterIP"
    );
    assert!(
        bs.ports.unwrap_or_default().iter().any(|p| p.port == 9092),
        "bootstrap Service must expose 9092"
    );

    // One ConfigMap per node holding server.properties with its node.id.
    assert_eq!(env.names_of::<ConfigMap>(&ns, c).await, names.pods());
    let cms: Api<ConfigMap> = env.api();
    for (id, pod) in names.brokers.iter().chain(&names.controllers) {
        let cm = cms.get(pod).await.unwrap();
        let props = cm
            .data
            .unwrap_or_default()
            .remove("server.properties")
            .unwrap_or_default();
        assert!(
            props.lines().any(|l| l.trim() == format!("node.id={id}")),
            "ConfigMap {pod} must set node.id={id}; server.properties:\n{props}"
        );
    }

    // One PVC per node, bound (the local cluster provisions hostPath volumes).
    assert_eq!(env.names_of::<PersistentVolumeClaim>(&ns, c).await, names.pvcs());
    // PDBs per pool with maxUnavailable 1.
    assert_eq!(env.names_of::<PodDisruptionBudget>(&ns, c).await, names.pdbs());
    let pdbs: Api<PodDisruptionBudget> = env.api();
    for p in names.pdbs() {
        let pdb = pdbs.get(&p).await.unwrap();
        let mu = pdb.spec.unwrap().max_unavailable;
        assert_eq!(
            mu,
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1)),
            "PDB {p} maxUnavailable"
        );
    }

    // Pods: the contract's names and labels, each bound to a node, using its own PVC.
    assert_eq!(env.names_of::<Pod>(&ns, c).await, names.pods());
    let pods: Api<Pod> = env.api();
    let nodes: Api<Node> = Api::all(env.client.clone());
    let node_names: BTreeSet<String> = nodes
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|n| n.name_any())
        .collect();
    for (id, pod_name) in names.brokers.iter().chain(&names.controllers) {
        let pod = pods.get(pod_name).await.unwrap();
        let labels = pod.labels();
        assert_eq!(labels.get("kraftwerk.dev/cluster").map(String::as_str), Some(c));
        assert_eq!(
            labels.get("app.kubernetes.io/instance").map(String::as_str),
            Some(c)
        );
        assert_eq!(
            labels.get("app.kubernetes.io/managed-by").map(String::as_str),
            Some("kraftwerk")
        );
        assert_eq!(
            labels.get("kraftwerk.dev/node-id"),
            Some(&id.to_string()),
            "pod {pod_name}"
        );
        let role = if *id >= 9000 { "controller" } else { "broker" };
        assert_eq!(labels.get("kraftwerk.dev/role").map(String::as_str), Some(role));
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        let node = node.unwrap_or_else(|| panic!("pod {pod_name} is not bound to a node"));
        assert!(
            node_names.contains(&node),
            "pod {pod_name} bound to unknown node {node}"
        );
        let claims: Vec<String> = pod
            .spec
            .clone()
            .unwrap()
            .volumes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.persistent_volume_claim.map(|p| p.claim_name))
            .collect();
        assert_eq!(claims, vec![format!("data-{pod_name}")], "pod {pod_name} claims");
        // Every owned object points back at the CR.
        let owner = pod.owner_references().iter().find(|o| o.kind == "KafkaCluster");
        assert_eq!(
            owner.map(|o| o.uid.as_str()),
            kc.meta().uid.as_deref(),
            "pod {pod_name} owner"
        );
    }

    // Status.
    let status = kc.status.clone().expect("status");
    assert_eq!(
        status.bootstrap_servers.as_deref(),
        Some(format!("{c}-kafka-bootstrap.{ns}.svc.cluster.local:9092").as_str())
    );
    assert!(
        status.cluster_id.as_deref().is_some_and(|id| !id.is_empty()),
        "clusterId"
    );
    assert_eq!(status.ready_brokers, 3);
    assert_eq!(status.replicas, 3);
    assert_eq!(
        status.nodes.len(),
        6,
        "one status entry per node: {:?}",
        status.nodes
    );
    for n in &status.nodes {
        assert!(n.ready, "node {} not ready in status", n.pod);
        assert!(n.node.is_some(), "status of {} lacks the node", n.pod);
    }
    let mut ids: Vec<i32> = status.nodes.iter().map(|n| n.id).collect();
    ids.sort();
    assert_eq!(ids, vec![0, 1, 2, 9000, 9001, 9002]);

    // One `Created` Event per pod, each naming its pod (Events about different pods must not
    // be folded into one).
    let events: Api<k8s_openapi::api::events::v1::Event> = env.api();
    let created: BTreeSet<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("Created"))
        .filter_map(|e| e.related.and_then(|r| r.name))
        .collect();
    assert_eq!(
        created,
        names.pods().into_iter().collect::<BTreeSet<String>>(),
        "Created Events"
    );

    // The cluster id stays the same on later reconciles.
    env.patch_kc_spec(&ns, c, json!({ "config": { "num.partitions": 6 } }))
        .await
        .unwrap();
    let kc2 = env.wait_ready(&ns, c).await;
    assert_eq!(
        kc2.status.unwrap().cluster_id,
        status.cluster_id,
        "clusterId must never change"
    );
}

/// A deleted pod comes back with the same name, node id and PVC, and the cluster is Ready again.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn deleted_pod_is_recreated_with_same_id_and_claim() {
    let env = TestEnv::new("pod-loss").await;
    let ns = env.ns.clone();
    let c = "loss";
    env.create_kc(&ns, c, json!({})).await.unwrap();
    env.wait_ready(&ns, c).await;
    let pods: Api<Pod> = env.api();
    let pvcs: Api<PersistentVolumeClaim> = env.api();

    for victim in [format!("{c}-broker-1"), format!("{c}-controller-9001")] {
        let before = pods.get(&victim).await.unwrap();
        let old_uid = before.uid().unwrap();
        let id = before.labels().get("kraftwerk.dev/node-id").cloned().unwrap();
        let pvc_uid = pvcs.get(&format!("data-{victim}")).await.unwrap().uid().unwrap();

        pods.delete(&victim, &DeleteParams::default()).await.unwrap();
        let after = wait_for(&format!("{victim} to be recreated"), TIMEOUT, || async {
            let p = pods.get_opt(&victim).await.ok()??;
            (p.uid().as_deref() != Some(old_uid.as_str()) && p.metadata.deletion_timestamp.is_none())
                .then_some(p)
        })
        .await;
        assert_eq!(
            after.labels().get("kraftwerk.dev/node-id"),
            Some(&id),
            "{victim} changed node id"
        );
        let claims: Vec<String> = after
            .spec
            .clone()
            .unwrap()
            .volumes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.persistent_volume_claim.map(|p| p.claim_name))
            .collect();
        assert_eq!(claims, vec![format!("data-{victim}")]);
        assert_eq!(
            pvcs.get(&format!("data-{victim}")).await.unwrap().uid().unwrap(),
            pvc_uid,
            "the PVC of {victim} must be the same object, not a new one"
        );
        let kc = env.wait_ready(&ns, c).await;
        let st = kc.status.unwrap();
        assert!(
            st.nodes.iter().any(|n| n.pod == victim && n.ready),
            "{victim} ready in status"
        );
    }
}

async fn assert_gone<K>(env: &TestEnv, ns: &str, c: &str, kind: &str)
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = env.api_in(ns);
    wait_for(
        &format!("the {kind}s of {c} to be garbage-collected"),
        TIMEOUT,
        || async { api.list(&sel(c)).await.ok()?.items.is_empty().then_some(()) },
    )
    .await;
}

/// Deleting the CR garbage-collects every owned object; PVCs are kept by default and deleted
/// with `deleteClaim: true`.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn deletion_collects_owned_objects_and_claims_follow_delete_claim() {
    let env = TestEnv::new("deletion").await;
    let ns = env.ns.clone();
    let (keep, drop) = ("keep", "drop");
    env.create_kc(&ns, keep, json!({})).await.unwrap();
    env.create_kc(
        &ns,
        drop,
        json!({
            "brokers": { "storage": { "deleteClaim": true } },
            "controllers": { "storage": { "deleteClaim": true } },
        }),
    )
    .await
    .unwrap();
    env.wait_ready(&ns, keep).await;
    env.wait_ready(&ns, drop).await;
    let kcs = env.dyn_kc(&ns);

    for c in [keep, drop] {
        let finalizers = kcs.get(c).await.unwrap().finalizers().to_vec();
        assert_eq!(finalizers, vec!["kraftwerk.dev/ordered-shutdown".to_string()]);
        // Every pod deletion, in the order the API server records them.
        let deleted = Arc::new(Mutex::new(Vec::<String>::new()));
        let pods: Api<Pod> = env.api();
        let record = deleted.clone();
        let watch = tokio::spawn(
            watcher(
                pods,
                watcher::Config::default().labels(&format!("kraftwerk.dev/cluster={c}")),
            )
            .for_each(move |event| {
                if let Ok(watcher::Event::Delete(p)) = event {
                    record.lock().unwrap().push(p.name_any());
                }
                std::future::ready(())
            }),
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        kcs.delete(c, &DeleteParams::background()).await.unwrap();
        wait_for(&format!("KafkaCluster {c} to be gone"), TIMEOUT, || async {
            kcs.get_opt(c).await.ok()?.is_none().then_some(())
        })
        .await;
        wait_for(&format!("6 pod deletions of {c}"), TIMEOUT, || async {
            (deleted.lock().unwrap().len() == 6).then_some(())
        })
        .await;
        watch.abort();
        // Brokers shut down while the controller quorum still runs.
        let order = deleted.lock().unwrap().clone();
        let last_broker = order.iter().rposition(|p| p.contains("-broker-"));
        let first_controller = order.iter().position(|p| p.contains("-controller-"));
        assert!(
            last_broker < first_controller,
            "brokers must be gone before any controller: {order:?}"
        );
        assert_gone::<Pod>(&env, &ns, c, "Pod").await;
        assert_gone::<Service>(&env, &ns, c, "Service").await;
        assert_gone::<ConfigMap>(&env, &ns, c, "ConfigMap").await;
        assert_gone::<PodDisruptionBudget>(&env, &ns, c, "PodDisruptionBudget").await;
    }
    assert_gone::<PersistentVolumeClaim>(&env, &ns, drop, "PersistentVolumeClaim").await;

    // The kept claims survive: give the garbage collector time to do something wrong.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let pvcs: Api<PersistentVolumeClaim> = env.api();
    let kept = pvcs.list(&sel(keep)).await.unwrap().items;
    let mut kept_names: Vec<String> = kept.iter().map(|p| p.name_any()).collect();
    kept_names.sort();
    assert_eq!(
        kept_names,
        Names::new(keep, 3, 3).pvcs(),
        "deleteClaim=false must keep the PVCs"
    );
    for p in &kept {
        assert!(
            p.metadata.deletion_timestamp.is_none(),
            "PVC {} is being deleted",
            p.name_any()
        );
        assert!(
            p.owner_references().iter().all(|o| o.kind != "KafkaCluster"),
            "kept PVC {} must not be owned by the deleted CR",
            p.name_any()
        );
    }
}

/// `kubectl delete --cascade=orphan` keeps the pods running: the ordered shutdown stands aside.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn orphaning_deletion_keeps_the_pods() {
    let env = TestEnv::new("orphan").await;
    let ns = env.ns.clone();
    let c = "orph";
    env.create_kc(&ns, c, json!({})).await.unwrap();
    env.wait_ready(&ns, c).await;
    let pods: Api<Pod> = env.api();
    let before: BTreeSet<String> = pods
        .list(&sel(c))
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| p.name_any())
        .collect();
    let kcs = env.dyn_kc(&ns);
    kcs.delete(c, &DeleteParams::orphan()).await.unwrap();
    wait_for("the orphaned KafkaCluster to be gone", TIMEOUT, || async {
        kcs.get_opt(c).await.ok()?.is_none().then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = pods.list(&sel(c)).await.unwrap().items;
    assert!(
        after.iter().all(|p| p.metadata.deletion_timestamp.is_none()),
        "no pod may be deleted"
    );
    let after: BTreeSet<String> = after.iter().map(|p| p.name_any()).collect();
    assert_eq!(after, before);
}

/// Once Ready, a reconcile that changes nothing sends no request at all, reads included: it
/// reads from the caches. Only the watches that fill them talk to the API server.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn noop_reconcile_makes_no_requests() {
    let env = TestEnv::new("no-churn").await;
    let ns = env.ns.clone();
    let c = "calm";
    env.create_kc(&ns, c, json!({})).await.unwrap();
    env.wait_ready(&ns, c).await;

    // Let the cluster settle: wait until the request counters stop moving for 5 s.
    let before = env.operator.settled_requests(TIMEOUT).await;
    for verb in ["create", "patch", "list"] {
        assert!(
            before.get(verb).copied().unwrap_or(0.0) > 0.0,
            "kraftwerk_kube_requests_total{{verb=\"{verb}\"}} never counted the creation: {before:?}"
        );
    }
    let kc_before = env.get_kc(&ns, c).await;

    // An annotation changes neither spec nor generation, but triggers a reconcile.
    env.operator.poke(&env.dyn_kc(&ns), c, 3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut after = env.operator.requests_by_verb().await;
    after.remove("watch");
    assert_eq!(after, before, "no-op reconciles sent requests");
    let kc_after = env.get_kc(&ns, c).await;
    assert_eq!(
        kc_after.status, kc_before.status,
        "a no-op reconcile changed the status"
    );
}

/// The operator reports ready only once its caches have synced, and healthy while its loop runs.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn health_endpoints_follow_the_controller() {
    let env = TestEnv::new("health").await;
    let (ready, _) = support::http_get(env.operator.metrics_addr, "/readyz")
        .await
        .unwrap();
    let (alive, _) = support::http_get(env.operator.metrics_addr, "/healthz")
        .await
        .unwrap();
    assert_eq!((ready, alive), (200, 200));
    let text = env.operator.metrics_text().await;
    assert!(
        text.contains("kraftwerk_kube_requests_total{verb=\"watch\"}"),
        "{text}"
    );
}

/// kwok marks every pod Ready; a pod annotated `kwok.x-k8s.io/status=custom` is left alone
/// (the local cluster's kwok runs with that disregard selector), so the test can make a
/// broker NotReady itself. The status must follow, and recover when the pod is Ready again.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn not_ready_pod_is_reported_in_status() {
    let env = TestEnv::new("not-ready").await;
    let ns = env.ns.clone();
    let c = "flaky";
    env.create_kc(&ns, c, json!({})).await.unwrap();
    env.wait_ready(&ns, c).await;
    let pods: Api<Pod> = env.api();
    let victim = format!("{c}-broker-2");

    pods.patch(
        &victim,
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "annotations": { "kwok.x-k8s.io/status": "custom" } } })),
    )
    .await
    .unwrap();
    let pod = pods.get(&victim).await.unwrap();
    let mut conditions = pod.status.and_then(|s| s.conditions).unwrap_or_default();
    for cond in conditions
        .iter_mut()
        .filter(|c| c.type_ == "Ready" || c.type_ == "ContainersReady")
    {
        cond.status = "False".into();
        cond.reason = Some("TestMadeNotReady".into());
    }
    pods.patch_status(
        &victim,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": { "conditions": conditions } })),
    )
    .await
    .unwrap();

    let st = wait_for("the status to report the NotReady broker", TIMEOUT, || async {
        let st = env.get_kc(&ns, c).await.status?;
        let entry = st.nodes.iter().find(|n| n.pod == victim)?;
        (!entry.ready && st.ready_brokers == 2).then_some(st)
    })
    .await;
    let ready = st
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready condition");
    assert_eq!(
        ready.status, "False",
        "Ready must be False with a broker down: {ready:?}"
    );
    assert!(
        ready.message.contains(&victim) || !ready.message.is_empty(),
        "{ready:?}"
    );

    // Make it Ready again (kwok's pod-ready stage only handles Pending pods, so it would not),
    // then hand the pod back to kwok. The cluster is Ready again.
    for cond in conditions
        .iter_mut()
        .filter(|c| c.type_ == "Ready" || c.type_ == "ContainersReady")
    {
        cond.status = "True".into();
        cond.reason = None;
    }
    pods.patch_status(
        &victim,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": { "conditions": conditions } })),
    )
    .await
    .unwrap();
    pods.patch(
        &victim,
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "annotations": { "kwok.x-k8s.io/status": null } } })),
    )
    .await
    .unwrap();
    let kc = env.wait_ready(&ns, c).await;
    assert_eq!(kc.status.unwrap().ready_brokers, 3);
}

/// KafkaUser objects and status on the local cluster (no Kafka runs here, so Kafka is always
/// unavailable): a SCRAM user of a cluster with a SCRAM listener gets its Secret (user name, a
/// generated password, a ready `sasl.jaas.config`; owned by the user) and a status naming it; a
/// user naming a missing cluster gets `ClusterNotFound` naming `spec.cluster`, a Warning Event
/// and no Secret, and goes on once the cluster exists; deletion passes the finalizer once the
/// cluster is gone.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn kafka_users_get_secrets_and_conditions() {
    use k8s_openapi::api::core::v1::Secret;
    use kraftwerk::crd::KafkaUser;
    let env = TestEnv::new("kafka_users").await;
    let ns = env.ns.clone();
    let users: Api<KafkaUser> = env.api();
    let secrets: Api<Secret> = env.api();
    let user = |name: &str, cluster: &str| -> KafkaUser {
        serde_json::from_value(json!({
            "apiVersion": "kraftwerk.dev/v1alpha1", "kind": "KafkaUser",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"cluster": cluster, "authentication": {"type": "scram-sha-512"},
                     "quotas": {"producerByteRate": 1048576}},
        }))
        .unwrap()
    };
    let create = |u: KafkaUser| {
        let users = users.clone();
        async move {
            wait_for("the KafkaUser CRD to serve", TIMEOUT, || {
                let (users, u) = (users.clone(), u.clone());
                async move { users.create(&Default::default(), &u).await.ok() }
            })
            .await
        }
    };
    let ready = |name: &'static str| {
        let users = users.clone();
        async move {
            wait_for(&format!("{name} to have a Ready condition"), TIMEOUT, || {
                let users = users.clone();
                async move {
                    let u = users.get(name).await.ok()?;
                    let c = u.status.as_ref()?.conditions.first()?.clone();
                    Some((u, c))
                }
            })
            .await
        }
    };

    create(user("orphan", "nowhere")).await;
    let (orphan, c) = ready("orphan").await;
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "ClusterNotFound")
    );
    assert!(c.message.contains("spec.cluster"), "{}", c.message);
    assert!(
        orphan
            .finalizers()
            .iter()
            .any(|f| f == "kraftwerk.dev/kafka-user")
    );
    assert!(
        secrets.get_opt("orphan").await.unwrap().is_none(),
        "no Secret for a refused user"
    );
    let events: Api<k8s_openapi::api::events::v1::Event> = env.api();
    wait_for("a UserRefused Event", TIMEOUT, || {
        let events = events.clone();
        async move {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items
                .iter()
                .any(|e| {
                    e.reason.as_deref() == Some("UserRefused")
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("orphan")
                })
                .then_some(())
        }
    })
    .await;

    env.create_kc(
        &ns,
        "sec",
        json!({"listeners": [{"name": "INTERNAL", "port": 9092},
                              {"name": "CLIENTS", "port": 9094, "authentication": {"type": "scram-sha-512"}}]}),
    )
    .await
    .unwrap();
    create(user("alice", "sec")).await;
    let secret = wait_for("alice's Secret", TIMEOUT, || {
        let secrets = secrets.clone();
        async move { secrets.get_opt("alice").await.ok()? }
    })
    .await;
    let data = secret.data.clone().unwrap();
    let text = |k: &str| String::from_utf8(data[k].0.clone()).unwrap();
    assert_eq!(text("username"), "alice");
    let password = text("password");
    assert!(password.len() == 32 && password.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        text("sasl.jaas.config"),
        format!(
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"{password}\";"
        )
    );
    let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("KafkaUser", "alice"));
    let (alice, c) = ready("alice").await;
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "KafkaUnavailable"),
        "no Kafka under kwok"
    );
    let status = alice.status.unwrap();
    assert_eq!(status.secret.as_deref(), Some("alice"));
    assert_eq!(status.principal.as_deref(), Some("User:alice"));

    // The refused user goes on once its cluster exists: the Secret appears.
    env.create_kc(
        &ns,
        "nowhere",
        json!({"listeners": [{"name": "INTERNAL", "port": 9092}]}),
    )
    .await
    .unwrap();
    let (_, c) = wait_for("orphan's refusal to change", TIMEOUT, || {
        let users = users.clone();
        async move {
            let u = users.get("orphan").await.ok()?;
            let c = u.status.as_ref()?.conditions.first()?.clone();
            (c.reason != "ClusterNotFound").then_some((u, c))
        }
    })
    .await;
    assert_eq!(c.reason, "AuthenticationNotEnabled", "{}", c.message);
    assert!(c.message.contains("spec.authentication.type"), "{}", c.message);

    // Deletion: with the cluster gone there is nothing to remove from Kafka.
    let kcs = env.dyn_kc(&ns);
    for kc in ["sec", "nowhere"] {
        kcs.delete(kc, &DeleteParams::default()).await.unwrap();
    }
    for name in ["alice", "orphan"] {
        users.delete(name, &DeleteParams::default()).await.unwrap();
        wait_for(&format!("{name} to be deleted"), TIMEOUT, || {
            let users = users.clone();
            async move { users.get_opt(name).await.ok()?.is_none().then_some(()) }
        })
        .await;
    }
}
