//! Install paths on the local cluster: the Helm chart (lint, rendered objects accepted by the API
//! server for the default and the namespace-scoped values), the plain manifests rendered from it,
//! an operator started before its CRD is served (it waits, not ready, then reconciles), and a
//! namespace-scoped operator whose service account has only the chart's Roles (it reconciles in
//! the permitted namespace and names the one it may not list); the chart's alert rules pass
//! `promtool check rules` and fire as tests/prometheus/rules-test.yaml expects.
//! Run with `make test-integration` (ignored by a plain `cargo test`); `KRAFTWERK_HELM` is the
//! helm binary (tests/cluster/build-binaries.sh builds it; default `helm`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kraftwerk::crd::KafkaCluster;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use support::{CRD_NAME, Operator, TEST_LABEL, http_get, kubectl, repo_root, wait_for};

fn helm() -> Command {
    Command::new(std::env::var("KRAFTWERK_HELM").unwrap_or_else(|_| "helm".into()))
}

fn chart() -> PathBuf {
    repo_root().join("charts/kraftwerk")
}

/// Runs a command, panics with its output unless it succeeds; returns stdout.
fn run(cmd: &mut Command, stdin: Option<&str>) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `helm template` of the chart into `ns` with `args` (values files, --set).
fn template(ns: &str, args: &[&str]) -> String {
    run(
        helm()
            .args(["template", "kraftwerk"])
            .arg(chart())
            .args(["--namespace", ns])
            .args(args),
        None,
    )
}

async fn create_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    if api.get_opt(name).await.unwrap().is_some() {
        return;
    }
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {TEST_LABEL: "true"}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &ns).await.unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), name);
    wait_for("the default ServiceAccount", Duration::from_secs(60), || async {
        sas.get_opt("default").await.ok()?.map(|_| ())
    })
    .await;
}

async fn delete_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::default()).await;
}

fn unique(base: &str) -> String {
    format!("{base}-{}", &uuid::Uuid::new_v4().simple().to_string()[..5])
}

/// `helm lint --strict` passes for the default and every ci/ values file, and the API server
/// accepts every rendered object (server-side dry run, CRD included) for the default values and
/// for the namespace-scoped values file.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn the_chart_lints_and_the_api_server_accepts_what_it_renders() {
    let client = support::client().await;
    support::ensure_crd(&client).await;
    run(
        Command::new(repo_root().join("tests/chart/lint.sh")).env(
            "KRAFTWERK_HELM",
            std::env::var("KRAFTWERK_HELM").unwrap_or_else(|_| "helm".into()),
        ),
        None,
    );
    let ns = unique("chart-dry-run");
    create_namespace(&client, &ns).await;
    let namespaced = chart().join("ci/namespaced-values.yaml");
    let values: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&namespaced).unwrap()).unwrap();
    let watched: Vec<String> = values["watchNamespaces"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for w in &watched {
        create_namespace(&client, w).await;
    }
    for (what, args) in [
        ("default values", vec!["--include-crds"]),
        (
            "namespace-scoped values",
            vec!["--include-crds", "-f", namespaced.to_str().unwrap()],
        ),
    ] {
        let rendered = template(&ns, &args);
        let kinds: Vec<&str> = rendered
            .lines()
            .filter_map(|l| l.strip_prefix("kind: "))
            .collect();
        let applied = run(
            kubectl().args(["apply", "--dry-run=server", "-f", "-"]),
            Some(&rendered),
        );
        eprintln!("{what}: {} objects accepted ({kinds:?})", applied.lines().count());
        assert_eq!(
            applied.lines().count(),
            kinds.len(),
            "{what}: every object accepted:\n{applied}"
        );
        assert!(kinds.contains(&"CustomResourceDefinition") && kinds.contains(&"Deployment"));
        let cluster_role = rendered.contains("kind: ClusterRole\n");
        if what == "default values" {
            assert!(cluster_role, "all namespaces: a ClusterRole");
        } else {
            assert!(
                !cluster_role,
                "namespace-scoped without rbac.nodes: no ClusterRole"
            );
            for w in &watched {
                assert!(
                    rendered.contains(&format!(
                        "kind: Role\nmetadata:\n  name: kraftwerk\n  namespace: {w}\n"
                    )),
                    "a Role in {w}:\n{rendered}"
                );
            }
        }
    }
    for w in &watched {
        delete_namespace(&client, w).await;
    }
    delete_namespace(&client, &ns).await;
}

