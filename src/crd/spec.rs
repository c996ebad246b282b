use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, LocalObjectReference, PodSecurityContext, ResourceRequirements, SecurityContext, Toleration,
    TopologySpreadConstraint,
};
use k8s_openapi::api::networking::v1::NetworkPolicyPeer;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::bounds::{
    ADVERTISED_HOST, DNS1123_LABEL, DNS1123_SUBDOMAIN, IMAGE, LISTENER_NAME, QUALIFIED_NAME,
};
use super::{DEFAULT_KAFKA_VERSION, KafkaClusterStatus};

/// A Kafka cluster in KRaft mode: a controller quorum and a pool of brokers.
///
/// `metadata.name` plus `spec: {}` is a complete evaluation cluster: 3 controllers, 3 brokers,
/// one PLAINTEXT listener on 9092, persistent storage.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "kraftwerk.dev",
    version = "v1alpha1",
    kind = "KafkaCluster",
    namespaced,
    shortname = "kc",
    status = "KafkaClusterStatus",
    derive = "PartialEq",
    derive = "Default",
    scale = r#"{"specReplicasPath":".spec.brokers.replicas","statusReplicasPath":".status.replicas","labelSelectorPath":".status.selector"}"#,
    printcolumn = r#"{"name":"Brokers","type":"integer","jsonPath":".spec.brokers.replicas","description":"Desired brokers"}"#,
    printcolumn = r#"{"name":"Ready-Brokers","type":"integer","jsonPath":".status.readyBrokers","description":"Brokers whose pod is ready"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".spec.version","description":"Kafka version"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Rollout","type":"string","jsonPath":".status.rollout.state","description":"IN_PROGRESS while a change rolls (Ready stays True), WAITING while paused or a canary waits, COMPLETE"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Bootstrap","type":"string","priority":1,"jsonPath":".status.bootstrapServers"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new(super::bounds::CLUSTER_NAME_RULE).message(super::bounds::CLUSTER_NAME_MESSAGE).reason(Reason::FieldValueInvalid)
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.interBrokerListener) || self.listeners.exists(l, l.name == self.interBrokerListener)").message("spec.interBrokerListener must name one of spec.listeners"))]
#[x_kube(validation = Rule::new("!has(self.controllerListener) || self.listeners.all(l, l.port != self.controllerListener.port)").message("spec.listeners[].port must differ from spec.controllerListener.port"))]
#[x_kube(validation = Rule::new(INTERNAL_TLS_IMMUTABLE_RULE).message("spec.security.tls.enabled cannot change after creation: switching internal TLS would cut the KRaft quorum and replication between restarted and not yet restarted nodes").field_path(".security"))]
#[x_kube(validation = Rule::new("!(has(self.security) && has(self.security.tls) && has(self.security.tls.enabled) && self.security.tls.enabled) || (!has(self.interBrokerListener) && self.listeners.all(l, l.name != 'REPLICATION' && l.port != 9091) && self.controllerListener.port != 9091)").message("with spec.security.tls.enabled the REPLICATION listener (port 9091) carries inter-broker traffic: no listener may be named REPLICATION or use port 9091, and spec.interBrokerListener must be unset"))]
#[x_kube(validation = Rule::new(AUTHORIZATION_NEEDS_TLS_RULE).message(crate::auth::AUTHORIZATION_NEEDS_TLS).field_path(".security.authorization"))]
#[x_kube(validation = Rule::new(INTER_BROKER_AUTHENTICATION_RULE).message("spec.listeners[].authentication: the inter-broker listener (spec.interBrokerListener, else the first listener) cannot require authentication unless spec.security.tls.enabled (the REPLICATION listener then carries inter-broker traffic)"))]
pub struct KafkaClusterSpec {
    /// Apache Kafka version (4.x). Also selects the default image tag.
    #[serde(default = "default_version")]
    #[schemars(length(min = 1, max = 32))]
    #[x_kube(validation = Rule::new("self.matches('^4\\\\.[0-9]+\\\\.[0-9]+$')").message("version must be a Kafka 4.x release such as 4.3.1"))]
    pub version: String,

