//! Integration tests on the local cluster for least privilege and faults: the operator under
//! exactly the RBAC of deploy/operator.yaml (per-namespace mode), the API server stopped in the
//! middle of a roll, and an admission webhook refusing pods for a while. Run with
//! `make test-integration`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde::Deserialize;
use serde_json::json;
use support::{Operator, TestEnv, read_repo_file, wait_for};

const SKIP: &str = "kraftwerk.dev/skip-kafka-gates";

/// The ClusterRole `kraftwerk` of deploy/operator.yaml, renamed.
fn shipped_cluster_role(name: &str) -> ClusterRole {
    let text = read_repo_file("deploy/operator.yaml");
    let mut role: ClusterRole = serde_yaml::Deserializer::from_str(&text)
        .filter_map(|doc| serde_yaml::Value::deserialize(doc).ok())
        .find(|v| v["kind"] == "ClusterRole")
        .map(|v| serde_yaml::from_value(v).unwrap())
        .expect("deploy/operator.yaml has a ClusterRole");
    role.metadata = kube::api::ObjectMeta {
        name: Some(name.into()),
        ..Default::default()
    };
    role
}

/// Binds the shipped rules to a ServiceAccount in per-namespace mode: a RoleBinding in the test
/// namespace to the shipped ClusterRole (its namespaced rules, in that namespace only), and a
/// ClusterRoleBinding to a ClusterRole holding only the shipped `nodes` and `persistentvolumes` rules.
async fn bind_per_namespace(env: &TestEnv, sa: &str) -> Vec<String> {
    let ns = &env.ns;
    let sas: Api<ServiceAccount> = env.api();
    let account: ServiceAccount = serde_json::from_value(json!({ "metadata": { "name": sa } })).unwrap();
    sas.create(&PostParams::default(), &account).await.unwrap();
    let roles: Api<ClusterRole> = Api::all(env.client.clone());
    let full = format!("{ns}-kraftwerk");
    let nodes = format!("{ns}-kraftwerk-nodes");
    roles
        .create(&PostParams::default(), &shipped_cluster_role(&full))
        .await
        .unwrap();
    let mut node_role = shipped_cluster_role(&nodes);
    node_role.rules = node_role.rules.map(|rules| {
        rules
            .into_iter()
            .filter(|r| {
                r.resources
                    .as_ref()
                    .is_some_and(|x| x.iter().any(|r| r == "nodes" || r == "persistentvolumes"))
            })
            .collect()
    });
    roles.create(&PostParams::default(), &node_role).await.unwrap();
    let subject = json!([{ "kind": "ServiceAccount", "name": sa, "namespace": ns }]);
    let rb: RoleBinding = serde_json::from_value(json!({
        "metadata": { "name": "kraftwerk" },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": full },
        "subjects": subject,
    }))
    .unwrap();
    env.api::<RoleBinding>()
        .create(&PostParams::default(), &rb)
        .await
        .unwrap();
    let crb: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": { "name": nodes },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": nodes },
        "subjects": subject,
    }))
    .unwrap();
    Api::<ClusterRoleBinding>::all(env.client.clone())
        .create(&PostParams::default(), &crb)
        .await
        .unwrap();
    vec![full, nodes]
}

async fn unbind(env: &TestEnv, names: &[String]) {
    let roles: Api<ClusterRole> = Api::all(env.client.clone());
    let bindings: Api<ClusterRoleBinding> = Api::all(env.client.clone());
    for n in names {
        let _ = roles.delete(n, &DeleteParams::default()).await;
        let _ = bindings.delete(n, &DeleteParams::default()).await;
    }
}

