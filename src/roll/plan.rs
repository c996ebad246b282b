//! The roll planner: from the observed nodes and Kafka's state, the next action of a rollout
//! and the plan shown in status. Pure: the same observation always gives the same decision, so
//! an operator killed mid-roll decides the same thing again after its restart.

use std::collections::BTreeMap;

use super::gates::{self, KafkaState};
use crate::crd::Reason;
use crate::names::Role;

/// What Kubernetes says about a node's pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodState {
    /// No pod (it is being recreated).
    Missing,
    /// Deleted, not gone yet.
    Terminating,
    /// Waiting in a state that does not resolve by itself (CrashLoopBackOff, ImagePullBackOff,
    /// Unschedulable, …).
    Stuck(String),
    /// Not ready (starting, recovering its log, failing its probe).
    NotReady(String),
    Ready,
}

/// What a node needs to reach the desired state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update {
    None,
    /// Only dynamic broker keys differ: apply them live.
    Live(BTreeMap<String, String>),
    /// A restart is needed, for this reason.
    Restart(String),
}

/// One node as the planner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeView {
    pub id: i32,
    pub role: Role,
    pub pod: String,
    pub state: PodState,
    /// Seconds since the pod was created (0 when missing); a restarted node's pod is new, so this
    /// is the time since its restart.
    pub age_seconds: i64,
    pub update: Update,
    /// The broker's rack, when rack awareness assigned one.
    pub rack: Option<String>,
    /// When this node was the canary of the current change and runs it: that change's mark
    /// (what `kraftwerk.dev/canary-approved` must say to let the rest of the roll go on).
    pub canary_of: Option<String>,
}

/// What the planner knows about Kafka.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KafkaView {
    Known(KafkaState),
    /// Kafka did not answer: the gates cannot be evaluated.
    Unreachable(String),
    /// Gates skipped on purpose (simulated clusters; `kraftwerk.dev/skip-kafka-gates`).
    Skipped,
}

/// Rollout settings from the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Controls {
    pub paused: bool,
    pub canary: bool,
    /// Brokers of one rack restarted together (1 = one node at a time).
    pub max_batch_per_rack: usize,
    pub restart_timeout_seconds: i64,
    /// The change the user approved after its canary (`kraftwerk.dev/canary-approved`).
    pub canary_approved: Option<String>,
}

impl Default for Controls {
    fn default() -> Self {
        Self {
            paused: false,
            canary: false,
            max_batch_per_rack: 1,
            restart_timeout_seconds: DEFAULT_RESTART_TIMEOUT_SECONDS,
            canary_approved: None,
        }
    }
}

pub const DEFAULT_RESTART_TIMEOUT_SECONDS: i64 = 600;

/// The next action of the rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing to roll.
    Idle,
    /// A roll is under way but must wait (a node is recovering, a gate refuses, Kafka is
    /// unreachable).
    Wait,
    /// Held by the user (pause, canary).
    Hold,
    /// Delete these pods (one, or a rack batch); `canary` marks the first node of a canary roll.
    Restart { ids: Vec<i32>, canary: bool },
    /// Apply dynamic keys to this broker live.
    Reconfigure {
        id: i32,
        set: BTreeMap<String, String>,
        canary: bool,
    },
}

/// State of one step of the plan (DC/OS plan vocabulary).
pub use crate::crd::StepState;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub id: i32,
    pub role: Role,
    pub pod: String,
    pub state: StepState,
    pub reason: String,
}

/// The planner's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// Short machine-readable reason for the Progressing condition.
    pub reason: Reason,
    pub message: String,
    /// Set when a restarted node did not recover within the timeout (Degraded).
    pub timed_out: Option<String>,
    /// How long past the timeout that node is (0 otherwise); the retries back off with it.
    pub overdue_seconds: i64,
    /// Reported, not blocking (e.g. topics with RF ≤ min.insync.replicas).
    pub notes: Vec<String>,
    /// The change whose canary holds the roll, to be approved.
    pub awaiting_approval: Option<String>,
    /// Steps in roll order: controllers, then brokers.
    pub steps: Vec<Step>,
}

fn role_rank(role: Role) -> u8 {
    match role {
        Role::Controller => 0,
        Role::Broker => 1,
    }
}

/// Whether the node is fully back: pod Ready and, when Kafka is known, registered, unfenced and
/// in every ISR (broker) or caught up with the quorum leader (controller).
fn health(n: &NodeView, kafka: &KafkaView) -> Result<(), String> {
    match &n.state {
        PodState::Ready => {}
        PodState::Missing => return Err("pod being recreated".into()),
        PodState::Terminating => return Err("pod terminating".into()),
        PodState::Stuck(r) => return Err(format!("stuck: {r}")),
        PodState::NotReady(r) => return Err(format!("not ready: {r}")),
    }
    match (kafka, n.role) {
        (KafkaView::Known(s), Role::Broker) => gates::broker_recovered(s, n.id),
        (KafkaView::Known(s), Role::Controller) => gates::controller_recovered(s, n.id),
        _ => Ok(()),
    }
}

