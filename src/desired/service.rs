//! The headless Service (stable per-node DNS), the bootstrap Service (the DC/OS "VIP"), and for
//! external listeners each broker's own Service and the external bootstrap Service.

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

/// A Service of the cluster named `name`, labelled `labels`, with `spec`.
fn service(
    cluster: &ValidatedCluster,
    name: String,
    labels: std::collections::BTreeMap<String, String>,
    owner: Option<&OwnerReference>,
    spec: ServiceSpec,
) -> Service {
    Service {
        metadata: meta(name, cluster, labels, owner),
        spec: Some(spec),
        status: None,
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
    service(
        cluster,
        cluster.names.headless_service(),
        labels::cluster_labels(&cluster.names.cluster),
        owner,
        ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(labels::cluster_selector(&cluster.names.cluster)),
            ports: Some(ports),
            ..Default::default()
        },
    )
}

/// The address clients bootstrap from: every listener, ready brokers only.
pub fn bootstrap(cluster: &ValidatedCluster, owner: Option<&OwnerReference>) -> Service {
    service(
        cluster,
        cluster.names.bootstrap_service(),
        labels::pool_labels(&cluster.names.cluster, Role::Broker),
        owner,
        ServiceSpec {
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
        },
    )
}

/// The Service type and ports of an external Service: one port for each listener `serves`
/// selects, with the node port `node_port` gives it. LoadBalancer when one of them is a
/// `loadbalancer` listener (it also allocates node ports), else NodePort. None when `serves`
/// selects no listener.
fn external_ports(
    cluster: &ValidatedCluster,
    serves: impl Fn(&crate::validate::Listener) -> bool,
    node_port: impl Fn(&crate::validate::Listener) -> Option<i32>,
) -> Option<(String, Vec<ServicePort>)> {
    let listeners: Vec<&crate::validate::Listener> = cluster.listeners.iter().filter(|l| serves(l)).collect();
    if listeners.is_empty() {
        return None;
    }
    let lb = listeners
        .iter()
        .any(|l| l.exposure.type_ == crate::crd::ListenerType::Loadbalancer);
    let type_ = if lb { "LoadBalancer" } else { "NodePort" }.into();
    let ports = listeners
        .iter()
        .map(|l| ServicePort {
            node_port: node_port(l),
            ..port(l.port_name(), l.port)
        })
        .collect();
    Some((type_, ports))
}

/// Broker `id`'s own Service for its external listeners (node port or load balancer), so each
/// broker has an address outside clients reach it at. `externalTrafficPolicy: Local`: the node
/// port answers on the broker's node only, the address the broker advertises, with no extra
/// hop. None when no listener needs it (internal only, or node ports on a hostNetwork pool).
pub fn broker(cluster: &ValidatedCluster, id: i32, owner: Option<&OwnerReference>) -> Option<Service> {
    let (type_, ports) = external_ports(
        cluster,
        |l| crate::listeners::broker_service_serves(cluster, l),
        |l| l.exposure.brokers.get(&id).and_then(|b| b.node_port),
    )?;
    let mut selector = labels::pool_selector(&cluster.names.cluster, Role::Broker);
    selector.insert(labels::NODE_ID.into(), id.to_string());
    Some(service(
        cluster,
        cluster.names.broker_service(id),
        labels::node_labels(&cluster.names.cluster, Role::Broker, id),
        owner,
        ServiceSpec {
            type_: Some(type_),
            external_traffic_policy: Some("Local".into()),
            selector: Some(selector),
            ports: Some(ports),
            ..Default::default()
        },
    ))
}

/// The bootstrap Service of the external listeners: any ready broker, through any node
/// (NodePort) or the load balancer. None without external listeners.
pub fn external_bootstrap(cluster: &ValidatedCluster, owner: Option<&OwnerReference>) -> Option<Service> {
    let (type_, ports) = external_ports(
        cluster,
        |l| l.exposure.is_external(),
        |l| l.exposure.bootstrap_node_port,
    )?;
    Some(service(
        cluster,
        cluster.names.external_bootstrap_service(),
        labels::pool_labels(&cluster.names.cluster, Role::Broker),
        owner,
        ServiceSpec {
            type_: Some(type_),
            selector: Some(labels::pool_selector(&cluster.names.cluster, Role::Broker)),
            ports: Some(ports),
            ..Default::default()
        },
    ))
}
