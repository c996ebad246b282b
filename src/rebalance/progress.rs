//! What a rebalance or drain does next, and its status, as pure functions of what Kafka reports
//! (assignments, reassignments in flight) and what the status recorded. Nothing else is kept,
//! so an operator restarted at any point derives the same next step.

use std::collections::{BTreeMap, BTreeSet};

use super::plan::{self, Assignment, Input, Move};
use crate::crd::{RebalanceStatus, StepState};
use crate::roll::gates::KafkaState;

/// Which operation runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Move every replica off these brokers (they are being removed).
    Drain(BTreeSet<i32>),
    /// Spread replicas and leaders over the brokers.
    Rebalance,
}

impl Operation {
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Drain(_) => "drain",
            Operation::Rebalance => "rebalance",
        }
    }
}

/// Whether an operation is wanted, from the spec, the status and the surplus brokers alone
/// (no Kafka request when nothing is wanted).
pub fn wanted(
    draining: &BTreeSet<i32>,
    enabled: bool,
    brokers: &BTreeSet<i32>,
    trigger: Option<&str>,
    previous: Option<&RebalanceStatus>,
) -> Option<Operation> {
    if !draining.is_empty() {
        return Some(Operation::Drain(draining.clone()));
    }
    let unfinished = previous.is_some_and(|p| p.state != StepState::Complete);
    if !enabled {
        // An unfinished run (a drain that just emptied its brokers) still removes its throttles.
        return unfinished.then(|| Operation::Drain(BTreeSet::new()));
    }
    let Some(prev) = previous else {
        return Some(Operation::Rebalance);
    };
    let recorded: BTreeSet<i32> = prev.brokers.iter().copied().collect();
    let new_trigger = trigger.is_some() && trigger != prev.trigger.as_deref();
    (unfinished || recorded != *brokers || new_trigger).then_some(Operation::Rebalance)
}

/// The next action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// The plan cannot be made: nothing moves, the status says why.
    Refused(String),
    /// Moves remain but the rollout is paused.
    Paused,
    /// As many partitions as allowed are moving: wait for Kafka.
    Wait,
    /// Start these reassignments (throttles first).
    Start(Vec<Move>),
    /// Nothing left to move and nothing in flight: remove the throttles, elect preferred leaders.
    Finish,
}

/// The decision and the counts the status reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub next: Next,
    /// Moves not started yet.
    pub remaining: usize,
    pub in_flight: usize,
    pub bytes: Option<u64>,
}

/// Decides the next step. `input.partitions` carry the targets of the reassignments in flight
/// (`in_flight` of them), so the plan holds only what has not started.
pub fn next(op: &Operation, input: &Input, in_flight: usize, max_in_flight: usize, paused: bool) -> Decision {
    let planned = match op {
        Operation::Drain(_) => plan::drain(input),
        Operation::Rebalance => plan::balance(input),
    };
    let moves = match planned {
        Ok(p) => p.moves,
        Err(refusal) => {
            return Decision {
                next: Next::Refused(refusal.to_string()),
                remaining: 0,
                in_flight,
                bytes: None,
            };
        }
    };
    let remaining = moves.len();
    let bytes = moves
        .iter()
        .map(|m| m.bytes)
        .try_fold(0u64, |acc, b| b.map(|b| acc + b));
    let next = if remaining == 0 && in_flight == 0 {
        Next::Finish
    } else if remaining == 0 || in_flight >= max_in_flight {
        Next::Wait
    } else if paused {
        Next::Paused
    } else {
        Next::Start(moves.into_iter().take(max_in_flight - in_flight).collect())
    };
    Decision {
        next,
        remaining,
        in_flight,
        bytes: bytes.filter(|_| remaining > 0),
    }
}

