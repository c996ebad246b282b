//! Cluster-level operations: DescribeCluster (brokers incl. fenced state), DescribeQuorum,
//! AddRaftVoter/RemoveRaftVoter (KIP-853), UnregisterBroker.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kafka_protocol::messages::add_raft_voter_request::Listener;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{
    AddRaftVoterRequest, BrokerId, DescribeClusterRequest, DescribeClusterResponse, DescribeQuorumRequest,
    RemoveRaftVoterRequest, TopicName, UnregisterBrokerRequest,
};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use super::client::{AdminClient, HostPort, Target};
use super::conn::Connector;
use super::error::{AdminError, check};

/// The KRaft metadata log: the partition DescribeQuorum describes.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// A registered broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    /// Fenced by the controller (not heartbeating, shutting down, or not caught up).
    /// Only DescribeCluster v2+ reports fenced brokers; older versions list only unfenced ones.
    pub fenced: bool,
}

/// Result of DescribeCluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterDescription {
    pub cluster_id: String,
    /// In KRaft mode brokers report a random live broker here, not the active controller;
    /// use [`AdminClient::describe_quorum`] for the quorum leader.
    pub controller_id: i32,
    pub brokers: Vec<BrokerInfo>,
    /// Whether fenced brokers are included (DescribeCluster v2+).
    pub includes_fenced: bool,
}

/// One replica of the metadata log as seen by the quorum leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuorumReplica {
    pub id: i32,
    /// Kafka's form (URL-safe base64, as in `meta.properties`); None before KIP-853.
    pub directory_id: Option<String>,
    pub log_end_offset: i64,
    /// Leader's log end offset minus this replica's (0 for the leader itself).
    pub lag: Option<i64>,
    /// Milliseconds since the epoch; `None` when unknown (-1).
    pub last_fetch_timestamp: Option<i64>,
    pub last_caught_up_timestamp: Option<i64>,
}

/// Result of DescribeQuorum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuorumInfo {
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<QuorumReplica>,
    /// Brokers (and non-voter controllers) replicating the metadata log.
    pub observers: Vec<QuorumReplica>,
}

impl QuorumInfo {
    /// The largest lag among the voters (None if a voter's offset is unknown).
    pub fn max_voter_lag(&self) -> Option<i64> {
        self.voters
            .iter()
            .map(|v| v.lag)
            .try_fold(0, |acc, lag| lag.map(|l| acc.max(l)))
    }
}

/// DescribeCluster for brokers, fenced ones included where the version allows.
pub(crate) fn describe_cluster_request(version: i16) -> DescribeClusterRequest {
    let mut r = DescribeClusterRequest::default();
    if version >= 1 {
        r = r.with_endpoint_type(1);
    }
    if version >= 2 {
        r = r.with_include_fenced_brokers(true);
    }
    r
}

/// A directory id in Kafka's text form (URL-safe base64 of the 16 bytes).
pub fn directory_id_text(id: &uuid::Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// Parses Kafka's text form of a directory id.
pub fn parse_directory_id(text: &str) -> Result<uuid::Uuid, AdminError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|b| uuid::Uuid::from_slice(&b).ok())
        .ok_or_else(|| AdminError::Protocol {
            addr: String::new(),
            detail: format!("{text:?} is not a Kafka directory id"),
        })
}

/// The controller endpoint a new voter is reached at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoterEndpoint {
    /// The controller listener's name (`CONTROLLER`).
    pub listener: String,
    pub host: String,
    pub port: u16,
}

fn opt_ts(ts: i64) -> Option<i64> {
    (ts >= 0).then_some(ts)
}

impl<C: Connector> AdminClient<C> {
    /// Cluster id and brokers, fenced ones included when the broker supports
    /// DescribeCluster v2 (Kafka 4.0+).
    pub async fn describe_cluster(&self) -> Result<ClusterDescription, AdminError> {
        let (resp, version) = self.send(Target::Any, None, describe_cluster_request).await?;
        self.absorb_describe_cluster(resp, version)
    }

