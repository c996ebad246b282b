//! Walks the generated CRD schema: every integer has a minimum and a maximum, every string a
//! bound or a check, unless it is on the allow-list below with the reason it may stay open.

use kube::CustomResourceExt;
use serde_json::Value;

use super::KafkaCluster;

/// Fields that stay open at admission, each with where it is checked instead. Paths use
/// `<pool>` for both `brokers` and `controllers`; an entry covers everything below it.
const ALLOWED: &[(&str, &str)] = &[
    (
        "spec.config{}",
        "Kafka properties of any type; keys and values are checked by validate (config_overrides): reserved keys, key syntax, scalar single-line values",
    ),
    ("spec.<pool>.config{}", "as spec.config"),
    (
        "spec.<pool>.resources.limits{}",
        "quantities: cpu, memory and ephemeral-storage by the pool's CEL rules; every resource name and value by check_objects",
    ),
    ("spec.<pool>.resources.requests{}", "as resources.limits"),
    (
        "spec.<pool>.resources.claims[]",
        "refused as a whole by the pool's CEL rule (resources.claims is not supported)",
    ),
    (
        "spec.imagePullSecrets[].name",
        "a Kubernetes LocalObjectReference; emptiness by check_objects, existence by the kubelet",
    ),
    (
        "spec.<pool>.template.affinity",
        "Kubernetes core type passed to the pod; keys, operators, values, weights and topology keys by check_objects",
    ),
    (
        "spec.<pool>.template.tolerations[]",
        "Kubernetes core type; key, operator, value, effect and tolerationSeconds by check_objects",
    ),
    (
        "spec.<pool>.template.topologySpreadConstraints[]",
        "Kubernetes core type; maxSkew, minDomains, topologyKey, policies and selectors by check_objects",
    ),
    (
        "spec.<pool>.template.securityContext",
        "Kubernetes core type; uid/gid ranges by check_objects, the rest by pod admission (PodSecurity)",
    ),
    (
        "spec.listeners[].from[]",
        "Kubernetes NetworkPolicyPeer copied into the cluster's NetworkPolicy; selectors and CIDRs are checked by the API server on the NetworkPolicy (a refusal is reported as ApplyFailed naming the object)",
    ),
    (
        "spec.<pool>.template.containerSecurityContext",
        "Kubernetes core type merged over the hardened default; uid/gid ranges by check_objects, the rest by pod admission (PodSecurity); relaxations reported (HardeningRelaxed)",
    ),
];

/// Paths of leaves (integers, strings, untyped values) that carry no bound or check.
pub(crate) fn unbounded(node: &Value, path: &str, out: &mut Vec<String>) {
    let has = |k: &str| node.get(k).is_some();
    let checked = has("x-kubernetes-validations") || has("enum");
    let int_bounded = checked || (has("minimum") && has("maximum"));
    let string_bounded = checked || has("maxLength") || has("pattern");
    match node.get("type").and_then(Value::as_str) {
        Some("integer") | Some("number") if !int_bounded => out.push(path.to_string()),
        Some("string") if !string_bounded => out.push(path.to_string()),
        None if has("x-kubernetes-preserve-unknown-fields") || has("x-kubernetes-int-or-string") => {
            out.push(path.to_string())
        }
        _ => {}
    }
    for (k, v) in node
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        unbounded(v, &format!("{path}.{k}"), out);
    }
    if let Some(items) = node.get("items") {
        unbounded(items, &format!("{path}[]"), out);
    }
    if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object()) {
        unbounded(values, &format!("{path}{{}}"), out);
    }
}

fn normalize(path: &str) -> String {
    path.replacen("spec.brokers.", "spec.<pool>.", 1)
        .replacen("spec.controllers.", "spec.<pool>.", 1)
}

fn spec_schema() -> Value {
    let crd = serde_json::to_value(KafkaCluster::crd()).unwrap_or_default();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
}

#[test]
fn every_field_that_feeds_an_object_or_config_is_bounded_or_allow_listed() {
    let mut open = Vec::new();
    unbounded(&spec_schema(), "spec", &mut open);
    let not_allowed: Vec<&String> = open
        .iter()
        .filter(|p| !ALLOWED.iter().any(|(a, _)| normalize(p).starts_with(a)))
        .collect();
    assert!(
        not_allowed.is_empty(),
        "fields without a bound or check (bound them in src/crd/spec.rs, or allow-list them with a reason): {not_allowed:#?}"
    );
    for (entry, reason) in ALLOWED {
        assert!(!reason.is_empty());
        assert!(
            open.iter().any(|p| normalize(p).starts_with(entry)),
            "allow-list entry {entry} matches no open field: remove it"
        );
    }
}

#[test]
fn the_walker_finds_open_integers_strings_and_untyped_values() {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "a": { "type": "integer", "minimum": 1 },
            "b": { "type": "integer", "minimum": 1, "maximum": 2 },
            "c": { "type": "string" },
            "d": { "type": "string", "maxLength": 3 },
            "e": { "type": "array", "items": { "type": "string", "x-kubernetes-validations": [{ "rule": "self != ''" }] } },
            "f": { "type": "object", "additionalProperties": { "x-kubernetes-int-or-string": true } },
        }
    });
    let mut open = Vec::new();
    unbounded(&schema, "spec", &mut open);
    assert_eq!(open, vec!["spec.a", "spec.c", "spec.f{}"]);
}

#[test]
fn the_root_rule_bounds_metadata_name() {
    let crd = serde_json::to_value(KafkaCluster::crd()).unwrap_or_default();
    let root = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let rules = root["x-kubernetes-validations"].to_string();
    assert!(rules.contains("self.metadata.name"), "{rules}");
}
