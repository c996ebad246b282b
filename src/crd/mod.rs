//! The `KafkaCluster` custom resource (`kraftwerk.dev/v1alpha1`).
//!
//! The types here are the user-facing API. Defaults that depend on the role (storage size, memory)
//! are applied in [`crate::validate`], not in the schema, so the stored object stays what the user wrote
//! plus the few structural defaults (replica counts, version) that `kubectl get` columns need.

pub mod bounds;
mod spec;
mod status;
mod user;

pub use spec::*;
pub use status::*;
pub use user::*;

/// The API group of every kraftwerk resource.
pub const GROUP: &str = "kraftwerk.dev";
/// The Kafka release the operator deploys when `spec.version` is not set; the tests run this one.
pub const DEFAULT_KAFKA_VERSION: &str = "4.3.1";
/// The image repository used when `spec.image` is not set: `<repository>:<version>`.
pub const DEFAULT_IMAGE_REPOSITORY: &str = "apache/kafka";

#[cfg(test)]
mod schema_walk_tests;
