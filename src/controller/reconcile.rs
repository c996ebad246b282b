//! One reconciliation: observe → validate → build → apply (ordered) → prune → status.
//! Every decision is a function of what is in the cluster, so the operator can be killed at
//! any point and the next reconcile carries on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Node, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{Span, field, info, instrument, warn};

use super::apply::{self, needs_apply};
use super::observe::{Observed, observe};
use super::scale::{self, ALLOW_UNSAFE_SCALE_DOWN, BrokerUsage};
use super::status::{self, Facts};
use super::{Context, kafka, roll, shutdown};
use crate::build::{self, Object};
use crate::crd::{KafkaCluster, KafkaClusterStatus};
use crate::error::{Error, Result};
use crate::names::Role;
use crate::placement::rack::{RACK_ANNOTATION, rack_of_node};
use crate::validate::{self, Existing};
use crate::{FIELD_MANAGER, cluster_id, labels};

const REQUEUE_STABLE: Duration = Duration::from_secs(300);
const REQUEUE_PROGRESSING: Duration = Duration::from_secs(15);

/// Entry point from the controller runtime.
#[instrument(skip_all, fields(cluster = %guard.name_any(), namespace = guard.namespace().unwrap_or_default(), outcome = field::Empty))]
pub async fn reconcile(guard: Arc<DeserializeGuard<KafkaCluster>>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.measure();
    let result = if guard.meta().deletion_timestamp.is_some() {
        shut_down(&guard, &ctx).await
    } else {
        match &guard.0 {
            Ok(cr) => reconcile_cluster(cr, &ctx).await,
            Err(invalid) => report_unreadable(&guard, &invalid.error, &ctx)
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

/// A deleted KafkaCluster: brokers shut down before the controllers (see `shutdown`).
async fn shut_down(guard: &DeserializeGuard<KafkaCluster>, ctx: &Context) -> Result<Action> {
    let namespace = guard
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let clusters: Api<DeserializeGuard<KafkaCluster>> = Api::namespaced(ctx.client.clone(), &namespace);
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let released = shutdown::advance(&clusters, &pods, &guard.name_any(), guard.meta()).await?;
    // Broker pods going away are watched events; the requeue is a safety net.
    Ok(if released {
        Action::await_change()
    } else {
        Action::requeue(Duration::from_secs(5))
    })
}

/// Backoff for transient errors; invalid specs never reach here (they are a status, not an error).
pub fn error_policy(guard: Arc<DeserializeGuard<KafkaCluster>>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failure(error.kind());
    let delay = ctx.next_backoff(&guard.name_any(), guard.namespace().as_deref());
    warn!(cluster = %guard.name_any(), error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

async fn reconcile_cluster(cr: &KafkaCluster, ctx: &Context) -> Result<Action> {
    let client = &ctx.client;
    let name = cr.name_any();
    let namespace = cr
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), &namespace);
    shutdown::ensure_finalizer(&clusters, &name, &cr.metadata).await?;
    let observed = observe(client, &namespace, &name).await?;

    // The cluster id is chosen once and recorded in status before anything uses it, so a crash
    // between here and the first pod can never lead to two ids. Retained claims of an earlier
    // cluster of the same name carry theirs; adopting it keeps their data readable.
    let cluster_id = match cr.status.as_ref().and_then(|s| s.cluster_id.clone()) {
        Some(id) => id,
        None => {
            let id = adopted_cluster_id(&observed).unwrap_or_else(cluster_id::generate);
            let mut st = cr.status.clone().unwrap_or_default();
            st.cluster_id = Some(id.clone());
            write_status(ctx, cr, &st).await?;
            info!(cluster_id = %id, "chose the KRaft cluster id");
            id
        }
    };

    // Scale-down is decided before validation so retained brokers keep their objects.
    let existing_brokers = existing_ids(&observed, Role::Broker);
    let surplus = scale::surplus(&existing_brokers, cr.spec.brokers.replicas);
    let allow_unsafe = cr.annotations().get(ALLOW_UNSAFE_SCALE_DOWN).map(String::as_str) == Some("true");
    let bootstrap = bootstrap_address(cr, &namespace, &ctx.options.cluster_domain);
    let usage = if surplus.is_empty() || allow_unsafe {
        BTreeMap::new()
    } else {
        kafka::broker_usage(&bootstrap, &surplus).await
    };
    let plan = scale::plan(&surplus, allow_unsafe, |id| {
        usage
            .get(&id)
            .cloned()
            .unwrap_or_else(|| BrokerUsage::Unknown("not asked".into()))
    });

    let node_list = if uses_node_labels(cr) {
        list_nodes(client).await?
    } else {
        Vec::new()
    };
    let nodes = node_list.iter().map(|n| n.labels().clone()).collect();
    let existing = Existing {
        pods: observed.pods.clone(),
        pvcs: observed.pvcs.clone(),
        retained_broker_ids: plan.retained.clone(),
        nodes,
    };
    let cluster = match validate::validate(cr, &existing, &cluster_id, &ctx.options) {
        Ok(c) => c,
        Err(invalid) => {
            let message = invalid.to_string();
            let previous = cr.status.as_ref();
            let already_reported = previous
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == status::READY))
                .is_some_and(|c| c.reason == "InvalidSpec" && c.message == message);
            let next = status::invalid(&message, cr.metadata.generation, previous, now());
            if !status::unchanged(previous, &next) {
                write_status(ctx, cr, &next).await?;
            }
            if !already_reported {
                ctx.event(cr, EventType::Warning, "InvalidSpec", "Validate", &message)
                    .await;
            }
            warn!(%message, "refusing the spec; nothing applied");
            return Ok(Action::await_change());
        }
    };

    let owner = cr
        .controller_owner_ref(&())
        .ok_or(Error::MissingObjectKey("metadata.uid"))?;
    let desired = build::desired_objects(&cluster, Some(&owner));
    let mut hashes = BTreeMap::new();
    for object in &desired {
        if let Object::Pod(p) = object
            && let Some(h) = p.annotations().get(labels::CONFIG_HASH)
        {
            hashes.insert(p.name_any(), h.clone());
        }
    }

    apply_all(ctx, cr, &namespace, &desired, &observed).await?;
    prune(ctx, cr, &namespace, &desired, &observed, &plan.removable).await?;
    if !plan.removable.is_empty() {
        kafka::unregister(&bootstrap, &plan.removable).await;
        let ids: Vec<String> = plan.removable.iter().map(ToString::to_string).collect();
        let note = format!(
            "removed brokers {} (scale-down to {})",
            ids.join(", "),
            cr.spec.brokers.replicas
        );
        ctx.event(cr, EventType::Normal, "ScaledDown", "Scale", &note)
            .await;
    }

    let desired_pods: Vec<&Pod> = desired
        .iter()
        .filter_map(|o| match o {
            Object::Pod(p) => Some(p),
            _ => None,
        })
        .collect();
    let roll = roll::advance(ctx, cr, &cluster, &desired_pods, &observed.pods).await?;

    // Status from a fresh look at the pods, so it reflects what this pass created.
    let pods = if desired.iter().any(|o| matches!(o, Object::Pod(_))) {
        observe(client, &namespace, &name).await?.pods
    } else {
        observed.pods
    };
    if let Some(key) = &cluster.rack_topology_key {
        assign_racks(ctx, cr, &namespace, &pods, &node_list, key).await?;
    }
    let node_labels: BTreeMap<String, BTreeMap<String, String>> = node_list
        .iter()
        .map(|n| (n.name_any(), n.labels().clone()))
        .collect();
    let facts = Facts {
        placement_violations: status::placement_violations(&cluster, &pods, &node_labels),
        desired_hashes: hashes,
        scale_down_blocked: plan.blocked_reason.clone(),
    };
    let mut next = status::compute(&cluster, &pods, &facts, cr.status.as_ref(), now());
    roll::into_status(&roll, &mut next, cr.status.as_ref(), now());
    let was_blocked = cr.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == status::PROGRESSING && c.reason == "ScaleDownBlocked")
    });
    if let Some(reason) = &plan.blocked_reason
        && !was_blocked
    {
        ctx.event(cr, EventType::Warning, "ScaleDownBlocked", "Scale", reason)
            .await;
    }
    let progressing = next
        .conditions
        .iter()
        .any(|c| c.type_ == status::PROGRESSING && c.status == "True");
    if !status::unchanged(cr.status.as_ref(), &next) {
        write_status(ctx, cr, &next).await?;
    }
    // The roll knows best how soon to look again (Kafka's recovery raises no event; backoff
    // past a timeout); otherwise the generic cadence. Watched objects trigger passes anyway.
    let generic = if progressing {
        REQUEUE_PROGRESSING
    } else {
        REQUEUE_STABLE
    };
    let by_roll = roll.decision.as_ref().and_then(crate::roll::plan::requeue_after);
    Ok(Action::requeue(by_roll.unwrap_or(generic)))
}

