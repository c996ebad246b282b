//! Scaling on the local cluster (kwok: no Kafka runs): which broker objects exist and what the
//! status says while a drain cannot reach Kafka, across an operator restart; removal of a middle
//! broker by id; scale-up through the scale subresource. The data side (moves, refusals, zero
//! loss) runs against real Kafka in `tests/rebalance_kafka.rs` and on real nodes in
//! `tests/e2e.sh`. Run with `make test-integration`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::json;
use support::{Operator, TestEnv, wait_for};

/// Broker pod name → uid.
async fn broker_pods(env: &TestEnv, cluster: &str) -> BTreeMap<String, String> {
    let pods: Api<Pod> = env.api();
    pods.list(&kube::api::ListParams::default().labels(&format!(
        "kraftwerk.dev/cluster={cluster},kraftwerk.dev/role=broker"
    )))
    .await
    .unwrap()
    .items
    .into_iter()
    .filter(|p| p.meta().deletion_timestamp.is_none())
    .map(|p| (p.name_any(), p.uid().unwrap_or_default()))
    .collect()
}

#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn a_middle_broker_is_drained_before_removal_and_the_others_keep_their_identity() {
    let mut env = TestEnv::new("scale-drain").await;
    let ns = env.ns.clone();
    let c = "drain";
    env.create_kc(&ns, c, json!({ "brokers": { "replicas": 4 } }))
        .await
        .unwrap();
    env.wait_ready(&ns, c).await;
    let before = broker_pods(&env, c).await;
    assert_eq!(before.len(), 4);

    // Remove broker 1 (not the highest id). Kafka cannot be asked here, so the drain waits and
    // nothing is removed.
    env.patch_kc_spec(&ns, c, json!({ "brokers": { "replicas": 3, "removedIds": [1] } }))
        .await
        .unwrap();
    let kc = env
        .wait_condition(&ns, c, "Progressing", "True", Some("Draining"))
        .await;
    let r = kc.status.unwrap().rebalance.expect("status.rebalance");
    assert_eq!(r.operation, "drain");
    assert_eq!(r.brokers, vec![0, 2, 3], "the drain targets the remaining ids");
    assert!(r.message.contains("waits for Kafka"), "{}", r.message);
    assert_eq!(
        broker_pods(&env, c).await,
        before,
        "nothing removed while undrained"
    );

    // Restart-safe: a new operator finds the same state and removes nothing.
    env.operator.kill();
    env.operator = Operator::start(&format!("{ns}-again"), &env.namespaces).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let kc = env
        .wait_condition(&ns, c, "Progressing", "True", Some("Draining"))
        .await;
    assert_eq!(kc.status.unwrap().rebalance.unwrap().brokers, vec![0, 2, 3]);
    assert_eq!(broker_pods(&env, c).await, before);

    // The user accepts the loss: broker 1 goes, 0, 2 and 3 keep their pods.
    let kcs = env.dyn_kc(&ns);
    kcs.patch(
        c,
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"annotations": {"kraftwerk.dev/allow-unsafe-scale-down": "true"}}}),
        ),
    )
    .await
    .unwrap();
    let after = wait_for("broker 1 removed", support::TIMEOUT, || async {
        let pods = broker_pods(&env, c).await;
        (pods.len() == 3).then_some(pods)
    })
    .await;
    for id in [0, 2, 3] {
        let name = format!("{c}-broker-{id}");
        assert_eq!(after.get(&name), before.get(&name), "{name} keeps its pod");
    }
    assert!(!after.contains_key(&format!("{c}-broker-1")));

    // Scale up through the scale subresource: the next free id (4) is added, 1 stays removed.
    let out = support::kubectl()
        .args(["scale", "kc", c, "-n", &ns, "--replicas=4"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let scaled = wait_for("broker 4 created", support::TIMEOUT, || async {
        let pods = broker_pods(&env, c).await;
        (pods.len() == 4).then_some(pods)
    })
    .await;
    assert!(scaled.contains_key(&format!("{c}-broker-4")), "{scaled:?}");
    assert!(!scaled.contains_key(&format!("{c}-broker-1")));
    env.wait_ready(&ns, c).await;
}
