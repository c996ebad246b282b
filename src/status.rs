//! Pure status computation. The status is a function of the validated cluster, the observed
//! pods and the roll's decision; `lastTransitionTime` is carried over unless a condition's status
//! flips, so a no-op reconcile computes a status equal to the stored one and writes nothing.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::annotations;
use crate::crd::{KafkaClusterStatus, ListenerStatus, NodeStatus};
use crate::labels;
use crate::names::Role;
use crate::placement::{PlacedPod, violations};
use crate::validate::ValidatedCluster;

use crate::crd::{ConditionType, Reason, RolloutPhase, RolloutStatus, RolloutStep, StepState};
use crate::roll::{Action, Decision};

/// Status entries beyond this many nodes are summarised (see [`summarise_nodes`]), so the
/// status of a very large cluster stays far below etcd's 1.5 MiB object limit.
pub const MAX_LISTED_NODES: usize = 100;

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
    /// The controller quorum's pending voter change, or why it waits.
    pub quorum_changing: Option<String>,
    /// Pods that run where their pool's placement constraints no longer allow, with the reason.
    pub placement_violations: BTreeMap<String, String>,
    /// A rebalance or drain moving partitions (`Rebalancing` or `Draining`), with its progress.
    pub moving_partitions: Option<(Reason, String)>,
    /// The release line Kafka reports per pod name (read during version changes).
    pub kafka_versions: BTreeMap<String, String>,
    /// Brokers waiting for their external addresses (`crate::listeners::plan`), by pod, with why.
    pub waiting_addresses: BTreeMap<String, String>,
    /// Conditions listed only while they hold (`HardeningRelaxed`, ...), after the three
    /// standard ones.
    pub warnings: Vec<Cond>,
    /// Kubernetes nodes lost with pods of this cluster, and what recovery does
    /// ([`crate::recovery::node_loss`]).
    pub node_lost: Option<String>,
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
#[derive(Clone, Debug, PartialEq)]
pub struct Cond {
    pub type_: ConditionType,
    pub status: bool,
    pub reason: Reason,
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
    let nodes = node_statuses(cluster, pods, facts);
    let generation = cluster.generation;
    let prev_conditions = previous.map(|p| p.conditions.as_slice()).unwrap_or_default();
    let conditions = conditions(&nodes, facts)
        .into_iter()
        .chain(facts.warnings.iter().cloned())
        .map(|c| condition(c, generation, prev_conditions, now))
        .collect();
    let names = &cluster.names;
    let listeners: Vec<ListenerStatus> = cluster
        .listeners
        .iter()
        .map(|l| ListenerStatus {
            name: l.name.clone(),
            bootstrap_servers: format!("{}:{}", names.bootstrap_fqdn(), l.port),
            ..Default::default()
        })
        .collect();
    let broker_pods = pods
        .iter()
        .filter(|p| p.labels().get(labels::ROLE).map(String::as_str) == Some(Role::Broker.as_str()))
        .count();
    let ready_brokers = nodes.iter().filter(|n| n.role == Role::Broker && n.ready).count();
    let (nodes, nodes_omitted) = summarise_nodes(nodes);
    KafkaClusterStatus {
        observed_generation: generation,
        conditions,
        cluster_id: Some(cluster.cluster_id.clone()),
        kafka_version: running_version(pods).or_else(|| previous.and_then(|p| p.kafka_version.clone())),
        // Read from Kafka by the upgrade pass (`controller/upgrade.rs`); the last reading stands.
        metadata_version: previous.and_then(|p| p.metadata_version.clone()),
        bootstrap_servers: listeners.first().map(|l| l.bootstrap_servers.clone()),
        listeners,
        replicas: broker_pods as i32,
        ready_brokers: ready_brokers as i32,
        nodes,
        nodes_omitted,
        selector: Some(labels::selector_string(&labels::pool_selector(
            &names.cluster,
            Role::Broker,
        ))),
        rollout: None,
        // Read from Kafka by the durability pass (`controller/durability.rs`), which runs
        // only now and then: until it runs again, the last reading stands.
        durability: previous.and_then(|p| p.durability.clone()),
        // Written by the rebalance pass (`controller/rebalance.rs`) when it runs.
        rebalance: previous.and_then(|p| p.rebalance.clone()),
        // Recorded by the pipeline when it accepts a spec.
        last_accepted: previous.and_then(|p| p.last_accepted.clone()),
        // Read from Kafka by the quorum pass (`controller/quorum.rs`).
        controller_quorum: previous.and_then(|p| p.controller_quorum.clone()),
    }
}

