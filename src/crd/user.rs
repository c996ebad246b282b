//! The `KafkaUser` custom resource (`kraftwerk.dev/v1alpha1`): a Kafka user of one KafkaCluster
//! in the same namespace, with its credentials, ACLs and quotas. `metadata.name` is the Kafka
//! user name; its principal is `User:<name>`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::AuthenticationType;
use super::bounds::DNS1035_LABEL;
use crate::admin::{AclOperation, AclPatternType, AclPermission, AclResourceType};

/// A Kafka user: credentials (SCRAM-SHA-512 password or TLS client certificate) in a Secret
/// named after the user, ACLs and quotas, all reconciled through Kafka's admin API.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kraftwerk.dev",
    version = "v1alpha1",
    kind = "KafkaUser",
    namespaced,
    shortname = "ku",
    status = "KafkaUserStatus",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".spec.cluster","description":"The KafkaCluster of this user"}"#,
    printcolumn = r#"{"name":"Authentication","type":"string","jsonPath":".spec.authentication.type"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Secret","type":"string","jsonPath":".status.secret"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("size(self.metadata.name) <= 253 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')").message("metadata.name (the Kafka user name) must be a DNS-1123 subdomain").reason(Reason::FieldValueInvalid)
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaUserSpec {
    /// Name of the KafkaCluster (same namespace) this user belongs to. Immutable.
    #[schemars(length(min = 1, max = 47), regex(pattern = DNS1035_LABEL))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.cluster is immutable"))]
    pub cluster: String,
    /// How the user authenticates; unset: no credentials (ACLs and quotas still apply to
    /// `User:<name>`, e.g. for a principal mapped from a certificate issued elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<UserAuthentication>,
    /// ACLs of the user (need `spec.security.authorization` on the cluster to take effect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<UserAuthorization>,
    /// Client quotas of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotas: Option<UserQuotas>,
}

/// The user's credentials.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserAuthentication {
    /// `scram-sha-512`: the operator generates a password and stores it (and a ready
    /// `sasl.jaas.config`) in the Secret `<name>`. `tls`: a client certificate
    /// (`CN=<name>,O=kraftwerk-users`) signed by the cluster CA, in the Secret `<name>`
    /// (`ca.crt`, `user.crt`, `user.key`, `user.pem`).
    #[serde(rename = "type")]
    pub type_: AuthenticationType,
}

/// ACLs, Strimzi's `simple` authorization shape.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserAuthorization {
    /// `simple` (Kafka's StandardAuthorizer ACLs); the only type.
    #[serde(rename = "type", default = "simple")]
    #[x_kube(validation = Rule::new("self == 'simple'").message("authorization.type must be simple"))]
    #[schemars(length(max = 16))]
    pub type_: String,
    /// The ACLs of `User:<name>`. The operator makes Kafka hold exactly these: ACLs of the
    /// principal that are not listed are deleted.
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub acls: Vec<AclRule>,
}

fn simple() -> String {
    "simple".to_string()
}

/// One ACL rule: a resource, operations on it, from a host, allowed or denied.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AclRule {
    pub resource: AclResource,
    /// Operations (one ACL each): Read, Write, Create, Delete, Alter, Describe, ClusterAction,
    /// DescribeConfigs, AlterConfigs, IdempotentWrite, CreateTokens, DescribeTokens, All.
    #[schemars(length(min = 1, max = 16))]
    pub operations: Vec<AclOperation>,
    /// The client host the rule applies to; default `*` (any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub host: Option<String>,
    /// `allow` (default) or `deny`.
    #[serde(rename = "type", default)]
    pub permission: AclPermission,
}

/// The resource of an ACL rule.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type == 'cluster' ? (!has(self.name) || self.name == 'kafka-cluster') : (has(self.name) && size(self.name) > 0)").message("resource.name is required (except for type cluster, whose only name is kafka-cluster)"))]
#[x_kube(validation = Rule::new("self.type != 'cluster' || !has(self.patternType) || self.patternType == 'literal'").message("resource.patternType must be literal for type cluster"))]
pub struct AclResource {
    /// topic, group, cluster, transactionalId, delegationToken or user.
    #[serde(rename = "type")]
    pub type_: AclResourceType,
    /// The resource name (`*` for every resource of the type); not needed for `cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub name: Option<String>,
    /// `literal` (default): the name exactly; `prefixed`: every name starting with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern_type: Option<AclPatternType>,
}

/// Client quotas of the user entity (`user=<name>`). Unset fields carry no quota.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserQuotas {
    /// Bytes per second the user may produce, per broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub producer_byte_rate: Option<i64>,
    /// Bytes per second the user may fetch, per broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub consumer_byte_rate: Option<i64>,
    /// Percentage of a broker's request handler and network threads the user may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub request_percentage: Option<i32>,
    /// Partition mutations (create, delete, add partitions) per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub controller_mutation_rate: Option<i32>,
}

/// Observed state of a KafkaUser.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaUserStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready: the user's credentials, ACLs and quotas are what the spec says, in Kafka.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::status::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The Kafka principal: `User:<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The Secret holding the credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// The reasons of a KafkaUser's Ready condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserReason {
    /// Credentials, ACLs and quotas are applied.
    Applied,
    /// `spec.cluster` names no KafkaCluster in the namespace.
    ClusterNotFound,
    /// The cluster has no listener with the user's authentication type.
    AuthenticationNotEnabled,
    /// The user has ACLs but the cluster runs no authorizer.
    AuthorizationNotEnabled,
    /// The spec cannot be applied as written (the message names the field).
    InvalidSpec,
    /// Kafka could not be reached or refused a request; retried.
    KafkaUnavailable,
    /// The credentials of this authentication type cannot be issued yet.
    CredentialsPending,
}

impl UserReason {
    pub fn as_str(self) -> &'static str {
        match self {
            UserReason::Applied => "Applied",
            UserReason::ClusterNotFound => "ClusterNotFound",
            UserReason::AuthenticationNotEnabled => "AuthenticationNotEnabled",
            UserReason::AuthorizationNotEnabled => "AuthorizationNotEnabled",
            UserReason::InvalidSpec => "InvalidSpec",
            UserReason::KafkaUnavailable => "KafkaUnavailable",
            UserReason::CredentialsPending => "CredentialsPending",
        }
    }
}

impl std::fmt::Display for UserReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
