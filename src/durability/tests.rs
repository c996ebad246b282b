use std::collections::BTreeMap;

use super::*;
use crate::admin::ConfigSynonym;
use crate::fixtures::{CLUSTER_ID, cluster, validated};
use crate::validate::{Existing, KafkaFacts, Options, validate_with};

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A DescribeConfigs entry in force at `source`, with the synonyms below it.
fn entry(name: &str, value: &str, source: &'static str, below: &[(&'static str, &str)]) -> ConfigEntry {
    let mut synonyms = vec![ConfigSynonym {
        name: name.into(),
        value: Some(value.into()),
        source,
    }];
    synonyms.extend(below.iter().map(|(s, v)| ConfigSynonym {
        name: name.into(),
        value: Some((*v).into()),
        source: s,
    }));
    ConfigEntry {
        name: name.into(),
        value: Some(value.into()),
        source,
        read_only: false,
        sensitive: false,
        synonyms,
    }
}

#[test]
fn levels_follow_kafka_and_the_elr_state() {
    assert_eq!(level("min.insync.replicas", true), Level::ClusterOnly);
    assert_eq!(level("min.insync.replicas", false), Level::Cluster);
    assert_eq!(level("log.retention.ms", true), Level::Cluster);
    assert_eq!(level("unclean.leader.election.enable", true), Level::Cluster);
    assert_eq!(level("default.replication.factor", true), Level::Static);
    assert_eq!(level("offsets.topic.replication.factor", false), Level::Static);
    assert_eq!(level("transaction.state.log.min.isr", true), Level::Static);
    assert_eq!(level("num.partitions", true), Level::Static);
}

#[test]
fn elr_is_expected_from_kafka_4_1() {
    assert!(!elr_expected("4.0.0"));
    assert!(!elr_expected("4.0.2"));
    assert!(elr_expected("4.1.0"));
    assert!(elr_expected("4.3.1"));
    assert!(elr_expected("5.0.0"));
    assert!(!elr_expected("garbage"));
}

#[test]
fn default_cluster_owns_min_isr_at_the_cluster_level_and_fixes_replication_factors() {
    let d = desired(&validated(""));
    assert_eq!(d.cluster, map(&[("min.insync.replicas", "2")]));
    assert_eq!(
        d.fixed,
        map(&[
            ("default.replication.factor", "3"),
            ("offsets.topic.replication.factor", "3"),
            ("transaction.state.log.min.isr", "2"),
            ("transaction.state.log.replication.factor", "3"),
        ])
    );
}

#[test]
fn user_cluster_level_keys_are_owned_and_override_the_defaults() {
    let d = desired(&validated(
        "config:\n  min.insync.replicas: 3\n  default.replication.factor: 3\n  log.retention.ms: 3600000\n  \
         num.partitions: 6\nbrokers:\n  config:\n    unclean.leader.election.enable: false\n",
    ));
    assert_eq!(
        d.cluster,
        map(&[
            ("log.retention.ms", "3600000"),
            ("min.insync.replicas", "3"),
            ("unclean.leader.election.enable", "false"),
        ])
    );
    assert_eq!(d.fixed["default.replication.factor"], "3");
    assert!(!d.fixed.contains_key("num.partitions"), "not a durability key");
}

#[test]
fn small_clusters_want_one_replica() {
    let d = desired(&validated("brokers:\n  replicas: 1\n"));
    assert_eq!(d.cluster, map(&[("min.insync.replicas", "1")]));
    assert_eq!(d.fixed["default.replication.factor"], "1");
}