/// The version the cluster runs: the one every pod runs, or the oldest during a version change.
pub fn running_version(pods: &[Pod]) -> Option<String> {
    pods.iter()
        .filter_map(|p| p.labels().get(labels::VERSION))
        .min_by(|a, b| crate::upgrade::releases::compare(a, b))
        .cloned()
}

/// One entry per node of the spec, controllers first.
fn node_statuses(cluster: &ValidatedCluster, pods: &[Pod], facts: &Facts) -> Vec<NodeStatus> {
    let by_name: BTreeMap<String, &Pod> = pods.iter().map(|p| (p.name_any(), p)).collect();
    let mut nodes = Vec::new();
    for pool in cluster.pools() {
        for &id in &pool.ids {
            let name = cluster.names.pod(pool.role, id);
            let pod = by_name.get(&name).copied();
            let ready = pod.is_some_and(is_ready);
            let up_to_date = match (pod, facts.desired_hashes.get(&name)) {
                (Some(p), Some(want)) => p.annotations().get(annotations::CONFIG_HASH) == Some(want),
                _ => true,
            };
            let message = (!ready).then(|| {
                let why = match (pod, facts.waiting_addresses.get(&name)) {
                    (Some(_), Some(waiting)) => waiting.clone(),
                    (Some(p), None) => not_ready_reason(p),
                    (None, _) => "pod not created yet".into(),
                };
                truncate(&why, 256)
            });
            nodes.push(NodeStatus {
                id,
                role: pool.role,
                placement: facts.placement_violations.get(&name).cloned(),
                node: pod.and_then(|p| p.spec.as_ref()?.node_name.clone()),
                version: pod.and_then(|p| p.labels().get(labels::VERSION).cloned()),
                kafka_version: facts.kafka_versions.get(&name).cloned(),
                pod: name,
                ready,
                up_to_date,
                message,
            });
        }
    }
    nodes
}

/// The `HardeningRelaxed` condition when the cluster's security contexts drop part of the
/// hardened default, naming each field.
pub fn hardening_warning(cluster: &ValidatedCluster) -> Option<Cond> {
    if cluster.hardening_relaxed.is_empty() {
        return None;
    }
    let parts: Vec<String> = cluster
        .hardening_relaxed
        .iter()
        .map(|p| format!("{}: {}", p.field, p.reason))
        .collect();
    Some(Cond {
        type_: ConditionType::HardeningRelaxed,
        status: true,
        reason: Reason::SecurityContextRelaxed,
        message: format!("the pod security hardening is relaxed: {}", parts.join("; ")),
    })
}

/// The conditions in `next` listed only while they hold that are new or changed since
/// `previous`: each is announced once with a Warning Event.
pub fn new_warnings<'a>(
    previous: Option<&KafkaClusterStatus>,
    next: &'a KafkaClusterStatus,
) -> Vec<&'a Condition> {
    let standard = [
        ConditionType::Ready,
        ConditionType::Progressing,
        ConditionType::Degraded,
    ];
    next.conditions
        .iter()
        .filter(|c| !standard.iter().any(|t| t.as_str() == c.type_))
        .filter(|c| {
            !previous.is_some_and(|p| {
                p.conditions
                    .iter()
                    .any(|o| o.type_ == c.type_ && o.status == c.status && o.message == c.message)
            })
        })
        .collect()
}

