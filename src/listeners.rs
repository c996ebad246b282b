//! External access: the address each broker advertises on each listener, and where clients
//! bootstrap. Pure: the executor (`controller/external.rs`) reads pods, Services and node
//! addresses from the caches and applies what [`plan`] decides.
//!
//! An address is either known from the spec ([`Source::Static`]: the in-cluster DNS name, or
//! a per-broker override of host and port) and rendered into the broker's `server.properties`,
//! or depends on where the broker runs ([`Source::Runtime`]: its node's address, the node port
//! Kubernetes allocated, the load balancer's address). Runtime addresses are written by the
//! operator to the pod's [`annotations::ADVERTISED_LISTENERS`] once all are known; the start
//! script waits for the annotation (downward API volume) and appends it to
//! `advertised.listeners`. The annotation lives on the pod, so a restarted container reads the
//! same addresses, a re-created pod gets its new node's, and nothing rolls when a pod lands.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{NodeAddress, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicyPeer;
use kube::ResourceExt;

use crate::annotations;
use crate::crd::{
    BrokerAddress, BrokerListenerSpec, KafkaClusterSpec, ListenerSpec, ListenerStatus, ListenerType,
};
use crate::names::Role;
use crate::validate::{Listener, ValidatedCluster};

/// How a listener is exposed, from its spec.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Exposure {
    pub type_: ListenerType,
    pub bootstrap_node_port: Option<i32>,
    /// `preferredNodeAddressType: InternalIP`.
    pub prefer_internal_ip: bool,
    /// Per-broker overrides by broker id.
    pub brokers: BTreeMap<i32, BrokerListenerSpec>,
    /// NetworkPolicy peers; None: the default for the type.
    pub from: Option<Vec<NetworkPolicyPeer>>,
}

impl Exposure {
    pub fn of(l: &ListenerSpec) -> Self {
        Self {
            type_: l.type_,
            bootstrap_node_port: l.bootstrap_node_port,
            prefer_internal_ip: l.preferred_node_address_type.as_deref() == Some("InternalIP"),
            brokers: l.brokers.iter().map(|b| (b.id, b.clone())).collect(),
            from: l.from.clone(),
        }
    }

    pub fn is_external(&self) -> bool {
        self.type_ != ListenerType::Internal
    }
}

/// Refuses what the schema cannot: node ports on listeners that have none, an external
/// inter-broker listener, node ports used twice, overrides on a `hostNetwork` pool that has
/// no per-broker Service.
pub fn check(spec: &KafkaClusterSpec, refuse: &mut impl FnMut(&str, String)) {
    let host_network = spec.brokers.pool.host_network;
    let mut node_ports: BTreeMap<i32, String> = BTreeMap::new();
    let mut claim = |port: i32, field: String, refuse: &mut dyn FnMut(&str, String)| {
        if let Some(first) = node_ports.get(&port) {
            refuse(&field, format!("node port {port} is already used by {first}"));
        } else {
            node_ports.insert(port, field);
        }
    };
    for (i, l) in spec.listeners.iter().enumerate() {
        let field = format!("spec.listeners[{i}]");
        let nodeport = l.type_ == ListenerType::Nodeport;
        if let Some(p) = l.bootstrap_node_port {
            if nodeport {
                claim(p, format!("{field}.bootstrapNodePort"), refuse);
            } else {
                refuse(
                    &format!("{field}.bootstrapNodePort"),
                    "only nodeport listeners have node ports".into(),
                );
            }
        }
        if l.preferred_node_address_type.is_some() && !nodeport {
            refuse(
                &format!("{field}.preferredNodeAddressType"),
                "only nodeport listeners advertise node addresses".into(),
            );
        }
        let mut ids = BTreeSet::new();
        for (j, b) in l.brokers.iter().enumerate() {
            let bfield = format!("{field}.brokers[{j}]");
            if !ids.insert(b.id) {
                refuse(
                    &format!("{bfield}.id"),
                    format!("broker {} is listed twice", b.id),
                );
            }
            let Some(p) = b.node_port else { continue };
            if !nodeport || host_network {
                let why = if nodeport {
                    "a hostNetwork broker pool serves nodeport listeners on the node's own port (no per-broker Service)"
                } else {
                    "only nodeport listeners have node ports"
                };
                refuse(&format!("{bfield}.nodePort"), why.into());
            } else {
                claim(p, format!("{bfield}.nodePort"), refuse);
            }
        }
    }
    let inter_broker = match &spec.inter_broker_listener {
        Some(name) => spec.listeners.iter().find(|l| &l.name == name),
        None => spec.listeners.first(),
    };
    if let Some(l) = inter_broker
        && l.type_ != ListenerType::Internal
    {
        let field = if spec.inter_broker_listener.is_some() {
            "spec.interBrokerListener".to_string()
        } else {
            "spec.listeners[0].type".to_string()
        };
        refuse(
            &field,
            format!(
                "the inter-broker listener {} must be internal (brokers would reach each other through external addresses); \
                 add an internal listener first or name one in spec.interBrokerListener",
                l.name
            ),
        );
    }
}