    /// The `metadata.version` to hold the cluster at: a level name (`4.2-IV1`) or a release
    /// line (`4.2`, its default level). Unset: after a version change the cluster is finalised
    /// at the release's default once every node runs it. A pin keeps the option of a binary
    /// downgrade to a release that runs that level; Kafka never lowers a finalized level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+\\\\.[0-9]+(-IV[0-9]+)?$')").message("metadataVersion must be a level such as 4.2-IV1 or a release line such as 4.2"))]
    pub metadata_version: Option<String>,

    /// Container image; defaults to `apache/kafka:<version>`. Must follow the official image's layout
    /// (`/opt/kafka/bin/kafka-storage.sh`, `/opt/kafka/bin/kafka-server-start.sh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512), regex(pattern = IMAGE))]
    pub image: Option<String>,

    /// Image pull policy: Always, IfNotPresent or Never. Kubernetes' default applies when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self in ['Always', 'IfNotPresent', 'Never']").message("imagePullPolicy must be Always, IfNotPresent or Never"))]
    pub image_pull_policy: Option<String>,

    /// Secrets for pulling the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub image_pull_secrets: Vec<LocalObjectReference>,

    /// The broker pool. Broker node ids are the first `replicas` ids from 0 up that are not in
    /// `brokers.removedIds`.
    #[serde(default)]
    pub brokers: BrokerPoolSpec,

    /// The KRaft controller quorum. Controller node ids are 9000 + index.
    #[serde(default)]
    pub controllers: ControllerPoolSpec,

    /// Client listeners. Defaults to one PLAINTEXT listener `INTERNAL` on 9092, which is also the
    /// inter-broker listener (unless `security.tls.enabled`: then the reserved `REPLICATION`
    /// listener is).
    #[serde(default = "default_listeners")]
    #[x_kube(validation = Rule::new("size(self) >= 1").message("at least one listener is required"))]
    #[x_kube(validation = Rule::new("self.all(l, self.exists_one(m, m.port == l.port))").message("listener ports must be unique"))]
    #[schemars(length(max = 4), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub listeners: Vec<ListenerSpec>,

    /// The KRaft controller listener.
    #[serde(default)]
    pub controller_listener: ControllerListenerSpec,

    /// Name of the listener brokers use among themselves; defaults to the first listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15), regex(pattern = LISTENER_NAME))]
    pub inter_broker_listener: Option<String>,

    /// `server.properties` overrides for every node. Keys the operator owns (node.id, process.roles,
    /// listeners, controller.quorum.*, log.dirs, ...) are refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::crd::spec::config_map_schema")]
    pub config: BTreeMap<String, serde_json::Value>,

    /// Rack awareness: set `broker.rack` from a label of the node each broker runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<RackSpec>,

    /// How configuration changes and restarts roll through the nodes (see docs/rolling.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutSpec>,

    /// Prometheus metrics of every Kafka pod, on the container port named `metrics` (see
    /// docs/metrics.md). On by default, port 9404.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsSpec>,

    /// The cluster's NetworkPolicy (see docs/security.md#network-isolation). On by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_policy: Option<NetworkPolicySpec>,

    /// Partition rebalancing after a broker scale-up and broker drain before a scale-down
    /// (see docs/operations.md). On by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebalance: Option<RebalanceSpec>,

    /// TLS (and, later, authentication and authorization) of the whole cluster (see
    /// docs/security.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SecuritySpec>,

    /// Redeployment after outages: pods stranded on a lost Kubernetes node, and pods that run
    /// where the placement constraints no longer allow (see docs/operations.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoverySpec>,
}

/// What the operator does when a node's pod cannot run where it is.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RecoverySpec {
    /// `Automatic` (default): a pod stranded on a lost node is force-deleted and recreated
    /// elsewhere (a node-local volume is replaced), one node at a time. `Manual`: status and
    /// Events name the lost node and the command to run; nothing is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<RecoveryPolicy>,
    /// How long a Kubernetes node must be NotReady (or Unknown) before its pods count as lost.
    /// Default 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5, max = 86400))]
    pub node_loss_timeout_seconds: Option<u32>,
    /// Replace (new volume, placement re-evaluated) the pods that run where their pool's
    /// placement constraints no longer allow, one at a time and gated like a roll. Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replace_misplaced: bool,
}

