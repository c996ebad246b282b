use k8s_openapi::api::core::v1::{
    LoadBalancerIngress, LoadBalancerStatus, PodSpec, ServiceSpec, ServiceStatus,
};

use super::*;
use crate::desired::{self, Object};
use crate::fixtures::{cluster, validated};
use crate::validate::{Existing, Options, validate};

const NODEPORT: &str = "listeners:
- {name: INTERNAL, port: 9092}
- name: EXTERNAL
  port: 9094
  type: nodeport";

fn address(type_: &str, address: &str) -> NodeAddress {
    NodeAddress {
        type_: type_.into(),
        address: address.into(),
    }
}

fn nodes() -> BTreeMap<String, Vec<NodeAddress>> {
    BTreeMap::from([
        (
            "n1".to_string(),
            vec![
                address("InternalIP", "10.0.0.1"),
                address("ExternalIP", "203.0.113.1"),
            ],
        ),
        ("n2".to_string(), vec![address("InternalIP", "10.0.0.2")]),
    ])
}

/// Broker pods 0..3, on `n1`, `n2`, and unscheduled.
fn pods(annotated: Option<&str>) -> Vec<Pod> {
    (0..3)
        .map(|id| {
            let mut p = Pod::default();
            p.metadata.name = Some(format!("demo-broker-{id}"));
            if let Some(v) = annotated {
                p.metadata.annotations =
                    Some([(annotations::ADVERTISED_LISTENERS.to_string(), v.to_string())].into());
            }
            p.spec = Some(PodSpec {
                node_name: match id {
                    0 => Some("n1".into()),
                    1 => Some("n2".into()),
                    _ => None,
                },
                ..Default::default()
            });
            p
        })
        .collect()
}

/// The Service `name` as the API server returns it: node ports allocated from `base`, and a
/// load balancer address when given.
fn allocated(name: &str, cluster: &ValidatedCluster, base: i32, ingress: Option<&str>) -> Service {
    let built = desired::build(cluster, None)
        .objects
        .into_iter()
        .find_map(|o| match o {
            Object::Service(s) if s.metadata.name.as_deref() == Some(name) => Some(s),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Service {name}"));
    let mut s = built.clone();
    let spec = s.spec.get_or_insert_with(ServiceSpec::default);
    for (i, p) in spec.ports.iter_mut().flatten().enumerate() {
        p.node_port = p.node_port.or(Some(base + i as i32));
    }
    s.status = ingress.map(|ip| ServiceStatus {
        load_balancer: Some(LoadBalancerStatus {
            ingress: Some(vec![LoadBalancerIngress {
                ip: Some(ip.into()),
                ..Default::default()
            }]),
        }),
        ..Default::default()
    });
    s
}

/// The advertised-listeners annotation the plan puts on `pod`.
fn annotated(pod: &str, advertised: &str) -> (String, String) {
    (pod.to_string(), advertised.to_string())
}

fn service<'a>(objects: &'a [Object], name: &str) -> Option<&'a Service> {
    objects.iter().find_map(|o| match o {
        Object::Service(s) if s.metadata.name.as_deref() == Some(name) => Some(s),
        _ => None,
    })
}

fn refusals(spec: &str) -> Vec<String> {
    match validate(&cluster(spec), &Existing::default(), "id", &Options::default()) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems.into_iter().map(|p| p.field).collect(),
    }
}

#[test]
fn internal_listeners_advertise_the_node_dns_name_and_need_no_service() {
    let c = validated("");
    let objects = desired::build(&c, None).objects;
    assert!(service(&objects, "demo-kafka-external").is_none());
    assert!(service(&objects, "demo-broker-0").is_none());
    assert!(!has_runtime(&c, 0));
    let inputs = Inputs {
        pods: &[],
        services: &[],
        nodes: &BTreeMap::new(),
    };
    let s = statuses(&c, &inputs);
    assert_eq!(s[0].type_, "internal");
    assert_eq!(
        s[0].bootstrap_servers,
        "demo-kafka-bootstrap.kafka.svc.cluster.local:9092"
    );
    assert_eq!(
        s[0].brokers[1].address,
        "demo-broker-1.demo-kafka-headless.kafka.svc.cluster.local:9092"
    );
}

