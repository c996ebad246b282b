//! Topic metadata (leader, replicas, ISR per partition), CreateTopics and DeleteTopics.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{CreateTopicsRequest, DeleteTopicsRequest, MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use super::client::{AdminClient, HostPort, Target};
use super::cluster::BrokerInfo;
use super::conn::Connector;
use super::error::{AdminError, check};

/// One partition as the metadata reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionInfo {
    pub partition: i32,
    /// `None` when the partition has no leader (offline).
    pub leader: Option<i32>,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
    /// Partition-level error (e.g. LeaderNotAvailable), if any.
    pub error: Option<String>,
}

impl PartitionInfo {
    /// Fewer in-sync replicas than assigned replicas.
    pub fn is_under_replicated(&self) -> bool {
        self.isr.len() < self.replicas.len()
    }

    /// No leader: nobody can produce to or consume from it.
    pub fn is_unavailable(&self) -> bool {
        self.leader.is_none()
    }

    /// Fewer in-sync replicas than `min_isr`: acks=all producers get NotEnoughReplicas.
    pub fn is_under_min_isr(&self, min_isr: usize) -> bool {
        self.isr.len() < min_isr
    }
}

/// One topic as the metadata reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicInfo {
    pub name: String,
    pub topic_id: String,
    pub internal: bool,
    pub partitions: Vec<PartitionInfo>,
}

impl TopicInfo {
    pub fn replication_factor(&self) -> usize {
        self.partitions
            .iter()
            .map(|p| p.replicas.len())
            .max()
            .unwrap_or(0)
    }
}

/// Result of a Metadata request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterMetadata {
    pub cluster_id: Option<String>,
    /// A random live broker in KRaft mode (see [`crate::admin::ClusterDescription`]).
    pub controller_id: i32,
    /// Unfenced brokers only (`fenced` is always false here).
    pub brokers: Vec<BrokerInfo>,
    pub topics: Vec<TopicInfo>,
}

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

impl NewTopic {
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> Self {
        Self {
            name: name.into(),
            partitions,
            replication_factor,
            configs: BTreeMap::new(),
        }
    }

    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.insert(key.into(), value.into());
        self
    }
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