/// Ready, Progressing and Degraded of a valid cluster, before the roll adds its view.
fn conditions(nodes: &[NodeStatus], facts: &Facts) -> [Cond; 3] {
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
    let cond = |type_, status, reason, message| Cond {
        type_,
        status,
        reason,
        message,
    };
    let ready = if ready_count == total {
        cond(
            ConditionType::Ready,
            true,
            Reason::AllNodesReady,
            format!("{total}/{total} nodes ready"),
        )
    } else {
        let waiting = format!(
            "{ready_count}/{total} nodes ready; waiting for {}",
            not_ready.join(", ")
        );
        cond(ConditionType::Ready, false, Reason::NodesNotReady, waiting)
    };
    let progressing = if !ready.status {
        cond(
            ConditionType::Progressing,
            true,
            Reason::NodesStarting,
            ready.message.clone(),
        )
    } else if let Some(blocked) = &facts.scale_down_blocked {
        cond(
            ConditionType::Progressing,
            true,
            Reason::ScaleDownBlocked,
            blocked.clone(),
        )
    } else if let Some((reason, message)) = &facts.moving_partitions {
        cond(ConditionType::Progressing, true, *reason, message.clone())
    } else if let Some(change) = &facts.quorum_changing {
        cond(
            ConditionType::Progressing,
            true,
            Reason::QuorumChanging,
            change.clone(),
        )
    } else if !stale.is_empty() {
        let msg = format!(
            "configuration changed; pods awaiting restart: {}",
            stale.join(", ")
        );
        cond(ConditionType::Progressing, true, Reason::RestartPending, msg)
    } else {
        let msg = "all nodes run the desired configuration".to_string();
        cond(ConditionType::Progressing, false, Reason::Stable, msg)
    };
    let degraded = if let Some(lost) = &facts.node_lost {
        cond(ConditionType::Degraded, true, Reason::NodeLost, lost.clone())
    } else if !stuck.is_empty() {
        cond(
            ConditionType::Degraded,
            true,
            Reason::NodesStuck,
            stuck.join("; "),
        )
    } else {
        cond(
            ConditionType::Degraded,
            false,
            Reason::AsExpected,
            "no node is stuck".to_string(),
        )
    };
    [ready, progressing, degraded]
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
            type_: ConditionType::Ready,
            status: false,
            reason: Reason::InvalidSpec,
            message: message.to_string(),
        },
        Cond {
            type_: ConditionType::Progressing,
            status: false,
            reason: Reason::InvalidSpec,
            message: "nothing is applied until the spec is fixed".into(),
        },
        Cond {
            type_: ConditionType::Degraded,
            status: true,
            reason: Reason::InvalidSpec,
            message: message.to_string(),
        },
    ]
    .into_iter()
    .map(|c| condition(c, generation, &prev_conditions, now))
    .collect();
    status
}

/// Condition messages longer than this are cut (the API server allows 32 KiB).
const MAX_MESSAGE: usize = 2048;

/// What a pass could not do, laid over a computed status: a refused spec edit (`invalid`: the
/// cluster keeps running the last accepted spec) and objects the API server refused
/// (`refused`). Either makes Ready False and Degraded True (unless Degraded already is, for its
/// own reason); a refused edit names the field and takes precedence.
pub fn with_refusals(
    next: &mut KafkaClusterStatus,
    invalid: Option<&str>,
    refused: &[String],
    previous: Option<&KafkaClusterStatus>,
    now: Timestamp,
) {
    let (reason, message) = match (invalid, refused) {
        (Some(field), _) => (Reason::InvalidSpec, field.to_string()),
        (None, []) => return,
        (None, objects) => (Reason::ApplyFailed, apply_failed_message(objects)),
    };
    let message = truncate(&message, MAX_MESSAGE);
    let prev = previous.map(|p| p.conditions.as_slice()).unwrap_or_default();
    let degraded = next
        .conditions
        .iter()
        .any(|c| c.type_ == ConditionType::Degraded.as_str() && c.status == "True");
    let ready = Cond {
        type_: ConditionType::Ready,
        status: false,
        reason,
        message: message.clone(),
    };
    replace_condition(&mut next.conditions, ready, prev, now);
    if !degraded {
        let c = Cond {
            type_: ConditionType::Degraded,
            status: true,
            reason,
            message,
        };
        replace_condition(&mut next.conditions, c, prev, now);
    }
}

/// Whether the Ready condition (status, reason or message) differs between two statuses: a new
/// problem to announce with an Event.
pub fn ready_changed(previous: Option<&KafkaClusterStatus>, next: &KafkaClusterStatus) -> bool {
    let ready = |s: &KafkaClusterStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == ConditionType::Ready.as_str())
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    previous.and_then(ready) != ready(next)
}

/// The Ready message for objects the API server refused.
pub fn apply_failed_message(refused: &[String]) -> String {
    format!(
        "the API server refused {} object(s); the rest was applied: {}",
        refused.len(),
        refused.join("; ")
    )
}

