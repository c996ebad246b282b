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

/// The Service type carrying a set of external listeners: LoadBalancer when one of them is a
/// `loadbalancer` listener (it also allocates node ports), else NodePort.
fn external_type(listeners: &[&crate::validate::Listener]) -> String {
    let lb = listeners
        .iter()
        .any(|l| l.exposure.type_ == crate::crd::ListenerType::Loadbalancer);
    if lb { "LoadBalancer" } else { "NodePort" }.into()
}

/// Broker `id`'s own Service for its external listeners (node port or load balancer), so each
/// broker has an address outside clients reach it at. `externalTrafficPolicy: Local`: the node
/// port answers on the broker's node only, the address the broker advertises, with no extra
/// hop. None when no listener needs it (internal only, or node ports on a hostNetwork pool).
pub fn broker(cluster: &ValidatedCluster, id: i32, owner: Option<&OwnerReference>) -> Option<Service> {
    let listeners: Vec<&crate::validate::Listener> = cluster
        .listeners
        .iter()
        .filter(|l| crate::listeners::broker_service_serves(cluster, l))
        .collect();
    if listeners.is_empty() {
        return None;
    }
    let ports = listeners
        .iter()
        .map(|l| ServicePort {
            node_port: l.exposure.brokers.get(&id).and_then(|b| b.node_port),
            ..port(l.port_name(), l.port)
        })
        .collect();
    let mut selector = labels::pool_selector(&cluster.names.cluster, Role::Broker);
    selector.insert(labels::NODE_ID.into(), id.to_string());
    Some(Service {
        metadata: meta(
            cluster.names.broker_service(id),
            cluster,
            labels::node_labels(&cluster.names.cluster, Role::Broker, id),
            owner,
        ),
        spec: Some(ServiceSpec {
            type_: Some(external_type(&listeners)),
            external_traffic_policy: Some("Local".into()),
            selector: Some(selector),
            ports: Some(ports),
            ..Default::default()
        }),
        status: None,
    })
}

/// The bootstrap Service of the external listeners: any ready broker, through any node
/// (NodePort) or the load balancer. None without external listeners.
pub fn external_bootstrap(cluster: &ValidatedCluster, owner: Option<&OwnerReference>) -> Option<Service> {
    let listeners: Vec<&crate::validate::Listener> = cluster
        .listeners
        .iter()
        .filter(|l| l.exposure.is_external())
        .collect();
    if listeners.is_empty() {
        return None;
    }
    let ports = listeners
        .iter()
        .map(|l| ServicePort {
            node_port: l.exposure.bootstrap_node_port,
            ..port(l.port_name(), l.port)
        })
        .collect();
    Some(Service {
        metadata: meta(
            cluster.names.external_bootstrap_service(),
            cluster,
            labels::pool_labels(&cluster.names.cluster, Role::Broker),
            owner,
        ),
        spec: Some(ServiceSpec {
            type_: Some(external_type(&listeners)),
            selector: Some(labels::pool_selector(&cluster.names.cluster, Role::Broker)),
            ports: Some(ports),
            ..Default::default()
        }),
        status: None,
    })
}
