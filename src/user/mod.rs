//! KafkaUser decisions, all pure: whether the user can be served (its cluster exists and has a
//! listener for its authentication), what Kafka must hold (ACLs, quotas, a SCRAM credential),
//! the exact difference to what Kafka holds, the credentials Secret, and the status.
//! [`crate::controller::user`] executes the plans.

pub mod cert;
pub mod secret;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::admin::{AclBinding, AclPatternType, QuotaChange, ScramMechanism};
use crate::crd::{AuthenticationType, ConditionType, KafkaUser, KafkaUserSpec, KafkaUserStatus, UserReason};

/// The Kafka principal of a user.
pub fn principal(name: &str) -> String {
    format!("User:{name}")
}

/// The one name a cluster resource has in Kafka.
pub const CLUSTER_RESOURCE: &str = "kafka-cluster";

/// Why a user cannot be applied: the condition reason, the field at fault and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: UserReason,
    pub field: String,
    pub message: String,
}

/// What the cluster offers users: which authentication types some listener accepts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterOffer {
    pub authentication: BTreeSet<AuthKind>,
    /// Whether the cluster runs an authorizer (ACLs need one; Kafka refuses ACL requests
    /// without it).
    pub authorization: bool,
}

/// An authentication type, as listeners and users share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AuthKind {
    Scram,
    Tls,
}

impl From<AuthenticationType> for AuthKind {
    fn from(t: AuthenticationType) -> Self {
        match t {
            AuthenticationType::ScramSha512 => AuthKind::Scram,
            AuthenticationType::Tls => AuthKind::Tls,
        }
    }
}

/// What a cluster offers its users, from its spec: the authentication of its client listeners
/// (the internal REPLICATION listener is not one) and whether an authorizer runs.
pub fn offer(spec: &crate::crd::KafkaClusterSpec) -> ClusterOffer {
    ClusterOffer {
        authentication: spec
            .listeners
            .iter()
            .filter_map(|l| l.authentication.as_ref())
            .map(|a| AuthKind::from(a.type_))
            .collect(),
        authorization: crate::auth::settings(spec).is_some(),
    }
}

/// Checks a user against its cluster (`None`: no such KafkaCluster).
pub fn check(spec: &KafkaUserSpec, cluster: Option<&ClusterOffer>) -> Result<(), Refusal> {
    let Some(cluster) = cluster else {
        return Err(Refusal {
            reason: UserReason::ClusterNotFound,
            field: "spec.cluster".into(),
            message: format!(
                "spec.cluster: no KafkaCluster {:?} in this namespace",
                spec.cluster
            ),
        });
    };
    if let Some(auth) = &spec.authentication {
        let kind = AuthKind::from(auth.type_);
        if !cluster.authentication.contains(&kind) {
            let name = match kind {
                AuthKind::Scram => "scram-sha-512",
                AuthKind::Tls => "tls",
            };
            return Err(Refusal {
                reason: UserReason::AuthenticationNotEnabled,
                field: "spec.authentication.type".into(),
                message: format!(
                    "spec.authentication.type: KafkaCluster {:?} has no listener with authentication {name} (spec.listeners[].authentication)",
                    spec.cluster
                ),
            });
        }
    }
    let has_acls = spec.authorization.as_ref().is_some_and(|a| !a.acls.is_empty());
    if has_acls && !cluster.authorization {
        return Err(Refusal {
            reason: UserReason::AuthorizationNotEnabled,
            field: "spec.authorization.acls".into(),
            message: format!(
                "spec.authorization.acls: KafkaCluster {:?} runs no authorizer (spec.security.authorization), so Kafka cannot hold ACLs",
                spec.cluster
            ),
        });
    }
    Ok(())
}

/// The ACLs Kafka must hold for the user, one per operation.
pub fn desired_acls(name: &str, spec: &KafkaUserSpec) -> BTreeSet<AclBinding> {
    let principal = principal(name);
    let rules = spec.authorization.iter().flat_map(|a| a.acls.iter());
    rules
        .flat_map(|rule| {
            let resource_name = rule
                .resource
                .name
                .clone()
                .unwrap_or_else(|| CLUSTER_RESOURCE.to_string());
            let pattern_type = rule.resource.pattern_type.unwrap_or(AclPatternType::Literal);
            let host = rule.host.clone().unwrap_or_else(|| "*".to_string());
            let principal = principal.clone();
            rule.operations.iter().map(move |&operation| AclBinding {
                resource_type: rule.resource.type_,
                resource_name: resource_name.clone(),
                pattern_type,
                principal: principal.clone(),
                host: host.clone(),
                operation,
                permission: rule.permission,
            })
        })
        .collect()
}

/// ACLs to create and to delete so that Kafka holds exactly `desired`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AclDiff {
    pub create: Vec<AclBinding>,
    pub delete: Vec<AclBinding>,
}

impl AclDiff {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.delete.is_empty()
    }
}

/// The exact difference between the principal's ACLs in Kafka and the desired ones.
pub fn diff_acls(current: &[AclBinding], desired: &BTreeSet<AclBinding>) -> AclDiff {
    let current: BTreeSet<&AclBinding> = current.iter().collect();
    AclDiff {
        create: desired.iter().filter(|a| !current.contains(a)).cloned().collect(),
        delete: current
            .iter()
            .filter(|a| !desired.contains(**a))
            .map(|a| (*a).clone())
            .collect(),
    }
}

