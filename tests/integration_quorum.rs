//! The dynamic controller quorum (KIP-853) on the local kwok cluster: what a new cluster is
//! created with, what a controller count change creates while Kafka cannot be asked (kwok runs
//! no Kafka: nothing may be removed, the status says why), that an operator restart changes
//! nothing, and that a cluster formatted with a static quorum refuses the change, saying why,
//! until its quorum is dynamic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: failing loudly is the point

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod};
use kraftwerk::crd::KafkaCluster;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{Operator, TIMEOUT, TestEnv, wait_for};

const QUORUM: &str = "kraftwerk.dev/quorum";
const INITIAL: &str = "KRAFTWERK_INITIAL_CONTROLLERS";

fn properties(cm: &ConfigMap) -> BTreeMap<String, String> {
    cm.data
        .as_ref()
        .and_then(|d| d.get("server.properties"))
        .map_or_else(BTreeMap::new, |t| {
            t.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
}

fn initial_env(pod: &Pod) -> Option<String> {
    pod.spec.as_ref()?.containers[0]
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == INITIAL)?
        .value
        .clone()
}

fn uids(pods: &[Pod]) -> BTreeMap<String, String> {
    pods.iter()
        .map(|p| (p.name_any(), p.metadata.uid.clone().unwrap_or_default()))
        .collect()
}

async fn pods_of(env: &TestEnv, c: &str) -> Vec<Pod> {
    let pods: Api<Pod> = env.api();
    let mut out = Vec::new();
    for name in env.names_of::<Pod>(&env.ns, c).await {
        out.push(pods.get(&name).await.unwrap());
    }
    out
}

#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn a_new_cluster_runs_the_dynamic_quorum_and_controller_changes_wait_for_kafka() {
    let mut env = TestEnv::new("quorum-dynamic").await;
    let ns = env.ns.clone();
    let c = "dyn";
    env.create_kc(&ns, c, json!({ "brokers": { "replicas": 1 } }))
        .await
        .unwrap();
    let kc = env.wait_ready(&ns, c).await;

    // Status: the dynamic mode and the initial voters recorded before any controller existed.
    let q = kc
        .status
        .as_ref()
        .unwrap()
        .controller_quorum
        .clone()
        .expect("controllerQuorum");
    assert_eq!(q.mode, "Dynamic");
    assert_eq!(q.initial_voters, vec![9000, 9001, 9002]);

    // Objects: bootstrap servers instead of voters; marked controller pods and claims; the
    // initial voters' pods carry the --initial-controllers value.
    let cms: Api<ConfigMap> = env.api();
    for name in [format!("{c}-controller-9000"), format!("{c}-broker-0")] {
        let props = properties(&cms.get(&name).await.unwrap());
        assert!(
            !props.contains_key("controller.quorum.voters"),
            "{name}: {props:?}"
        );
        assert_eq!(
            props["controller.quorum.bootstrap.servers"].split(',').count(),
            3,
            "{name}"
        );
    }
    let pods = pods_of(&env, c).await;
    for p in pods.iter().filter(|p| p.name_any().contains("-controller-")) {
        assert_eq!(p.annotations().get(QUORUM).map(String::as_str), Some("Dynamic"));
        let initial = initial_env(p).expect("initial controllers");
        assert_eq!(initial.split(',').count(), 3, "{initial}");
    }
    let pvcs: Api<PersistentVolumeClaim> = env.api();
    let claim = pvcs.get(&format!("data-{c}-controller-9001")).await.unwrap();
    assert_eq!(
        claim.annotations().get(QUORUM).map(String::as_str),
        Some("Dynamic")
    );
    let before = uids(&pods);

    // 3 -> 5: the new controllers' pods are created (joining as observers: no initial
    // controllers), nothing restarts, and the change waits for Kafka (none on kwok).
    env.patch_kc_spec(&ns, c, json!({ "controllers": { "replicas": 5 } }))
        .await
        .unwrap();
    let kc = env
        .wait_condition(&ns, c, "Progressing", "True", Some("QuorumChanging"))
        .await;
    let message = kc
        .status
        .as_ref()
        .unwrap()
        .controller_quorum
        .as_ref()
        .unwrap()
        .message
        .clone();
    assert!(
        message.as_deref().unwrap_or_default().contains("waits"),
        "{message:?}"
    );
    let pods = wait_for("controllers 9003 and 9004", TIMEOUT, || async {
        let pods = pods_of(&env, c).await;
        (pods.len() == 6).then_some(pods)
    })
    .await;
    for id in [9003, 9004] {
        let p = pods
            .iter()
            .find(|p| p.name_any() == format!("{c}-controller-{id}"))
            .unwrap();
        assert_eq!(initial_env(p), None, "controller {id} joins as an observer");
    }
    let now = uids(&pods);
    for (name, uid) in &before {
        assert_eq!(now.get(name), Some(uid), "{name} was not restarted");
    }
    let props = properties(&cms.get(&format!("{c}-broker-0")).await.unwrap());
    assert_eq!(props["controller.quorum.bootstrap.servers"].split(',').count(), 5);

    // 5 -> 3 while Kafka cannot say who the voters are: every controller keeps running.
    env.patch_kc_spec(&ns, c, json!({ "controllers": { "replicas": 3 } }))
        .await
        .unwrap();
    env.wait_condition(&ns, c, "Progressing", "True", Some("QuorumChanging"))
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let kept = uids(&pods_of(&env, c).await);
    assert_eq!(kept, now, "no controller removed without Kafka's word");

    // An operator restart mid-change changes nothing and keeps the recorded initial voters.
    env.operator.kill();
    env.operator = Operator::start(&format!("{ns}-again"), &env.namespaces).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        uids(&pods_of(&env, c).await),
        now,
        "the restarted operator changed no pod"
    );
    let kc = env.get_kc(&ns, c).await;
    let q = kc.status.as_ref().unwrap().controller_quorum.clone().unwrap();
    assert_eq!(q.initial_voters, vec![9000, 9001, 9002]);
    assert!(q.voters.is_empty(), "no voters were ever read: {q:?}");
}