fn update_reason(u: &Update) -> String {
    match u {
        Update::None => String::new(),
        Update::Live(set) => format!(
            "dynamic update of {}",
            set.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        Update::Restart(r) => r.clone(),
    }
}

/// Waits for node `n`, which is down or not yet back in Kafka; past the restart timeout its step
/// is ERROR and the decision carries the timeout (Degraded), but the roll still only waits.
fn wait_for(
    n: &NodeView,
    healths: &BTreeMap<i32, Result<(), String>>,
    controls: &Controls,
    mut steps: Vec<Step>,
) -> Decision {
    let why = healths
        .get(&n.id)
        .cloned()
        .and_then(Result::err)
        .unwrap_or_default();
    let mut d = Decision {
        action: Action::Wait,
        reason: Reason::WaitingForNode,
        message: format!("waiting for {} to recover before the next step: {why}", n.pod),
        timed_out: None,
        overdue_seconds: 0,
        notes: Vec::new(),
        awaiting_approval: None,
        steps: Vec::new(),
    };
    let step = steps.iter_mut().find(|s| s.id == n.id);
    if n.update == Update::None && n.age_seconds > controls.restart_timeout_seconds {
        let msg = format!(
            "{} did not recover within {}s: {why}",
            n.pod, controls.restart_timeout_seconds
        );
        if let Some(s) = step {
            s.state = StepState::Error;
            s.reason = msg.clone();
        }
        d.reason = Reason::RollTimeout;
        d.message = format!("{msg}; the roll waits for it and will not skip ahead");
        d.timed_out = Some(msg);
        d.overdue_seconds = n.age_seconds - controls.restart_timeout_seconds;
    } else if n.update != Update::None
        && let Some(s) = step
    {
        s.state = StepState::InProgress;
        s.reason = why;
    }
    d.steps = steps;
    d
}

/// When to look again, from what the roll decided. Kafka's recovery (ISR catch-up, quorum
/// lag) raises no Kubernetes event, so a roll waiting on it polls every few seconds instead of
/// the generic 15 s; a node past its timeout is retried with a backoff that doubles with every
/// minute it is overdue (15 s up to 5 min); a hold waits for the user, whose edit is an event.
/// `None`: the roll has no opinion (idle).
pub fn requeue_after(d: &Decision) -> Option<std::time::Duration> {
    use std::time::Duration;
    if d.timed_out.is_some() {
        let doublings = (d.overdue_seconds.max(0) / 60).min(5) as u32;
        return Some(Duration::from_secs((15u64 << doublings).min(300)));
    }
    match d.action {
        Action::Idle => None,
        Action::Hold => Some(Duration::from_secs(300)),
        Action::Wait | Action::Restart { .. } | Action::Reconfigure { .. } => Some(Duration::from_secs(5)),
    }
}

/// Plans the next step of the rollout. The rules, in order: nothing pending → idle once Kafka
/// has every node back; paused → hold; a canary of this change runs it → hold for approval; a
/// node is down → restart it first if it is stale, else wait for it; otherwise the next node in
/// roll order (controllers first, the quorum leader last), if Kafka's gates allow, with rack
/// batching for brokers.
pub fn plan(nodes: &[NodeView], kafka: &KafkaView, controls: &Controls) -> Decision {
    let mut p = Planner::new(nodes, kafka, controls);
    let pending: Vec<&NodeView> = p
        .order
        .iter()
        .copied()
        .filter(|n| n.update != Update::None)
        .collect();
    if pending.is_empty() {
        return p.settle();
    }
    if controls.paused {
        return p.pause(&pending);
    }
    if let Some(d) = p.canary_hold(&pending) {
        return d;
    }
    if let Some(d) = p.handle_down() {
        return d;
    }
    p.next(&pending)
}

/// [`plan`] over the nodes that are not being recovered (`skipped`: id -> why, e.g. stranded
/// on a lost Kubernetes node): a lost node does not freeze the roll. The skipped nodes are
/// listed in the plan as WAITING, and the message says so; the recovered pod is created from
/// the desired configuration, so it needs no restart afterwards.
pub fn plan_skipping(
    nodes: &[NodeView],
    kafka: &KafkaView,
    controls: &Controls,
    skipped: &BTreeMap<i32, String>,
) -> Decision {
    if skipped.is_empty() {
        return plan(nodes, kafka, controls);
    }
    let active: Vec<NodeView> = nodes
        .iter()
        .filter(|n| !skipped.contains_key(&n.id))
        .cloned()
        .collect();
    let mut d = plan(&active, kafka, controls);
    let mut names = Vec::new();
    for n in nodes.iter().filter(|n| skipped.contains_key(&n.id)) {
        let why = skipped.get(&n.id).cloned().unwrap_or_default();
        names.push(format!("{} ({why})", n.pod));
        d.steps.push(Step {
            id: n.id,
            role: n.role,
            pod: n.pod.clone(),
            state: StepState::Waiting,
            reason: format!("skipped: {why}"),
        });
    }
    let note = format!("skipping {}", names.join(", "));
    d.message = if d.message.is_empty() {
        note
    } else {
        format!("{}; {note}", d.message)
    };
    d
}

/// The planner's working state: nodes in roll order, their health, and the steps reported.
struct Planner<'a> {
    nodes: &'a [NodeView],
    kafka: &'a KafkaView,
    controls: &'a Controls,
    order: Vec<&'a NodeView>,
    healths: BTreeMap<i32, Result<(), String>>,
    steps: Vec<Step>,
}

