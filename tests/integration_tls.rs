//! TLS objects on the local cluster (issue 16): the operator's CA, trust bundle, node and
//! operator certificate Secrets, the pods' mounts and digests and the rendered configuration,
//! read back from the API server; a deleted certificate is reissued and rolled; a missing user
//! CA is refused naming the field. Run with `make test-integration`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

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

/// Creates a cluster with internal TLS and a TLS client listener, rolling on readiness alone
/// (kwok runs no Kafka), and waits until it is Ready.
async fn tls_cluster(env: &TestEnv, c: &str) -> kraftwerk::crd::KafkaCluster {
    env.create_kc(
        &env.ns,
        c,
        json!({
            "security": { "tls": { "enabled": true } },
            "listeners": [{ "name": "TLS", "port": 9092, "tls": true }],
        }),
    )
    .await
    .unwrap();
    env.annotate_kc(c, json!({"kraftwerk.dev/skip-kafka-gates": "true"}))
        .await;
    env.wait_ready(&env.ns, c).await
}

#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn internal_tls_objects_are_created_mounted_and_renewed() {
    let env = TestEnv::new("tls").await;
    let ns = env.ns.clone();
    let c = "sec";
    let kc = tls_cluster(&env, c).await;

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

    // The user creates the Secret: it is found without an edit, and signs every certificate.
    let (user_ca, user_info) = kraftwerk::tls::issue::generate_ca("my-ca", now(), 100).unwrap();
    let user_secret: Secret = serde_json::from_value(json!({
        "metadata": { "name": "missing-ca" },
        "type": "kubernetes.io/tls",
        "stringData": { "tls.crt": user_ca.cert_pem, "tls.key": user_ca.key_pem },
    }))
    .unwrap();
    secrets.create(&Default::default(), &user_secret).await.unwrap();
    env.wait_ready(&ns, "byo").await;
    let bundle = secrets.get("byo-cluster-ca-cert").await.unwrap();
    assert_eq!(
        annotation(&bundle, "kraftwerk.dev/tls-trusted"),
        user_info.fingerprint
    );
    let node = secrets.get("byo-broker-0-tls").await.unwrap();
    assert_eq!(
        annotation(&node, "kraftwerk.dev/tls-issuer"),
        user_info.fingerprint
    );
    assert!(
        secrets.get_opt("byo-cluster-ca").await.unwrap().is_none(),
        "no generated CA"
    );
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Reasons of the Events about `cluster`, oldest first.
async fn event_reasons(env: &TestEnv, cluster: &str) -> Vec<String> {
    let events: Api<k8s_openapi::api::events::v1::Event> = env.api();
    let mut list: Vec<_> = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(cluster))
        .collect();
    list.sort_by_key(|e| e.event_time.clone().map(|t| t.0));
    list.into_iter().filter_map(|e| e.reason).collect()
}