/// The bootstrap Service's address on the inter-broker listener, computed from the spec alone
/// (validation has not run yet when scale-down is decided).
fn bootstrap_address(cr: &KafkaCluster, namespace: &str, domain: &str) -> String {
    let names = crate::names::ClusterNames::new(&cr.name_any(), namespace, domain);
    let wanted = cr.spec.inter_broker_listener.as_deref();
    let port = cr
        .spec
        .listeners
        .iter()
        .find(|l| Some(l.name.as_str()) == wanted)
        .or_else(|| cr.spec.listeners.first())
        .map(|l| l.port)
        .unwrap_or(9092);
    format!("{}:{port}", names.bootstrap_fqdn())
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

async fn list_nodes(client: &kube::Client) -> Result<Vec<Node>> {
    Ok(Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items)
}

/// Tells each bound broker pod its rack: the pod's start script waits for this annotation
/// (through a downward API volume) and appends `broker.rack`. Kafka pods need no API access.
async fn assign_racks(
    ctx: &Context,
    cr: &KafkaCluster,
    ns: &str,
    pods: &[Pod],
    nodes: &[Node],
    key: &str,
) -> Result<()> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    for pod in pods {
        let is_broker = pod.labels().get(labels::ROLE).map(String::as_str) == Some(Role::Broker.as_str());
        let Some(node_name) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
            continue;
        };
        if !is_broker
            || pod.annotations().contains_key(RACK_ANNOTATION)
            || pod.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        let labels = nodes
            .iter()
            .find(|n| n.name_any() == node_name)
            .map(|n| n.labels().clone())
            .unwrap_or_default();
        match rack_of_node(&labels, key) {
            Some(rack) => {
                // A merge patch under its own manager: an apply of just this annotation would
                // drop every other field the operator's manager owns on the pod.
                let patch = json!({"metadata": {"annotations": {RACK_ANNOTATION: rack}}});
                let params = PatchParams {
                    field_manager: Some(format!("{FIELD_MANAGER}-rack")),
                    ..Default::default()
                };
                api.patch(&pod.name_any(), &params, &Patch::Merge(&patch)).await?;
            }
            None => {
                let note = format!(
                    "node {node_name} of pod {} has no label {key}; broker.rack cannot be set",
                    pod.name_any()
                );
                ctx.event(cr, EventType::Warning, "RackUnknown", "AssignRack", &note)
                    .await;
            }
        }
    }
    Ok(())
}