impl<'a> Planner<'a> {
    fn new(nodes: &'a [NodeView], kafka: &'a KafkaView, controls: &'a Controls) -> Self {
        let leader = match kafka {
            KafkaView::Known(s) => s.quorum.as_ref().map(|q| q.leader),
            _ => None,
        };
        // Roll order: controllers before brokers, the quorum leader last among the controllers.
        let mut order: Vec<&NodeView> = nodes.iter().collect();
        order.sort_by_key(|n| (role_rank(n.role), Some(n.id) == leader, n.id));
        let healths: BTreeMap<i32, Result<(), String>> =
            order.iter().map(|n| (n.id, health(n, kafka))).collect();
        let steps = order
            .iter()
            .map(|n| {
                let (state, reason) = match (&n.update, &healths[&n.id]) {
                    (Update::None, Ok(())) => (StepState::Complete, "runs the desired configuration".into()),
                    (Update::None, Err(e)) => (StepState::InProgress, e.clone()),
                    (u, _) => (StepState::Pending, update_reason(u)),
                };
                Step {
                    id: n.id,
                    role: n.role,
                    pod: n.pod.clone(),
                    state,
                    reason,
                }
            })
            .collect();
        Self {
            nodes,
            kafka,
            controls,
            order,
            healths,
            steps,
        }
    }

    fn is_healthy(&self, id: i32) -> bool {
        self.healths.get(&id).is_some_and(Result::is_ok)
    }

    fn set_step(&mut self, id: i32, state: StepState, reason: String) {
        if let Some(s) = self.steps.iter_mut().find(|s| s.id == id) {
            s.state = state;
            s.reason = reason;
        }
    }

    fn decide(&mut self, action: Action, reason: Reason, message: String) -> Decision {
        Decision {
            action,
            reason,
            message,
            timed_out: None,
            overdue_seconds: 0,
            notes: Vec::new(),
            awaiting_approval: None,
            steps: std::mem::take(&mut self.steps),
        }
    }

    /// Nothing pending. The last restarted node counts as done only once Kafka has it back
    /// (unfenced, in every ISR, caught up with the quorum): a pod that is merely Ready is not
    /// yet safe to call the roll finished. Pods that are not Ready are the status' business,
    /// not the roll's (a cluster being created is not a roll).
    fn settle(mut self) -> Decision {
        let known = matches!(self.kafka, KafkaView::Known(_));
        let catching_up = self
            .order
            .iter()
            .copied()
            .find(|n| n.state == PodState::Ready && known && !self.is_healthy(n.id));
        if let Some(n) = catching_up {
            return wait_for(n, &self.healths, self.controls, std::mem::take(&mut self.steps));
        }
        self.decide(
            Action::Idle,
            Reason::Idle,
            "all nodes run the desired configuration".into(),
        )
    }

    fn pause(mut self, pending: &[&NodeView]) -> Decision {
        for n in pending {
            self.set_step(
                n.id,
                StepState::Waiting,
                format!("paused; {}", update_reason(&n.update)),
            );
        }
        let msg = format!(
            "rollout paused (spec.rollout.paused) with {} node(s) to update",
            pending.len()
        );
        self.decide(Action::Hold, Reason::RolloutPaused, msg)
    }

    /// Once the first node of this change runs it, hold until the user approves this change
    /// (or turns the canary off).
    fn canary_hold(&mut self, pending: &[&NodeView]) -> Option<Decision> {
        if !self.controls.canary {
            return None;
        }
        let (c, change) = self
            .order
            .iter()
            .filter(|n| n.update == Update::None)
            .find_map(|n| n.canary_of.as_ref().map(|m| (*n, m)))?;
        if self.controls.canary_approved.as_ref() == Some(change) || !self.is_healthy(c.id) {
            return None;
        }
        for n in pending {
            self.set_step(n.id, StepState::Waiting, "canary hold".into());
        }
        let msg = format!(
            "canary node {} runs the new configuration; to roll the other {} node(s), approve this change \
             (`kraftwerk plan --approve`, or annotation kraftwerk.dev/canary-approved={change}) or set \
             spec.rollout.canary to false",
            c.id,
            pending.len()
        );
        let mut d = self.decide(Action::Hold, Reason::CanaryWaiting, msg);
        d.awaiting_approval = Some(change.clone());
        Some(d)
    }

    /// Nodes that are down. A stale one is restarted first (it is down anyway, and a restart is
    /// what it needs); an up-to-date one (just restarted, or starting) is waited for: never take
    /// a healthy node down while another is down.
    fn handle_down(&mut self) -> Option<Decision> {
        let down: Vec<&NodeView> = self
            .order
            .iter()
            .copied()
            .filter(|n| !self.is_healthy(n.id))
            .collect();
        let stale_down = down.iter().find(|n| {
            n.update != Update::None && matches!(n.state, PodState::Stuck(_) | PodState::NotReady(_))
        });
        if let Some(n) = stale_down {
            let why = self.healths[&n.id].clone().err().unwrap_or_default();
            self.set_step(n.id, StepState::InProgress, format!("restarting first ({why})"));
            let action = Action::Restart {
                ids: vec![n.id],
                canary: self.controls.canary,
            };
            let msg = format!(
                "restarting {} first: it is down ({why}) and runs an old configuration",
                n.pod
            );
            return Some(self.decide(action, Reason::Restarting, msg));
        }
        let n = down.first()?;
        Some(wait_for(
            n,
            &self.healths,
            self.controls,
            std::mem::take(&mut self.steps),
        ))
    }

