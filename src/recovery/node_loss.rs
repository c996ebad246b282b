//! Node loss, decided from observed state only. A Kubernetes node is lost when its `Ready`
//! condition has not been `True` for longer than the timeout (the time comes from the
//! condition's `lastTransitionTime`, so a restarted operator counts from the same moment), or
//! when the Node object is gone. The pods of this cluster bound to it are stranded: their
//! status comes from a kubelet that no longer answers, and a pod deleted there stays
//! Terminating for ever.
//!
//! [`plan`] recovers one stranded node of the cluster at a time, and only while the rest is
//! healthy in Kafka's own view:
//! - a volume that other nodes can reach (its PersistentVolume does not pin the lost node) stays:
//!   the pod is force-deleted and recreated elsewhere on the same claim ([`Step::Recreate`]);
//! - a node-local volume (its PersistentVolume's node affinity pins the lost node) is replaced:
//!   the claim is deleted, then the pod force-deleted; the pod comes back on a new volume,
//!   formatted with the cluster id, and re-replicates ([`Step::Replace`]).
//!
//! With the manual policy nothing is deleted: the plan names the node and the commands to run.

use std::collections::{BTreeMap, BTreeSet};

use crate::names::Role;
use crate::roll::{KafkaState, KafkaView};

/// `spec.recovery.nodeLossTimeoutSeconds` default.
pub const DEFAULT_TIMEOUT_SECONDS: i64 = 300;

/// A Kubernetes node as recovery sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeState {
    Ready,
    /// `Ready` is `False` or `Unknown`, since this time (seconds; None when the condition has
    /// no transition time: the node is not counted as lost).
    NotReady {
        since: Option<i64>,
    },
}

/// One node of the cluster (a broker or controller) and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: i32,
    pub role: Role,
    pub pod: String,
    pub uid: Option<String>,
    /// The Kubernetes node the pod is bound to; for a pod not bound yet, the node its volume
    /// is pinned to (a pod that can only ever run there).
    pub host: Option<String>,
    pub ready: bool,
    pub claim: String,
    /// The Kubernetes nodes the claim's PersistentVolume is pinned to by node affinity (empty:
    /// reachable from any node, or not known).
    pub pinned_to: Vec<String>,
}

/// The recovery settings of the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub automatic: bool,
    pub timeout_seconds: i64,
}

/// What recovery does to one stranded member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Force-delete the pod (grace 0, this uid only); it is recreated on its claim elsewhere.
    Recreate {
        id: i32,
        pod: String,
        uid: Option<String>,
    },
    /// Delete the claim, then force-delete the pod: it comes back on a new volume.
    Replace {
        id: i32,
        pod: String,
        uid: Option<String>,
        claim: String,
    },
}

/// A lost Kubernetes node and the pods of this cluster stranded on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostNode {
    pub node: String,
    /// When it stopped being Ready (seconds); None when its Node object is gone.
    pub since: Option<i64>,
    pub pods: Vec<String>,
}

/// The planner's answer.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Plan {
    pub lost: Vec<LostNode>,
    /// Ids of the members on lost nodes: the roll skips them.
    pub stranded: BTreeMap<i32, String>,
    pub step: Option<Step>,
    /// What recovery does, or why it waits, or (manual) what to run. Empty when nothing is lost.
    pub message: String,
    /// When a node not Ready yet will pass the timeout (seconds from now).
    pub recheck_in: Option<i64>,
    /// A step waits for the rest of the cluster (Kafka's recovery raises no event: poll).
    pub waits: bool,
}

/// The host's state: `None` for a host whose Node object is gone.
fn host_state<'a>(nodes: &'a BTreeMap<String, NodeState>, host: &str) -> Option<&'a NodeState> {
    nodes.get(host)
}

/// Whether some Kubernetes node has not been Ready for longer than the timeout.
fn any_node_lost(nodes: &BTreeMap<String, NodeState>, settings: &Settings, now: i64) -> bool {
    nodes
        .values()
        .any(|n| matches!(n, NodeState::NotReady { since: Some(t) } if t + settings.timeout_seconds <= now))
}

