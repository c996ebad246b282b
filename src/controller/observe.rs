//! Resolve: everything that exists for one cluster, read from the caches (no API request).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::ResourceExt;

use super::cache::{Caches, of_cluster};
use crate::annotations;
use crate::cluster_id;
use crate::desired::Object;
use crate::names::Role;
use crate::validate::{self, Existing};

/// Everything that exists for one cluster.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub pods: Vec<Pod>,
    pub pvcs: Vec<PersistentVolumeClaim>,
    pub config_maps: Vec<ConfigMap>,
    pub services: Vec<Service>,
    pub pdbs: Vec<PodDisruptionBudget>,
    /// The cluster's TLS Secrets.
    pub secrets: Vec<Secret>,
    pub network_policies: Vec<NetworkPolicy>,
    /// Pods of every cluster in the cache's scope that take host ports (`hostNetwork` pools),
    /// for the host port conflicts between clusters.
    pub host_port_pods: Vec<Pod>,
    /// Labels of every Kubernetes node, by name (placement and racks).
    pub node_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// Addresses of every Kubernetes node, by name (node port listeners).
    pub node_addresses: BTreeMap<String, Vec<k8s_openapi::api::core::v1::NodeAddress>>,
}

pub fn resolve(caches: &Caches, namespace: &str, cluster: &str) -> Observed {
    Observed {
        pods: of_cluster(&caches.pods, namespace, cluster),
        pvcs: of_cluster(&caches.pvcs, namespace, cluster),
        config_maps: of_cluster(&caches.config_maps, namespace, cluster),
        services: of_cluster(&caches.services, namespace, cluster),
        pdbs: of_cluster(&caches.pdbs, namespace, cluster),
        secrets: of_cluster(&caches.secrets, namespace, cluster),
        network_policies: of_cluster(&caches.network_policies, namespace, cluster),
        host_port_pods: caches
            .pods
            .state()
            .iter()
            .filter(|p| {
                p.labels()
                    .keys()
                    .any(|k| k.starts_with(crate::labels::HOST_PORT_PREFIX))
            })
            .map(|p| Pod::clone(p))
            .collect(),
        node_labels: caches.node_labels(),
        node_addresses: caches.node_addresses(),
    }
}

impl Observed {
    /// The observed object of the same kind and name as `desired`, as JSON.
    pub fn counterpart(&self, desired: &Object) -> Option<serde_json::Value> {
        let name = desired.name();
        let value = |o: Option<serde_json::Result<serde_json::Value>>| o.and_then(Result::ok);
        match desired {
            Object::Service(_) => value(find(&self.services, name).map(serde_json::to_value)),
            Object::ConfigMap(_) => value(find(&self.config_maps, name).map(serde_json::to_value)),
            Object::PersistentVolumeClaim(_) => value(find(&self.pvcs, name).map(serde_json::to_value)),
            Object::PodDisruptionBudget(_) => value(find(&self.pdbs, name).map(serde_json::to_value)),
            Object::NetworkPolicy(_) => value(find(&self.network_policies, name).map(serde_json::to_value)),
            Object::Pod(_) => value(find(&self.pods, name).map(serde_json::to_value)),
        }
    }

    /// What the external-access planner reads (`crate::listeners`).
    pub fn listener_inputs(&self) -> crate::listeners::Inputs<'_> {
        crate::listeners::Inputs {
            pods: &self.pods,
            services: &self.services,
            nodes: &self.node_addresses,
        }
    }

    pub fn pod(&self, name: &str) -> Option<&Pod> {
        find(&self.pods, name)
    }

    pub fn pvc(&self, name: &str) -> Option<&PersistentVolumeClaim> {
        find(&self.pvcs, name)
    }

    /// Every observed object except claims, as (kind, metadata): what pruning looks at.
    pub fn prunable(
        &self,
    ) -> Vec<(
        &'static str,
        &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    )> {
        let mut out = Vec::new();
        out.extend(self.services.iter().map(|o| ("Service", &o.metadata)));
        out.extend(self.config_maps.iter().map(|o| ("ConfigMap", &o.metadata)));
        out.extend(self.pdbs.iter().map(|o| ("PodDisruptionBudget", &o.metadata)));
        out.extend(
            self.network_policies
                .iter()
                .map(|o| ("NetworkPolicy", &o.metadata)),
        );
        out.extend(self.pods.iter().map(|o| ("Pod", &o.metadata)));
        out
    }

    /// Node ids of `role` that have a pod or a claim.
    pub fn existing_ids(&self, role: Role) -> BTreeSet<i32> {
        validate::existing_ids(&self.existing(BTreeSet::new(), false), role)
    }

    /// What validation needs to know of the cluster as it is; node labels only when a pool's
    /// placement uses them.
    pub fn existing(&self, retained_broker_ids: BTreeSet<i32>, with_nodes: bool) -> Existing {
        Existing {
            pods: self.pods.clone(),
            pvcs: self.pvcs.clone(),
            retained_broker_ids,
            retained_controller_ids: BTreeSet::new(),
            quorum_formed: false,
            initial_voters: BTreeSet::new(),
            quorum_upgraded: false,
            static_quorum: None,
            nodes: if with_nodes {
                self.node_labels.values().cloned().collect()
            } else {
                Vec::new()
            },
            tls_digests: BTreeMap::new(),
            listener_certs: String::new(),
            admin_tls: None,
        }
    }

    /// The cluster id recorded on retained claims of an earlier cluster of the same name.
    pub fn adopted_cluster_id(&self) -> Option<String> {
        self.pvcs
            .iter()
            .filter_map(|p| p.annotations().get(annotations::CLUSTER_ID))
            .find(|id| cluster_id::is_valid(id))
            .cloned()
    }
}

fn find<'a, K: kube::Resource>(items: &'a [K], name: &str) -> Option<&'a K> {
    items.iter().find(|o| o.meta().name.as_deref() == Some(name))
}
