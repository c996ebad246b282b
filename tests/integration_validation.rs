//! Integration tests on the local cluster: the CRD installs with `kubectl apply -f crds/`, and
//! bad input is rejected at admission or surfaced as Ready=False/InvalidSpec. Run with
//! `make test-integration`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use support::{CRD_NAME, TestEnv, kubectl, kubectl_apply_crds};

/// `kubectl apply -f crds/` installs the CRD (and is idempotent); the CRD has the short name,
/// the status and scale subresources, and `kubectl get kc` works.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn crd_installs_with_kubectl_apply() {
    let env = TestEnv::new("crd-install").await; // applies crds/ once
    let second = kubectl_apply_crds();
    assert!(
        second.contains("unchanged") || second.contains("configured"),
        "a second kubectl apply -f crds/ must succeed: {second}"
    );
    let crds: Api<CustomResourceDefinition> = Api::all(env.client.clone());
    let crd = crds.get(CRD_NAME).await.unwrap();
    assert_eq!(crd.spec.group, "kraftwerk.dev");
    assert_eq!(crd.spec.scope, "Namespaced");
    assert!(
        crd.spec
            .names
            .short_names
            .unwrap_or_default()
            .contains(&"kc".to_string())
    );
    let v = crd
        .spec
        .versions
        .iter()
        .find(|v| v.name == "v1alpha1")
        .expect("v1alpha1");
    assert!(v.served && v.storage);
    let sub = v.subresources.clone().expect("subresources");
    assert!(sub.status.is_some(), "status subresource");
    let scale = sub.scale.expect("scale subresource");
    assert_eq!(scale.spec_replicas_path, ".spec.brokers.replicas");

    env.create_kc(&env.ns, "short", json!({})).await.unwrap();
    let out = kubectl()
        .args(["get", "kc", "-n", &env.ns, "-o", "name"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl get kc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "kafkacluster.kraftwerk.dev/short"
    );
}

/// Specs the schema or CEL rules can judge are refused by the API server (HTTP 422) with a
/// message naming the problem.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn invalid_specs_are_rejected_at_admission() {
    let env = TestEnv::new("admission").await;
    let too_long = "a".repeat(48);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "zero-brokers",
            json!({ "brokers": { "replicas": 0 } }),
            "replicas",
        ),
        (
            "two-controllers",
            json!({ "controllers": { "replicas": 2 } }),
            "controllers.replicas",
        ),
        (
            "heap-too-big",
            json!({ "brokers": { "jvm": { "heap": "2Gi" }, "resources": { "limits": { "memory": "2Gi" } } } }),
            "heap",
        ),
        // One bad object per rule of issue 18 (bounds, derived names, CEL-expressible checks).
        (&too_long, json!({}), "metadata.name"),
        ("9lives", json!({}), "metadata.name"),
        (
            "zero-storage",
            json!({ "brokers": { "storage": { "size": "0" } } }),
            "spec.brokers.storage.size",
        ),
        ("empty-image", json!({ "image": "" }), "spec.image"),
        (
            "image-space",
            json!({ "image": "apache/kafka 4.3.1" }),
            "spec.image",
        ),
        ("empty-version", json!({ "version": "" }), "spec.version"),
        (
            "port-clash",
            json!({ "listeners": [{ "name": "INTERNAL", "port": 9093 }] }),
            "controllerListener.port",
        ),
        (
            "inter-broker-unknown",
            json!({ "interBrokerListener": "NOPE" }),
            "interBrokerListener",
        ),
        (
            "port-name-invalid",
            json!({ "listeners": [{ "name": "EXT_", "port": 9092 }] }),
            "spec.listeners[0].name",
        ),
        (
            "timeout-unbounded",
            json!({ "rollout": { "restartTimeoutSeconds": 100000 } }),
            "spec.rollout.restartTimeoutSeconds",
        ),
        (
            "grace-unbounded",
            json!({ "brokers": { "template": { "terminationGracePeriodSeconds": 1000000 } } }),
            "spec.brokers.template.terminationGracePeriodSeconds",
        ),
        (
            "controllers-unbounded",
            json!({ "controllers": { "replicas": 7 } }),
            "spec.controllers.replicas",
        ),
        (
            "label-value",
            json!({ "brokers": { "template": { "labels": { "team": "data platform" } } } }),
            "spec.brokers.template.labels.team",
        ),
        (
            "selector-value",
            json!({ "controllers": { "template": { "nodeSelector": { "disk": "-ssd" } } } }),
            "spec.controllers.template.nodeSelector.disk",
        ),
        (
            "storage-class",
            json!({ "brokers": { "storage": { "storageClassName": "Fast_SSD" } } }),
            "spec.brokers.storage.storageClassName",
        ),
        (
            "service-account",
            json!({ "brokers": { "template": { "serviceAccountName": "" } } }),
            "spec.brokers.template.serviceAccountName",
        ),
        (
            "priority-class",
            json!({ "controllers": { "template": { "priorityClassName": "High Priority" } } }),
            "spec.controllers.template.priorityClassName",
        ),
        (
            "topology-key",
            json!({ "rack": { "topologyKey": "" } }),
            "spec.rack.topologyKey",
        ),
        (
            "requests-over-limits",
            json!({ "brokers": { "resources": { "requests": { "cpu": "2" }, "limits": { "cpu": "1" } } } }),
            "resources.requests must not exceed resources.limits",
        ),
        (
            "bad-quantity",
            json!({ "brokers": { "resources": { "limits": { "cpu": "lots" } } } }),
            "must be quantities",
        ),
        (
            "resource-claims",
            json!({ "controllers": { "resources": { "claims": [{ "name": "gpu" }] } } }),
            "resources.claims",
        ),
        (
            "empty-jvm-option",
            json!({ "brokers": { "jvm": { "options": [""] } } }),
            "spec.brokers.jvm.options[0]",
        ),
        (
            "placement-unbounded",
            json!({ "brokers": { "placement": { "constraints": "x".repeat(5000) } } }),
            "spec.brokers.placement.constraints",
        ),
    ];
    for (name, spec, needle) in cases {
        match env.create_kc(&env.ns, name, spec.clone()).await {
            Ok(_) => panic!("{name}: {spec} was accepted; it must be rejected at admission"),
            Err(kube::Error::Api(e)) => {
                assert_eq!(e.code, 422, "{name}: expected 422 Invalid, got {e:?}");
                eprintln!("{name}: {}", e.message);
                assert!(
                    e.message.contains(needle),
                    "{name}: the message must mention {needle}: {}",
                    e.message
                );
            }
            Err(e) => panic!("{name}: unexpected error {e}"),
        }
    }
    // A valid neighbour of each is accepted, so the rules are not simply refusing everything.
    env.create_kc(
        &env.ns,
        "valid",
        json!({
            "brokers": { "replicas": 1, "jvm": { "heap": "1Gi" }, "resources": { "limits": { "memory": "2Gi" } } },
            "controllers": { "replicas": 1 },
        }),
    )
    .await
    .expect("a valid spec must be accepted");
    env.wait_ready(&env.ns, "valid").await;
}