fn condition(c: Cond, generation: Option<i64>, previous: &[Condition], now: Timestamp) -> Condition {
    let status = if c.status { "True" } else { "False" }.to_string();
    let last_transition_time = previous
        .iter()
        .find(|p| p.type_ == c.type_.as_str() && p.status == status)
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

pub fn is_stuck_message(message: &str) -> bool {
    message.starts_with("Unschedulable") || STUCK_REASONS.iter().any(|r| message.starts_with(r))
}

/// Status equality that ignores nothing: the computed status reuses previous transition times,
/// so equal means a write would change nothing.
pub fn unchanged(previous: Option<&KafkaClusterStatus>, next: &KafkaClusterStatus) -> bool {
    previous == Some(next)
}

/// The plan as it appears in status. Steps of large clusters that are complete are omitted
/// (counted in `stepsOmitted`), so the status stays small.
pub fn plan_status(decision: &Decision) -> RolloutStatus {
    let phase = |role: Role, name: &str| {
        let all: Vec<&crate::roll::Step> = decision.steps.iter().filter(|s| s.role == role).collect();
        let states: Vec<StepState> = all.iter().map(|s| s.state).collect();
        let listed: Vec<RolloutStep> = all
            .iter()
            .filter(|s| all.len() <= MAX_LISTED_NODES || s.state != StepState::Complete)
            .take(MAX_LISTED_NODES)
            .map(|s| RolloutStep {
                id: s.id,
                pod: s.pod.clone(),
                state: s.state,
                reason: truncate(&s.reason, 256),
            })
            .collect();
        RolloutPhase {
            message: String::new(),
            name: name.into(),
            state: summary(&states),
            steps_omitted: (all.len() - listed.len()) as i32,
            steps: listed,
        }
    };
    let all: Vec<StepState> = decision.steps.iter().map(|s| s.state).collect();
    RolloutStatus {
        state: summary(&all),
        message: decision.message.clone(),
        awaiting_approval: decision.awaiting_approval.clone(),
        phases: vec![
            phase(Role::Controller, "controllers"),
            phase(Role::Broker, "brokers"),
        ],
    }
}

/// The state of a group of steps: the most pressing of theirs.
fn summary(states: &[StepState]) -> StepState {
    [
        StepState::Error,
        StepState::InProgress,
        StepState::Waiting,
        StepState::Pending,
    ]
    .into_iter()
    .find(|s| states.contains(s))
    .unwrap_or(StepState::Complete)
}

/// Puts the roll's plan into the computed status: `status.rollout`, the Progressing condition
/// while a roll is under way, and Degraded (`RollTimeout`) when a restarted node did not recover
/// in time.
pub fn with_rollout(
    decision: Option<&Decision>,
    next: &mut KafkaClusterStatus,
    previous: Option<&KafkaClusterStatus>,
    now: Timestamp,
) {
    let Some(decision) = decision else {
        return;
    };
    next.rollout = Some(plan_status(decision));
    let prev = previous.map(|p| p.conditions.as_slice()).unwrap_or_default();
    if decision.action != Action::Idle {
        let c = Cond {
            type_: ConditionType::Progressing,
            status: true,
            reason: decision.reason,
            message: decision.message.clone(),
        };
        replace_condition(&mut next.conditions, c, prev, now);
    }
    if let Some(msg) = &decision.timed_out {
        let already = next
            .conditions
            .iter()
            .any(|c| c.type_ == ConditionType::Degraded.as_str() && c.status == "True");
        if !already {
            let c = Cond {
                type_: ConditionType::Degraded,
                status: true,
                reason: Reason::RollTimeout,
                message: msg.clone(),
            };
            replace_condition(&mut next.conditions, c, prev, now);
        }
    }
}

/// A version change still under way after the roll (soak, finalisation): Progressing, unless
/// something else already is.
pub fn with_upgrade(
    message: &str,
    next: &mut KafkaClusterStatus,
    previous: Option<&KafkaClusterStatus>,
    now: Timestamp,
) {
    let busy = next
        .conditions
        .iter()
        .any(|c| c.type_ == ConditionType::Progressing.as_str() && c.status == "True");
    if busy {
        return;
    }
    let prev = previous.map(|p| p.conditions.as_slice()).unwrap_or_default();
    let c = Cond {
        type_: ConditionType::Progressing,
        status: true,
        reason: Reason::Upgrading,
        message: message.to_string(),
    };
    replace_condition(&mut next.conditions, c, prev, now);
}

fn replace_condition(conditions: &mut [Condition], c: Cond, previous: &[Condition], now: Timestamp) {
    if let Some(slot) = conditions.iter_mut().find(|x| x.type_ == c.type_.as_str()) {
        let generation = slot.observed_generation;
        *slot = condition(c, generation, previous, now);
    }
}

/// Large clusters list in `status.nodes` only the nodes that need attention (not ready, not up
/// to date, misplaced), at most [`MAX_LISTED_NODES`]; the rest are counted in `nodesOmitted`.
fn summarise_nodes(nodes: Vec<NodeStatus>) -> (Vec<NodeStatus>, i32) {
    let total = nodes.len();
    if total <= MAX_LISTED_NODES {
        return (nodes, 0);
    }
    let listed: Vec<NodeStatus> = nodes
        .into_iter()
        .filter(|n| !n.ready || !n.up_to_date || n.placement.is_some())
        .take(MAX_LISTED_NODES)
        .collect();
    let omitted = (total - listed.len()) as i32;
    (listed, omitted)
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

    #[test]
    fn kafka_version_is_what_the_pods_run_and_the_oldest_while_mixed() {
        let mut pods = all_pods(true);
        let c = validated("version: 4.3.1\n");
        let now = Timestamp::from_second(0).unwrap();
        let label = |p: &mut Pod, v: &str| {
            p.metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert(labels::VERSION.into(), v.into());
        };
        pods.iter_mut().for_each(|p| label(p, "4.2.2"));
        label(&mut pods[0], "4.3.1");
        let s = compute(&c, &pods, &Facts::default(), None, now);
        assert_eq!(s.kafka_version.as_deref(), Some("4.2.2"), "not the spec's 4.3.1");
        assert_eq!(s.nodes[0].version.as_deref(), Some("4.3.1"));
        assert_eq!(s.nodes[1].version.as_deref(), Some("4.2.2"));
        pods.iter_mut().for_each(|p| label(p, "4.3.1"));
        let previous = KafkaClusterStatus {
            metadata_version: Some("4.2-IV1".into()),
            ..Default::default()
        };
        let s = compute(&c, &pods, &Facts::default(), Some(&previous), now);
        assert_eq!(s.kafka_version.as_deref(), Some("4.3.1"));
        assert_eq!(
            s.metadata_version.as_deref(),
            Some("4.2-IV1"),
            "the last reading stands"
        );
        let s = compute(&c, &[], &Facts::default(), Some(&s), now);
        assert_eq!(
            s.kafka_version.as_deref(),
            Some("4.3.1"),
            "no pods: the last one stands"
        );
    }

    #[test]
    fn an_upgrade_under_way_is_progressing_unless_something_else_is() {
        let c = validated("");
        let now = Timestamp::from_second(0).unwrap();
        let mut s = compute(&c, &all_pods(true), &Facts::default(), None, now);
        with_upgrade("soaking", &mut s, None, now);
        let p = s.conditions.iter().find(|c| c.type_ == "Progressing").unwrap();
        assert_eq!((p.status.as_str(), p.reason.as_str()), ("True", "Upgrading"));
        let mut s = compute(&c, &all_pods(false), &Facts::default(), None, now);
        with_upgrade("soaking", &mut s, None, now);
        let p = s.conditions.iter().find(|c| c.type_ == "Progressing").unwrap();
        assert_eq!(p.reason, "NodesStarting");
    }

    #[test]
    fn a_warning_condition_is_listed_while_it_holds_and_announced_once() {
        let c = validated("controllers: {template: {securityContext: {runAsUser: 0}}}");
        let now = Timestamp::from_second(0).unwrap();
        let facts = Facts {
            warnings: hardening_warning(&c).into_iter().collect(),
            ..Default::default()
        };
        let s = compute(&c, &all_pods(true), &facts, None, now);
        let w = s
            .conditions
            .iter()
            .find(|c| c.type_ == "HardeningRelaxed")
            .unwrap();
        assert_eq!(
            (w.status.as_str(), w.reason.as_str()),
            ("True", "SecurityContextRelaxed")
        );
        assert!(
            w.message
                .contains("spec.controllers.template.securityContext.runAsUser"),
            "{}",
            w.message
        );
        assert_eq!(new_warnings(None, &s).len(), 1);
        assert!(new_warnings(Some(&s), &s).is_empty(), "announced once");
        let fixed = compute(&validated(""), &all_pods(true), &Facts::default(), Some(&s), now);
        assert!(fixed.conditions.iter().all(|c| c.type_ != "HardeningRelaxed"));
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

    fn condition(s: &KafkaClusterStatus, t: ConditionType) -> &Condition {
        s.conditions.iter().find(|c| c.type_ == t.as_str()).unwrap()
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
        assert_eq!(condition(&s, ConditionType::Ready).status, "True");
        assert_eq!(condition(&s, ConditionType::Progressing).status, "False");
        assert_eq!(condition(&s, ConditionType::Degraded).status, "False");
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
        assert_eq!(
            condition(&third, ConditionType::Ready).last_transition_time,
            Time(later)
        );
        assert_eq!(
            condition(&third, ConditionType::Degraded).last_transition_time,
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
        assert_eq!(condition(&s, ConditionType::Ready).status, "False");
        let degraded = condition(&s, ConditionType::Degraded);
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
        assert_eq!(condition(&s, ConditionType::Progressing).reason, "RestartPending");
        assert!(
            !s.nodes
                .iter()
                .find(|n| n.pod == "demo-broker-0")
                .unwrap()
                .up_to_date
        );
        facts.scale_down_blocked = Some("scale-down refused".into());
        let s = compute(&c, &all_pods(true), &facts, None, Timestamp::UNIX_EPOCH);
        assert_eq!(
            condition(&s, ConditionType::Progressing).reason,
            "ScaleDownBlocked"
        );
    }

    #[test]
    fn invalid_spec_names_the_field() {
        let s = invalid(
            "spec.brokers.storage.size: cannot shrink",
            Some(2),
            None,
            Timestamp::UNIX_EPOCH,
        );
        let ready = condition(&s, ConditionType::Ready);
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "InvalidSpec")
        );
        assert!(ready.message.starts_with("spec.brokers.storage.size"));
        assert_eq!(s.observed_generation, Some(2));
    }

    /// A refused edit or refused objects turn a healthy cluster's Ready False (naming the field,
    /// or the object and the server's message) and Degraded True; the nodes stay as observed.
    #[test]
    fn refusals_override_ready_and_keep_the_observed_nodes() {
        let c = validated("");
        let healthy = compute(
            &c,
            &all_pods(true),
            &Facts::default(),
            None,
            Timestamp::UNIX_EPOCH,
        );
        let mut s = healthy.clone();
        with_refusals(&mut s, None, &[], Some(&healthy), Timestamp::UNIX_EPOCH);
        assert_eq!(s, healthy, "nothing refused: nothing changes");
        assert!(!ready_changed(Some(&healthy), &s));

        let refused = vec!["Pod/demo-broker-0: denied by webhook (HTTP 400 BadRequest)".to_string()];
        let later = Timestamp::from_second(1_000).unwrap();
        with_refusals(&mut s, None, &refused, Some(&healthy), later);
        let ready = condition(&s, ConditionType::Ready);
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "ApplyFailed")
        );
        assert!(
            ready.message.contains("Pod/demo-broker-0: denied by webhook"),
            "{}",
            ready.message
        );
        assert_eq!(ready.last_transition_time.0, later, "Ready flipped");
        let degraded = condition(&s, ConditionType::Degraded);
        assert_eq!(
            (degraded.status.as_str(), degraded.reason.as_str()),
            ("True", "ApplyFailed")
        );
        assert_eq!(s.nodes, healthy.nodes);
        assert!(ready_changed(Some(&healthy), &s));

        // A refused edit takes precedence and names the field.
        let mut t = healthy.clone();
        with_refusals(
            &mut t,
            Some("spec.brokers.storage.size: cannot shrink"),
            &refused,
            Some(&healthy),
            later,
        );
        let ready = condition(&t, ConditionType::Ready);
        assert_eq!(ready.reason, "InvalidSpec");
        assert!(ready.message.starts_with("spec.brokers.storage.size"));
        // The same refusal again: no change to announce.
        let mut again = t.clone();
        with_refusals(
            &mut again,
            Some("spec.brokers.storage.size: cannot shrink"),
            &[],
            Some(&t),
            later,
        );
        assert!(!ready_changed(Some(&t), &again));
    }

    /// A Degraded condition with its own reason (stuck pods) is kept under a refusal.
    #[test]
    fn refusals_keep_an_existing_degraded_reason() {
        let c = validated("");
        let mut pods = all_pods(true);
        if let Some(st) = pods[0].status.as_mut() {
            st.conditions = None;
            st.container_statuses = Some(vec![k8s_openapi::api::core::v1::ContainerStatus {
                state: Some(k8s_openapi::api::core::v1::ContainerState {
                    waiting: Some(k8s_openapi::api::core::v1::ContainerStateWaiting {
                        reason: Some("ImagePullBackOff".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]);
        }
        let mut s = compute(&c, &pods, &Facts::default(), None, Timestamp::UNIX_EPOCH);
        assert_eq!(condition(&s, ConditionType::Degraded).reason, "NodesStuck");
        with_refusals(
            &mut s,
            None,
            &["ConfigMap/x: quota".into()],
            None,
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(condition(&s, ConditionType::Degraded).reason, "NodesStuck");
        assert_eq!(condition(&s, ConditionType::Ready).reason, "ApplyFailed");
    }

    /// A 1,000-node cluster keeps its status far below etcd's 1.5 MiB object limit: healthy
    /// nodes are counted, not listed; troubled ones are listed up to the cap, each message
    /// bounded; the rollout lists only unfinished steps.
    #[test]
    fn status_of_a_thousand_nodes_stays_small() {
        let c = validated("brokers:\n  replicas: 997\n");
        let long = "x".repeat(5000);
        let mut pods: Vec<Pod> = (0..997)
            .map(|i| pod(&format!("demo-broker-{i}"), Role::Broker, i, i % 2 == 0))
            .collect();
        for p in pods.iter_mut() {
            if let Some(st) = p.status.as_mut() {
                st.message = Some(long.clone());
            }
        }
        let s = compute(&c, &pods, &Facts::default(), None, Timestamp::UNIX_EPOCH);
        assert_eq!(s.nodes.len(), MAX_LISTED_NODES);
        assert_eq!(s.nodes_omitted, 1000 - MAX_LISTED_NODES as i32);
        assert!(s.nodes.iter().all(|n| !n.ready));
        let nodes: Vec<crate::roll::NodeView> = (0..997)
            .map(|i| crate::roll::NodeView {
                id: i,
                role: Role::Broker,
                pod: format!("demo-broker-{i}"),
                state: crate::roll::PodState::Ready,
                age_seconds: 10_000,
                update: crate::roll::Update::Restart(long.clone()),
                rack: None,
                canary_of: None,
            })
            .collect();
        let decision = crate::roll::plan(&nodes, &crate::roll::KafkaView::Skipped, &Default::default());
        let mut with_roll = s.clone();
        with_roll_status(&decision, &mut with_roll);
        let bytes = serde_json::to_vec(&with_roll).unwrap().len();
        assert!(bytes < 200 * 1024, "{bytes} bytes");

        let healthy: Vec<Pod> = (0..997)
            .map(|i| pod(&format!("demo-broker-{i}"), Role::Broker, i, true))
            .chain((0..3).map(|i| {
                pod(
                    &format!("demo-controller-{}", 9000 + i),
                    Role::Controller,
                    9000 + i,
                    true,
                )
            }))
            .collect();
        let s = compute(&c, &healthy, &Facts::default(), None, Timestamp::UNIX_EPOCH);
        assert!(s.nodes.is_empty());
        assert_eq!((s.nodes_omitted, s.ready_brokers), (1000, 997));
    }

    fn with_roll_status(decision: &crate::roll::Decision, status: &mut KafkaClusterStatus) {
        let previous = status.clone();
        with_rollout(Some(decision), status, Some(&previous), Timestamp::UNIX_EPOCH);
        let rollout = status.rollout.as_ref().unwrap();
        assert_eq!(rollout.phases[1].steps.len(), MAX_LISTED_NODES);
        assert_eq!(rollout.phases[1].steps_omitted, 997 - MAX_LISTED_NODES as i32);
    }
}
