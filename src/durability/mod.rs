//! Durability settings where Kafka actually reads them (issue 11).
//!
//! Rendering `min.insync.replicas=2` into the brokers' `server.properties` is not enough:
//!
//! - Kafka resolves a broker key from the highest level that has a value: per-broker dynamic,
//!   then the **cluster-level dynamic default** (the entity-default broker resource), then the
//!   static file, then Kafka's default. A cluster-level value shadows every broker's file.
//! - With Eligible Leader Replicas (`eligible.leader.replicas.version` ≥ 1, the default on
//!   clusters formatted by Kafka 4.1+), `min.insync.replicas` lives only at the cluster level:
//!   the controller refuses broker-level values, and when the metadata log is created the
//!   active controller records a cluster-level value taken from **its own** static config
//!   (`ActivationRecordsGenerator`; Kafka's default 1 when the controllers' file lacks it).
//! - Topic-creation defaults (`default.replication.factor`, `num.partitions`) are read by the
//!   active controller from its static file when a CreateTopics request leaves them at -1.
//!
//! So the operator renders the durability keys into the controllers' files too, keeps the
//! cluster-level value of every cluster-level key it owns equal to the spec (live, with
//! IncrementalAlterConfigs), and reads the effective values back. This module is the pure half:
//! which keys are cluster-level ([`level`]), what the cluster level should hold ([`desired`]),
//! and the difference to what Kafka reports ([`diff`]). [`sync`] talks to Kafka.

pub mod sync;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::admin::{AlterConfigOp, ConfigEntry};
use crate::roll::dynamic;
use crate::validate::ValidatedCluster;

pub const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";
pub const DEFAULT_REPLICATION_FACTOR: &str = "default.replication.factor";
pub const OFFSETS_TOPIC_REPLICATION_FACTOR: &str = "offsets.topic.replication.factor";
pub const TRANSACTION_STATE_LOG_REPLICATION_FACTOR: &str = "transaction.state.log.replication.factor";
pub const TRANSACTION_STATE_LOG_MIN_ISR: &str = "transaction.state.log.min.isr";

/// `DescribeConfigs` sources, as [`crate::admin::ConfigEntry::source`] labels them.
pub const CLUSTER_SOURCE: &str = "DYNAMIC_DEFAULT_BROKER_CONFIG";
pub const BROKER_SOURCE: &str = "DYNAMIC_BROKER_CONFIG";

/// Where Kafka reads a broker key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Dynamic: a cluster-level default overrides every broker's static value (and a
    /// per-broker dynamic value overrides that). The operator keeps the cluster level equal to
    /// the spec.
    Cluster,
    /// Only at the cluster level: Kafka refuses broker-level values
    /// (`min.insync.replicas` while Eligible Leader Replicas are on).
    ClusterOnly,
    /// Read from the static file of the process that uses it, at start; no dynamic level
    /// applies (Kafka ignores a cluster-level value). Rendered into every node that reads it.
    Static,
}

/// Where Kafka reads `key`, given whether Eligible Leader Replicas are on.
pub fn level(key: &str, elr: bool) -> Level {
    if key == MIN_INSYNC_REPLICAS && elr {
        Level::ClusterOnly
    } else if dynamic::is_dynamic(key) {
        Level::Cluster
    } else {
        Level::Static
    }
}

/// The operations Kafka accepts per broker: keys it holds only at the cluster level
/// (`min.insync.replicas` while Eligible Leader Replicas are on) are left out; the durability
/// pass sets them there, and Kafka would refuse them per broker.
pub fn per_broker(ops: Vec<AlterConfigOp>, elr: bool) -> Vec<AlterConfigOp> {
    ops.into_iter()
        .filter(|op| level(op.key(), elr) != Level::ClusterOnly)
        .collect()
}

/// Whether `key` is set at the cluster level (dynamic default).
pub fn is_cluster_level(key: &str) -> bool {
    level(key, false) != Level::Static
}

/// Whether Eligible Leader Replicas are on for a cluster whose finalized features are not
/// known (not created yet, or Kafka not reachable): `kafka-storage format` of Kafka 4.1 and
/// later enables them by default, so a cluster the operator creates with such a version has
/// them. Clusters formatted by 4.0 and upgraded keep them off until the feature is upgraded;
/// the observed feature level ([`crate::admin::FinalizedFeatures::elr_enabled`]) wins when known.
pub fn elr_expected(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => major > 4 || (major == 4 && minor >= 1),
        _ => false,
    }
}