/// The next step of `op` over Kafka's `state`: [`next`], except that the finish (throttles
/// off, preferred-leader election) waits while a preferred replica catches up
/// ([`preferred_catching_up`]); that partition is returned as the reason.
pub fn decide(
    op: &Operation,
    input: &Input,
    state: &KafkaState,
    in_flight: usize,
    max_in_flight: usize,
    paused: bool,
) -> (Decision, Option<String>) {
    let mut decision = next(op, input, in_flight, max_in_flight, paused);
    let held = matches!(decision.next, Next::Finish)
        .then(|| preferred_catching_up(state))
        .flatten();
    if held.is_some() {
        decision.next = Next::Wait;
    }
    (decision, held)
}

/// Each partition's size: the largest replica the brokers report (a lagging follower or a
/// replica being copied holds less). `per_broker` maps a broker to its (topic, partition) sizes.
pub fn partition_sizes(
    per_broker: &BTreeMap<i32, BTreeMap<(String, i32), u64>>,
) -> BTreeMap<(String, i32), u64> {
    let mut sizes: BTreeMap<(String, i32), u64> = BTreeMap::new();
    for held in per_broker.values() {
        for (key, size) in held {
            let s = sizes.entry(key.clone()).or_default();
            *s = (*s).max(*size);
        }
    }
    sizes
}

/// Bytes the reassignments in flight still copy: for each adding replica (topic, partition,
/// adding brokers), the partition's size less what that broker holds already. `None` when a
/// partition's size is unknown.
pub fn in_flight_bytes<'a>(
    adding: impl IntoIterator<Item = (&'a str, i32, &'a [i32])>,
    per_broker: &BTreeMap<i32, BTreeMap<(String, i32), u64>>,
) -> Option<u64> {
    let sizes = partition_sizes(per_broker);
    adding
        .into_iter()
        .try_fold(0u64, |acc, (topic, partition, brokers)| {
            let key = (topic.to_string(), partition);
            let size = *sizes.get(&key)?;
            let copied: u64 = brokers
                .iter()
                .map(|b| {
                    let held = per_broker.get(b).and_then(|h| h.get(&key)).copied().unwrap_or(0);
                    size.saturating_sub(held)
                })
                .sum();
            Some(acc + copied)
        })
}

/// Bytes still to copy: the planned moves not started (`planned`, for `remaining` moves) plus
/// what the `in_flight` reassignments still copy (`flight`). `None` when nothing moves or a part
/// is unknown.
pub fn total_bytes(
    planned: Option<u64>,
    remaining: usize,
    in_flight: usize,
    flight: Option<u64>,
) -> Option<u64> {
    if remaining == 0 && in_flight == 0 {
        return None;
    }
    let planned = if remaining == 0 { 0 } else { planned? };
    let flight = if in_flight == 0 { 0 } else { flight? };
    Some(planned + flight)
}

/// The status after this pass. `partitions_to_move` is the operation's total (it grows when the
/// plan does); `moved` is what left the plan and the flight since.
pub fn status(
    op: &Operation,
    decision: &Decision,
    brokers: &BTreeSet<i32>,
    trigger: Option<&str>,
    previous: Option<&RebalanceStatus>,
) -> RebalanceStatus {
    let same_operation = previous.is_some_and(|p| {
        p.operation == op.name() && p.state != StepState::Complete && p.brokers == as_vec(brokers)
    });
    let earlier_total = if same_operation {
        previous.map_or(0, |p| p.partitions_to_move.max(0) as usize)
    } else {
        0
    };
    let open = decision.remaining + decision.in_flight;
    let total = earlier_total.max(open);
    let moved = total - open;
    let (state, message) = match &decision.next {
        Next::Refused(why) => (StepState::Error, format!("{} refused: {why}", op.name())),
        Next::Paused => (
            StepState::Waiting,
            format!("{} paused (spec.rollout.paused)", op.name()),
        ),
        Next::Finish => (StepState::Complete, format!("{} complete", op.name())),
        Next::Wait | Next::Start(_) => (
            StepState::InProgress,
            format!(
                "{}: {moved}/{total} partitions moved, {} in flight",
                describe(op),
                decision.in_flight
                    + match &decision.next {
                        Next::Start(m) => m.len(),
                        _ => 0,
                    }
            ),
        ),
    };
    RebalanceStatus {
        operation: op.name().to_string(),
        state,
        message,
        brokers: as_vec(brokers),
        trigger: trigger.map(str::to_string),
        partitions_to_move: total as i32,
        partitions_moved: moved as i32,
        in_flight: decision.in_flight as i32,
        bytes_to_move: decision.bytes.map(|b| b as i64),
    }
}

