//! ACLs: DescribeAcls, CreateAcls and DeleteAcls, with Kafka's ACL vocabulary as typed enums
//! (the KafkaUser resource uses the same enums, so its spec and the wire codes share one home).

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::StrBytes;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::client::{AdminClient, Target};
use super::conn::Connector;
use super::error::{AdminError, check};

/// Kafka's filter code "ANY" (resource type, pattern type, operation, permission).
const ANY: i8 = 1;

/// What an ACL applies to.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub enum AclResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
    DelegationToken,
    User,
}

/// How the resource name matches: exactly, or as a prefix.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default,
)]
#[serde(rename_all = "camelCase")]
pub enum AclPatternType {
    #[default]
    Literal,
    Prefixed,
}

/// An operation an ACL allows or denies.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AclOperation {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
    CreateTokens,
    DescribeTokens,
}

/// Whether the ACL allows or denies.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default,
)]
#[serde(rename_all = "camelCase")]
pub enum AclPermission {
    #[default]
    Allow,
    Deny,
}

/// Generates `code()` and `from_code()` for a vocabulary enum from one table.
macro_rules! codes {
    ($ty:ty { $($variant:ident = $code:expr),+ $(,)? }) => {
        impl $ty {
            /// The wire code.
            pub fn code(self) -> i8 {
                match self { $(<$ty>::$variant => $code),+ }
            }
            /// The variant of a wire code; `None` for codes this enum has no variant for.
            pub fn from_code(code: i8) -> Option<Self> {
                match code { $($code => Some(<$ty>::$variant),)+ _ => None }
            }
        }
    };
}

codes!(AclResourceType { Topic = 2, Group = 3, Cluster = 4, TransactionalId = 5, DelegationToken = 6, User = 7 });
codes!(AclPatternType { Literal = 3, Prefixed = 4 });
codes!(AclOperation {
    All = 2, Read = 3, Write = 4, Create = 5, Delete = 6, Alter = 7, Describe = 8, ClusterAction = 9,
    DescribeConfigs = 10, AlterConfigs = 11, IdempotentWrite = 12, CreateTokens = 13, DescribeTokens = 14,
});
codes!(AclPermission { Deny = 2, Allow = 3 });

/// One ACL as Kafka stores it.
#[derive(Serialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct AclBinding {
    pub resource_type: AclResourceType,
    pub resource_name: String,
    pub pattern_type: AclPatternType,
    /// `User:<name>`.
    pub principal: String,
    /// `*` for every host.
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

