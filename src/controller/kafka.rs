//! What the operator asks Kafka itself. Only the scale-down decision needs Kafka today: a broker
//! is removed only when Kafka reports no partition replica on it. Kafka that cannot be reached
//! (not started yet, or the operator runs outside the cluster network) is reported as such and
//! the decision falls back to the safe side.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tracing::warn;

use super::scale::BrokerUsage;
use crate::admin::{AdminClient, AdminConfig};

/// Short timeouts: a reconcile must not hang on an unreachable cluster.
fn config() -> AdminConfig {
    AdminConfig {
        client_id: "kraftwerk-operator".into(),
        connect_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(10),
    }
}

/// Replicas each of `brokers` holds, according to the cluster's metadata (ongoing reassignment
/// targets included, since they are listed among the replicas).
pub async fn broker_usage(bootstrap: &str, brokers: &BTreeSet<i32>) -> BTreeMap<i32, BrokerUsage> {
    let unknown = |why: String| {
        brokers
            .iter()
            .map(|&id| (id, BrokerUsage::Unknown(why.clone())))
            .collect()
    };
    let client = match AdminClient::new(bootstrap, config()) {
        Ok(c) => c,
        Err(e) => return unknown(format!("bad bootstrap address {bootstrap}: {e}")),
    };
    match client.metadata(None).await {
        Ok(metadata) => {
            let mut counts: BTreeMap<i32, usize> = brokers.iter().map(|&id| (id, 0)).collect();
            for partition in metadata.topics.iter().flat_map(|t| t.partitions.iter()) {
                for replica in &partition.replicas {
                    if let Some(n) = counts.get_mut(replica) {
                        *n += 1;
                    }
                }
            }
            counts
                .into_iter()
                .map(|(id, n)| {
                    (
                        id,
                        if n == 0 {
                            BrokerUsage::Empty
                        } else {
                            BrokerUsage::Hosts(n)
                        },
                    )
                })
                .collect()
        }
        Err(e) => unknown(format!("Kafka at {bootstrap} did not answer: {e}")),
    }
}

/// Removes the registration of brokers that were shut down for good. Best effort: a broker that
/// is not registered any more is fine, and a failure is logged and retried on a later scale-down.
pub async fn unregister(bootstrap: &str, brokers: &BTreeSet<i32>) {
    let Ok(client) = AdminClient::new(bootstrap, config()) else {
        return;
    };
    for &id in brokers {
        if let Err(e) = client.unregister_broker(id).await {
            warn!(broker = id, error = %e, "could not unregister removed broker");
        }
    }
}
