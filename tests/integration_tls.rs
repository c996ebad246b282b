//! TLS objects on the local cluster (issue 16): the operator's CA, trust bundle, node and
//! operator certificate Secrets, the pods' mounts and digests and the rendered configuration,
//! read back from the API server; a deleted certificate is reissued and rolled; a missing user
//! CA is refused naming the field. Run with `make test-integration`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use support::{TIMEOUT, TestEnv, wait_for};

fn secret_text(s: &Secret, key: &str) -> String {
    String::from_utf8(s.data.as_ref().unwrap()[key].0.clone()).unwrap()
}

fn annotation(o: &impl kube::Resource, key: &str) -> String {
    o.meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(key).cloned())
        .unwrap_or_default()
}

#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn internal_tls_objects_are_created_mounted_and_renewed() {
    let env = TestEnv::new("tls").await;
    let ns = env.ns.clone();
    let c = "sec";
    env.create_kc(
        &ns,
        c,
        json!({
            "security": { "tls": { "enabled": true } },
            "listeners": [{ "name": "TLS", "port": 9092, "tls": true }],
        }),
    )
    .await
    .unwrap();
    // kwok runs no Kafka: the roll proceeds on readiness alone.
    env.dyn_kc(&ns)
        .patch(
            c,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"kraftwerk.dev/skip-kafka-gates": "true"}}})),
        )
        .await
        .unwrap();
    let kc = env.wait_ready(&ns, c).await;

    let secrets: Api<Secret> = env.api();
    let ca = secrets.get("sec-cluster-ca").await.unwrap();
    let bundle = secrets.get("sec-cluster-ca-cert").await.unwrap();
    let ca_fp = annotation(&ca, "kraftwerk.dev/tls-fingerprint");
    assert!(!ca_fp.is_empty(), "the CA records its fingerprint");
    assert_eq!(annotation(&bundle, "kraftwerk.dev/tls-trusted"), ca_fp);
    assert_eq!(secret_text(&bundle, "ca.crt"), secret_text(&ca, "tls.crt"));
    assert!(
        !bundle.data.as_ref().unwrap().contains_key("tls.key"),
        "the bundle holds no key"
    );
    let operator = secrets.get("sec-operator-tls").await.unwrap();
    assert_eq!(annotation(&operator, "kraftwerk.dev/tls-issuer"), ca_fp);

    let pods: Api<Pod> = env.api();
    let cms: Api<ConfigMap> = env.api();
    for pod_name in [
        "sec-broker-0",
        "sec-broker-1",
        "sec-broker-2",
        "sec-controller-9000",
    ] {
        let node = secrets.get(&format!("{pod_name}-tls")).await.unwrap();
        assert_eq!(node.type_.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(annotation(&node, "kraftwerk.dev/tls-issuer"), ca_fp);
        let pod = pods.get(pod_name).await.unwrap();
        let digest = annotation(&pod, "kraftwerk.dev/tls-digest");
        assert!(
            digest.ends_with(&annotation(&node, "kraftwerk.dev/tls-fingerprint")),
            "{pod_name} runs its certificate: {digest}"
        );
        let volumes = pod.spec.unwrap().volumes.unwrap();
        let mounted: Vec<String> = volumes
            .iter()
            .filter_map(|v| v.secret.as_ref()?.secret_name.clone())
            .collect();
        assert_eq!(
            mounted,
            [format!("{pod_name}-tls"), "sec-cluster-ca-cert".to_string()]
        );
        let props = cms.get(pod_name).await.unwrap().data.unwrap()["server.properties"].clone();
        assert!(props.contains("ssl.keystore.type=PEM"), "{props}");
        assert!(props.contains("CONTROLLER:SSL"), "{props}");
        assert!(
            !props.contains("PRIVATE KEY") && !props.contains("BEGIN"),
            "no PEM in a ConfigMap"
        );
    }
    let status = serde_json::to_string(&kc.status).unwrap();
    assert!(
        !status.contains("PRIVATE KEY") && !status.contains("BEGIN"),
        "{status}"
    );

    // A lost certificate is reissued, and its node alone restarts with it.
    let before = pods.get("sec-broker-1").await.unwrap();
    let old_fp = annotation(
        &secrets.get("sec-broker-1-tls").await.unwrap(),
        "kraftwerk.dev/tls-fingerprint",
    );
    secrets
        .delete("sec-broker-1-tls", &DeleteParams::default())
        .await
        .unwrap();
    let renewed = wait_for("broker 1's certificate reissued and rolled", TIMEOUT, || async {
        let pod = pods.get("sec-broker-1").await.ok()?;
        let fp = annotation(
            &secrets.get("sec-broker-1-tls").await.ok()?,
            "kraftwerk.dev/tls-fingerprint",
        );
        (fp != old_fp && annotation(&pod, "kraftwerk.dev/tls-digest").ends_with(&fp)).then_some(pod)
    })
    .await;
    assert_ne!(renewed.uid(), before.uid(), "the node restarted to load it");
    let other = pods.get("sec-broker-0").await.unwrap();
    assert!(other.metadata.creation_timestamp <= before.metadata.creation_timestamp);

    // A user CA Secret that does not exist: refused naming the field, nothing applied.
    env.create_kc(
        &ns,
        "byo",
        json!({
            "security": { "tls": { "enabled": true, "ca": { "secretName": "missing-ca" } } },
            "listeners": [{ "name": "TLS", "port": 9092, "tls": true }],
        }),
    )
    .await
    .unwrap();
    let refused = env
        .wait_condition(&ns, "byo", "Ready", "False", Some("InvalidSpec"))
        .await;
    let message = refused
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .message;
    assert!(message.contains("spec.security.tls.ca.secretName"), "{message}");
    assert!(
        env.names_of::<Pod>(&ns, "byo").await.is_empty(),
        "nothing applied"
    );
}
