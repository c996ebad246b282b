use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::*;
use crate::annotations;
use crate::fixtures::validated;
use crate::labels;

fn owner() -> OwnerReference {
    OwnerReference {
        api_version: "kraftwerk.dev/v1alpha1".into(),
        kind: "KafkaCluster".into(),
        name: "demo".into(),
        uid: "7c2f0e4e-0000-4000-8000-000000000001".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn pod<'a>(objects: &'a [Object], name: &str) -> &'a Pod {
    objects
        .iter()
        .find_map(|o| match o {
            Object::Pod(p) if o.name() == name => Some(p),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no pod {name}"))
}

#[test]
fn services_come_before_every_pod_and_controllers_before_brokers() {
    let objects = desired_objects(&validated(""), Some(&owner()));
    let kinds: Vec<&str> = objects.iter().map(Object::kind).collect();
    let last_service = kinds.iter().rposition(|k| *k == "Service").unwrap();
    let first_pod = kinds.iter().position(|k| *k == "Pod").unwrap();
    assert!(last_service < first_pod, "{kinds:?}");
    assert_eq!(&kinds[..3], &["Service", "Service", "NetworkPolicy"]);
    let pods: Vec<&str> = objects
        .iter()
        .filter(|o| o.kind() == "Pod")
        .map(Object::name)
        .collect();
    assert_eq!(
        pods,
        [
            "demo-controller-9000",
            "demo-controller-9001",
            "demo-controller-9002",
            "demo-broker-0",
            "demo-broker-1",
            "demo-broker-2"
        ]
    );
    // Per-node config and claims exist before the pods that mount them.
    let last_config = kinds
        .iter()
        .rposition(|k| *k == "ConfigMap" || *k == "PersistentVolumeClaim")
        .unwrap();
    assert!(last_config < first_pod);
    assert_eq!(
        objects.len(),
        2 + 1 + 6 + 6 + 2 + 6,
        "Services, the NetworkPolicy, ConfigMaps, claims, PDBs, pods"
    );
}

#[test]
fn headless_service_publishes_not_ready_addresses_for_every_node() {
    let objects = desired_objects(&validated(""), None);
    let Object::Service(headless) = &objects[0] else {
        panic!("first object is not a Service")
    };
    assert_eq!(headless.metadata.name.as_deref(), Some("demo-kafka-headless"));
    let spec = headless.spec.as_ref().unwrap();
    assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
    assert_eq!(spec.publish_not_ready_addresses, Some(true));
    assert_eq!(
        spec.selector
            .as_ref()
            .unwrap()
            .get(labels::CLUSTER)
            .map(String::as_str),
        Some("demo")
    );
    let ports: Vec<i32> = spec.ports.as_ref().unwrap().iter().map(|p| p.port).collect();
    assert_eq!(ports, vec![9092, 9093]);
    let Object::Service(bootstrap) = &objects[1] else {
        panic!("second object is not a Service")
    };
    let spec = bootstrap.spec.as_ref().unwrap();
    assert_eq!(
        spec.selector
            .as_ref()
            .unwrap()
            .get(labels::ROLE)
            .map(String::as_str),
        Some("broker")
    );
    assert_eq!(spec.publish_not_ready_addresses, None);
}

#[test]
fn broker_properties_wire_the_quorum_and_listeners() {
    let c = validated("");
    let text = properties::render(&c, Role::Broker, 1);
    let expected = "\
process.roles=broker
node.id=1
controller.quorum.bootstrap.servers=demo-controller-9000.demo-kafka-headless.kafka.svc.cluster.local:9093,demo-controller-9001.demo-kafka-headless.kafka.svc.cluster.local:9093,demo-controller-9002.demo-kafka-headless.kafka.svc.cluster.local:9093
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT
log.dirs=/var/lib/kafka/data/kafka-log
listeners=INTERNAL://0.0.0.0:9092
advertised.listeners=INTERNAL://demo-broker-1.demo-kafka-headless.kafka.svc.cluster.local:9092
inter.broker.listener.name=INTERNAL
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.replication.factor=3
";
    let body: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    assert_eq!(body, expected);
    assert!(text.starts_with("# broker node 1 of KafkaCluster kafka/demo"));
}

#[test]
fn controller_properties_only_listen_on_the_controller_port() {
    let c = validated("controllerListener:\n  port: 19093\n");
    let props: std::collections::BTreeMap<String, String> =
        properties::node_properties(&c, Role::Controller, 9000)
            .into_iter()
            .collect();
    assert_eq!(props["process.roles"], "controller");
    assert_eq!(props["node.id"], "9000");
    assert_eq!(props["listeners"], "CONTROLLER://0.0.0.0:19093");
    assert!(!props.contains_key("advertised.listeners"));
    // The keys the controllers read themselves: the replication factor of topics created
    // without one, and the cluster-level min.insync.replicas recorded at bootstrap (ELR).
    assert_eq!(props["default.replication.factor"], "3");
    assert_eq!(props["min.insync.replicas"], "2");
    assert!(!props.contains_key("offsets.topic.replication.factor"));
}

#[test]
fn user_overrides_win_over_defaults_and_small_clusters_get_rf_1() {
    let c = validated(
        "config:\n  min.insync.replicas: 1\nbrokers:\n  replicas: 1\n  config:\n    num.partitions: 6\n",
    );
    let props: std::collections::BTreeMap<String, String> = properties::node_properties(&c, Role::Broker, 0)
        .into_iter()
        .collect();
    assert_eq!(props["default.replication.factor"], "1");
    assert_eq!(props["num.partitions"], "6");
    assert_eq!(props["min.insync.replicas"], "1");
}

#[test]
fn pod_has_stable_identity_storage_and_safe_probes() {
    let objects = desired_objects(&validated(""), Some(&owner()));
    let p = pod(&objects, "demo-broker-2");
    let spec = p.spec.as_ref().unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("demo-broker-2"));
    assert_eq!(spec.subdomain.as_deref(), Some("demo-kafka-headless"));
    let volumes = spec.volumes.as_ref().unwrap();
    let claim = volumes
        .iter()
        .find_map(|v| v.persistent_volume_claim.as_ref())
        .unwrap();
    assert_eq!(claim.claim_name, "data-demo-broker-2");
    let config = volumes.iter().find_map(|v| v.config_map.as_ref()).unwrap();
    assert_eq!(config.name, "demo-broker-2");
    let c = &spec.containers[0];
    let script = &c.command.as_ref().unwrap()[2];
    assert!(
        script.contains("kafka-storage.sh format --cluster-id \"$KRAFTWERK_CLUSTER_ID\""),
        "{script}"
    );
    assert!(script.contains("--ignore-formatted"));
    assert!(script.contains("exec /opt/kafka/bin/kafka-server-start.sh"));
    let env = c.env.as_ref().unwrap();
    assert!(
        env.iter()
            .any(|e| e.name == "KAFKA_HEAP_OPTS" && e.value.as_deref() == Some("-Xms1024m -Xmx1024m"))
    );
    // The JVM re-resolves restarted peers within seconds, not its default 30 s.
    let opts = env
        .iter()
        .find(|e| e.name == "KAFKA_OPTS")
        .and_then(|e| e.value.clone());
    assert_eq!(opts.as_deref(), Some(super::pod::JVM_DNS_CACHE_OPTS));
    // Liveness can only act after the startup probe passed, and startup allows an hour.
    let startup = c.startup_probe.as_ref().unwrap();
    assert!(startup.period_seconds.unwrap() * startup.failure_threshold.unwrap() >= 3600);
    assert!(c.liveness_probe.is_some());
    assert_eq!(
        c.readiness_probe
            .as_ref()
            .unwrap()
            .tcp_socket
            .as_ref()
            .unwrap()
            .port,
        IntOrStringInt(9092)
    );
    assert_eq!(spec.termination_grace_period_seconds, Some(120));
    assert_eq!(
        p.metadata
            .labels
            .as_ref()
            .unwrap()
            .get(labels::NODE_ID)
            .map(String::as_str),
        Some("2")
    );
    assert!(
        p.metadata
            .annotations
            .as_ref()
            .unwrap()
            .contains_key(annotations::CONFIG_HASH)
    );
    assert_eq!(p.metadata.owner_references.as_ref().unwrap()[0].uid, owner().uid);
}

#[allow(non_snake_case)]
fn IntOrStringInt(i: i32) -> k8s_openapi::apimachinery::pkg::util::intstr::IntOrString {
    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i)
}