/// A CA at its renewal margin is replaced with a trust overlap: the new CA joins the bundle,
/// certificates are reissued by it, then the previous CA leaves; every node ends on the new
/// CA, bundle and certificate. Renewal is provoked by moving the CA's recorded expiry (the
/// planner reads the Secret's annotations).
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn ca_renewal_overlaps_trust_and_rolls_every_node_onto_the_new_ca() {
    let env = TestEnv::new("tls-renew").await;
    let c = "ren";
    tls_cluster(&env, c).await;
    let secrets: Api<Secret> = env.api();
    let pods: Api<Pod> = env.api();
    let old_fp = annotation(
        &secrets.get("ren-cluster-ca").await.unwrap(),
        "kraftwerk.dev/tls-fingerprint",
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    secrets
        .patch(
            "ren-cluster-ca",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"kraftwerk.dev/tls-not-after": now.to_string()}}}),
            ),
        )
        .await
        .unwrap();
    let pod_names: Vec<String> = ["ren-broker-0", "ren-broker-1", "ren-broker-2"]
        .iter()
        .map(|s| s.to_string())
        .chain((9000..9003).map(|i| format!("ren-controller-{i}")))
        .collect();
    let new_fp = wait_for(
        "every node on the new CA alone",
        std::time::Duration::from_secs(300),
        || async {
            let ca = secrets.get("ren-cluster-ca").await.ok()?;
            let fp = annotation(&ca, "kraftwerk.dev/tls-fingerprint");
            let bundle = secrets.get("ren-cluster-ca-cert").await.ok()?;
            if fp == old_fp || annotation(&bundle, "kraftwerk.dev/tls-trusted") != fp {
                return None;
            }
            let bundle_digest = kraftwerk::tls::plan::bundle_digest(std::slice::from_ref(&fp));
            for name in &pod_names {
                let node = secrets.get(&format!("{name}-tls")).await.ok()?;
                let pod = pods.get(name).await.ok()?;
                let want = format!(
                    "{bundle_digest}-{}",
                    annotation(&node, "kraftwerk.dev/tls-fingerprint")
                );
                let ready = pod
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                if annotation(&node, "kraftwerk.dev/tls-issuer") != fp
                    || annotation(&pod, "kraftwerk.dev/tls-digest") != want
                    || !ready
                {
                    return None;
                }
            }
            Some(fp)
        },
    )
    .await;
    assert_ne!(new_fp, old_fp);
    let ca = secrets.get("ren-cluster-ca").await.unwrap();
    assert!(
        annotation(&ca, "kraftwerk.dev/tls-trusted").is_empty(),
        "no previous CA left"
    );
    // The order the overlap needs: renewed, certificates of the new CA, then the old one retired.
    let reasons = event_reasons(&env, c).await;
    let at = |r: &str| {
        reasons
            .iter()
            .position(|x| x == r)
            .unwrap_or_else(|| panic!("no {r} Event: {reasons:?}"))
    };
    let renewed = at("CaRenewed");
    let retired = at("CaRetired");
    assert!(renewed < retired, "{reasons:?}");
    // Every node restarted at least once (onto the bundle trusting both) before the previous
    // CA was retired.
    let restarts = |events: &[String]| events.iter().filter(|r| *r == "Restarting").count();
    let before = restarts(&reasons[renewed..retired]);
    assert!(
        before >= pod_names.len(),
        "{before} restarts before retirement: {reasons:?}"
    );
    eprintln!(
        "restarts between CA renewal and retirement: {before}; after: {}",
        restarts(&reasons[retired..])
    );
}

