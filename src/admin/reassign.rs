//! ListPartitionReassignments and AlterPartitionReassignments.

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, ListPartitionReassignmentsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use super::client::{AdminClient, Target};
use super::conn::Connector;
use super::error::{AdminError, check};

/// A reassignment in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OngoingReassignment {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    pub removing_replicas: Vec<i32>,
}

/// A requested change: move `topic`-`partition` to `replicas`, or cancel an ongoing
/// reassignment with `replicas = None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassignment {
    pub topic: String,
    pub partition: i32,
    pub replicas: Option<Vec<i32>>,
}

impl<C: Connector> AdminClient<C> {
    /// Ongoing reassignments; `topics = None` lists all of them.
    pub async fn list_partition_reassignments(
        &self,
        topics: Option<&[(&str, &[i32])]>,
    ) -> Result<Vec<OngoingReassignment>, AdminError> {
        let timeout_ms = self.server_timeout_ms();
        let (resp, _) = self
            .send(Target::Any, None, |_| {
                ListPartitionReassignmentsRequest::default()
                    .with_timeout_ms(timeout_ms)
                    .with_topics(topics.map(|ts| {
                        ts.iter()
                            .map(|(t, ps)| {
                                ListPartitionReassignmentsTopics::default()
                                    .with_name(TopicName(StrBytes::from_string((*t).to_string())))
                                    .with_partition_indexes(ps.to_vec())
                            })
                            .collect()
                    }))
            })
            .await?;
        check(
            "ListPartitionReassignments",
            "cluster",
            resp.error_code,
            resp.error_message.map(|m| m.to_string()),
        )?;
        let mut out: Vec<OngoingReassignment> = resp
            .topics
            .into_iter()
            .flat_map(|t| {
                let name = t.name.0.to_string();
                t.partitions.into_iter().map(move |p| OngoingReassignment {
                    topic: name.clone(),
                    partition: p.partition_index,
                    replicas: p.replicas.iter().map(|b| b.0).collect(),
                    adding_replicas: p.adding_replicas.iter().map(|b| b.0).collect(),
                    removing_replicas: p.removing_replicas.iter().map(|b| b.0).collect(),
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }

    /// Starts (or cancels) reassignments. Fails with the first partition-level error;
    /// the other partitions of the same request may have been accepted.
    pub async fn alter_partition_reassignments(&self, changes: &[Reassignment]) -> Result<(), AdminError> {
        self.alter_partition_reassignments_opts(changes, true).await
    }

    /// As [`Self::alter_partition_reassignments`]; with `allow_rf_change` false, Kafka (v1+)
    /// refuses a reassignment that would change a partition's replication factor.
    pub async fn alter_partition_reassignments_opts(
        &self,
        changes: &[Reassignment],
        allow_rf_change: bool,
    ) -> Result<(), AdminError> {
        let timeout_ms = self.server_timeout_ms();
        let mut topics: Vec<ReassignableTopic> = Vec::new();
        for c in changes {
            let partition = ReassignablePartition::default()
                .with_partition_index(c.partition)
                .with_replicas(
                    c.replicas
                        .as_ref()
                        .map(|r| r.iter().map(|b| BrokerId(*b)).collect()),
                );
            match topics.iter_mut().find(|t| t.name.0.as_str() == c.topic) {
                Some(t) => t.partitions.push(partition),
                None => topics.push(
                    ReassignableTopic::default()
                        .with_name(TopicName(StrBytes::from_string(c.topic.clone())))
                        .with_partitions(vec![partition]),
                ),
            }
        }
        let (resp, _) = self
            .send(Target::Any, None, |v| {
                let r = AlterPartitionReassignmentsRequest::default()
                    .with_timeout_ms(timeout_ms)
                    .with_topics(topics);
                if v >= 1 {
                    r.with_allow_replication_factor_change(allow_rf_change)
                } else {
                    r
                }
            })
            .await?;
        check(
            "AlterPartitionReassignments",
            "cluster",
            resp.error_code,
            resp.error_message.map(|m| m.to_string()),
        )?;
        for t in resp.responses {
            for p in t.partitions {
                let resource = format!("{}-{}", t.name.0.as_str(), p.partition_index);
                check(
                    "AlterPartitionReassignments",
                    &resource,
                    p.error_code,
                    p.error_message.map(|m| m.to_string()),
                )?;
            }
        }
        Ok(())
    }
}
