use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::names::Role;

/// Declares a vocabulary enum whose wire form is the variant's name.
macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($variant:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),* }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// The condition types of a KafkaCluster.
    ConditionType { Ready, Progressing, Degraded, HardeningRelaxed, HostPortConflict }
}

vocabulary! {
    /// Every reason a KafkaCluster condition can carry.
    Reason {
        // Ready
        AllNodesReady,
        NodesNotReady,
        // Progressing
        NodesStarting,
        ScaleDownBlocked,
        Rebalancing,
        Draining,
        QuorumChanging,
        RestartPending,
        Stable,
        Idle,
        RolloutPaused,
        CanaryWaiting,
        Restarting,
        Reconfiguring,
        WaitingForGate,
        WaitingForNode,
        WaitingForKafka,
        Upgrading,
        // Degraded
        NodesStuck,
        NodeLost,
        AsExpected,
        RollTimeout,
        // HardeningRelaxed
        SecurityContextRelaxed,
        // HostPortConflict
        HostPortShared,
        // any
        InvalidSpec,
        ApplyFailed,
    }
}

/// The state of a rollout, of one of its phases, or of one node's step.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StepState {
    Pending,
    InProgress,
    Waiting,
    #[default]
    Complete,
    Error,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "PENDING",
            StepState::InProgress => "IN_PROGRESS",
            StepState::Waiting => "WAITING",
            StepState::Complete => "COMPLETE",
            StepState::Error => "ERROR",
        }
    }
}

impl std::fmt::Display for StepState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Observed state of a KafkaCluster. Carries no timestamps other than the conditions'
/// `lastTransitionTime`, which changes only when a condition's status does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaClusterStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Progressing and Degraded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The KRaft cluster id, generated once and never regenerated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// The Kafka version the pods run (not the one the spec asks for): during a version change
    /// the oldest one still running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_version: Option<String>,
    /// The `metadata.version` the cluster finalized (e.g. `4.3-IV0`), as Kafka last reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_version: Option<String>,
    /// `host:port` of the bootstrap Service for the first listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_servers: Option<String>,
    /// Bootstrap address of every listener.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<ListenerStatus>,
    /// One entry per node, controllers first. Clusters of more than 100 nodes list only the
    /// nodes that need attention (not ready, not up to date, misplaced), at most 100.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeStatus>,
    /// Nodes left out of `nodes` (large clusters only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub nodes_omitted: i32,
    /// Broker pods that exist (scale subresource).
    #[serde(default)]
    pub replicas: i32,
    /// Broker pods that are ready.
    #[serde(default)]
    pub ready_brokers: i32,
    /// Label selector of the broker pods (scale subresource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// The rollout as a plan: phases (controllers, brokers) of per-node steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
    /// The durability settings Kafka runs with, read back from Kafka (not from the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durability: Option<DurabilityStatus>,
    /// The last or current partition rebalance (after a scale-up) or broker drain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebalance: Option<RebalanceStatus>,
    /// The spec the operator last accepted. While a later edit is refused (InvalidSpec), the
    /// cluster keeps being managed as this spec says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_accepted: Option<LastAccepted>,
    /// The KRaft controller quorum as its leader reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_quorum: Option<ControllerQuorumStatus>,
}

/// Progress of a rebalance or drain, derived from Kafka's state on each pass.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebalanceStatus {
    /// `rebalance` or `drain`.
    pub operation: String,
    /// COMPLETE, IN_PROGRESS, WAITING (paused or waiting for brokers) or ERROR (refused).
    pub state: StepState,
    /// What is happening, or why it cannot.
    pub message: String,
    /// The broker ids the partitions are balanced over (once COMPLETE: the set last balanced).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub brokers: Vec<i32>,
    /// The value of the `kraftwerk.dev/rebalance` annotation this rebalance serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// Partitions the plan still has to move (in flight included).
    #[serde(default)]
    pub partitions_to_move: i32,
    /// Partitions moved by this operation so far.
    #[serde(default)]
    pub partitions_moved: i32,
    /// Partitions whose reassignment Kafka reports in progress.
    #[serde(default)]
    pub in_flight: i32,
    /// Bytes still to copy, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_to_move: Option<i64>,
}

