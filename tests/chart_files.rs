//! The chart's monitoring files refer only to series that exist: every metric name in the
//! Grafana dashboard and the alert rules is one the JMX exporter rules
//! (deploy/metrics/jmx-exporter-kafka.yaml) can produce, one the agent's JVM collectors export,
//! or one the operator serves. (`promtool check rules` on the rendered PrometheusRule runs in
//! tests/integration_install.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use regex::Regex;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// Labels the chart's PodMonitor adds (not metric names).
const LABELS: [&str; 2] = ["kafka_cluster", "kafka_role"];

/// Metric names of Kafka and the operator used in `text`.
fn metric_names(text: &str) -> Vec<String> {
    let re = Regex::new(r"\b(?:kafka|kraftwerk|jvm)_[a-z0-9_]+").unwrap();
    let mut names: Vec<String> = re
        .find_iter(text)
        .map(|m| m.as_str().to_string())
        .filter(|n| !LABELS.contains(&n.as_str()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A name the exporter rules, the JVM collectors or the operator produce.
fn known(name: &str) -> bool {
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&read("deploy/metrics/jmx-exporter-kafka.yaml")).unwrap();
    let from_rules = rules["rules"].as_sequence().unwrap().iter().any(|r| {
        let template = r["name"].as_str().unwrap();
        let pattern = format!("^{}$", regex::escape(template).replace(r"\$1", "[a-z0-9]+"));
        Regex::new(&pattern).unwrap().is_match(name)
    });
    // the agent's JVM collectors (client_java): memory, GC, threads, classes, ...
    let jvm = [
        "jvm_memory_used_bytes",
        "jvm_gc_collection_seconds_sum",
        "jvm_gc_collection_seconds_count",
    ]
    .contains(&name);
    let m = kraftwerk::metrics::Metrics::new();
    m.cluster_state("n", "c", &Default::default());
    let operator = m
        .encode()
        .lines()
        .any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")));
    from_rules || jvm || operator
}

#[test]
fn the_dashboard_uses_only_series_that_exist() {
    let text = read("charts/kraftwerk/files/grafana-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 10, "{} panels", panels.len());
    let exprs: Vec<&str> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    let names = metric_names(&exprs.join("\n"));
    let unknown: Vec<&String> = names.iter().filter(|n| !known(n)).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard uses unknown series: {unknown:?}"
    );
    for wanted in [
        "kafka_server_replicamanager_underreplicatedpartitions",
        "kafka_controller_kafkacontroller_activecontrollercount",
        "kafka_network_requestmetrics_totaltimems",
        "kraftwerk_cluster_ready",
    ] {
        assert!(names.iter().any(|n| n == wanted), "{wanted} is on the dashboard");
    }
}

#[test]
fn the_alerts_cover_the_issue_and_use_only_series_that_exist() {
    let text = read("charts/kraftwerk/files/prometheus-rules.yaml")
        .replace("__NOT_READY_FOR__", "10m")
        .replace("__ROLLOUT_STUCK_FOR__", "30m");
    let rules: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let alerts: Vec<(String, String)> = rules["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap())
        .map(|r| {
            (
                r["alert"].as_str().unwrap().to_string(),
                r["expr"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for wanted in [
        "KafkaUnderReplicatedPartitions",
        "KafkaOfflinePartitions",
        "KafkaNoActiveController",
        "KafkaClusterNotReady",
        "KafkaClusterRolloutStuck",
    ] {
        assert!(alerts.iter().any(|(a, _)| a == wanted), "alert {wanted}");
    }
    let exprs: Vec<&str> = alerts.iter().map(|(_, e)| e.as_str()).collect();
    let unknown: Vec<String> = metric_names(&exprs.join("\n"))
        .into_iter()
        .filter(|n| !known(n))
        .collect();
    assert!(unknown.is_empty(), "the alerts use unknown series: {unknown:?}");
}
