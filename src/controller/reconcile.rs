//! One reconciliation: resolve (caches) → validate (pure) → build (pure) → apply (ordered) →
//! prune → quorum, recovery, roll, upgrade, pod annotations, rebalance → status. Every decision
//! is a function of what is in the cluster, so the operator can be killed at any point and the
//! next reconcile carries on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use tracing::{Span, field, info, instrument, warn};

use super::events::EventReason;
use super::observe::{self, Observed};
use super::scale::{self, BrokerUsage, ScaleDownPlan};
use super::upgrade::{self, Outcome};
use super::{
    Context, durability, kafka, quorum, rack, rebalance, recovery, roll, shutdown, status as writer, sync,
};
use crate::crd::{
    ConditionType, ControllerQuorumStatus, KafkaCluster, KafkaClusterStatus, LastAccepted, Reason,
};
use crate::desired::{self, Desired};
use crate::error::{Error, Result};
use crate::names::{ClusterNames, Role};
use crate::quorum::QuorumMode;
use crate::quorum::kraft::KraftStep;
use crate::roll::Decision;
use crate::status::{self, Facts};
use crate::validate::{self, InvalidSpec, Problem, ValidatedCluster};
use crate::{annotations, cluster_id};

const REQUEUE_STABLE: Duration = Duration::from_secs(300);
const REQUEUE_PROGRESSING: Duration = Duration::from_secs(15);
/// How soon a missing or unusable user CA Secret is read again.
const USER_CA_RETRY: Duration = Duration::from_secs(30);

/// Entry point from the controller runtime.
#[instrument(skip_all, fields(cluster = %guard.name_any(), namespace = guard.namespace().unwrap_or_default(), outcome = field::Empty))]
pub async fn reconcile(guard: Arc<DeserializeGuard<KafkaCluster>>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.measure();
    let result = if guard.meta().deletion_timestamp.is_some() {
        shut_down(&guard, &ctx).await
    } else {
        match &guard.0 {
            Ok(cr) => reconcile_cluster(cr, &ctx).await,
            Err(invalid) => writer::report_unreadable(&guard, &invalid.error, &ctx)
                .await
                .map(|_| Action::await_change()),
        }
    };
    match &result {
        Ok(_) => {
            ctx.reset_backoff(&guard.name_any(), guard.namespace().as_deref());
            Span::current().record("outcome", "ok");
        }
        Err(e) => {
            Span::current().record("outcome", e.kind());
        }
    }
    result
}

