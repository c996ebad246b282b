use super::*;
use crate::fixtures::{CLUSTER_ID, claim, cluster, validated};

fn refused(spec: &str, existing: &Existing) -> InvalidSpec {
    validate(&cluster(spec), existing, CLUSTER_ID, &Options::default()).expect_err("must be refused")
}

fn refused_fields(spec: &str) -> Vec<String> {
    refused(spec, &Existing::default())
        .problems
        .into_iter()
        .map(|p| p.field)
        .collect()
}

#[test]
fn empty_spec_is_a_complete_evaluation_cluster() {
    let c = validated("");
    assert_eq!(c.version, crate::crd::DEFAULT_KAFKA_VERSION);
    assert_eq!(
        c.image,
        format!("apache/kafka:{}", crate::crd::DEFAULT_KAFKA_VERSION)
    );
    assert_eq!(c.brokers.ids, vec![0, 1, 2]);
    assert_eq!(c.controllers.ids, vec![9000, 9001, 9002]);
    assert_eq!(
        c.listeners,
        vec![Listener {
            name: "INTERNAL".into(),
            port: 9092,
            protocol: "PLAINTEXT".into(),
            tls: false,
            authentication: None,
            certificate_secret: None,
            exposure: Default::default(),
        }]
    );
    assert_eq!(c.inter_broker_listener, "INTERNAL");
    assert_eq!(c.controller_port, 9093);
    assert_eq!(c.brokers.storage.size, "10Gi");
    assert_eq!(c.controllers.storage.size, "2Gi");
    assert!(!c.brokers.storage.delete_claim);
    // Heap is half the default 2Gi/1Gi memory limit.
    assert_eq!(c.brokers.heap_mib, 1024);
    assert_eq!(c.controllers.heap_mib, 512);
}

#[test]
fn heap_is_derived_from_memory_and_capped() {
    let c = validated("brokers:\n  resources:\n    limits:\n      memory: 4Gi\n");
    assert_eq!(c.brokers.heap_mib, 2048);
    let c = validated("brokers:\n  resources:\n    limits:\n      memory: 64Gi\n");
    assert_eq!(c.brokers.heap_mib, 6144);
    let c = validated("brokers:\n  resources:\n    requests:\n      memory: 3Gi\n");
    assert_eq!(c.brokers.heap_mib, 1536);
}

#[test]
fn heap_at_or_above_the_memory_limit_is_refused() {
    let fields =
        refused_fields("brokers:\n  resources:\n    limits:\n      memory: 1Gi\n  jvm:\n    heap: 1Gi\n");
    assert_eq!(fields, vec!["spec.brokers.jvm.heap"]);
}

#[test]
fn replica_counts_are_checked() {
    assert_eq!(
        refused_fields("brokers:\n  replicas: 0\n"),
        vec!["spec.brokers.replicas"]
    );
    assert_eq!(
        refused_fields("controllers:\n  replicas: 2\n"),
        vec!["spec.controllers.replicas"]
    );
    assert_eq!(
        validated("controllers:\n  replicas: 5\n").controllers.ids,
        vec![9000, 9001, 9002, 9003, 9004]
    );
}

#[test]
fn reserved_config_keys_are_refused_with_their_field() {
    let e = refused(
        "config:\n  node.id: 7\n  controller.quorum.voters: x\n  num.partitions: 6\n",
        &Existing::default(),
    );
    let fields: Vec<&str> = e.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            r#"spec.config["controller.quorum.voters"]"#,
            r#"spec.config["node.id"]"#
        ]
    );
    assert!(
        e.to_string().contains("node.id is managed by the operator"),
        "{e}"
    );
    let e = refused("brokers:\n  config:\n    log.dirs: /tmp\n", &Existing::default());
    assert_eq!(e.problems[0].field, r#"spec.brokers.config["log.dirs"]"#);
}