#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn a_static_cluster_refuses_a_controller_change_until_its_quorum_is_dynamic() {
    let env = TestEnv::new("quorum-static").await;
    let ns = env.ns.clone();
    let c = "old";
    // Claims of a cluster formatted by an earlier release (no quorum mark), retained and
    // adopted by a new KafkaCluster of the same name.
    let cluster_id = "tC7VFwiJRvq7Tnn6WFSa1g";
    let pvcs: Api<PersistentVolumeClaim> = env.api();
    for id in [9000, 9001, 9002] {
        let claim: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {
                "name": format!("data-{c}-controller-{id}"),
                "labels": {
                    "app.kubernetes.io/name": "kafka",
                    "app.kubernetes.io/instance": c,
                    "app.kubernetes.io/managed-by": "kraftwerk",
                    "app.kubernetes.io/component": "controller",
                    "kraftwerk.dev/cluster": c,
                    "kraftwerk.dev/role": "controller",
                    "kraftwerk.dev/node-id": id.to_string(),
                },
                "annotations": { "kraftwerk.dev/cluster-id": cluster_id },
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": { "requests": { "storage": "10Gi" } },
            },
        }))
        .unwrap();
        pvcs.create(&PostParams::default(), &claim).await.unwrap();
    }
    env.create_kc(
        &ns,
        c,
        json!({ "brokers": { "replicas": 1 }, "controllers": { "storage": { "size": "10Gi" } } }),
    )
    .await
    .unwrap();
    let kc = env.wait_ready(&ns, c).await;
    let status = kc.status.as_ref().unwrap();
    assert_eq!(status.cluster_id.as_deref(), Some(cluster_id), "adopted");
    let q = status.controller_quorum.clone().expect("controllerQuorum");
    assert_eq!(q.mode, "Static");
    assert!(q.initial_voters.is_empty());
    let cms: Api<ConfigMap> = env.api();
    let props = properties(&cms.get(&format!("{c}-broker-0")).await.unwrap());
    assert!(
        props["controller.quorum.voters"].starts_with("9000@"),
        "{props:?}"
    );
    assert!(!props.contains_key("controller.quorum.bootstrap.servers"));
    let p: Api<Pod> = env.api();
    let pod = p.get(&format!("{c}-controller-9000")).await.unwrap();
    assert_eq!(pod.annotations().get(QUORUM), None);
    assert_eq!(initial_env(&pod), None);

    env.patch_kc_spec(&ns, c, json!({ "controllers": { "replicas": 5 } }))
        .await
        .unwrap();
    let kc = env
        .wait_condition(&ns, c, "Ready", "False", Some("InvalidSpec"))
        .await;
    let ready = ready_condition(&kc);
    assert!(
        ready.message.contains("spec.controllers.replicas"),
        "{}",
        ready.message
    );
    assert!(ready.message.contains("static"), "{}", ready.message);
    // No Kafka answers on kwok: the operator's kraft.version upgrade waits, and says so.
    assert!(
        ready.message.contains("upgrade waits: the quorum cannot be read"),
        "{}",
        ready.message
    );
    let q = kc.status.as_ref().unwrap().controller_quorum.clone().unwrap();
    assert_eq!(q.mode, "Static");
    assert!(
        q.message
            .as_deref()
            .unwrap_or_default()
            .contains("kraft.version 1 waits"),
        "{q:?}"
    );
    assert_eq!(env.names_of::<Pod>(&ns, c).await.len(), 4, "nothing created");

    // The opt-out: the quorum stays static, the refusal names the annotation.
    env.annotate_kc(c, json!({ "kraftwerk.dev/keep-static-quorum": "true" }))
        .await;
    let kc = wait_for("the opt-out in status", Duration::from_secs(60), || async {
        let kc = env.get_kc(&ns, c).await;
        let q = kc.status.as_ref()?.controller_quorum.clone()?;
        q.message?.contains("stays static").then_some(kc)
    })
    .await;
    let ready = ready_condition(&kc);
    assert!(ready.message.contains("keep-static-quorum"), "{}", ready.message);
    assert_eq!(env.names_of::<Pod>(&ns, c).await.len(), 4, "nothing created");

    // An earlier pass saw Kafka run the quorum dynamically (recorded in status; Kafka's own
    // report needs real Kafka, tests/roll_kafka.rs): the cluster is rendered dynamic, and the
    // pending controller count change is accepted.
    let kcs: Api<KafkaCluster> = env.api();
    let upgraded = json!({ "status": { "controllerQuorum": { "mode": "Dynamic" } } });
    let cm = wait_for("the dynamic configuration", Duration::from_secs(60), || async {
        let kc = kcs.get(c).await.ok()?;
        let mode = kc.status.as_ref()?.controller_quorum.as_ref()?.mode.clone();
        if mode != "Dynamic" {
            kcs.patch_status(c, &PatchParams::default(), &Patch::Merge(&upgraded))
                .await
                .ok()?;
        }
        let props = properties(&cms.get(&format!("{c}-broker-0")).await.ok()?);
        props
            .contains_key("controller.quorum.bootstrap.servers")
            .then_some(props)
    })
    .await;
    assert!(!cm.contains_key("controller.quorum.voters"), "{cm:?}");
    for id in [9000, 9001, 9002] {
        let claim = pvcs.get(&format!("data-{c}-controller-{id}")).await.unwrap();
        assert_eq!(
            claim.annotations().get(QUORUM).map(String::as_str),
            Some("Dynamic"),
            "claim of {id}"
        );
    }
    wait_for("controllers 9003 and 9004", Duration::from_secs(60), || async {
        let names = env.names_of::<Pod>(&ns, c).await;
        names.iter().any(|n| n.ends_with("controller-9004")).then_some(())
    })
    .await;
    let kc = env.get_kc(&ns, c).await;
    let ready = ready_condition(&kc);
    assert_ne!(ready.reason, "InvalidSpec", "{}", ready.message);
}

/// The Ready condition of `kc`.
fn ready_condition(kc: &KafkaCluster) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    kc.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .cloned()
        .expect("a Ready condition")
}
