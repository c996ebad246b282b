//! Authentication and authorization against real Kafka (issue 16, part 2), on the operator's own
//! rendering: a broker with a PLAINTEXT inter-broker listener and a SASL/SCRAM-SHA-512 client
//! listener, KRaft's StandardAuthorizer on. KafkaUsers are applied through the operator's code
//! path (`controller::user::apply_user` / `remove_user`: describe, pure plan, execute), and
//! checked with the Java clients and by reading back from Kafka.
//!
//! One controller and one broker (the checks are about security, not replication). Run with
//! `make test-kafka` (`cargo test --test auth_kafka -- --ignored --nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: failing loudly is the point

mod kafka_support;

// The CLI modules live in the binary; include them here to run them against the real cluster.
#[allow(dead_code)]
#[path = "../src/cli/admin.rs"]
mod cli_admin;
#[allow(dead_code)]
#[path = "../src/cli/kubeconfig.rs"]
mod kubeconfig;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use kafka_support::{NodeSpec, TestCluster, libs_dir, parse_listeners, scratch_dir, tool_command};
use kraftwerk::admin::{AdminClient, AdminConfig, NewTopic, ScramCredentials, ScramMechanism};
use kraftwerk::controller::user::{apply_user, read_state, remove_user};
use kraftwerk::crd::{KafkaCluster, KafkaUserSpec};
use kraftwerk::render::{RenderOptions, render};
use kraftwerk::user::{self, CredentialAction, secret};

const CR: &str = r#"
apiVersion: kraftwerk.dev/v1alpha1
kind: KafkaCluster
metadata:
  name: auth
  namespace: kafka-test
spec:
  controllers: {replicas: 1}
  brokers: {replicas: 1}
  listeners:
    - {name: INTERNAL, port: 9092}
    - {name: CLIENTS, port: 9094, authentication: {type: scram-sha-512}}
  security:
    authorization: {type: simple}
"#;

const ALICE: &str = r#"
cluster: auth
authentication: {type: scram-sha-512}
authorization:
  acls:
    - resource: {type: topic, name: orders}
      operations: [Read, Write, Describe]
    - resource: {type: group, name: alice-, patternType: prefixed}
      operations: [Read]
quotas: {producerByteRate: 1048576, consumerByteRate: 2097152, requestPercentage: 50}
"#;

const BOB: &str = r#"
cluster: auth
authentication: {type: scram-sha-512}
"#;

macro_rules! step {
    ($name:expr, $body:expr) => {{
        let t = Instant::now();
        eprintln!("==> {}", $name);
        let r = $body;
        eprintln!("<== {} ({:?})", $name, t.elapsed());
        r
    }};
}

fn rendered() -> Vec<NodeSpec> {
    let cr: KafkaCluster = serde_yaml::from_str(CR).expect("CR parses");
    let r = render(&cr, &RenderOptions::default()).expect("CR renders");
    r.nodes.iter().map(NodeSpec::from).collect()
}

/// The loopback address of the broker's CLIENTS (SCRAM) listener.
fn scram_address(cluster: &TestCluster) -> String {
    let broker = cluster.node(0).unwrap();
    let (_, host, port) = parse_listeners(&broker.props["advertised.listeners"])
        .unwrap()
        .into_iter()
        .find(|(n, _, _)| n == "CLIENTS")
        .expect("CLIENTS is advertised");
    format!("{host}:{port}")
}

fn scram_admin(address: &str, user: &str, password: &str) -> AdminClient {
    AdminClient::new(
        address,
        AdminConfig {
            client_id: "auth-test".into(),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            tls: None,
            sasl: Some(ScramCredentials {
                mechanism: ScramMechanism::Sha512,
                username: user.into(),
                password: password.into(),
            }),
        },
    )
    .unwrap()
}