    /// Everyone is healthy: the next node in order, if the gates allow.
    fn next(mut self, pending: &[&NodeView]) -> Decision {
        let Some(next) = pending.first().copied() else {
            return self.decide(Action::Idle, Reason::Idle, String::new());
        };
        let state = match self.kafka {
            KafkaView::Unreachable(e) => {
                let msg = format!(
                    "{} waits: the safety gates cannot be evaluated because Kafka is unreachable ({e})",
                    next.pod
                );
                self.set_step(next.id, StepState::Waiting, msg.clone());
                return self.decide(Action::Wait, Reason::WaitingForKafka, msg);
            }
            KafkaView::Skipped => None,
            KafkaView::Known(s) => Some(s),
        };
        if let (Update::Live(set), Some(_)) = (&next.update, state) {
            self.set_step(next.id, StepState::InProgress, update_reason(&next.update));
            let action = Action::Reconfigure {
                id: next.id,
                set: set.clone(),
                canary: self.controls.canary,
            };
            let msg = format!(
                "applying dynamic configuration to broker {} without a restart",
                next.id
            );
            return self.decide(action, Reason::Reconfiguring, msg);
        }
        let gate = match (state, next.role) {
            (None, _) => Ok(Vec::new()),
            (Some(s), Role::Controller) => gates::controller_can_roll(s, next.id),
            (Some(s), Role::Broker) => gates::brokers_can_roll(s, &[next.id]),
        };
        match gate {
            Ok(notes) => self.restart_batch(next, pending, state, notes),
            Err(why) => {
                self.set_step(next.id, StepState::Waiting, why.clone());
                let msg = format!("{} waits: {why}", next.pod);
                self.decide(Action::Wait, Reason::WaitingForGate, msg)
            }
        }
    }

    /// Restarts `next`, plus (brokers with `maxBatchPerRack` > 1) further stale brokers of its
    /// rack that the gates allow to go down together.
    fn restart_batch(
        mut self,
        next: &NodeView,
        pending: &[&NodeView],
        state: Option<&KafkaState>,
        mut notes: Vec<String>,
    ) -> Decision {
        let mut batch = vec![next.id];
        if next.role == Role::Broker
            && self.controls.max_batch_per_rack > 1
            && let Some(rack) = &next.rack
        {
            let same_rack = pending.iter().skip(1).filter(|o| {
                o.role == Role::Broker
                    && o.rack.as_ref() == Some(rack)
                    && matches!(o.update, Update::Restart(_))
            });
            for other in same_rack {
                if batch.len() >= self.controls.max_batch_per_rack {
                    break;
                }
                let mut candidate = batch.clone();
                candidate.push(other.id);
                let ok = match state {
                    None => Ok(Vec::new()),
                    Some(s) => gates::brokers_can_roll(s, &candidate),
                };
                if let Ok(more) = ok {
                    batch = candidate;
                    notes.extend(more);
                }
            }
        }
        for id in &batch {
            let reason = pending
                .iter()
                .find(|n| n.id == *id)
                .map(|n| update_reason(&n.update))
                .unwrap_or_default();
            self.set_step(*id, StepState::InProgress, format!("restarting: {reason}"));
        }
        notes.sort();
        notes.dedup();
        let pods: Vec<&str> = batch
            .iter()
            .filter_map(|id| self.nodes.iter().find(|n| n.id == *id).map(|n| n.pod.as_str()))
            .collect();
        let action = Action::Restart {
            ids: batch.clone(),
            canary: self.controls.canary,
        };
        let mut d = self.decide(
            action,
            Reason::Restarting,
            format!("restarting {}", pods.join(", ")),
        );
        d.notes = notes;
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roll::gates::{DEFAULT_FETCH_TIMEOUT_MS, Partition, Quorum, Voter};

    fn node(id: i32) -> NodeView {
        let role = if id >= 9000 {
            Role::Controller
        } else {
            Role::Broker
        };
        NodeView {
            id,
            role,
            pod: format!("c-{}-{id}", role.as_str()),
            state: PodState::Ready,
            age_seconds: 1000,
            update: Update::None,
            rack: None,
            canary_of: None,
        }
    }

    fn stale(id: i32) -> NodeView {
        NodeView {
            update: Update::Restart("configuration changed".into()),
            ..node(id)
        }
    }

    fn cluster(stale_ids: &[i32]) -> Vec<NodeView> {
        [9000, 9001, 9002, 0, 1, 2]
            .iter()
            .map(|&id| {
                if stale_ids.contains(&id) {
                    stale(id)
                } else {
                    node(id)
                }
            })
            .collect()
    }

    /// A healthy Kafka: leader 9000, everyone caught up; one RF-3 min-ISR-2 partition per
    /// leader broker with full ISR.
    fn healthy_kafka() -> KafkaState {
        KafkaState {
            brokers: BTreeMap::from([(0, false), (1, false), (2, false)]),
            quorum: Some(Quorum {
                leader: 9000,
                voters: [9000, 9001, 9002]
                    .iter()
                    .map(|&id| Voter {
                        id,
                        last_caught_up_ms: Some(10_000),
                    })
                    .collect(),
            }),
            partitions: (0..3)
                .map(|p| Partition {
                    topic: "t".into(),
                    partition: p,
                    replicas: vec![0, 1, 2],
                    isr: vec![0, 1, 2],
                    min_isr: 2,
                })
                .collect(),
            fetch_timeout_ms: DEFAULT_FETCH_TIMEOUT_MS,
        }
    }

    fn known() -> KafkaView {
        KafkaView::Known(healthy_kafka())
    }

    fn restarts(d: &Decision) -> Vec<i32> {
        match &d.action {
            Action::Restart { ids, .. } => ids.clone(),
            other => panic!("expected a restart, got {other:?}: {}", d.message),
        }
    }

    fn step(d: &Decision, id: i32) -> StepState {
        d.steps
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.state)
            .expect("step")
    }