/// Backoff for transient errors; invalid specs never reach here (they are a status, not an error).
pub fn error_policy(guard: Arc<DeserializeGuard<KafkaCluster>>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failure(error.kind());
    let delay = ctx.next_backoff(&guard.name_any(), guard.namespace().as_deref());
    warn!(cluster = %guard.name_any(), error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// A deleted KafkaCluster: brokers shut down before the controllers (see `shutdown`).
async fn shut_down(guard: &DeserializeGuard<KafkaCluster>, ctx: &Context) -> Result<Action> {
    let name = guard.name_any();
    let namespace = guard
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let clusters: Api<DeserializeGuard<KafkaCluster>> = Api::namespaced(ctx.client.clone(), &namespace);
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let cached = observe::resolve(&ctx.caches, &namespace, &name).pods;
    let released = shutdown::advance(&clusters, &pods, &cached, &name, guard.meta()).await?;
    if released {
        ctx.metrics.forget_cluster(&namespace, &name);
    }
    // Broker pods going away are watched events; the requeue is a safety net.
    Ok(if released {
        Action::await_change()
    } else {
        Action::requeue(Duration::from_secs(5))
    })
}

/// A spec that passed validation, with what was built from it.
struct Accepted {
    /// The KafkaCluster as managed this pass: the current spec, or the last accepted one while
    /// the current one is refused (metadata and status are the current ones either way).
    cr: KafkaCluster,
    cluster: ValidatedCluster,
    desired: Desired,
    scale: ScaleDownPlan,
    /// Surplus controllers that are no longer voters: their claims go.
    removable_controllers: BTreeSet<i32>,
    /// Why the current spec was refused, when the last accepted one is managed instead.
    refused: Option<String>,
}

/// The controller quorum as this pass found it, before any spec is validated.
struct QuorumInputs {
    read: quorum::Read,
    /// The mode to render: the controller objects' mark, or dynamic once Kafka (or the status)
    /// reports a static quorum upgraded.
    mode: QuorumMode,
    /// A static quorum's next step towards `kraft.version` 1.
    kraft: Option<KraftStep>,
    /// Recorded in status before the first controller existed.
    initial_voters: BTreeSet<i32>,
    formed: bool,
}

/// The pipeline, one call per stage.
async fn reconcile_cluster(cr: &KafkaCluster, ctx: &Context) -> Result<Action> {
    let name = cr.name_any();
    let ns = cr
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    shutdown::ensure_finalizer(
        &Api::<KafkaCluster>::namespaced(ctx.client.clone(), &ns),
        &name,
        &cr.metadata,
    )
    .await?;
    let observed = observe::resolve(&ctx.caches, &ns, &name);
    let (cluster_id, initial_voters) = ensure_identity(ctx, cr, &observed).await?;
    let tls = match super::tls::ensure(ctx, cr, &ns, &observed).await? {
        Ok(tls) => tls,
        Err(problem) => {
            let invalid = InvalidSpec {
                problems: vec![problem],
            };
            refuse(ctx, cr, &invalid).await?;
            // A change to the user's CA or listener certificate Secret brings a pass (the Secret
            // metadata watch); this retry covers a refusal that no Secret change ends.
            return Ok(Action::requeue(USER_CA_RETRY));
        }
    };
    let access = kafka_access(cr, &ns, &ctx.options.cluster_domain, &tls);
    let quorum_inputs = quorum_inputs(cr, &observed, &access, initial_voters).await;
    let accepted = match accept(ctx, cr, &ns, &observed, (&cluster_id, &quorum_inputs, &tls)).await? {
        Ok(accepted) => accepted,
        Err(invalid) => return refuse(ctx, cr, &invalid).await,
    };
    let Accepted {
        cr: managed,
        cluster,
        desired,
        scale,
        removable_controllers,
        ..
    } = &accepted;
    let rejected = sync::apply_all(ctx, managed, &ns, &desired.objects, &observed).await?;
    let removable = [
        (Role::Broker, &scale.removable),
        (Role::Controller, removable_controllers),
    ];
    sync::prune(ctx, managed, &ns, &desired.objects, &observed, &removable).await?;
    finish_scale_down(ctx, managed, cluster, scale).await;
    let quorum = quorum::advance(
        ctx,
        managed,
        cluster,
        (
            &quorum_inputs.read,
            &quorum_inputs.initial_voters,
            quorum_inputs.kraft.as_ref(),
        ),
        &access,
    )
    .await;
    let lost = recovery::advance(ctx, managed, cluster, desired, &observed).await?;
    // A recovery step deleted a pod: the roll and the pod annotations would act on the pods as
    // observed before it, so they wait for the next pass, which the deletion brings.
    let recovered = lost.step.is_some();
    // No restart while objects are refused: a restarted pod could start from a stale ConfigMap.
    let decision = if rejected.is_empty() && !recovered {
        let skipped = recovery::skipped(&lost);
        Some(roll::advance(ctx, managed, cluster, desired, &observed, &skipped).await?)
    } else {
        None
    };
    let idle = decision
        .as_ref()
        .is_some_and(|d| d.action == crate::roll::Action::Idle);
    let upgrade = upgrade::advance(ctx, managed, cluster, desired, &observed, idle).await;
    let listeners = crate::listeners::plan(cluster, &observed.listener_inputs());
    if !recovered {
        annotate_pods(ctx, managed, &ns, cluster, &observed, &listeners).await?;
    }
    let moves = rebalance::advance(ctx, managed, cluster, &observed, scale, idle).await;
    let passes = Passes {
        roll: decision.as_ref(),
        upgrade: &upgrade,
        moves: &moves,
        rejected: &rejected,
        quorum,
        lost: &lost,
        waiting_addresses: &listeners.waiting,
    };
    let action = report(ctx, &accepted, &observed, passes).await?;
    if rejected.is_empty() {
        Ok(action)
    } else {
        // Reported in status and Events; the error brings the retry with backoff.
        Err(apply_failed(&rejected))
    }
}

/// The error of a pass in which the API server refused `rejected`, naming them.
fn apply_failed(rejected: &[sync::Refusal]) -> Error {
    let objects: Vec<String> = rejected
        .iter()
        .map(|r| format!("{}/{}", r.kind, r.name))
        .collect();
    Error::ApplyFailed(objects.join(", "))
}

/// The controller quorum as this pass finds it: read from Kafka, whether it formed, and a
/// static quorum's next `kraft.version` step.
async fn quorum_inputs(
    cr: &KafkaCluster,
    observed: &Observed,
    access: &kafka::Access,
    initial_voters: BTreeSet<i32>,
) -> QuorumInputs {
    let (mode, read) = read_quorum(cr, observed, access).await;
    QuorumInputs {
        formed: quorum::formed(cr.status.as_ref(), &read),
        kraft: quorum::kraft_step(cr, &observed.pods, &read),
        mode,
        read,
        initial_voters,
    }
}

/// The pod annotations the node config reads: each pod's rack (rack-aware clusters) and the
/// external addresses brokers advertise (`listeners`, the listener plan).
async fn annotate_pods(
    ctx: &Context,
    cr: &KafkaCluster,
    ns: &str,
    cluster: &ValidatedCluster,
    observed: &Observed,
    listeners: &crate::listeners::Plan,
) -> Result<()> {
    if let Some(key) = &cluster.rack_topology_key {
        rack::assign(
            ctx,
            cr,
            ns,
            rack::plan(&observed.pods, &observed.node_labels, key),
        )
        .await?;
    }
    super::external::annotate(ctx, ns, listeners).await
}

/// Validates the current spec; when it is refused, falls back to the last accepted spec
/// recorded in status, so the cluster keeps being managed (lost pods recreated, status
/// updated) and only the change is refused. Without a usable last accepted spec the current
/// spec's problems are returned.
async fn accept(
    ctx: &Context,
    cr: &KafkaCluster,
    ns: &str,
    observed: &Observed,
    (cluster_id, quorum, tls): (&str, &QuorumInputs, &super::tls::Outcome),
) -> Result<Result<Accepted, InvalidSpec>> {
    let invalid = match candidate(ctx, cr, ns, observed, (cluster_id, quorum, tls)).await? {
        Ok(accepted) => return Ok(Ok(accepted)),
        Err(invalid) => invalid,
    };
    let Some((previous, generation)) = last_accepted(cr) else {
        return Ok(Err(invalid));
    };
    Ok(
        match candidate(ctx, &previous, ns, observed, (cluster_id, quorum, tls)).await? {
            Ok(accepted) => Ok(Accepted {
                refused: Some(format!(
                    "{invalid}; the change is refused and the cluster keeps running the last accepted spec \
                 (generation {})",
                    generation.unwrap_or_default()
                )),
                ..accepted
            }),
            // The recorded spec no longer passes either (an operator upgrade tightened a rule).
            Err(_) => Err(invalid),
        },
    )
}

/// Scale-down plan, validation and the built objects of one spec.
async fn candidate(
    ctx: &Context,
    cr: &KafkaCluster,
    ns: &str,
    observed: &Observed,
    (cluster_id, quorum, tls): (&str, &QuorumInputs, &super::tls::Outcome),
) -> Result<Result<Accepted, InvalidSpec>> {
    let access = kafka_access(cr, ns, &ctx.options.cluster_domain, tls);
    let scale = plan_scale_down(cr, observed, &access).await;
    // A downgrade the finalized metadata.version forbids: refused like an invalid field.
    if let Some(refusal) = upgrade::gate(cr, observed, &access).await {
        let problems = vec![Problem {
            field: refusal.field.into(),
            reason: refusal.message,
        }];
        return Ok(Err(InvalidSpec { problems }));
    }
    let mut existing = observed.existing(scale.retained.clone(), uses_node_labels(cr));
    existing.tls_digests = tls.digests.clone();
    existing.listener_certs = tls.listener_certs.clone();
    existing.admin_tls = tls.admin.clone();
    let removable_controllers = quorum_facts(cr, &mut existing, quorum);
    let cluster = match validate::validate(cr, &existing, cluster_id, &ctx.options) {
        Ok(c) => c,
        Err(invalid) => return Ok(Err(invalid)),
    };
    let owner = cr
        .controller_owner_ref(&())
        .ok_or(Error::MissingObjectKey("metadata.uid"))?;
    let desired = desired::build(&cluster, Some(&owner));
    // What the API server would refuse in the built objects, named by the spec field.
    let problems = validate::check_objects(&cluster, &desired.objects);
    if !problems.is_empty() {
        return Ok(Err(InvalidSpec { problems }));
    }
    Ok(Ok(Accepted {
        cr: cr.clone(),
        cluster,
        desired,
        scale,
        removable_controllers,
        refused: None,
    }))
}

/// Reads the quorum (DescribeQuorum through a broker; a static one's `kraft.version` too) and
/// the mode to render: the controller objects' mark, or dynamic once recorded in status or
/// reported by Kafka.
async fn read_quorum(
    cr: &KafkaCluster,
    observed: &Observed,
    access: &kafka::Access,
) -> (QuorumMode, quorum::Read) {
    let existing = observed.existing(BTreeSet::new(), false);
    let marked = validate::quorum_mode(&existing);
    if validate::existing_ids(&existing, Role::Controller).is_empty() {
        return (
            marked,
            quorum::Read::Unreachable("no controller exists yet".into()),
        );
    }
    let mode = if quorum::recorded_dynamic(cr.status.as_ref()) {
        QuorumMode::Dynamic
    } else {
        marked
    };
    quorum::read(mode, access).await
}

/// Records in `existing` what validation needs of the quorum: which surplus controllers keep
/// running (still voters, or unknown), whether it formed, its initial voters. Returns the
/// surplus controllers whose claims may go (no longer voters).
fn quorum_facts(
    cr: &KafkaCluster,
    existing: &mut validate::Existing,
    quorum: &QuorumInputs,
) -> BTreeSet<i32> {
    let controllers = validate::existing_ids(existing, Role::Controller);
    let desired = quorum::desired_ids(cr);
    existing.quorum_upgraded =
        quorum.mode == QuorumMode::Dynamic && validate::quorum_mode(existing) == QuorumMode::Static;
    existing.static_quorum = match &quorum.kraft {
        Some(KraftStep::Keep(why)) => Some(format!("it stays static: {why}")),
        Some(KraftStep::Wait(why)) => Some(format!("that upgrade waits: {why}")),
        Some(KraftStep::Upgrade) => Some("that upgrade is under way".into()),
        _ => None,
    };
    if validate::quorum_mode(existing) == QuorumMode::Dynamic {
        existing.retained_controller_ids =
            crate::quorum::retained(&controllers, &desired, quorum.read.view());
    }
    existing.quorum_formed = quorum.formed;
    existing.initial_voters = quorum.initial_voters.clone();
    match quorum.read.view() {
        Some(_) => controllers
            .difference(&desired)
            .filter(|id| !existing.retained_controller_ids.contains(id))
            .copied()
            .collect(),
        None => BTreeSet::new(),
    }
}

/// The KafkaCluster as its last accepted spec describes it (current metadata and status), and
/// that spec's generation.
fn last_accepted(cr: &KafkaCluster) -> Option<(KafkaCluster, Option<i64>)> {
    let recorded = cr.status.as_ref()?.last_accepted.as_ref()?;
    let spec = serde_json::from_value(recorded.spec.clone()).ok()?;
    let mut previous = cr.clone();
    previous.spec = spec;
    Some((previous, recorded.generation))
}

/// The cluster id is chosen once and recorded in status before anything uses it, so a crash
/// between here and the first pod can never lead to two ids. Retained claims of an earlier
/// cluster of the same name carry theirs; adopting it keeps their data readable.
///
/// A new cluster's initial voters (the spec's controllers) are recorded the same way, before the
/// first controller object exists: only they are formatted as voters, so a spec change or a
/// crash before the quorum forms never formats a second, different quorum.
async fn ensure_identity(
    ctx: &Context,
    cr: &KafkaCluster,
    observed: &Observed,
) -> Result<(String, BTreeSet<i32>)> {
    let recorded_id = cr.status.as_ref().and_then(|s| s.cluster_id.clone());
    let replicas = cr.spec.controllers.replicas;
    let record_voters = cr
        .status
        .as_ref()
        .and_then(|s| s.controller_quorum.as_ref())
        .is_none()
        && observed.existing_ids(Role::Controller).is_empty()
        && [1, 3, 5].contains(&replicas);
    if let Some(id) = &recorded_id
        && !record_voters
    {
        return Ok((id.clone(), quorum::initial_voters(cr.status.as_ref())));
    }
    let id =
        recorded_id.unwrap_or_else(|| observed.adopted_cluster_id().unwrap_or_else(cluster_id::generate));
    let mut st = cr.status.clone().unwrap_or_default();
    st.cluster_id = Some(id.clone());
    if record_voters {
        st.controller_quorum = Some(ControllerQuorumStatus {
            mode: QuorumMode::Dynamic.as_str().into(),
            initial_voters: quorum::desired_ids(cr).into_iter().collect(),
            ..Default::default()
        });
    }
    writer::write(ctx, cr, &st).await?;
    info!(cluster_id = %id, quorum = ?st.controller_quorum, "recorded the cluster's identity");
    Ok((id, quorum::initial_voters(Some(&st))))
}

/// Scale-down is decided before validation so retained brokers keep their objects: surplus
/// brokers go only once Kafka reports them empty (or the user accepts the loss).
async fn plan_scale_down(cr: &KafkaCluster, observed: &Observed, access: &kafka::Access) -> ScaleDownPlan {
    let surplus = scale::surplus(&observed.existing_ids(Role::Broker), &cr.spec.brokers.ids());
    let allow_unsafe = cr
        .annotations()
        .get(annotations::ALLOW_UNSAFE_SCALE_DOWN)
        .map(String::as_str)
        == Some("true");
    let usage = if surplus.is_empty() || allow_unsafe {
        BTreeMap::new()
    } else {
        kafka::broker_usage(access, &surplus).await
    };
    scale::plan(&surplus, allow_unsafe, |id| {
        usage
            .get(&id)
            .cloned()
            .unwrap_or_else(|| BrokerUsage::Unknown("not asked".into()))
    })
}

/// After the removed brokers' objects are pruned: unregister them from Kafka, and say so.
async fn finish_scale_down(
    ctx: &Context,
    cr: &KafkaCluster,
    cluster: &ValidatedCluster,
    scale: &ScaleDownPlan,
) {
    if scale.removable.is_empty() {
        return;
    }
    kafka::unregister(&kafka::Access::of(cluster), &scale.removable).await;
    let ids: Vec<String> = scale.removable.iter().map(ToString::to_string).collect();
    let note = format!(
        "removed brokers {} (scale-down to {})",
        ids.join(", "),
        cr.spec.brokers.replicas
    );
    ctx.event(cr, EventType::Normal, EventReason::ScaledDown, &note)
        .await;
    if scale.unsafe_removal {
        let note = format!(
            "removed brokers {} without asking Kafka whether they still held data ({}=true)",
            ids.join(", "),
            annotations::ALLOW_UNSAFE_SCALE_DOWN
        );
        ctx.event(cr, EventType::Warning, EventReason::UnsafeScaleDown, &note)
            .await;
    }
}

/// A spec the operator refuses: the conditions name the field, one Warning Event, nothing applied.
async fn refuse(ctx: &Context, cr: &KafkaCluster, invalid: &InvalidSpec) -> Result<Action> {
    let message = invalid.to_string();
    let previous = cr.status.as_ref();
    let already_reported = previous
        .and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == ConditionType::Ready.as_str())
        })
        .is_some_and(|c| c.reason == Reason::InvalidSpec.as_str() && c.message == message);
    let next = status::invalid(&message, cr.metadata.generation, previous, writer::now());
    writer::publish(ctx, cr, &next).await?;
    if !already_reported {
        ctx.event(cr, EventType::Warning, EventReason::InvalidSpec, &message)
            .await;
    }
    warn!(%message, "refusing the spec; nothing applied");
    Ok(Action::await_change())
}

