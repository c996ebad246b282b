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
            nodes.push(NodeStatus {
                id,
                role: pool.role.as_str().into(),
                pod: name,
                node: pod.and_then(|p| p.spec.as_ref()?.node_name.clone()),
                ready,
                up_to_date,
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
    status.phase.clone().unwrap_or_else(|| "pending".into())
}

fn is_stuck_message(message: &str) -> bool {
    message.starts_with("Unschedulable") || STUCK_REASONS.iter().any(|r| message.starts_with(r))
}

/// Status equality that ignores nothing: the computed status reuses previous transition times,
/// so equal means a write would change nothing.
pub fn unchanged(previous: Option<&KafkaClusterStatus>, next: &KafkaClusterStatus) -> bool {
    previous == Some(next)
}
