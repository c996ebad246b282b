//! Pure status computation. The status is a function of the validated cluster and the observed
//! pods; `lastTransitionTime` is carried over unless a condition's status flips, so a no-op
//! reconcile computes a status equal to the stored one and writes nothing.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::crd::{KafkaClusterStatus, ListenerStatus, NodeStatus};
use crate::labels;
use crate::names::Role;
use crate::placement::{PlacedPod, violations};
use crate::validate::ValidatedCluster;

pub const READY: &str = "Ready";
pub const PROGRESSING: &str = "Progressing";
pub const DEGRADED: &str = "Degraded";

/// Waiting reasons that do not resolve by themselves.
const STUCK_REASONS: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
];

/// What the status needs from the pipeline besides the observed pods.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Desired config hash per pod name.
    pub desired_hashes: BTreeMap<String, String>,
    /// Broker ids kept although the spec asks for fewer, with the reason.
    pub scale_down_blocked: Option<String>,
    /// Pods that run where their pool's placement constraints no longer allow, with the reason.
    pub placement_violations: BTreeMap<String, String>,
}

/// The pods whose current node breaks their pool's constraints (after a constraint change; a
/// replace of the pod moves it). Only pools with constraints are checked.
pub fn placement_violations(
    cluster: &ValidatedCluster,
    pods: &[Pod],
    nodes: &BTreeMap<String, BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pool in cluster.pools() {
        let Some(constraints) = &pool.constraints else {
            continue;
        };
        let placed: Vec<(String, PlacedPod<'_>)> = pool
            .ids
            .iter()
            .filter_map(|&id| {
                let name = cluster.names.pod(pool.role, id);
                let pod = pods.iter().find(|p| p.name_any() == name)?;
                let node = pod.spec.as_ref()?.node_name.as_ref()?;
                Some((
                    name,
                    PlacedPod {
                        node_id: id,
                        node_labels: nodes.get(node)?,
                    },
                ))
            })
            .collect();
        let all: Vec<PlacedPod<'_>> = placed.iter().map(|(_, p)| *p).collect();
        let node_labels: Vec<BTreeMap<String, String>> = nodes.values().cloned().collect();
        for (name, pod) in &placed {
            let v = violations(constraints, pod, &all, &node_labels);
            if !v.is_empty() {
                out.insert(
                    name.clone(),
                    v.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
                );
            }
        }
    }
    out
}

/// A condition to set: type, status, reason, message.
pub struct Cond<'a> {
    pub type_: &'a str,
    pub status: bool,
    pub reason: &'a str,
    pub message: String,
}