/// What the roll and upgrade passes decided and the objects the API server refused, for the
/// status.
struct Passes<'a> {
    roll: Option<&'a Decision>,
    upgrade: &'a Outcome,
    /// The rebalance/drain pass (its status, and why surplus brokers stay).
    moves: &'a rebalance::Pass,
    rejected: &'a [sync::Refusal],
    /// The controller quorum's status, its pending change for the Progressing condition, and
    /// how soon to look again.
    quorum: quorum::Outcome,
    /// Node-loss recovery's plan (Degraded: NodeLost).
    lost: &'a crate::recovery::node_loss::Plan,
    /// Brokers waiting for their external addresses, by pod, with why.
    waiting_addresses: &'a BTreeMap<String, String>,
}

/// Status from what this pass observed and decided (watch events of this pass's own writes
/// bring the next pass, which reports their effect), and when to look again.
async fn report(
    ctx: &Context,
    accepted: &Accepted,
    observed: &Observed,
    passes: Passes<'_>,
) -> Result<Action> {
    let (decision, rejected) = (passes.roll, passes.rejected);
    let Accepted {
        cr,
        cluster,
        desired,
        refused,
        ..
    } = accepted;
    let facts = facts(accepted, observed, &passes);
    let now = writer::now();
    let previous = cr.status.as_ref();
    let mut next = status::compute(cluster, &observed.pods, &facts, previous, now);
    status::with_rollout(decision, &mut next, previous, now);
    next.listeners = crate::listeners::statuses(cluster, &observed.listener_inputs());
    next.controller_quorum = Some(passes.quorum.status.clone());
    if decision.is_none() {
        // The roll did not run this pass; its last plan stands.
        next.rollout = previous.and_then(|p| p.rollout.clone());
    }
    upgrade::report(passes.upgrade, &mut next, previous, now);
    next.rebalance = passes.moves.status.clone();
    if refused.is_none() {
        next.last_accepted = Some(LastAccepted {
            generation: cr.metadata.generation,
            spec: serde_json::to_value(&cr.spec)?,
        });
    }
    let rejected_text: Vec<String> = rejected.iter().map(ToString::to_string).collect();
    status::with_refusals(&mut next, refused.as_deref(), &rejected_text, previous, now);
    // What Kafka runs with is read once the cluster is up and not rolling.
    if is_true(&next, ConditionType::Ready)
        && decision.is_some_and(|d| d.action == crate::roll::Action::Idle)
        && let Some(effective) = durability::pass(ctx, cr, cluster, &desired.durability()).await
    {
        next.durability = Some(effective);
    }
    let blocked = passes.moves.scale_down_blocked.as_deref();
    announce(ctx, cr, &next, blocked, refused.as_deref(), rejected).await;
    writer::publish(ctx, cr, &next).await?;
    Ok(Action::requeue(requeue_after(&next, &passes)))
}

