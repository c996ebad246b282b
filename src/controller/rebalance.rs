//! Rebalance after a scale-up and drain before a scale-down, the executor: decides from the spec
//! and status whether an operation is wanted (no Kafka request otherwise), reads Kafka's
//! assignment and reassignments in flight, asks the pure planner ([`crate::rebalance`]) for the
//! next step and carries it out: throttles then a batch of reassignments, or at the end the
//! throttles removed and a preferred-leader election. Nothing is kept between passes, so an
//! operator restarted at any point derives the same next step from Kafka.

use std::collections::{BTreeMap, BTreeSet};

use kube::ResourceExt;
use kube::runtime::events::EventType;
use tracing::{debug, info, warn};

use super::events::EventReason;
use super::observe::Observed;
use super::scale::ScaleDownPlan;
use super::{Context, kafka};
use crate::admin::{AdminClient, AdminError, AlterConfigOp, ConfigResource, PartitionSizes, Reassignment};
use crate::annotations;
use crate::crd::{KafkaCluster, Reason, RebalanceSpec, RebalanceStatus, StepState};
use crate::labels;
use crate::names::Role;
use crate::rebalance::progress::{self, Next, Operation};
use crate::rebalance::{Assignment, Input, Move};
use crate::roll::KafkaState;
use crate::validate::ValidatedCluster;

/// Replication throttle when the spec sets none: 50 MiB/s per broker.
pub const DEFAULT_THROTTLE_BYTES: i64 = 50 * 1024 * 1024;
/// Partitions moving at once when the spec sets no limit.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 10;

pub const LEADER_RATE: &str = "leader.replication.throttled.rate";
pub const FOLLOWER_RATE: &str = "follower.replication.throttled.rate";
pub const LEADER_REPLICAS: &str = "leader.replication.throttled.replicas";
pub const FOLLOWER_REPLICAS: &str = "follower.replication.throttled.replicas";

/// What this pass found, for the status.
#[derive(Clone, Debug, Default)]
pub struct Pass {
    /// The operation's status (unchanged from the previous one when nothing was wanted).
    pub status: Option<RebalanceStatus>,
    /// `Progressing` while partitions move.
    pub moving: Option<(Reason, String)>,
    /// A drain the planner refuses: the scale-down is blocked for this reason.
    pub drain_refused: Option<String>,
    /// A drain is under way (the retained brokers are expected, not blocked).
    pub draining: bool,
    /// Why surplus brokers stay: a refused drain, else the scale-down plan's reason unless a
    /// drain is under way.
    pub scale_down_blocked: Option<String>,
}

impl Pass {
    fn with_scale(mut self, scale: &ScaleDownPlan) -> Self {
        self.scale_down_blocked = match (&self.drain_refused, self.draining) {
            (Some(refused), _) => Some(refused.clone()),
            (None, true) => None,
            (None, false) => scale.blocked_reason.clone(),
        };
        self
    }
}

/// One pass of the rebalance/drain.
pub async fn advance(
    ctx: &Context,
    cr: &KafkaCluster,
    cluster: &ValidatedCluster,
    observed: &Observed,
    scale: &ScaleDownPlan,
    roll_idle: bool,
) -> Pass {
    let pass = async {
        let previous = cr.status.as_ref().and_then(|s| s.rebalance.clone());
        let unchanged = Pass {
            status: previous.clone(),
            ..Default::default()
        };
        let brokers: BTreeSet<i32> = cr.spec.brokers.ids();
        let trigger = cr.annotations().get(annotations::REBALANCE).map(String::as_str);
        let enabled = RebalanceSpec::enabled(cr.spec.rebalance.as_ref());
        let Some(op) = progress::wanted(&scale.retained, enabled, &brokers, trigger, previous.as_ref())
        else {
            return unchanged;
        };
        // Simulated clusters (kwok) run no Kafka: there is nothing to balance.
        let no_kafka = cr
            .annotations()
            .get(annotations::SKIP_KAFKA_GATES)
            .map(String::as_str)
            == Some("true");
        if no_kafka && op == Operation::Rebalance {
            return unchanged;
        }
        let waiting = |message: String| waiting(&op, &brokers, trigger, previous.as_ref(), message);
        if !roll_idle {
            return waiting(format!("{} waits for the rollout to finish", op.name()));
        }
        let not_ready = not_ready_brokers(observed, brokers.iter().chain(scale.retained.iter()));
        if !not_ready.is_empty() {
            return waiting(format!(
                "{} waits for brokers {} to be ready",
                op.name(),
                join(&not_ready)
            ));
        }
        let access = kafka::Access::of(cluster);
        let run = Run {
            ctx,
            cr,
            op: &op,
            brokers: &brokers,
            trigger,
            previous: previous.as_ref(),
            racks: racks(cluster, observed),
        };
        match run.step(&access).await {
            Ok(pass) => pass,
            Err(e) => {
                warn!(operation = op.name(), error = %e, "rebalance pass failed");
                waiting(format!("{} waits for Kafka: {e}", op.name()))
            }
        }
    };
    pass.await.with_scale(scale)
}

