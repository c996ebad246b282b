//! Boot test on the operator's own rendering (issue 4): the `server.properties` that
//! `kraftwerk::render::render` produces for 3 controllers + 3 brokers boot a real KRaft
//! cluster once mapped to loopback (the only edit, see `kafka_support::map_to_loopback`).
//!
//! Needs Java 17+ and the jars of `tests/kafka/fetch.sh`; run with `make test-kafka`
//! (`cargo test --test kafka_boot -- --ignored --nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: failing loudly is the point

mod kafka_support;

use std::time::{Duration, Instant};

use kafka_support::{
    NodeSpec, Produced, Role, TestCluster, effective_configs, fetch, java_console_consume, produce,
    produce_outcome,
};
use kraftwerk::admin::{AdminClient, AlterConfigOp, ConfigEntry, ConfigResource, NewTopic};
use kraftwerk::crd::KafkaCluster;
use kraftwerk::durability::{self, Correction, Effective};
use kraftwerk::render::{RenderOptions, render};
use kraftwerk::validate::{Existing, Options, validate};

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
    rendered_specs_of(CR)
}

fn rendered_specs_of(yaml: &str) -> (String, Vec<NodeSpec>) {
    let cr: KafkaCluster = serde_yaml::from_str(yaml).expect("CR parses");
    let rendered = render(&cr, &RenderOptions::default()).expect("CR renders");
    let specs = rendered.nodes.iter().map(NodeSpec::from).collect();
    (rendered.cluster_id, specs)
}

/// What the operator wants at the cluster level for `yaml` (`kraftwerk::durability::desired`).
fn desired_of(yaml: &str) -> durability::Desired {
    let cr: KafkaCluster = serde_yaml::from_str(yaml).expect("CR parses");
    let cluster = validate(&cr, &Existing::default(), "x", &Options::default()).expect("valid");
    durability::desired(&cluster)
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
    // A new cluster runs the dynamic quorum (KIP-853): kraft.version 1, and the voters carry
    // the directory ids the operator formatted them with.
    let features = admin.finalized_features().await.expect("ApiVersions");
    assert_eq!(features.level("kraft.version"), Some(1), "{features:?}");
    for v in &quorum.voters {
        assert_eq!(
            v.directory_id.as_deref(),
            Some(kraftwerk::quorum::initial_directory_id(&cluster.cluster_id, v.id).as_str()),
            "voter {}",
            v.id
        );
    }
    for n in cluster.nodes.iter().filter(|n| n.role == Role::Controller) {
        assert!(!n.props.contains_key("controller.quorum.voters"), "{}", n.name);
        assert!(
            n.props.contains_key("controller.quorum.bootstrap.servers"),
            "{}",
            n.name
        );
    }

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

    // Issue 11: the durability the docs promise is what Kafka runs with, read back from Kafka.
    default_cluster_runs_with_rf3_and_min_isr2(&admin).await;
    previous_release_value_is_corrected_live(&cluster, &admin).await;

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

    // Last, as it stops two brokers: the effective min ISR 2 is in force.
    acks_all_is_refused_below_min_isr(&mut cluster, &admin).await;
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

// ---------------------------------------------------------------------------------------
// Durability (issue 11): effective values, read from Kafka with DescribeConfigs and synonyms.

const MIN_ISR: &str = "min.insync.replicas";
const RF: &str = "default.replication.factor";

fn entry<'a>(entries: &'a [ConfigEntry], key: &str) -> &'a ConfigEntry {
    entries
        .iter()
        .find(|e| e.name == key)
        .unwrap_or_else(|| panic!("no {key} in {entries:?}"))
}