/// The claims whose PersistentVolumes the plan must see (the nodes they pin): those of the
/// members `first` (planned without volumes) found stranded, and those of pods not bound yet
/// that may be waiting for a lost node: every unbound member not ready while some node is
/// lost past the timeout, else the unbound members the scheduler cannot place
/// (`unschedulable`, by pod name): their volume may pin them to a Node object that is gone,
/// which leaves no NotReady node to time (the pod collector deletes the pods of a deleted
/// Node, and the pod made again can only run where its volume is).
pub fn claims_to_read(
    first: &Plan,
    members: &[Member],
    unschedulable: &BTreeSet<String>,
    (nodes, settings, now): (&BTreeMap<String, NodeState>, &Settings, i64),
) -> BTreeSet<String> {
    let any_lost = any_node_lost(nodes, settings, now);
    members
        .iter()
        .filter(|m| {
            let waiting = m.host.is_none() && !m.ready && (any_lost || unschedulable.contains(&m.pod));
            first.stranded.contains_key(&m.id) || waiting
        })
        .map(|m| m.claim.clone())
        .collect()
}

/// Plans the next recovery step. `now` in seconds; `cluster` names the KafkaCluster in the
/// manual commands.
pub fn plan(
    members: &[Member],
    nodes: &BTreeMap<String, NodeState>,
    kafka: &KafkaView,
    settings: &Settings,
    (cluster, now): (&str, i64),
) -> Plan {
    let mut out = Plan::default();
    let mut lost: BTreeMap<String, LostNode> = BTreeMap::new();
    for m in members {
        let Some(host) = &m.host else { continue };
        let since = match host_state(nodes, host) {
            Some(NodeState::Ready) => continue,
            Some(NodeState::NotReady { since: None }) => continue,
            Some(NodeState::NotReady { since: Some(t) }) => Some(*t),
            None => None,
        };
        if let Some(t) = since {
            let left = t + settings.timeout_seconds - now;
            if left > 0 {
                out.recheck_in = Some(out.recheck_in.map_or(left, |r: i64| r.min(left)));
                continue;
            }
        }
        let entry = lost.entry(host.clone()).or_insert_with(|| LostNode {
            node: host.clone(),
            since,
            pods: Vec::new(),
        });
        entry.pods.push(m.pod.clone());
        out.stranded.insert(m.id, host.clone());
    }
    out.lost = lost.into_values().collect();
    if out.lost.is_empty() {
        return out;
    }
    let mut stranded: Vec<&Member> = members
        .iter()
        .filter(|m| out.stranded.contains_key(&m.id))
        .collect();
    // Controllers first (the quorum), then brokers, by id.
    stranded.sort_by_key(|m| (m.role == Role::Broker, m.id));
    if !settings.automatic {
        out.message = manual_message(&stranded, cluster);
        return out;
    }
    let Some(next) = stranded.first().copied() else {
        return out;
    };
    let step = step_for(next);
    match blocker(
        next,
        members,
        &out.stranded,
        kafka,
        matches!(step, Step::Replace { .. }),
    ) {
        Some(why) => {
            out.message = format!("recovery of {} waits: {why}", next.pod);
            out.waits = true;
        }
        None => {
            out.message = match &step {
                Step::Recreate { pod, .. } => format!(
                    "force-deleting {pod} from lost node {}; it is recreated elsewhere on its volume",
                    out.stranded[&next.id]
                ),
                Step::Replace { pod, claim, .. } => format!(
                    "replacing {pod}: its volume {claim} is local to lost node {}; a new volume is made and Kafka re-replicates",
                    out.stranded[&next.id]
                ),
            };
            out.step = Some(step);
        }
    }
    out
}

/// Recreate on the same claim, unless the volume is pinned to the node the pod was on.
fn step_for(m: &Member) -> Step {
    let pinned_here = m.host.as_ref().is_some_and(|h| m.pinned_to.contains(h));
    if pinned_here {
        Step::Replace {
            id: m.id,
            pod: m.pod.clone(),
            uid: m.uid.clone(),
            claim: m.claim.clone(),
        }
    } else {
        Step::Recreate {
            id: m.id,
            pod: m.pod.clone(),
            uid: m.uid.clone(),
        }
    }
}