/// One operation's pass against Kafka, with the cluster's Events.
struct Run<'a> {
    ctx: &'a Context,
    cr: &'a KafkaCluster,
    op: &'a Operation,
    brokers: &'a BTreeSet<i32>,
    trigger: Option<&'a str>,
    previous: Option<&'a RebalanceStatus>,
    racks: BTreeMap<i32, String>,
}

impl Run<'_> {
    async fn step(&self, access: &kafka::Access) -> Result<Pass, AdminError> {
        let admin = access.client()?;
        let spec = self.cr.spec.rebalance.as_ref();
        let settings = Settings {
            max_in_flight: spec
                .and_then(|r| r.max_partitions_in_flight)
                .unwrap_or(DEFAULT_MAX_IN_FLIGHT) as usize,
            throttle: spec
                .and_then(|r| r.throttle_bytes_per_second)
                .unwrap_or(DEFAULT_THROTTLE_BYTES),
            paused: self.cr.spec.rollout.as_ref().is_some_and(|r| r.paused),
        };
        let target = Target {
            op: self.op,
            brokers: self.brokers,
            racks: &self.racks,
            trigger: self.trigger,
        };
        let outcome = kafka_step(&admin, &target, &settings, self.previous).await?;
        for (kind, reason, note) in &outcome.notes {
            self.ctx.event(self.cr, *kind, *reason, note).await;
        }
        Ok(outcome.pass)
    }
}

/// What the operation is over.
pub struct Target<'a> {
    pub op: &'a Operation,
    /// The brokers to hold every replica once done.
    pub brokers: &'a BTreeSet<i32>,
    pub racks: &'a BTreeMap<i32, String>,
    /// The `kraftwerk.dev/rebalance` annotation's value.
    pub trigger: Option<&'a str>,
}

/// Batch size, throttle and pause, from the spec.
#[derive(Clone, Debug)]
pub struct Settings {
    pub max_in_flight: usize,
    /// Bytes per second per broker.
    pub throttle: i64,
    pub paused: bool,
}

/// The result of one pass against Kafka: the status to record and the Events to publish.
pub struct Outcome {
    pub pass: Pass,
    pub decision: Option<progress::Decision>,
    pub notes: Vec<(EventType, EventReason, String)>,
}

