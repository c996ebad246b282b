//! How TLS shows in what the operator builds: properties, pod, hashes, and never a key.

use std::collections::BTreeMap;

use crate::desired::{self, Object};
use crate::fixtures::validated_with;
use crate::tls::issue::{Subject, generate_ca, issue};
use crate::validate::Existing;

const SPEC: &str = "security: {tls: {enabled: true}}\nlisteners:\n- {name: INTERNAL, port: 9092, tls: true}\n\
                    - {name: PLAIN, port: 9094}";

fn existing(digest: &str, admin: Option<crate::admin::ClientTls>) -> Existing {
    Existing {
        tls_digests: BTreeMap::from([(0, digest.to_string()), (9000, "c".to_string())]),
        admin_tls: admin,
        ..Default::default()
    }
}

fn props(built: &desired::Desired, id: i32) -> BTreeMap<String, String> {
    built.node(id).unwrap().properties.iter().cloned().collect()
}

#[test]
fn internal_tls_renders_ssl_listeners_with_mutual_tls_inside_and_the_keys_from_the_mount() {
    let c = validated_with(SPEC, &existing("d0", None));
    let built = desired::build(&c, None);
    let broker = props(&built, 0);
    assert_eq!(
        broker["listener.security.protocol.map"],
        "CONTROLLER:SSL,INTERNAL:SSL,PLAIN:PLAINTEXT,REPLICATION:SSL"
    );
    assert_eq!(
        broker["listeners"],
        "INTERNAL://0.0.0.0:9092,PLAIN://0.0.0.0:9094,REPLICATION://0.0.0.0:9091"
    );
    assert_eq!(broker["inter.broker.listener.name"], "REPLICATION");
    assert_eq!(broker["listener.name.replication.ssl.client.auth"], "required");
    assert_eq!(broker["listener.name.controller.ssl.client.auth"], "required");
    assert!(!broker.contains_key("listener.name.internal.ssl.client.auth"));
    assert_eq!(broker["ssl.keystore.type"], "PEM");
    assert_eq!(
        broker["ssl.keystore.key"],
        "${kraftwerktls:/etc/kraftwerk/tls/node:tls.key}"
    );
    assert_eq!(
        broker["ssl.keystore.certificate.chain"],
        "${kraftwerktls:/etc/kraftwerk/tls/node:tls.crt}"
    );
    assert_eq!(broker["ssl.truststore.location"], "/etc/kraftwerk/tls/ca/ca.crt");
    let controller = props(&built, 9000);
    assert_eq!(controller["listeners"], "CONTROLLER://0.0.0.0:9093");
    // Voters are reached by the names their certificates carry.
    assert_eq!(
        controller["advertised.listeners"],
        "CONTROLLER://demo-controller-9000.demo-kafka-headless.kafka.svc.cluster.local:9093"
    );
    assert_eq!(controller["ssl.keystore.type"], "PEM");
    assert_eq!(c.bootstrap(), "demo-kafka-bootstrap.kafka.svc.cluster.local:9091");
}

#[test]
fn the_pod_mounts_only_its_own_certificate_and_carries_its_digest() {
    let c = validated_with(SPEC, &existing("d0", None));
    let built = desired::build(&c, None);
    let pod = built
        .pods()
        .find(|p| p.metadata.name.as_deref() == Some("demo-broker-0"))
        .unwrap();
    let spec = pod.spec.as_ref().unwrap();
    let secrets: Vec<(String, Vec<String>)> = spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| v.secret.as_ref())
        .map(|s| {
            (
                s.secret_name.clone().unwrap(),
                s.items.iter().flatten().map(|i| i.key.clone()).collect(),
            )
        })
        .collect();
    assert_eq!(
        secrets,
        [
            (
                "demo-broker-0-tls".to_string(),
                vec!["tls.crt".to_string(), "tls.key".to_string()]
            ),
            ("demo-cluster-ca-cert".to_string(), vec!["ca.crt".to_string()]),
        ]
    );
    let env = &spec.containers[0].env.as_ref().unwrap();
    assert!(
        env.iter()
            .any(|e| e.name == "KRAFTWERK_TLS_DIGEST" && e.value.as_deref() == Some("d0"))
    );
    assert_eq!(
        pod.metadata.annotations.as_ref().unwrap()[crate::annotations::TLS_DIGEST],
        "d0"
    );
}