/// What the status computation needs beyond the pods: what this pass's planners found.
fn facts(accepted: &Accepted, observed: &Observed, passes: &Passes<'_>) -> Facts {
    let Accepted { cluster, desired, .. } = accepted;
    Facts {
        quorum_changing: passes.quorum.changing.clone(),
        placement_violations: status::placement_violations(cluster, &observed.pods, &observed.node_labels),
        desired_hashes: desired
            .nodes
            .iter()
            .map(|n| (n.pod.clone(), n.config_hash.clone()))
            .collect(),
        scale_down_blocked: passes.moves.scale_down_blocked.clone(),
        moving_partitions: passes.moves.moving.clone(),
        kafka_versions: passes.upgrade.kafka_versions.clone(),
        warnings: status::hardening_warning(cluster)
            .into_iter()
            .chain(crate::host_ports::condition(
                cluster,
                &crate::host_ports::conflicts(cluster, &observed.host_port_pods),
            ))
            .collect(),
        node_lost: crate::recovery::node_loss::summary(passes.lost),
        waiting_addresses: passes.waiting_addresses.clone(),
    }
}

fn is_true(status: &KafkaClusterStatus, condition: ConditionType) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == condition.as_str() && c.status == "True")
}

/// When to look again. The roll knows best (Kafka's recovery raises no event; backoff past a
/// timeout); otherwise the generic cadence. Watched objects trigger passes anyway; these wait
/// for what raises no event: a soak's end, a node passing its loss timeout or a recovery
/// waiting for Kafka, a voter change's next step (the add after a replaced volume's removal).
fn requeue_after(next: &KafkaClusterStatus, passes: &Passes<'_>) -> Duration {
    let generic = if is_true(next, ConditionType::Progressing) {
        REQUEUE_PROGRESSING
    } else {
        REQUEUE_STABLE
    };
    let seconds = |s: i64| Duration::from_secs(s.max(1).unsigned_abs());
    let roll = passes
        .roll
        .and_then(crate::roll::plan::requeue_after)
        .unwrap_or(generic);
    [
        passes.upgrade.requeue_seconds.map(seconds),
        recovery::requeue_seconds(passes.lost).map(seconds),
        passes.quorum.requeue,
    ]
    .into_iter()
    .flatten()
    .fold(roll, Duration::min)
}

