//! Which broker configuration keys Kafka can change at runtime, and how a change between two
//! renderings of a node's `server.properties` is classified.
//!
//! The table lists the keys whose "Update Mode" is `per-broker` or `cluster-wide` in the Kafka
//! 4.x broker configuration reference (only those a broker accepts as a per-broker dynamic
//! value through IncrementalAlterConfigs). Everything else is `read-only`: a change needs a
//! restart. Keys that Kafka marks dynamic but that need coordinated handling (listeners, SSL
//! keystores, SASL/JAAS, `advertised.listeners`) are deliberately left out: the operator renders
//! them itself and changes them with a restart. Controllers are always restarted.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodSpec;
use sha2::{Digest, Sha256};

/// Broker keys applied live with IncrementalAlterConfigs (resource BROKER `<id>`).
pub const DYNAMIC_BROKER_KEYS: &[&str] = &[
    // threads and connection limits (DynamicThreadPool, DynamicConnectionQuota)
    "background.threads",
    "num.io.threads",
    "num.network.threads",
    "num.recovery.threads.per.data.dir",
    "num.replica.fetchers",
    "max.connections",
    "max.connections.per.ip",
    "max.connections.per.ip.overrides",
    "max.connection.creation.rate",
    // log defaults (DynamicLogConfig: the broker synonyms of topic configs)
    "compression.type",
    "log.cleanup.policy",
    "log.cleaner.delete.retention.ms",
    "log.cleaner.min.compaction.lag.ms",
    "log.cleaner.max.compaction.lag.ms",
    "log.cleaner.min.cleanable.ratio",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.index.interval.bytes",
    "log.index.size.max.bytes",
    "log.message.timestamp.type",
    "log.message.timestamp.before.max.ms",
    "log.message.timestamp.after.max.ms",
    "log.preallocate",
    "log.retention.bytes",
    "log.retention.ms",
    "log.roll.jitter.ms",
    "log.roll.ms",
    "log.segment.bytes",
    "log.segment.delete.delay.ms",
    "message.max.bytes",
    "min.insync.replicas",
    "unclean.leader.election.enable",
    // log cleaner (LogCleaner reconfigurable configs)
    "log.cleaner.threads",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.size",
    "log.cleaner.io.buffer.load.factor",
    "log.cleaner.backoff.ms",
    // replication throttles
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
    "replica.alter.log.dirs.io.max.bytes.per.second",
    // producer state
    "producer.id.expiration.ms",
];

/// True when Kafka applies a change of `key` on a running broker.
pub fn is_dynamic(key: &str) -> bool {
    DYNAMIC_BROKER_KEYS.contains(&key)
}

/// Parses `server.properties` text (as rendered: `key=value` lines, `#` comments) into a map.
/// Values keep the renderer's escaping, so equal text means equal value.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .collect()
}

