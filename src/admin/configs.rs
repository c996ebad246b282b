//! DescribeConfigs and IncrementalAlterConfigs for topics, single brokers and the
//! cluster-wide broker default.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use super::client::{AdminClient, Target};
use super::conn::Connector;
use super::error::{AdminError, check};

/// The object a configuration belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigResource {
    Topic(String),
    /// One broker's dynamic configuration (sent to that broker).
    Broker(i32),
    /// The cluster-wide default for all brokers (resource name "").
    ClusterBrokerDefault,
    /// A broker's log4j loggers.
    BrokerLogger(i32),
}

impl ConfigResource {
    fn resource_type(&self) -> i8 {
        match self {
            ConfigResource::Topic(_) => 2,
            ConfigResource::Broker(_) | ConfigResource::ClusterBrokerDefault => 4,
            ConfigResource::BrokerLogger(_) => 8,
        }
    }

    fn resource_name(&self) -> String {
        match self {
            ConfigResource::Topic(t) => t.clone(),
            ConfigResource::Broker(id) | ConfigResource::BrokerLogger(id) => id.to_string(),
            ConfigResource::ClusterBrokerDefault => String::new(),
        }
    }

    /// Broker resources go to the broker itself (as the Java admin client does).
    fn target(&self) -> Target {
        match self {
            ConfigResource::Broker(id) | ConfigResource::BrokerLogger(id) => Target::Node(*id),
            _ => Target::Any,
        }
    }

    fn label(&self) -> String {
        match self {
            ConfigResource::Topic(t) => format!("topic {t}"),
            ConfigResource::Broker(id) => format!("broker {id}"),
            ConfigResource::ClusterBrokerDefault => "cluster broker default".into(),
            ConfigResource::BrokerLogger(id) => format!("broker logger {id}"),
        }
    }
}

/// Topics per DescribeConfigs request of [`AdminClient::topics_min_insync_replicas`]; Kafka has
/// no limit, this keeps one response well under a megabyte.
pub const TOPICS_PER_REQUEST: usize = 1000;

/// One configuration value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` for sensitive values and unset ones.
    pub value: Option<String>,
    /// Where the value comes from (`DYNAMIC_TOPIC_CONFIG`, `STATIC_BROKER_CONFIG`, `DEFAULT_CONFIG`, ...).
    pub source: &'static str,
    pub read_only: bool,
    pub sensitive: bool,
    /// Every value Kafka knows for the key, highest precedence first (the first one is in
    /// force); empty unless asked for ([`AdminClient::describe_configs_with_synonyms`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub synonyms: Vec<ConfigSynonym>,
}

/// One value of a key at one level (`DYNAMIC_DEFAULT_BROKER_CONFIG:min.insync.replicas=1`).
/// A synonym's name may differ from the key (`log.retention.hours` for `retention.ms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigSynonym {
    pub name: String,
    pub value: Option<String>,
    pub source: &'static str,
}

impl ConfigEntry {
    /// The value set at `source` (under the entry's own name or a synonym), if any.
    pub fn value_at(&self, source: &str) -> Option<&str> {
        self.synonyms
            .iter()
            .find(|s| s.source == source)
            .and_then(|s| s.value.as_deref())
    }

    /// `source:name=value` of every synonym, as `kafka-configs.sh --describe --all` prints them.
    pub fn synonyms_text(&self) -> String {
        let parts: Vec<String> = self
            .synonyms
            .iter()
            .map(|s| format!("{}:{}={}", s.source, s.name, s.value.as_deref().unwrap_or("null")))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }
}

fn source_label(s: i8) -> &'static str {
    match s {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

/// One change of IncrementalAlterConfigs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    Set(String, String),
    /// Back to the default (removes the dynamic value).
    Delete(String),
    /// Add to a list-valued config.
    Append(String, String),
    /// Remove from a list-valued config.
    Subtract(String, String),
}

impl AlterConfigOp {
    /// The config key the operation changes.
    pub fn key(&self) -> &str {
        match self {
            AlterConfigOp::Set(k, _)
            | AlterConfigOp::Delete(k)
            | AlterConfigOp::Append(k, _)
            | AlterConfigOp::Subtract(k, _) => k,
        }
    }

    fn to_wire(&self) -> AlterableConfig {
        let (name, op, value) = match self {
            AlterConfigOp::Set(k, v) => (k, 0, Some(v)),
            AlterConfigOp::Delete(k) => (k, 1, None),
            AlterConfigOp::Append(k, v) => (k, 2, Some(v)),
            AlterConfigOp::Subtract(k, v) => (k, 3, Some(v)),
        };
        AlterableConfig::default()
            .with_name(StrBytes::from_string(name.clone()))
            .with_config_operation(op)
            .with_value(value.map(|v| StrBytes::from_string(v.clone())))
    }
}