    #[test]
    fn nothing_stale_is_idle_and_complete() {
        let d = plan(&cluster(&[]), &known(), &Controls::default());
        assert_eq!(d.action, Action::Idle);
        assert!(d.steps.iter().all(|s| s.state == StepState::Complete));
        assert_eq!(d.steps.len(), 6);
    }

    #[test]
    fn one_node_at_a_time() {
        let d = plan(
            &cluster(&[9000, 9001, 9002, 0, 1, 2]),
            &known(),
            &Controls::default(),
        );
        assert_eq!(restarts(&d).len(), 1);
        assert_eq!(
            d.steps
                .iter()
                .filter(|s| s.state == StepState::InProgress)
                .count(),
            1
        );
        assert_eq!(
            d.steps.iter().filter(|s| s.state == StepState::Pending).count(),
            5
        );
    }

    #[test]
    fn controllers_before_brokers_and_leader_last() {
        let mut nodes = cluster(&[9000, 9001, 9002, 0, 1, 2]);
        let mut order = Vec::new();
        for _ in 0..6 {
            let d = plan(&nodes, &known(), &Controls::default());
            let id = restarts(&d)[0];
            order.push(id);
            let n = nodes.iter_mut().find(|n| n.id == id).expect("node");
            n.update = Update::None;
        }
        assert_eq!(order, vec![9001, 9002, 9000, 0, 1, 2]);
    }

    #[test]
    fn leader_is_deferred_even_when_it_has_the_lowest_id() {
        let mut k = healthy_kafka();
        if let Some(q) = k.quorum.as_mut() {
            q.leader = 9001;
        }
        let d = plan(
            &cluster(&[9000, 9001]),
            &KafkaView::Known(k),
            &Controls::default(),
        );
        assert_eq!(restarts(&d), vec![9000]);
        assert_eq!(
            d.steps[..3].iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![9000, 9002, 9001]
        );
    }

    #[test]
    fn unready_stale_node_goes_first() {
        let mut nodes = cluster(&[9001, 1, 2]);
        nodes[5].state = PodState::NotReady("readiness probe failed".into());
        let d = plan(&nodes, &known(), &Controls::default());
        assert_eq!(restarts(&d), vec![2]);
    }

    #[test]
    fn crash_looping_stale_node_goes_first_even_if_gates_cannot_run() {
        let mut nodes = cluster(&[0, 1]);
        nodes[4].state = PodState::Stuck("CrashLoopBackOff".into());
        let d = plan(
            &nodes,
            &KafkaView::Unreachable("timeout".into()),
            &Controls::default(),
        );
        assert_eq!(restarts(&d), vec![1]);
    }

    #[test]
    fn never_restart_a_healthy_node_while_another_is_down() {
        // broker 0 was just restarted (up to date) and is not ready yet
        let mut nodes = cluster(&[1, 2]);
        nodes[3].state = PodState::NotReady("starting".into());
        nodes[3].age_seconds = 10;
        let d = plan(&nodes, &known(), &Controls::default());
        assert_eq!(d.action, Action::Wait);
        assert_eq!(step(&d, 0), StepState::InProgress);
        assert_eq!(step(&d, 1), StepState::Pending);
        // also when the pod is gone or terminating
        for s in [PodState::Missing, PodState::Terminating] {
            let mut nodes = cluster(&[1, 2]);
            nodes[3].state = s;
            assert_eq!(plan(&nodes, &known(), &Controls::default()).action, Action::Wait);
        }
    }

    #[test]
    fn stale_node_being_deleted_is_waited_for_not_deleted_again() {
        let mut nodes = cluster(&[0, 1]);
        nodes[3].state = PodState::Terminating;
        let d = plan(&nodes, &known(), &Controls::default());
        assert_eq!(d.action, Action::Wait);
        assert_eq!(step(&d, 0), StepState::InProgress);
    }