impl<C: Connector> AdminClient<C> {
    /// Metadata for the given topics (`None`: every topic). A named topic that does not
    /// exist is [`AdminError::UnknownTopic`].
    pub async fn metadata(&self, topics: Option<&[&str]>) -> Result<ClusterMetadata, AdminError> {
        let (resp, _) = self
            .send(Target::Any, None, |_| {
                MetadataRequest::default()
                    .with_topics(topics.map(|ts| {
                        ts.iter()
                            .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                            .collect()
                    }))
                    .with_allow_auto_topic_creation(false)
            })
            .await?;
        let brokers: Vec<BrokerInfo> = resp
            .brokers
            .iter()
            .map(|b| BrokerInfo {
                id: b.node_id.0,
                host: b.host.to_string(),
                port: b.port,
                rack: b.rack.as_ref().map(|r| r.to_string()),
                fenced: false,
            })
            .collect();
        self.learn_nodes(
            brokers
                .iter()
                .filter_map(|b| Some((b.id, HostPort::new(b.host.clone(), u16::try_from(b.port).ok()?)))),
        );
        let mut out = Vec::with_capacity(resp.topics.len());
        for t in resp.topics {
            let name = t.name.map(|n| n.0.to_string()).unwrap_or_default();
            check("Metadata", &name, t.error_code, None)?;
            let mut partitions: Vec<PartitionInfo> = t
                .partitions
                .into_iter()
                .map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: (p.leader_id.0 >= 0).then_some(p.leader_id.0),
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                    offline_replicas: p.offline_replicas.iter().map(|b| b.0).collect(),
                    error: kafka_protocol::error::ResponseError::try_from_code(p.error_code)
                        .map(|e| e.to_string()),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            out.push(TopicInfo {
                name,
                topic_id: t.topic_id.to_string(),
                internal: t.is_internal,
                partitions,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        let mut brokers = brokers;
        brokers.sort_by_key(|b| b.id);
        Ok(ClusterMetadata {
            cluster_id: resp.cluster_id.map(|c| c.to_string()),
            controller_id: resp.controller_id.0,
            brokers,
            topics: out,
        })
    }

    /// Metadata of one topic.
    pub async fn describe_topic(&self, name: &str) -> Result<TopicInfo, AdminError> {
        self.metadata(Some(&[name]))
            .await?
            .topics
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| AdminError::UnknownTopic(name.to_string()))
    }

    /// Names of all topics, sorted; internal topics only if asked for.
    pub async fn list_topics(&self, include_internal: bool) -> Result<Vec<String>, AdminError> {
        Ok(self
            .metadata(None)
            .await?
            .topics
            .into_iter()
            .filter(|t| include_internal || !t.internal)
            .map(|t| t.name)
            .collect())
    }

    /// Creates a topic (the controller commits it; brokers learn it shortly after).
    pub async fn create_topic(&self, topic: &NewTopic) -> Result<(), AdminError> {
        let timeout_ms = self.server_timeout_ms();
        let (resp, _) = self
            .send(Target::Any, None, |_| {
                CreateTopicsRequest::default()
                    .with_timeout_ms(timeout_ms)
                    .with_topics(vec![
                        CreatableTopic::default()
                            .with_name(topic_name(&topic.name))
                            .with_num_partitions(topic.partitions)
                            .with_replication_factor(topic.replication_factor)
                            .with_configs(
                                topic
                                    .configs
                                    .iter()
                                    .map(|(k, v)| {
                                        CreatableTopicConfig::default()
                                            .with_name(StrBytes::from_string(k.clone()))
                                            .with_value(Some(StrBytes::from_string(v.clone())))
                                    })
                                    .collect(),
                            ),
                    ])
            })
            .await?;
        let result = resp
            .topics
            .into_iter()
            .find(|t| t.name.0.as_str() == topic.name)
            .ok_or_else(|| AdminError::Protocol {
                addr: String::new(),
                detail: format!("CreateTopics lacks {}", topic.name),
            })?;
        check(
            "CreateTopics",
            &topic.name,
            result.error_code,
            result.error_message.map(|m| m.to_string()),
        )
    }

    /// Deletes a topic by name.
    pub async fn delete_topic(&self, name: &str) -> Result<(), AdminError> {
        let timeout_ms = self.server_timeout_ms();
        let (resp, _) = self
            .send(Target::Any, None, |v| {
                let r = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms);
                if v >= 6 {
                    r.with_topics(vec![
                        DeleteTopicState::default().with_name(Some(topic_name(name))),
                    ])
                } else {
                    r.with_topic_names(vec![topic_name(name)])
                }
            })
            .await?;
        let result = resp
            .responses
            .into_iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name))
            .ok_or_else(|| AdminError::Protocol {
                addr: String::new(),
                detail: format!("DeleteTopics lacks {name}"),
            })?;
        check(
            "DeleteTopics",
            name,
            result.error_code,
            result.error_message.map(|m| m.to_string()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(replicas: &[i32], isr: &[i32], leader: Option<i32>) -> PartitionInfo {
        PartitionInfo {
            partition: 0,
            leader,
            leader_epoch: 0,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            offline_replicas: vec![],
            error: None,
        }
    }

    #[test]
    fn partition_health() {
        let healthy = p(&[0, 1, 2], &[0, 1, 2], Some(0));
        assert!(!healthy.is_under_replicated() && !healthy.is_unavailable() && !healthy.is_under_min_isr(2));
        let urp = p(&[0, 1, 2], &[0, 1], Some(0));
        assert!(urp.is_under_replicated() && !urp.is_under_min_isr(2) && urp.is_under_min_isr(3));
        let offline = p(&[0, 1, 2], &[2], None);
        assert!(offline.is_unavailable());
        let t = TopicInfo {
            name: "t".into(),
            topic_id: String::new(),
            internal: false,
            partitions: vec![healthy, urp],
        };
        assert_eq!(t.replication_factor(), 3);
    }
}