impl<C: Connector> AdminClient<C> {
    /// Every ACL of `principal` (`User:<name>`), sorted. ACLs with codes this client has no
    /// variant for (none that Kafka 4 stores) are left out.
    pub async fn describe_acls(&self, principal: &str) -> Result<Vec<AclBinding>, AdminError> {
        let (resp, _) = self
            .send(Target::Any, None, |_| {
                DescribeAclsRequest::default()
                    .with_resource_type_filter(ANY)
                    .with_resource_name_filter(None)
                    .with_pattern_type_filter(ANY)
                    .with_principal_filter(Some(s(principal)))
                    .with_host_filter(None)
                    .with_operation(ANY)
                    .with_permission_type(ANY)
            })
            .await?;
        check(
            "DescribeAcls",
            principal,
            resp.error_code,
            resp.error_message.map(|m| m.to_string()),
        )?;
        let mut out: Vec<AclBinding> = resp
            .resources
            .iter()
            .flat_map(|r| {
                r.acls.iter().filter_map(move |a| {
                    Some(AclBinding {
                        resource_type: AclResourceType::from_code(r.resource_type)?,
                        resource_name: r.resource_name.to_string(),
                        pattern_type: AclPatternType::from_code(r.pattern_type)?,
                        principal: a.principal.to_string(),
                        host: a.host.to_string(),
                        operation: AclOperation::from_code(a.operation)?,
                        permission: AclPermission::from_code(a.permission_type)?,
                    })
                })
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Creates `acls` (creating an existing ACL is a no-op in Kafka).
    pub async fn create_acls(&self, acls: &[AclBinding]) -> Result<(), AdminError> {
        if acls.is_empty() {
            return Ok(());
        }
        let (resp, _) = self
            .send(Target::Any, None, |_| {
                CreateAclsRequest::default().with_creations(
                    acls.iter()
                        .map(|a| {
                            AclCreation::default()
                                .with_resource_type(a.resource_type.code())
                                .with_resource_name(s(&a.resource_name))
                                .with_resource_pattern_type(a.pattern_type.code())
                                .with_principal(s(&a.principal))
                                .with_host(s(&a.host))
                                .with_operation(a.operation.code())
                                .with_permission_type(a.permission.code())
                        })
                        .collect(),
                )
            })
            .await?;
        for (result, acl) in resp.results.iter().zip(acls) {
            check(
                "CreateAcls",
                &describe(acl),
                result.error_code,
                result.error_message.as_ref().map(|m| m.to_string()),
            )?;
        }
        Ok(())
    }

    /// Deletes exactly `acls` (one exact filter per ACL: nothing else matches it).
    pub async fn delete_acls(&self, acls: &[AclBinding]) -> Result<(), AdminError> {
        if acls.is_empty() {
            return Ok(());
        }
        let (resp, _) = self
            .send(Target::Any, None, |_| {
                DeleteAclsRequest::default().with_filters(
                    acls.iter()
                        .map(|a| {
                            DeleteAclsFilter::default()
                                .with_resource_type_filter(a.resource_type.code())
                                .with_resource_name_filter(Some(s(&a.resource_name)))
                                .with_pattern_type_filter(a.pattern_type.code())
                                .with_principal_filter(Some(s(&a.principal)))
                                .with_host_filter(Some(s(&a.host)))
                                .with_operation(a.operation.code())
                                .with_permission_type(a.permission.code())
                        })
                        .collect(),
                )
            })
            .await?;
        for (result, acl) in resp.filter_results.iter().zip(acls) {
            check(
                "DeleteAcls",
                &describe(acl),
                result.error_code,
                result.error_message.as_ref().map(|m| m.to_string()),
            )?;
        }
        Ok(())
    }
}

/// `Allow User:a Read topic:orders (literal) from *`, for errors and logs.
pub fn describe(acl: &AclBinding) -> String {
    format!(
        "{:?} {} {:?} {:?}:{} ({:?}) from {}",
        acl.permission,
        acl.principal,
        acl.operation,
        acl.resource_type,
        acl.resource_name,
        acl.pattern_type,
        acl.host
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_match_kafka() {
        for t in [
            AclResourceType::Topic,
            AclResourceType::Group,
            AclResourceType::Cluster,
            AclResourceType::TransactionalId,
            AclResourceType::DelegationToken,
            AclResourceType::User,
        ] {
            assert_eq!(AclResourceType::from_code(t.code()), Some(t));
        }
        // org.apache.kafka.common.resource.ResourceType / acl.AclOperation codes.
        assert_eq!(AclResourceType::Topic.code(), 2);
        assert_eq!(AclResourceType::Cluster.code(), 4);
        assert_eq!(AclOperation::Read.code(), 3);
        assert_eq!(AclOperation::IdempotentWrite.code(), 12);
        assert_eq!(AclPermission::Allow.code(), 3);
        assert_eq!(AclPatternType::Prefixed.code(), 4);
        assert_eq!(
            AclOperation::from_code(1),
            None,
            "ANY is a filter, not an operation"
        );
        assert_eq!(AclPatternType::from_code(2), None, "MATCH is a filter only");
    }

    #[test]
    fn yaml_spelling_follows_strimzi() {
        let op: AclOperation = serde_json::from_str("\"DescribeConfigs\"").unwrap();
        assert_eq!(op, AclOperation::DescribeConfigs);
        let t: AclResourceType = serde_json::from_str("\"transactionalId\"").unwrap();
        assert_eq!(t, AclResourceType::TransactionalId);
        assert_eq!(serde_json::to_string(&AclPermission::Deny).unwrap(), "\"deny\"");
    }
}
