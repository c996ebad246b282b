//! GitOps health on the local cluster: the Argo CD health script of the chart
//! (`charts/kraftwerk/files/argocd-health.lua`) run by Argo CD's Lua engine (gopher-lua,
//! `tests/argocd/build.sh`) against the status of a real KafkaCluster in each state it passes
//! through: Healthy when Ready and stable, Suspended while the rollout is paused, Progressing while
//! it rolls or before the operator saw a new generation, Degraded on an invalid spec; and the
//! printer column that shows a roll (`kubectl get kc`: ROLLOUT) while Ready stays True.
//! Run with `make test-integration` (ignored by a plain `cargo test`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use kube::api::{Patch, PatchParams};
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

#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn the_argocd_health_script_follows_a_real_cluster() {
    let env = TestEnv::new("gitops-health").await;
    let c = "gh";
    env.create_kc(&env.ns, c, json!({"rollout": {"paused": true}}))
        .await
        .unwrap();
    // no Kafka behind kwok's pods: the roll skips Kafka's safety gates
    env.dyn_kc(&env.ns)
        .patch(
            c,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"kraftwerk.dev/skip-kafka-gates": "true"}}})),
        )
        .await
        .unwrap();
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

    // resumed: it rolls while Ready stays True
    env.patch_kc_spec(&env.ns, c, json!({"rollout": {"paused": false}}))
        .await
        .unwrap();
    let rolling = support::wait_for("a rolling status", support::TIMEOUT, || async {
        let o = object(&env, c).await;
        let conditions = o["status"]["conditions"].as_array()?.clone();
        let is = |t: &str, s: &str| conditions.iter().any(|x| x["type"] == t && x["status"] == s);
        (o["status"]["observedGeneration"] == o["metadata"]["generation"]
            && is("Progressing", "True")
            && is("Ready", "True")
            && o["status"]["rollout"]["state"] == "IN_PROGRESS")
            .then_some(o)
    })
    .await;
    assert_eq!(health(&rolling).0, "Progressing", "{rolling}");
    env.wait_condition(&env.ns, c, "Progressing", "False", None).await;
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
