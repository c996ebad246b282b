//! Node-loss recovery, the executor: builds the planner's input from the caches
//! ([`crate::recovery::view`]), reads the PersistentVolumes of stranded pods (cluster-scoped,
//! only while a node is lost) and asks Kafka whether the rest is healthy, runs the pure planner
//! ([`crate::recovery::node_loss::plan`]) and carries out its one step. See docs/operations.md.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{PersistentVolume, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::events::EventType;
use tracing::{info, warn};

use super::events::{EventReason, pod_ref};
use super::observe::Observed;
use super::{Context, kafka};
use crate::annotations;
use crate::crd::{ConditionType, KafkaCluster, Reason, RecoveryPolicy};
use crate::desired::Desired;
use crate::error::Result;
use crate::recovery::node_loss::{self, Plan, Settings, Step};
use crate::recovery::view;
use crate::roll::KafkaView;
use crate::validate::ValidatedCluster;

/// The recovery settings of the spec.
pub fn settings(cr: &KafkaCluster) -> Settings {
    let r = cr.spec.recovery.clone().unwrap_or_default();
    Settings {
        automatic: r.policy.unwrap_or_default() == RecoveryPolicy::Automatic,
        timeout_seconds: r
            .node_loss_timeout_seconds
            .map(i64::from)
            .unwrap_or(node_loss::DEFAULT_TIMEOUT_SECONDS),
    }
}

/// Plans node-loss recovery and carries out its step.
pub async fn advance(
    ctx: &Context,
    cr: &KafkaCluster,
    cluster: &ValidatedCluster,
    desired: &Desired,
    observed: &Observed,
) -> Result<Plan> {
    let nodes = ctx.caches.node_states();
    if nodes.is_empty() {
        // Nodes are not watched (no permission): node loss cannot be seen.
        return Ok(Plan::default());
    }
    let settings = settings(cr);
    let now = Timestamp::now().as_second();
    let claim_of = |n: &crate::desired::NodeConfig| cluster.names.pvc(n.role, n.id);
    let unpinned = view::members(&desired.nodes, &observed.pods, claim_of, &BTreeMap::new());
    let first = node_loss::plan(
        &unpinned,
        &nodes,
        &KafkaView::Skipped,
        &settings,
        (&cluster.names.cluster, now),
    );
    let unschedulable: BTreeSet<String> = observed
        .pods
        .iter()
        .filter(|p| view::unschedulable(p))
        .map(ResourceExt::name_any)
        .collect();
    let wanted = node_loss::claims_to_read(&first, &unpinned, &unschedulable, (&nodes, &settings, now));
    if wanted.is_empty() {
        return Ok(first);
    }
    let pinned = pinned(ctx, observed, &wanted).await;
    let members = view::members(&desired.nodes, &observed.pods, claim_of, &pinned);
    let skip_gates = cr
        .annotations()
        .get(annotations::SKIP_KAFKA_GATES)
        .map(String::as_str)
        == Some("true");
    let lost_any = node_loss::plan(
        &members,
        &nodes,
        &KafkaView::Skipped,
        &settings,
        (&cluster.names.cluster, now),
    );
    let kafka = if lost_any.lost.is_empty() || !settings.automatic || skip_gates {
        KafkaView::Skipped
    } else {
        kafka::roll_view(&kafka::Access::of(cluster)).await.0
    };
    let plan = node_loss::plan(&members, &nodes, &kafka, &settings, (&cluster.names.cluster, now));
    announce(ctx, cr, &plan).await;
    if let Some(step) = &plan.step {
        execute(ctx, cr, &cluster.names.namespace, step, &plan).await?;
    }
    Ok(plan)
}

/// The Kubernetes nodes each wanted claim's volume is pinned to (claims not bound, and volumes
/// that cannot be read, are pinned nowhere).
async fn pinned(
    ctx: &Context,
    observed: &Observed,
    wanted: &BTreeSet<String>,
) -> BTreeMap<String, Vec<String>> {
    let pvs: Api<PersistentVolume> = Api::all(ctx.client.clone());
    let mut out = BTreeMap::new();
    for claim in wanted {
        let Some(volume) = observed
            .pvc(claim)
            .and_then(|c| c.spec.as_ref()?.volume_name.clone())
        else {
            continue;
        };
        match pvs.get_opt(&volume).await {
            Ok(Some(pv)) => {
                let hosts = view::pinned_hosts(&pv);
                out.insert(claim.clone(), view::node_names(&hosts, &observed.node_labels));
            }
            Ok(None) => {}
            Err(e) => {
                warn!(%volume, error = %e, "cannot read the PersistentVolume; treating it as reachable from any node")
            }
        }
    }
    out
}

/// A Warning Event the first time a node loss is reported.
async fn announce(ctx: &Context, cr: &KafkaCluster, plan: &Plan) {
    let Some(summary) = node_loss::summary(plan) else {
        return;
    };
    let reported = cr.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == ConditionType::Degraded.as_str() && c.reason == Reason::NodeLost.as_str())
    });
    if !reported {
        ctx.event(cr, EventType::Warning, EventReason::NodeLost, &summary)
            .await;
    }
}

/// Deletes the claim (a replace), then force-deletes the pod (this uid only).
async fn execute(ctx: &Context, cr: &KafkaCluster, ns: &str, step: &Step, plan: &Plan) -> Result<()> {
    let (pod, uid) = match step {
        Step::Recreate { pod, uid, .. } => (pod, uid),
        Step::Replace { pod, uid, claim, .. } => {
            super::roll::delete_claim(ctx, ns, claim).await?;
            (pod, uid)
        }
    };
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: uid.clone().map(|uid| Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..Default::default()
    };
    match pods.delete(pod, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    ctx.caches
        .await_pod(ns, pod, |p| p.is_none_or(|p| p.metadata.uid != *uid))
        .await;
    info!(%pod, message = %plan.message, "recovering from a lost node");
    ctx.pod_event(
        cr,
        pod_ref(ns, pod, uid.clone()),
        EventType::Warning,
        EventReason::RecoveringPod,
        &plan.message,
    )
    .await;
    Ok(())
}

/// Why the roll skips a node: it is stranded on a lost node.
pub fn skipped(plan: &Plan) -> BTreeMap<i32, String> {
    plan.stranded
        .iter()
        .map(|(id, node)| (*id, format!("on lost node {node}, being recovered")))
        .collect()
}

/// Seconds until a node not Ready passes the timeout, or a short poll while a recovery waits
/// for Kafka (its progress raises no event).
pub fn requeue_seconds(plan: &Plan) -> Option<i64> {
    let waiting = plan.waits.then_some(5);
    match (plan.recheck_in, waiting) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
