//! GitOps health on the local cluster: the Argo CD health script of the chart
//! (`charts/kraftwerk/files/argocd-health.lua`) run by Argo CD's Lua engine (gopher-lua,
//! `tests/argocd/build.sh`) against the status of a real KafkaCluster in each state it passes
//! through: Healthy when Ready and stable, Suspended while the rollout is paused, Progressing while
//! it rolls or before the operator saw a new generation, Degraded on an invalid spec; and the
//! printer column (`kubectl get kc`: ROLLOUT) when paused and when complete.
//! Run with `make test-integration` (ignored by a plain `cargo test`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use futures::TryStreamExt;
use kraftwerk::crd::KafkaCluster;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use support::{TestEnv, kubectl, repo_root};

/// The health script's verdict on `object`: (status, message).
fn health(object: &Value) -> (String, String) {
    let built = Command::new(repo_root().join("tests/argocd/build.sh"))
        .output()
        .expect("build lua-health");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let bin = String::from_utf8_lossy(&built.stdout).trim().to_string();
    let mut child = Command::new(bin)
        .arg(repo_root().join("charts/kraftwerk/files/argocd-health.lua"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(object.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut parts = line.splitn(3, ' ');
    let _name = parts.next();
    (
        parts.next().unwrap_or_default().to_string(),
        parts.next().unwrap_or_default().to_string(),
    )
}

/// The KafkaCluster as `kubectl get -o json` shows it.
async fn object(env: &TestEnv, name: &str) -> Value {
    serde_json::to_value(env.get_kc(&env.ns, name).await).unwrap()
}

fn rollout_column(env: &TestEnv, name: &str) -> String {
    let out = kubectl()
        .args(["get", "kafkacluster", name, "-n", &env.ns])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    let row: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    let i = header
        .iter()
        .position(|h| *h == "ROLLOUT")
        .unwrap_or_else(|| panic!("no ROLLOUT column: {text}"));
    row.get(i).unwrap_or(&"").to_string()
}

/// Every version of KafkaCluster `name` the API server writes from now until the operator has
/// observed the current generation and reports Progressing=False (a watch sees each write; a poll
/// can miss a roll that kwok finishes in seconds).
async fn versions_until_stable(api: Api<KafkaCluster>, name: &str) -> Vec<Value> {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = std::pin::pin!(watcher(api, config).applied_objects());
    let mut seen: Vec<Value> = Vec::new();
    while let Some(o) = stream.try_next().await.expect("watch the KafkaCluster") {
        let o = serde_json::to_value(o).unwrap();
        let observed = o["status"]["observedGeneration"] == o["metadata"]["generation"];
        let stable = o["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|x| x["type"] == "Progressing" && x["status"] == "False")
        });
        let started = seen
            .iter()
            .any(|v| v["status"]["rollout"]["state"] == "IN_PROGRESS");
        seen.push(o);
        if observed && stable && started {
            return seen;
        }
    }
    seen
}

#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn the_argocd_health_script_follows_a_real_cluster() {
    let env = TestEnv::new("gitops-health").await;
    let c = "gh";
    env.create_kc(&env.ns, c, json!({"rollout": {"paused": true}}))
        .await
        .unwrap();
    // no Kafka behind kwok's pods: the roll skips Kafka's safety gates
    env.annotate_kc(c, json!({"kraftwerk.dev/skip-kafka-gates": "true"}))
        .await;
    env.wait_ready(&env.ns, c).await;
    env.wait_condition(&env.ns, c, "Progressing", "False", None).await;
    let stable = object(&env, c).await;
    assert_eq!(health(&stable).0, "Healthy", "{stable}");
    assert_eq!(rollout_column(&env, c), "COMPLETE");

    // a generation the operator has not seen yet
    let mut unseen = stable.clone();
    unseen["metadata"]["generation"] = json!(stable["metadata"]["generation"].as_i64().unwrap() + 1);
    assert_eq!(health(&unseen).0, "Progressing");

    // a static change, held by the paused rollout
    env.patch_kc_spec(&env.ns, c, json!({"config": {"queued.max.requests": "600"}}))
        .await
        .unwrap();
    env.wait_condition(&env.ns, c, "Progressing", "True", Some("RolloutPaused"))
        .await;
    let paused = object(&env, c).await;
    assert_eq!(health(&paused).0, "Suspended", "{paused}");
    assert_eq!(rollout_column(&env, c), "WAITING");

    // resumed: every version of the object written during the roll is Progressing to Argo CD
    let rolled = tokio::spawn(versions_until_stable(env.api_in::<KafkaCluster>(&env.ns), c));
    env.patch_kc_spec(&env.ns, c, json!({"rollout": {"paused": false}}))
        .await
        .unwrap();
    let versions = tokio::time::timeout(support::TIMEOUT, rolled)
        .await
        .expect("the roll ends")
        .unwrap();
    let rolling: Vec<&Value> = versions
        .iter()
        .filter(|o| o["status"]["rollout"]["state"] == "IN_PROGRESS")
        .collect();
    assert!(!rolling.is_empty(), "no version showed the roll: {versions:?}");
    for o in &rolling {
        assert_eq!(health(o).0, "Progressing", "{o}");
    }
    assert_eq!(health(&object(&env, c).await).0, "Healthy");

    // an invalid spec
    env.patch_kc_spec(&env.ns, c, json!({"metrics": {"port": 9092}}))
        .await
        .unwrap();
    env.wait_condition(&env.ns, c, "Degraded", "True", Some("InvalidSpec"))
        .await;
    let (status, message) = health(&object(&env, c).await);
    assert_eq!(status, "Degraded");
    assert!(message.contains("spec.metrics.port"), "{message}");
}