    /// Converts a DescribeCluster response and records the broker addresses.
    pub(crate) fn absorb_describe_cluster(
        &self,
        resp: DescribeClusterResponse,
        version: i16,
    ) -> Result<ClusterDescription, AdminError> {
        check(
            "DescribeCluster",
            "cluster",
            resp.error_code,
            resp.error_message.map(|m| m.to_string()),
        )?;
        let mut brokers: Vec<BrokerInfo> = resp
            .brokers
            .into_iter()
            .map(|b| BrokerInfo {
                id: b.broker_id.0,
                host: b.host.to_string(),
                port: b.port,
                rack: b.rack.map(|r| r.to_string()),
                fenced: b.is_fenced,
            })
            .collect();
        self.learn_nodes(
            brokers
                .iter()
                .filter_map(|b| Some((b.id, HostPort::new(b.host.clone(), u16::try_from(b.port).ok()?)))),
        );
        brokers.sort_by_key(|b| b.id);
        Ok(ClusterDescription {
            cluster_id: resp.cluster_id.to_string(),
            controller_id: resp.controller_id.0,
            brokers,
            includes_fenced: version >= 2,
        })
    }

    /// The KRaft quorum of the metadata log: leader, voters and observers with their lag.
    /// Sent to any broker, which forwards it to the active controller.
    pub async fn describe_quorum(&self) -> Result<QuorumInfo, AdminError> {
        self.describe_quorum_at(Target::Any).await
    }

    /// DescribeQuorum sent to a specific node (a broker forwards it; used in tests).
    pub async fn describe_quorum_at(&self, target: Target) -> Result<QuorumInfo, AdminError> {
        let (resp, _) = self
            .send(target, None, |_| {
                DescribeQuorumRequest::default().with_topics(vec![
                    TopicData::default()
                        .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
                        .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
                ])
            })
            .await?;
        check(
            "DescribeQuorum",
            METADATA_TOPIC,
            resp.error_code,
            resp.error_message.map(|m| m.to_string()),
        )?;
        let partition = resp
            .topics
            .into_iter()
            .find(|t| t.topic_name.0.as_str() == METADATA_TOPIC)
            .and_then(|t| t.partitions.into_iter().find(|p| p.partition_index == 0))
            .ok_or_else(|| AdminError::Protocol {
                addr: String::new(),
                detail: "DescribeQuorum response lacks __cluster_metadata-0".into(),
            })?;
        check(
            "DescribeQuorum",
            METADATA_TOPIC,
            partition.error_code,
            partition.error_message.map(|m| m.to_string()),
        )?;
        let leader_id = partition.leader_id.0;
        let leader_leo = partition
            .current_voters
            .iter()
            .find(|v| v.replica_id.0 == leader_id)
            .map(|v| v.log_end_offset)
            .filter(|o| *o >= 0);
        let convert = |r: kafka_protocol::messages::describe_quorum_response::ReplicaState| QuorumReplica {
            id: r.replica_id.0,
            directory_id: (!r.replica_directory_id.is_nil())
                .then(|| directory_id_text(&r.replica_directory_id)),
            log_end_offset: r.log_end_offset,
            lag: match (leader_leo, r.log_end_offset) {
                (Some(l), o) if o >= 0 => Some((l - o).max(0)),
                _ => None,
            },
            last_fetch_timestamp: opt_ts(r.last_fetch_timestamp),
            last_caught_up_timestamp: opt_ts(r.last_caught_up_timestamp),
        };
        Ok(QuorumInfo {
            leader_id,
            leader_epoch: partition.leader_epoch,
            high_watermark: partition.high_watermark,
            voters: partition.current_voters.into_iter().map(convert).collect(),
            observers: partition.observers.into_iter().map(convert).collect(),
        })
    }

