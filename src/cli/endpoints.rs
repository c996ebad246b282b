//! `kraftwerk endpoints`: where clients and operators reach a KafkaCluster, from its spec and
//! status: the bootstrap address of every listener, and every node's address and listeners.

use kraftwerk::crd::KafkaCluster;
use kraftwerk::names::{ClusterNames, Role};
use kube::ResourceExt;
use serde::Serialize;

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// The bootstrap address of the inter-broker listener (`status.bootstrapServers`).
    pub bootstrap_servers: Option<String>,
    pub listeners: Vec<ListenerEndpoint>,
    pub nodes: Vec<NodeEndpoint>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ListenerEndpoint {
    pub name: String,
    /// `internal`, `nodeport` or `loadbalancer` (`status.listeners[].type`).
    #[serde(rename = "type")]
    pub type_: String,
    pub bootstrap_servers: String,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeEndpoint {
    pub id: i32,
    pub role: String,
    pub pod: String,
    /// The pod's stable DNS name (the headless Service).
    pub address: String,
    /// `NAME://address:port` of every listener the node serves.
    pub listeners: Vec<String>,
    pub ready: bool,
}

/// The cluster DNS domain, read from a bootstrap address (`...svc.<domain>:port`).
fn domain_of(bootstrap: Option<&str>) -> String {
    bootstrap
        .and_then(|b| b.split(',').next())
        .and_then(|b| b.rsplit_once(':').map(|(host, _)| host))
        .and_then(|host| host.split_once(".svc.").map(|(_, d)| d.to_string()))
        .unwrap_or_else(|| "cluster.local".to_string())
}

/// The endpoints of `kc` (pure).
pub fn of(kc: &KafkaCluster) -> Endpoints {
    let status = kc.status.clone().unwrap_or_default();
    let namespace = kc.namespace().unwrap_or_default();
    let domain = domain_of(status.bootstrap_servers.as_deref());
    let names = ClusterNames::new(&kc.name_any(), &namespace, &domain);
    let headless = format!("{}.{namespace}.svc.{domain}", names.headless_service());
    let broker_listeners: Vec<(String, i32)> = if kc.spec.listeners.is_empty() {
        vec![("INTERNAL".to_string(), 9092)]
    } else {
        kc.spec
            .listeners
            .iter()
            .map(|l| (l.name.clone(), l.port))
            .collect()
    };
    let nodes = status
        .nodes
        .iter()
        .map(|n| {
            let address = format!("{}.{headless}", n.pod);
            let listeners = match n.role {
                // The addresses the broker advertises (status.listeners), else its DNS name.
                Role::Broker => broker_listeners
                    .iter()
                    .map(|(name, port)| {
                        let advertised = status
                            .listeners
                            .iter()
                            .filter(|l| &l.name == name)
                            .flat_map(|l| &l.brokers)
                            .find(|b| b.id == n.id)
                            .map(|b| b.address.clone());
                        format!(
                            "{name}://{}",
                            advertised.unwrap_or_else(|| format!("{address}:{port}"))
                        )
                    })
                    .collect(),
                Role::Controller => vec![format!(
                    "CONTROLLER://{address}:{}",
                    kc.spec.controller_listener.port
                )],
            };
            NodeEndpoint {
                id: n.id,
                role: n.role.as_str().to_string(),
                pod: n.pod.clone(),
                address,
                listeners,
                ready: n.ready,
            }
        })
        .collect();
    Endpoints {
        bootstrap_servers: status.bootstrap_servers.clone(),
        listeners: status
            .listeners
            .iter()
            .map(|l| ListenerEndpoint {
                name: l.name.clone(),
                type_: if l.type_.is_empty() {
                    "internal".into()
                } else {
                    l.type_.clone()
                },
                bootstrap_servers: l.bootstrap_servers.clone(),
            })
            .collect(),
        nodes,
    }
}

/// The table form.
pub fn table(e: &Endpoints) -> String {
    let mut out = format!("Bootstrap: {}\n", e.bootstrap_servers.as_deref().unwrap_or("-"));
    for l in &e.listeners {
        let bootstrap = if l.bootstrap_servers.is_empty() {
            "(not known yet)"
        } else {
            &l.bootstrap_servers
        };
        out.push_str(&format!("  {} ({}): {bootstrap}\n", l.name, l.type_));
    }
    out.push_str("\nID    ROLE        READY  LISTENERS\n");
    for n in &e.nodes {
        out.push_str(&format!(
            "{:<5} {:<11} {:<6} {}\n",
            n.id,
            n.role,
            n.ready,
            n.listeners.join(" ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cluster `demo` in namespace `kafka` with `spec_and_status` (YAML, from `spec:` on).
    fn cluster(spec_and_status: &str) -> KafkaCluster {
        let head = "apiVersion: kraftwerk.dev/v1alpha1\nkind: KafkaCluster\nmetadata: {name: demo, namespace: kafka}\n";
        serde_yaml::from_str(&format!("{head}{spec_and_status}")).unwrap()
    }

    #[test]
    fn every_node_has_its_address_and_listeners() {
        let kc = cluster(
            "spec:
  listeners: [{name: INTERNAL, port: 9092}, {name: CLIENTS, port: 9094}]
status:
  bootstrapServers: demo-kafka-bootstrap.kafka.svc.example.org:9092
  listeners: [{name: CLIENTS, bootstrapServers: demo-kafka-bootstrap.kafka.svc.example.org:9094}]
  nodes:
  - {id: 9000, role: controller, pod: demo-controller-9000, ready: true, upToDate: true}
  - {id: 0, role: broker, pod: demo-broker-0, ready: false, upToDate: true}
",
        );
        let e = of(&kc);
        assert_eq!(
            e.nodes[0].listeners,
            ["CONTROLLER://demo-controller-9000.demo-kafka-headless.kafka.svc.example.org:9093"]
        );
        assert_eq!(
            e.nodes[1].listeners,
            [
                "INTERNAL://demo-broker-0.demo-kafka-headless.kafka.svc.example.org:9092",
                "CLIENTS://demo-broker-0.demo-kafka-headless.kafka.svc.example.org:9094"
            ]
        );
        assert!(!e.nodes[1].ready);
        assert_eq!(e.listeners[0].name, "CLIENTS");
        assert!(table(&e).contains("Bootstrap: demo-kafka-bootstrap.kafka.svc.example.org:9092"));
    }

    #[test]
    fn external_listeners_print_the_advertised_addresses_from_status() {
        let kc = cluster(
            "spec:
  listeners: [{name: INTERNAL, port: 9092}, {name: EXTERNAL, port: 9094, type: nodeport}]
status:
  listeners:
  - {name: INTERNAL, type: internal, bootstrapServers: demo-kafka-bootstrap.kafka.svc.cluster.local:9092}
  - name: EXTERNAL
    type: nodeport
    bootstrapServers: 10.0.0.1:31000
    brokers: [{id: 0, address: '10.0.0.1:31100'}]
  nodes:
  - {id: 0, role: broker, pod: demo-broker-0, ready: true, upToDate: true}
  - {id: 1, role: broker, pod: demo-broker-1, ready: false, upToDate: true}
",
        );
        let e = of(&kc);
        assert_eq!(
            e.nodes[0].listeners,
            [
                "INTERNAL://demo-broker-0.demo-kafka-headless.kafka.svc.cluster.local:9092",
                "EXTERNAL://10.0.0.1:31100"
            ]
        );
        assert_eq!(
            e.nodes[1].listeners[1],
            "EXTERNAL://demo-broker-1.demo-kafka-headless.kafka.svc.cluster.local:9094",
            "no advertised address yet: the DNS name"
        );
        let t = table(&e);
        assert!(t.contains("EXTERNAL (nodeport): 10.0.0.1:31000"), "{t}");
    }
}