#[test]
fn a_new_certificate_changes_what_only_a_restart_applies() {
    let before = desired::build(&validated_with(SPEC, &existing("d0", None)), None);
    let after = desired::build(&validated_with(SPEC, &existing("d1", None)), None);
    let (b, a) = (before.node(0).unwrap(), after.node(0).unwrap());
    assert_ne!(b.config_hash, a.config_hash);
    assert_ne!(b.static_hash, a.static_hash, "a restart, not a live update");
    assert_eq!(b.dynamic, a.dynamic);
    // Other nodes are untouched.
    assert_eq!(
        before.node(1).unwrap().config_hash,
        after.node(1).unwrap().config_hash
    );
}

#[test]
fn a_cluster_without_tls_renders_as_before() {
    let c = validated_with("", &existing("d0", None));
    assert!(c.tls.is_none());
    assert!(c.tls_digests.is_empty());
    let built = desired::build(&c, None);
    assert!(!props(&built, 0).keys().any(|k| k.starts_with("ssl.")));
    assert!(!props(&built, 9000).contains_key("advertised.listeners"));
    assert!(built.pods().all(|p| {
        p.spec
            .as_ref()
            .unwrap()
            .volumes
            .iter()
            .flatten()
            .all(|v| v.secret.is_none())
    }));
}

#[test]
fn key_material_never_reaches_objects_status_or_logs() {
    let (ca, _) = generate_ca("demo-cluster-ca", 1_800_000_000, 30).unwrap();
    let subject = Subject {
        common_name: crate::tls::OPERATOR_COMMON_NAME.into(),
        sans: vec![],
    };
    let (client, _) = issue(&ca, &subject, 1_800_000_000, 10).unwrap();
    let admin = crate::admin::ClientTls {
        ca_pem: ca.cert_pem.clone(),
        identity: Some((client.cert_pem.clone(), client.key_pem.clone())),
    };
    let c = validated_with(SPEC, &existing("d0", Some(admin)));
    assert!(c.admin_tls.is_some(), "the operator's client reaches the cluster");
    let built = desired::build(&c, None);
    let key_body: String = client.key_pem.lines().nth(1).unwrap().to_string();
    let ca_key_body: String = ca.key_pem.lines().nth(1).unwrap().to_string();
    let leaks =
        |text: &str| text.contains("PRIVATE KEY") || text.contains(&key_body) || text.contains(&ca_key_body);
    for o in &built.objects {
        let text = serde_json::to_string(o).unwrap();
        assert!(!leaks(&text), "{} {} holds key material", o.kind(), o.name());
        if let Object::ConfigMap(cm) = o {
            assert!(
                !serde_json::to_string(&cm.data).unwrap().contains("BEGIN"),
                "no PEM in a ConfigMap"
            );
        }
    }
    let status = crate::status::compute(
        &c,
        &[],
        &Default::default(),
        None,
        k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
    );
    assert!(!leaks(&serde_json::to_string(&status).unwrap()), "status");
    // What a log line or Event could print of the cluster.
    assert!(!leaks(&format!("{c:?}")), "Debug of the validated cluster");
    let secret =
        crate::tls::secrets::cert_secret(&c.names, "x", &client, &ca.cert_pem, &Default::default(), None);
    assert!(
        !leaks(&serde_json::to_string(&secret.metadata).unwrap()),
        "Secret metadata"
    );
}