/// The operator runs a whole lifecycle (create with TLS, a roll, a KafkaUser's certificate and
/// its switch to SCRAM, a scale-down, delete) under exactly the rules of deploy/operator.yaml,
/// bound per namespace, and is never refused by RBAC.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn the_shipped_rbac_covers_a_lifecycle_per_namespace() {
    let mut env = TestEnv::new("rbac").await;
    let ns = env.ns.clone();
    let bound = bind_per_namespace(&env, "kraftwerk").await;
    let kubeconfig = support::service_account_kubeconfig(&ns, "kraftwerk");
    env.operator = Operator::start_with(
        &format!("{ns}-sa"),
        std::slice::from_ref(&ns),
        &["--leader-election=false"],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    )
    .await;

    let c = "rbac";
    env.create_kc(
        &ns,
        c,
        json!({
            "brokers": { "replicas": 2 }, "controllers": { "replicas": 1 },
            "security": { "tls": { "enabled": true } },
            "listeners": [
                { "name": "SCRAM", "port": 9092, "tls": true, "authentication": { "type": "scram-sha-512" } },
                { "name": "MTLS", "port": 9095, "tls": true, "authentication": { "type": "tls" } }],
        }),
    )
    .await
    .unwrap();
    let kcs = env.dyn_kc(&ns);
    kcs.patch(
        c,
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "annotations": { SKIP: "true", "kraftwerk.dev/allow-unsafe-scale-down": "true" } } })),
    )
    .await
    .unwrap();
    env.wait_ready(&ns, c).await;
    // A roll: every pod restarts once with the new configuration.
    let pods: Api<Pod> = env.api();
    let uid = |p: Pod| p.metadata.uid;
    let before = uid(pods.get(&format!("{c}-broker-0")).await.unwrap());
    env.patch_kc_spec(&ns, c, json!({ "config": { "num.network.threads": 5 } }))
        .await
        .unwrap();
    wait_for("the roll to finish", Duration::from_secs(180), || async {
        let kc = env.get_kc(&ns, c).await;
        let st = kc.status?;
        let current = st.observed_generation == kc.metadata.generation;
        let done = current && st.nodes.len() == 3 && st.nodes.iter().all(|n| n.ready && n.up_to_date);
        let stable = st
            .conditions
            .iter()
            .any(|c| c.type_ == "Progressing" && c.status == "False");
        (done && stable).then_some(())
    })
    .await;
    let after = uid(pods.get(&format!("{c}-broker-0")).await.unwrap());
    assert_ne!(before, after, "broker 0 was restarted by the roll");
    user_switches_authentication(&env, c).await;
    // A scale-down (unsafe: no Kafka on kwok) and its Warning Event.
    env.patch_kc_spec(&ns, c, json!({ "brokers": { "replicas": 1 } }))
        .await
        .unwrap();
    wait_for("broker 1 removed", Duration::from_secs(60), || async {
        pods.get_opt(&format!("{c}-broker-1"))
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    // Delete: ordered shutdown, finalizer released.
    kcs.delete(c, &DeleteParams::default()).await.unwrap();
    wait_for("the KafkaCluster gone", Duration::from_secs(120), || async {
        kcs.get_opt(c).await.ok()?.is_none().then_some(())
    })
    .await;
    let log = std::fs::read_to_string(&env.operator.log_path).unwrap();
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("forbidden") || l.contains("Forbidden"))
        .collect();
    assert!(refused.is_empty(), "refused by RBAC:\n{}", refused.join("\n"));
    assert!(env.operator.is_running(), "{}", env.operator.log_tail(30));
    // The bypass annotations were reported as Warning Events.
    let events: Api<k8s_openapi::api::events::v1::Event> = env.api();
    let reasons: Vec<String> = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .filter_map(|e| e.reason)
        .collect();
    for want in ["GatesSkipped", "UnsafeScaleDown"] {
        assert!(
            reasons.iter().any(|r| r == want),
            "no Warning {want}: {reasons:?}"
        );
    }
    unbind(&env, &bound).await;
    let _ = std::fs::remove_file(&kubeconfig);
}

/// A KafkaUser with a client certificate, then switched to SCRAM: its Secret is issued, then
/// replaced whole (no Kafka on kwok: the user itself stays KafkaUnavailable).
async fn user_switches_authentication(env: &TestEnv, cluster: &str) {
    use k8s_openapi::api::core::v1::Secret;
    let users: Api<kraftwerk::crd::KafkaUser> = env.api();
    let secrets: Api<Secret> = env.api();
    let user = serde_json::from_value(json!({
        "apiVersion": "kraftwerk.dev/v1alpha1", "kind": "KafkaUser",
        "metadata": {"name": "sam", "namespace": env.ns},
        "spec": {"cluster": cluster, "authentication": {"type": "tls"}},
    }))
    .unwrap();
    users.create(&Default::default(), &user).await.unwrap();
    let holding = |key: &'static str| {
        let secrets = secrets.clone();
        wait_for(key, Duration::from_secs(60), move || {
            let secrets = secrets.clone();
            async move {
                let s = secrets.get_opt("sam").await.ok()??;
                s.data.as_ref()?.contains_key(key).then_some(s)
            }
        })
    };
    holding("user.crt").await;
    let patch = json!({"spec": {"authentication": {"type": "scram-sha-512"}}});
    users
        .patch("sam", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let scram = holding(kraftwerk::user::secret::PASSWORD_KEY).await;
    assert!(
        !scram.data.unwrap().contains_key("user.key"),
        "the key went with the certificate"
    );
}