    #[test]
    fn restarted_broker_waits_until_back_in_isr() {
        let mut k = healthy_kafka();
        k.partitions[0].isr = vec![1, 2];
        let d = plan(
            &cluster(&[1, 2]),
            &KafkaView::Known(k.clone()),
            &Controls::default(),
        );
        assert_eq!(d.action, Action::Wait);
        assert!(d.message.contains("ISR"), "{}", d.message);
        k.brokers.insert(0, true);
        k.partitions[0].isr = vec![0, 1, 2];
        let d = plan(&cluster(&[1, 2]), &KafkaView::Known(k), &Controls::default());
        assert!(d.message.contains("fenced"), "{}", d.message);
    }

    #[test]
    fn restarted_controller_waits_until_caught_up() {
        let mut k = healthy_kafka();
        if let Some(q) = k.quorum.as_mut() {
            q.voters[1].last_caught_up_ms = Some(1);
        }
        let d = plan(&cluster(&[9002]), &KafkaView::Known(k), &Controls::default());
        assert_eq!(d.action, Action::Wait);
        assert!(d.message.contains("9001"), "{}", d.message);
    }

    #[test]
    fn broker_gate_refuses_when_another_broker_is_out_of_isr() {
        // broker 0's pod is ready, but Kafka reports partition t-0 with ISR [0,1] at min 2,
        // and broker 2 out of that ISR: restarting 1 is refused. The node out of the ISR is
        // unhealthy, so the planner waits for it first.
        let mut k = healthy_kafka();
        k.partitions[0].isr = vec![0, 1];
        let d = plan(&cluster(&[1]), &KafkaView::Known(k.clone()), &Controls::default());
        assert_eq!(d.action, Action::Wait);
        // Without the recovery check (the lagging replica is a broker outside the cluster
        // view), the gate itself refuses.
        k.partitions[0].replicas = vec![0, 1, 7];
        let d = plan(&cluster(&[1]), &KafkaView::Known(k), &Controls::default());
        assert_eq!(d.action, Action::Wait);
        assert_eq!(d.reason, Reason::WaitingForGate);
        assert_eq!(step(&d, 1), StepState::Waiting);
    }

    #[test]
    fn controller_gate_refuses_without_caught_up_majority() {
        let mut k = healthy_kafka();
        // 9002 lags but its pod is ready and it is not stale: restarting 9001 is refused
        if let Some(q) = k.quorum.as_mut() {
            q.voters[2].last_caught_up_ms = Some(1);
        }
        let mut nodes = cluster(&[9001]);
        // the planner would wait for 9002 first (it is unhealthy); make that explicit
        let d = plan(&nodes, &KafkaView::Known(k.clone()), &Controls::default());
        assert_eq!(d.action, Action::Wait);
        assert!(d.message.contains("9002"));
        // A quorum of 5 where one voter lags still allows a restart.
        nodes.push(node(9003));
        nodes.push(node(9004));
        if let Some(q) = k.quorum.as_mut() {
            q.voters[2].last_caught_up_ms = Some(10_000);
            q.voters.push(Voter {
                id: 9003,
                last_caught_up_ms: Some(10_000),
            });
            q.voters.push(Voter {
                id: 9004,
                last_caught_up_ms: Some(10_000),
            });
        }
        assert_eq!(
            restarts(&plan(&nodes, &KafkaView::Known(k), &Controls::default())),
            vec![9001]
        );
    }

    #[test]
    fn rf_le_min_isr_topics_are_reported_not_blocking() {
        let mut k = healthy_kafka();
        k.partitions.push(Partition {
            topic: "fragile".into(),
            partition: 0,
            replicas: vec![0, 1],
            isr: vec![0, 1],
            min_isr: 2,
        });
        let d = plan(&cluster(&[0]), &KafkaView::Known(k), &Controls::default());
        assert_eq!(restarts(&d), vec![0]);
        assert_eq!(d.notes.len(), 1);
    }

    #[test]
    fn unreachable_kafka_waits_with_reason() {
        let d = plan(
            &cluster(&[0]),
            &KafkaView::Unreachable("dns".into()),
            &Controls::default(),
        );
        assert_eq!(d.action, Action::Wait);
        assert_eq!(d.reason, Reason::WaitingForKafka);
        assert_eq!(step(&d, 0), StepState::Waiting);
    }

    #[test]
    fn skipped_gates_roll_on_pod_readiness() {
        let d = plan(&cluster(&[0]), &KafkaView::Skipped, &Controls::default());
        assert_eq!(restarts(&d), vec![0]);
    }

    #[test]
    fn pause_holds_everything() {
        let controls = Controls {
            paused: true,
            ..Controls::default()
        };
        let mut nodes = cluster(&[0, 1]);
        nodes[4].state = PodState::Stuck("CrashLoopBackOff".into());
        let d = plan(&nodes, &known(), &controls);
        assert_eq!(d.action, Action::Hold);
        assert_eq!(d.reason, Reason::RolloutPaused);
        assert_eq!(step(&d, 0), StepState::Waiting);
    }

