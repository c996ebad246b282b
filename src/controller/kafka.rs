//! What the operator asks Kafka itself: which surplus brokers still hold replicas (scale-down),
//! the state the roll's safety gates need, and broker unregistration. Kafka that cannot be
//! reached (not started yet, or the operator runs outside the cluster network) is reported as
//! such and every decision falls back to the safe side.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tracing::warn;

use super::scale::BrokerUsage;
use crate::admin::{AdminClient, AdminConfig, AdminError, ClientTls, Connector, Target};
use crate::roll::KafkaView;
use crate::roll::gates::{DEFAULT_FETCH_TIMEOUT_MS, KafkaState, Partition, Quorum, Voter};
use crate::validate::ValidatedCluster;

/// Short timeouts: a reconcile must not hang on an unreachable cluster. `tls`: the cluster
/// CA and the operator's client certificate, for a TLS listener.
pub fn admin_config(tls: Option<ClientTls>) -> AdminConfig {
    AdminConfig {
        client_id: "kraftwerk-operator".into(),
        connect_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(10),
        tls,
        sasl: None,
    }
}

/// How the operator reaches a cluster's Kafka: the bootstrap address of the inter-broker
/// listener, and TLS when that listener has it.
#[derive(Clone, Debug)]
pub struct Access {
    pub bootstrap: String,
    pub tls: Option<ClientTls>,
}

impl Access {
    /// The access of a validated cluster.
    pub fn of(cluster: &ValidatedCluster) -> Self {
        Self {
            bootstrap: cluster.bootstrap(),
            tls: cluster.admin_tls.clone(),
        }
    }

    /// A client (connects lazily).
    pub fn client(&self) -> Result<AdminClient, AdminError> {
        AdminClient::new(&self.bootstrap, admin_config(self.tls.clone()))
    }
}

/// A client for one controller's CONTROLLER listener (TLS under internal TLS).
pub fn controller_client(cluster: &ValidatedCluster, id: i32) -> Result<AdminClient, AdminError> {
    let address = format!(
        "{}:{}",
        cluster.names.node_fqdn(crate::names::Role::Controller, id),
        cluster.controller_port
    );
    let internal = cluster.tls.as_ref().is_some_and(|t| t.internal);
    let tls = internal.then(|| cluster.admin_tls.clone()).flatten();
    AdminClient::new(&address, admin_config(tls))
}

/// Replicas each of `brokers` holds, according to the cluster's metadata (ongoing reassignment
/// targets included, since they are listed among the replicas).
pub async fn broker_usage(access: &Access, brokers: &BTreeSet<i32>) -> BTreeMap<i32, BrokerUsage> {
    let bootstrap = &access.bootstrap;
    let unknown = |why: String| {
        brokers
            .iter()
            .map(|&id| (id, BrokerUsage::Unknown(why.clone())))
            .collect()
    };
    let client = match access.client() {
        Ok(c) => c,
        Err(e) => return unknown(format!("bad bootstrap address {bootstrap}: {e}")),
    };
    let metadata = match client.metadata(None).await {
        Ok(m) => m,
        Err(e) => return unknown(format!("Kafka at {bootstrap} did not answer: {e}")),
    };
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

/// Removes the registration of brokers that were shut down for good. Best effort: a broker that
/// is not registered any more is fine, and a failure is logged and retried on a later scale-down.
pub async fn unregister(access: &Access, brokers: &BTreeSet<i32>) {
    let Ok(client) = access.client() else {
        return;
    };
    for &id in brokers {
        if let Err(e) = client.unregister_broker(id).await {
            warn!(broker = id, error = %e, "could not unregister removed broker");
        }
    }
}

/// Kafka as the roll's gates see it, and the client that asked (for the actions that follow).
pub async fn roll_view(access: &Access) -> (KafkaView, Option<AdminClient>) {
    let bootstrap = &access.bootstrap;
    match access.client() {
        Err(e) => (
            KafkaView::Unreachable(format!("bad bootstrap address {bootstrap}: {e}")),
            None,
        ),
        Ok(client) => match kafka_state(&client).await {
            Ok(s) => (KafkaView::Known(s), Some(client)),
            Err(e) => (
                KafkaView::Unreachable(format!("Kafka at {bootstrap}: {}", e.kind())),
                Some(client),
            ),
        },
    }
}

/// Snapshot of the Kafka state the gates need, through one admin client.
pub async fn kafka_state<C: Connector>(admin: &AdminClient<C>) -> Result<KafkaState, AdminError> {
    let cluster = admin.describe_cluster().await?;
    let quorum = admin.describe_quorum().await?;
    let metadata = admin.metadata(None).await?;
    let names: Vec<String> = metadata.topics.iter().map(|t| t.name.clone()).collect();
    let min_isrs = admin.topics_min_insync_replicas(&names).await?;
    // Each topic's answer is its effective value (own, else cluster-level, else static). A topic
    // missing from the answer (deleted meanwhile, or refused) gets the cluster's effective value,
    // never a weaker 1.
    let cluster_min_isr = match cluster.brokers.iter().find(|b| !b.fenced) {
        Some(b) => admin.broker_min_insync_replicas(b.id).await?.unwrap_or(1),
        None => 1,
    };
    let mut partitions = Vec::new();
    for topic in &metadata.topics {
        let min_isr = min_isrs
            .get(&topic.name)
            .copied()
            .unwrap_or(cluster_min_isr)
            .max(1) as usize;
        for p in &topic.partitions {
            partitions.push(Partition {
                topic: topic.name.clone(),
                partition: p.partition,
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                min_isr,
            });
        }
    }
    let live: Vec<i32> = cluster
        .brokers
        .iter()
        .filter(|b| !b.fenced)
        .map(|b| b.id)
        .collect();
    let silent = unresponsive(admin, &live).await;
    let state = KafkaState {
        brokers: cluster.brokers.iter().map(|b| (b.id, b.fenced)).collect(),
        quorum: Some(Quorum {
            leader: quorum.leader_id,
            voters: quorum
                .voters
                .iter()
                .map(|v| Voter {
                    id: v.id,
                    last_caught_up_ms: v.last_caught_up_timestamp.filter(|t| *t >= 0),
                })
                .collect(),
        }),
        partitions,
        fetch_timeout_ms: DEFAULT_FETCH_TIMEOUT_MS,
    };
    Ok(state.without_unresponsive(&silent))
}

/// The brokers among `ids` that do not answer a request of their own within the request
/// timeout (a frozen process, a hung disk). Kafka itself notices only later (fencing after
/// `broker.session.timeout.ms`, ISR shrink after `replica.lag.time.max.ms`), and until then
/// the gates would count them in the ISRs.
async fn unresponsive<C: Connector>(admin: &AdminClient<C>, ids: &[i32]) -> BTreeSet<i32> {
    use kafka_protocol::messages::MetadataRequest;
    let probes = ids.iter().map(|&id| async move {
        let probe = admin
            .send::<MetadataRequest, _>(Target::Node(id), None, |_| {
                MetadataRequest::default()
                    .with_topics(Some(Vec::new()))
                    .with_allow_auto_topic_creation(false)
            })
            .await;
        probe.err().map(|e| {
            warn!(broker = id, error = %e, "broker does not answer; the roll counts it out of every ISR");
            id
        })
    });
    futures::future::join_all(probes)
        .await
        .into_iter()
        .flatten()
        .collect()
}