/// The hosts broker `id` advertises that the spec fixes (`brokers[].advertisedHost` of every
/// listener), for its certificate. Addresses only known where the broker runs (a node's
/// address, a load balancer's) are not among them: give such listeners an `advertisedHost`
/// (a DNS name pointing there) when clients verify host names.
pub fn spec_hosts(spec: &KafkaClusterSpec, id: i32) -> Vec<String> {
    spec.listeners
        .iter()
        .flat_map(|l| &l.brokers)
        .filter(|b| b.id == id)
        .filter_map(|b| b.advertised_host.clone())
        .collect()
}

/// Where a broker's address on a listener comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Known from the spec: rendered into `server.properties`.
    Static { host: String, port: i32 },
    /// Known once the broker runs (its node, its Service): the operator annotates the pod.
    Runtime,
}

/// The source of broker `id`'s address on listener `l`.
pub fn source(cluster: &ValidatedCluster, id: i32, l: &Listener) -> Source {
    let o = l.exposure.brokers.get(&id);
    let host = o.and_then(|o| o.advertised_host.clone());
    let port = o.and_then(|o| o.advertised_port);
    let node_port = o.and_then(|o| o.node_port);
    let fixed = |host: Option<String>, port: Option<i32>| match (host, port) {
        (Some(host), Some(port)) => Source::Static { host, port },
        _ => Source::Runtime,
    };
    match l.exposure.type_ {
        ListenerType::Internal => Source::Static {
            host: host.unwrap_or_else(|| cluster.names.node_fqdn(Role::Broker, id)),
            port: port.unwrap_or(l.port),
        },
        ListenerType::Nodeport if cluster.brokers.host_network => fixed(host, port.or(Some(l.port))),
        ListenerType::Nodeport => fixed(host, port.or(node_port)),
        ListenerType::Loadbalancer => fixed(host, port.or(Some(l.port))),
    }
}

/// Whether broker `id` has any listener whose address is only known once it runs.
pub fn has_runtime(cluster: &ValidatedCluster, id: i32) -> bool {
    cluster
        .listeners
        .iter()
        .any(|l| source(cluster, id, l) == Source::Runtime)
}

/// Whether the broker pool needs a per-broker Service: an external listener that is not served
/// on the node's own port.
pub fn needs_broker_services(cluster: &ValidatedCluster) -> bool {
    cluster
        .listeners
        .iter()
        .any(|l| broker_service_serves(cluster, l))
}

/// Whether listener `l` is served through the per-broker Services.
pub fn broker_service_serves(cluster: &ValidatedCluster, l: &Listener) -> bool {
    match l.exposure.type_ {
        ListenerType::Internal => false,
        ListenerType::Nodeport => !cluster.brokers.host_network,
        ListenerType::Loadbalancer => true,
    }
}