/// A KafkaUser with `authentication: tls` gets a client certificate signed by the cluster CA in
/// its Secret (bundle, certificate, key, PEM key store; owned by the user), named in its
/// status with its principal; a deleted Secret is issued again with a new certificate; switched
/// to SCRAM and back, the Secret holds only the current authentication's keys.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn tls_users_get_client_certificates_of_the_cluster_ca() {
    use kraftwerk::crd::KafkaUser;
    let env = TestEnv::new("tls-users").await;
    let ns = env.ns.clone();
    env.create_kc(
        &ns,
        "mtls",
        json!({
            "security": { "tls": { "enabled": true } },
            "listeners": [{ "name": "TLS", "port": 9092, "tls": true },
                          { "name": "MTLS", "port": 9095, "tls": true, "authentication": { "type": "tls" } },
                          { "name": "SCRAM", "port": 9096, "tls": true, "authentication": { "type": "scram-sha-512" } }],
        }),
    )
    .await
    .unwrap();
    let users: Api<KafkaUser> = env.api();
    let secrets: Api<Secret> = env.api();
    let dave: KafkaUser = serde_json::from_value(json!({
        "apiVersion": "kraftwerk.dev/v1alpha1", "kind": "KafkaUser",
        "metadata": {"name": "dave", "namespace": ns},
        "spec": {"cluster": "mtls", "authentication": {"type": "tls"}},
    }))
    .unwrap();
    wait_for("the KafkaUser to be created", TIMEOUT, || {
        let (users, dave) = (users.clone(), dave.clone());
        async move { users.create(&Default::default(), &dave).await.ok() }
    })
    .await;
    let issued = |previous: Option<String>| {
        let secrets = secrets.clone();
        wait_for("dave's certificate Secret", TIMEOUT, move || {
            let (secrets, previous) = (secrets.clone(), previous.clone());
            async move {
                let s = secrets.get_opt("dave").await.ok()??;
                let fp = annotation(&s, "kraftwerk.dev/tls-fingerprint");
                (!fp.is_empty() && Some(&fp) != previous.as_ref()).then_some(s)
            }
        })
    };
    let secret = issued(None).await;
    let bundle = secrets.get("mtls-cluster-ca-cert").await.unwrap();
    let ca = secrets.get("mtls-cluster-ca").await.unwrap();
    assert_eq!(secret_text(&secret, "ca.crt"), secret_text(&bundle, "ca.crt"));
    assert_eq!(
        annotation(&secret, "kraftwerk.dev/tls-issuer"),
        annotation(&ca, "kraftwerk.dev/tls-fingerprint"),
        "signed by the cluster CA"
    );
    let (cert, key) = (secret_text(&secret, "user.crt"), secret_text(&secret, "user.key"));
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(secret_text(&secret, "user.pem"), format!("{key}{cert}"));
    let der = rustls_pki_types::pem::PemObject::from_pem_slice(cert.as_bytes())
        .map(|c: rustls_pki_types::CertificateDer| c.to_vec())
        .unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
    let subject: Vec<String> = parsed
        .subject()
        .iter_attributes()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        subject,
        ["kraftwerk-users", "dave"],
        "O, then CN (RFC 2253: CN=dave,O=kraftwerk-users)"
    );
    let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("KafkaUser", "dave"));
    assert!(!secret.annotations().values().any(|v| v.contains("PRIVATE")));
    let status = wait_for("dave's status to name the Secret", TIMEOUT, || {
        let users = users.clone();
        async move {
            users
                .get("dave")
                .await
                .ok()?
                .status
                .filter(|s| s.secret.is_some())
        }
    })
    .await;
    assert_eq!(status.secret.as_deref(), Some("dave"));
    assert_eq!(status.principal.as_deref(), Some("User:dave"));

    // A deleted Secret: a new certificate is issued.
    let first = annotation(&secret, "kraftwerk.dev/tls-fingerprint");
    secrets.delete("dave", &DeleteParams::default()).await.unwrap();
    let again = issued(Some(first)).await;
    assert_eq!(secret_text(&again, "ca.crt"), secret_text(&bundle, "ca.crt"));

    // Switched to SCRAM, the Secret is replaced whole: a password, no key; back to tls, a new
    // certificate and no password.
    use kraftwerk::user::secret::{JAAS_KEY, PASSWORD_KEY};
    let authenticate = |kind: &'static str| {
        let users = users.clone();
        async move {
            let patch = json!({"spec": {"authentication": {"type": kind}}});
            users
                .patch("dave", &PatchParams::default(), &Patch::Merge(patch))
                .await
                .unwrap();
        }
    };
    let keys = |s: &Secret| -> Vec<String> { s.data.iter().flatten().map(|(k, _)| k.clone()).collect() };
    authenticate("scram-sha-512").await;
    let scram = wait_for("dave's SCRAM Secret", TIMEOUT, || {
        let secrets = secrets.clone();
        async move {
            let s = secrets.get_opt("dave").await.ok()??;
            s.data.as_ref()?.contains_key(PASSWORD_KEY).then_some(s)
        }
    })
    .await;
    assert_eq!(
        keys(&scram),
        [PASSWORD_KEY, JAAS_KEY, "username"],
        "{:?}",
        keys(&scram)
    );
    assert!(secret_text(&scram, JAAS_KEY).contains("username=\"dave\""));
    authenticate("tls").await;
    let back = issued(Some(annotation(&again, "kraftwerk.dev/tls-fingerprint"))).await;
    assert!(
        !keys(&back).iter().any(|k| k == PASSWORD_KEY || k == JAAS_KEY),
        "{:?}",
        keys(&back)
    );
    assert!(secret_text(&back, "user.key").starts_with("-----BEGIN PRIVATE KEY-----"));
}