    /// AddRaftVoter: makes the caught-up observer `id` (with `directory_id`) a voter of the
    /// controller quorum of cluster `cluster_id`. Sent to any broker, which forwards it to the
    /// active controller; Kafka refuses it while another voter change is under way or the
    /// observer lags.
    pub async fn add_raft_voter(
        &self,
        cluster_id: &str,
        id: i32,
        directory_id: &str,
        endpoint: &VoterEndpoint,
    ) -> Result<(), AdminError> {
        let dir = parse_directory_id(directory_id)?;
        let timeout_ms = i32::try_from(self.config().request_timeout.as_millis()).unwrap_or(i32::MAX);
        let (resp, _) = self
            .send(Target::Any, None, |_| {
                AddRaftVoterRequest::default()
                    .with_cluster_id(Some(StrBytes::from_string(cluster_id.to_string())))
                    .with_timeout_ms(timeout_ms)
                    .with_voter_id(id)
                    .with_voter_directory_id(dir)
                    .with_listeners(vec![
                        Listener::default()
                            .with_name(StrBytes::from_string(endpoint.listener.clone()))
                            .with_host(StrBytes::from_string(endpoint.host.clone()))
                            .with_port(endpoint.port),
                    ])
            })
            .await?;
        check(
            "AddRaftVoter",
            &id.to_string(),
            resp.error_code,
            resp.error_message.map(|m| m.to_string()),
        )
    }

    /// RemoveRaftVoter: removes voter `id` with `directory_id` from the controller quorum of
    /// cluster `cluster_id`.
    pub async fn remove_raft_voter(
        &self,
        cluster_id: &str,
        id: i32,
        directory_id: &str,
    ) -> Result<(), AdminError> {
        let dir = parse_directory_id(directory_id)?;
        let (resp, _) = self
            .send(Target::Any, None, |_| {
                RemoveRaftVoterRequest::default()
                    .with_cluster_id(Some(StrBytes::from_string(cluster_id.to_string())))
                    .with_voter_id(id)
                    .with_voter_directory_id(dir)
            })
            .await?;
        check(
            "RemoveRaftVoter",
            &id.to_string(),
            resp.error_code,
            resp.error_message.map(|m| m.to_string()),
        )
    }

    /// Removes a broker's registration (after it has been shut down for good).
    pub async fn unregister_broker(&self, broker_id: i32) -> Result<(), AdminError> {
        let (resp, _) = self
            .send(Target::Any, None, |_| {
                UnregisterBrokerRequest::default().with_broker_id(BrokerId(broker_id))
            })
            .await?;
        if resp.error_code == 102 {
            return Err(AdminError::BrokerNotRegistered(broker_id));
        }
        check(
            "UnregisterBroker",
            &broker_id.to_string(),
            resp.error_code,
            resp.error_message.map(|m| m.to_string()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_ids_round_trip_in_kafkas_form() {
        let text = "4-64H404RGKnTxJ82aRsCw";
        let id = parse_directory_id(text).unwrap();
        assert_eq!(directory_id_text(&id), text);
        assert!(parse_directory_id("not-an-id").is_err());
    }

    #[test]
    fn max_voter_lag() {
        let r = |id, lag| QuorumReplica {
            id,
            directory_id: None,
            log_end_offset: 0,
            lag,
            last_fetch_timestamp: None,
            last_caught_up_timestamp: None,
        };
        let q = QuorumInfo {
            leader_id: 1,
            leader_epoch: 1,
            high_watermark: 0,
            voters: vec![r(1, Some(0)), r(2, Some(5)), r(3, Some(2))],
            observers: vec![],
        };
        assert_eq!(q.max_voter_lag(), Some(5));
        let q = QuorumInfo {
            voters: vec![r(1, Some(0)), r(2, None)],
            ..q
        };
        assert_eq!(q.max_voter_lag(), None);
    }
}
