//! Pure builders: a [`ValidatedCluster`] becomes every object the cluster needs, in apply order.
//! No builder reads the raw spec or does I/O; each has unit tests with fixed inputs.

mod config_map;
mod pdb;
mod pod;
pub mod properties;
mod pvc;
mod scheduling;
mod service;

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde::Serialize;

use crate::names::Role;
use crate::validate::ValidatedCluster;

pub use config_map::SERVER_PROPERTIES;
pub use pod::{CONTAINER_NAME, config_hash};

/// One desired object. (Variants differ in size; a cluster has a few dozen, so boxing buys nothing.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Object {
    Service(Service),
    ConfigMap(ConfigMap),
    PersistentVolumeClaim(PersistentVolumeClaim),
    PodDisruptionBudget(PodDisruptionBudget),
    Pod(Pod),
}

impl Object {
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Service(_) => "Service",
            Object::ConfigMap(_) => "ConfigMap",
            Object::PersistentVolumeClaim(_) => "PersistentVolumeClaim",
            Object::PodDisruptionBudget(_) => "PodDisruptionBudget",
            Object::Pod(_) => "Pod",
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Service(o) => &o.metadata,
            Object::ConfigMap(o) => &o.metadata,
            Object::PersistentVolumeClaim(o) => &o.metadata,
            Object::PodDisruptionBudget(o) => &o.metadata,
            Object::Pod(o) => &o.metadata,
        }
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }
}

/// Every object of a cluster, in the order they must be applied:
/// Services first (DNS must exist before any broker starts), then per-node configuration and
/// claims, disruption budgets, controller pods, and broker pods last.
pub fn desired_objects(cluster: &ValidatedCluster, owner: Option<&OwnerReference>) -> Vec<Object> {
    let mut objects = vec![
        Object::Service(service::headless(cluster, owner)),
        Object::Service(service::bootstrap(cluster, owner)),
    ];
    for pool in cluster.pools() {
        for &id in &pool.ids {
            objects.push(Object::ConfigMap(config_map::node_config(
                cluster, pool.role, id, owner,
            )));
        }
    }
    for pool in cluster.pools() {
        for &id in &pool.ids {
            objects.push(Object::PersistentVolumeClaim(pvc::node_claim(
                cluster, pool.role, id, owner,
            )));
        }
    }
    for pool in cluster.pools() {
        objects.push(Object::PodDisruptionBudget(pdb::pool_budget(
            cluster, pool.role, owner,
        )));
    }
    for role in [Role::Controller, Role::Broker] {
        for &id in &cluster.pool(role).ids {
            objects.push(Object::Pod(pod::node_pod(cluster, role, id, owner)));
        }
    }
    objects
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