/// One pass of an operation against Kafka alone: reads the assignment and the reassignments in
/// flight, asks the planner and carries out its step. Everything it needs besides Kafka is in
/// `previous` (the recorded status), so it can be dropped at any await and run again.
pub async fn kafka_step(
    admin: &AdminClient,
    target: &Target<'_>,
    settings: &Settings,
    previous: Option<&RebalanceStatus>,
) -> Result<Outcome, AdminError> {
    let (op, brokers) = (target.op, target.brokers);
    // Reassignments first: one that completes between the two reads then shows as its target in
    // the metadata (read second), never as the union of old and new replicas without a target.
    let ongoing = admin.list_partition_reassignments(None).await?;
    let state = kafka::kafka_state(admin).await?;
    for id in progress::stale_registrations(&state.brokers, brokers, op) {
        match admin.unregister_broker(id).await {
            Ok(()) | Err(AdminError::BrokerNotRegistered(_)) => {
                info!(broker = id, "unregistered a removed broker")
            }
            Err(e) => warn!(broker = id, error = %e, "could not unregister a removed broker"),
        }
    }
    let unfenced: Vec<i32> = brokers
        .iter()
        .copied()
        .filter(|b| state.brokers.get(b) != Some(&false))
        .collect();
    if !unfenced.is_empty() {
        let message = format!(
            "{} waits for brokers {} to be registered and unfenced",
            op.name(),
            join(&unfenced)
        );
        return Ok(Outcome {
            pass: waiting(op, brokers, target.trigger, previous, message),
            decision: None,
            notes: Vec::new(),
        });
    }
    let held = log_dir_sizes(admin, state.brokers.keys().copied()).await;
    let input = input(&state, &ongoing, brokers, target.racks, held.as_ref());
    if let Some(p) = progress::unsettled(&input.partitions) {
        let message = format!("{} waits for Kafka's metadata to settle ({p})", op.name());
        return Ok(Outcome {
            pass: waiting(op, brokers, target.trigger, previous, message),
            decision: None,
            notes: Vec::new(),
        });
    }
    let (in_flight, max_in_flight) = (ongoing.len(), settings.max_in_flight);
    let (mut decision, catching_up) =
        progress::decide(op, &input, &state, in_flight, max_in_flight, settings.paused);
    if let Some(lagging) = catching_up {
        info!(operation = op.name(), %lagging, "waiting before the preferred-leader election");
    }
    decision.bytes = bytes_to_move(&decision, &ongoing, held.as_ref());
    let notes = act(admin, &decision.next, target, settings, &state, previous).await?;
    let status = progress::status(op, &decision, brokers, target.trigger, previous);
    let draining = matches!(op, Operation::Drain(_));
    let pass = Pass {
        moving: matches!(status.state, StepState::InProgress | StepState::Waiting)
            .then(|| (reason(op), status.message.clone())),
        drain_refused: match &decision.next {
            Next::Refused(why) if draining => Some(format!("scale-down refused: {why}")),
            _ => None,
        },
        draining: draining && !matches!(decision.next, Next::Refused(_)),
        status: Some(status),
        scale_down_blocked: None,
    };
    Ok(Outcome {
        pass,
        decision: Some(decision),
        notes,
    })
}

/// Carries out the decision (starts moves, or finishes: throttles off, preferred leaders) and
/// returns the Events it is worth.
async fn act(
    admin: &AdminClient,
    next: &Next,
    target: &Target<'_>,
    settings: &Settings,
    state: &KafkaState,
    previous: Option<&RebalanceStatus>,
) -> Result<Vec<(EventType, EventReason, String)>, AdminError> {
    let (op, brokers) = (target.op, target.brokers);
    let mut notes = Vec::new();
    match next {
        Next::Start(moves) => {
            start(admin, moves, settings.throttle).await?;
            let fresh =
                !previous.is_some_and(|p| p.operation == op.name() && p.state == StepState::InProgress);
            info!(
                operation = op.name(),
                started = moves.len(),
                "partition moves started"
            );
            if fresh {
                let note = format!("{} started: moving partitions onto brokers {}", op.name(), {
                    let v: Vec<i32> = brokers.iter().copied().collect();
                    join(&v)
                });
                notes.push((EventType::Normal, EventReason::RebalanceStarted, note));
            }
        }
        Next::Finish => {
            let elected = finish(admin, state).await?;
            let moved = previous
                .filter(|p| p.state != StepState::Complete)
                .map_or(0, |p| p.partitions_to_move);
            if moved > 0 {
                let note = format!(
                    "{} complete: {moved} partitions moved, {elected} leaders moved to their preferred replica",
                    op.name(),
                );
                info!(operation = op.name(), %note);
                notes.push((EventType::Normal, EventReason::RebalanceFinished, note));
            }
        }
        Next::Refused(why) => {
            let already = previous.is_some_and(|p| p.operation == op.name() && p.state == StepState::Error);
            // A refused drain is reported as ScaleDownBlocked (Event included) by the status pass.
            if !already && matches!(op, Operation::Rebalance) {
                let note = format!("rebalance refused: {why}");
                notes.push((EventType::Warning, EventReason::RebalanceRefused, note));
            }
        }
        Next::Wait | Next::Paused => {}
    }
    Ok(notes)
}