fn now() -> Timestamp {
    // Condition times have second precision on the wire; rounding here keeps the computed
    // status equal to the stored one.
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn existing_ids(observed: &Observed, role: Role) -> BTreeSet<i32> {
    validate::existing_ids(
        &Existing {
            pods: observed.pods.clone(),
            pvcs: observed.pvcs.clone(),
            ..Default::default()
        },
        role,
    )
}

fn adopted_cluster_id(observed: &Observed) -> Option<String> {
    observed
        .pvcs
        .iter()
        .filter_map(|p| p.annotations().get(labels::CLUSTER_ID))
        .find(|id| cluster_id::is_valid(id))
        .cloned()
}

fn find<'a, K: Resource>(items: &'a [K], name: &str) -> Option<&'a K> {
    items.iter().find(|o| o.meta().name.as_deref() == Some(name))
}

/// Applies the desired objects in order, writing only what differs.
async fn apply_all(
    ctx: &Context,
    cr: &KafkaCluster,
    ns: &str,
    desired: &[Object],
    observed: &Observed,
) -> Result<()> {
    let client = &ctx.client;
    for object in desired {
        match object {
            Object::Service(s) => {
                if needs_apply(s, find(&observed.services, object.name()))? {
                    apply::apply(client, ns, s).await?;
                }
            }
            Object::ConfigMap(c) => {
                if needs_apply(c, find(&observed.config_maps, object.name()))? {
                    apply::apply(client, ns, c).await?;
                }
            }
            Object::PersistentVolumeClaim(p) => {
                let current = find(&observed.pvcs, object.name());
                // A claim must lose its owner reference as soon as deleteClaim is switched off,
                // or deleting the cluster would still delete the data. Containment cannot see a
                // field that is wanted absent, so this one is checked explicitly.
                let stale_owner = p.metadata.owner_references.is_none()
                    && current.is_some_and(|c| {
                        c.owner_references()
                            .iter()
                            .any(|o| Some(&o.uid) == cr.uid().as_ref())
                    });
                if stale_owner || needs_apply(p, current)? {
                    apply::apply(client, ns, p).await?;
                }
            }
            Object::PodDisruptionBudget(p) => {
                if needs_apply(p, find(&observed.pdbs, object.name()))? {
                    apply::apply(client, ns, p).await?;
                }
            }
            Object::Pod(p) => ensure_pod(ctx, cr, ns, p, observed).await?,
        }
    }
    Ok(())
}

