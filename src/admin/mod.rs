//! A Kafka admin client for the operator's safety checks, on the `kafka-protocol` crate
//! with a thin tokio connection layer.
//!
//! - [`framing`]: length-prefixed frames, request/response headers, correlation ids.
//! - [`versions`]: ApiVersions negotiation (highest version both sides support).
//! - [`conn`]: one negotiated connection, generic over the byte stream ([`Connector`]
//!   opens streams: plain TCP, or port-forward in the CLI); [`tls`]: [`Secured`] adds rustls
//!   TLS (CA trust, client certificate, hostname verification) over any of them.
//! - [`client`]: [`AdminClient`]: bootstrap over several addresses, one connection per
//!   node, per-request timeouts.
//! - operations: [`cluster`] (DescribeCluster incl. fenced brokers, DescribeQuorum,
//!   UnregisterBroker), [`topics`] (Metadata, CreateTopics, DeleteTopics), [`configs`]
//!   (DescribeConfigs with or without synonyms, IncrementalAlterConfigs), [`reassign`]
//!   (List/AlterPartitionReassignments), [`features`] (finalized features from ApiVersions),
//!   [`logdirs`] (DescribeLogDirs: partition sizes per broker),
//!   [`acls`] (Describe/Create/DeleteAcls), [`quotas`] (Describe/AlterClientQuotas of users),
//!   [`scram`] (Describe/AlterUserScramCredentials).
//! - [`sasl`]: SASL/SCRAM authentication of every new connection when
//!   [`AdminConfig::sasl`] is set.
//!
//! Every failure is an [`AdminError`] with a [`AdminError::kind`] label; nothing blocks
//! longer than the configured connect/request timeouts.

pub mod acls;
pub mod client;
pub mod cluster;
pub mod configs;
pub mod conn;
pub mod elect;
pub mod error;
pub mod features;
pub mod framing;
pub mod logdirs;
pub mod quotas;
pub mod reassign;
pub mod sasl;
pub mod scram;
pub mod tls;
pub mod topics;
pub mod versions;

pub use acls::{AclBinding, AclOperation, AclPatternType, AclPermission, AclResourceType};
pub use client::{AdminClient, AdminConfig, HostPort, Target};
pub use cluster::{BrokerInfo, ClusterDescription, METADATA_TOPIC, QuorumInfo, QuorumReplica, VoterEndpoint};
pub use configs::{AlterConfigOp, ConfigEntry, ConfigResource, ConfigSynonym};
pub use conn::{Connection, Connector, TcpConnector};
pub use elect::ElectionOutcome;
pub use error::AdminError;
pub use features::{ELR_FEATURE, FinalizedFeatures, METADATA_VERSION_FEATURE, SupportedFeatures};
pub use logdirs::PartitionSizes;
pub use quotas::QuotaChange;
pub use reassign::{OngoingReassignment, Reassignment};
pub use sasl::{ScramCredentials, ScramMechanism};
pub use scram::ScramChange;
pub use tls::{ClientTls, MaybeTls, Secured};
pub use topics::{ClusterMetadata, NewTopic, PartitionInfo, TopicInfo};
pub use versions::ApiVersionTable;