/// A Java client's config file for SCRAM `user` (the Secret's `sasl.jaas.config`, as a user
/// would paste it).
fn client_config(dir: &std::path::Path, user: &str, password: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{user}-{}.properties", secret::fingerprint(password)));
    let text = format!(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config={}\n",
        secret::jaas_config(user, password)
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the Java console producer with `config`; returns (exit ok, stderr).
fn java_produce(address: &str, config: &std::path::Path, topic: &str, lines: &[&str]) -> (bool, String) {
    let libs = libs_dir().unwrap();
    let mut child = tool_command(&libs)
        .arg("org.apache.kafka.tools.ConsoleProducer")
        .args([
            "--bootstrap-server",
            address,
            "--topic",
            topic,
            "--command-config",
        ])
        .arg(config)
        .args([
            "--command-property",
            "max.block.ms=15000",
            "--command-property",
            "acks=all",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for l in lines {
            writeln!(stdin, "{l}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the Java console consumer (group `group`) with `config`; returns (records, stderr).
fn java_consume(
    address: &str,
    config: &std::path::Path,
    topic: &str,
    group: &str,
    max: usize,
) -> (Vec<String>, String) {
    let libs = libs_dir().unwrap();
    let out = tool_command(&libs)
        .arg("org.apache.kafka.tools.consumer.ConsoleConsumer")
        .args([
            "--bootstrap-server",
            address,
            "--topic",
            topic,
            "--from-beginning",
            "--group",
            group,
        ])
        .args([
            "--max-messages",
            &max.to_string(),
            "--timeout-ms",
            "20000",
            "--command-config",
        ])
        .arg(config)
        .output()
        .unwrap();
    let records = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('['))
        .map(str::to_string)
        .collect();
    (records, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The ACLs Kafka holds for `principal`.
async fn acls_of(admin: &AdminClient, principal: &str) -> BTreeSet<kraftwerk::admin::AclBinding> {
    admin
        .describe_acls(principal)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

fn spec(yaml: &str) -> KafkaUserSpec {
    serde_yaml::from_str(yaml).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "boots 2 real Kafka JVMs; run with `make test-kafka`"]
async fn scram_users_acls_and_quotas_against_real_kafka() {
    let specs = rendered();
    let broker_props =
        kafka_support::parse_properties(&specs.iter().find(|s| s.node_id == 0).unwrap().server_properties);
    assert_eq!(
        broker_props["listener.name.clients.sasl.enabled.mechanisms"], "SCRAM-SHA-512",
        "rendered by the operator"
    );
    let mut cluster = TestCluster::new("auth", &specs).unwrap_or_else(|e| panic!("{e}"));
    let ready = cluster.boot(Duration::from_secs(180)).await;
    eprintln!("cluster ready after {ready:?}");
    let problems = cluster.config_problems();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The operator's identity on the unauthenticated inter-broker listener (a super user).
    let admin = cluster.admin().unwrap();
    let scram = scram_address(&cluster);
    let dir = scratch_dir("auth-clients").unwrap();
    for t in ["orders", "secret"] {
        admin.create_topic(&NewTopic::new(t, 1, 1)).await.unwrap();
    }
    let (alice, bob) = (spec(ALICE), spec(BOB));
    let alice_pw = secret::generate_password().unwrap();
    let bob_pw = secret::generate_password().unwrap();

    let plan = step!("KafkaUsers applied through the operator's code path", {
        let plan = apply_user(&admin, "alice", &alice, true, Some(&alice_pw), None)
            .await
            .unwrap();
        apply_user(&admin, "bob", &bob, true, Some(&bob_pw), None)
            .await
            .unwrap();
        plan
    });
    assert_eq!(plan.credential, Some(CredentialAction::Upsert));
    assert_eq!(plan.acls.create.len(), 4);

    step!("read back from Kafka: credential, exact ACLs, quotas", {
        let creds = admin
            .describe_scram_credentials(&["alice", "bob", "nobody"])
            .await
            .unwrap();
        assert_eq!(creds["alice"], vec![(ScramMechanism::Sha512, 8192)]);
        assert!(creds.contains_key("bob") && !creds.contains_key("nobody"));
        let acls = acls_of(&admin, "User:alice").await;
        assert_eq!(acls, user::desired_acls("alice", &alice));
        let quotas = admin.describe_user_quotas("alice").await.unwrap();
        assert_eq!(quotas, user::desired_quotas(&alice));
        assert_eq!(quotas["producer_byte_rate"], 1048576.0);
        assert!(admin.describe_acls("User:bob").await.unwrap().is_empty());
    });

    step!("a converged user plans nothing (no write request)", {
        let fp = secret::fingerprint(&alice_pw);
        let plan = apply_user(&admin, "alice", &alice, true, Some(&alice_pw), Some(&fp))
            .await
            .unwrap();
        assert!(plan.is_empty(), "{plan:?}");
    });

    step!(
        "the admin client authenticates with SCRAM; a wrong password is refused",
        {
            let ok = scram_admin(&scram, "alice", &alice_pw);
            let md = ok.metadata(Some(&["orders"])).await.unwrap();
            assert_eq!(md.topics.len(), 1);
            let wrong = scram_admin(&scram, "alice", "not-the-password");
            let err = wrong.metadata(None).await.unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains("authentication") || msg.contains("Authentication"),
                "{msg}"
            );
            // No SASL at all on the SCRAM listener: the broker drops the connection.
            let anonymous = AdminClient::new(
                &scram,
                AdminConfig {
                    request_timeout: Duration::from_secs(5),
                    ..Default::default()
                },
            )
            .unwrap();
            assert!(
                anonymous.metadata(None).await.is_err(),
                "an unauthenticated client is refused"
            );
        }
    );

    step!(
        "Java: alice produces and consumes; bob is not authorised; a wrong password is refused",
        {
            let alice_cfg = client_config(&dir, "alice", &alice_pw);
            let (ok, err) = java_produce(&scram, &alice_cfg, "orders", &["one", "two", "three"]);
            assert!(ok && !err.contains("Exception"), "alice produce: {err}");
            let (records, err) = java_consume(&scram, &alice_cfg, "orders", "alice-readers", 3);
            assert_eq!(records, ["one", "two", "three"], "alice consume: {err}");
            let bob_cfg = client_config(&dir, "bob", &bob_pw);
            let (_, err) = java_produce(&scram, &bob_cfg, "orders", &["nope"]);
            assert!(
                err.contains("TopicAuthorizationException") || err.contains("Not authorized"),
                "bob produce: {err}"
            );
            let (records, err) = java_consume(&scram, &alice_cfg, "secret", "alice-readers", 1);
            assert!(records.is_empty());
            assert!(
                err.contains("TopicAuthorizationException") || err.contains("Not authorized"),
                "alice on secret: {err}"
            );
            let wrong_cfg = client_config(&dir, "alice", "wrong-password");
            let (_, err) = java_produce(&scram, &wrong_cfg, "orders", &["nope"]);
            assert!(
                err.contains("SaslAuthenticationException") || err.contains("Authentication failed"),
                "wrong password: {err}"
            );
        }
    );

    step!("an ACL edit is applied exactly (read back)", {
        let mut edited = alice.clone();
        let auth = edited.authorization.as_mut().unwrap();
        auth.acls[0].operations = vec![kraftwerk::admin::AclOperation::Read];
        auth.acls.pop();
        edited.quotas.as_mut().unwrap().consumer_byte_rate = None;
        let fp = secret::fingerprint(&alice_pw);
        let plan = apply_user(&admin, "alice", &edited, true, Some(&alice_pw), Some(&fp))
            .await
            .unwrap();
        assert_eq!(
            (plan.acls.create.len(), plan.acls.delete.len()),
            (0, 3),
            "{plan:?}"
        );
        let acls = acls_of(&admin, "User:alice").await;
        assert_eq!(acls, user::desired_acls("alice", &edited));
        assert_eq!(
            admin.describe_user_quotas("alice").await.unwrap(),
            user::desired_quotas(&edited)
        );
    });

    step!(
        "a new password in the Secret is applied; the old one stops working",
        {
            let new_pw = secret::generate_password().unwrap();
            let old_fp = secret::fingerprint(&alice_pw);
            let plan = apply_user(&admin, "alice", &alice, true, Some(&new_pw), Some(&old_fp))
                .await
                .unwrap();
            assert_eq!(plan.credential, Some(CredentialAction::Upsert));
            scram_admin(&scram, "alice", &new_pw)
                .metadata(None)
                .await
                .unwrap();
            assert!(
                scram_admin(&scram, "alice", &alice_pw)
                    .metadata(None)
                    .await
                    .is_err()
            );
        }
    );

    step!("the CLI authenticates with --sasl-username/--sasl-password", {
        use cli_admin::{AdminArgs, OutputFormat, TopicCli, TopicCommand};
        let topics = |password: &str| TopicCli {
            args: AdminArgs {
                kube: kubeconfig::KubeArgs {
                    namespace: None,
                    context: None,
                },
                cluster: None,
                bootstrap: Some(scram.clone()),
                output: OutputFormat::Table,
                timeout: 10,
                tls_ca: None,
                tls_cert: None,
                tls_key: None,
                sasl_username: Some("bob".into()),
                sasl_password: Some(password.into()),
                kafka_user: None,
            },
            command: TopicCommand::List { internal: false },
        };
        cli_admin::run_topic(&topics(&bob_pw)).await.unwrap();
        let err = cli_admin::run_topic(&topics("wrong")).await.unwrap_err();
        assert!(err.contains("authentication"), "{err}");
    });

    step!(
        "deleting the KafkaUser removes its credential, ACLs and quotas (read back)",
        {
            let plan = remove_user(&admin, "alice", true).await.unwrap();
            assert_eq!(plan.credential, Some(CredentialAction::Delete));
            let state = read_state(&admin, "alice", true).await.unwrap();
            assert!(
                state.acls.is_empty() && state.quotas.is_empty() && !state.scram,
                "{state:?}"
            );
            assert!(
                remove_user(&admin, "alice", true).await.unwrap().is_empty(),
                "idempotent"
            );
            assert!(
                scram_admin(&scram, "bob", &bob_pw).metadata(None).await.is_ok(),
                "bob unaffected"
            );
        }
    );
}