/// What the executor reads: the cluster's pods and Services, and node addresses by node name.
pub struct Inputs<'a> {
    pub pods: &'a [Pod],
    pub services: &'a [Service],
    pub nodes: &'a BTreeMap<String, Vec<NodeAddress>>,
}

impl Inputs<'_> {
    fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name_any() == name)
    }

    fn pod(&self, name: &str) -> Option<&Pod> {
        self.pods.iter().find(|p| p.name_any() == name)
    }
}

/// The address of node `node`, by preference: ExternalIP then InternalIP (or the reverse),
/// then Hostname.
pub fn node_address(addresses: &[NodeAddress], prefer_internal: bool) -> Option<&str> {
    let order: [&str; 3] = if prefer_internal {
        ["InternalIP", "ExternalIP", "Hostname"]
    } else {
        ["ExternalIP", "InternalIP", "Hostname"]
    };
    order
        .iter()
        .find_map(|t| addresses.iter().find(|a| a.type_ == *t))
        .map(|a| a.address.as_str())
}

/// The first ingress address (IP, else hostname) of a LoadBalancer Service.
fn ingress(service: &Service) -> Option<&str> {
    let ingress = service
        .status
        .as_ref()?
        .load_balancer
        .as_ref()?
        .ingress
        .as_ref()?;
    ingress
        .iter()
        .find_map(|i| i.ip.as_deref().or(i.hostname.as_deref()))
}

/// The node port a Service allocated for listener `l`.
fn node_port(service: &Service, l: &Listener) -> Option<i32> {
    let name = l.port_name();
    service
        .spec
        .as_ref()?
        .ports
        .as_ref()?
        .iter()
        .find(|p| p.name.as_deref() == Some(name.as_str()))?
        .node_port
}

/// Broker `id`'s runtime address on `l`, or why it is not known yet.
pub fn resolve(
    cluster: &ValidatedCluster,
    id: i32,
    l: &Listener,
    inputs: &Inputs<'_>,
) -> Result<(String, i32), String> {
    let o = l.exposure.brokers.get(&id);
    let host_override = o.and_then(|o| o.advertised_host.clone());
    let port_override = o.and_then(|o| o.advertised_port);
    let service_name = cluster.names.broker_service(id);
    let service = || {
        inputs
            .service(&service_name)
            .ok_or_else(|| format!("waiting for Service {service_name}"))
    };
    let node_host = || -> Result<String, String> {
        let pod_name = cluster.names.pod(Role::Broker, id);
        let node = inputs
            .pod(&pod_name)
            .and_then(|p| p.spec.as_ref()?.node_name.clone())
            .ok_or_else(|| format!("waiting for pod {pod_name} to be scheduled"))?;
        inputs
            .nodes
            .get(&node)
            .and_then(|a| node_address(a, l.exposure.prefer_internal_ip))
            .map(str::to_string)
            .ok_or_else(|| format!("node {node} reports no address"))
    };
    let host = match (&host_override, l.exposure.type_) {
        (Some(h), _) => h.clone(),
        (None, ListenerType::Loadbalancer) => ingress(service()?)
            .map(str::to_string)
            .ok_or_else(|| format!("waiting for the load balancer address of Service {service_name}"))?,
        (None, _) => node_host()?,
    };
    let port = match (port_override, l.exposure.type_) {
        (Some(p), _) => p,
        (None, ListenerType::Nodeport) if !cluster.brokers.host_network => node_port(service()?, l)
            .ok_or_else(|| format!("waiting for the node port of Service {service_name}"))?,
        (None, _) => l.port,
    };
    Ok((host, port))
}