/// The dynamic keys of a rendering and their values.
pub fn dynamic_part(properties: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    properties
        .iter()
        .filter(|(k, _)| is_dynamic(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A digest of everything about a node that only a restart can change: the properties except
/// the dynamic keys, and the pod spec except scheduling (which moves a pod, not its process).
pub fn static_hash(properties: &BTreeMap<String, String>, spec: Option<&PodSpec>) -> String {
    let mut h = Sha256::new();
    for (k, v) in properties.iter().filter(|(k, _)| !is_dynamic(k)) {
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(v.as_bytes());
        h.update(b"\n");
    }
    if let Some(spec) = spec {
        let mut spec = spec.clone();
        spec.affinity = None;
        spec.node_selector = None;
        spec.tolerations = None;
        spec.topology_spread_constraints = None;
        spec.node_name = None;
        h.update(serde_json::to_vec(&spec).unwrap_or_default());
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// How a node gets from what it runs to what is desired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigChange {
    /// Nothing to do.
    None,
    /// Only dynamic keys were added or changed: apply these live.
    Live(BTreeMap<String, String>),
    /// A restart is needed, for this reason.
    Restart(String),
}

/// What a running node is known to run: recorded on its pod when it was created or last
/// reconfigured (`None` when not recorded yet, which forces a restart on any change).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Running {
    pub static_hash: Option<String>,
    pub dynamic: Option<BTreeMap<String, String>>,
}

/// Classifies the change of a **broker** from `running` to the desired static hash and dynamic
/// keys. A removed dynamic key needs a restart: the running process would fall back to the value
/// of the file it started with, not to Kafka's default.
pub fn classify(
    running: &Running,
    desired_static: &str,
    desired_dynamic: &BTreeMap<String, String>,
) -> ConfigChange {
    let (Some(static_hash), Some(dynamic)) = (&running.static_hash, &running.dynamic) else {
        return ConfigChange::Restart("configuration changed (running configuration not recorded)".into());
    };
    if static_hash != desired_static {
        return ConfigChange::Restart("configuration changed (needs a restart)".into());
    }
    let removed: Vec<&str> = dynamic
        .keys()
        .filter(|k| !desired_dynamic.contains_key(*k))
        .map(String::as_str)
        .collect();
    if !removed.is_empty() {
        return ConfigChange::Restart(format!(
            "dynamic keys removed ({}): only a restart restores their defaults",
            removed.join(", ")
        ));
    }
    let changed: BTreeMap<String, String> = desired_dynamic
        .iter()
        .filter(|(k, v)| dynamic.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if changed.is_empty() {
        ConfigChange::None
    } else {
        ConfigChange::Live(changed)
    }
}

/// Undoes the renderer's Java properties escaping (for sending a value to Kafka).
pub fn unescape(value: &str) -> String {
    crate::desired::java_properties::unescape(value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(text: &str) -> BTreeMap<String, String> {
        parse(text)
    }

    fn running(text: &str) -> Running {
        let p = props(text);
        Running {
            static_hash: Some(static_hash(&p, None)),
            dynamic: Some(dynamic_part(&p)),
        }
    }

    fn classify_text(old: &str, new: &str) -> ConfigChange {
        let p = props(new);
        classify(&running(old), &static_hash(&p, None), &dynamic_part(&p))
    }

    #[test]
    fn table_has_no_duplicates_and_no_restart_only_keys() {
        let mut keys = DYNAMIC_BROKER_KEYS.to_vec();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), DYNAMIC_BROKER_KEYS.len());
        for k in ["node.id", "process.roles", "listeners", "log.dirs", "broker.rack"] {
            assert!(!is_dynamic(k), "{k}");
        }
    }

    #[test]
    fn parse_skips_comments_and_keeps_values() {
        let p = props("# header\nnode.id=1\n\nlog.retention.ms=1000\nx=a=b\n");
        assert_eq!(p.len(), 3);
        assert_eq!(p["x"], "a=b");
    }

    #[test]
    fn only_dynamic_change_is_live() {
        let c = classify_text(
            "node.id=1\nlog.retention.ms=1000\n",
            "node.id=1\nlog.retention.ms=2000\n",
        );
        assert_eq!(
            c,
            ConfigChange::Live(BTreeMap::from([("log.retention.ms".into(), "2000".into())]))
        );
    }

    #[test]
    fn added_dynamic_key_is_live() {
        let c = classify_text("node.id=1\n", "node.id=1\nmessage.max.bytes=2000000\n");
        assert!(matches!(c, ConfigChange::Live(m) if m.len() == 1));
    }

    #[test]
    fn static_change_restarts() {
        let c = classify_text(
            "node.id=1\nlog.retention.ms=1000\nqueued.max.requests=500\n",
            "node.id=1\nlog.retention.ms=2000\nqueued.max.requests=600\n",
        );
        assert!(matches!(c, ConfigChange::Restart(_)));
    }

    #[test]
    fn removed_dynamic_key_restarts() {
        let c = classify_text("node.id=1\nlog.retention.ms=1000\n", "node.id=1\n");
        assert!(matches!(c, ConfigChange::Restart(r) if r.contains("log.retention.ms")));
    }

    #[test]
    fn unrecorded_running_config_restarts() {
        let p = props("node.id=1\n");
        let c = classify(&Running::default(), &static_hash(&p, None), &dynamic_part(&p));
        assert!(matches!(c, ConfigChange::Restart(_)));
    }

    #[test]
    fn same_config_is_no_change() {
        assert_eq!(
            classify_text(
                "node.id=1\nlog.retention.ms=1\n",
                "node.id=1\nlog.retention.ms=1\n"
            ),
            ConfigChange::None
        );
    }

    #[test]
    fn static_hash_ignores_scheduling_but_not_image() {
        let p = props("node.id=1\n");
        let mut a = PodSpec::default();
        let mut b = PodSpec {
            node_selector: Some(BTreeMap::from([("zone".into(), "a".into())])),
            ..Default::default()
        };
        assert_eq!(static_hash(&p, Some(&a)), static_hash(&p, Some(&b)));
        a.containers = vec![k8s_openapi::api::core::v1::Container {
            image: Some("apache/kafka:4.3.1".into()),
            ..Default::default()
        }];
        b.containers = vec![k8s_openapi::api::core::v1::Container {
            image: Some("apache/kafka:4.3.0".into()),
            ..Default::default()
        }];
        assert_ne!(static_hash(&p, Some(&a)), static_hash(&p, Some(&b)));
    }

    #[test]
    fn unescape_reverses_renderer_escaping() {
        assert_eq!(unescape("a\\\\b"), "a\\b");
        assert_eq!(unescape("\\ lead"), " lead");
    }
}