/// Why member `m` may not be recovered now: another member not stranded is not ready (one
/// node at a time), or Kafka says the rest is not healthy.
fn blocker(
    m: &Member,
    members: &[Member],
    stranded: &BTreeMap<i32, String>,
    kafka: &KafkaView,
    discards_volume: bool,
) -> Option<String> {
    if let Some(busy) = members
        .iter()
        .find(|o| o.id != m.id && !stranded.contains_key(&o.id) && !o.ready)
    {
        return Some(format!("{} is not ready yet (one node at a time)", busy.pod));
    }
    let out: BTreeSet<i32> = stranded.keys().copied().collect();
    match (kafka, m.role) {
        (KafkaView::Skipped, _) => None,
        (KafkaView::Unreachable(e), _) => {
            Some(format!("Kafka cannot be asked whether the rest is healthy ({e})"))
        }
        (KafkaView::Known(s), Role::Broker) => partitions_blocker(s, m.id, &out, discards_volume),
        (KafkaView::Known(s), Role::Controller) => quorum_blocker(s, &out),
    }
}

/// The other replicas (not stranded) of every partition of broker `id` must be in sync; when
/// its volume is discarded, some in-sync replica must hold the data outside the lost nodes.
fn partitions_blocker(
    s: &KafkaState,
    id: i32,
    stranded: &BTreeSet<i32>,
    discards_volume: bool,
) -> Option<String> {
    for p in s.partitions.iter().filter(|p| p.replicas.contains(&id)) {
        let lagging: Vec<i32> = p
            .replicas
            .iter()
            .copied()
            .filter(|r| !stranded.contains(r) && !p.isr.contains(r))
            .collect();
        let elsewhere = p.isr.iter().any(|r| !stranded.contains(r));
        if discards_volume && !elsewhere {
            return Some(format!(
                "partition {}-{} has no in-sync replica outside the lost node(s); its volume is kept until the node comes back",
                p.topic, p.partition
            ));
        }
        if !lagging.is_empty() {
            return Some(format!(
                "partition {}-{} has replicas {lagging:?} out of sync",
                p.topic, p.partition
            ));
        }
    }
    None
}

/// The voters not stranded must keep a majority caught up with the leader.
fn quorum_blocker(s: &KafkaState, stranded: &BTreeSet<i32>) -> Option<String> {
    let Some(q) = &s.quorum else {
        return Some("the metadata quorum could not be described".into());
    };
    let live = q
        .voters
        .iter()
        .filter(|v| !stranded.contains(&v.id) && q.is_caught_up(v.id, s.fetch_timeout_ms))
        .count();
    let needed = q.voters.len() / 2 + 1;
    (live < needed).then(|| {
        format!(
            "only {live} of {} controller voters are live outside the lost node(s); {needed} needed",
            q.voters.len()
        )
    })
}

/// What to run by hand (manual policy).
fn manual_message(stranded: &[&Member], cluster: &str) -> String {
    let steps: Vec<String> = stranded
        .iter()
        .map(|m| match step_for(m) {
            Step::Recreate { pod, .. } => format!(
                "{pod}: `kubectl delete pod {pod} --force --grace-period=0` (recreated elsewhere on its volume)"
            ),
            Step::Replace { pod, claim, .. } => format!(
                "{pod}: `kubectl delete pvc {claim} --wait=false && kubectl delete pod {pod} --force --grace-period=0` (its volume is local to the lost node; a new one is made)"
            ),
        })
        .collect();
    format!(
        "recovery policy Manual: nothing is deleted; to recover KafkaCluster {cluster}, one at a time: {}",
        steps.join("; ")
    )
}

/// The Degraded condition's message: each lost node, since when, its pods, and what recovery
/// does. None when nothing is lost. Stable while nothing changes (no elapsed times).
pub fn summary(p: &Plan) -> Option<String> {
    if p.lost.is_empty() {
        return None;
    }
    let nodes: Vec<String> = p
        .lost
        .iter()
        .map(|l| {
            let since = match l
                .since
                .and_then(|t| k8s_openapi::jiff::Timestamp::from_second(t).ok())
            {
                Some(t) => format!("not Ready since {t}"),
                None => "its Node object is gone".to_string(),
            };
            format!("node {} lost ({since}) with {}", l.node, l.pods.join(", "))
        })
        .collect();
    Some(format!("{}; {}", nodes.join("; "), p.message))
}

#[cfg(test)]
mod tests;