#[test]
fn the_secure_example_renders_with_tls_and_scram_everywhere() {
    use serde::Deserialize;
    // The file's first document is the cluster (a KafkaUser follows).
    let doc = serde_yaml::Deserializer::from_str(include_str!("../../deploy/examples/secure.yaml"))
        .next()
        .unwrap();
    let cr = crate::crd::KafkaCluster::deserialize(doc).unwrap();
    let rendered = crate::render::render(&cr, &Default::default()).expect("the example is valid");
    let broker = rendered.nodes.iter().find(|n| n.node_id == 0).unwrap();
    assert!(
        broker
            .server_properties
            .contains("listener.security.protocol.map=CONTROLLER:SSL,INTERNAL:SASL_SSL,EXTERNAL:SASL_SSL,REPLICATION:SSL"),
        "{}",
        broker.server_properties
    );
    let p = &broker.server_properties;
    assert!(
        p.contains("authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
        "{p}"
    );
    let super_users = p
        .lines()
        .find(|l| l.starts_with("super.users="))
        .unwrap_or_default();
    assert!(
        super_users.split(';').any(|u| u.ends_with("User:admin")),
        "{super_users}"
    );
}

#[test]
fn brokers_serve_a_listeners_own_certificate_from_its_mount_and_roll_on_its_digest() {
    let spec = "security: {tls: {enabled: true}}\nlisteners:\n- {name: INTERNAL, port: 9092, tls: true}\n\
                - {name: OWN_CERT, port: 9096, tls: true, certificateSecret: my-cert}";
    let with = |digest: &str| Existing {
        listener_certs: digest.to_string(),
        ..existing("d0", None)
    };
    let c = validated_with(spec, &with("lc1"));
    let built = desired::build(&c, None);
    let broker = props(&built, 0);
    assert_eq!(
        broker["listener.name.own_cert.ssl.keystore.certificate.chain"],
        "${kraftwerktls:/etc/kraftwerk/tls/listener/own_cert:tls.crt}"
    );
    assert_eq!(
        broker["listener.name.own_cert.ssl.keystore.key"],
        "${kraftwerktls:/etc/kraftwerk/tls/listener/own_cert:tls.key}"
    );
    assert_eq!(
        broker["config.providers.kraftwerktls.param.allowed.paths"],
        "/etc/kraftwerk/tls/node,/etc/kraftwerk/tls/listener/own_cert"
    );
    assert!(!broker.contains_key("listener.name.internal.ssl.keystore.key"));
    let controller = props(&built, 9000);
    assert!(!controller.keys().any(|k| k.starts_with("listener.name.own_cert")));
    assert_eq!(
        controller["config.providers.kraftwerktls.param.allowed.paths"],
        "/etc/kraftwerk/tls/node"
    );
    let pod = |built: &desired::Desired, name: &str| {
        built
            .pods()
            .find(|p| p.metadata.name.as_deref() == Some(name))
            .unwrap()
            .spec
            .clone()
            .unwrap()
    };
    let broker_pod = pod(&built, "demo-broker-0");
    let volume = broker_pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "tls-listener-own-cert")
        .unwrap();
    assert_eq!(
        volume.secret.as_ref().unwrap().secret_name.as_deref(),
        Some("my-cert")
    );
    let container = &broker_pod.containers[0];
    assert!(
        container
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.name == "tls-listener-own-cert"
                && m.mount_path == "/etc/kraftwerk/tls/listener/own_cert")
    );
    let env = |spec: &k8s_openapi::api::core::v1::PodSpec| {
        spec.containers[0]
            .env
            .iter()
            .flatten()
            .find(|e| e.name == "KRAFTWERK_LISTENER_CERTS")
            .and_then(|e| e.value.clone())
    };
    assert_eq!(env(&broker_pod).as_deref(), Some("lc1"));
    let controller_pod = pod(&built, "demo-controller-9000");
    assert!(
        !controller_pod
            .volumes
            .iter()
            .flatten()
            .any(|v| v.name.starts_with("tls-listener")),
        "controllers serve no client listener"
    );
    assert_eq!(env(&controller_pod), None);
    // A new certificate in the Secret changes the brokers' pods (a roll), not the controllers'.
    let renewed = desired::build(&validated_with(spec, &with("lc2")), None);
    assert_ne!(pod(&renewed, "demo-broker-0"), broker_pod);
    assert_eq!(pod(&renewed, "demo-controller-9000"), controller_pod);
}

#[test]
fn the_user_secrets_a_spec_names_are_its_ca_and_listener_certificates() {
    let kc = crate::fixtures::cluster(
        "security: {tls: {enabled: true, ca: {secretName: my-ca}}}\n\
         listeners:\n\
         - {name: A, port: 9092, tls: true, certificateSecret: public-a}\n\
         - {name: B, port: 9093, tls: true}\n\
         - {name: C, port: 9094, tls: true, certificateSecret: public-c}",
    );
    assert_eq!(
        crate::tls::user_secrets(&kc.spec),
        ["my-ca", "public-a", "public-c"]
    );
    let plain = crate::fixtures::cluster("");
    assert!(crate::tls::user_secrets(&plain.spec).is_empty());
}
