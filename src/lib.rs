//! kraftwerk: a Kubernetes operator for Apache Kafka in KRaft mode.
//!
//! The reconcile pipeline is resolve (I/O) → [`validate`] (pure) → [`build`] (pure) → apply →
//! prune → status; see `docs/architecture.md`.

pub mod admin;
pub mod annotations;
pub mod auth;
pub mod crd;
pub mod durability;
pub mod placement;
pub mod rebalance;
pub mod recovery;
pub mod roll;
pub mod tls;
pub mod upgrade;
pub mod user;

use kube::CustomResourceExt;

/// The crate's version (Cargo.toml).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git revision the binary was built from (build.rs; "unknown" outside a git checkout).
pub const GIT_REVISION: &str = env!("KRAFTWERK_GIT_REVISION");

/// The field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "kraftwerk";

/// The CRD as YAML, exactly as committed in `crds/kafkacluster.yaml`.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&crd::KafkaCluster::crd())
}

/// The KafkaUser CRD as YAML, exactly as committed in `crds/kafkauser.yaml`.
pub fn user_crd_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&crd::KafkaUser::crd())
}
pub mod desired;
pub mod host_ports;
pub mod labels;
pub mod listeners;
pub mod names;
pub mod quantity;
pub mod quorum;
pub mod validate;

pub mod cluster_id;
pub mod controller;
pub mod error;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod fuzz;
pub mod http;
pub mod lease;
pub mod metrics;
pub mod render;
pub mod status;
pub mod telemetry;
