//! Version changes, the executor: before validation it refuses a downgrade the finalized
//! `metadata.version` forbids ([`gate`]); after the roll it asks Kafka what it runs, runs the
//! pure upgrade planner and raises the finalized features when the planner says so
//! ([`advance`]). The roll itself (controllers, then brokers) is the roll executor's. See
//! `crate::upgrade` and docs/operations.md (Upgrades).

use std::collections::BTreeMap;

use futures::future::join_all;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::events::EventType;
use tracing::{info, warn};

use super::events::EventReason;
use super::observe::Observed;
use super::{Context, kafka};
use crate::admin::{METADATA_VERSION_FEATURE, Target};
use crate::annotations;
use crate::crd::{KafkaCluster, KafkaClusterStatus, StepState};
use crate::desired::Desired;
use crate::names::Role;
use crate::status;
use crate::upgrade::releases::{self, metadata_version_name};
use crate::upgrade::{self, Input, Refusal, Step, UpgradeDecision, view};
use crate::validate::ValidatedCluster;

/// What this pass learned and decided about the version change.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The planner's decision, when it belongs in the plan.
    pub shown: Option<UpgradeDecision>,
    /// The finalized `metadata.version` Kafka reported this pass.
    pub metadata_version: Option<String>,
    /// The release line Kafka reports per pod.
    pub kafka_versions: BTreeMap<String, String>,
    /// Seconds until the soak ends, to look again then.
    pub requeue_seconds: Option<i64>,
}

/// A downgrade of `spec.version` below what the finalized `metadata.version` allows is refused
/// before anything is built. Kafka is asked only when some pod runs a newer release; when it
/// does not answer, the level last read from it (status) decides.
pub async fn gate(cr: &KafkaCluster, observed: &Observed, access: &kafka::Access) -> Option<Refusal> {
    let release = upgrade::find(&cr.spec.version)?;
    let running: Vec<&str> = observed.pods.iter().filter_map(view::pod_version).collect();
    // Not a downgrade: admitted without a level, and Kafka is not asked.
    upgrade::admit(release, &running, None).err()?;
    let known = match access.client() {
        Ok(client) => client.finalized_features().await.ok(),
        Err(_) => None,
    };
    let level = known.and_then(|f| f.metadata_version()).or_else(|| {
        cr.status
            .as_ref()
            .and_then(|s| s.metadata_version.as_deref())
            .and_then(releases::parse_metadata_version)
    });
    upgrade::admit(release, &running, level).err()
}

/// Asks Kafka (unless nothing changed), plans, and finalises when the planner says so.
pub async fn advance(
    ctx: &Context,
    cr: &KafkaCluster,
    cluster: &ValidatedCluster,
    desired: &Desired,
    observed: &Observed,
    roll_idle: bool,
) -> Outcome {
    let Some(release) = upgrade::find(&cluster.version) else {
        return Outcome::default();
    };
    let pin = cr
        .spec
        .metadata_version
        .as_deref()
        .and_then(releases::parse_metadata_version);
    let target = pin.unwrap_or(release.metadata_version);
    let previous = cr.status.as_ref();
    let skip = cr
        .annotations()
        .get(annotations::SKIP_KAFKA_GATES)
        .map(String::as_str)
        == Some("true");
    let mixed = observed
        .pods
        .iter()
        .any(|p| view::pod_version(p) != Some(cluster.version.as_str()));
    let asked = if skip || view::steady(&cluster.version, target, &observed.pods, previous) {
        None
    } else {
        Some(ask(cluster, desired, mixed, target).await)
    };
    let (finalized, supported) = asked.unwrap_or_default();
    let now = Timestamp::now().as_second();
    let nodes = view::node_versions(&desired.nodes, &observed.pods, &supported, now);
    let input = Input {
        desired: release,
        pin,
        finalize_after_seconds: finalize_after(cr),
        nodes: &nodes,
        finalized: finalized.as_ref(),
        roll_idle,
    };
    let decision = upgrade::plan(&input);
    let mut metadata_version = finalized
        .as_ref()
        .and_then(|f| f.get(METADATA_VERSION_FEATURE))
        .map(|l| metadata_version_name(*l));
    if let Step::Finalize(updates) = &decision.step
        && let Some(level) = finalise(ctx, cr, cluster, updates).await
    {
        metadata_version = Some(metadata_version_name(level));
    }
    Outcome {
        requeue_seconds: match decision.step {
            Step::Soak { remaining_seconds } => Some(remaining_seconds),
            _ => None,
        },
        kafka_versions: view::kafka_versions(&nodes, &supported, previous),
        metadata_version,
        shown: view::shown(&decision, previous).then_some(decision),
    }
}

