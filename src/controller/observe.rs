//! Resolve: the only I/O before the pure steps. Lists every object of one cluster by label.

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Client;
use kube::api::{Api, ListParams};

use crate::error::Result;
use crate::labels;

/// Everything that exists for one cluster.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub pods: Vec<Pod>,
    pub pvcs: Vec<PersistentVolumeClaim>,
    pub config_maps: Vec<ConfigMap>,
    pub services: Vec<Service>,
    pub pdbs: Vec<PodDisruptionBudget>,
}

pub async fn observe(client: &Client, namespace: &str, cluster: &str) -> Result<Observed> {
    let lp = ListParams::default().labels(&labels::selector_string(&labels::cluster_selector(cluster)));
    let pods = Api::<Pod>::namespaced(client.clone(), namespace);
    let pvcs = Api::<PersistentVolumeClaim>::namespaced(client.clone(), namespace);
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), namespace);
    let services = Api::<Service>::namespaced(client.clone(), namespace);
    let pdbs = Api::<PodDisruptionBudget>::namespaced(client.clone(), namespace);
    let (pods, pvcs, config_maps, services, pdbs) = tokio::try_join!(
        pods.list(&lp),
        pvcs.list(&lp),
        config_maps.list(&lp),
        services.list(&lp),
        pdbs.list(&lp),
    )?;
    Ok(Observed {
        pods: pods.items,
        pvcs: pvcs.items,
        config_maps: config_maps.items,
        services: services.items,
        pdbs: pdbs.items,
    })
}
