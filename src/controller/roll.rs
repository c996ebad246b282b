//! Rolling restarts, the executor: builds the planner's input from the caches
//! ([`crate::roll::view`]), asks Kafka when something is pending, runs the pure planner and
//! carries out its one action. See `docs/rolling.md`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::events::EventType;
use serde_json::json;
use tracing::{info, warn};

use super::events::{EventReason, pod_ref};
use super::observe::Observed;
use super::{Context, kafka};
use crate::FIELD_MANAGER;
use crate::admin::{AdminClient, AlterConfigOp, ConfigResource};
use crate::annotations;
use crate::crd::{KafkaCluster, StepState};
use crate::desired::Desired;
use crate::durability;
use crate::error::Result;
use crate::names::{ClusterNames, Role};
use crate::recovery::replace;
use crate::roll::dynamic;
use crate::roll::view::{self, Target};
use crate::roll::{Action, Decision, KafkaView, Update, Views, plan_skipping};
use crate::status;
use crate::validate::ValidatedCluster;

/// The roll's own field manager, for the annotations it merges onto pods and ConfigMaps.
fn merge_params() -> PatchParams {
    PatchParams {
        field_manager: Some(format!("{FIELD_MANAGER}-roll")),
        ..Default::default()
    }
}

/// Advances the rollout by at most one step and returns the planner's decision. The nodes in
/// `skipped` (stranded on a lost Kubernetes node, being recovered) are left out of the roll.
pub async fn advance(
    ctx: &Context,
    cr: &KafkaCluster,
    cluster: &ValidatedCluster,
    desired: &Desired,
    observed: &Observed,
    skipped: &BTreeMap<i32, String>,
) -> Result<Decision> {
    let ns = cluster.names.namespace.clone();
    let now = Timestamp::now().as_second();
    let replaces = replace_requests(cr, cluster, desired, observed);
    let views = view::views(
        &desired.nodes,
        &observed.pods,
        &observed.config_maps,
        (cr.annotations(), &replaces),
        now,
    );
    for record in &views.records {
        record_running(ctx, &ns, record).await?;
    }
    let (kafka, admin) = kafka_view(cr, cluster, &views).await;
    let controls = view::controls(&cr.spec, cr.annotations());
    let decision = plan_skipping(&views.nodes, &kafka, &controls, skipped);
    for note in &decision.notes {
        warn!(%note, "roll");
    }
    let exec = Executor {
        ctx,
        cr,
        ns: &ns,
        names: &cluster.names,
        views: &views,
        admin: admin.as_ref().filter(|_| matches!(kafka, KafkaView::Known(_))),
        elr: durability::elr_expected(&cluster.version),
    };
    if let (Some(admin), KafkaView::Known(state)) = (exec.admin, &kafka) {
        elect_preferred_leaders(admin, state, &decision.action).await;
    }
    match &decision.action {
        Action::Restart { ids, canary } => {
            for id in ids {
                if let Some(t) = views.targets.get(id) {
                    exec.restart(*id, t, *canary).await?;
                }
            }
        }
        Action::Reconfigure { id, set, canary } => {
            if let Some(t) = views.targets.get(id) {
                exec.reconfigure(*id, t, set, *canary).await?;
            }
        }
        Action::Idle | Action::Wait | Action::Hold => {}
    }
    Ok(decision)
}

/// The replace request of each node: the user's, or (`spec.recovery.replaceMisplaced`) the
/// placement policy's for a pod running where its constraints no longer allow.
fn replace_requests(
    cr: &KafkaCluster,
    cluster: &ValidatedCluster,
    desired: &Desired,
    observed: &Observed,
) -> BTreeMap<i32, String> {
    let policy = cr.spec.recovery.as_ref().is_some_and(|r| r.replace_misplaced);
    let violations = if policy {
        status::placement_violations(cluster, &observed.pods, &observed.node_labels)
    } else {
        BTreeMap::new()
    };
    desired
        .nodes
        .iter()
        .filter_map(|n| {
            let misplaced_on = violations
                .contains_key(&n.pod)
                .then(|| observed.pod(&n.pod))
                .flatten()
                .and_then(|p| p.spec.as_ref()?.node_name.as_deref());
            replace::request(cr.annotations(), n.id, misplaced_on).map(|r| (n.id, r))
        })
        .collect()
}

/// After a restarted broker is back (the planner moves on only then) and when the roll ends,
/// leadership goes back to each partition's preferred replica, except for the nodes about to
/// restart: without it the last broker rolled would lead most partitions. Best effort.
async fn elect_preferred_leaders(admin: &AdminClient, state: &crate::roll::KafkaState, action: &Action) {
    let restarting: &[i32] = match action {
        Action::Restart { ids, .. } => ids,
        Action::Idle => &[],
        _ => return,
    };
    let partitions = crate::rebalance::progress::election_partitions(
        state
            .partitions
            .iter()
            .map(|p| (p.topic.as_str(), p.partition, p.replicas.as_slice())),
        restarting,
    );
    if partitions.is_empty() {
        return;
    }
    match admin.elect_preferred_leaders(Some(&partitions)).await {
        Ok(outcome) if outcome.elected > 0 => {
            info!(
                elected = outcome.elected,
                "preferred leaders elected after a restart"
            )
        }
        Ok(_) => {}
        Err(e) => warn!(error = %e, "preferred-leader election failed"),
    }
}