/// The durability defaults for a cluster with `brokers` brokers: replication that survives one
/// broker loss once there are three brokers. Thresholds, not the exact count: scaling 3 → 5
/// brokers must not change (and restart) them.
pub fn defaults(brokers: i32) -> BTreeMap<String, String> {
    let (rf, min_isr) = if brokers >= 3 { (3, 2) } else { (1, 1) };
    BTreeMap::from([
        (DEFAULT_REPLICATION_FACTOR.to_string(), rf.to_string()),
        (MIN_INSYNC_REPLICAS.to_string(), min_isr.to_string()),
        (OFFSETS_TOPIC_REPLICATION_FACTOR.to_string(), rf.to_string()),
        (
            TRANSACTION_STATE_LOG_REPLICATION_FACTOR.to_string(),
            rf.to_string(),
        ),
        (TRANSACTION_STATE_LOG_MIN_ISR.to_string(), min_isr.to_string()),
    ])
}

/// The durability keys the controllers read from their own file: the topic-creation default
/// (`CreateTopics` with replication factor -1) and the cluster-level `min.insync.replicas`
/// recorded when the metadata log is created (ELR).
pub const CONTROLLER_KEYS: &[&str] = &[DEFAULT_REPLICATION_FACTOR, MIN_INSYNC_REPLICAS];

/// What the cluster should run with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// Cluster-level keys the operator owns and their values: the durability defaults and every
    /// cluster-level key of `spec.config` / `spec.brokers.config`, as the brokers' files hold them.
    pub cluster: BTreeMap<String, String>,
    /// Static durability keys (replication factors of new and internal topics) and the value
    /// every broker should report; only a restart changes them.
    pub fixed: BTreeMap<String, String>,
}

/// The durability keys Kafka reads only from static files: replication factors of new and
/// internal topics, and the internal transaction log's min ISR (a topic config Kafka sets
/// when it creates `__transaction_state`).
pub const FIXED_KEYS: &[&str] = &[
    DEFAULT_REPLICATION_FACTOR,
    OFFSETS_TOPIC_REPLICATION_FACTOR,
    TRANSACTION_STATE_LOG_REPLICATION_FACTOR,
    TRANSACTION_STATE_LOG_MIN_ISR,
];

/// The desired durability settings of `cluster`: the tunable part of a broker's rendering
/// (defaults, then user overrides), split by level.
pub fn desired(cluster: &ValidatedCluster) -> Desired {
    crate::desired::build(cluster, None).durability()
}

/// The desired settings from a broker's rendered properties (raw values, not file-escaped):
/// every cluster-level key, and the [`FIXED_KEYS`].
pub fn desired_from_properties(props: &[(String, String)]) -> Desired {
    let mut out = Desired::default();
    for (key, value) in props {
        if is_cluster_level(key) {
            out.cluster.insert(key.clone(), value.clone());
        } else if FIXED_KEYS.contains(&key.as_str()) {
            out.fixed.insert(key.clone(), value.clone());
        }
    }
    out
}

/// A cluster-level value the operator changes to the spec's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Correction {
    pub key: String,
    /// The cluster-level value before (`None`: not set at the cluster level).
    pub old: Option<String>,
    /// The value in force before, as a broker reported it.
    pub was_effective: Option<String>,
    pub new: String,
}

impl Correction {
    /// The message of the `DurabilityCorrected` Event.
    pub fn message(&self) -> String {
        format!(
            "{} at the cluster level: {} -> {} (in force before: {}), applied live",
            self.key,
            self.old.as_deref().unwrap_or("unset"),
            self.new,
            self.was_effective.as_deref().unwrap_or("unknown"),
        )
    }
}

/// A value the operator reports but does not change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    pub key: String,
    /// The value found (`None` for sensitive or unset values).
    pub value: Option<String>,
    /// Where: `cluster` or `broker <id>`.
    pub at: String,
    pub reason: DriftReason,
}

/// Why a [`Drift`] is reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriftReason {
    /// Set at the cluster level but not in the KafkaCluster: it overrides every broker's file.
    NotOwned,
    /// A per-broker dynamic value of an owned key differs from the spec (it wins over the
    /// cluster level on that broker).
    BrokerOverride { want: String },
    /// A static key differs from the spec on a running broker (a restart applies it).
    StaticPending { want: String },
    /// A static key also set at the cluster level, where Kafka ignores it.
    IgnoredClusterValue,
}

impl Drift {
    /// One line for a condition message or Event.
    pub fn message(&self) -> String {
        let value = self.value.as_deref().unwrap_or("<hidden>");
        match &self.reason {
            DriftReason::NotOwned => format!(
                "{}={value} is set at the cluster level outside the KafkaCluster and overrides every broker's configuration",
                self.key
            ),
            DriftReason::BrokerOverride { want } => format!(
                "{}={value} is set on {} as a per-broker override; the KafkaCluster says {want}",
                self.key, self.at
            ),
            DriftReason::StaticPending { want } => format!(
                "{}={value} on {}; the KafkaCluster says {want}, which takes effect when the broker restarts",
                self.key, self.at
            ),
            DriftReason::IgnoredClusterValue => format!(
                "{}={value} is set at the cluster level, where Kafka ignores it (a static key)",
                self.key
            ),
        }
    }
}

