//! `hostNetwork` pools take their ports on the node itself. Two clusters taking the same port
//! can never share a node: every such pod carries a label per host port
//! ([`labels::host_port`]) and a required anti-affinity against that label in every namespace,
//! so the scheduler keeps them apart, and [`conflicts`] finds the clusters that compete for a
//! port from the operator's pod cache, before any of the new pods is scheduled, for the
//! `HostPortConflict` condition and Event. Pure.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Affinity, Pod, PodAffinityTerm, PodAntiAffinity, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::ResourceExt;

use crate::crd::{ConditionType, Reason};
use crate::labels;
use crate::names::Role;
use crate::status::Cond;
use crate::validate::ValidatedCluster;

/// The host ports the pods of `role` take: none unless the pool runs on the host network.
pub fn ports(cluster: &ValidatedCluster, role: Role) -> BTreeSet<i32> {
    if !cluster.pool(role).host_network {
        return BTreeSet::new();
    }
    let mut out: BTreeSet<i32> = match role {
        Role::Controller => BTreeSet::from([cluster.controller_port]),
        Role::Broker => cluster.listeners.iter().map(|l| l.port).collect(),
    };
    out.extend(cluster.metrics_port);
    out
}

/// Every host port the cluster takes.
pub fn all_ports(cluster: &ValidatedCluster) -> BTreeSet<i32> {
    let mut out = ports(cluster, Role::Controller);
    out.extend(ports(cluster, Role::Broker));
    out
}

/// The labels naming the host ports of a pod of `role`.
pub fn pod_labels(cluster: &ValidatedCluster, role: Role) -> BTreeMap<String, String> {
    ports(cluster, role)
        .into_iter()
        .map(|p| (labels::host_port(p), "true".to_string()))
        .collect()
}

/// Keeps a pod of `role` off every node where a pod of any namespace takes one of its host
/// ports (required anti-affinity, one term per port).
pub fn apply_anti_affinity(cluster: &ValidatedCluster, role: Role, spec: &mut PodSpec) {
    let terms: Vec<PodAffinityTerm> = ports(cluster, role)
        .into_iter()
        .map(|p| PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: labels::host_port(p),
                    operator: "Exists".into(),
                    values: None,
                }]),
                match_labels: None,
            }),
            namespace_selector: Some(LabelSelector::default()),
            topology_key: "kubernetes.io/hostname".into(),
            ..Default::default()
        })
        .collect();
    if terms.is_empty() {
        return;
    }
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let anti = affinity
        .pod_anti_affinity
        .get_or_insert_with(PodAntiAffinity::default);
    anti.required_during_scheduling_ignored_during_execution
        .get_or_insert_with(Vec::new)
        .extend(terms);
}

/// A host port this cluster shares with another cluster's pods.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Conflict {
    pub port: i32,
    /// `namespace/cluster` of the other KafkaCluster.
    pub other: String,
}

/// The host ports `cluster` takes that pods of other clusters (any namespace, from the
/// operator's cache) take too.
pub fn conflicts(cluster: &ValidatedCluster, pods: &[Pod]) -> Vec<Conflict> {
    let mine = all_ports(cluster);
    if mine.is_empty() {
        return Vec::new();
    }
    let own = (cluster.names.namespace.as_str(), cluster.names.cluster.as_str());
    let mut out = BTreeSet::new();
    for pod in pods {
        let ns = pod.namespace().unwrap_or_default();
        let Some(other) = pod.labels().get(labels::CLUSTER) else {
            continue;
        };
        if (ns.as_str(), other.as_str()) == own {
            continue;
        }
        for &port in &mine {
            if pod.labels().contains_key(&labels::host_port(port)) {
                out.insert(Conflict {
                    port,
                    other: format!("{ns}/{other}"),
                });
            }
        }
    }
    out.into_iter().collect()
}

/// The `HostPortConflict` condition naming both clusters and every shared port.
pub fn condition(cluster: &ValidatedCluster, conflicts: &[Conflict]) -> Option<Cond> {
    if conflicts.is_empty() {
        return None;
    }
    let me = format!("{}/{}", cluster.names.namespace, cluster.names.cluster);
    let parts: Vec<String> = conflicts
        .iter()
        .map(|c| format!("host port {} is taken by both {me} and {}", c.port, c.other))
        .collect();
    Some(Cond {
        type_: ConditionType::HostPortConflict,
        status: true,
        reason: Reason::HostPortShared,
        message: format!(
            "{}; their pods are kept on different nodes (anti-affinity), so each node runs at most one of them",
            parts.join("; ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::validated;

    fn pod(ns: &str, cluster: &str, ports: &[i32]) -> Pod {
        let mut p = Pod::default();
        p.metadata.namespace = Some(ns.into());
        let mut l = labels::node_labels(cluster, Role::Broker, 0);
        l.extend(ports.iter().map(|&p| (labels::host_port(p), "true".to_string())));
        p.metadata.labels = Some(l);
        p
    }

    #[test]
    fn a_host_network_pool_takes_its_ports_and_avoids_their_holders() {
        let c = validated("brokers: {hostNetwork: true}");
        assert_eq!(ports(&c, Role::Broker), BTreeSet::from([9092, 9404]));
        assert!(ports(&c, Role::Controller).is_empty());
        assert_eq!(
            pod_labels(&c, Role::Broker).keys().collect::<Vec<_>>(),
            ["hostport.kraftwerk.dev/9092", "hostport.kraftwerk.dev/9404"]
        );
        let mut spec = PodSpec::default();
        apply_anti_affinity(&c, Role::Broker, &mut spec);
        let terms = spec
            .affinity
            .unwrap()
            .pod_anti_affinity
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .unwrap();
        assert_eq!(terms.len(), 2);
        assert_eq!(terms[0].topology_key, "kubernetes.io/hostname");
        assert_eq!(
            terms[0].namespace_selector,
            Some(LabelSelector::default()),
            "every namespace"
        );
        let mut none = PodSpec::default();
        apply_anti_affinity(&validated(""), Role::Broker, &mut none);
        assert!(none.affinity.is_none());
    }

    #[test]
    fn clusters_sharing_a_host_port_are_found_in_any_namespace_but_not_itself() {
        let c = validated("brokers: {hostNetwork: true}\nmetrics: {enabled: false}");
        let pods = [
            pod("kafka", "demo", &[9092]),
            pod("kafka", "other", &[9092, 9093]),
            pod("team-b", "demo", &[9092]),
            pod("team-c", "quiet", &[9094]),
            pod("team-d", "plain", &[]),
        ];
        let found = conflicts(&c, &pods);
        assert_eq!(
            found,
            [
                Conflict {
                    port: 9092,
                    other: "kafka/other".into()
                },
                Conflict {
                    port: 9092,
                    other: "team-b/demo".into()
                },
            ]
        );
        let cond = condition(&c, &found).unwrap();
        assert!(
            cond.message
                .contains("host port 9092 is taken by both kafka/demo and kafka/other"),
            "{}",
            cond.message
        );
        assert!(
            conflicts(&validated(""), &pods).is_empty(),
            "no host network, no conflict"
        );
    }
}