/// What Kafka 4.3.1 reports for a cluster created by the previous release: the controllers'
/// missing `min.insync.replicas` became a cluster-level 1 that shadows the brokers' static 2.
fn previous_release() -> (Vec<ConfigEntry>, Vec<ConfigEntry>) {
    let cluster = vec![entry("min.insync.replicas", "1", CLUSTER_SOURCE, &[])];
    let broker = vec![
        entry(
            "min.insync.replicas",
            "1",
            CLUSTER_SOURCE,
            &[("STATIC_BROKER_CONFIG", "2"), ("DEFAULT_CONFIG", "1")],
        ),
        entry(
            "default.replication.factor",
            "3",
            "STATIC_BROKER_CONFIG",
            &[("DEFAULT_CONFIG", "1")],
        ),
        entry(
            "offsets.topic.replication.factor",
            "3",
            "STATIC_BROKER_CONFIG",
            &[],
        ),
        entry("transaction.state.log.min.isr", "2", "STATIC_BROKER_CONFIG", &[]),
        entry(
            "transaction.state.log.replication.factor",
            "3",
            "STATIC_BROKER_CONFIG",
            &[],
        ),
    ];
    (cluster, broker)
}

#[test]
fn a_wrong_cluster_level_min_isr_is_corrected_with_old_and_new_values() {
    let (cluster, broker) = previous_release();
    let d = diff(&desired(&validated("")), &cluster, 0, &broker);
    assert_eq!(
        d.corrections,
        vec![Correction {
            key: "min.insync.replicas".into(),
            old: Some("1".into()),
            was_effective: Some("1".into()),
            new: "2".into(),
        }]
    );
    assert_eq!(
        d.ops(),
        vec![AlterConfigOp::Set("min.insync.replicas".into(), "2".into())]
    );
    assert_eq!(d.drift, vec![]);
    assert_eq!(
        d.corrections[0].message(),
        "min.insync.replicas at the cluster level: 1 -> 2 (in force before: 1), applied live"
    );
}

#[test]
fn a_missing_cluster_level_value_is_set() {
    let broker = vec![entry(
        "min.insync.replicas",
        "2",
        "STATIC_BROKER_CONFIG",
        &[("DEFAULT_CONFIG", "1")],
    )];
    let d = diff(&desired(&validated("")), &[], 1, &broker);
    assert_eq!(
        d.corrections,
        vec![Correction {
            key: "min.insync.replicas".into(),
            old: None,
            was_effective: Some("2".into()),
            new: "2".into(),
        }]
    );
    assert_eq!(
        d.corrections[0].message(),
        "min.insync.replicas at the cluster level: unset -> 2 (in force before: 2), applied live"
    );
}

#[test]
fn a_correct_cluster_needs_nothing() {
    let (mut cluster, mut broker) = previous_release();
    cluster[0] = entry("min.insync.replicas", "2", CLUSTER_SOURCE, &[]);
    broker[0] = entry(
        "min.insync.replicas",
        "2",
        CLUSTER_SOURCE,
        &[("STATIC_BROKER_CONFIG", "2")],
    );
    let d = diff(&desired(&validated("")), &cluster, 0, &broker);
    assert_eq!(d, Diff::default());
    assert_eq!(
        Effective::from_broker(&broker),
        Effective {
            replication_factor: Some(3),
            min_insync_replicas: Some(2),
        }
    );
}

#[test]
fn keys_not_owned_and_stale_static_values_are_reported_not_changed() {
    // sorted by name, as AdminClient::describe_configs_with_synonyms returns them
    let cluster = vec![
        entry("default.replication.factor", "1", CLUSTER_SOURCE, &[]),
        entry("log.retention.ms", "1000", CLUSTER_SOURCE, &[]),
        entry("min.insync.replicas", "2", CLUSTER_SOURCE, &[]),
    ];
    let broker = vec![
        entry(
            "min.insync.replicas",
            "2",
            CLUSTER_SOURCE,
            &[("STATIC_BROKER_CONFIG", "2")],
        ),
        entry(
            "default.replication.factor",
            "1",
            "STATIC_BROKER_CONFIG",
            &[("DEFAULT_CONFIG", "1")],
        ),
    ];
    let d = diff(&desired(&validated("")), &cluster, 2, &broker);
    assert_eq!(d.corrections, vec![]);
    let lines: Vec<String> = d.drift.iter().map(Drift::message).collect();
    assert_eq!(
        lines,
        vec![
            "default.replication.factor=1 on broker 2; the KafkaCluster says 3, which takes effect when the broker restarts",
            "default.replication.factor=1 is set at the cluster level, where Kafka ignores it (a static key)",
            "log.retention.ms=1000 is set at the cluster level outside the KafkaCluster and overrides every broker's configuration",
        ]
    );
}