/// The PrometheusRule the chart renders holds rules Prometheus loads (`promtool check rules`) and
/// its alerts fire when, and only when, tests/prometheus/rules-test.yaml says (`promtool test
/// rules`). `KRAFTWERK_PROMTOOL` is the promtool binary (tests/prometheus/build.sh builds it).
#[test]
#[ignore = "needs helm and promtool: make test-integration"]
fn the_alert_rules_pass_promtool() {
    let rendered = template(
        "kraftwerk",
        &[
            "--set",
            "prometheusRule.enabled=true",
            "--show-only",
            "templates/prometheusrule.yaml",
        ],
    );
    let rule: serde_yaml::Value = serde_yaml::from_str(&rendered).unwrap();
    assert_eq!(rule["kind"].as_str(), Some("PrometheusRule"), "{rendered}");
    let dir = std::env::temp_dir().join(format!("kraftwerk-promtool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("rules.yaml"),
        serde_yaml::to_string(&rule["spec"]).unwrap(),
    )
    .unwrap();
    std::fs::copy(
        repo_root().join("tests/prometheus/rules-test.yaml"),
        dir.join("rules-test.yaml"),
    )
    .unwrap();
    let promtool = std::env::var("KRAFTWERK_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let checked = run(
        Command::new(&promtool)
            .current_dir(&dir)
            .args(["check", "rules", "rules.yaml"]),
        None,
    );
    eprintln!("{checked}");
    let tested = run(
        Command::new(&promtool)
            .current_dir(&dir)
            .args(["test", "rules", "rules-test.yaml"]),
        None,
    );
    eprintln!("{tested}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// deploy/operator.yaml is the chart rendered with its defaults (make deploy-manifest), it names
/// the chart's image, and the API server takes it as a user applies it.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn the_plain_manifests_are_the_chart_rendered_and_apply() {
    let client = support::client().await;
    support::ensure_crd(&client).await;
    let rendered = run(
        Command::new(repo_root().join("tests/chart/render-deploy.sh")).env(
            "KRAFTWERK_HELM",
            std::env::var("KRAFTWERK_HELM").unwrap_or_else(|_| "helm".into()),
        ),
        None,
    );
    let committed = std::fs::read_to_string(repo_root().join("deploy/operator.yaml")).unwrap();
    assert!(
        rendered == committed,
        "deploy/operator.yaml differs from the chart's rendering: run `make deploy-manifest`"
    );
    let values = std::fs::read_to_string(chart().join("values.yaml")).unwrap();
    let repository = values
        .lines()
        .find_map(|l| l.strip_prefix("  repository: "))
        .unwrap();
    let image = format!("image: {repository}:{}", env!("CARGO_PKG_VERSION"));
    assert!(committed.contains(&image), "deploy/operator.yaml runs {image}");
    let path = repo_root().join("deploy/operator.yaml");
    run(kubectl().arg("apply").arg("-f").arg(&path), None);
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), "kraftwerk-system");
    let d = deployments.get("kraftwerk").await.unwrap();
    let container = &d.spec.unwrap().template.spec.unwrap().containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some(image.trim_start_matches("image: "))
    );
    run(kubectl().args(["delete", "--wait=false", "-f"]).arg(&path), None);
}

