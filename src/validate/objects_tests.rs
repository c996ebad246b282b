use super::*;
use crate::desired;
use crate::fixtures::{CLUSTER_ID, cluster};
use crate::validate::{Existing, Options, validate};

/// The problems of the objects built for `spec`, for a cluster called `name`.
fn problems_named(name: &str, spec: &str) -> Vec<Problem> {
    let mut cr = cluster(spec);
    cr.metadata.name = Some(name.into());
    let validated = validate(&cr, &Existing::default(), CLUSTER_ID, &Options::default())
        .unwrap_or_else(|e| panic!("validate must accept it (this is the second line): {e}"));
    check_objects(&validated, &desired::build(&validated, None).objects)
}

fn problems(spec: &str) -> Vec<Problem> {
    problems_named("demo", spec)
}

/// Asserts exactly one field is named, and returns the reasons given for it.
fn only_field(spec: &str, field: &str) -> Vec<String> {
    let found = problems(spec);
    assert!(!found.is_empty(), "{spec}: no problem found");
    for p in &found {
        assert_eq!(p.field, field, "{spec}: {found:?}");
    }
    found.into_iter().map(|p| p.reason).collect()
}

#[test]
fn the_defaults_and_a_rich_valid_spec_pass() {
    assert_eq!(problems(""), vec![]);
    let rich = r#"
image: registry.example.com/kafka:4.3.1
imagePullSecrets: [{ name: regcred }]
listeners: [{ name: INTERNAL, port: 9092 }, { name: EXTERNAL_2, port: 9094 }]
rack: { topologyKey: topology.kubernetes.io/zone }
brokers:
  resources: { requests: { cpu: "1", memory: 2Gi, example.com/fpga: "1" }, limits: { cpu: "2", memory: 4Gi } }
  storage: { storageClassName: fast.ssd }
  template:
    labels: { team: data-platform, example.com/tier: gold }
    annotations: { example.com/owner: "Jane Doe <jane@example.com>" }
    nodeSelector: { kubernetes.io/os: linux }
    tolerations: [{ key: dedicated, operator: Equal, value: kafka, effect: NoExecute, tolerationSeconds: 30 }]
    topologySpreadConstraints: [{ maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway }]
    affinity:
      nodeAffinity:
        preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, preference: { matchExpressions: [{ key: disk, operator: In, values: [ssd] }] } }]
    securityContext: { runAsUser: 1000, fsGroup: 1000 }
    serviceAccountName: kafka
    priorityClassName: high
controllers:
  placement: { constraints: "hostname:MAX_PER:1" }
"#;
    assert_eq!(problems(rich), vec![]);
}

#[test]
fn cluster_names_that_make_invalid_object_names_name_metadata_name() {
    for name in ["9lives", "Demo", "de_mo"] {
        let found = problems_named(name, "");
        assert!(!found.is_empty(), "{name}");
        assert!(
            found.iter().all(|p| p.field == "metadata.name"),
            "{name}: {found:?}"
        );
    }
}

#[test]
fn listener_names_whose_port_names_are_invalid_name_the_listener() {
    let reasons = only_field(
        "listeners: [{ name: INTERNAL, port: 9092 }, { name: EXT_, port: 9094 }]",
        "spec.listeners[1].name",
    );
    assert!(reasons.iter().any(|r| r.contains("IANA")), "{reasons:?}");
    only_field(
        "listeners: [{ name: A__B, port: 9092 }]",
        "spec.listeners[0].name",
    );
    only_field(
        "listeners: [{ name: L1234567890, port: 9092 }, { name: L1234567890_, port: 9094 }]",
        "spec.listeners[1].name",
    );
}

#[test]
fn template_labels_annotations_and_selectors_name_the_key() {
    only_field(
        "brokers: { template: { labels: { team: data platform } } }",
        "spec.brokers.template.labels[\"team\"]",
    );
    only_field(
        "brokers: { template: { labels: { bad key: x } } }",
        "spec.brokers.template.labels[\"bad key\"]",
    );
    only_field(
        "controllers: { template: { nodeSelector: { disk: -ssd } } }",
        "spec.controllers.template.nodeSelector[\"disk\"]",
    );
    only_field(
        "brokers: { template: { annotations: { /owner: x } } }",
        "spec.brokers.template.annotations[\"/owner\"]",
    );
}