#[test]
fn config_hash_changes_with_configuration_only() {
    let a = desired_objects(&validated(""), None);
    let b = desired_objects(&validated(""), None);
    let c = desired_objects(&validated("config:\n  num.partitions: 6\n"), None);
    let hash = |o: &[Object]| {
        pod(o, "demo-broker-0").metadata.annotations.as_ref().unwrap()[annotations::CONFIG_HASH].clone()
    };
    assert_eq!(hash(&a), hash(&b));
    assert_ne!(hash(&a), hash(&c));
    // Placement applies when a pod is next created; it never makes a running pod stale.
    let d = desired_objects(
        &validated("brokers:\n  placement:\n    constraints: hostname:UNIQUE\n"),
        None,
    );
    let e = desired_objects(
        &validated("brokers:\n  template:\n    nodeSelector:\n      disk: ssd\n"),
        None,
    );
    assert_eq!(hash(&a), hash(&d));
    assert_eq!(hash(&a), hash(&e));
    assert!(pod(&d, "demo-broker-0").spec.as_ref().unwrap().affinity.is_some());
}

#[test]
fn claims_are_owned_only_when_delete_claim_is_set() {
    let kept = desired_objects(&validated(""), Some(&owner()));
    let deleted = desired_objects(
        &validated("brokers:\n  storage:\n    deleteClaim: true\n"),
        Some(&owner()),
    );
    let owners = |objects: &[Object], name: &str| {
        objects
            .iter()
            .find(|o| o.kind() == "PersistentVolumeClaim" && o.name() == name)
            .unwrap()
            .metadata()
            .owner_references
            .clone()
    };
    assert_eq!(owners(&kept, "data-demo-broker-0"), None);
    assert!(owners(&deleted, "data-demo-broker-0").is_some());
    assert_eq!(owners(&deleted, "data-demo-controller-9000"), None);
}