/// How lost nodes are recovered.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RecoveryPolicy {
    #[default]
    Automatic,
    Manual,
}

/// Where the CA comes from (generated, or which Secret) stays as it was (a transition rule).
const CA_SOURCE_IMMUTABLE_RULE: &str = "(has(self.ca) && has(self.ca.secretName)) == (has(oldSelf.ca) && has(oldSelf.ca.secretName)) && (!has(self.ca) || !has(self.ca.secretName) || self.ca.secretName == oldSelf.ca.secretName)";
/// Without internal TLS the inter-broker listener (named, else the first) has no authentication.
const INTER_BROKER_AUTHENTICATION_RULE: &str = "(has(self.security) && has(self.security.tls) && has(self.security.tls.enabled) && self.security.tls.enabled) || size(self.listeners) == 0 || self.listeners.all(l, !has(l.authentication) || l.name != (has(self.interBrokerListener) ? self.interBrokerListener : self.listeners[0].name))";

/// Authorization only with internal TLS (see [`crate::auth::check_listeners`]).
const AUTHORIZATION_NEEDS_TLS_RULE: &str = "!has(self.security) || !has(self.security.authorization) || (has(self.security.tls) && has(self.security.tls.enabled) && self.security.tls.enabled)";

/// Internal TLS stays as it was created (a transition rule: only checked on updates).
const INTERNAL_TLS_IMMUTABLE_RULE: &str = "(has(self.security) && has(self.security.tls) && has(self.security.tls.enabled) && self.security.tls.enabled) == (has(oldSelf.security) && has(oldSelf.security.tls) && has(oldSelf.security.tls.enabled) && oldSelf.security.tls.enabled)";

/// The NetworkPolicy of the cluster's pods: the controller port only from the cluster's own
/// pods, each listener from its `from` peers, the metrics port from the monitoring namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// Set to false to create no NetworkPolicy (every pod may connect to every port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Namespace whose pods may scrape the metrics port (e.g. `monitoring`). Unset: pods of
    /// the cluster's own namespace only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS1123_LABEL))]
    pub metrics_namespace: Option<String>,
    /// Namespace the operator runs in (its admin client reaches every listener and the
    /// controller port). Default: the operator's own namespace, as it knows it
    /// (`POD_NAMESPACE`, the chart's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS1123_LABEL))]
    pub operator_namespace: Option<String>,
}

impl NetworkPolicySpec {
    /// The NetworkPolicy is on unless switched off.
    pub fn enabled(spec: Option<&Self>) -> bool {
        spec.and_then(|n| n.enabled).unwrap_or(true)
    }
}

/// Rebalancing controls. Partition moves run in batches under a replication throttle, and hold
/// while `rollout.paused` is true.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RebalanceSpec {
    /// Set to false to never move partitions on a scale-up (drains before a scale-down still run:
    /// a broker holding replicas is never removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Replication throttle for moving replicas, bytes per second per broker. Default 50 MiB/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024, max = 10_737_418_240_i64))]
    pub throttle_bytes_per_second: Option<i64>,
    /// Partitions moving at once. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_partitions_in_flight: Option<u32>,
}

/// Kafka's metrics in the Prometheus format: the JMX exporter java agent the image carries
/// (`/opt/kafka/jmx-exporter/`), started with the broker or controller process only.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSpec {
    /// Expose metrics (default true); false starts Kafka without the agent and without the port.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Container port of the metrics endpoint (`/metrics`), named `metrics`. Default 9404.
    #[serde(default = "default_metrics_port")]
    #[schemars(range(min = 1024, max = 65535))]
    pub port: i32,
}

fn default_true() -> bool {
    true
}

/// The JMX exporter's customary port.
pub const DEFAULT_METRICS_PORT: i32 = 9404;

fn default_metrics_port() -> i32 {
    DEFAULT_METRICS_PORT
}

