//! Integration tests on the local cluster (issue 16, external access and network isolation):
//! the Services of a `nodeport` listener and the addresses each broker advertises, read back
//! from the API server; a `loadbalancer` listener waiting for its address; the cluster's
//! NetworkPolicy; host port conflicts between two `hostNetwork` clusters reported in both
//! statuses. One namespace and one operator for all checks. Run with `make test-integration`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kraftwerk::crd::KafkaCluster;
use kraftwerk::{annotations, listeners};
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use support::{TIMEOUT, TestEnv, wait_for};

/// Every pool on the simulated nodes, 3 controllers, `brokers` brokers, the given listeners.
fn spec(brokers: i32, listeners: Value) -> Value {
    let pin = json!({ "nodeSelector": { "type": "kwok" } });
    json!({
        "brokers": { "replicas": brokers, "template": pin },
        "controllers": { "replicas": 3, "template": pin },
        "listeners": listeners,
    })
}

/// Node addresses by node name, as the API server has them.
async fn node_addresses(env: &TestEnv) -> BTreeMap<String, Vec<k8s_openapi::api::core::v1::NodeAddress>> {
    let nodes: Api<Node> = Api::all(env.client.clone());
    nodes
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| {
            let a = n.status.and_then(|s| s.addresses).unwrap_or_default();
            (n.metadata.name.unwrap_or_default(), a)
        })
        .collect()
}

fn listener<'a>(kc: &'a KafkaCluster, name: &str) -> &'a kraftwerk::crd::ListenerStatus {
    kc.status
        .as_ref()
        .and_then(|s| s.listeners.iter().find(|l| l.name == name))
        .unwrap_or_else(|| panic!("no status.listeners entry {name}: {:?}", kc.status))
}

/// A `nodeport` listener: per-broker NodePort Services (Local traffic policy) and a bootstrap
/// one exist with allocated node ports; each broker pod is annotated with its node's address
/// and its own Service's node port, a custom host override is rendered instead; status lists
/// the same addresses and the bootstrap node port.
async fn check_nodeport(env: &TestEnv) {
    let c = "ext";
    let listeners = json!([
        { "name": "INTERNAL", "port": 9092 },
        { "name": "EXTERNAL", "port": 9094, "type": "nodeport",
          "brokers": [{ "id": 2, "advertisedHost": "kafka-2.example.com", "advertisedPort": 443 }] },
    ]);
    env.create_kc(&env.ns, c, spec(3, listeners)).await.unwrap();
    env.wait_ready(&env.ns, c).await;
    let services: Api<Service> = env.api();
    let pods: Api<Pod> = env.api();
    let addresses = node_addresses(env).await;
    let kc = wait_for("every broker's external address in status", TIMEOUT, || async {
        let kc = env.get_kc(&env.ns, c).await;
        let l = kc
            .status
            .as_ref()?
            .listeners
            .iter()
            .find(|l| l.name == "EXTERNAL")?;
        (l.brokers.len() == 3 && !l.bootstrap_servers.is_empty()).then_some(kc)
    })
    .await;
    let external = listener(&kc, "EXTERNAL");
    assert_eq!(external.type_, "nodeport");
    for id in 0..3 {
        let name = format!("{c}-broker-{id}");
        let svc = services.get(&name).await.unwrap();
        let spec = svc.spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("NodePort"), "{name}");
        assert_eq!(spec.external_traffic_policy.as_deref(), Some("Local"), "{name}");
        let node_port = spec.ports.unwrap()[0].node_port.expect("allocated node port");
        let advertised = &external.brokers.iter().find(|b| b.id == id).unwrap().address;
        if id == 2 {
            assert_eq!(advertised, "kafka-2.example.com:443", "the override");
            continue;
        }
        let pod = pods.get(&name).await.unwrap();
        let node = pod.spec.unwrap().node_name.unwrap();
        let host = listeners::node_address(&addresses[&node], false).expect("node address");
        let want = format!("{host}:{node_port}");
        assert_eq!(advertised, &want, "{name}: status");
        assert_eq!(
            pod.metadata.annotations.unwrap()[annotations::ADVERTISED_LISTENERS],
            format!("EXTERNAL://{want}"),
            "{name}: the annotation the start script appends"
        );
    }
    let boot = services.get(&format!("{c}-kafka-external")).await.unwrap();
    let boot_port = boot.spec.unwrap().ports.unwrap()[0].node_port.unwrap();
    assert!(
        external.bootstrap_servers.ends_with(&format!(":{boot_port}")),
        "{} vs node port {boot_port}",
        external.bootstrap_servers
    );
    eprintln!(
        "NODEPORT status.listeners: {:?}",
        kc.status.as_ref().unwrap().listeners
    );
}