impl<C: Connector> AdminClient<C> {
    /// Configuration of `resource`; `keys = None` returns every entry.
    pub async fn describe_configs(
        &self,
        resource: &ConfigResource,
        keys: Option<&[&str]>,
    ) -> Result<Vec<ConfigEntry>, AdminError> {
        self.describe_configs_inner(resource, keys, false).await
    }

    /// As [`Self::describe_configs`], with every entry's synonyms: the values of all levels
    /// (topic, broker, cluster default, static file, Kafka default), highest precedence first,
    /// so a caller sees which level is in force and what it shadows. For
    /// [`ConfigResource::ClusterBrokerDefault`] Kafka returns only the keys set at that level.
    pub async fn describe_configs_with_synonyms(
        &self,
        resource: &ConfigResource,
        keys: Option<&[&str]>,
    ) -> Result<Vec<ConfigEntry>, AdminError> {
        self.describe_configs_inner(resource, keys, true).await
    }

    async fn describe_configs_inner(
        &self,
        resource: &ConfigResource,
        keys: Option<&[&str]>,
        synonyms: bool,
    ) -> Result<Vec<ConfigEntry>, AdminError> {
        let (resp, _) = self
            .send(resource.target(), None, |_| {
                DescribeConfigsRequest::default()
                    .with_include_synonyms(synonyms)
                    .with_resources(vec![
                        DescribeConfigsResource::default()
                            .with_resource_type(resource.resource_type())
                            .with_resource_name(StrBytes::from_string(resource.resource_name()))
                            .with_configuration_keys(keys.map(|ks| {
                                ks.iter()
                                    .map(|k| StrBytes::from_string((*k).to_string()))
                                    .collect()
                            })),
                    ])
            })
            .await?;
        let label = resource.label();
        let result = resp
            .results
            .into_iter()
            .next()
            .ok_or_else(|| AdminError::Protocol {
                addr: String::new(),
                detail: format!("DescribeConfigs returned nothing for {label}"),
            })?;
        let resource_label = match resource {
            ConfigResource::Topic(t) => t.clone(),
            _ => label,
        };
        check(
            "DescribeConfigs",
            &resource_label,
            result.error_code,
            result.error_message.map(|m| m.to_string()),
        )?;
        let mut entries: Vec<ConfigEntry> = result
            .configs
            .into_iter()
            .map(|c| ConfigEntry {
                name: c.name.to_string(),
                value: c.value.map(|v| v.to_string()),
                source: source_label(c.config_source),
                read_only: c.read_only,
                sensitive: c.is_sensitive,
                synonyms: c
                    .synonyms
                    .into_iter()
                    .map(|s| ConfigSynonym {
                        name: s.name.to_string(),
                        value: s.value.map(|v| v.to_string()),
                        source: source_label(s.source),
                    })
                    .collect(),
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// The value of one config key (`None` if unset or sensitive).
    pub async fn config_value(
        &self,
        resource: &ConfigResource,
        key: &str,
    ) -> Result<Option<String>, AdminError> {
        Ok(self
            .describe_configs(resource, Some(&[key]))
            .await?
            .into_iter()
            .find(|e| e.name == key)
            .and_then(|e| e.value))
    }

    /// `min.insync.replicas` of a topic (topic override or inherited broker value).
    pub async fn topic_min_insync_replicas(&self, topic: &str) -> Result<Option<i32>, AdminError> {
        let value = self
            .config_value(&ConfigResource::Topic(topic.to_string()), "min.insync.replicas")
            .await?;
        Ok(value.and_then(|v| v.parse().ok()))
    }

    /// `min.insync.replicas` in force on `broker` for topics without their own value: the
    /// cluster-level value when set (always, with Eligible Leader Replicas), else the broker's.
    pub async fn broker_min_insync_replicas(&self, broker: i32) -> Result<Option<i32>, AdminError> {
        let value = self
            .config_value(&ConfigResource::Broker(broker), "min.insync.replicas")
            .await?;
        Ok(value.and_then(|v| v.parse().ok()))
    }

    /// `min.insync.replicas` of many topics in one DescribeConfigs request per
    /// [`TOPICS_PER_REQUEST`] topics, instead of one round trip per topic: the roll gates read
    /// it every pass, and a cluster with thousands of topics must not make that slow. A topic
    /// Kafka reports an error for (deleted meanwhile) is left out of the answer.
    pub async fn topics_min_insync_replicas(
        &self,
        topics: &[String],
    ) -> Result<BTreeMap<String, i32>, AdminError> {
        let mut out = BTreeMap::new();
        for chunk in topics.chunks(TOPICS_PER_REQUEST) {
            let (resp, _) = self
                .send(Target::Any, None, |_| {
                    DescribeConfigsRequest::default().with_resources(
                        chunk
                            .iter()
                            .map(|t| {
                                DescribeConfigsResource::default()
                                    .with_resource_type(ConfigResource::Topic(String::new()).resource_type())
                                    .with_resource_name(StrBytes::from_string(t.clone()))
                                    .with_configuration_keys(Some(vec![StrBytes::from_static_str(
                                        "min.insync.replicas",
                                    )]))
                            })
                            .collect(),
                    )
                })
                .await?;
            for result in resp.results.into_iter().filter(|r| r.error_code == 0) {
                let value = result
                    .configs
                    .iter()
                    .find(|c| c.name.as_str() == "min.insync.replicas")
                    .and_then(|c| c.value.as_ref())
                    .and_then(|v| v.parse::<i32>().ok());
                if let Some(v) = value {
                    out.insert(result.resource_name.to_string(), v);
                }
            }
        }
        Ok(out)
    }

    /// Applies `ops` to `resource` incrementally (other dynamic values stay untouched,
    /// unlike the legacy AlterConfigs). Use [`ConfigResource::ClusterBrokerDefault`] for a
    /// cluster-wide broker change and [`ConfigResource::Broker`] for one broker.
    pub async fn incremental_alter_configs(
        &self,
        resource: &ConfigResource,
        ops: &[AlterConfigOp],
    ) -> Result<(), AdminError> {
        self.incremental_alter_configs_opts(resource, ops, false).await
    }

    /// As [`Self::incremental_alter_configs`]; `validate_only` asks Kafka to check without applying.
    pub async fn incremental_alter_configs_opts(
        &self,
        resource: &ConfigResource,
        ops: &[AlterConfigOp],
        validate_only: bool,
    ) -> Result<(), AdminError> {
        let (resp, _) = self
            .send(resource.target(), None, |_| {
                IncrementalAlterConfigsRequest::default()
                    .with_validate_only(validate_only)
                    .with_resources(vec![
                        AlterConfigsResource::default()
                            .with_resource_type(resource.resource_type())
                            .with_resource_name(StrBytes::from_string(resource.resource_name()))
                            .with_configs(ops.iter().map(AlterConfigOp::to_wire).collect()),
                    ])
            })
            .await?;
        let label = match resource {
            ConfigResource::Topic(t) => t.clone(),
            other => other.label(),
        };
        for r in resp.responses {
            check(
                "IncrementalAlterConfigs",
                &label,
                r.error_code,
                r.error_message.map(|m| m.to_string()),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_map_to_wire_types_and_targets() {
        let t = ConfigResource::Topic("x".into());
        assert_eq!(
            (t.resource_type(), t.resource_name(), t.target()),
            (2, "x".to_string(), Target::Any)
        );
        let b = ConfigResource::Broker(3);
        assert_eq!(
            (b.resource_type(), b.resource_name(), b.target()),
            (4, "3".to_string(), Target::Node(3))
        );
        let d = ConfigResource::ClusterBrokerDefault;
        assert_eq!(
            (d.resource_type(), d.resource_name(), d.target()),
            (4, String::new(), Target::Any)
        );
        assert_eq!(ConfigResource::BrokerLogger(1).resource_type(), 8);
    }

    #[test]
    fn synonyms_show_every_level_and_the_one_in_force() {
        let synonym = |source: &'static str, value: &str| ConfigSynonym {
            name: "min.insync.replicas".into(),
            value: Some(value.into()),
            source,
        };
        let e = ConfigEntry {
            name: "min.insync.replicas".into(),
            value: Some("1".into()),
            source: "DYNAMIC_DEFAULT_BROKER_CONFIG",
            read_only: false,
            sensitive: false,
            synonyms: vec![
                synonym("DYNAMIC_DEFAULT_BROKER_CONFIG", "1"),
                synonym("STATIC_BROKER_CONFIG", "2"),
                synonym("DEFAULT_CONFIG", "1"),
            ],
        };
        assert_eq!(e.value_at("STATIC_BROKER_CONFIG"), Some("2"));
        assert_eq!(e.value_at("DYNAMIC_BROKER_CONFIG"), None);
        assert_eq!(
            e.synonyms_text(),
            "{DYNAMIC_DEFAULT_BROKER_CONFIG:min.insync.replicas=1, STATIC_BROKER_CONFIG:min.insync.replicas=2, \
             DEFAULT_CONFIG:min.insync.replicas=1}"
        );
    }

    #[test]
    fn ops_map_to_wire() {
        let w = AlterConfigOp::Set("a".into(), "1".into()).to_wire();
        assert_eq!((w.config_operation, w.value.as_deref()), (0, Some("1")));
        let w = AlterConfigOp::Delete("a".into()).to_wire();
        assert_eq!((w.config_operation, w.value), (1, None));
        assert_eq!(
            AlterConfigOp::Append("a".into(), "x".into())
                .to_wire()
                .config_operation,
            2
        );
        assert_eq!(
            AlterConfigOp::Subtract("a".into(), "x".into())
                .to_wire()
                .config_operation,
            3
        );
        assert_eq!(source_label(5), "DEFAULT_CONFIG");
    }
}