/// A spec that passed validation, recorded in status (which spec editors cannot write) so a
/// restarted operator finds it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastAccepted {
    /// The generation of the KafkaCluster whose spec this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// The accepted spec, verbatim (kept opaque: the spec's own rules are not re-run on status
    /// writes).
    #[schemars(schema_with = "opaque_object")]
    pub spec: serde_json::Value,
}

/// The KRaft controller quorum.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControllerQuorumStatus {
    /// `Dynamic` (KIP-853: `controller.quorum.bootstrap.servers`, voters change one at a time)
    /// or `Static` (`controller.quorum.voters`, fixed when the cluster was formatted).
    pub mode: String,
    /// The controllers formatted as the initial voters (`--initial-controllers`), recorded
    /// before the first controller was created; a controller created later joins as an observer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub initial_voters: Vec<i32>,
    /// The voters, as the quorum leader last reported them (dynamic quorum only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub voters: Vec<QuorumVoterStatus>,
    /// The voter change under way, or why it waits; absent when the voters match the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One voter of the controller quorum.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuorumVoterStatus {
    /// The controller's node id.
    pub id: i32,
    /// The directory id of its metadata log directory (`meta.properties`); a controller whose
    /// volume is replaced comes back with a new one and is re-added as a voter.
    pub directory_id: String,
}

/// Effective durability settings as Kafka reports them (DescribeConfigs of a broker), after the
/// operator corrected the cluster-level values it owns.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DurabilityStatus {
    /// `default.replication.factor`: the replication factor of topics created without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<i32>,
    /// `min.insync.replicas` in force for topics without their own value: replicas that must
    /// have an `acks=all` write before it is acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_in_sync_replicas: Option<i32>,
    /// What Kafka runs with that the KafkaCluster does not say and the operator does not
    /// change (cluster-level keys set outside it, per-broker overrides, static values awaiting a
    /// restart); also a `DurabilityDrift` Warning Event when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<String>,
}

/// A DC/OS-like plan of the rollout.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// COMPLETE, IN_PROGRESS, WAITING (held, gated or paused) or ERROR.
    pub state: StepState,
    /// Why the rollout is in this state.
    pub message: String,
    /// Set while a canary holds the roll: the change to approve, as the value of the
    /// KafkaCluster annotation `kraftwerk.dev/canary-approved` (`kraftwerk plan --approve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting_approval: Option<String>,
    /// `controllers`, then `brokers`, then `upgrade` while a version change is not finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<RolloutPhase>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutPhase {
    pub name: String,
    pub state: StepState,
    /// What the phase does now (phases without per-node steps, such as `upgrade`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Steps left out of `steps`: phases of more than 100 nodes list only unfinished steps, at
    /// most 100.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub steps_omitted: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<RolloutStep>,
}

/// One node's step: PENDING, IN_PROGRESS, WAITING, COMPLETE or ERROR.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStep {
    pub id: i32,
    pub pod: String,
    pub state: StepState,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// Where clients reach one listener.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerStatus {
    pub name: String,
    /// `internal`, `nodeport` or `loadbalancer`.
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// Where clients bootstrap: the bootstrap Service's DNS name (internal), node addresses
    /// and the bootstrap node port (nodeport) or the load balancer's address; empty while not
    /// known yet.
    pub bootstrap_servers: String,
    /// `host:port` each broker advertises on this listener; a broker whose address is not
    /// known yet is missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub brokers: Vec<BrokerAddress>,
}

/// A broker's advertised address on one listener.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerAddress {
    pub id: i32,
    pub address: String,
}

/// The observed state of one Kafka node.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Kafka node id.
    pub id: i32,
    /// `broker` or `controller`.
    pub role: Role,
    /// Pod name.
    pub pod: String,
    /// Kubernetes node the pod is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The pod is Ready.
    pub ready: bool,
    /// The pod runs the current configuration (false while a restart is pending).
    #[serde(default = "default_true")]
    pub up_to_date: bool,
    /// The Kafka version the pod runs (its image's release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The release line Kafka reports for the node (from the highest `metadata.version` it
    /// supports, ApiVersions), read during version changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_version: Option<String>,
    /// Placement constraints this pod's current node does not satisfy (they changed since the
    /// pod was placed); replacing the pod moves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<String>,
    /// Why the node is not ready, when known (e.g. the scheduler's message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

fn default_true() -> bool {
    true
}

fn opaque_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

pub(crate) fn conditions_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert("x-kubernetes-list-map-keys".into(), serde_json::json!(["type"]));
    schema
}