/// Rollout controls. Nodes restart one at a time, controllers first (quorum leader last), each
/// gated on Kafka's safety checks and waited for until it is back in every ISR.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// Hold every restart and live reconfiguration until set back to false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// Stop after the first node of each change runs it; set to false to roll the rest.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub canary: bool,
    /// Opt-in rack-batched mode: restart up to this many brokers of one rack at once, when the
    /// broker safety check passes for the whole batch. Default 1 (one node at a time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub max_batch_per_rack: Option<u32>,
    /// How long a restarted node may take to be back (Ready, unfenced, in every ISR) before the
    /// roll reports Degraded. Default 600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 86400))]
    pub restart_timeout_seconds: Option<u32>,
    /// After a version change, how long every node must have run the new release (and the roll
    /// been healthy) before `metadata.version` is finalised. Default 0 (as soon as it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 2592000))]
    pub finalize_after_seconds: Option<u32>,
}

/// Broker pool settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BrokerPoolSpec {
    /// Number of brokers. A broker that goes away is drained first (its partitions move to the
    /// remaining brokers); the scale-down is refused when that is impossible.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 1, max = 9000))]
    pub replicas: i32,
    /// Broker ids that are removed for good (decommissioned): the pool runs the first `replicas`
    /// ids from 0 up that are not listed, so e.g. `replicas: 3, removedIds: [1, 3]` runs 0, 2, 4.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000), inner(range(min = 0, max = 8999)))]
    pub removed_ids: Vec<i32>,
    #[serde(flatten)]
    pub pool: PoolSpec,
}

/// Controller quorum settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ControllerPoolSpec {
    /// Number of KRaft controllers: 1, 3 or 5. Fixed once the cluster exists (static quorum).
    #[serde(default = "default_replicas")]
    #[x_kube(validation = Rule::new("self in [1, 3, 5]").message("controllers.replicas must be 1, 3 or 5"))]
    #[schemars(range(min = 1, max = 5))]
    pub replicas: i32,
    #[serde(flatten)]
    pub pool: PoolSpec,
}

/// Settings shared by both pools.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.jvm) || !has(self.jvm.heap) || !has(self.resources) || !has(self.resources.limits) || !('memory' in self.resources.limits) || quantity(self.jvm.heap).isLessThan(quantity(string(self.resources.limits['memory'])))").message("jvm.heap must be smaller than resources.limits.memory"))]
#[x_kube(validation = Rule::new("!has(self.resources) || ['cpu', 'memory', 'ephemeral-storage'].all(r, (!has(self.resources.requests) || !(r in self.resources.requests) || isQuantity(string(self.resources.requests[r]))) && (!has(self.resources.limits) || !(r in self.resources.limits) || isQuantity(string(self.resources.limits[r]))))").message("resources.requests and resources.limits of cpu, memory and ephemeral-storage must be quantities such as 500m or 2Gi"))]
#[x_kube(validation = Rule::new("!has(self.resources) || !has(self.resources.requests) || !has(self.resources.limits) || ['cpu', 'memory', 'ephemeral-storage'].all(r, !(r in self.resources.requests) || !(r in self.resources.limits) || !isQuantity(string(self.resources.requests[r])) || !isQuantity(string(self.resources.limits[r])) || quantity(string(self.resources.requests[r])).compareTo(quantity(string(self.resources.limits[r]))) <= 0)").message("resources.requests must not exceed resources.limits"))]
#[x_kube(validation = Rule::new("!has(self.resources) || !has(self.resources.claims) || size(self.resources.claims) == 0").message("resources.claims is not supported: the Kafka pods declare no resource claims"))]
pub struct PoolSpec {
    /// CPU and memory. Defaults: brokers request 500m/2Gi (limit 2Gi), controllers 250m/1Gi (limit 1Gi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// JVM settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jvm: Option<JvmSpec>,

    /// Persistent storage, one PVC per node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,

    /// `server.properties` overrides for this pool; they win over the cluster-wide `config`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::crd::spec::config_map_schema")]
    pub config: BTreeMap<String, serde_json::Value>,

