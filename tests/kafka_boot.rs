//! Boot test on the operator's own rendering (issue 4): the `server.properties` that
//! `kraftwerk::render::render` produces for 3 controllers + 3 brokers boot a real KRaft
//! cluster once mapped to loopback (the only edit, see `kafka_support::map_to_loopback`).
//!
//! Needs Java 17+ and the jars of `tests/kafka/fetch.sh`; run with `make test-kafka`
//! (`cargo test --test kafka_boot -- --ignored --nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: failing loudly is the point

mod kafka_support;

use std::time::{Duration, Instant};

use kafka_support::{NodeSpec, Role, TestCluster, fetch, java_console_consume, produce};
use kraftwerk::admin::{ConfigResource, NewTopic};
use kraftwerk::crd::KafkaCluster;
use kraftwerk::render::{RenderOptions, render};

const CR: &str = r#"
apiVersion: kraftwerk.dev/v1alpha1
kind: KafkaCluster
metadata:
  name: boot
  namespace: kafka-test
spec:
  version: "4.3.1"
  controllers:
    replicas: 3
  brokers:
    replicas: 3
"#;

fn rendered_specs() -> (String, Vec<NodeSpec>) {
    let cr: KafkaCluster = serde_yaml::from_str(CR).expect("CR parses");
    let rendered = render(&cr, &RenderOptions::default()).expect("CR renders");
    let specs = rendered.nodes.iter().map(NodeSpec::from).collect();
    (rendered.cluster_id, specs)
}