/// A config override of a key the operator owns is accepted by the API server but surfaced as
/// Ready=False/InvalidSpec naming the key; nothing is applied and the operator neither crashes
/// nor hot-loops.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn reserved_config_override_is_invalid_spec() {
    let mut env = TestEnv::new("invalid-spec").await;
    let ns = env.ns.clone();
    env.create_kc(&ns, "owned-key", json!({ "config": { "node.id": 7 } }))
        .await
        .unwrap();
    let kc = env
        .wait_condition(&ns, "owned-key", "Ready", "False", Some("InvalidSpec"))
        .await;
    let cond = kc
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert!(
        cond.message.contains("node.id"),
        "the message must name the key: {}",
        cond.message
    );

    // Also per pool.
    env.create_kc(
        &ns,
        "owned-pool-key",
        json!({ "brokers": { "config": { "log.dirs": "/tmp/x" } } }),
    )
    .await
    .unwrap();
    let kc = env
        .wait_condition(&ns, "owned-pool-key", "Ready", "False", Some("InvalidSpec"))
        .await;
    let cond = kc
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert!(
        cond.message.contains("log.dirs"),
        "the message must name the key: {}",
        cond.message
    );

    // Nothing was applied for either.
    let pods: Api<Pod> = env.api();
    for c in ["owned-key", "owned-pool-key"] {
        let lp = ListParams::default().labels(&format!("kraftwerk.dev/cluster={c}"));
        assert!(
            pods.list(&lp).await.unwrap().items.is_empty(),
            "{c}: pods were created for an invalid spec"
        );
    }

    // No crash, no hot loop.
    let before = env.operator.metric("kraftwerk_reconcile_total").await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = env.operator.metric("kraftwerk_reconcile_total").await;
    assert!(
        env.operator.is_running(),
        "the operator exited:\n{}",
        env.operator.log_tail(30)
    );
    assert!(
        after - before <= 20.0,
        "the operator hot-loops on an invalid spec: {} reconciles in 10s",
        after - before
    );

    // Fixing the spec recovers.
    env.dyn_kc(&ns)
        .patch(
            "owned-key",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                json!({ "spec": { "config": { "node.id": null, "num.partitions": 3 } } }),
            ),
        )
        .await
        .unwrap();
    env.wait_ready(&ns, "owned-key").await;
}

/// Shrinking storage is refused, either at admission or as InvalidSpec, and no PVC changes.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn storage_shrink_is_refused_and_claims_untouched() {
    let env = TestEnv::new("shrink").await;
    let ns = env.ns.clone();
    let c = "grow-only";
    env.create_kc(&ns, c, json!({ "brokers": { "replicas": 1, "storage": { "size": "10Gi" } }, "controllers": { "replicas": 1 } }))
        .await
        .unwrap();
    env.wait_ready(&ns, c).await;
    let pvcs: Api<PersistentVolumeClaim> = env.api();
    let claim = format!("data-{c}-broker-0");
    let size = |p: &PersistentVolumeClaim| {
        p.spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
            .map(|q| q.0.clone())
    };
    let before = pvcs.get(&claim).await.unwrap();
    assert_eq!(size(&before).as_deref(), Some("10Gi"));

    match env
        .patch_kc_spec(&ns, c, json!({ "brokers": { "storage": { "size": "5Gi" } } }))
        .await
    {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 422, "expected 422 Invalid, got {e:?}");
            assert!(
                e.message.contains("storage"),
                "the message must mention storage: {}",
                e.message
            );
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => {
            let kc = env
                .wait_condition(&ns, c, "Ready", "False", Some("InvalidSpec"))
                .await;
            let cond = kc
                .status
                .unwrap()
                .conditions
                .into_iter()
                .find(|c| c.type_ == "Ready")
                .unwrap();
            assert!(
                cond.message.contains("storage"),
                "the message must name the field: {}",
                cond.message
            );
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = pvcs.get(&claim).await.unwrap();
    assert_eq!(size(&after).as_deref(), Some("10Gi"), "the PVC was resized");
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "the PVC was written"
    );
}