/// Builds the full status of a valid cluster.
pub fn compute(
    cluster: &ValidatedCluster,
    pods: &[Pod],
    facts: &Facts,
    previous: Option<&KafkaClusterStatus>,
    now: Timestamp,
) -> KafkaClusterStatus {
    let by_name: BTreeMap<String, &Pod> = pods.iter().map(|p| (p.name_any(), p)).collect();
    let mut nodes = Vec::new();
    for pool in cluster.pools() {
        for &id in &pool.ids {
            let name = cluster.names.pod(pool.role, id);
            let pod = by_name.get(&name).copied();
            let ready = pod.is_some_and(is_ready);
            let up_to_date = match (pod, facts.desired_hashes.get(&name)) {
                (Some(p), Some(want)) => p.annotations().get(labels::CONFIG_HASH) == Some(want),
                _ => true,
            };
            let placement = facts.placement_violations.get(&name).cloned();
            nodes.push(NodeStatus {
                id,
                role: pool.role.as_str().into(),
                pod: name,
                node: pod.and_then(|p| p.spec.as_ref()?.node_name.clone()),
                ready,
                up_to_date,
                placement,
                message: if ready {
                    None
                } else {
                    Some(
                        pod.map(not_ready_reason)
                            .unwrap_or_else(|| "pod not created yet".into()),
                    )
                },
            });
        }
    }

    let total = nodes.len();
    let ready_count = nodes.iter().filter(|n| n.ready).count();
    let not_ready: Vec<String> = nodes
        .iter()
        .filter(|n| !n.ready)
        .map(|n| format!("{} ({})", n.pod, n.message.as_deref().unwrap_or("not ready")))
        .collect();
    let stale: Vec<&str> = nodes
        .iter()
        .filter(|n| !n.up_to_date)
        .map(|n| n.pod.as_str())
        .collect();
    let stuck: Vec<String> = nodes
        .iter()
        .filter(|n| !n.ready && n.message.as_deref().is_some_and(is_stuck_message))
        .map(|n| format!("{}: {}", n.pod, n.message.as_deref().unwrap_or_default()))
        .collect();

    let all_ready = ready_count == total;
    let ready = if all_ready {
        Cond {
            type_: READY,
            status: true,
            reason: "AllNodesReady",
            message: format!("{total}/{total} nodes ready"),
        }
    } else {
        Cond {
            type_: READY,
            status: false,
            reason: "NodesNotReady",
            message: format!(
                "{ready_count}/{total} nodes ready; waiting for {}",
                not_ready.join(", ")
            ),
        }
    };
    let progressing = if !all_ready {
        Cond {
            type_: PROGRESSING,
            status: true,
            reason: "NodesStarting",
            message: ready.message.clone(),
        }
    } else if let Some(blocked) = &facts.scale_down_blocked {
        Cond {
            type_: PROGRESSING,
            status: true,
            reason: "ScaleDownBlocked",
            message: blocked.clone(),
        }
    } else if !stale.is_empty() {
        Cond {
            type_: PROGRESSING,
            status: true,
            reason: "RestartPending",
            message: format!(
                "configuration changed; pods awaiting restart: {}",
                stale.join(", ")
            ),
        }
    } else {
        Cond {
            type_: PROGRESSING,
            status: false,
            reason: "Stable",
            message: "all nodes run the desired configuration".into(),
        }
    };
    let degraded = if !stuck.is_empty() {
        Cond {
            type_: DEGRADED,
            status: true,
            reason: "NodesStuck",
            message: stuck.join("; "),
        }
    } else {
        Cond {
            type_: DEGRADED,
            status: false,
            reason: "AsExpected",
            message: "no node is stuck".into(),
        }
    };

    let generation = cluster.generation;
    let prev_conditions = previous.map(|p| p.conditions.as_slice()).unwrap_or_default();
    let conditions = [ready, progressing, degraded]
        .into_iter()
        .map(|c| condition(c, generation, prev_conditions, now))
        .collect();

    let names = &cluster.names;
    let listeners: Vec<ListenerStatus> = cluster
        .listeners
        .iter()
        .map(|l| ListenerStatus {
            name: l.name.clone(),
            bootstrap_servers: format!("{}:{}", names.bootstrap_fqdn(), l.port),
        })
        .collect();
    let broker_pods = pods
        .iter()
        .filter(|p| p.labels().get(labels::ROLE).map(String::as_str) == Some(Role::Broker.as_str()))
        .count();
    KafkaClusterStatus {
        observed_generation: generation,
        conditions,
        cluster_id: Some(cluster.cluster_id.clone()),
        kafka_version: Some(cluster.version.clone()),
        bootstrap_servers: listeners.first().map(|l| l.bootstrap_servers.clone()),
        listeners,
        replicas: broker_pods as i32,
        ready_brokers: nodes.iter().filter(|n| n.role == "broker" && n.ready).count() as i32,
        nodes,
        selector: Some(labels::selector_string(&labels::pool_selector(
            &names.cluster,
            Role::Broker,
        ))),
        rollout: None,
        // Filled from Kafka by the durability pass (crate::durability::sync).
        durability: None,
    }
}