/// Kafka's quota keys, by the spec field that sets them.
pub fn desired_quotas(spec: &KafkaUserSpec) -> BTreeMap<String, f64> {
    let Some(q) = &spec.quotas else {
        return BTreeMap::new();
    };
    [
        ("producer_byte_rate", q.producer_byte_rate.map(|v| v as f64)),
        ("consumer_byte_rate", q.consumer_byte_rate.map(|v| v as f64)),
        ("request_percentage", q.request_percentage.map(f64::from)),
        (
            "controller_mutation_rate",
            q.controller_mutation_rate.map(f64::from),
        ),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_string(), v?)))
    .collect()
}

/// The quota change that makes Kafka hold exactly `desired` for the user entity.
pub fn diff_quotas(current: &BTreeMap<String, f64>, desired: &BTreeMap<String, f64>) -> QuotaChange {
    QuotaChange {
        set: desired
            .iter()
            .filter(|(k, v)| current.get(*k) != Some(v))
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        remove: current
            .keys()
            .filter(|k| !desired.contains_key(*k))
            .cloned()
            .collect(),
    }
}

/// The SCRAM mechanism of KafkaUsers.
pub const MECHANISM: ScramMechanism = ScramMechanism::Sha512;

/// What to do with the user's SCRAM credential in Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialAction {
    Keep,
    /// Set it from the Secret's password (missing in Kafka, or the password changed since it
    /// was last applied).
    Upsert,
    /// Remove it (the user no longer authenticates with SCRAM).
    Delete,
}

/// Decides the SCRAM credential: `in_kafka` whether Kafka has a SCRAM-SHA-512 credential,
/// `applied` the fingerprint recorded when the Secret's password was last applied, `current`
/// the fingerprint of the Secret's password now (None: no Secret yet).
pub fn credential_action(
    wants_scram: bool,
    in_kafka: bool,
    applied: Option<&str>,
    current: Option<&str>,
) -> CredentialAction {
    match (wants_scram, current) {
        (false, _) if in_kafka => CredentialAction::Delete,
        (false, _) | (true, None) => CredentialAction::Keep,
        (true, Some(now)) if !in_kafka || applied != Some(now) => CredentialAction::Upsert,
        (true, Some(_)) => CredentialAction::Keep,
    }
}

/// Everything the executor needs to bring Kafka to the user's spec, computed from what Kafka
/// holds now.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserPlan {
    pub acls: AclDiff,
    pub quotas: QuotaChange,
    pub credential: Option<CredentialAction>,
}

impl UserPlan {
    /// Nothing to send to Kafka.
    pub fn is_empty(&self) -> bool {
        self.acls.is_empty()
            && self.quotas.is_empty()
            && matches!(self.credential, None | Some(CredentialAction::Keep))
    }
}

/// What Kafka holds for a user.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KafkaUserState {
    pub acls: Vec<AclBinding>,
    pub quotas: BTreeMap<String, f64>,
    /// Whether a SCRAM-SHA-512 credential exists.
    pub scram: bool,
}

/// The plan for a live user: its spec against Kafka's state and the Secret's fingerprints.
pub fn plan(
    name: &str,
    spec: &KafkaUserSpec,
    kafka: &KafkaUserState,
    applied: Option<&str>,
    current: Option<&str>,
) -> UserPlan {
    let wants_scram = spec
        .authentication
        .as_ref()
        .is_some_and(|a| a.type_ == AuthenticationType::ScramSha512);
    UserPlan {
        acls: diff_acls(&kafka.acls, &desired_acls(name, spec)),
        quotas: diff_quotas(&kafka.quotas, &desired_quotas(spec)),
        credential: Some(credential_action(wants_scram, kafka.scram, applied, current)),
    }
}

/// The plan for a deleted user: nothing of it stays in Kafka.
pub fn cleanup_plan(kafka: &KafkaUserState) -> UserPlan {
    UserPlan {
        acls: diff_acls(&kafka.acls, &BTreeSet::new()),
        quotas: diff_quotas(&kafka.quotas, &BTreeMap::new()),
        credential: Some(if kafka.scram {
            CredentialAction::Delete
        } else {
            CredentialAction::Keep
        }),
    }
}

/// The status after a pass: Ready with `reason`, the principal and the Secret. The transition
/// time changes only when Ready's status does.
pub fn status(
    user: &KafkaUser,
    ready: bool,
    reason: UserReason,
    message: &str,
    secret: Option<String>,
    now: Timestamp,
) -> KafkaUserStatus {
    let previous = user
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let status = if ready { "True" } else { "False" }.to_string();
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == ConditionType::Ready.as_str() && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    KafkaUserStatus {
        observed_generation: user.metadata.generation,
        conditions: vec![Condition {
            type_: ConditionType::Ready.to_string(),
            status,
            reason: reason.to_string(),
            message: message.chars().take(1024).collect(),
            observed_generation: user.metadata.generation,
            last_transition_time,
        }],
        principal: user.metadata.name.as_deref().map(principal),
        secret,
    }
}

#[cfg(test)]
mod tests;
