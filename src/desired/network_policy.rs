//! The cluster's NetworkPolicy: which peers may open connections to which port of its pods.
//!
//! - every port: the cluster's own pods (quorum, replication, the start script's tools);
//! - the controller port and every listener: the operator's pods (its admin client), when the
//!   operator's namespace is known;
//! - each listener: its `from` peers; unset, every pod of the cluster's namespace for an
//!   `internal` listener and any source for an external one; `[]`, nobody else;
//! - the metrics port: pods of the monitoring namespace (`networkPolicy.metricsNamespace`), else
//!   of the cluster's namespace.
//!
//! Policies do not apply to `hostNetwork` pods in most network plugins (docs/security.md).

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta;
use crate::labels;
use crate::validate::ValidatedCluster;

/// The label Kubernetes sets on every namespace with its name.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
/// The operator's pods (the Helm chart's `app.kubernetes.io/name`).
const OPERATOR_NAME: &str = "kraftwerk";

fn selector(labels: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels),
        match_expressions: None,
    }
}

fn ports(ports: impl IntoIterator<Item = i32>) -> Option<Vec<NetworkPolicyPort>> {
    Some(
        ports
            .into_iter()
            .map(|p| NetworkPolicyPort {
                port: Some(IntOrString::Int(p)),
                protocol: Some("TCP".into()),
                end_port: None,
            })
            .collect(),
    )
}

fn namespace(name: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(selector(BTreeMap::from([(
            NAMESPACE_NAME_LABEL.to_string(),
            name.to_string(),
        )]))),
        ..Default::default()
    }
}

/// Every pod of the policy's own namespace.
fn same_namespace() -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..Default::default()
    }
}

/// The cluster's policy; None when `networkPolicy.enabled` is false.
pub fn cluster_policy(cluster: &ValidatedCluster, owner: Option<&OwnerReference>) -> Option<NetworkPolicy> {
    let settings = cluster.network_policy.as_ref()?;
    let own = selector(labels::cluster_selector(&cluster.names.cluster));
    let mut rules = vec![NetworkPolicyIngressRule {
        from: Some(vec![NetworkPolicyPeer {
            pod_selector: Some(own.clone()),
            ..Default::default()
        }]),
        ports: None,
    }];
    if let Some(ns) = &settings.operator_namespace {
        let operator = NetworkPolicyPeer {
            pod_selector: Some(selector(BTreeMap::from([(
                labels::NAME.to_string(),
                OPERATOR_NAME.to_string(),
            )]))),
            ..namespace(ns)
        };
        let kafka_ports = cluster
            .listeners
            .iter()
            .map(|l| l.port)
            .chain([cluster.controller_port]);
        rules.push(NetworkPolicyIngressRule {
            from: Some(vec![operator]),
            ports: ports(kafka_ports),
        });
    }
    for l in &cluster.listeners {
        let from = match &l.exposure.from {
            Some(peers) if peers.is_empty() => continue,
            Some(peers) => Some(peers.clone()),
            // No `from`: any source.
            None if l.exposure.is_external() => None,
            None => Some(vec![same_namespace()]),
        };
        rules.push(NetworkPolicyIngressRule {
            from,
            ports: ports([l.port]),
        });
    }
    if let Some(port) = cluster.metrics_port {
        let from = match &settings.metrics_namespace {
            Some(ns) => namespace(ns),
            None => same_namespace(),
        };
        rules.push(NetworkPolicyIngressRule {
            from: Some(vec![from]),
            ports: ports([port]),
        });
    }
    Some(NetworkPolicy {
        metadata: meta(
            cluster.names.network_policy(),
            cluster,
            labels::cluster_labels(&cluster.names.cluster),
            owner,
        ),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(own),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(rules),
            egress: None,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{cluster, validated};
    use crate::validate::{Existing, Options, validate};

    fn policy(spec: &str, operator_ns: Option<&str>) -> NetworkPolicySpec {
        let options = Options {
            operator_namespace: operator_ns.map(str::to_string),
            ..Options::default()
        };
        let c = validate(&cluster(spec), &Existing::default(), "id", &options).expect("valid");
        cluster_policy(&c, None).expect("a policy").spec.expect("spec")
    }

    /// The rule allowing `port`, if any: its peers (None: any source).
    fn rules_for(p: &NetworkPolicySpec, port: i32) -> Vec<Option<Vec<NetworkPolicyPeer>>> {
        p.ingress
            .iter()
            .flatten()
            .filter(|r| {
                r.ports
                    .iter()
                    .flatten()
                    .any(|x| x.port == Some(IntOrString::Int(port)))
            })
            .map(|r| r.from.clone())
            .collect()
    }

    #[test]
    fn the_default_policy_isolates_the_controller_port_and_opens_listeners_to_the_namespace() {
        let p = policy("", Some("kraftwerk-system"));
        assert_eq!(
            p.pod_selector.clone().unwrap().match_labels.unwrap(),
            labels::cluster_selector("demo")
        );
        assert_eq!(p.policy_types, Some(vec!["Ingress".to_string()]));
        // First rule: the cluster's own pods, every port.
        let first = &p.ingress.as_ref().unwrap()[0];
        assert_eq!(first.ports, None);
        assert_eq!(
            first.from.as_ref().unwrap()[0]
                .pod_selector
                .clone()
                .unwrap()
                .match_labels
                .unwrap(),
            labels::cluster_selector("demo")
        );
        // The controller port: only the operator (besides the cluster's own pods).
        let controller = rules_for(&p, 9093);
        assert_eq!(controller.len(), 1, "{controller:?}");
        let operator = &controller[0].as_ref().unwrap()[0];
        assert_eq!(
            operator.namespace_selector.clone().unwrap().match_labels.unwrap()[NAMESPACE_NAME_LABEL],
            "kraftwerk-system"
        );
        assert_eq!(
            operator.pod_selector.clone().unwrap().match_labels.unwrap()[labels::NAME],
            "kraftwerk"
        );
        // The internal listener: the operator, and every pod of the namespace.
        let internal = rules_for(&p, 9092);
        assert_eq!(internal.len(), 2);
        assert_eq!(internal[1], Some(vec![same_namespace()]));
        // Metrics: the namespace, as no monitoring namespace is named.
        assert_eq!(rules_for(&p, 9404), [Some(vec![same_namespace()])]);
    }

    #[test]
    fn external_listeners_default_to_anywhere_and_from_peers_replace_the_default() {
        let spec = "listeners:
- name: INTERNAL
  port: 9092
  from: [{namespaceSelector: {matchLabels: {team: payments}}}]
- {name: EXTERNAL, port: 9094, type: nodeport}
- {name: CLOSED, port: 9095, from: []}
networkPolicy: {metricsNamespace: monitoring}";
        let p = policy(spec, None);
        assert_eq!(rules_for(&p, 9094), [None], "an external listener: any source");
        let internal = rules_for(&p, 9092);
        assert_eq!(internal.len(), 1, "no operator rule without its namespace");
        let peer = &internal[0].as_ref().unwrap()[0];
        assert_eq!(
            peer.namespace_selector.clone().unwrap().match_labels.unwrap()["team"],
            "payments"
        );
        assert!(
            rules_for(&p, 9095).is_empty(),
            "from: [] allows only the cluster's pods"
        );
        assert!(rules_for(&p, 9093).is_empty());
        assert_eq!(rules_for(&p, 9404), [Some(vec![namespace("monitoring")])]);
    }

    #[test]
    fn the_policy_can_be_switched_off() {
        let c = validated("networkPolicy: {enabled: false}");
        assert!(cluster_policy(&c, None).is_none());
    }
}