    /// Pod template fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<PodTemplateSpec>,

    /// Placement constraints in the DC/OS/Marathon syntax, combined with the template's native
    /// scheduling fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementSpec>,

    /// Run the pool's pods in the node's network namespace (as DC/OS brokers used host ports):
    /// every Kafka and metrics port is taken on the node. Pods of any cluster taking the same
    /// port are kept on different nodes, and clusters sharing a port are reported
    /// (`HostPortConflict`). See docs/security.md#hostnetwork.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_network: bool,
}

/// JVM settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct JvmSpec {
    /// Heap size (-Xms and -Xmx) as a quantity, e.g. `1Gi`. Defaults to half the memory limit
    /// (or request), at most 6Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isQuantity(self) && quantity(self).isGreaterThan(quantity('64Mi'))").message("jvm.heap must be a quantity larger than 64Mi"))]
    pub heap: Option<String>,
    /// Extra JVM options appended to KAFKA_OPTS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 1024)))]
    pub options: Vec<String>,
}

/// Persistent storage of a pool.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(oldSelf.size) || (has(self.size) && quantity(self.size).compareTo(quantity(oldSelf.size)) >= 0)").message("storage.size cannot shrink"))]
#[x_kube(validation = Rule::new("has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)").message("storage.storageClassName cannot change"))]
pub struct StorageSpec {
    /// Volume size per node. Defaults: 10Gi for brokers, 2Gi for controllers. May grow (when the
    /// storage class allows expansion), never shrink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))").message("storage.size must be a positive quantity such as 10Gi"))]
    #[schemars(length(min = 1, max = 32))]
    pub size: Option<String>,
    /// Storage class; the cluster default when unset. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN))]
    pub storage_class_name: Option<String>,
    /// Delete the claims when the KafkaCluster is deleted. Default false: data outlives the cluster.
    #[serde(default)]
    pub delete_claim: bool,
}

/// Pod template fields a pool may set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateSpec {
    /// Pod annotations (keys are checked by the operator).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "super::bounds::annotation_map_schema")]
    pub annotations: BTreeMap<String, String>,
    /// Pod labels (keys are checked by the operator; `kraftwerk.dev/` and `app.kubernetes.io/`
    /// keys the operator sets are refused).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "super::bounds::label_map_schema")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "super::bounds::label_map_schema")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub tolerations: Vec<Toleration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN))]
    pub priority_class_name: Option<String>,
    /// Pod security context, merged over the hardened default (non-root uid/gid/fsGroup 1000,
    /// the official image's user; RuntimeDefault seccomp): fields set here win, the rest stays.
    /// Values that drop the hardening (root, no seccomp) are reported (condition and Event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    /// The Kafka container's security context, merged over the hardened default (read-only
    /// root filesystem, no privilege escalation, every capability dropped, not privileged).
    /// Values that drop the hardening are reported (condition and Event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_security_context: Option<SecurityContext>,
    /// Time Kafka gets for a controlled shutdown. Default 120.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 86400))]
    pub termination_grace_period_seconds: Option<i64>,
    /// Service account for the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN))]
    pub service_account_name: Option<String>,
}

/// DC/OS-style placement.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PlacementSpec {
    /// Marathon constraints, e.g. `hostname:MAX_PER:1` or `[["@zone","GROUP_BY","3"]]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub constraints: Option<String>,
}

/// Rack awareness.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RackSpec {
    /// Node label whose value becomes `broker.rack`, e.g. `topology.kubernetes.io/zone`.
    #[schemars(length(min = 1, max = 317), regex(pattern = QUALIFIED_NAME))]
    pub topology_key: String,
}