/// Prints what Kafka runs with (broker `broker`, the cluster level, `topic`) under `label`.
async fn print_effective(admin: &AdminClient, label: &str, broker: i32, topic: &str) {
    let b = effective_configs(admin, &ConfigResource::Broker(broker), Some(&[MIN_ISR, RF]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let d = effective_configs(admin, &ConfigResource::ClusterBrokerDefault, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let t = effective_configs(admin, &ConfigResource::Topic(topic.into()), Some(&[MIN_ISR]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let rf = admin
        .describe_topic(topic)
        .await
        .map(|t| t.replication_factor())
        .unwrap_or(0);
    eprintln!(
        "DURABILITY {label}\n broker {broker}:\n{b}\n cluster level (entity default):\n{d}\n topic {topic} (replication factor {rf}):\n{t}"
    );
}

/// A topic created with nothing set: partitions and replication factor -1 (the controller's
/// defaults), no configs. Waits until every replica is in sync.
async fn fresh_topic(admin: &AdminClient, topic: &str) -> kraftwerk::admin::TopicInfo {
    admin
        .create_topic(&NewTopic::new(topic, -1, -1))
        .await
        .unwrap_or_else(|e| panic!("CreateTopics {topic}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match admin.describe_topic(topic).await {
            Ok(t)
                if !t.partitions.is_empty()
                    && t.partitions
                        .iter()
                        .all(|p| p.leader.is_some() && p.isr.len() == p.replicas.len()) =>
            {
                return t;
            }
            other if Instant::now() > deadline => panic!("{topic} never got in sync: {other:?}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// `min.insync.replicas` of `topic` as DescribeConfigs reports it: (value, source).
async fn topic_min_isr(admin: &AdminClient, topic: &str) -> (String, &'static str) {
    let t = admin
        .describe_configs_with_synonyms(&ConfigResource::Topic(topic.into()), Some(&[MIN_ISR]))
        .await
        .expect("DescribeConfigs topic");
    let e = entry(&t, MIN_ISR);
    (e.value.clone().unwrap_or_default(), e.source)
}

async fn default_cluster_runs_with_rf3_and_min_isr2(admin: &AdminClient) {
    let features = admin.finalized_features().await.expect("finalized features");
    eprintln!("DURABILITY finalized features: {:?}", features.levels);
    assert!(
        features.elr_enabled(),
        "Kafka 4.3.1 formats new clusters with eligible.leader.replicas.version=1"
    );

    let topic = "durability-fresh";
    let info = fresh_topic(admin, topic).await;
    print_effective(admin, "default cluster as booted", 0, topic).await;

    // A broker: min ISR 2 in force from the cluster level, which the controllers recorded at
    // bootstrap from their own (now rendered) file; the brokers' static 2 below it.
    let b0 = admin
        .describe_configs_with_synonyms(&ConfigResource::Broker(0), Some(&[MIN_ISR, RF]))
        .await
        .expect("DescribeConfigs broker 0");
    let min = entry(&b0, MIN_ISR);
    assert_eq!(
        (min.value.as_deref(), min.source),
        (Some("2"), "DYNAMIC_DEFAULT_BROKER_CONFIG")
    );
    assert_eq!(min.value_at("STATIC_BROKER_CONFIG"), Some("2"));
    let rf = entry(&b0, RF);
    assert_eq!(
        (rf.value.as_deref(), rf.source),
        (Some("3"), "STATIC_BROKER_CONFIG")
    );

    // The cluster level holds exactly the value ELR recorded.
    let cluster = admin
        .describe_configs_with_synonyms(&ConfigResource::ClusterBrokerDefault, None)
        .await
        .expect("DescribeConfigs cluster default");
    let set: Vec<(&str, Option<&str>, &str)> = cluster
        .iter()
        .map(|e| (e.name.as_str(), e.value.as_deref(), e.source))
        .collect();
    assert_eq!(set, vec![(MIN_ISR, Some("2"), "DYNAMIC_DEFAULT_BROKER_CONFIG")]);

    // A topic created with nothing set: the controllers' replication factor, min ISR 2.
    assert_eq!(info.replication_factor(), 3, "{info:?}");
    assert_eq!(
        topic_min_isr(admin, topic).await,
        ("2".to_string(), "DYNAMIC_DEFAULT_BROKER_CONFIG")
    );
    // The roll gates read the same effective value, per topic and as the fallback.
    let gate = admin
        .topics_min_insync_replicas(&[topic.to_string()])
        .await
        .expect("topics_min_insync_replicas");
    assert_eq!(gate.get(topic), Some(&2));
    assert_eq!(
        admin.broker_min_insync_replicas(1).await.expect("broker"),
        Some(2)
    );

    // With ELR, Kafka refuses a broker-level min.insync.replicas.
    let refused = admin
        .incremental_alter_configs(
            &ConfigResource::Broker(0),
            &[AlterConfigOp::Set(MIN_ISR.into(), "1".into())],
        )
        .await
        .expect_err("broker-level min.insync.replicas must be refused with ELR");
    eprintln!("DURABILITY broker-level min.insync.replicas=1 on broker 0: {refused}");
    assert!(
        refused
            .to_string()
            .contains("Broker-level min.insync.replicas cannot be altered while ELR is enabled"),
        "{refused}"
    );
    // A static key has no cluster level: Kafka refuses it there (it is rendered into the files).
    let rf_default = admin
        .incremental_alter_configs(
            &ConfigResource::ClusterBrokerDefault,
            &[AlterConfigOp::Set(RF.into(), "1".into())],
        )
        .await
        .expect_err("default.replication.factor is not dynamic");
    eprintln!("DURABILITY cluster-level default.replication.factor=1: {rf_default}");
    assert!(
        rf_default
            .to_string()
            .contains("Cannot update these configs dynamically: [default.replication.factor]"),
        "{rf_default}"
    );
    assert_eq!(
        durability::level(RF, true),
        durability::Level::Static,
        "the pure module agrees"
    );
}

/// Runs the durability pass and checks it corrected exactly the cluster-level
/// `min.insync.replicas`, from `old` (also the value in force) to `new`.
async fn pass_corrects_min_isr(
    admin: &AdminClient,
    desired: &durability::Desired,
    old: &str,
    new: &str,
) -> durability::sync::Outcome {
    let t0 = Instant::now();
    let outcome = durability::sync::reconcile(admin, desired)
        .await
        .expect("durability pass");
    eprintln!("DURABILITY outcome in {:?}: {outcome:#?}", t0.elapsed());
    for c in &outcome.corrected {
        eprintln!("DURABILITY Event DurabilityCorrected: {}", c.message());
    }
    assert_eq!(
        outcome.corrected,
        vec![Correction {
            key: MIN_ISR.into(),
            old: Some(old.into()),
            was_effective: Some(old.into()),
            new: new.into(),
        }]
    );
    outcome
}

/// A cluster as the previous release leaves it (cluster-level min ISR 1) is corrected live.
async fn previous_release_value_is_corrected_live(cluster: &TestCluster, admin: &AdminClient) {
    admin
        .incremental_alter_configs(
            &ConfigResource::ClusterBrokerDefault,
            &[AlterConfigOp::Set(MIN_ISR.into(), "1".into())],
        )
        .await
        .expect("set the cluster level to 1");
    let topic = "durability-previous";
    fresh_topic(admin, topic).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while topic_min_isr(admin, topic).await.0 != "1" {
        assert!(Instant::now() < deadline, "brokers never saw the cluster-level 1");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    print_effective(
        admin,
        "BEFORE (cluster level as the previous release leaves it)",
        0,
        topic,
    )
    .await;
    let pids: Vec<Option<u32>> = cluster.nodes.iter().map(|n| n.pid()).collect();

    let outcome = pass_corrects_min_isr(admin, &desired_of(CR), "1", "2").await;
    assert!(outcome.elr);
    assert_eq!(outcome.refused, vec![]);
    assert_eq!(outcome.min_insync_replicas_before, Some(1));
    assert_eq!(
        outcome.effective,
        Effective {
            replication_factor: Some(3),
            min_insync_replicas: Some(2),
        }
    );
    assert_eq!(
        topic_min_isr(admin, topic).await,
        ("2".to_string(), "DYNAMIC_DEFAULT_BROKER_CONFIG")
    );
    print_effective(admin, "AFTER the durability pass", 0, topic).await;
    // Live: the same processes, each started once.
    let after: Vec<Option<u32>> = cluster.nodes.iter().map(|n| n.pid()).collect();
    assert_eq!(pids, after, "no node restarted");
    for n in &cluster.nodes {
        assert_eq!(
            n.log_text().matches("Kafka Server started").count(),
            1,
            "{} started once",
            n.name
        );
    }
    // Idempotent: a second pass finds nothing to do.
    let again = durability::sync::reconcile(admin, &desired_of(CR))
        .await
        .expect("second pass");
    assert_eq!(again.corrected, vec![]);
    assert_eq!(again.effective, outcome.effective);
}

/// With the effective min ISR 2 and two of three replicas stopped, `acks=all` is refused with
/// NOT_ENOUGH_REPLICAS (while `acks=1` is still accepted): the setting is in force.
async fn acks_all_is_refused_below_min_isr(cluster: &mut TestCluster, admin: &AdminClient) {
    let topic = "durability-min-isr";
    admin
        .create_topic(&NewTopic::new(topic, 1, 3))
        .await
        .expect("CreateTopics");
    let info = wait_for_isr(admin, topic, 3).await;
    assert_eq!(
        topic_min_isr(admin, topic).await,
        ("2".to_string(), "DYNAMIC_DEFAULT_BROKER_CONFIG"),
        "no topic config: the cluster's value"
    );
    let leader = info.partitions[0].leader.expect("leader");
    let values = |tag: &str| vec![format!("{tag}-0"), format!("{tag}-1")];
    assert!(matches!(
        produce_outcome(admin, topic, 0, &values("all-in-sync"), -1).await,
        Ok(Produced::Appended(0))
    ));
    let followers: Vec<i32> = info.partitions[0]
        .replicas
        .iter()
        .copied()
        .filter(|r| *r != leader)
        .collect();
    for id in &followers {
        let (status, graceful) = cluster
            .node_mut(*id)
            .unwrap()
            .stop(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e}"));
        eprintln!("DURABILITY stopped broker {id}: {status} (graceful: {graceful})");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let isr = loop {
        let t = admin.describe_topic(topic).await.expect("Metadata");
        let p = &t.partitions[0];
        if p.isr == vec![leader] && p.leader == Some(leader) {
            break p.isr.clone();
        }
        assert!(Instant::now() < deadline, "ISR never shrank to the leader: {p:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let all = produce_outcome(admin, topic, 0, &values("acks-all"), -1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let one = produce_outcome(admin, topic, 0, &values("acks-one"), 1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "DURABILITY {topic}: leader {leader}, replicas {:?}, ISR {isr:?} after stopping {followers:?}: \
         acks=all -> {all:?}; acks=1 -> {one:?}",
        info.partitions[0].replicas
    );
    assert!(
        matches!(
            all,
            Produced::Refused(kafka_protocol::error::ResponseError::NotEnoughReplicas, _)
        ),
        "{all:?}"
    );
    assert!(matches!(one, Produced::Appended(2)), "{one:?}");
}

/// A KafkaCluster overriding both durability keys, for the test below.
const CR_OVERRIDES: &str = r#"
apiVersion: kraftwerk.dev/v1alpha1
kind: KafkaCluster
metadata:
  name: dur
  namespace: kafka-test
spec:
  version: "4.3.1"
  controllers:
    replicas: 1
  brokers:
    replicas: 4
  config:
    default.replication.factor: 4
    min.insync.replicas: 3
"#;

/// The controllers' file as the previous release rendered it: no durability keys.
fn previous_release(spec: &NodeSpec) -> NodeSpec {
    let mut old = spec.clone();
    old.server_properties = spec
        .server_properties
        .lines()
        .filter(|l| !l.starts_with("min.insync.replicas=") && !l.starts_with("default.replication.factor="))
        .map(|l| format!("{l}\n"))
        .collect();
    old
}

/// `spec.config` overriding both durability keys (4 brokers: RF 4, min ISR 3) on a cluster
/// created by the previous release, whose controllers' file lacked them: Kafka recorded the
/// cluster-level min ISR 1 from the controller (the mechanism of issue 11), and topics created
/// without a replication factor got 1. The durability pass corrects the cluster level live; the
/// controller's replication factor (a static key) follows once the roll restarts it with the
/// new file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "boots 5 real Kafka JVMs; run with `make test-kafka`"]
async fn spec_config_durability_reaches_kafka_and_previous_release_is_corrected() {
    let (cluster_id, specs) = rendered_specs_of(CR_OVERRIDES);
    let controller = specs
        .iter()
        .position(|s| s.role == Role::Controller)
        .expect("a controller");
    let mut booted = specs.clone();
    booted[controller] = previous_release(&specs[controller]);
    let mut cluster = TestCluster::new("durability", &booted).unwrap_or_else(|e| panic!("{e}"));
    cluster.cluster_id = cluster_id;
    let ready = cluster.boot(Duration::from_secs(180)).await;
    eprintln!("DURABILITY 1 controller + 4 brokers ready in {ready:?}");
    let admin = cluster.admin().unwrap();

    // As the previous release leaves it: the controller's Kafka default 1 shadows the brokers' 3.
    let before = fresh_topic(&admin, "dur-before").await;
    print_effective(
        &admin,
        "BEFORE (previous release's controller file)",
        0,
        "dur-before",
    )
    .await;
    let b0 = admin
        .describe_configs_with_synonyms(&ConfigResource::Broker(0), Some(&[MIN_ISR, RF]))
        .await
        .expect("DescribeConfigs broker 0");
    let min = entry(&b0, MIN_ISR);
    assert_eq!(
        (min.value.as_deref(), min.source),
        (Some("1"), "DYNAMIC_DEFAULT_BROKER_CONFIG"),
        "recorded at bootstrap from the controller's file, which lacks it"
    );
    assert_eq!(min.value_at("STATIC_BROKER_CONFIG"), Some("3"));
    assert_eq!(entry(&b0, RF).value.as_deref(), Some("4"), "the brokers' file");
    assert_eq!(
        before.replication_factor(),
        1,
        "the controller's default: {before:?}"
    );

    // The durability pass: cluster level corrected live.
    let desired = desired_of(CR_OVERRIDES);
    let outcome = pass_corrects_min_isr(&admin, &desired, "1", "3").await;
    assert_eq!(
        outcome.effective,
        Effective {
            replication_factor: Some(4),
            min_insync_replicas: Some(3),
        }
    );
    assert_eq!(
        topic_min_isr(&admin, "dur-before").await,
        ("3".to_string(), "DYNAMIC_DEFAULT_BROKER_CONFIG")
    );

    // The roll restarts the controller with the new file (it changed): new topics get RF 4.
    let map = cluster.map.clone();
    let node = cluster.node_mut(specs[controller].node_id).unwrap();
    let mapped = kafka_support::map_to_loopback(&specs[controller], &specs, &map, &node.dir.join("data"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(mapped.contains("default.replication.factor=4\n") && mapped.contains("min.insync.replicas=3\n"));
    std::fs::write(&node.props_path, mapped).unwrap();
    node.restart(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    cluster
        .wait_ready(Duration::from_secs(120))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let after = fresh_topic(&admin, "dur-after").await;
    print_effective(
        &admin,
        "AFTER (durability pass, controller restarted with the new file)",
        0,
        "dur-after",
    )
    .await;
    assert_eq!(after.replication_factor(), 4, "{after:?}");
    assert_eq!(
        topic_min_isr(&admin, "dur-after").await,
        ("3".to_string(), "DYNAMIC_DEFAULT_BROKER_CONFIG")
    );
    let again = durability::sync::reconcile(&admin, &desired)
        .await
        .expect("second pass");
    assert_eq!((again.corrected, again.drift), (vec![], vec![]));
    let problems = cluster.config_problems();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