#[test]
fn a_nodeport_listener_gets_per_broker_services_and_a_bootstrap_service() {
    let c = validated(&format!(
        "{NODEPORT}\n  bootstrapNodePort: 31000\n  brokers: [{{id: 1, nodePort: 31001}}]"
    ));
    let objects = desired::build(&c, None).objects;
    let boot = service(&objects, "demo-kafka-external").expect("external bootstrap");
    let spec = boot.spec.clone().unwrap();
    assert_eq!(spec.type_.as_deref(), Some("NodePort"));
    let ports = spec.ports.unwrap();
    assert_eq!(
        (ports.len(), ports[0].port, ports[0].node_port),
        (1, 9094, Some(31000)),
        "external listeners only"
    );
    for id in 0..3 {
        let s = service(&objects, &format!("demo-broker-{id}")).expect("per-broker Service");
        let spec = s.spec.clone().unwrap();
        assert_eq!(spec.type_.as_deref(), Some("NodePort"));
        assert_eq!(spec.external_traffic_policy.as_deref(), Some("Local"));
        assert_eq!(
            spec.selector.unwrap().get(crate::labels::NODE_ID),
            Some(&id.to_string()),
            "selects its broker only"
        );
        let want: Option<i32> = (id == 1).then_some(31001);
        assert_eq!(spec.ports.unwrap()[0].node_port, want);
    }
    // The external address is not in server.properties: the start script appends it.
    let node = desired::build(&c, None)
        .nodes
        .into_iter()
        .find(|n| n.id == 0)
        .unwrap();
    let advertised = node
        .properties
        .iter()
        .find(|(k, _)| k == "advertised.listeners")
        .unwrap();
    assert_eq!(
        advertised.1,
        "INTERNAL://demo-broker-0.demo-kafka-headless.kafka.svc.cluster.local:9092"
    );
    assert!(has_runtime(&c, 0));
}

#[test]
fn brokers_advertise_their_node_address_and_node_port_once_known() {
    let c = validated(NODEPORT);
    let services: Vec<Service> = (0..3)
        .map(|id| allocated(&format!("demo-broker-{id}"), &c, 31100 + 10 * id, None))
        .chain([allocated("demo-kafka-external", &c, 31000, None)])
        .collect();
    let (pods, nodes) = (pods(None), nodes());
    let inputs = Inputs {
        pods: &pods,
        services: &services,
        nodes: &nodes,
    };
    let p = plan(&c, &inputs);
    assert_eq!(
        p.annotate,
        [
            annotated("demo-broker-0", "EXTERNAL://203.0.113.1:31100"),
            annotated("demo-broker-1", "EXTERNAL://10.0.0.2:31110"),
        ],
        "ExternalIP first, else InternalIP"
    );
    assert_eq!(
        p.waiting["demo-broker-2"],
        "demo-broker-2 listener EXTERNAL: waiting for pod demo-broker-2 to be scheduled"
    );
    let s = statuses(&c, &inputs);
    assert_eq!(s[1].type_, "nodeport");
    assert_eq!(s[1].bootstrap_servers, "10.0.0.2:31000,203.0.113.1:31000");
    let addresses: Vec<&str> = s[1].brokers.iter().map(|b| b.address.as_str()).collect();
    assert_eq!(addresses, ["203.0.113.1:31100", "10.0.0.2:31110"]);
    // An annotated pod is left alone.
    let pods = self::pods(Some("EXTERNAL://203.0.113.1:31100"));
    let inputs = Inputs {
        pods: &pods,
        ..inputs
    };
    let p = plan(&c, &inputs);
    assert_eq!(p.annotate.len(), 1, "{:?}", p.annotate);
    assert_eq!(p.annotate[0].0, "demo-broker-1");
}

#[test]
fn internal_ip_can_be_preferred_and_a_missing_service_is_waited_for() {
    let c = validated(&format!("{NODEPORT}\n  preferredNodeAddressType: InternalIP"));
    let services = [allocated("demo-broker-0", &c, 32000, None)];
    let (pods, nodes) = (pods(None), nodes());
    let inputs = Inputs {
        pods: &pods,
        services: &services,
        nodes: &nodes,
    };
    let p = plan(&c, &inputs);
    assert_eq!(
        p.annotate,
        [annotated("demo-broker-0", "EXTERNAL://10.0.0.1:32000")]
    );
    assert_eq!(
        p.waiting["demo-broker-1"],
        "demo-broker-1 listener EXTERNAL: waiting for Service demo-broker-1"
    );
}

#[test]
fn per_broker_overrides_are_rendered_when_fully_known() {
    let c = validated(&format!(
        "{NODEPORT}\n  brokers:\n  - {{id: 0, advertisedHost: kafka-0.example.com, advertisedPort: 443}}\n  \
         - {{id: 1, advertisedHost: kafka-1.example.com, nodePort: 31001}}\n  - {{id: 2, advertisedHost: kafka-2.example.com}}"
    ));
    let ext = &c.listeners[1];
    assert_eq!(
        source(&c, 0, ext),
        Source::Static {
            host: "kafka-0.example.com".into(),
            port: 443
        }
    );
    assert_eq!(
        source(&c, 1, ext),
        Source::Static {
            host: "kafka-1.example.com".into(),
            port: 31001
        }
    );
    assert_eq!(source(&c, 2, ext), Source::Runtime, "the node port is allocated");
    let node = desired::build(&c, None)
        .nodes
        .into_iter()
        .find(|n| n.id == 0)
        .unwrap();
    assert!(
        node.text.contains("EXTERNAL\\://kafka-0.example.com\\:443")
            || node.text.contains("EXTERNAL://kafka-0.example.com:443"),
        "{}",
        node.text
    );
    // Broker 2: the custom host with the allocated port.
    let services = [allocated("demo-broker-2", &c, 31500, None)];
    let pods = pods(None);
    let nodes = nodes();
    let inputs = Inputs {
        pods: &pods,
        services: &services,
        nodes: &nodes,
    };
    assert_eq!(
        annotation(&c, 2, &inputs),
        Some(Ok("EXTERNAL://kafka-2.example.com:31500".to_string())),
        "no node needed with a custom host"
    );
}