/// Pods are created when missing and replaced when they ended (evicted, or failed on a lost
/// node); a running pod is never touched here, because a restart is a rollout decision.
async fn ensure_pod(
    ctx: &Context,
    cr: &KafkaCluster,
    ns: &str,
    desired: &Pod,
    observed: &Observed,
) -> Result<()> {
    let name = desired.name_any();
    match find(&observed.pods, &name) {
        None => {
            let claim_existed = desired
                .spec
                .as_ref()
                .and_then(|s| s.volumes.as_ref())
                .and_then(|vs| vs.iter().find_map(|v| v.persistent_volume_claim.as_ref()))
                .is_some_and(|c| {
                    find(&observed.pvcs, &c.claim_name)
                        .is_some_and(|p| p.metadata.creation_timestamp.is_some())
                })
                && cr
                    .status
                    .as_ref()
                    .is_some_and(|s| s.nodes.iter().any(|n| n.pod == name));
            apply::apply(&ctx.client, ns, desired).await?;
            let (reason, note) = if claim_existed {
                (
                    "Recreated",
                    format!("recreated pod {name} with its existing volume"),
                )
            } else {
                ("Created", format!("created pod {name}"))
            };
            info!(pod = %name, reason, "pod applied");
            ctx.pod_event(cr, &name, EventType::Normal, reason, "CreatePod", &note)
                .await;
        }
        Some(pod) if pod.metadata.deletion_timestamp.is_none() && has_ended(pod) => {
            apply::delete::<Pod>(&ctx.client, ns, &name).await?;
            let phase = pod
                .status
                .as_ref()
                .and_then(|s| s.reason.clone().or(s.phase.clone()))
                .unwrap_or_default();
            ctx.pod_event(
                cr,
                &name,
                EventType::Warning,
                "Replacing",
                "DeletePod",
                &format!("pod {name} ended ({phase}); replacing it"),
            )
            .await;
        }
        Some(_) => {}
    }
    Ok(())
}

fn has_ended(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Failed") | Some("Succeeded")
    )
}