#[test]
fn pdbs_allow_one_disruption_per_pool() {
    let objects = desired_objects(&validated(""), None);
    let pdbs: Vec<&Object> = objects
        .iter()
        .filter(|o| o.kind() == "PodDisruptionBudget")
        .collect();
    assert_eq!(
        pdbs.iter().map(|o| o.name()).collect::<Vec<_>>(),
        ["demo-controllers", "demo-brokers"]
    );
    for o in pdbs {
        let Object::PodDisruptionBudget(p) = o else {
            unreachable!()
        };
        assert_eq!(p.spec.as_ref().unwrap().max_unavailable, Some(IntOrStringInt(1)));
    }
}

#[test]
fn rack_awareness_waits_for_the_rack_annotation() {
    let objects = desired_objects(
        &validated("rack:\n  topologyKey: topology.kubernetes.io/zone\n"),
        None,
    );
    let broker = pod(&objects, "demo-broker-0");
    let script = &broker.spec.as_ref().unwrap().containers[0]
        .command
        .as_ref()
        .unwrap()[2];
    assert!(script.contains("broker.rack="), "{script}");
    let controller = pod(&objects, "demo-controller-9000");
    let script = &controller.spec.as_ref().unwrap().containers[0]
        .command
        .as_ref()
        .unwrap()[2];
    assert!(!script.contains("broker.rack="));
}

/// A cluster of `spec` whose controllers 9000..9002 already have claims, with or without the
/// dynamic-quorum mark.
fn existing_cluster(spec: &str, dynamic: bool, formed: bool) -> crate::validate::ValidatedCluster {
    let pvcs = (9000..9003)
        .map(|id| {
            let mut c = crate::fixtures::claim(Role::Controller, id, "2Gi", None);
            if dynamic {
                c.metadata.annotations = Some(std::collections::BTreeMap::from([(
                    annotations::QUORUM.to_string(),
                    "Dynamic".to_string(),
                )]));
            }
            c
        })
        .collect();
    let existing = crate::validate::Existing {
        pvcs,
        quorum_formed: formed,
        initial_voters: (9000..9003).collect(),
        ..Default::default()
    };
    crate::fixtures::validated_with(spec, &existing)
}

fn env_of<'a>(p: &'a Pod, name: &str) -> Option<&'a str> {
    p.spec.as_ref()?.containers[0]
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)?
        .value
        .as_deref()
}

fn script_of(p: &Pod) -> &str {
    &p.spec.as_ref().unwrap().containers[0].command.as_ref().unwrap()[2]
}

