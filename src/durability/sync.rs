//! The Kafka-facing half of [`crate::durability`]: read the effective values, correct the
//! cluster-level values the operator owns (live, IncrementalAlterConfigs on the entity-default
//! broker resource, no restart), read them back, and report what else differs.

use std::time::Duration;

use crate::admin::{AdminClient, AdminError, AlterConfigOp, ConfigEntry, ConfigResource, Connector};

use super::{Correction, Desired, Drift, Effective, diff};

/// How often, and how far apart, the broker is read back after a correction (at most ~2 s).
const READ_BACK_ATTEMPTS: usize = 10;
const READ_BACK_PAUSE: Duration = Duration::from_millis(200);

/// Event reasons of a durability pass.
pub const CORRECTED_REASON: &str = "DurabilityCorrected";
pub const REFUSED_REASON: &str = "DurabilityRefused";
pub const DRIFT_REASON: &str = "DurabilityDrift";

/// A correction Kafka refused (e.g. a value it does not accept at the cluster level).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub key: String,
    pub value: String,
    pub error: String,
}

/// What one durability pass did and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Eligible Leader Replicas are on (finalized `eligible.leader.replicas.version` ≥ 1).
    pub elr: bool,
    /// Finalized `metadata.version` level.
    pub metadata_version: Option<i16>,
    /// The broker whose effective values were read.
    pub broker: i32,
    /// Cluster-level values changed to the spec's (one `DurabilityCorrected` Event each).
    pub corrected: Vec<Correction>,
    /// Corrections Kafka refused.
    pub refused: Vec<Refusal>,
    /// What differs and is reported, not changed.
    pub drift: Vec<Drift>,
    /// The effective settings after the corrections, read back from Kafka.
    pub effective: Effective,
    /// `min.insync.replicas` before the corrections (for logs and the closing note).
    pub min_insync_replicas_before: Option<i32>,
}

impl Outcome {
    /// One line per reported drift, joined, for a Warning Event or a condition message; `None`
    /// when nothing differs.
    pub fn drift_message(&self) -> Option<String> {
        (!self.drift.is_empty()).then(|| {
            self.drift
                .iter()
                .map(Drift::message)
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// The refused corrections, for a Warning Event; `None` when Kafka accepted every one.
    pub fn refused_message(&self) -> Option<String> {
        (!self.refused.is_empty()).then(|| {
            self.refused
                .iter()
                .map(|r| format!("{}={} at the cluster level: {}", r.key, r.value, r.error))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// Reads the durability settings Kafka runs with and corrects the cluster-level ones that
/// differ from `desired`. Errors only when Kafka cannot be read; a refused correction is in
/// [`Outcome::refused`].
pub async fn reconcile<C: Connector>(
    admin: &AdminClient<C>,
    desired: &Desired,
) -> Result<Outcome, AdminError> {
    let features = admin.finalized_features().await?;
    let broker = admin
        .describe_cluster()
        .await?
        .brokers
        .iter()
        .find(|b| !b.fenced)
        .map(|b| b.id)
        .ok_or_else(|| AdminError::Protocol {
            addr: String::new(),
            detail: "no unfenced broker to read the effective configuration from".into(),
        })?;
    let keys: Vec<&str> = desired
        .cluster
        .keys()
        .chain(desired.fixed.keys())
        .map(String::as_str)
        .collect();
    let cluster_default = admin
        .describe_configs_with_synonyms(&ConfigResource::ClusterBrokerDefault, None)
        .await?;
    let before = describe_broker(admin, broker, &keys).await?;
    let found = diff(desired, &cluster_default, broker, &before);
    let mut outcome = Outcome {
        elr: features.elr_enabled(),
        metadata_version: features.metadata_version(),
        broker,
        drift: found.drift,
        min_insync_replicas_before: Effective::from_broker(&before).min_insync_replicas,
        ..Outcome::default()
    };
    // One request per key: a value Kafka refuses does not hold back the others.
    for correction in found.corrections {
        let set = AlterConfigOp::Set(correction.key.clone(), correction.new.clone());
        match admin
            .incremental_alter_configs(&ConfigResource::ClusterBrokerDefault, &[set])
            .await
        {
            Ok(()) => outcome.corrected.push(correction),
            Err(e @ AdminError::Kafka { .. }) => outcome.refused.push(Refusal {
                key: correction.key.clone(),
                value: correction.new.clone(),
                error: e.to_string(),
            }),
            Err(e) => return Err(e),
        }
    }
    outcome.effective = if outcome.corrected.is_empty() {
        Effective::from_broker(&before)
    } else {
        read_back(admin, broker, &keys, &outcome.corrected).await?
    };
    Ok(outcome)
}

/// The broker's effective values once it applied the corrections: a cluster-level change reaches
/// the brokers through the metadata log, usually within milliseconds.
async fn read_back<C: Connector>(
    admin: &AdminClient<C>,
    broker: i32,
    keys: &[&str],
    corrected: &[Correction],
) -> Result<Effective, AdminError> {
    let mut entries = Vec::new();
    for _ in 0..READ_BACK_ATTEMPTS {
        entries = describe_broker(admin, broker, keys).await?;
        let applied = corrected.iter().all(|c| {
            entries
                .iter()
                .any(|e| e.name == c.key && e.value.as_deref() == Some(c.new.as_str()))
        });
        if applied {
            break;
        }
        tokio::time::sleep(READ_BACK_PAUSE).await;
    }
    Ok(Effective::from_broker(&entries))
}

async fn describe_broker<C: Connector>(
    admin: &AdminClient<C>,
    broker: i32,
    keys: &[&str],
) -> Result<Vec<ConfigEntry>, AdminError> {
    admin
        .describe_configs_with_synonyms(&ConfigResource::Broker(broker), Some(keys))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durability::DriftReason;

    #[test]
    fn messages_join_what_was_reported() {
        let mut o = Outcome::default();
        assert_eq!((o.drift_message(), o.refused_message()), (None, None));
        o.drift = vec![
            Drift {
                key: "log.retention.ms".into(),
                value: Some("1000".into()),
                at: "cluster".into(),
                reason: DriftReason::NotOwned,
            },
            Drift {
                key: "default.replication.factor".into(),
                value: Some("1".into()),
                at: "broker 0".into(),
                reason: DriftReason::StaticPending { want: "3".into() },
            },
        ];
        o.refused = vec![Refusal {
            key: "message.max.bytes".into(),
            value: "-1".into(),
            error: "InvalidConfig".into(),
        }];
        assert_eq!(
            o.drift_message().unwrap(),
            "log.retention.ms=1000 is set at the cluster level outside the KafkaCluster and overrides every \
             broker's configuration; default.replication.factor=1 on broker 0; the KafkaCluster says 3, which \
             takes effect when the broker restarts"
        );
        assert_eq!(
            o.refused_message().unwrap(),
            "message.max.bytes=-1 at the cluster level: InvalidConfig"
        );
    }
}