/// Throttles on the brokers and topics of `moves`, then the reassignments.
async fn start(admin: &AdminClient, moves: &[Move], throttle: i64) -> Result<(), AdminError> {
    let rate = throttle.to_string();
    let involved: BTreeSet<i32> = moves
        .iter()
        .filter(|m| !m.is_reorder())
        .flat_map(|m| m.from.iter().chain(m.to.iter()).copied())
        .collect();
    for b in involved {
        let ops = [
            AlterConfigOp::Set(LEADER_RATE.into(), rate.clone()),
            AlterConfigOp::Set(FOLLOWER_RATE.into(), rate.clone()),
        ];
        admin
            .incremental_alter_configs(&ConfigResource::Broker(b), &ops)
            .await?;
    }
    for (topic, (leaders, followers)) in progress::throttled_replicas(moves) {
        let ops = [
            AlterConfigOp::Append(LEADER_REPLICAS.into(), leaders.join(",")),
            AlterConfigOp::Append(FOLLOWER_REPLICAS.into(), followers.join(",")),
        ];
        admin
            .incremental_alter_configs(&ConfigResource::Topic(topic), &ops)
            .await?;
    }
    let changes: Vec<Reassignment> = moves
        .iter()
        .map(|m| Reassignment {
            topic: m.topic.clone(),
            partition: m.partition,
            replicas: Some(m.to.clone()),
        })
        .collect();
    // A move never changes the replication factor; Kafka refuses one that would (a plan made
    // from stale metadata).
    admin.alter_partition_reassignments_opts(&changes, false).await
}

/// Everything moved: throttles removed, leadership back to the preferred replicas; returns how
/// many leaders moved. Runs (idempotently) on every pass that finds an operation wanted and
/// nothing left to move, so the throttles of a run whose status was never written go too.
async fn finish(admin: &AdminClient, state: &KafkaState) -> Result<usize, AdminError> {
    for &b in state
        .brokers
        .iter()
        .filter(|(_, fenced)| !**fenced)
        .map(|(b, _)| b)
    {
        let ops = [
            AlterConfigOp::Delete(LEADER_RATE.into()),
            AlterConfigOp::Delete(FOLLOWER_RATE.into()),
        ];
        admin
            .incremental_alter_configs(&ConfigResource::Broker(b), &ops)
            .await?;
    }
    let topics: BTreeSet<&str> = state.partitions.iter().map(|p| p.topic.as_str()).collect();
    for topic in topics {
        let ops = [
            AlterConfigOp::Delete(LEADER_REPLICAS.into()),
            AlterConfigOp::Delete(FOLLOWER_REPLICAS.into()),
        ];
        admin
            .incremental_alter_configs(&ConfigResource::Topic(topic.into()), &ops)
            .await?;
    }
    Ok(admin.elect_preferred_leaders(None).await?.elected)
}

/// The operation waits (for the roll, for brokers, for Kafka): the previous counts stand.
fn waiting(
    op: &Operation,
    brokers: &BTreeSet<i32>,
    trigger: Option<&str>,
    previous: Option<&RebalanceStatus>,
    message: String,
) -> Pass {
    Pass {
        status: Some(RebalanceStatus {
            operation: op.name().into(),
            state: StepState::Waiting,
            message: message.clone(),
            brokers: brokers.iter().copied().collect(),
            trigger: trigger.map(str::to_string),
            ..previous.cloned().unwrap_or_default()
        }),
        // A waiting drain holds a scale-down (Progressing); a waiting rebalance changes
        // nothing the user asked for, so it stays out of the conditions.
        moving: matches!(op, Operation::Drain(_)).then(|| (reason(op), message.clone())),
        draining: matches!(op, Operation::Drain(_)),
        ..Default::default()
    }
}

/// The Progressing reason of an operation.
fn reason(op: &Operation) -> Reason {
    match op {
        Operation::Drain(_) => Reason::Draining,
        Operation::Rebalance => Reason::Rebalancing,
    }
}