/// An admission webhook that refuses every request it is sent, over HTTPS (Python's standard
/// library; the certificate is self-signed for 127.0.0.1 and is its own CA bundle).
const REFUSING_WEBHOOK: &str = r#"
import http.server, json, ssl, sys
class Refuse(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": review["request"]["uid"], "allowed": False,
                         "status": {"code": 403, "message": "refused by the test webhook"}}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Refuse)
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(sys.argv[2], sys.argv[3])
server.socket = tls.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"#;

/// The refusing webhook as a child process; killed when dropped.
struct Webhook {
    child: std::process::Child,
    url: String,
    ca: String,
}

impl Webhook {
    fn start(dir: &std::path::Path) -> Webhook {
        use base64::Engine;
        std::fs::create_dir_all(dir).unwrap();
        let (cert, key, script) = (dir.join("cert.pem"), dir.join("key.pem"), dir.join("webhook.py"));
        let made = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
            ])
            .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        std::fs::write(&script, REFUSING_WEBHOOK).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(&cert)
            .arg(&key)
            .spawn()
            .expect("python3 for the test webhook");
        let ca = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&cert).unwrap());
        Webhook {
            child,
            url: format!("https://127.0.0.1:{port}/validate"),
            ca,
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fault injection: for a while an admission webhook refuses every pod created in the namespace.
/// A lost broker pod cannot be recreated meanwhile: Ready=False, reason ApplyFailed, naming the
/// pod and the webhook's message, and a Warning Event. Once the webhook is gone the operator's
/// retry recreates the pod and the cluster is Ready again, with no change to the KafkaCluster.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn refusing_webhook_is_reported_and_recovery_is_automatic() {
    use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
    let env = TestEnv::new("webhook").await;
    let ns = env.ns.clone();
    let c = "hooked";
    env.create_kc(
        &ns,
        c,
        json!({ "brokers": { "replicas": 1 }, "controllers": { "replicas": 1 } }),
    )
    .await
    .unwrap();
    env.wait_ready(&ns, c).await;
    let hook = Webhook::start(&std::env::temp_dir().join(&ns));
    let configs: Api<ValidatingWebhookConfiguration> = Api::all(env.client.clone());
    let config: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": { "name": ns },
        "webhooks": [{
            "name": "refuse.kraftwerk.test",
            "clientConfig": { "url": hook.url, "caBundle": hook.ca },
            "rules": [{ "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"] }],
            "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": ns } },
            "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"], "timeoutSeconds": 5,
        }],
    }))
    .unwrap();
    configs.create(&PostParams::default(), &config).await.unwrap();
    // In force once a dry-run pod is refused by it.
    let pods: Api<Pod> = env.api();
    let probe: Pod = serde_json::from_value(json!({
        "metadata": { "name": "probe" },
        "spec": { "containers": [{ "name": "c", "image": "x" }] },
    }))
    .unwrap();
    wait_for("the webhook in force", Duration::from_secs(60), || async {
        let dry = PostParams {
            dry_run: true,
            ..Default::default()
        };
        match pods.create(&dry, &probe).await {
            Err(kube::Error::Api(e)) if e.message.contains("refused by the test webhook") => Some(()),
            _ => None,
        }
    })
    .await;

    let broker = format!("{c}-broker-0");
    pods.delete(&broker, &DeleteParams::default()).await.unwrap();
    let kc = env
        .wait_condition(&ns, c, "Ready", "False", Some("ApplyFailed"))
        .await;
    let ready = kc
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .unwrap()
        .clone();
    assert!(
        ready.message.contains(&format!("Pod/{broker}"))
            && ready.message.contains("refused by the test webhook"),
        "{}",
        ready.message
    );
    let events: Api<k8s_openapi::api::events::v1::Event> = env.api();
    let warned = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .any(|e| {
            e.reason.as_deref() == Some("ApplyFailed")
                && e.note.is_some_and(|n| n.contains("refused by the test webhook"))
        });
    assert!(warned, "a Warning Event ApplyFailed");

    // The webhook goes away; the retry (backoff) recreates the pod.
    let removed = std::time::Instant::now();
    configs.delete(&ns, &DeleteParams::default()).await.unwrap();
    drop(hook);
    env.wait_ready(&ns, c).await;
    println!(
        "Ready again {:?} after the webhook was removed",
        removed.elapsed()
    );
    assert!(pods.get_opt(&broker).await.unwrap().is_some());
}
