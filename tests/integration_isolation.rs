//! Integration test on the local cluster: clusters in one namespace and across namespaces stay
//! isolated. Run with `make test-integration`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Resource, ResourceExt};
use serde_json::json;
use support::{Names, TIMEOUT, TestEnv, wait_for};

/// uid and resourceVersion of every object of kind `K` in `ns`.
async fn snapshot<K>(env: &TestEnv, ns: &str) -> BTreeMap<String, (String, String)>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = env.api_in(ns);
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|o| {
            (
                format!("{}/{}", K::kind(&()), o.name_any()),
                (
                    o.uid().unwrap_or_default(),
                    o.resource_version().unwrap_or_default(),
                ),
            )
        })
        .collect()
}

/// Objects of the survivors, keyed by kind/name, with uid and resourceVersion. Pods are
/// compared by uid only: kwok refreshes their status, which bumps the resourceVersion.
async fn survivors(env: &TestEnv, ns: &str, clusters: &[&str]) -> BTreeMap<String, (String, String)> {
    let mut all = BTreeMap::new();
    all.extend(snapshot::<Service>(env, ns).await);
    all.extend(snapshot::<ConfigMap>(env, ns).await);
    all.extend(snapshot::<PersistentVolumeClaim>(env, ns).await);
    all.extend(snapshot::<PodDisruptionBudget>(env, ns).await);
    all.extend(
        snapshot::<Pod>(env, ns)
            .await
            .into_iter()
            .map(|(k, (uid, _))| (k, (uid, String::new()))),
    );
    all.retain(|k, _| {
        clusters
            .iter()
            .any(|c| k.split_once('/').is_some_and(|(_, n)| belongs(n, c)))
    });
    all
}

fn belongs(object: &str, cluster: &str) -> bool {
    object.starts_with(&format!("{cluster}-")) || object.starts_with(&format!("data-{cluster}-"))
}

/// Two clusters in one namespace (with names that are prefixes of each other) and one with
/// the same name in another namespace: each gets its own objects, and deleting one leaves the
/// others' objects untouched.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn clusters_are_isolated_within_and_across_namespaces() {
    let env = TestEnv::with_namespaces("isolation", 2).await;
    let (ns_a, ns_b) = (env.namespaces[0].clone(), env.namespaces[1].clone());
    // "kafka" and "kafka-b": a sloppy label selector or name prefix match would mix them up.
    env.create_kc(&ns_a, "kafka", json!({})).await.unwrap();
    env.create_kc(
        &ns_a,
        "kafka-b",
        json!({ "brokers": { "replicas": 1 }, "controllers": { "replicas": 1 } }),
    )
    .await
    .unwrap();
    env.create_kc(&ns_b, "kafka", json!({ "brokers": { "replicas": 2 } }))
        .await
        .unwrap();
    env.wait_ready(&ns_a, "kafka").await;
    env.wait_ready(&ns_a, "kafka-b").await;
    env.wait_ready(&ns_b, "kafka").await;

    // Each cluster owns exactly its own pods.
    assert_eq!(
        env.names_of::<Pod>(&ns_a, "kafka").await,
        Names::new("kafka", 3, 3).pods()
    );
    assert_eq!(
        env.names_of::<Pod>(&ns_a, "kafka-b").await,
        Names::new("kafka-b", 1, 1).pods()
    );
    assert_eq!(
        env.names_of::<Pod>(&ns_b, "kafka").await,
        Names::new("kafka", 2, 3).pods()
    );
    // Status counts only its own brokers.
    let a = env.get_kc(&ns_a, "kafka").await.status.unwrap();
    let ab = env.get_kc(&ns_a, "kafka-b").await.status.unwrap();
    let b = env.get_kc(&ns_b, "kafka").await.status.unwrap();
    assert_eq!((a.nodes.len(), ab.nodes.len(), b.nodes.len()), (6, 2, 5));
    assert_ne!(
        a.cluster_id, b.cluster_id,
        "two clusters must not share a KRaft cluster id"
    );
    assert_ne!(a.cluster_id, ab.cluster_id);

    let before_a = survivors(&env, &ns_a, &["kafka-b"]).await;
    let before_b = survivors(&env, &ns_b, &["kafka"]).await;
    assert!(!before_a.is_empty() && !before_b.is_empty());

    // Delete ns_a/kafka and wait until its pods are gone.
    let kcs = env.dyn_kc(&ns_a);
    kcs.delete("kafka", &DeleteParams::background()).await.unwrap();
    let pods: Api<Pod> = env.api_in(&ns_a);
    wait_for("ns_a/kafka's pods to be collected", TIMEOUT, || async {
        let lp = ListParams::default().labels("kraftwerk.dev/cluster=kafka");
        pods.list(&lp).await.ok()?.items.is_empty().then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    let after_a = survivors(&env, &ns_a, &["kafka-b"]).await;
    let after_b = survivors(&env, &ns_b, &["kafka"]).await;
    assert_eq!(
        after_a, before_a,
        "deleting ns_a/kafka touched ns_a/kafka-b's objects"
    );
    assert_eq!(
        after_b, before_b,
        "deleting ns_a/kafka touched ns_b/kafka's objects"
    );
    env.wait_ready(&ns_a, "kafka-b").await;
    env.wait_ready(&ns_b, "kafka").await;
}