/// `listeners[].certificateSecret`: a Secret that is missing, then one whose certificate does
/// not cover the listener's names, is refused naming the field (Ready=False, InvalidSpec, a
/// Warning Event, no pod); a covering one is mounted into the brokers. Once Ready, a no-op pass
/// sends no request (the Secret is read only when it changed) and an edit of the Secret is seen
/// at once.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn a_listener_certificate_must_exist_and_cover_the_listeners_names() {
    use kraftwerk::tls::issue::Subject;
    let env = TestEnv::new("tls-own").await;
    let ns = env.ns.clone();
    let secrets: Api<Secret> = env.api();
    let spec = json!({
        "security": { "tls": { "enabled": true } },
        "brokers": { "replicas": 1 },
        "listeners": [{ "name": "OWN", "port": 9092, "tls": true, "certificateSecret": "own-cert" }],
    });
    env.create_kc(&ns, "own", spec.clone()).await.unwrap();
    let message = |kc: kraftwerk::crd::KafkaCluster| {
        kc.status
            .unwrap()
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap()
            .message
    };
    let refused = env
        .wait_condition(&ns, "own", "Ready", "False", Some("InvalidSpec"))
        .await;
    let text = message(refused);
    assert!(
        text.contains("spec.listeners[0].certificateSecret") && text.contains("does not exist"),
        "{text}"
    );
    assert!(
        event_reasons(&env, "own")
            .await
            .iter()
            .any(|r| r == "InvalidSpec")
    );
    assert!(
        env.names_of::<Pod>(&ns, "own").await.is_empty(),
        "nothing applied"
    );

    let (ca, _) = kraftwerk::tls::issue::generate_ca("own-ca", now(), 10).unwrap();
    let secret_with = |sans: &[&str]| -> Secret {
        let subject = Subject {
            common_name: "kafka".into(),
            sans: sans.iter().map(|s| s.to_string()).collect(),
        };
        let (cert, _) = kraftwerk::tls::issue::issue(&ca, &subject, now(), 5).unwrap();
        serde_json::from_value(json!({
            "metadata": { "name": "own-cert" },
            "type": "kubernetes.io/tls",
            "stringData": { "tls.crt": format!("{}{}", cert.cert_pem, ca.cert_pem), "tls.key": cert.key_pem },
        }))
        .unwrap()
    };
    secrets
        .create(&Default::default(), &secret_with(&["kafka.example.com"]))
        .await
        .unwrap();
    let uncovered = wait_for("the refusal to name the uncovered names", TIMEOUT, || async {
        let text = message(env.get_kc(&ns, "own").await);
        text.contains("does not cover").then_some(text)
    })
    .await;
    assert!(
        uncovered.contains("spec.listeners[0].certificateSecret")
            && uncovered.contains(&format!("own-kafka-bootstrap.{ns}.svc.cluster.local")),
        "{uncovered}"
    );
    assert!(
        env.names_of::<Pod>(&ns, "own").await.is_empty(),
        "nothing applied"
    );

    let domain = format!("*.own-kafka-headless.{ns}.svc.cluster.local");
    let bootstrap = format!("own-kafka-bootstrap.{ns}.svc.cluster.local");
    secrets
        .replace(
            "own-cert",
            &Default::default(),
            &secret_with(&[&domain, &bootstrap]),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = env.api();
    let broker = wait_for("broker 0 with the listener's certificate", TIMEOUT, || async {
        pods.get_opt("own-broker-0").await.ok()?
    })
    .await;
    let volume = broker
        .spec
        .unwrap()
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.name == "tls-listener-own")
        .expect("the listener certificate is mounted");
    assert_eq!(volume.secret.unwrap().secret_name.as_deref(), Some("own-cert"));

    // Ready, a pass that changes nothing reads nothing (the Secret is read again only when its
    // resourceVersion moves); an edit of the Secret brings a pass at once (the stable requeue is
    // 5 minutes), which refuses the certificate that no longer covers the names.
    env.wait_ready(&ns, "own").await;
    let before = env.operator.settled_requests(TIMEOUT).await;
    env.operator.poke(&env.dyn_kc(&ns), "own", 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut after = env.operator.requests_by_verb().await;
    after.remove("watch");
    assert_eq!(after, before, "a no-op pass sent requests");
    secrets
        .replace(
            "own-cert",
            &Default::default(),
            &secret_with(&["kafka.example.com"]),
        )
        .await
        .unwrap();
    wait_for("the edited Secret refused", Duration::from_secs(60), || async {
        message(env.get_kc(&ns, "own").await)
            .contains("does not cover")
            .then_some(())
    })
    .await;
}
