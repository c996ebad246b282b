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
            "authorization-without-tls",
            json!({ "security": { "authorization": { "type": "simple" } } }),
            "spec.security.authorization needs spec.security.tls.enabled",
        ),
        (
            "certificate-without-tls",
            json!({ "listeners": [{ "name": "INTERNAL", "port": 9092, "certificateSecret": "mine" }] }),
            "spec.listeners[].certificateSecret needs tls: true",
        ),
        (
            "placement-unbounded",
            json!({ "brokers": { "placement": { "constraints": "x".repeat(5000) } } }),
            "spec.brokers.placement.constraints",
        ),
    ];
    assert_rejected(&env, cases).await;
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

/// Creates each `(name, spec, needle)` and asserts the API server refuses it (422) with a
/// message containing `needle`.
async fn assert_rejected(env: &TestEnv, cases: Vec<(&str, Value, &str)>) {
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

fn condition_of(
    kc: &kraftwerk::crd::KafkaCluster,
    type_: &str,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    kc.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_).cloned())
        .unwrap_or_else(|| panic!("no {type_} condition"))
}

/// Waits for Ready=False with `reason` on the current generation; the object and the condition.
async fn not_ready_for(
    env: &TestEnv,
    ns: &str,
    c: &str,
    reason: &str,
) -> (
    kraftwerk::crd::KafkaCluster,
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition,
) {
    let kc = env.wait_condition(ns, c, "Ready", "False", Some(reason)).await;
    let ready = condition_of(&kc, "Ready");
    (kc, ready)
}

fn accepted_generation(kc: &kraftwerk::crd::KafkaCluster) -> Option<i64> {
    kc.status
        .as_ref()
        .and_then(|s| s.last_accepted.as_ref())
        .and_then(|a| a.generation)
}

fn config_hash(p: &Pod) -> Option<String> {
    p.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("kraftwerk.dev/config-hash").cloned())
}

/// Waits until the pod `name` exists with a uid other than `old_uid`; returns it.
async fn replaced_pod(pods: &Api<Pod>, name: &str, old_uid: &Option<String>) -> Pod {
    support::wait_for(
        &format!("pod {name} recreated"),
        Duration::from_secs(60),
        || async {
            pods.get_opt(name)
                .await
                .ok()
                .flatten()
                .filter(|p| p.metadata.uid != *old_uid && p.metadata.deletion_timestamp.is_none())
        },
    )
    .await
}

/// Warning Events of `reason` in the namespace, as their notes.
async fn warnings(env: &TestEnv, reason: &str) -> Vec<String> {
    let events: Api<k8s_openapi::api::events::v1::Event> = env.api();
    events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason) && e.type_.as_deref() == Some("Warning"))
        .filter_map(|e| e.note)
        .collect()
}

/// An edit the API server accepts but the operator refuses (an owned config key) leaves the
/// cluster managed as last accepted: Ready=False/InvalidSpec names the key, the recorded last
/// accepted spec stays, a lost pod is recreated with its existing configuration (same config
/// hash, ConfigMap unchanged), and fixing the edit resumes normal work.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn invalid_edit_keeps_the_last_accepted_spec_running() {
    let env = TestEnv::new("last-good").await;
    let ns = env.ns.clone();
    let c = "last-good";
    env.create_kc(
        &ns,
        c,
        json!({ "brokers": { "replicas": 1 }, "controllers": { "replicas": 1 } }),
    )
    .await
    .unwrap();
    let kc = env.wait_ready(&ns, c).await;
    let accepted = kc
        .status
        .as_ref()
        .unwrap()
        .last_accepted
        .clone()
        .expect("lastAccepted recorded");
    assert_eq!(accepted.generation, kc.metadata.generation);
    let pods: Api<Pod> = env.api();
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = env.api();
    let broker = format!("{c}-broker-0");
    let before = pods.get(&broker).await.unwrap();
    let cm_before = cms.get(&broker).await.unwrap();

    env.patch_kc_spec(&ns, c, json!({ "config": { "node.id": 7, "num.partitions": 5 } }))
        .await
        .unwrap();
    let (kc, ready) = not_ready_for(&env, &ns, c, "InvalidSpec").await;
    assert!(
        ready.message.contains("node.id"),
        "names the key: {}",
        ready.message
    );
    assert!(ready.message.contains("last accepted spec"), "{}", ready.message);
    assert_eq!(
        accepted_generation(&kc),
        accepted.generation,
        "the refused edit is not recorded as accepted"
    );
    assert!(!warnings(&env, "InvalidSpec").await.is_empty(), "a Warning Event");

    // A lost pod comes back as last accepted.
    pods.delete(&broker, &Default::default()).await.unwrap();
    let after = replaced_pod(&pods, &broker, &before.metadata.uid).await;
    assert_eq!(
        config_hash(&after),
        config_hash(&before),
        "recreated with its existing configuration"
    );
    let cm_after = cms.get(&broker).await.unwrap();
    assert_eq!(
        cm_after.data, cm_before.data,
        "the refused change reached the ConfigMap"
    );
    // Status keeps being written for the running cluster while the edit stays refused.
    let kc = support::wait_for(
        "the recreated broker reported ready",
        Duration::from_secs(60),
        || async {
            let kc = env.get_kc(&ns, c).await;
            let st = kc.status.clone()?;
            let node = st.nodes.iter().find(|n| n.pod == broker)?;
            (node.ready && st.ready_brokers == 1).then_some(kc)
        },
    )
    .await;
    assert_eq!(condition_of(&kc, "Ready").reason, "InvalidSpec");

    // Fixing the edit: accepted, recorded, Ready again.
    env.patch_kc_spec(&ns, c, json!({ "config": { "node.id": null } }))
        .await
        .unwrap();
    let kc = env.wait_ready(&ns, c).await;
    assert_eq!(accepted_generation(&kc), kc.metadata.generation);
}