fn finalize_after(cr: &KafkaCluster) -> i64 {
    cr.spec
        .rollout
        .as_ref()
        .and_then(|r| r.finalize_after_seconds)
        .map_or(0, i64::from)
}

/// The finalized features (from any broker) and, while nodes run different releases or the
/// level is below `target`, each node's highest supported `metadata.version` (brokers through
/// the bootstrap client, controllers on their own listener), asked concurrently; whatever does
/// not answer is left out.
async fn ask(
    cluster: &ValidatedCluster,
    desired: &Desired,
    mixed: bool,
    target: i16,
) -> (Option<BTreeMap<String, i16>>, BTreeMap<i32, i16>) {
    let Ok(client) = kafka::Access::of(cluster).client() else {
        return (None, BTreeMap::new());
    };
    let finalized = client.finalized_features().await.ok().map(|f| f.levels);
    let below = finalized
        .as_ref()
        .is_some_and(|f| f.get(METADATA_VERSION_FEATURE).copied().unwrap_or(0) < target);
    if !(mixed || below) {
        return (finalized, BTreeMap::new());
    }
    let asks = desired.nodes.iter().map(|n| {
        let client = &client;
        async move {
            let features = match n.role {
                Role::Broker => client.supported_features(Target::Node(n.id)).await,
                Role::Controller => match kafka::controller_client(cluster, n.id) {
                    Ok(c) => c.supported_features(Target::Any).await,
                    Err(e) => Err(e),
                },
            };
            let max = features
                .ok()
                .and_then(|f| f.get(METADATA_VERSION_FEATURE).map(|(_, max)| *max));
            (n.id, max)
        }
    });
    let supported = join_all(asks)
        .await
        .into_iter()
        .filter_map(|(id, max)| max.map(|m| (id, m)))
        .collect();
    (finalized, supported)
}

/// Raises the features with UpdateFeatures (Kafka's controller refuses a level some node does
/// not support) and returns the `metadata.version` Kafka then reports.
async fn finalise(
    ctx: &Context,
    cr: &KafkaCluster,
    cluster: &ValidatedCluster,
    updates: &[(String, i16)],
) -> Option<i16> {
    let client = kafka::Access::of(cluster).client().ok()?;
    let list: Vec<String> = updates.iter().map(|(f, l)| format!("{f}={l}")).collect();
    match client.update_features(updates, false).await {
        Ok(()) => {
            info!(features = %list.join(", "), "finalized features");
            ctx.metrics.roll_action("finalize_features", "cluster");
            let note = format!("finalized {} for {}", list.join(", "), cluster.version);
            ctx.event(cr, EventType::Normal, EventReason::FeaturesFinalized, &note)
                .await;
            client
                .finalized_features()
                .await
                .ok()
                .and_then(|f| f.metadata_version())
        }
        Err(e) => {
            warn!(error = %e, features = %list.join(", "), "UpdateFeatures failed");
            let note = format!("could not finalize {}: {e}", list.join(", "));
            ctx.event(cr, EventType::Warning, EventReason::FinalizeFailed, &note)
                .await;
            None
        }
    }
}

/// The status after this pass: what Kafka reported, and the `upgrade` phase in the plan
/// (Progressing while it is under way).
pub fn report(
    outcome: &Outcome,
    next: &mut KafkaClusterStatus,
    previous: Option<&KafkaClusterStatus>,
    now: Timestamp,
) {
    if let Some(mv) = &outcome.metadata_version {
        next.metadata_version = Some(mv.clone());
    }
    let Some(decision) = &outcome.shown else {
        return;
    };
    if let Some(rollout) = next.rollout.as_mut() {
        view::with_phase(decision, rollout);
    }
    if matches!(decision.state, StepState::InProgress | StepState::Waiting) {
        status::with_upgrade(&decision.message, next, previous, now);
    }
}