/// Deletes objects of this cluster that are no longer desired. Claims are never pruned here:
/// data goes only with the cluster (deleteClaim) or with a broker proven empty.
async fn prune(
    ctx: &Context,
    cr: &KafkaCluster,
    ns: &str,
    desired: &[Object],
    observed: &Observed,
    removable_brokers: &BTreeSet<i32>,
) -> Result<()> {
    let client = &ctx.client;
    let wanted: BTreeSet<(&str, &str)> = desired.iter().map(|o| (o.kind(), o.name())).collect();
    let uid = cr.uid();
    let ours = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        meta.owner_references
            .iter()
            .flatten()
            .any(|o| Some(&o.uid) == uid.as_ref() && o.controller == Some(true))
    };
    for s in observed.services.iter().filter(|o| ours(&o.metadata)) {
        if !wanted.contains(&("Service", s.name_any().as_str())) {
            apply::delete::<Service>(client, ns, &s.name_any()).await?;
        }
    }
    for c in observed.config_maps.iter().filter(|o| ours(&o.metadata)) {
        if !wanted.contains(&("ConfigMap", c.name_any().as_str())) {
            apply::delete::<ConfigMap>(client, ns, &c.name_any()).await?;
        }
    }
    for p in observed.pdbs.iter().filter(|o| ours(&o.metadata)) {
        if !wanted.contains(&("PodDisruptionBudget", p.name_any().as_str())) {
            apply::delete::<PodDisruptionBudget>(client, ns, &p.name_any()).await?;
        }
    }
    for p in observed.pods.iter().filter(|o| ours(&o.metadata)) {
        let name = p.name_any();
        if wanted.contains(&("Pod", name.as_str())) || p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        apply::delete::<Pod>(client, ns, &name).await?;
        ctx.pod_event(
            cr,
            &name,
            EventType::Normal,
            "Removed",
            "DeletePod",
            &format!("removed pod {name}"),
        )
        .await;
    }
    for id in removable_brokers {
        let claim = format!("data-{}-broker-{id}", cr.name_any());
        if find(&observed.pvcs, &claim).is_some() {
            apply::delete::<PersistentVolumeClaim>(client, ns, &claim).await?;
        }
    }
    Ok(())
}

/// Writes the status with server-side apply (status subresource, same field manager).
async fn write_status(ctx: &Context, cr: &KafkaCluster, status: &KafkaClusterStatus) -> Result<()> {
    let api: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), &cr.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": KafkaCluster::api_version(&()),
        "kind": KafkaCluster::kind(&()),
        "status": status,
    });
    api.patch_status(
        &cr.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// A resource that does not even deserialize: say so in its status (once) and wait for a change.
async fn report_unreadable(guard: &DeserializeGuard<KafkaCluster>, error: &str, ctx: &Context) -> Result<()> {
    let name = guard.name_any();
    let ns = guard
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let api: Api<DynamicObject> = Api::namespaced_with(
        ctx.client.clone(),
        &ns,
        &kube::discovery::ApiResource::erase::<KafkaCluster>(&()),
    );
    let raw = api.get(&name).await?;
    let previous: Vec<Condition> = raw
        .data
        .get("status")
        .and_then(|s| s.get("conditions"))
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default();
    let message = format!("the resource cannot be read: {error}");
    let prev_status = KafkaClusterStatus {
        conditions: previous.clone(),
        ..Default::default()
    };
    let next = status::invalid(&message, raw.metadata.generation, Some(&prev_status), now());
    if next.conditions == previous {
        return Ok(());
    }
    let patch = json!({
        "apiVersion": KafkaCluster::api_version(&()),
        "kind": KafkaCluster::kind(&()),
        "status": { "conditions": next.conditions, "observedGeneration": raw.metadata.generation },
    });
    api.patch_status(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    let reference = raw.object_ref(&kube::discovery::ApiResource::erase::<KafkaCluster>(&()));
    ctx.event_ref(
        &reference,
        EventType::Warning,
        "InvalidSpec",
        "Validate",
        &message,
        None,
    )
    .await;
    Ok(())
}

impl Context {
    async fn event(&self, cr: &KafkaCluster, type_: EventType, reason: &str, action: &str, note: &str) {
        self.event_ref(&cr.object_ref(&()), type_, reason, action, note, None)
            .await;
    }

    /// An Event on the KafkaCluster about one of its pods.
    async fn pod_event(
        &self,
        cr: &KafkaCluster,
        pod: &str,
        type_: EventType,
        reason: &str,
        action: &str,
        note: &str,
    ) {
        let related = super::pod_ref(&cr.namespace().unwrap_or_default(), pod, None);
        self.event_ref(&cr.object_ref(&()), type_, reason, action, note, Some(related))
            .await;
    }

    async fn event_ref(
        &self,
        reference: &k8s_openapi::api::core::v1::ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: &str,
        related: Option<k8s_openapi::api::core::v1::ObjectReference>,
    ) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note.chars().take(1000).collect()),
            action: action.into(),
            secondary: related,
        };
        // An event that cannot be published must not fail the reconcile.
        if let Err(e) = self.recorder.publish(&event, reference).await {
            warn!(error = %e, reason, "could not publish event");
        }
    }
}
