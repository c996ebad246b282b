//! From observed objects to the node-loss planner's input, pure: each Kubernetes node's
//! readiness (from its `Ready` condition), the nodes a PersistentVolume is pinned to (its node
//! affinity), and where each node of the cluster runs.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, Pod};
use kube::ResourceExt;

use super::node_loss::{Member, NodeState};
use crate::desired::NodeConfig;
use crate::status;

/// The label that names a node's host, which local PersistentVolumes pin.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// A node's readiness; "lost since" is the `Ready` condition's last transition, which the
/// API server keeps, so it survives an operator restart.
pub fn node_state(node: &Node) -> NodeState {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    match ready {
        Some(c) if c.status == "True" => NodeState::Ready,
        Some(c) => NodeState::NotReady {
            since: c.last_transition_time.as_ref().map(|t| t.0.as_second()),
        },
        // A node that never reported: not counted as lost.
        None => NodeState::NotReady { since: None },
    }
}

/// Whether the scheduler found no node for a pod not bound yet (`PodScheduled` False,
/// reason `Unschedulable`): for instance its volume pins it to a node that is gone.
pub fn unschedulable(pod: &Pod) -> bool {
    let bound = pod.spec.as_ref().is_some_and(|s| s.node_name.is_some());
    !bound
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.type_ == "PodScheduled"
                        && c.status == "False"
                        && c.reason.as_deref() == Some("Unschedulable")
                })
            })
}