/// The chart's Chart.yaml versions follow Cargo.toml's.
#[test]
fn the_chart_version_is_the_crate_version() {
    let text = std::fs::read_to_string(chart().join("Chart.yaml")).unwrap();
    let chart: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(chart["version"].as_str(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(chart["appVersion"].as_str(), Some(env!("CARGO_PKG_VERSION")));
}

/// Deletes the CRD (KafkaClusters left by earlier tests lose their finalizers first: their
/// operators are gone) and waits until it is no longer served.
async fn delete_crd(client: &Client) {
    let all: Api<KafkaCluster> = Api::all(client.clone());
    if let Ok(list) = all.list(&ListParams::default()).await {
        for kc in list {
            let api: Api<KafkaCluster> = Api::namespaced(client.clone(), &kc.namespace().unwrap());
            let _ = api
                .patch(
                    &kc.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                )
                .await;
        }
    }
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let _ = crds.delete(CRD_NAME, &DeleteParams::default()).await;
    wait_for("the CRD to be gone", Duration::from_secs(120), || async {
        crds.get_opt(CRD_NAME).await.ok()?.is_none().then_some(())
    })
    .await;
}

/// Installed in one step, the operator may start before its CRD is served: it stays up and not
/// ready, logs what it waits for, and once the CRD is applied becomes ready and reconciles.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn an_operator_started_before_its_crd_waits_for_it() {
    let client = support::client().await;
    delete_crd(&client).await;
    let ns = unique("crd-wait");
    create_namespace(&client, &ns).await;
    let mut op = Operator::spawn(&ns, std::slice::from_ref(&ns), &["--leader-election=false"], &[]);
    wait_for(
        "the wait for the CRD in the log",
        Duration::from_secs(60),
        || async {
            op.log_tail(50)
                .contains("waiting for the KafkaCluster CRD")
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        op.is_running(),
        "the operator keeps running:\n{}",
        op.log_tail(30)
    );
    assert_eq!(http_get(op.metrics_addr, "/readyz").await.unwrap().0, 503);
    assert_eq!(http_get(op.metrics_addr, "/healthz").await.unwrap().0, 200);
    support::kubectl_apply_crds();
    op.wait_ready(Duration::from_secs(90)).await;
    assert!(op.log_tail(50).contains("KafkaClusters can be listed now"));
    reconciles(&client, &ns, "waited").await;
    drop(op);
    delete_namespace(&client, &ns).await;
}

/// Creates a one-broker KafkaCluster and waits until the operator made its pods.
async fn reconciles(client: &Client, ns: &str, name: &str) {
    let kc: KafkaCluster = serde_json::from_value(json!({
        "apiVersion": "kraftwerk.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"controllers": {"replicas": 1}, "brokers": {"replicas": 1}}
    }))
    .unwrap();
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    api.create(&PostParams::default(), &kc).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let selector = format!("kraftwerk.dev/cluster={name}");
    wait_for(&format!("pods of {ns}/{name}"), support::TIMEOUT, || async {
        let list = pods.list(&ListParams::default().labels(&selector)).await.ok()?;
        (!list.items.is_empty()).then_some(())
    })
    .await;
    // Remove the finalizer's dependency on this operator: delete while it runs.
    api.delete(name, &DeleteParams::default()).await.unwrap();
    wait_for(&format!("{ns}/{name} deleted"), support::TIMEOUT, || async {
        api.get_opt(name).await.ok()?.is_none().then_some(())
    })
    .await;
}

/// The chart with watchNamespaces [a, b] but only a's Role applied: the operator, running as the
/// chart's service account, reconciles in a, names b as not permitted (not ready meanwhile), and
/// once b's Role exists it becomes ready and reconciles there too. Node access is not granted:
/// it says so and carries on.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn a_namespace_scoped_operator_runs_with_roles_only() {
    let client = support::client().await;
    support::ensure_crd(&client).await;
    let (op_ns, a, b) = (unique("ns-op"), unique("ns-a"), unique("ns-b"));
    for ns in [&op_ns, &a, &b] {
        create_namespace(&client, ns).await;
    }
    let watch = format!("watchNamespaces={{{a},{b}}}");
    let rendered = template(&op_ns, &["--set", &watch, "--set", "rbac.nodes=false"]);
    assert!(!rendered.contains("kind: ClusterRole"), "Roles only");
    // Everything but b's Role and RoleBinding.
    let docs: Vec<&str> = rendered.split("\n---\n").collect();
    let (in_b, rest): (Vec<&str>, Vec<&str>) = docs
        .iter()
        .filter(|d| !d.contains("kind: Deployment"))
        .partition(|d| d.contains(&format!("  namespace: {b}\n")) && d.contains("kind: Role"));
    assert_eq!(in_b.len(), 2, "b's Role and RoleBinding:\n{rendered}");
    run(kubectl().args(["apply", "-f", "-"]), Some(&rest.join("\n---\n")));
    let kubeconfig = support::service_account_kubeconfig(&op_ns, "kraftwerk");
    let mut op = Operator::spawn(
        &op_ns,
        &[a.clone(), b.clone()],
        &[
            "--leader-election=true",
            "--lease-namespace",
            &op_ns,
            "--lease-name",
            "kraftwerk-operator",
        ],
        &[
            ("KUBECONFIG", kubeconfig.to_str().unwrap()),
            ("POD_NAME", "replica-1"),
        ],
    );
    reconciles(&client, &a, "permitted").await;
    let log = op.log_tail(200);
    assert!(
        log.contains(&format!("not permitted to list KafkaClusters in namespace {b}")),
        "{log}"
    );
    assert!(log.contains("not permitted to list nodes"), "{log}");
    assert_eq!(http_get(op.metrics_addr, "/readyz").await.unwrap().0, 503);
    run(kubectl().args(["apply", "-f", "-"]), Some(&in_b.join("\n---\n")));
    op.wait_ready(Duration::from_secs(90)).await;
    reconciles(&client, &b, "granted").await;
    drop(op);
    let _ = std::fs::remove_file(kubeconfig);
    for ns in [&op_ns, &a, &b] {
        delete_namespace(&client, ns).await;
    }
}