/// A pod that runs the desired configuration records what that is (static hash, dynamic keys).
async fn record_running(ctx: &Context, ns: &str, record: &crate::roll::Record) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let dynamic_json = serde_json::to_string(&record.dynamic).unwrap_or_default();
    let patch = json!({"metadata": {"annotations": {
        annotations::STATIC_HASH: record.static_hash,
        annotations::DYNAMIC_CONFIG: dynamic_json,
    }}});
    pods.patch(&record.pod, &merge_params(), &Patch::Merge(&patch))
        .await?;
    ctx.caches
        .await_pod(ns, &record.pod, |p| {
            p.and_then(|p| p.annotations().get(annotations::STATIC_HASH)) == Some(&record.static_hash)
        })
        .await;
    Ok(())
}

/// Kafka is asked only while something is pending, or while the previous pass had not reported
/// the rollout COMPLETE: after the last restart nothing is pending, but the roll is only done
/// once Kafka has that node back in every ISR.
async fn kafka_view(
    cr: &KafkaCluster,
    cluster: &ValidatedCluster,
    views: &Views,
) -> (KafkaView, Option<AdminClient>) {
    let any_pending = views.nodes.iter().any(|v| v.update != Update::None);
    let skip = gates_skipped(cr);
    let roll_unfinished = cr
        .status
        .as_ref()
        .and_then(|s| s.rollout.as_ref())
        .is_some_and(|r| r.state != StepState::Complete);
    if !(any_pending || roll_unfinished) || skip {
        return (KafkaView::Skipped, None);
    }
    kafka::roll_view(&kafka::Access::of(cluster)).await
}

/// The annotation that rolls on pod readiness alone is set.
fn gates_skipped(cr: &KafkaCluster) -> bool {
    cr.annotations()
        .get(annotations::SKIP_KAFKA_GATES)
        .map(String::as_str)
        == Some("true")
}

/// Deletes a node's claim (gone already: nothing to do).
pub async fn delete_claim(ctx: &Context, ns: &str, name: &str) -> Result<()> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), ns);
    match claims.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => return Err(e.into()),
    }
    // The next pass must see it going, so the pod is not recreated on it.
    ctx.caches
        .await_pvc(ns, name, |c| {
            c.is_none_or(|c| c.metadata.deletion_timestamp.is_some())
        })
        .await;
    Ok(())
}

/// The I/O of one roll action.
struct Executor<'a> {
    ctx: &'a Context,
    cr: &'a KafkaCluster,
    ns: &'a str,
    names: &'a ClusterNames,
    views: &'a Views,
    /// Set when Kafka answered this pass.
    admin: Option<&'a AdminClient>,
    /// Eligible Leader Replicas are on (expected from the Kafka version).
    elr: bool,
}