#[test]
fn a_load_balancer_address_is_waited_for_then_advertised() {
    let c = validated(
        "listeners:\n- {name: INTERNAL, port: 9092}\n- {name: PUBLIC, port: 9095, type: loadbalancer}",
    );
    let objects = desired::build(&c, None).objects;
    let s = service(&objects, "demo-broker-0").unwrap();
    assert_eq!(s.spec.as_ref().unwrap().type_.as_deref(), Some("LoadBalancer"));
    let pending = [allocated("demo-broker-0", &c, 31000, None)];
    let (pods, nodes) = (pods(None), nodes());
    let inputs = Inputs {
        pods: &pods,
        services: &pending,
        nodes: &nodes,
    };
    assert_eq!(
        plan(&c, &inputs).waiting["demo-broker-0"],
        "demo-broker-0 listener PUBLIC: waiting for the load balancer address of Service demo-broker-0"
    );
    let ready = [
        allocated("demo-broker-0", &c, 31000, Some("198.51.100.7")),
        allocated("demo-kafka-external", &c, 31000, Some("198.51.100.9")),
    ];
    let inputs = Inputs {
        services: &ready,
        ..inputs
    };
    assert_eq!(
        plan(&c, &inputs).annotate[0],
        annotated("demo-broker-0", "PUBLIC://198.51.100.7:9095")
    );
    assert_eq!(statuses(&c, &inputs)[1].bootstrap_servers, "198.51.100.9:9095");
}

#[test]
fn a_host_network_pool_serves_node_ports_on_the_node_itself() {
    let c = validated(&format!("{NODEPORT}\nbrokers: {{hostNetwork: true}}"));
    let objects = desired::build(&c, None).objects;
    assert!(
        service(&objects, "demo-broker-0").is_none(),
        "no per-broker Service"
    );
    assert!(service(&objects, "demo-kafka-external").is_some());
    let (pods, nodes) = (pods(None), nodes());
    let inputs = Inputs {
        pods: &pods,
        services: &[],
        nodes: &nodes,
    };
    assert_eq!(
        plan(&c, &inputs).annotate[0],
        annotated("demo-broker-0", "EXTERNAL://203.0.113.1:9094")
    );
}

#[test]
fn fixed_advertised_hosts_go_into_the_broker_certificate() {
    let kc = cluster(&format!(
        "{NODEPORT}\n  brokers: [{{id: 1, advertisedHost: kafka-1.example.com}}]"
    ));
    assert_eq!(
        crate::tls::extra_sans(&kc, Role::Broker, 1),
        ["kafka-1.example.com"]
    );
    assert!(crate::tls::extra_sans(&kc, Role::Broker, 0).is_empty());
    assert!(crate::tls::extra_sans(&kc, Role::Controller, 9000).is_empty());
}

#[test]
fn bad_external_settings_are_refused_naming_the_field() {
    assert_eq!(
        refusals("listeners:\n- {name: EXTERNAL, port: 9094, type: nodeport}"),
        ["spec.listeners[0].type"],
        "the inter-broker listener must be internal"
    );
    assert_eq!(
        refusals(&format!("{NODEPORT}\ninterBrokerListener: EXTERNAL")),
        ["spec.interBrokerListener"]
    );
    assert_eq!(
        refusals("listeners:\n- {name: INTERNAL, port: 9092, bootstrapNodePort: 31000}"),
        ["spec.listeners[0].bootstrapNodePort"]
    );
    assert_eq!(
        refusals(&format!(
            "{NODEPORT}\n  bootstrapNodePort: 31000\n  brokers: [{{id: 0, nodePort: 31000}}]"
        )),
        ["spec.listeners[1].brokers[0].nodePort"],
        "a node port used twice"
    );
    assert_eq!(
        refusals(&format!(
            "{NODEPORT}\n  brokers: [{{id: 0, nodePort: 31001}}]\nbrokers: {{hostNetwork: true}}"
        )),
        ["spec.listeners[1].brokers[0].nodePort"]
    );
}