    #[test]
    fn canary_first_node_is_marked_then_roll_holds() {
        let controls = Controls {
            canary: true,
            ..Controls::default()
        };
        let mut nodes = cluster(&[0, 1, 2]);
        let d = plan(&nodes, &known(), &controls);
        assert_eq!(
            d.action,
            Action::Restart {
                ids: vec![0],
                canary: true
            }
        );
        nodes[3].update = Update::None;
        nodes[3].canary_of = Some("h1".into());
        let d = plan(&nodes, &known(), &controls);
        assert_eq!(d.action, Action::Hold);
        assert_eq!(d.reason, Reason::CanaryWaiting);
        // resumed: canary off
        let d = plan(&nodes, &known(), &Controls::default());
        assert_eq!(restarts(&d), vec![1]);
    }

    #[test]
    fn canary_holds_each_change_until_that_change_is_approved() {
        let mut controls = Controls {
            canary: true,
            ..Controls::default()
        };
        let mut nodes = cluster(&[1, 2]);
        nodes[3].canary_of = Some("h1".into());
        let d = plan(&nodes, &known(), &controls);
        assert_eq!(d.action, Action::Hold);
        assert_eq!(d.awaiting_approval.as_deref(), Some("h1"));
        assert!(
            d.message.contains("kraftwerk.dev/canary-approved=h1"),
            "{}",
            d.message
        );
        // an approval of an earlier change does not release this one
        controls.canary_approved = Some("h0".into());
        assert_eq!(plan(&nodes, &known(), &controls).action, Action::Hold);
        controls.canary_approved = Some("h1".into());
        let d = plan(&nodes, &known(), &controls);
        assert_eq!(restarts(&d), vec![1]);
        assert_eq!(d.awaiting_approval, None);
    }

    #[test]
    fn roll_is_not_done_until_the_last_restarted_broker_is_back_in_every_isr() {
        let mut nodes = cluster(&[]);
        nodes[5].age_seconds = 30;
        let mut k = healthy_kafka();
        k.partitions[0].isr.retain(|r| *r != 2);
        let d = plan(&nodes, &KafkaView::Known(k.clone()), &Controls::default());
        assert_eq!(d.action, Action::Wait);
        assert_eq!(d.reason, Reason::WaitingForNode);
        assert_eq!(step(&d, 2), StepState::InProgress);
        assert!(d.timed_out.is_none());
        // too long: Degraded, still waiting
        nodes[5].age_seconds = 601;
        let d = plan(&nodes, &KafkaView::Known(k), &Controls::default());
        assert_eq!(d.reason, Reason::RollTimeout);
        assert!(d.timed_out.is_some());
        assert_eq!(step(&d, 2), StepState::Error);
        // back in the ISR: done
        let d = plan(&nodes, &KafkaView::Known(healthy_kafka()), &Controls::default());
        assert_eq!(d.action, Action::Idle);
        assert_eq!(step(&d, 2), StepState::Complete);
        // a pod that is not Ready (a cluster being created) is not a roll to wait for
        nodes[5].state = PodState::NotReady("starting".into());
        assert_eq!(plan(&nodes, &known(), &Controls::default()).action, Action::Idle);
    }

    #[test]
    fn canary_waits_for_the_canary_to_recover_before_holding() {
        let controls = Controls {
            canary: true,
            ..Controls::default()
        };
        let mut nodes = cluster(&[1, 2]);
        nodes[3].canary_of = Some("h1".into());
        nodes[3].state = PodState::NotReady("starting".into());
        nodes[3].age_seconds = 5;
        let d = plan(&nodes, &known(), &controls);
        assert_eq!(d.action, Action::Wait);
    }

    #[test]
    fn requeue_polls_kafka_recovery_and_backs_off_past_the_timeout() {
        use std::time::Duration;
        let mut nodes = cluster(&[1, 2]);
        nodes[3].state = PodState::NotReady("starting".into());
        nodes[3].age_seconds = 30;
        let d = plan(&nodes, &known(), &Controls::default());
        assert_eq!(requeue_after(&d), Some(Duration::from_secs(5)));
        let mut secs = |age| {
            nodes[3].age_seconds = age;
            requeue_after(&plan(&nodes, &known(), &Controls::default())).map(|d| d.as_secs())
        };
        assert_eq!(secs(601), Some(15));
        assert_eq!(secs(600 + 61), Some(30));
        assert_eq!(secs(600 + 181), Some(120));
        assert_eq!(secs(600 + 3600), Some(300));
        assert_eq!(
            requeue_after(&plan(&cluster(&[]), &known(), &Controls::default())),
            None
        );
        let paused = Controls {
            paused: true,
            ..Controls::default()
        };
        assert_eq!(
            requeue_after(&plan(&cluster(&[1]), &known(), &paused)),
            Some(Duration::from_secs(300))
        );
    }

    #[test]
    fn timeout_sets_error_and_never_skips_ahead() {
        let mut nodes = cluster(&[1, 2]);
        nodes[3].state = PodState::NotReady("starting".into());
        nodes[3].age_seconds = 601;
        let d = plan(&nodes, &known(), &Controls::default());
        assert_eq!(d.action, Action::Wait);
        assert_eq!(d.reason, Reason::RollTimeout);
        assert!(d.timed_out.is_some());
        assert_eq!(step(&d, 0), StepState::Error);
        assert_eq!(step(&d, 1), StepState::Pending);
    }