/// Objects the API server refuses become Ready=False/ApplyFailed naming the object and the
/// server's message, plus a Warning Event; the other objects are still applied, and once the
/// cause is gone the retry (with backoff) recovers without a change to the KafkaCluster.
/// Here: pods naming a PriorityClass that does not exist (the Priority admission plugin).
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn refused_objects_are_apply_failed_and_recover() {
    use k8s_openapi::api::scheduling::v1::PriorityClass;
    let env = TestEnv::new("apply-failed").await;
    let ns = env.ns.clone();
    let c = "refused";
    let class = format!("{ns}-missing");
    env.create_kc(
        &ns,
        c,
        json!({ "brokers": { "replicas": 1, "template": { "priorityClassName": class } }, "controllers": { "replicas": 1 } }),
    )
    .await
    .unwrap();
    let (_, ready) = not_ready_for(&env, &ns, c, "ApplyFailed").await;
    assert!(
        ready.message.contains(&format!("Pod/{c}-broker-0")) && ready.message.contains(&class),
        "names the object and the server's message: {}",
        ready.message
    );
    let notes = warnings(&env, "ApplyFailed").await;
    assert!(
        notes.iter().any(|n| n.contains(&format!("Pod/{c}-broker-0"))),
        "{notes:?}"
    );
    // Everything else was applied: the controller pod and the broker's ConfigMap and claim.
    let pods: Api<Pod> = env.api();
    assert!(
        pods.get_opt(&format!("{c}-controller-9000"))
            .await
            .unwrap()
            .is_some()
    );
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = env.api();
    assert!(cms.get_opt(&format!("{c}-broker-0")).await.unwrap().is_some());

    // The cause goes away; the backoff retry recovers.
    let classes: Api<PriorityClass> = Api::all(env.client.clone());
    let pc: PriorityClass = serde_json::from_value(json!({
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": { "name": class }, "value": 1000
    }))
    .unwrap();
    classes.create(&Default::default(), &pc).await.unwrap();
    env.wait_ready(&ns, c).await;
    let _ = classes.delete(&class, &Default::default()).await;
}

