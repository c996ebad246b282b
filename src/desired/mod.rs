//! Pure builders: a [`ValidatedCluster`] becomes every object the cluster needs, in apply order.
//! No builder reads the raw spec or does I/O; each has unit tests with fixed inputs.

mod config_map;
pub mod java_properties;
mod network_policy;
mod pdb;
mod pod;
pub mod properties;
mod pvc;
mod scheduling;
pub mod security;
mod service;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::ApiResource;
use serde::Serialize;

use crate::annotations;
use crate::names::Role;
use crate::roll::dynamic;
use crate::validate::ValidatedCluster;

pub use config_map::SERVER_PROPERTIES;
pub use pod::{CONTAINER_NAME, INITIAL_CONTROLLERS_ENV, config_hash, format_args};

/// One desired object. (Variants differ in size; a cluster has a few dozen, so boxing buys nothing.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Object {
    Service(Service),
    ConfigMap(ConfigMap),
    PersistentVolumeClaim(PersistentVolumeClaim),
    PodDisruptionBudget(PodDisruptionBudget),
    NetworkPolicy(NetworkPolicy),
    Pod(Pod),
}

impl Object {
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Service(_) => "Service",
            Object::ConfigMap(_) => "ConfigMap",
            Object::PersistentVolumeClaim(_) => "PersistentVolumeClaim",
            Object::PodDisruptionBudget(_) => "PodDisruptionBudget",
            Object::NetworkPolicy(_) => "NetworkPolicy",
            Object::Pod(_) => "Pod",
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Service(o) => &o.metadata,
            Object::ConfigMap(o) => &o.metadata,
            Object::PersistentVolumeClaim(o) => &o.metadata,
            Object::PodDisruptionBudget(o) => &o.metadata,
            Object::NetworkPolicy(o) => &o.metadata,
            Object::Pod(o) => &o.metadata,
        }
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    /// The API of this object's kind.
    pub fn api_resource(&self) -> ApiResource {
        Self::api_resource_of(self.kind()).unwrap_or_else(|| ApiResource::erase::<Pod>(&()))
    }

    /// The API of a kind the operator builds.
    pub fn api_resource_of(kind: &str) -> Option<ApiResource> {
        Some(match kind {
            "Service" => ApiResource::erase::<Service>(&()),
            "ConfigMap" => ApiResource::erase::<ConfigMap>(&()),
            "PersistentVolumeClaim" => ApiResource::erase::<PersistentVolumeClaim>(&()),
            "PodDisruptionBudget" => ApiResource::erase::<PodDisruptionBudget>(&()),
            "NetworkPolicy" => ApiResource::erase::<NetworkPolicy>(&()),
            "Pod" => ApiResource::erase::<Pod>(&()),
            _ => return None,
        })
    }
}

/// One node's configuration, rendered once: the ConfigMap carries its text, the pod its digest
/// (the config hash), and the roll its split into what needs a restart and what Kafka applies
/// live.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeConfig {
    pub role: Role,
    pub id: i32,
    /// The node's pod (and ConfigMap) name.
    pub pod: String,
    /// The properties, unescaped, in file order.
    pub properties: Vec<(String, String)>,
    /// `server.properties` as written to the ConfigMap.
    pub text: String,
    /// The pod's `kraftwerk.dev/config-hash`: properties and pod spec.
    pub config_hash: String,
    /// What only a restart changes: properties except the dynamic keys, pod spec except
    /// scheduling.
    pub static_hash: String,
    /// The dynamic broker keys and their (escaped) values; empty for controllers.
    pub dynamic: BTreeMap<String, String>,
}

/// Everything a cluster needs: its objects in apply order, and each node's configuration.
#[derive(Clone, Debug)]
pub struct Desired {
    pub objects: Vec<Object>,
    pub nodes: Vec<NodeConfig>,
}

impl Desired {
    pub fn pods(&self) -> impl Iterator<Item = &Pod> {
        self.objects.iter().filter_map(|o| match o {
            Object::Pod(p) => Some(p),
            _ => None,
        })
    }