/// The annotation value of broker `id` (`NAME://host:port,...` of its runtime listeners), or
/// why it is not known yet. None when the broker has no runtime listener.
pub fn annotation(
    cluster: &ValidatedCluster,
    id: i32,
    inputs: &Inputs<'_>,
) -> Option<Result<String, String>> {
    let runtime: Vec<&Listener> = cluster
        .listeners
        .iter()
        .filter(|l| source(cluster, id, l) == Source::Runtime)
        .collect();
    if runtime.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    for l in runtime {
        match resolve(cluster, id, l, inputs) {
            Ok((host, port)) => parts.push(format!("{}://{host}:{port}", l.name)),
            Err(why) => {
                return Some(Err(format!(
                    "{} listener {}: {why}",
                    cluster.names.pod(Role::Broker, id),
                    l.name
                )));
            }
        }
    }
    Some(Ok(parts.join(",")))
}

/// What the executor does about the brokers' runtime addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Pods to annotate with their addresses (absent or different).
    pub annotate: Vec<(String, String)>,
    /// Why a broker waits for its addresses, by pod name (for its status message).
    pub waiting: BTreeMap<String, String>,
}

/// Decides which broker pods get (or need a new) address annotation (pure).
pub fn plan(cluster: &ValidatedCluster, inputs: &Inputs<'_>) -> Plan {
    let mut out = Plan::default();
    for &id in &cluster.brokers.ids {
        let pod_name = cluster.names.pod(Role::Broker, id);
        let Some(pod) = inputs.pod(&pod_name) else {
            continue;
        };
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        match annotation(cluster, id, inputs) {
            Some(Ok(value)) if pod.annotations().get(annotations::ADVERTISED_LISTENERS) != Some(&value) => {
                out.annotate.push((pod_name, value));
            }
            None | Some(Ok(_)) => {}
            Some(Err(why)) => {
                out.waiting.insert(pod_name, why);
            }
        }
    }
    out
}

/// Every listener's bootstrap address and per-broker addresses, for the status (pure).
pub fn statuses(cluster: &ValidatedCluster, inputs: &Inputs<'_>) -> Vec<ListenerStatus> {
    cluster
        .listeners
        .iter()
        .map(|l| {
            let brokers = cluster
                .brokers
                .ids
                .iter()
                .filter_map(|&id| {
                    let (host, port) = match source(cluster, id, l) {
                        Source::Static { host, port } => (host, port),
                        Source::Runtime => resolve(cluster, id, l, inputs).ok()?,
                    };
                    Some(BrokerAddress {
                        id,
                        address: format!("{host}:{port}"),
                    })
                })
                .collect();
            ListenerStatus {
                name: l.name.clone(),
                type_: l.exposure.type_.as_str().to_string(),
                bootstrap_servers: bootstrap(cluster, l, inputs),
                brokers,
            }
        })
        .collect()
}

/// Where clients of listener `l` bootstrap; empty while not known.
fn bootstrap(cluster: &ValidatedCluster, l: &Listener, inputs: &Inputs<'_>) -> String {
    let names = &cluster.names;
    match l.exposure.type_ {
        ListenerType::Internal => format!("{}:{}", names.bootstrap_fqdn(), l.port),
        ListenerType::Loadbalancer => inputs
            .service(&names.external_bootstrap_service())
            .and_then(ingress)
            .map(|host| format!("{host}:{}", l.port))
            .unwrap_or_default(),
        ListenerType::Nodeport => {
            let Some(port) = inputs
                .service(&names.external_bootstrap_service())
                .and_then(|s| node_port(s, l))
            else {
                return String::new();
            };
            // The nodes running brokers: any node would do, these are known to be up.
            let hosts: BTreeSet<&str> = cluster
                .brokers
                .ids
                .iter()
                .filter_map(|&id| inputs.pod(&names.pod(Role::Broker, id)))
                .filter_map(|p| p.spec.as_ref()?.node_name.as_ref())
                .filter_map(|n| node_address(inputs.nodes.get(n)?, l.exposure.prefer_internal_ip))
                .collect();
            hosts
                .iter()
                .map(|h| format!("{h}:{port}"))
                .collect::<Vec<_>>()
                .join(",")
        }
    }
}

#[cfg(test)]
mod tests;