/// Warning Events for what the new status reports for the first time: a blocked scale-down, a
/// refused spec edit, objects the API server refused.
async fn announce(
    ctx: &Context,
    cr: &KafkaCluster,
    next: &KafkaClusterStatus,
    blocked: Option<&str>,
    refused: Option<&str>,
    rejected: &[sync::Refusal],
) {
    let was_blocked = cr.status.as_ref().is_some_and(|s| {
        s.conditions.iter().any(|c| {
            c.type_ == ConditionType::Progressing.as_str() && c.reason == Reason::ScaleDownBlocked.as_str()
        })
    });
    if let Some(reason) = blocked
        && !was_blocked
    {
        ctx.event(cr, EventType::Warning, EventReason::ScaleDownBlocked, reason)
            .await;
    }
    for c in status::new_warnings(cr.status.as_ref(), next) {
        ctx.event(cr, EventType::Warning, warning_event(&c.type_), &c.message)
            .await;
    }
    if !status::ready_changed(cr.status.as_ref(), next) {
        return;
    }
    if let Some(message) = refused {
        ctx.event(cr, EventType::Warning, EventReason::InvalidSpec, message)
            .await;
    } else {
        for r in rejected {
            ctx.event(cr, EventType::Warning, EventReason::ApplyFailed, &r.to_string())
                .await;
        }
    }
}