#[test]
fn a_static_cluster_keeps_its_voter_list_and_start_script() {
    let c = existing_cluster("", false, false);
    assert_eq!(c.quorum.mode, crate::quorum::QuorumMode::Static);
    let props: std::collections::BTreeMap<String, String> = properties::node_properties(&c, Role::Broker, 0)
        .into_iter()
        .collect();
    assert!(props["controller.quorum.voters"].starts_with("9000@demo-controller-9000."));
    assert!(!props.contains_key("controller.quorum.bootstrap.servers"));
    let objects = desired_objects(&c, None);
    let p = pod(&objects, "demo-controller-9000");
    assert!(!script_of(p).contains("initial-controllers"), "{}", script_of(p));
    assert_eq!(env_of(p, pod::INITIAL_CONTROLLERS_ENV), None);
    assert!(
        !p.metadata
            .annotations
            .as_ref()
            .unwrap()
            .contains_key(annotations::QUORUM)
    );
}

/// A new cluster of `spec` whose initial voters 9000..9002 were recorded.
fn new_cluster(spec: &str) -> crate::validate::ValidatedCluster {
    let existing = crate::validate::Existing {
        initial_voters: (9000..9003).collect(),
        ..Default::default()
    };
    crate::fixtures::validated_with(spec, &existing)
}

#[test]
fn only_the_recorded_initial_voters_are_formatted_as_voters() {
    // The spec asks for 5 before the quorum formed: 9003 and 9004 join as observers.
    let c = new_cluster("controllers:\n  replicas: 5\n");
    let objects = desired_objects(&c, None);
    assert!(
        env_of(
            pod(&objects, "demo-controller-9002"),
            pod::INITIAL_CONTROLLERS_ENV
        )
        .is_some()
    );
    assert_eq!(
        env_of(
            pod(&objects, "demo-controller-9003"),
            pod::INITIAL_CONTROLLERS_ENV
        ),
        None
    );
    assert_eq!(
        format_args(&c, Role::Controller, 9003),
        vec!["--no-initial-controllers"]
    );
    assert_eq!(
        format_args(&c, Role::Controller, 9000)[0],
        "--initial-controllers"
    );
    assert!(format_args(&c, Role::Broker, 0).is_empty());
}

#[test]
fn a_new_cluster_formats_its_controllers_as_the_initial_voters() {
    let c = new_cluster("");
    let objects = desired_objects(&c, None);
    let p = pod(&objects, "demo-controller-9001");
    assert_eq!(
        p.metadata
            .annotations
            .as_ref()
            .unwrap()
            .get(annotations::QUORUM)
            .map(String::as_str),
        Some("Dynamic")
    );
    let initial = env_of(p, pod::INITIAL_CONTROLLERS_ENV).expect("initial controllers");
    let dir = crate::quorum::initial_directory_id(crate::fixtures::CLUSTER_ID, 9001);
    assert!(
        initial.contains(&format!(
            "9001@demo-controller-9001.demo-kafka-headless.kafka.svc.cluster.local:9093:{dir}"
        )),
        "{initial}"
    );
    assert_eq!(initial.split(',').count(), 3);
    let script = script_of(p);
    assert!(script.contains("set -- --initial-controllers"), "{script}");
    assert!(script.contains("--ignore-formatted \"$@\""), "{script}");
    // Brokers format without a quorum flag, as Kafka asks only controllers for one.
    let b = pod(&objects, "demo-broker-0");
    assert!(!script_of(b).contains("initial-controllers"));
    let claim = objects
        .iter()
        .find(|o| o.name() == "data-demo-controller-9000")
        .unwrap();
    assert_eq!(
        claim
            .metadata()
            .annotations
            .as_ref()
            .unwrap()
            .get(annotations::QUORUM)
            .map(String::as_str),
        Some("Dynamic")
    );
}

#[test]
fn once_formed_new_controllers_join_as_observers_and_nothing_restarts() {
    let before = build(&existing_cluster("", true, false), None);
    let after = build(&existing_cluster("", true, true), None);
    let p = pod(&after.objects, "demo-controller-9000");
    assert_eq!(env_of(p, pod::INITIAL_CONTROLLERS_ENV), None);
    // Neither the quorum forming nor a controller count change restarts a node: the
    // bootstrap list is left out of the hashes.
    let grown = build(
        &existing_cluster("controllers:\n  replicas: 5\n", true, true),
        None,
    );
    for id in [9000, 0] {
        let hashes = |d: &Desired| {
            let n = d.node(id).unwrap();
            (n.config_hash.clone(), n.static_hash.clone())
        };
        assert_eq!(hashes(&before), hashes(&after), "node {id}");
        assert_eq!(hashes(&after), hashes(&grown), "node {id}");
    }
    let grown_props: std::collections::BTreeMap<String, String> =
        grown.node(0).unwrap().properties.iter().cloned().collect();
    assert_eq!(
        grown_props["controller.quorum.bootstrap.servers"]
            .split(',')
            .count(),
        5
    );
}