/// A claim resize the storage class cannot do is refused by the API server: reported as
/// ApplyFailed naming the claim, while the rest of the reconcile goes on (a lost pod is still
/// recreated, status still written).
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn refused_resize_does_not_block_the_reconcile() {
    use k8s_openapi::api::storage::v1::StorageClass;
    let env = TestEnv::new("no-resize").await;
    let ns = env.ns.clone();
    let c = "fixed";
    let class = format!("{ns}-fixed");
    let classes: Api<StorageClass> = Api::all(env.client.clone());
    let sc: StorageClass = serde_json::from_value(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": { "name": class }, "provisioner": "kubernetes.io/host-path",
        "allowVolumeExpansion": false, "volumeBindingMode": "Immediate"
    }))
    .unwrap();
    classes.create(&Default::default(), &sc).await.unwrap();
    env.create_kc(
        &ns,
        c,
        json!({ "brokers": { "replicas": 1, "storage": { "size": "1Gi", "storageClassName": class } }, "controllers": { "replicas": 1 } }),
    )
    .await
    .unwrap();
    env.wait_ready(&ns, c).await;
    let pvcs: Api<PersistentVolumeClaim> = env.api();
    let claim = format!("data-{c}-broker-0");
    support::wait_for("the claim bound", Duration::from_secs(60), || async {
        let p = pvcs.get(&claim).await.ok()?;
        (p.status?.phase.as_deref() == Some("Bound")).then_some(())
    })
    .await;

    env.patch_kc_spec(&ns, c, json!({ "brokers": { "storage": { "size": "2Gi" } } }))
        .await
        .unwrap();
    let (_, ready) = not_ready_for(&env, &ns, c, "ApplyFailed").await;
    assert!(
        ready.message.contains(&format!("PersistentVolumeClaim/{claim}")),
        "names the claim: {}",
        ready.message
    );
    // The rest goes on: a lost pod is recreated, and its readiness reaches the status.
    let pods: Api<Pod> = env.api();
    let broker = format!("{c}-broker-0");
    let before = pods.get(&broker).await.unwrap();
    pods.delete(&broker, &Default::default()).await.unwrap();
    replaced_pod(&pods, &broker, &before.metadata.uid).await;
    support::wait_for(
        "status reports the recreated broker ready",
        Duration::from_secs(90),
        || async {
            let st = env.get_kc(&ns, c).await.status?;
            let node = st.nodes.iter().find(|n| n.pod == broker)?;
            let ready = st.conditions.iter().find(|c| c.type_ == "Ready")?;
            (node.ready && ready.reason == "ApplyFailed").then_some(())
        },
    )
    .await;
    assert!(
        warnings(&env, "ApplyFailed")
            .await
            .iter()
            .any(|n| n.contains(&claim)),
        "a Warning Event names the claim"
    );
    let _ = classes.delete(&class, &Default::default()).await;
}

/// The TLS spec rules of issue 16 at admission: a stated `protocol` must agree with the one
/// derived from `tls` and `authentication`, mutual TLS needs TLS, internal TLS reserves the
/// REPLICATION listener and port 9091, and internal TLS cannot be switched after creation.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn tls_spec_rules_at_admission() {
    let env = TestEnv::new("tls-admission").await;
    let internal = json!({ "tls": { "enabled": true } });
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "ssl-without-tls",
            json!({ "listeners": [{ "name": "INTERNAL", "port": 9092, "protocol": "SSL" }] }),
            "protocol is derived",
        ),
        (
            "plaintext-with-tls",
            json!({ "listeners": [{ "name": "INTERNAL", "port": 9092, "tls": true, "protocol": "PLAINTEXT" }] }),
            "protocol is derived",
        ),
        (
            "mtls-without-tls",
            json!({ "listeners": [{ "name": "INTERNAL", "port": 9092, "authentication": { "type": "tls" } }] }),
            "authentication.type tls needs tls: true",
        ),
        (
            "replication-name",
            json!({ "security": internal, "listeners": [{ "name": "REPLICATION", "port": 9092 }] }),
            "REPLICATION",
        ),
        (
            "replication-port",
            json!({ "security": internal, "listeners": [{ "name": "INTERNAL", "port": 9091 }] }),
            "9091",
        ),
        (
            "renew-after-expiry",
            json!({ "security": { "tls": { "certificates": { "validityDays": 10, "renewBeforeDays": 10 } } } }),
            "certificates.renewBeforeDays must be less than certificates.validityDays",
        ),
    ];
    assert_rejected(&env, cases).await;
    // The accepted neighbours: the derived value, the legacy PLAINTEXT default, internal TLS.
    env.create_kc(
        &env.ns,
        "derived",
        json!({ "listeners": [
            { "name": "TLS", "port": 9094, "tls": true, "protocol": "SSL" },
            { "name": "PLAIN", "port": 9092, "protocol": "PLAINTEXT" },
        ] }),
    )
    .await
    .expect("the derived protocol and the legacy PLAINTEXT must be accepted");
    env.create_kc(&env.ns, "internal", json!({ "security": internal }))
        .await
        .expect("internal TLS must be accepted");
    match env
        .patch_kc_spec(
            &env.ns,
            "internal",
            json!({ "security": { "tls": { "enabled": false } } }),
        )
        .await
    {
        Ok(_) => panic!("switching internal TLS off was accepted"),
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 422, "expected 422 Invalid, got {e:?}");
            assert!(
                e.message.contains("spec.security.tls.enabled cannot change"),
                "the message must name the field: {}",
                e.message
            );
        }
        Err(e) => panic!("unexpected error {e}"),
    }
    match env
        .patch_kc_spec(
            &env.ns,
            "internal",
            json!({ "security": { "tls": { "ca": { "secretName": "my-ca" } } } }),
        )
        .await
    {
        Ok(_) => panic!("switching to a user CA on an existing cluster was accepted"),
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 422, "expected 422 Invalid, got {e:?}");
            assert!(
                e.message
                    .contains("spec.security.tls.ca.secretName cannot be set"),
                "{}",
                e.message
            );
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}
