//! The headless Service (stable per-node DNS) and the bootstrap Service (the DC/OS "VIP").

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta;
use crate::labels;
use crate::names::Role;
use crate::validate::ValidatedCluster;

fn port(name: String, port: i32) -> ServicePort {
    ServicePort {
        name: Some(name),
        port,
        target_port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

/// Every node's DNS name, published before the pod is ready: brokers must resolve the quorum
/// (and each other) while they are still starting.
pub fn headless(cluster: &ValidatedCluster, owner: Option<&OwnerReference>) -> Service {
    let mut ports: Vec<ServicePort> = cluster
        .listeners
        .iter()
        .map(|l| port(l.port_name(), l.port))
        .collect();
    ports.push(port("controller".into(), cluster.controller_port));
    Service {
        metadata: meta(
            cluster.names.headless_service(),
            cluster,
            labels::cluster_labels(&cluster.names.cluster),
            owner,
        ),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(labels::cluster_selector(&cluster.names.cluster)),
            ports: Some(ports),
            ..Default::default()
        }),
        status: None,
    }
}

/// The address clients bootstrap from: every listener, ready brokers only.
pub fn bootstrap(cluster: &ValidatedCluster, owner: Option<&OwnerReference>) -> Service {
    Service {
        metadata: meta(
            cluster.names.bootstrap_service(),
            cluster,
            labels::pool_labels(&cluster.names.cluster, Role::Broker),
            owner,
        ),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(labels::pool_selector(&cluster.names.cluster, Role::Broker)),
            ports: Some(
                cluster
                    .listeners
                    .iter()
                    .map(|l| port(l.port_name(), l.port))
                    .collect(),
            ),
            ..Default::default()
        }),
        status: None,
    }
}