/// A client listener. Its Kafka security protocol is derived from `tls` and `authentication`:
/// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(LISTENER_PROTOCOL_RULE).message("spec.listeners[].protocol is derived from tls and authentication (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL): leave it out, or set the derived value"))]
#[x_kube(validation = Rule::new("!has(self.authentication) || self.authentication.type != 'tls' || (has(self.tls) && self.tls)").message("spec.listeners[].authentication.type tls needs tls: true"))]
#[x_kube(validation = Rule::new("!has(self.certificateSecret) || (has(self.tls) && self.tls)").message("spec.listeners[].certificateSecret needs tls: true"))]
pub struct ListenerSpec {
    /// Kafka listener name: upper case letters, digits and `_`, not `CONTROLLER`.
    #[x_kube(validation = Rule::new("self.matches('^[A-Z][A-Z0-9_]{0,14}$')").message("listener name must match ^[A-Z][A-Z0-9_]{0,14}$"))]
    #[x_kube(validation = Rule::new("!self.endsWith('_') && !self.contains('__')").message("listener name must not end with '_' or contain '__': its port name (lower case, '_' as '-') must be a valid IANA service name"))]
    #[x_kube(validation = Rule::new("self != 'CONTROLLER'").message("CONTROLLER is reserved for the KRaft controller listener"))]
    #[schemars(length(min = 1, max = 15))]
    pub name: String,
    /// Container and Service port.
    #[schemars(range(min = 1024, max = 65535))]
    pub port: i32,
    /// TLS on this listener, with the nodes' certificates (issued by the cluster CA, see
    /// `spec.security.tls`). Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls: bool,
    /// A Secret of the cluster's namespace (`tls.crt`: the certificate, then its chain;
    /// `tls.key`: its key, PEM) whose certificate the brokers serve on this listener instead
    /// of the cluster CA's. It must cover every name the listener advertises (the brokers' and
    /// the bootstrap Service's DNS names; `brokers[].advertisedHost` on external listeners).
    /// Needs `tls: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN))]
    pub certificate_secret: Option<String>,
    /// Client authentication on this listener; none when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<ListenerAuthentication>,
    /// Deprecated and derived: the security protocol follows from `tls` and `authentication`.
    /// Accepted for older manifests when it equals the derived value (or is PLAINTEXT on a
    /// listener without `tls`); leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub protocol: Option<String>,
    /// How clients reach the listener (see docs/security.md#external-access): `internal` (the
    /// in-cluster DNS names, the default), `nodeport` (a NodePort Service per broker plus a
    /// bootstrap one; brokers advertise their node's address and node port) or `loadbalancer`
    /// (a LoadBalancer Service per broker plus a bootstrap one; brokers advertise the load
    /// balancer's address). On a `hostNetwork` broker pool a `nodeport` listener is served on
    /// the node's own port (no per-broker Service).
    #[serde(default, rename = "type", skip_serializing_if = "ListenerType::is_internal")]
    pub type_: ListenerType,
    /// Node port of the bootstrap Service (`nodeport` only); allocated by Kubernetes when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub bootstrap_node_port: Option<i32>,
    /// For `nodeport` listeners: the node address brokers advertise, `ExternalIP` (default:
    /// the node's ExternalIP, else its InternalIP) or `InternalIP` (else ExternalIP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self in ['ExternalIP', 'InternalIP']").message("preferredNodeAddressType must be ExternalIP or InternalIP"))]
    #[schemars(length(max = 16))]
    pub preferred_node_address_type: Option<String>,
    /// Per-broker overrides: the advertised host and port (custom domains, a proxy in front),
    /// and a fixed node port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"]))]
    pub brokers: Vec<BrokerListenerSpec>,
    /// Who may connect, as NetworkPolicy peers (when `spec.networkPolicy` is on). Unset: every
    /// pod of the cluster's namespace for an `internal` listener, anywhere for the others.
    /// An empty list allows only the cluster's own pods and the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub from: Option<Vec<NetworkPolicyPeer>>,
}

/// How clients reach a listener.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ListenerType {
    #[default]
    Internal,
    Nodeport,
    Loadbalancer,
}

impl ListenerType {
    pub fn is_internal(&self) -> bool {
        *self == ListenerType::Internal
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ListenerType::Internal => "internal",
            ListenerType::Nodeport => "nodeport",
            ListenerType::Loadbalancer => "loadbalancer",
        }
    }
}