impl Executor<'_> {
    /// Restarts a node: aligns a broker's dynamic overrides with the file it restarts with,
    /// records the manual request and canary on its ConfigMap, then deletes the pod (this uid
    /// only); the pipeline recreates it with the new configuration.
    async fn restart(&self, id: i32, t: &Target, canary: bool) -> Result<()> {
        if let (Some(client), Role::Broker) = (self.admin, t.role) {
            let ops = self.per_broker(view::override_sync(t.running_dynamic.as_ref(), &t.dynamic));
            if !ops.is_empty()
                && let Err(e) = client
                    .incremental_alter_configs(&ConfigResource::Broker(id), &ops)
                    .await
            {
                warn!(broker = id, error = %e, "could not align dynamic overrides before the restart");
            }
        }
        let mut notes = serde_json::Map::new();
        if let (Some(request), Some(uid)) = (&t.manual, &t.uid) {
            notes.insert(
                annotations::RESTARTED_FOR.into(),
                json!(format!("{request}@{uid}")),
            );
        }
        if canary {
            notes.insert(annotations::CANARY.into(), json!(self.views.change));
        }
        if let (Some(request), Some(uid)) = (&t.replace, &t.uid) {
            notes.insert(
                annotations::REPLACED_FOR.into(),
                json!(format!("{request}@{uid}")),
            );
        }
        if !notes.is_empty() {
            self.annotate_config_map(&t.pod, notes).await?;
        }
        if t.replace.is_some() {
            // The claim goes first: it stays (terminating) until the pod is gone, and the
            // pipeline recreates neither while it does (`sync::ensure_pod`).
            let claim = self.names.pvc(t.role, id);
            delete_claim(self.ctx, self.ns, &claim).await?;
            let note = format!("replacing {}: its volume {claim} is discarded", t.pod);
            self.event(t, EventType::Normal, EventReason::Replaced, &note)
                .await;
        }
        self.delete_pod(t).await?;
        info!(pod = %t.pod, reason = %t.restart_reason, "restarting node");
        self.ctx.metrics.roll_action("restart", t.role.as_str());
        let note = format!("restarting {} ({})", t.pod, t.restart_reason);
        self.event(t, EventType::Normal, EventReason::Restarting, &note)
            .await;
        if gates_skipped(self.cr) {
            let note = format!(
                "restarted {} without Kafka's safety gates ({}=true)",
                t.pod,
                annotations::SKIP_KAFKA_GATES
            );
            self.event(t, EventType::Warning, EventReason::GatesSkipped, &note)
                .await;
        }
        Ok(())
    }

    async fn delete_pod(&self, t: &Target) -> Result<()> {
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), self.ns);
        let params = DeleteParams {
            preconditions: t.uid.clone().map(|uid| Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..Default::default()
        };
        match pods.delete(&t.pod, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        // The next pass must not see this pod as running and restart it again.
        self.ctx
            .caches
            .await_pod(self.ns, &t.pod, |p| {
                p.is_none_or(|p| p.metadata.deletion_timestamp.is_some() || p.metadata.uid != t.uid)
            })
            .await;
        Ok(())
    }

    async fn annotate_config_map(
        &self,
        name: &str,
        notes: serde_json::Map<String, serde_json::Value>,
    ) -> Result<()> {
        let cms: Api<ConfigMap> = Api::namespaced(self.ctx.client.clone(), self.ns);
        let patch = json!({"metadata": {"annotations": notes}});
        cms.patch(name, &merge_params(), &Patch::Merge(&patch)).await?;
        self.ctx
            .caches
            .await_config_map(self.ns, name, |c| {
                c.is_some_and(|c| {
                    notes
                        .iter()
                        .all(|(k, v)| c.annotations().get(k).map(|x| json!(x)) == Some(v.clone()))
                })
            })
            .await;
        Ok(())
    }

    /// Applies dynamic broker keys live. On success the pod records the new hash (it runs the
    /// desired configuration now); on failure it is marked so the roll restarts it instead.
    async fn reconfigure(
        &self,
        id: i32,
        t: &Target,
        set: &BTreeMap<String, String>,
        canary: bool,
    ) -> Result<()> {
        let Some(client) = self.admin else {
            return Ok(());
        };
        let ops = self.per_broker(
            set.iter()
                .map(|(k, v)| AlterConfigOp::Set(k.clone(), dynamic::unescape(v)))
                .collect(),
        );
        let result = if ops.is_empty() {
            Ok(())
        } else {
            client
                .incremental_alter_configs(&ConfigResource::Broker(id), &ops)
                .await
        };
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), self.ns);
        let keys: Vec<&str> = set.keys().map(String::as_str).collect();
        match result {
            Ok(()) => {
                let patch = json!({"metadata": {"annotations": {
                    annotations::CONFIG_HASH: t.desired_hash,
                    annotations::STATIC_HASH: t.static_hash,
                    annotations::DYNAMIC_CONFIG: serde_json::to_string(&t.dynamic).unwrap_or_default(),
                }}});
                pods.patch(&t.pod, &merge_params(), &Patch::Merge(&patch)).await?;
                self.await_hash(t, &t.desired_hash).await;
                if canary {
                    let mut notes = serde_json::Map::new();
                    notes.insert(annotations::CANARY.into(), json!(self.views.change));
                    self.annotate_config_map(&t.pod, notes).await?;
                }
                info!(pod = %t.pod, ?keys, "applied dynamic configuration");
                self.ctx.metrics.roll_action("reconfigure", t.role.as_str());
                let note = format!("applied {} to broker {id} without a restart", keys.join(", "));
                self.event(t, EventType::Normal, EventReason::Reconfigured, &note)
                    .await;
            }
            Err(e) => {
                self.ctx
                    .metrics
                    .roll_action("reconfigure_failed", t.role.as_str());
                let patch =
                    json!({"metadata": {"annotations": {annotations::LIVE_UPDATE_FAILED: t.desired_hash}}});
                pods.patch(&t.pod, &merge_params(), &Patch::Merge(&patch)).await?;
                let note = format!("live update of broker {id} failed ({e}); it will be restarted instead");
                self.event(t, EventType::Warning, EventReason::ReconfigureFailed, &note)
                    .await;
            }
        }
        Ok(())
    }

    fn per_broker(&self, ops: Vec<AlterConfigOp>) -> Vec<AlterConfigOp> {
        durability::per_broker(ops, self.elr)
    }

    async fn await_hash(&self, t: &Target, hash: &str) {
        self.ctx
            .caches
            .await_pod(self.ns, &t.pod, |p| {
                p.and_then(|p| p.annotations().get(annotations::CONFIG_HASH))
                    .is_some_and(|h| h == hash)
            })
            .await;
    }

    async fn event(&self, t: &Target, type_: EventType, reason: EventReason, note: &str) {
        let pod = pod_ref(self.ns, &t.pod, t.uid.clone());
        self.ctx.pod_event(self.cr, pod, type_, reason, note).await;
    }
}