    #[test]
    fn live_update_needs_no_gate_and_no_restart() {
        let mut nodes = cluster(&[]);
        nodes[3].update = Update::Live(BTreeMap::from([("log.retention.ms".into(), "1".into())]));
        let mut k = healthy_kafka();
        // even at min ISR, a live update is fine
        k.partitions[0].replicas = vec![0, 1, 7];
        k.partitions[0].isr = vec![0, 1];
        let d = plan(&nodes, &KafkaView::Known(k), &Controls::default());
        assert!(matches!(d.action, Action::Reconfigure { id: 0, .. }), "{d:?}");
    }

    #[test]
    fn live_update_without_kafka_falls_back_to_restart_when_gates_skipped() {
        let mut nodes = cluster(&[]);
        nodes[3].update = Update::Live(BTreeMap::from([("log.retention.ms".into(), "1".into())]));
        assert_eq!(
            restarts(&plan(&nodes, &KafkaView::Skipped, &Controls::default())),
            vec![0]
        );
        assert_eq!(
            plan(&nodes, &KafkaView::Unreachable("x".into()), &Controls::default()).action,
            Action::Wait
        );
    }

    #[test]
    fn rack_batch_restarts_same_rack_brokers_that_pass_together() {
        let controls = Controls {
            max_batch_per_rack: 3,
            ..Controls::default()
        };
        let mut nodes: Vec<NodeView> = (0..6).map(stale).collect();
        for n in &mut nodes {
            n.rack = Some(if n.id % 2 == 0 { "a" } else { "b" }.into());
        }
        let mut k = healthy_kafka();
        k.brokers = (0..6).map(|i| (i, false)).collect();
        // partitions replicated across racks: {0,1,3}, {2,3,5}
        k.partitions = vec![
            Partition {
                topic: "t".into(),
                partition: 0,
                replicas: vec![0, 1, 3],
                isr: vec![0, 1, 3],
                min_isr: 2,
            },
            Partition {
                topic: "t".into(),
                partition: 1,
                replicas: vec![2, 3, 5],
                isr: vec![2, 3, 5],
                min_isr: 2,
            },
        ];
        let d = plan(&nodes, &KafkaView::Known(k.clone()), &controls);
        assert_eq!(restarts(&d), vec![0, 2, 4]);
        // a batch member that would break min ISR together with the others is left out
        k.partitions.push(Partition {
            topic: "u".into(),
            partition: 0,
            replicas: vec![0, 2, 1],
            isr: vec![0, 2, 1],
            min_isr: 2,
        });
        let d = plan(&nodes, &KafkaView::Known(k), &controls);
        assert_eq!(restarts(&d), vec![0, 4]);
    }

    #[test]
    fn rack_batch_off_by_default() {
        let mut nodes: Vec<NodeView> = (0..3).map(stale).collect();
        for n in &mut nodes {
            n.rack = Some("a".into());
        }
        assert_eq!(
            restarts(&plan(&nodes, &KafkaView::Skipped, &Controls::default())),
            vec![0]
        );
    }

    #[test]
    fn decision_is_deterministic() {
        let nodes = cluster(&[9001, 0, 2]);
        assert_eq!(
            plan(&nodes, &known(), &Controls::default()),
            plan(&nodes, &known(), &Controls::default())
        );
    }

    #[test]
    fn a_node_being_recovered_is_skipped_and_does_not_freeze_the_roll() {
        // Broker 1 is stranded on a lost node (down, stale): without the skip the roll waits.
        let mut nodes = cluster(&[0, 1, 2]);
        nodes[4].state = PodState::NotReady("node lost".into());
        let blocked = plan(&nodes, &KafkaView::Skipped, &Controls::default());
        assert_eq!(
            blocked.action,
            Action::Restart {
                ids: vec![1],
                canary: false
            },
            "down and stale: restarted first"
        );
        let skipped = BTreeMap::from([(1, "on lost node n1, being recovered".to_string())]);
        let d = plan_skipping(&nodes, &KafkaView::Skipped, &Controls::default(), &skipped);
        assert_eq!(
            d.action,
            Action::Restart {
                ids: vec![0],
                canary: false
            }
        );
        assert!(
            d.message
                .ends_with("skipping c-broker-1 (on lost node n1, being recovered)"),
            "{}",
            d.message
        );
        let step = d.steps.iter().find(|s| s.id == 1).unwrap();
        assert_eq!(step.state, StepState::Waiting);
        assert_eq!(step.reason, "skipped: on lost node n1, being recovered");
        // Everything else done: idle, the skipped node still listed.
        let mut done = cluster(&[]);
        done[4].state = PodState::Missing;
        let d = plan_skipping(&done, &KafkaView::Skipped, &Controls::default(), &skipped);
        assert_eq!(d.action, Action::Idle);
        assert_eq!(d.steps.len(), 6);
        assert!(d.message.contains("skipping c-broker-1"), "{}", d.message);
        let unskipped = plan_skipping(&done, &KafkaView::Skipped, &Controls::default(), &BTreeMap::new());
        assert_eq!(unskipped.steps.len(), 6);
        assert!(!unskipped.message.contains("skipping"), "{}", unskipped.message);
    }
}