    pub fn node(&self, id: i32) -> Option<&NodeConfig> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The durability settings the brokers' rendering asks for (the first broker's: every
    /// broker renders the same tunable keys).
    pub fn durability(&self) -> crate::durability::Desired {
        self.nodes
            .iter()
            .find(|n| n.role == Role::Broker)
            .map(|n| crate::durability::desired_from_properties(&n.properties))
            .unwrap_or_default()
    }
}

/// A node's role, id, properties and their file text.
type Rendered = (Role, i32, Vec<(String, String)>, String);

/// Every object of a cluster, in the order they must be applied:
/// Services first (DNS must exist before any broker starts), then per-node configuration and
/// claims, disruption budgets, controller pods, and broker pods last.
pub fn build(cluster: &ValidatedCluster, owner: Option<&OwnerReference>) -> Desired {
    let mut objects = vec![
        Object::Service(service::headless(cluster, owner)),
        Object::Service(service::bootstrap(cluster, owner)),
    ];
    objects.extend(service::external_bootstrap(cluster, owner).map(Object::Service));
    // Before any pod: a pod never runs unprotected.
    objects.extend(network_policy::cluster_policy(cluster, owner).map(Object::NetworkPolicy));
    objects.extend(
        cluster
            .brokers
            .ids
            .iter()
            .filter_map(|&id| service::broker(cluster, id, owner))
            .map(Object::Service),
    );
    let rendered: Vec<Rendered> = [Role::Controller, Role::Broker]
        .into_iter()
        .flat_map(|role| cluster.pool(role).ids.iter().map(move |&id| (role, id)))
        .map(|(role, id)| {
            let props = properties::node_properties(cluster, role, id);
            let text = properties::render_text(cluster, role, id, &props);
            (role, id, props, text)
        })
        .collect();
    for (role, id, _, text) in &rendered {
        objects.push(Object::ConfigMap(config_map::node_config(
            cluster, *role, *id, text, owner,
        )));
    }
    for (role, id, _, _) in &rendered {
        objects.push(Object::PersistentVolumeClaim(pvc::node_claim(
            cluster, *role, *id, owner,
        )));
    }
    for pool in cluster.pools() {
        objects.push(Object::PodDisruptionBudget(pdb::pool_budget(
            cluster, pool.role, owner,
        )));
    }
    let mut nodes = Vec::new();
    for (role, id, props, text) in rendered {
        let hashed: Vec<(String, String)> = props
            .iter()
            .filter(|(k, _)| !properties::NOT_HASHED.contains(&k.as_str()))
            .cloned()
            .collect();
        let hashed_text = properties::render_text(cluster, role, id, &hashed);
        let mut pod = pod::node_pod(cluster, role, id, &hashed_text, owner);
        nodes.push(node_config(role, id, &pod, props, text));
        pod::with_initial_controllers(cluster, role, id, &mut pod);
        objects.push(Object::Pod(pod));
    }
    Desired { objects, nodes }
}

fn node_config(role: Role, id: i32, pod: &Pod, props: Vec<(String, String)>, text: String) -> NodeConfig {
    let escaped: BTreeMap<String, String> = props
        .iter()
        .filter(|(k, _)| !properties::NOT_HASHED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), properties::escape(v)))
        .collect();
    let dynamic = match role {
        Role::Broker => dynamic::dynamic_part(&escaped),
        Role::Controller => BTreeMap::new(),
    };
    NodeConfig {
        role,
        id,
        pod: pod.metadata.name.clone().unwrap_or_default(),
        config_hash: pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(annotations::CONFIG_HASH))
            .cloned()
            .unwrap_or_default(),
        static_hash: dynamic::static_hash(&escaped, pod.spec.as_ref()),
        dynamic,
        properties: props,
        text,
    }
}

/// The objects of [`desired`] alone.
pub fn desired_objects(cluster: &ValidatedCluster, owner: Option<&OwnerReference>) -> Vec<Object> {
    build(cluster, owner).objects
}

/// The common metadata of an object the operator owns.
fn meta(
    name: String,
    cluster: &ValidatedCluster,
    labels: std::collections::BTreeMap<String, String>,
    owner: Option<&OwnerReference>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(cluster.names.namespace.clone()),
        labels: Some(labels),
        owner_references: owner.map(|o| vec![o.clone()]),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