fn describe(op: &Operation) -> String {
    match op {
        Operation::Drain(ids) => format!(
            "draining brokers {}",
            ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        ),
        Operation::Rebalance => "rebalancing".to_string(),
    }
}

fn as_vec(s: &BTreeSet<i32>) -> Vec<i32> {
    s.iter().copied().collect()
}

/// The topic configs that throttle the replication of `moves`: per topic,
/// `leader.replication.throttled.replicas` (`partition:broker` of each current replica) and
/// `follower.replication.throttled.replicas` (`partition:broker` of each new replica), as
/// Kafka's `kafka-reassign-partitions` sets them.
pub fn throttled_replicas(moves: &[Move]) -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let mut out: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for m in moves.iter().filter(|m| !m.is_reorder()) {
        let entry = out.entry(m.topic.clone()).or_default();
        entry
            .0
            .extend(m.from.iter().map(|b| format!("{}:{b}", m.partition)));
        entry
            .1
            .extend(m.added().iter().map(|b| format!("{}:{b}", m.partition)));
    }
    out
}

/// Partitions to hand back to their preferred leader after `restarted` brokers came back:
/// those whose preferred (first) replica is not about to restart.
pub fn election_partitions<'a>(
    partitions: impl IntoIterator<Item = (&'a str, i32, &'a [i32])>,
    restarting: &[i32],
) -> Vec<(String, Vec<i32>)> {
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (topic, partition, replicas) in partitions {
        if replicas.first().is_some_and(|b| !restarting.contains(b)) {
            by_topic.entry(topic.to_string()).or_default().push(partition);
        }
    }
    by_topic.into_iter().collect()
}

/// A partition listed with more replicas than the other partitions of its topic and no
/// reassignment in flight: a broker's metadata still shows a reassignment that has just
/// completed (old and new replicas together). Planning from it would be wrong; the pass waits.
pub fn unsettled(partitions: &[Assignment]) -> Option<String> {
    let mut rf: BTreeMap<&str, usize> = BTreeMap::new();
    for p in partitions {
        let e = rf.entry(p.topic.as_str()).or_insert(p.replicas.len());
        *e = (*e).min(p.replicas.len());
    }
    partitions
        .iter()
        .find(|p| p.replicas.len() > rf[p.topic.as_str()])
        .map(|p| format!("{}-{} lists {} replicas", p.topic, p.partition, p.replicas.len()))
}

/// A partition whose preferred (first) replica is out of its ISR while that broker is up: it is
/// still catching up after a move, and a leader election now would leave the partition led by
/// another broker. The operation waits for it before finishing. A preferred replica on a broker
/// that is down (fenced or unregistered) does not hold the finish up.
pub fn preferred_catching_up(state: &KafkaState) -> Option<String> {
    state
        .partitions
        .iter()
        .find(|p| {
            p.replicas
                .first()
                .is_some_and(|&first| state.brokers.get(&first) == Some(&false) && !p.isr.contains(&first))
        })
        .map(|p| {
            format!(
                "{}-{}: preferred replica {} not in the ISR yet",
                p.topic, p.partition, p.replicas[0]
            )
        })
}

/// Registered brokers that are fenced (stopped), not among `brokers` and not being drained:
/// removed brokers whose unregistration has not happened yet.
pub fn stale_registrations(
    registered: &BTreeMap<i32, bool>,
    brokers: &BTreeSet<i32>,
    op: &Operation,
) -> Vec<i32> {
    let draining = match op {
        Operation::Drain(ids) => ids.clone(),
        Operation::Rebalance => BTreeSet::new(),
    };
    registered
        .iter()
        .filter(|(id, fenced)| **fenced && !brokers.contains(id) && !draining.contains(id))
        .map(|(id, _)| *id)
        .collect()
}