/// The status of a spec the operator refuses: conditions say why, everything else is kept.
pub fn invalid(
    message: &str,
    generation: Option<i64>,
    previous: Option<&KafkaClusterStatus>,
    now: Timestamp,
) -> KafkaClusterStatus {
    let mut status = previous.cloned().unwrap_or_default();
    let prev_conditions = status.conditions.clone();
    status.observed_generation = generation;
    status.conditions = [
        Cond {
            type_: READY,
            status: false,
            reason: "InvalidSpec",
            message: message.to_string(),
        },
        Cond {
            type_: PROGRESSING,
            status: false,
            reason: "InvalidSpec",
            message: "nothing is applied until the spec is fixed".into(),
        },
        Cond {
            type_: DEGRADED,
            status: true,
            reason: "InvalidSpec",
            message: message.to_string(),
        },
    ]
    .into_iter()
    .map(|c| condition(c, generation, &prev_conditions, now))
    .collect();
    status
}

fn condition(c: Cond<'_>, generation: Option<i64>, previous: &[Condition], now: Timestamp) -> Condition {
    let status = if c.status { "True" } else { "False" }.to_string();
    let last_transition_time = previous
        .iter()
        .find(|p| p.type_ == c.type_ && p.status == status)
        .map(|p| p.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: c.type_.to_string(),
        status,
        reason: c.reason.to_string(),
        message: truncate(&c.message, 1024),
        observed_generation: generation,
        last_transition_time,
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

pub fn is_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The most useful explanation of why a pod is not ready: the scheduler's message, a container's
/// waiting reason, or the phase.
pub fn not_ready_reason(pod: &Pod) -> String {
    if pod.metadata.deletion_timestamp.is_some() {
        return "terminating".into();
    }
    let Some(status) = &pod.status else {
        return "pending".into();
    };
    if let Some(c) = status.conditions.as_ref().and_then(|cs| {
        cs.iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    }) {
        return format!(
            "{}: {}",
            c.reason.as_deref().unwrap_or("Unschedulable"),
            c.message.as_deref().unwrap_or("not scheduled")
        );
    }
    for cs in status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
    {
        if let Some(w) = cs.state.as_ref().and_then(|s| s.waiting.as_ref())
            && let Some(reason) = &w.reason
        {
            return match &w.message {
                Some(m) => format!("{reason}: {m}"),
                None => reason.clone(),
            };
        }
    }
    match status.phase.as_deref() {
        Some("Running") => "running, not ready yet (Kafka is starting or its port is not open)".into(),
        Some(phase) => phase.to_string(),
        None => "pending".into(),
    }
}

fn is_stuck_message(message: &str) -> bool {
    message.starts_with("Unschedulable") || STUCK_REASONS.iter().any(|r| message.starts_with(r))
}

/// Status equality that ignores nothing: the computed status reuses previous transition times,
/// so equal means a write would change nothing.
pub fn unchanged(previous: Option<&KafkaClusterStatus>, next: &KafkaClusterStatus) -> bool {
    previous == Some(next)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::fixtures::validated;

    fn pod(name: &str, role: Role, id: i32, ready: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(labels::node_labels("demo", role, id)),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("node-a".into()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    fn all_pods(ready: bool) -> Vec<Pod> {
        let mut pods: Vec<Pod> = (0..3)
            .map(|i| {
                pod(
                    &format!("demo-controller-{}", 9000 + i),
                    Role::Controller,
                    9000 + i,
                    ready,
                )
            })
            .collect();
        pods.extend((0..3).map(|i| pod(&format!("demo-broker-{i}"), Role::Broker, i, ready)));
        pods
    }

    fn condition<'a>(s: &'a KafkaClusterStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap()
    }

    #[test]
    fn ready_when_every_node_is_ready() {
        let c = validated("");
        let s = compute(
            &c,
            &all_pods(true),
            &Facts::default(),
            None,
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(condition(&s, READY).status, "True");
        assert_eq!(condition(&s, PROGRESSING).status, "False");
        assert_eq!(condition(&s, DEGRADED).status, "False");
        assert_eq!(s.ready_brokers, 3);
        assert_eq!(s.replicas, 3);
        assert_eq!(
            s.bootstrap_servers.as_deref(),
            Some("demo-kafka-bootstrap.kafka.svc.cluster.local:9092")
        );
        assert_eq!(s.nodes.len(), 6);
        assert_eq!(s.nodes[0].pod, "demo-controller-9000");
        assert_eq!(s.nodes[0].node.as_deref(), Some("node-a"));
        assert_eq!(s.cluster_id.as_deref(), Some(crate::fixtures::CLUSTER_ID));
    }

    #[test]
    fn recomputing_an_unchanged_cluster_keeps_transition_times() {
        let c = validated("");
        let first = compute(
            &c,
            &all_pods(true),
            &Facts::default(),
            None,
            Timestamp::UNIX_EPOCH,
        );
        let later = Timestamp::from_second(1_000_000).unwrap();
        let second = compute(&c, &all_pods(true), &Facts::default(), Some(&first), later);
        assert!(unchanged(Some(&first), &second));
        // A flip moves only the flipped condition's time.
        let third = compute(&c, &all_pods(false), &Facts::default(), Some(&second), later);
        assert_eq!(condition(&third, READY).last_transition_time, Time(later));
        assert_eq!(
            condition(&third, DEGRADED).last_transition_time,
            Time(Timestamp::UNIX_EPOCH)
        );
    }

    #[test]
    fn missing_and_unschedulable_pods_are_explained() {
        let c = validated("");
        let mut pods = all_pods(true);
        pods.pop();
        let mut pending = pod("demo-broker-1", Role::Broker, 1, false);
        pending.status = Some(PodStatus {
            phase: Some("Pending".into()),
            conditions: Some(vec![PodCondition {
                type_: "PodScheduled".into(),
                status: "False".into(),
                reason: Some("Unschedulable".into()),
                message: Some(
                    "0/6 nodes are available: 6 node(s) didn't match pod anti-affinity rules.".into(),
                ),
                ..Default::default()
            }]),
            ..Default::default()
        });
        pods.retain(|p| p.metadata.name.as_deref() != Some("demo-broker-1"));
        pods.push(pending);
        let s = compute(&c, &pods, &Facts::default(), None, Timestamp::UNIX_EPOCH);
        assert_eq!(condition(&s, READY).status, "False");
        let degraded = condition(&s, DEGRADED);
        assert_eq!(degraded.status, "True");
        assert!(
            degraded.message.contains("didn't match pod anti-affinity"),
            "{}",
            degraded.message
        );
        let broker2 = s.nodes.iter().find(|n| n.pod == "demo-broker-2").unwrap();
        assert_eq!(broker2.message.as_deref(), Some("pod not created yet"));
    }

    #[test]
    fn stale_pods_and_blocked_scale_down_show_as_progressing() {
        let c = validated("");
        let mut facts = Facts::default();
        facts.desired_hashes.insert("demo-broker-0".into(), "new".into());
        let s = compute(&c, &all_pods(true), &facts, None, Timestamp::UNIX_EPOCH);
        assert_eq!(condition(&s, PROGRESSING).reason, "RestartPending");
        assert!(
            !s.nodes
                .iter()
                .find(|n| n.pod == "demo-broker-0")
                .unwrap()
                .up_to_date
        );
        facts.scale_down_blocked = Some("scale-down refused".into());
        let s = compute(&c, &all_pods(true), &facts, None, Timestamp::UNIX_EPOCH);
        assert_eq!(condition(&s, PROGRESSING).reason, "ScaleDownBlocked");
    }

    #[test]
    fn invalid_spec_names_the_field() {
        let s = invalid(
            "spec.brokers.storage.size: cannot shrink",
            Some(2),
            None,
            Timestamp::UNIX_EPOCH,
        );
        let ready = condition(&s, READY);
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "InvalidSpec")
        );
        assert!(ready.message.starts_with("spec.brokers.storage.size"));
        assert_eq!(s.observed_generation, Some(2));
    }
}