#[test]
fn references_by_name_must_be_dns_subdomains() {
    only_field(
        "brokers: { template: { serviceAccountName: Kafka_SA } }",
        "spec.brokers.template.serviceAccountName",
    );
    only_field(
        "controllers: { template: { priorityClassName: high priority } }",
        "spec.controllers.template.priorityClassName",
    );
    only_field(
        "brokers: { storage: { storageClassName: Fast_SSD } }",
        "spec.brokers.storage.storageClassName",
    );
    only_field(
        "imagePullSecrets: [{ name: \"\" }]",
        "spec.imagePullSecrets[0].name",
    );
}

#[test]
fn resources_must_parse_fit_and_be_known() {
    only_field(
        "brokers: { resources: { requests: { cpu: \"2\" }, limits: { cpu: \"1\" } } }",
        "spec.brokers.resources.requests[\"cpu\"]",
    );
    only_field(
        "controllers: { resources: { limits: { cpu: lots } } }",
        "spec.controllers.resources.limits[\"cpu\"]",
    );
    let reasons = only_field(
        "brokers: { resources: { limits: { gpu: \"1\" } } }",
        "spec.brokers.resources.limits[\"gpu\"]",
    );
    assert!(reasons[0].contains("standard resource"), "{reasons:?}");
}

#[test]
fn images_and_versions_that_make_invalid_values_name_their_field() {
    only_field("image: apache/kafka 4.3.1", "spec.image");
    // A version outside the release table never gets this far (validate refuses spec.version).
}

#[test]
fn scheduling_fields_name_the_template_entry() {
    only_field(
        "brokers: { template: { tolerations: [{ key: dedicated, operator: Is, value: kafka }] } }",
        "spec.brokers.template.tolerations[0]",
    );
    only_field(
        "brokers: { template: { tolerations: [{ key: a, operator: Equal, value: b, effect: NoSchedule, tolerationSeconds: 5 }] } }",
        "spec.brokers.template.tolerations[0]",
    );
    only_field(
        "brokers: { template: { topologySpreadConstraints: [{ maxSkew: 0, topologyKey: zone, whenUnsatisfiable: DoNotSchedule }] } }",
        "spec.brokers.template.topologySpreadConstraints[0]",
    );
    only_field(
        "brokers: { template: { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule }, { maxSkew: 2, topologyKey: zone, whenUnsatisfiable: DoNotSchedule }] } }",
        "spec.brokers.template.topologySpreadConstraints[1]",
    );
    only_field(
        "controllers: { template: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 0, preference: {} }] } } } }",
        "spec.controllers.template.affinity",
    );
    only_field(
        "brokers: { template: { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: \"\" }] } } } }",
        "spec.brokers.template.affinity",
    );
}

#[test]
fn security_context_ids_must_be_unix_ids() {
    only_field(
        "brokers: { template: { securityContext: { runAsUser: -1 } } }",
        "spec.brokers.template.securityContext.runAsUser",
    );
    only_field(
        "brokers: { template: { securityContext: { supplementalGroups: [1, 4294967296] } } }",
        "spec.brokers.template.securityContext.supplementalGroups[1]",
    );
}

#[test]
fn a_configuration_too_large_for_a_config_map_names_spec_config() {
    let big = "x".repeat(1024 * 1024);
    only_field(&format!("config: {{ ssl.cipher.suites: {big} }}"), "spec.config");
}

#[test]
fn a_template_problem_is_reported_once_not_per_pod() {
    let found = problems("brokers: { replicas: 5, template: { labels: { team: a b } } }");
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn offline_render_refuses_what_the_api_server_would() {
    let cr = cluster("brokers: { template: { labels: { team: a b } } }");
    let e = crate::render::render(&cr, &crate::render::RenderOptions::default())
        .expect_err("render must refuse an object the API server would refuse");
    assert_eq!(e.problems[0].field, "spec.brokers.template.labels[\"team\"]");
}