/// One broker's address on a listener.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct BrokerListenerSpec {
    /// The broker's node id.
    #[schemars(range(min = 0, max = 8999))]
    pub id: i32,
    /// Host name or IP the broker advertises on this listener, instead of the node address,
    /// load balancer address or in-cluster name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = ADVERTISED_HOST))]
    pub advertised_host: Option<String>,
    /// Port the broker advertises on this listener, instead of the node port or listener port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub advertised_port: Option<i32>,
    /// Fixed node port of this broker's Service (`nodeport` only); allocated when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub node_port: Option<i32>,
}

/// The derived security protocol in CEL (see [`ListenerSpec::security_protocol`]), and the
/// rule that a stated `protocol` agrees with it.
const LISTENER_PROTOCOL_RULE: &str = "!has(self.protocol) || (self.protocol == 'PLAINTEXT' && !(has(self.tls) && self.tls)) || self.protocol == ((has(self.authentication) && self.authentication.type == 'scram-sha-512') ? ((has(self.tls) && self.tls) ? 'SASL_SSL' : 'SASL_PLAINTEXT') : ((has(self.tls) && self.tls) ? 'SSL' : 'PLAINTEXT'))";

/// How clients authenticate on a listener.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ListenerAuthentication {
    /// `scram-sha-512` (SASL/SCRAM) or `tls` (mutual TLS: a client certificate; needs `tls: true`).
    #[serde(rename = "type")]
    pub type_: AuthenticationType,
}

/// A listener authentication type.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthenticationType {
    #[serde(rename = "scram-sha-512")]
    ScramSha512,
    #[serde(rename = "tls")]
    Tls,
}

impl ListenerSpec {
    /// The Kafka security protocol of this listener: SASL with SCRAM authentication, SSL with
    /// TLS (mutual TLS is SSL with client authentication required).
    pub fn security_protocol(&self) -> &'static str {
        let sasl = self
            .authentication
            .as_ref()
            .is_some_and(|a| a.type_ == AuthenticationType::ScramSha512);
        match (sasl, self.tls) {
            (false, false) => "PLAINTEXT",
            (false, true) => "SSL",
            (true, false) => "SASL_PLAINTEXT",
            (true, true) => "SASL_SSL",
        }
    }

    /// A listener without TLS or authentication.
    pub fn plaintext(name: &str, port: i32) -> Self {
        Self {
            name: name.into(),
            port,
            tls: false,
            certificate_secret: None,
            authentication: None,
            protocol: None,
            type_: ListenerType::Internal,
            bootstrap_node_port: None,
            preferred_node_address_type: None,
            brokers: Vec::new(),
            from: None,
        }
    }
}

/// Security settings of the whole cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecuritySpec {
    /// TLS between the nodes (controller and replication listeners) and the certificates every
    /// TLS listener uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClusterTlsSpec>,
    /// Authorization with Kafka's StandardAuthorizer: ACLs (managed through KafkaUser
    /// resources) decide what each principal may do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AuthorizationSpec>,
}

/// Cluster authorization.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationSpec {
    /// `simple`: Kafka's ACLs, `org.apache.kafka.metadata.authorizer.StandardAuthorizer`.
    #[serde(rename = "type")]
    #[x_kube(validation = Rule::new("self == 'simple'").message("security.authorization.type must be simple"))]
    #[schemars(length(max = 16))]
    pub type_: String,
    /// User names (principal `User:<name>`) allowed everything. The nodes' and the operator's own
    /// identities are always super users.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 64),
        inner(length(min = 1, max = 253), regex(pattern = "^[^;]+$"))
    )]
    pub super_users: Vec<String>,
    /// Allow a request on a resource that has no ACL at all. Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_everyone_if_no_acl_found: bool,
}

/// Cluster TLS: the cluster CA, the nodes' certificates, and internal TLS.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(CA_SOURCE_IMMUTABLE_RULE).message("spec.security.tls.ca.secretName cannot be set, changed or removed on an existing cluster: nodes would get certificates of a CA that the nodes not yet restarted do not trust"))]
pub struct ClusterTlsSpec {
    /// Internal TLS: the CONTROLLER listener and a reserved `REPLICATION` listener (port 9091,
    /// inter-broker traffic and the operator's own connections) use TLS with client
    /// certificates signed by the cluster CA. Fixed at creation: switching it on a running
    /// cluster would cut the KRaft quorum and replication between old and new nodes mid-roll.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enabled: bool,
    /// The cluster CA that signs every node certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<CaSpec>,
    /// The nodes' certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<CertificatesSpec>,
}