/// What [`diff`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Cluster-level changes to make, one per key (applied one by one, so a value Kafka refuses
    /// does not hold back the others).
    pub corrections: Vec<Correction>,
    pub drift: Vec<Drift>,
}

impl Diff {
    /// The IncrementalAlterConfigs operation of each correction, on the entity-default resource.
    pub fn ops(&self) -> Vec<AlterConfigOp> {
        self.corrections
            .iter()
            .map(|c| AlterConfigOp::Set(c.key.clone(), c.new.clone()))
            .collect()
    }
}

/// Compares `desired` with what Kafka reports: `cluster_default` is the DescribeConfigs answer
/// for the entity-default broker resource (only keys set there), `broker` that of one broker
/// `broker_id` with synonyms (at least the keys of `desired`).
pub fn diff(
    desired: &Desired,
    cluster_default: &[ConfigEntry],
    broker_id: i32,
    broker: &[ConfigEntry],
) -> Diff {
    let at_cluster = |key: &str| {
        cluster_default
            .iter()
            .find(|e| e.name == key && e.source == CLUSTER_SOURCE)
    };
    let on_broker = |key: &str| broker.iter().find(|e| e.name == key);
    let broker_at = format!("broker {broker_id}");
    let mut out = Diff::default();
    for (key, want) in &desired.cluster {
        let current = at_cluster(key).and_then(|e| e.value.clone());
        if current.as_deref() != Some(want.as_str()) {
            out.corrections.push(Correction {
                key: key.clone(),
                old: current,
                was_effective: on_broker(key).and_then(|e| e.value.clone()),
                new: want.clone(),
            });
        }
        if let Some(value) = on_broker(key).and_then(|e| e.value_at(BROKER_SOURCE))
            && value != want
        {
            out.drift.push(Drift {
                key: key.clone(),
                value: Some(value.to_string()),
                at: broker_at.clone(),
                reason: DriftReason::BrokerOverride { want: want.clone() },
            });
        }
    }
    for (key, want) in &desired.fixed {
        let Some(entry) = on_broker(key) else { continue };
        if entry.value.as_deref() != Some(want.as_str()) {
            out.drift.push(Drift {
                key: key.clone(),
                value: entry.value.clone(),
                at: broker_at.clone(),
                reason: DriftReason::StaticPending { want: want.clone() },
            });
        }
    }
    for entry in cluster_default.iter().filter(|e| e.source == CLUSTER_SOURCE) {
        let reason = if desired.cluster.contains_key(&entry.name) {
            continue;
        } else if is_cluster_level(&entry.name) {
            DriftReason::NotOwned
        } else {
            DriftReason::IgnoredClusterValue
        };
        out.drift.push(Drift {
            key: entry.name.clone(),
            value: entry.value.clone(),
            at: "cluster".into(),
            reason,
        });
    }
    out
}

/// The effective durability settings, for `status.durability`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effective {
    /// `default.replication.factor` a broker reports.
    pub replication_factor: Option<i32>,
    /// `min.insync.replicas` in force (the cluster level when set).
    pub min_insync_replicas: Option<i32>,
}

impl Effective {
    /// From a broker's DescribeConfigs answer.
    pub fn from_broker(broker: &[ConfigEntry]) -> Self {
        let int = |key: &str| {
            broker
                .iter()
                .find(|e| e.name == key)
                .and_then(|e| e.value.as_deref())
                .and_then(|v| v.parse().ok())
        };
        Self {
            replication_factor: int(DEFAULT_REPLICATION_FACTOR),
            min_insync_replicas: int(MIN_INSYNC_REPLICAS),
        }
    }

    /// As `status.durability`.
    pub fn status(&self) -> crate::crd::DurabilityStatus {
        crate::crd::DurabilityStatus {
            replication_factor: self.replication_factor,
            min_in_sync_replicas: self.min_insync_replicas,
            drift: None,
        }
    }
}

/// A broker-level value Kafka would refuse, as `(field, reason)` for validation: a pool's
/// `config` (`spec.brokers.config` / `spec.controllers.config`, given as `pool_field`) setting
/// `min.insync.replicas` while Eligible Leader Replicas are on. There is one value for the
/// whole cluster then, and it belongs in `spec.config`.
pub fn pool_refusal(
    pool_field: &str,
    config: &BTreeMap<String, serde_json::Value>,
    elr: bool,
) -> Option<(String, String)> {
    (elr && config.contains_key(MIN_INSYNC_REPLICAS)).then(|| {
        (
            format!("{pool_field}[{MIN_INSYNC_REPLICAS:?}]"),
            format!(
                "{MIN_INSYNC_REPLICAS} is a cluster-level setting while Eligible Leader Replicas are on \
                 (Kafka 4.1 and later): Kafka refuses broker-level values; set it in spec.config"
            ),
        )
    })
}