/// The host names a PersistentVolume's required node affinity allows (`kubernetes.io/hostname
/// In [...]`); empty when it is reachable from any node.
pub fn pinned_hosts(pv: &PersistentVolume) -> Vec<String> {
    let terms = pv
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
        .map(|r| r.node_selector_terms.as_slice())
        .unwrap_or_default();
    let mut hosts: Vec<String> = terms
        .iter()
        .flat_map(|t| t.match_expressions.iter().flatten())
        .filter(|e| e.key == HOSTNAME_LABEL && e.operator == "In")
        .flat_map(|e| e.values.iter().flatten().cloned())
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

/// The Kubernetes node names that the host names denote: a node whose hostname label or name
/// is one of them (a node that is gone keeps its host name, usually its name).
pub fn node_names(hosts: &[String], node_labels: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<String> {
    hosts
        .iter()
        .map(|h| {
            node_labels
                .iter()
                .find(|(_, l)| l.get(HOSTNAME_LABEL) == Some(h))
                .map(|(name, _)| name.clone())
                .unwrap_or_else(|| h.clone())
        })
        .collect()
}

/// Every desired node of the cluster with its pod, its claim `claim_of(node)`, and the nodes its
/// volume is pinned to (`pinned`, by claim name). A node without a pod (being recreated) is
/// listed too, nowhere and not ready: one node at a time counts it as busy.
pub fn members(
    desired: &[NodeConfig],
    pods: &[Pod],
    claim_of: impl Fn(&NodeConfig) -> String,
    pinned: &BTreeMap<String, Vec<String>>,
) -> Vec<Member> {
    desired
        .iter()
        .map(|n| {
            let pod = pods.iter().find(|p| p.name_any() == n.pod);
            let claim = claim_of(n);
            let pinned_to = pinned.get(&claim).cloned().unwrap_or_default();
            let bound = pod.and_then(|p| p.spec.as_ref()?.node_name.clone());
            // A pod not bound can only run where its volume is.
            let host = match pod {
                Some(_) => bound.or_else(|| (pinned_to.len() == 1).then(|| pinned_to[0].clone())),
                None => None,
            };
            Member {
                id: n.id,
                role: n.role,
                pod: n.pod.clone(),
                uid: pod.and_then(|p| p.metadata.uid.clone()),
                host,
                ready: pod.is_some_and(status::is_ready),
                claim,
                pinned_to,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        NodeCondition, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, NodeStatus,
        PersistentVolumeSpec, PodSpec, VolumeNodeAffinity,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    use super::*;
    use crate::names::Role;

    fn node(status: Option<&str>, at: i64) -> Node {
        Node {
            status: Some(NodeStatus {
                conditions: status.map(|s| {
                    vec![NodeCondition {
                        type_: "Ready".into(),
                        status: s.into(),
                        last_transition_time: Some(Time(Timestamp::from_second(at).unwrap())),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn readiness_comes_from_the_ready_condition_and_its_transition() {
        assert_eq!(node_state(&node(Some("True"), 5)), NodeState::Ready);
        assert_eq!(
            node_state(&node(Some("Unknown"), 5)),
            NodeState::NotReady { since: Some(5) }
        );
        assert_eq!(
            node_state(&node(Some("False"), 7)),
            NodeState::NotReady { since: Some(7) }
        );
        assert_eq!(node_state(&node(None, 7)), NodeState::NotReady { since: None });
    }

    fn pv(expressions: Vec<(&str, &str, Vec<&str>)>) -> PersistentVolume {
        let exprs = expressions
            .into_iter()
            .map(|(k, op, vs)| NodeSelectorRequirement {
                key: k.into(),
                operator: op.into(),
                values: Some(vs.into_iter().map(String::from).collect()),
            })
            .collect();
        PersistentVolume {
            spec: Some(PersistentVolumeSpec {
                node_affinity: Some(VolumeNodeAffinity {
                    required: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm {
                            match_expressions: Some(exprs),
                            ..Default::default()
                        }],
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_an_unbound_pod_the_scheduler_could_not_place_is_unschedulable() {
        use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
        let pod = |bound: bool, status: &str, reason: &str| Pod {
            spec: Some(PodSpec {
                node_name: bound.then(|| "n1".to_string()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                conditions: Some(vec![PodCondition {
                    type_: "PodScheduled".into(),
                    status: status.into(),
                    reason: Some(reason.into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(unschedulable(&pod(false, "False", "Unschedulable")));
        assert!(!unschedulable(&pod(true, "False", "Unschedulable")));
        assert!(!unschedulable(&pod(false, "False", "SchedulerError")));
        assert!(!unschedulable(&pod(false, "True", "")));
        assert!(
            !unschedulable(&Pod::default()),
            "not looked at by the scheduler yet"
        );
    }

    #[test]
    fn a_volume_is_pinned_by_hostname_affinity_only() {
        assert_eq!(
            pinned_hosts(&pv(vec![(HOSTNAME_LABEL, "In", vec!["h1"])])),
            ["h1"]
        );
        assert!(pinned_hosts(&pv(vec![("topology.kubernetes.io/zone", "In", vec!["a"])])).is_empty());
        assert!(
            pinned_hosts(&PersistentVolume::default()).is_empty(),
            "network volume"
        );
        let labels = BTreeMap::from([(
            "node-1".to_string(),
            BTreeMap::from([(HOSTNAME_LABEL.to_string(), "h1".to_string())]),
        )]);
        assert_eq!(
            node_names(&["h1".into(), "gone".into()], &labels),
            ["node-1", "gone"]
        );
    }

    #[test]
    fn members_are_where_their_pod_is_bound_or_their_volume_is_pinned() {
        let config = |id: i32| NodeConfig {
            role: Role::Broker,
            id,
            pod: format!("c-broker-{id}"),
            properties: Vec::new(),
            text: String::new(),
            config_hash: String::new(),
            static_hash: String::new(),
            dynamic: BTreeMap::new(),
        };
        let desired = vec![config(0), config(1), config(2)];
        let mut bound = Pod::default();
        bound.metadata.name = Some("c-broker-0".into());
        bound.spec = Some(PodSpec {
            node_name: Some("n1".into()),
            ..Default::default()
        });
        let mut pending = Pod::default();
        pending.metadata.name = Some("c-broker-1".into());
        let pinned = BTreeMap::from([("data-c-broker-1".to_string(), vec!["n2".to_string()])]);
        let m = members(
            &desired,
            &[bound, pending],
            |n| format!("data-{}", n.pod),
            &pinned,
        );
        assert_eq!(m[0].host.as_deref(), Some("n1"));
        assert!(m[0].pinned_to.is_empty());
        assert_eq!(m[1].host.as_deref(), Some("n2"), "not bound: where its volume is");
        assert!(!m[1].ready);
        assert_eq!(m[1].claim, "data-c-broker-1");
        assert_eq!(
            (m[2].host.as_ref(), m[2].ready, m[2].uid.as_ref()),
            (None, false, None),
            "no pod yet"
        );
    }
}