/// The cluster CA: generated and renewed by the operator, or brought by the user.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.validityDays) || !has(self.renewBeforeDays) || self.renewBeforeDays < self.validityDays").message("ca.renewBeforeDays must be less than ca.validityDays"))]
pub struct CaSpec {
    /// A Secret (same namespace) holding the user's CA as `tls.crt` and `tls.key` (PEM). The
    /// operator signs node certificates with it and never renews it. Unset: the operator
    /// generates the CA in `<cluster>-cluster-ca`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN))]
    pub secret_name: Option<String>,
    /// Validity of a generated CA. Default 1825 (five years).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 36500))]
    pub validity_days: Option<u32>,
    /// A generated CA is renewed this many days before it expires; old and new CA are both
    /// trusted until every node runs a certificate of the new one. Default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 36499))]
    pub renew_before_days: Option<u32>,
}

/// Node certificate lifetimes.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.validityDays) || !has(self.renewBeforeDays) || self.renewBeforeDays < self.validityDays").message("certificates.renewBeforeDays must be less than certificates.validityDays"))]
pub struct CertificatesSpec {
    /// Validity of a node certificate. Default 365.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 36500))]
    pub validity_days: Option<u32>,
    /// A node certificate is reissued (and its node restarted in a roll) this many days before
    /// it expires. Default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 36499))]
    pub renew_before_days: Option<u32>,
}

/// The KRaft controller listener.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ControllerListenerSpec {
    /// Port of the CONTROLLER listener on controller pods.
    #[serde(default = "default_controller_port")]
    #[schemars(range(min = 1024, max = 65535))]
    pub port: i32,
}

impl Default for BrokerPoolSpec {
    fn default() -> Self {
        Self {
            replicas: default_replicas(),
            removed_ids: Vec::new(),
            pool: PoolSpec::default(),
        }
    }
}

impl Default for ControllerPoolSpec {
    fn default() -> Self {
        Self {
            replicas: default_replicas(),
            pool: PoolSpec::default(),
        }
    }
}

impl Default for ControllerListenerSpec {
    fn default() -> Self {
        Self {
            port: default_controller_port(),
        }
    }
}

fn default_version() -> String {
    DEFAULT_KAFKA_VERSION.to_string()
}

fn default_replicas() -> i32 {
    3
}

impl BrokerPoolSpec {
    /// The broker ids to run: the first `replicas` ids from 0 up not in `removed_ids`.
    pub fn ids(&self) -> std::collections::BTreeSet<i32> {
        let removed: std::collections::BTreeSet<i32> = self.removed_ids.iter().copied().collect();
        (0..9000)
            .filter(|id| !removed.contains(id))
            .take(self.replicas.clamp(0, 9000) as usize)
            .collect()
    }
}

impl RebalanceSpec {
    /// Rebalancing on scale-up is on unless switched off.
    pub fn enabled(spec: Option<&Self>) -> bool {
        spec.and_then(|r| r.enabled).unwrap_or(true)
    }
}

fn default_controller_port() -> i32 {
    9093
}

/// The default listener set: one PLAINTEXT listener named INTERNAL on 9092.
pub fn default_listeners() -> Vec<ListenerSpec> {
    vec![ListenerSpec::plaintext("INTERNAL", 9092)]
}

/// `server.properties` overrides: string keys, scalar values (strings, numbers, booleans).
/// CEL cannot type a map of untyped values, so keys and values are checked by the operator.
/// Values are kept as JSON scalars so YAML users can write `num.partitions: 6` or
/// `auto.create.topics.enable: false`; anything else is refused with a status condition.
pub(crate) fn config_map_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "additionalProperties": { "x-kubernetes-preserve-unknown-fields": true }
    })
}
