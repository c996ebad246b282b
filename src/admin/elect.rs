//! ElectLeaders: move leadership back to each partition's preferred (first) replica.

use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{ElectLeadersRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::client::{AdminClient, Target};
use super::conn::Connector;
use super::error::{AdminError, check};

/// ELECTION_NOT_NEEDED: the preferred replica already leads.
const ELECTION_NOT_NEEDED: i16 = 84;
/// PREFERRED_LEADER_NOT_AVAILABLE: the preferred replica is not in the ISR (yet).
const PREFERRED_LEADER_NOT_AVAILABLE: i16 = 80;

/// What a preferred-leader election did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElectionOutcome {
    /// Partitions whose leadership moved to the preferred replica.
    pub elected: usize,
    /// Partitions whose preferred replica could not lead yet (not in the ISR), `topic-partition`.
    pub not_available: Vec<String>,
}

impl<C: Connector> AdminClient<C> {
    /// A preferred-leader election for `partitions`, or for every partition when `None`.
    /// Partitions already led by their preferred replica are not counted; a preferred replica
    /// that cannot lead yet is reported, not an error.
    pub async fn elect_preferred_leaders(
        &self,
        partitions: Option<&[(String, Vec<i32>)]>,
    ) -> Result<ElectionOutcome, AdminError> {
        let timeout_ms = self.server_timeout_ms();
        let (resp, _) = self
            .send(Target::Any, None, |_| {
                ElectLeadersRequest::default()
                    .with_election_type(0)
                    .with_timeout_ms(timeout_ms)
                    .with_topic_partitions(partitions.map(|ps| {
                        ps.iter()
                            .map(|(t, p)| {
                                TopicPartitions::default()
                                    .with_topic(TopicName(StrBytes::from_string(t.clone())))
                                    .with_partitions(p.clone())
                            })
                            .collect()
                    }))
            })
            .await?;
        check("ElectLeaders", "cluster", resp.error_code, None)?;
        let mut out = ElectionOutcome::default();
        for t in resp.replica_election_results {
            for p in t.partition_result {
                let resource = format!("{}-{}", t.topic.0.as_str(), p.partition_id);
                match p.error_code {
                    0 => out.elected += 1,
                    ELECTION_NOT_NEEDED => {}
                    PREFERRED_LEADER_NOT_AVAILABLE => out.not_available.push(resource),
                    code => check(
                        "ElectLeaders",
                        &resource,
                        code,
                        p.error_message.map(|m| m.to_string()),
                    )?,
                }
            }
        }
        out.not_available.sort();
        Ok(out)
    }
}