/// The planner's input: Kafka's assignment with each reassignment in flight replaced by its
/// target, so what is moving is not planned twice.
/// Partition sizes on each broker (DescribeLogDirs), or `None` when a broker does not answer:
/// the sizes only feed the status, so a failure leaves them unknown instead of failing the pass.
async fn log_dir_sizes(
    admin: &AdminClient,
    brokers: impl Iterator<Item = i32>,
) -> Option<BTreeMap<i32, PartitionSizes>> {
    let mut held = BTreeMap::new();
    for b in brokers {
        match admin.describe_log_dirs(b).await {
            Ok(sizes) => {
                held.insert(b, sizes);
            }
            Err(e) => {
                debug!(broker = b, error = %e, "partition sizes unknown (DescribeLogDirs failed)");
                return None;
            }
        }
    }
    Some(held)
}

/// Bytes left to copy: the planned moves plus what the reassignments in flight still copy.
fn bytes_to_move(
    decision: &progress::Decision,
    ongoing: &[crate::admin::OngoingReassignment],
    held: Option<&BTreeMap<i32, PartitionSizes>>,
) -> Option<u64> {
    let flight = held.and_then(|h| {
        let adding = ongoing
            .iter()
            .map(|o| (o.topic.as_str(), o.partition, o.adding_replicas.as_slice()));
        progress::in_flight_bytes(adding, h)
    });
    progress::total_bytes(decision.bytes, decision.remaining, ongoing.len(), flight)
}

fn input(
    state: &KafkaState,
    ongoing: &[crate::admin::OngoingReassignment],
    brokers: &BTreeSet<i32>,
    racks: &BTreeMap<i32, String>,
    held: Option<&BTreeMap<i32, PartitionSizes>>,
) -> Input {
    let sizes = held.map(progress::partition_sizes).unwrap_or_default();
    let targets: BTreeMap<(&str, i32), Vec<i32>> = ongoing
        .iter()
        .map(|o| {
            let target = o
                .replicas
                .iter()
                .copied()
                .filter(|b| !o.removing_replicas.contains(b))
                .collect();
            ((o.topic.as_str(), o.partition), target)
        })
        .collect();
    Input {
        partitions: state
            .partitions
            .iter()
            .map(|p| Assignment {
                topic: p.topic.clone(),
                partition: p.partition,
                replicas: targets
                    .get(&(p.topic.as_str(), p.partition))
                    .cloned()
                    .unwrap_or_else(|| p.replicas.clone()),
                min_isr: p.min_isr,
                size_bytes: sizes.get(&(p.topic.clone(), p.partition)).copied(),
            })
            .collect(),
        brokers: brokers.clone(),
        racks: racks.clone(),
    }
}

/// Each broker's rack as its pod carries it (rack awareness only).
fn racks(cluster: &ValidatedCluster, observed: &Observed) -> BTreeMap<i32, String> {
    if cluster.rack_topology_key.is_none() {
        return BTreeMap::new();
    }
    observed
        .pods
        .iter()
        .filter(|p| p.labels().get(labels::ROLE).map(String::as_str) == Some(Role::Broker.as_str()))
        .filter_map(|p| {
            let id = p.labels().get(labels::NODE_ID)?.parse().ok()?;
            Some((id, p.annotations().get(annotations::RACK)?.clone()))
        })
        .collect()
}

/// Broker ids among `ids` whose pod is missing or not ready.
fn not_ready_brokers<'a>(observed: &Observed, ids: impl Iterator<Item = &'a i32>) -> Vec<i32> {
    let ready: BTreeSet<i32> = observed
        .pods
        .iter()
        .filter(|p| p.labels().get(labels::ROLE).map(String::as_str) == Some(Role::Broker.as_str()))
        .filter(|p| crate::status::is_ready(p))
        .filter_map(|p| p.labels().get(labels::NODE_ID)?.parse().ok())
        .collect();
    let mut out: Vec<i32> = ids.copied().filter(|id| !ready.contains(id)).collect();
    out.sort();
    out.dedup();
    out
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}