/// The mapping itself, without Kafka: runs in plain `cargo test`.
#[test]
fn rendered_config_maps_to_loopback_with_no_other_edit() {
    let (_, specs) = rendered_specs();
    assert_eq!(specs.iter().filter(|s| s.role == Role::Controller).count(), 3);
    assert_eq!(specs.iter().filter(|s| s.role == Role::Broker).count(), 3);
    let map = kafka_support::AddressMap::for_nodes(&specs).expect("ports");
    for s in &specs {
        let data = std::path::Path::new("/tmp/x").join(&s.name);
        let mapped = kafka_support::map_to_loopback(s, &specs, &map, &data).expect("maps");
        let before = kafka_support::parse_properties(&s.server_properties);
        let after = kafka_support::parse_properties(&mapped);
        assert_eq!(
            before.keys().collect::<Vec<_>>(),
            after.keys().collect::<Vec<_>>(),
            "{}: same keys",
            s.name
        );
        for (k, v) in &before {
            let w = &after[k];
            if v == w {
                continue;
            }
            let allowed = k == "log.dirs"
                || k == "metadata.log.dir"
                || k == "listeners"
                || specs.iter().any(|o| v.contains(&o.fqdn));
            assert!(allowed, "{}: {k} changed from {v:?} to {w:?}", s.name);
            assert!(!w.contains(".svc"), "{}: {k}={w}", s.name);
        }
        assert!(
            after["listeners"].contains("127.0.0.1:"),
            "{}",
            after["listeners"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "boots 6 real Kafka JVMs; run with `make test-kafka`"]
async fn rendered_cluster_boots_and_serves_acks_all() {
    let t0 = Instant::now();
    let (rendered_cluster_id, specs) = rendered_specs();
    let mut cluster = TestCluster::new("boot", &specs).unwrap_or_else(|e| panic!("{e}"));
    // Use the cluster id the operator rendered (it is what the pods would format with).
    cluster.cluster_id = rendered_cluster_id;
    for n in &cluster.nodes {
        eprintln!(
            "---- {} mapped server.properties\n{}",
            n.name,
            std::fs::read_to_string(&n.props_path).unwrap()
        );
    }

    let f0 = Instant::now();
    cluster.format_all().unwrap_or_else(|e| panic!("{e}"));
    let format_time = f0.elapsed();

    let s0 = Instant::now();
    cluster.start_all().unwrap_or_else(|e| panic!("{e}"));
    let ready = cluster
        .wait_ready(Duration::from_secs(180))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "format {format_time:?}; quorum + 3 brokers registered {ready:?} after start ({:?} incl. JVM spawn)",
        s0.elapsed()
    );

    let admin = cluster.admin().unwrap();

    // Quorum formed.
    let quorum = admin.describe_quorum().await.expect("DescribeQuorum");
    let mut voters: Vec<i32> = quorum.voters.iter().map(|v| v.id).collect();
    voters.sort();
    assert_eq!(voters, vec![9000, 9001, 9002]);
    assert!(
        voters.contains(&quorum.leader_id),
        "leader {} is a voter",
        quorum.leader_id
    );
    let mut observers: Vec<i32> = quorum.observers.iter().map(|o| o.id).collect();
    observers.sort();
    assert_eq!(observers, vec![0, 1, 2], "brokers observe the metadata log");

    // All brokers registered and unfenced.
    let desc = admin.describe_cluster().await.expect("DescribeCluster");
    assert_eq!(desc.cluster_id, cluster.cluster_id);
    assert!(desc.includes_fenced);
    assert_eq!(
        desc.brokers.iter().map(|b| (b.id, b.fenced)).collect::<Vec<_>>(),
        vec![(0, false), (1, false), (2, false)]
    );

    // RF=3, min.insync.replicas=2.
    let topic = "boot-acks-all";
    admin
        .create_topic(&NewTopic::new(topic, 1, 3).with_config("min.insync.replicas", "2"))
        .await
        .expect("CreateTopics");
    let info = wait_for_isr(&admin, topic, 3).await;
    assert_eq!(info.partitions[0].replicas.len(), 3);
    assert_eq!(
        admin
            .topic_min_insync_replicas(topic)
            .await
            .expect("DescribeConfigs"),
        Some(2)
    );
    let source = admin
        .describe_configs(
            &ConfigResource::Topic(topic.into()),
            Some(&["min.insync.replicas"]),
        )
        .await
        .expect("DescribeConfigs")[0]
        .source;
    assert_eq!(source, "DYNAMIC_TOPIC_CONFIG");

    // acks=all produce, consume back in order.
    let values: Vec<String> = (0..50).map(|i| format!("message-{i:03}")).collect();
    let p0 = Instant::now();
    let base = produce(&admin, topic, 0, &values[..25], -1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(base, 0);
    let base2 = produce(&admin, topic, 0, &values[25..], -1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(base2, 25);
    let produce_time = p0.elapsed();
    let got = fetch(&admin, topic, 0, 0, values.len(), Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        got.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
        (0..50).collect::<Vec<i64>>()
    );
    assert_eq!(got.into_iter().map(|(_, v)| v).collect::<Vec<_>>(), values);

    // Independent oracle: Kafka's own console consumer reads the same records.
    let oracle =
        java_console_consume(&cluster.bootstrap(), topic, values.len()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(oracle, values, "kafka-console-consumer output");

    // Every key the operator renders is known to Kafka.
    let problems = cluster.config_problems();
    assert!(
        problems.is_empty(),
        "Kafka rejected or did not know rendered config keys:\n{}",
        problems.join("\n")
    );
    for n in &cluster.nodes {
        let log = n.log_text();
        assert!(
            log.contains("Kafka Server started"),
            "{} did not log 'Kafka Server started'",
            n.name
        );
    }

    let rss = cluster.rss();
    let total: u64 = rss.iter().map(|(_, k)| k).sum();
    for (name, kib) in &rss {
        eprintln!("RSS {name}: {} MiB", kib / 1024);
    }
    eprintln!(
        "MEASURE boot: format {format_time:?}, ready {ready:?}, produce 50 acks=all {produce_time:?}, total RSS {} MiB, test {:?}",
        total / 1024,
        t0.elapsed()
    );
    assert_eq!(rss.len(), 6, "all six JVMs still running");
}

async fn wait_for_isr(
    admin: &kraftwerk::admin::AdminClient,
    topic: &str,
    isr: usize,
) -> kraftwerk::admin::TopicInfo {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match admin.describe_topic(topic).await {
            Ok(t)
                if !t.partitions.is_empty()
                    && t.partitions
                        .iter()
                        .all(|p| p.isr.len() >= isr && p.leader.is_some()) =>
            {
                return t;
            }
            other if Instant::now() > deadline => panic!("{topic} never reached ISR {isr}: {other:?}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