#[test]
fn a_per_broker_override_of_an_owned_key_is_reported() {
    let cluster = vec![entry("log.retention.ms", "3600000", CLUSTER_SOURCE, &[])];
    let broker = vec![entry(
        "log.retention.ms",
        "5",
        BROKER_SOURCE,
        &[(CLUSTER_SOURCE, "3600000"), ("STATIC_BROKER_CONFIG", "3600000")],
    )];
    let mut want = Desired::default();
    want.cluster.insert("log.retention.ms".into(), "3600000".into());
    let d = diff(&want, &cluster, 4, &broker);
    assert_eq!(d.corrections, vec![]);
    assert_eq!(
        d.drift,
        vec![Drift {
            key: "log.retention.ms".into(),
            value: Some("5".into()),
            at: "broker 4".into(),
            reason: DriftReason::BrokerOverride {
                want: "3600000".into()
            },
        }]
    );
}

#[test]
fn a_pool_min_isr_is_refused_while_elr_is_on() {
    let spec = "brokers:\n  config:\n    min.insync.replicas: 1\ncontrollers:\n  config:\n    min.insync.replicas: 2\n";
    let run = |elr: bool| {
        validate_with(
            &cluster(spec),
            &Existing::default(),
            CLUSTER_ID,
            &Options::default(),
            &KafkaFacts { elr },
        )
    };
    let err = run(true).unwrap_err();
    let fields: Vec<&str> = err.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "spec.brokers.config[\"min.insync.replicas\"]",
            "spec.controllers.config[\"min.insync.replicas\"]"
        ]
    );
    assert!(
        err.problems[0].reason.contains("set it in spec.config"),
        "{}",
        err.problems[0].reason
    );
    assert!(
        run(false).is_ok(),
        "Kafka accepts broker-level values without ELR"
    );
    // The default version (4.3.1) formats clusters with ELR on.
    assert!(
        crate::validate::validate(
            &cluster(spec),
            &Existing::default(),
            CLUSTER_ID,
            &Options::default()
        )
        .is_err()
    );
    assert!(
        crate::validate::validate(
            &cluster("config:\n  min.insync.replicas: 1\n"),
            &Existing::default(),
            CLUSTER_ID,
            &Options::default()
        )
        .is_ok(),
        "the cluster-wide spec.config is where it belongs"
    );
}

#[test]
fn status_carries_the_effective_values() {
    let e = Effective {
        replication_factor: Some(3),
        min_insync_replicas: Some(2),
    };
    let s = serde_json::to_value(e.status()).unwrap();
    assert_eq!(
        s,
        serde_json::json!({"replicationFactor": 3, "minInSyncReplicas": 2})
    );
}

#[test]
fn cluster_only_keys_are_never_sent_per_broker() {
    let ops = || {
        vec![
            AlterConfigOp::Set("min.insync.replicas".into(), "3".into()),
            AlterConfigOp::Set("message.max.bytes".into(), "2000000".into()),
            AlterConfigOp::Delete("min.insync.replicas".into()),
        ]
    };
    assert_eq!(
        per_broker(ops(), true),
        vec![AlterConfigOp::Set("message.max.bytes".into(), "2000000".into())]
    );
    assert_eq!(
        per_broker(ops(), false),
        ops(),
        "without ELR a broker takes its own value"
    );
}