/// A `loadbalancer` listener: the broker has no address until its Service has an ingress
/// (no load balancer controller here: the test writes the Service status as one would).
async fn check_loadbalancer(env: &TestEnv) {
    let c = "lb";
    let listeners = json!([
        { "name": "INTERNAL", "port": 9092 },
        { "name": "PUBLIC", "port": 9095, "type": "loadbalancer" },
    ]);
    env.create_kc(&env.ns, c, spec(1, listeners)).await.unwrap();
    env.wait_ready(&env.ns, c).await;
    let kc = env.get_kc(&env.ns, c).await;
    assert!(
        listener(&kc, "PUBLIC").brokers.is_empty(),
        "no address before the load balancer has one: {:?}",
        listener(&kc, "PUBLIC")
    );
    let services: Api<Service> = env.api();
    let ingress = json!({ "status": { "loadBalancer": { "ingress": [{ "ip": "198.51.100.7" }] } } });
    services
        .patch_status(
            &format!("{c}-broker-0"),
            &PatchParams::default(),
            &Patch::Merge(&ingress),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = env.api();
    wait_for("the load balancer address on the broker pod", TIMEOUT, || async {
        let pod = pods.get(&format!("{c}-broker-0")).await.ok()?;
        (pod.annotations()
            .get(annotations::ADVERTISED_LISTENERS)
            .map(String::as_str)
            == Some("PUBLIC://198.51.100.7:9095"))
        .then_some(())
    })
    .await;
    let kc = wait_for("the load balancer address in status", TIMEOUT, || async {
        let kc = env.get_kc(&env.ns, c).await;
        (!listener(&kc, "PUBLIC").brokers.is_empty()).then_some(kc)
    })
    .await;
    assert_eq!(listener(&kc, "PUBLIC").brokers[0].address, "198.51.100.7:9095");
}

/// The cluster's NetworkPolicy as the API server stored it: the controller port only from the
/// cluster's own pods, the internal listener from the namespace, the external one from
/// anywhere, metrics from the named monitoring namespace; switched off, it is pruned.
async fn check_network_policy(env: &TestEnv) {
    let c = "ext";
    env.patch_kc_spec(
        &env.ns,
        c,
        json!({ "networkPolicy": { "metricsNamespace": "monitoring" } }),
    )
    .await
    .unwrap();
    let policies: Api<NetworkPolicy> = env.api();
    let name = format!("{c}-kafka");
    let spec = wait_for(
        "the NetworkPolicy with the monitoring namespace",
        TIMEOUT,
        || async {
            let np = policies.get(&name).await.ok()?;
            let spec = np.spec?;
            serde_json::to_string(&spec)
                .ok()?
                .contains("monitoring")
                .then_some(spec)
        },
    )
    .await;
    let selector = spec.pod_selector.unwrap().match_labels.unwrap();
    assert_eq!(selector["kraftwerk.dev/cluster"], c);
    let rules = spec.ingress.unwrap();
    let peers_of = |port: i32| -> Vec<Option<Value>> {
        rules
            .iter()
            .filter(|r| {
                r.ports
                    .iter()
                    .flatten()
                    .any(|p| p.port == Some(IntOrString::Int(port)))
            })
            .map(|r| r.from.as_ref().map(|f| serde_json::to_value(f).unwrap()))
            .collect()
    };
    assert!(
        peers_of(9093).is_empty(),
        "the controller port: only the cluster's pods (rule 0)"
    );
    assert_eq!(rules[0].ports, None);
    assert_eq!(
        serde_json::to_value(rules[0].from.as_ref().unwrap()).unwrap()[0]["podSelector"]["matchLabels"]["kraftwerk.dev/cluster"],
        c
    );
    assert_eq!(
        peers_of(9092),
        [Some(json!([{ "podSelector": {} }]))],
        "internal: the namespace"
    );
    assert_eq!(peers_of(9094), [None], "external: anywhere");
    assert_eq!(
        peers_of(9404),
        [Some(
            json!([{ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "monitoring" } } }])
        )]
    );
    env.patch_kc_spec(&env.ns, c, json!({ "networkPolicy": { "enabled": false } }))
        .await
        .unwrap();
    wait_for("the NetworkPolicy pruned", TIMEOUT, || async {
        policies.get_opt(&name).await.ok()?.is_none().then_some(())
    })
    .await;
}

/// Two clusters whose brokers take host port 9092 on the host network: both statuses name
/// the other cluster and the port, and no two of their brokers share a node.
async fn check_host_port_conflict(env: &TestEnv) {
    let listeners = json!([{ "name": "INTERNAL", "port": 9092 }]);
    let mut host = spec(2, listeners);
    host["brokers"]["hostNetwork"] = json!(true);
    host["metrics"] = json!({ "enabled": false });
    for c in ["hn-a", "hn-b"] {
        env.create_kc(&env.ns, c, host.clone()).await.unwrap();
    }
    for (c, other) in [("hn-a", "hn-b"), ("hn-b", "hn-a")] {
        let kc = env
            .wait_condition(&env.ns, c, "HostPortConflict", "True", Some("HostPortShared"))
            .await;
        let cond = kc
            .status
            .unwrap()
            .conditions
            .into_iter()
            .find(|x| x.type_ == "HostPortConflict")
            .unwrap();
        let want = format!("host port 9092 is taken by both {0}/{c} and {0}/{other}", env.ns);
        assert!(cond.message.contains(&want), "{c}: {}", cond.message);
    }
    let pods: Api<Pod> = env.api();
    let broker_nodes = wait_for("the four host network brokers scheduled", TIMEOUT, || async {
        let list = pods
            .list(&ListParams::default().labels("kraftwerk.dev/role=broker,hostport.kraftwerk.dev/9092"))
            .await
            .ok()?;
        let nodes: Vec<String> = list
            .items
            .iter()
            .filter_map(|p| p.spec.as_ref()?.node_name.clone())
            .collect();
        (nodes.len() == 4).then_some(nodes)
    })
    .await;
    let distinct: std::collections::BTreeSet<&String> = broker_nodes.iter().collect();
    assert_eq!(
        distinct.len(),
        4,
        "host port holders never share a node: {broker_nodes:?}"
    );
    let events: Api<Event> = env.api();
    let warned = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("HostPortConflict"))
        .count();
    assert!(warned >= 2, "a Warning Event per cluster, got {warned}");
}

#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn external_access_network_policy_and_host_ports() {
    let env = TestEnv::new("network").await;
    check_nodeport(&env).await;
    check_loadbalancer(&env).await;
    check_network_policy(&env).await;
    check_host_port_conflict(&env).await;
}