/// Metrics are on by default: every Kafka pod has the port `metrics` (9404) and the agent's JVM
/// option for the Kafka process only (the start script adds it; KAFKA_OPTS stays as it was).
/// `enabled: false` leaves both out; another port moves both.
#[test]
fn every_kafka_pod_exposes_metrics_unless_turned_off() {
    let metrics_of = |spec: &str, name: &str| {
        let objects = desired_objects(&validated(spec), Some(&owner()));
        let c = pod(&objects, name).spec.as_ref().unwrap().containers[0].clone();
        let port = c
            .ports
            .unwrap_or_default()
            .into_iter()
            .find(|p| p.name.as_deref() == Some(super::pod::METRICS_PORT_NAME))
            .map(|p| p.container_port);
        let agent = c
            .env
            .unwrap_or_default()
            .into_iter()
            .find(|e| e.name == "KRAFTWERK_METRICS_AGENT")
            .and_then(|e| e.value);
        (port, agent, c.command.unwrap()[2].clone())
    };
    for name in ["demo-controller-9000", "demo-broker-0"] {
        let (port, agent, script) = metrics_of("", name);
        assert_eq!(port, Some(9404), "{name}");
        assert_eq!(
            agent.as_deref(),
            Some(
                "-javaagent:/opt/kafka/jmx-exporter/jmx_prometheus_javaagent.jar=9404:/opt/kafka/jmx-exporter/kafka.yaml"
            )
        );
        let (format, add, exec) = (
            script.find("kafka-storage.sh format").unwrap(),
            script
                .find("export KAFKA_OPTS=\"${KAFKA_OPTS:-} $KRAFTWERK_METRICS_AGENT\"")
                .unwrap(),
            script.find("exec /opt/kafka/bin/kafka-server-start.sh").unwrap(),
        );
        assert!(
            format < add && add < exec,
            "only the server gets the agent:\n{script}"
        );
    }
    let (port, agent, _) = metrics_of("metrics: {enabled: false}", "demo-broker-0");
    assert_eq!((port, agent), (None, None));
    let (port, agent, _) = metrics_of("metrics: {port: 9999}", "demo-broker-0");
    assert_eq!(port, Some(9999));
    assert!(agent.unwrap().contains("=9999:"));
}

#[test]
fn kafka_pods_run_hardened_with_a_read_only_root_and_writable_mounts() {
    let objects = desired_objects(&validated(""), Some(&owner()));
    for name in ["demo-controller-9000", "demo-broker-0"] {
        let spec = pod(&objects, name).spec.clone().unwrap();
        let c = &spec.containers[0];
        let sc = c.security_context.clone().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.capabilities.unwrap().drop, Some(vec!["ALL".to_string()]));
        let psc = spec.security_context.unwrap();
        assert_eq!(psc.run_as_non_root, Some(true));
        assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
        // Everything the start script and Kafka write is a mount.
        let mounts: Vec<&str> = c
            .volume_mounts
            .iter()
            .flatten()
            .map(|m| m.mount_path.as_str())
            .collect();
        for path in [
            "/tmp",
            "/opt/kafka/logs",
            "/var/lib/kraftwerk",
            "/var/lib/kafka/data",
        ] {
            assert!(mounts.contains(&path), "{name}: {path} not mounted: {mounts:?}");
        }
    }
}

#[test]
fn a_user_security_context_keeps_the_rest_of_the_hardening() {
    let cluster = validated(
        "brokers: {template: {securityContext: {fsGroup: 2000}, containerSecurityContext: {readOnlyRootFilesystem: false}}}",
    );
    let objects = desired_objects(&cluster, Some(&owner()));
    let spec = pod(&objects, "demo-broker-0").spec.clone().unwrap();
    let psc = spec.security_context.unwrap();
    assert_eq!((psc.fs_group, psc.run_as_user), (Some(2000), Some(1000)));
    let sc = spec.containers[0].security_context.clone().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(false));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        cluster.hardening_relaxed,
        [crate::validate::Problem {
            field: "spec.brokers.template.containerSecurityContext.readOnlyRootFilesystem".into(),
            reason: "a writable root filesystem".into(),
        }]
    );
    let warning = crate::status::hardening_warning(&cluster).unwrap();
    assert!(
        warning.message.contains("readOnlyRootFilesystem"),
        "{}",
        warning.message
    );
}