#[test]
fn config_values_must_be_single_line_scalars() {
    assert_eq!(
        refused_fields("config:\n  a.b:\n    nested: 1\n"),
        vec![r#"spec.config["a.b"]"#]
    );
    assert_eq!(
        refused_fields("config:\n  a.b: \"x\\ny=1\"\n"),
        vec![r#"spec.config["a.b"]"#]
    );
    let c = validated(
        "config:\n  num.partitions: 6\n  auto.create.topics.enable: false\nbrokers:\n  config:\n    num.partitions: 12\n",
    );
    assert_eq!(
        c.brokers.overrides.get("num.partitions").map(String::as_str),
        Some("12")
    );
    assert_eq!(
        c.controllers.overrides.get("num.partitions").map(String::as_str),
        Some("6")
    );
    assert_eq!(
        c.brokers
            .overrides
            .get("auto.create.topics.enable")
            .map(String::as_str),
        Some("false")
    );
}

#[test]
fn listeners_are_checked() {
    let fields = refused_fields(
        "listeners:\n- {name: CONTROLLER, port: 9094}\n- {name: a, port: 9095}\n- {name: EXT, port: 9093}\n- {name: EXT2, port: 80}\n",
    );
    assert_eq!(
        fields,
        vec![
            "spec.listeners[0].name",
            "spec.listeners[1].name",
            "spec.listeners[2].port",
            "spec.listeners[3].port"
        ]
    );
    assert_eq!(
        refused_fields("interBrokerListener: NOPE\n"),
        vec!["spec.interBrokerListener"]
    );
}

#[test]
fn custom_ports_are_accepted() {
    let c = validated(
        "listeners:\n- {name: CLIENT, port: 19092}\n- {name: REPLICATION, port: 19094}\ninterBrokerListener: REPLICATION\ncontrollerListener:\n  port: 19093\n",
    );
    assert_eq!(c.controller_port, 19093);
    assert_eq!(c.inter_broker().port, 19094);
}

#[test]
fn storage_shrink_and_class_change_are_refused() {
    let existing = Existing {
        pvcs: vec![claim(Role::Broker, 0, "10Gi", Some("fast"))],
        ..Default::default()
    };
    let e = refused(
        "brokers:\n  storage:\n    size: 5Gi\n    storageClassName: fast\n",
        &existing,
    );
    assert_eq!(e.problems.len(), 1);
    assert_eq!(e.problems[0].field, "spec.brokers.storage.size");
    assert!(
        e.problems[0]
            .reason
            .contains("cannot shrink to 5Gi: claim data-demo-broker-0 has 10Gi"),
        "{e}"
    );
    let e = refused(
        "brokers:\n  storage:\n    size: 10Gi\n    storageClassName: slow\n",
        &existing,
    );
    assert_eq!(e.problems[0].field, "spec.brokers.storage.storageClassName");
    // Growing is allowed.
    let c = validate(
        &cluster("brokers:\n  storage:\n    size: 20Gi\n    storageClassName: fast\n"),
        &existing,
        CLUSTER_ID,
        &Options::default(),
    );
    assert!(c.is_ok());
}

#[test]
fn a_dynamic_quorum_changes_its_controller_count_keeping_voters_until_removed() {
    let marked = |id| {
        let mut c = claim(Role::Controller, id, "2Gi", None);
        c.metadata.annotations = Some(BTreeMap::from([(
            crate::annotations::QUORUM.to_string(),
            "Dynamic".to_string(),
        )]));
        c
    };
    let existing = Existing {
        pvcs: (9000..9005).map(marked).collect(),
        retained_controller_ids: [9003].into(),
        quorum_formed: true,
        ..Default::default()
    };
    let c = validate(&cluster(""), &existing, CLUSTER_ID, &Options::default()).expect("valid");
    assert_eq!(c.quorum.mode, crate::quorum::QuorumMode::Dynamic);
    // 9003 is still a voter: it keeps running; 9004 is not and goes.
    assert_eq!(c.controllers.ids, vec![9000, 9001, 9002, 9003]);
    assert_eq!(c.quorum.initial_controllers, None);
    let grown = validate(
        &cluster("controllers:\n  replicas: 5\n"),
        &existing,
        CLUSTER_ID,
        &Options::default(),
    );
    assert_eq!(
        grown.expect("valid").controllers.ids,
        vec![9000, 9001, 9002, 9003, 9004]
    );
}

#[test]
fn controller_count_is_fixed_once_the_quorum_exists() {
    let existing = Existing {
        pvcs: (0..3)
            .map(|i| claim(Role::Controller, 9000 + i, "2Gi", None))
            .collect(),
        ..Default::default()
    };
    let e = refused("controllers:\n  replicas: 5\n", &existing);
    assert_eq!(e.problems[0].field, "spec.controllers.replicas");
    assert!(e.problems[0].reason.contains("cannot change from 3 to 5"), "{e}");
    assert!(e.problems[0].reason.contains("static"), "{e}");
    assert!(validate(&cluster(""), &existing, CLUSTER_ID, &Options::default()).is_ok());
    // The refusal says why the quorum is not dynamic yet.
    let kept = Existing {
        static_quorum: Some("it stays static: Kafka 4.0.2 cannot raise kraft.version".into()),
        ..existing.clone()
    };
    let e = refused("controllers:\n  replicas: 5\n", &kept);
    assert!(e.problems[0].reason.contains("Kafka 4.0.2"), "{e}");
    // Once Kafka reports the static quorum upgraded, it is rendered dynamic and may change.
    let upgraded = Existing {
        quorum_upgraded: true,
        quorum_formed: true,
        ..existing
    };
    let grown = validate(
        &cluster("controllers:\n  replicas: 5\n"),
        &upgraded,
        CLUSTER_ID,
        &Options::default(),
    )
    .expect("an upgraded quorum changes its controller count");
    assert_eq!(grown.quorum.mode, crate::quorum::QuorumMode::Dynamic);
    assert_eq!(grown.quorum.initial_controllers, None);
    assert_eq!(grown.controllers.ids, vec![9000, 9001, 9002, 9003, 9004]);
}

#[test]
fn retained_brokers_keep_running_above_the_desired_count() {
    let existing = Existing {
        retained_broker_ids: [3, 4].into(),
        ..Default::default()
    };
    let c = validate(&cluster(""), &existing, CLUSTER_ID, &Options::default()).unwrap();
    assert_eq!(c.brokers.replicas, 3);
    assert_eq!(c.brokers.ids, vec![0, 1, 2, 3, 4]);
}

#[test]
fn operator_labels_cannot_be_overridden() {
    assert_eq!(
        refused_fields("brokers:\n  template:\n    labels:\n      kraftwerk.dev/cluster: other\n"),
        vec!["spec.brokers.template.labels"]
    );
}

#[test]
fn long_names_are_refused() {
    let mut cr = cluster("");
    cr.metadata.name = Some("x".repeat(48));
    let e = validate(&cr, &Existing::default(), CLUSTER_ID, &Options::default()).unwrap_err();
    assert_eq!(e.problems[0].field, "metadata.name");
}

#[test]
fn versions_and_metadata_version_pins_are_checked() {
    assert_eq!(refused_fields("version: 4.4.0\n"), vec!["spec.version"]);
    let e = refused("version: 3.9.1\n", &Existing::default());
    assert!(
        e.to_string().contains("4.3.1"),
        "lists the supported releases: {e}"
    );
    assert_eq!(
        refused_fields("metadataVersion: 4.3-IV7\n"),
        vec!["spec.metadataVersion"]
    );
    assert_eq!(
        refused_fields("version: 4.2.2\nmetadataVersion: 4.3\n"),
        vec!["spec.metadataVersion"],
        "above what 4.2.2 runs"
    );
    let c = validate(
        &cluster("version: 4.2.2\nmetadataVersion: 4.2-IV0\n"),
        &Existing::default(),
        CLUSTER_ID,
        &Options::default(),
    )
    .expect("a pin at or below the release's level");
    assert_eq!(c.image, "apache/kafka:4.2.2", "the release's default image tag");
}

#[test]
fn a_metrics_port_taken_by_kafka_is_refused_naming_the_field() {
    assert_eq!(refused_fields("metrics: {port: 9092}"), ["spec.metrics.port"]);
    assert_eq!(refused_fields("metrics: {port: 9093}"), ["spec.metrics.port"]);
    let off = cluster("metrics: {port: 9093, enabled: false}");
    let cluster = validate(&off, &Existing::default(), CLUSTER_ID, &Options::default()).expect("valid");
    assert_eq!(cluster.metrics_port, None);
}

#[test]
fn listener_protocol_is_derived_from_tls_and_authentication() {
    let spec = "listeners:\n- {name: PLAIN, port: 9092}\n- {name: TLS, port: 9094, tls: true}\n\
                - {name: SCRAM, port: 9095, authentication: {type: scram-sha-512}}\n\
                - {name: MTLS, port: 9096, tls: true, authentication: {type: tls}}";
    let cluster = crate::fixtures::cluster(spec);
    let protocols: Vec<&str> = cluster
        .spec
        .listeners
        .iter()
        .map(|l| l.security_protocol())
        .collect();
    assert_eq!(protocols, ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SSL"]);
    // A stated protocol must agree; the legacy PLAINTEXT default only without TLS.
    assert!(
        refused_fields("listeners:\n- {name: TLS, port: 9094, tls: true, protocol: PLAINTEXT}")
            .contains(&"spec.listeners[0].protocol".to_string())
    );
    assert_eq!(
        refused_fields("listeners:\n- {name: TLS, port: 9094, protocol: SSL}"),
        vec!["spec.listeners[0].protocol"]
    );
    assert_eq!(
        refused_fields(
            "listeners:\n- {name: PLAIN, port: 9092}\n- {name: MTLS, port: 9094, authentication: {type: tls}}"
        ),
        vec!["spec.listeners[1].authentication.type"]
    );
    // The inter-broker listener carries no authentication without internal TLS.
    assert_eq!(
        refused_fields("listeners:\n- {name: SCRAM, port: 9094, authentication: {type: scram-sha-512}}"),
        vec!["spec.listeners[0].authentication"]
    );
}

#[test]
fn internal_tls_reserves_the_replication_listener() {
    let fields = refused_fields(
        "security: {tls: {enabled: true}}\ninterBrokerListener: INTERNAL\nlisteners:\n\
         - {name: INTERNAL, port: 9092}\n- {name: OTHER, port: 9091}",
    );
    assert!(fields.contains(&"spec.listeners[1]".to_string()), "{fields:?}");
    assert!(
        fields.contains(&"spec.interBrokerListener".to_string()),
        "{fields:?}"
    );
    assert!(
        refused_fields("security: {tls: {certificates: {validityDays: 10, renewBeforeDays: 10}}}\nlisteners:\n- {name: T, port: 9094, tls: true}")
            .contains(&"spec.security.tls.certificates.renewBeforeDays".to_string())
    );
}