/// The Event reason announcing a warning condition.
fn warning_event(condition_type: &str) -> EventReason {
    match condition_type {
        t if t == ConditionType::HardeningRelaxed.as_str() => EventReason::HardeningRelaxed,
        t if t == ConditionType::HostPortConflict.as_str() => EventReason::HostPortConflict,
        _ => EventReason::InvalidSpec,
    }
}

/// The bootstrap Service's address on the inter-broker listener, with the operator's TLS client
/// when that listener has TLS, computed from the spec alone (validation has not run yet when
/// scale-down is decided).
pub(crate) fn kafka_access(
    cr: &KafkaCluster,
    namespace: &str,
    domain: &str,
    tls: &super::tls::Outcome,
) -> kafka::Access {
    let names = ClusterNames::new(&cr.name_any(), namespace, domain);
    let (port, with_tls) = crate::tls::admin_listener(&cr.spec);
    kafka::Access {
        bootstrap: format!("{}:{port}", names.bootstrap_fqdn()),
        tls: tls.admin.clone().filter(|_| with_tls),
    }
}

/// Node labels are needed for LIKE/UNLIKE constraints and for rack awareness only.
fn uses_node_labels(cr: &KafkaCluster) -> bool {
    let constrained = [&cr.spec.brokers.pool, &cr.spec.controllers.pool]
        .iter()
        .any(|p| {
            p.placement
                .as_ref()
                .and_then(|x| x.constraints.as_ref())
                .is_some()
        });
    constrained || cr.spec.rack.is_some()
}
