//! The apply and prune stages: desired objects are applied in order, writing only what differs;
//! objects no longer desired are deleted. Pods are the exception to "apply what differs": a
//! running pod is never touched here, because a restart is a rollout decision.
//!
//! An object the API server refuses (admission webhooks, quotas, PodSecurity, a missing
//! PriorityClass or ServiceAccount, an immutable field such as a claim's size on a storage class
//! that cannot grow) does not stop the stage: the other objects are still applied (lost pods
//! still recreated), and the refusals are returned for the status and Events.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::ResourceExt;
use kube::runtime::events::EventType;
use tracing::{info, warn};

use super::Context;
use super::apply::{self, needs_apply, orphans};
use super::events::{EventReason, pod_ref};
use super::observe::Observed;
use crate::crd::KafkaCluster;
use crate::desired::Object;
use crate::error::{Error, Result};
use crate::names::{ClusterNames, Role};

/// An object the API server refused to apply, with the server's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub kind: &'static str,
    pub name: String,
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}: {}", self.kind, self.name, self.message)
    }
}

/// An API answer refusing `object` becomes a [`Refusal`]; other errors (the server unreachable)
/// stay errors, so the reconcile is retried with backoff.
fn refusal(object: &Object, result: Result<()>) -> Result<Option<Refusal>> {
    match result {
        Ok(()) => Ok(None),
        Err(Error::Kube(kube::Error::Api(e))) => Ok(Some(Refusal {
            kind: object.kind(),
            name: object.name().to_string(),
            message: format!("{} (HTTP {} {})", e.message, e.code, e.reason),
        })),
        Err(e) => Err(e),
    }
}

/// Applies the desired objects in order, writing only what differs. Returns what the API
/// server refused; the rest is applied regardless.
pub async fn apply_all(
    ctx: &Context,
    cr: &KafkaCluster,
    ns: &str,
    desired: &[Object],
    observed: &Observed,
) -> Result<Vec<Refusal>> {
    let mut refused = Vec::new();
    for object in desired {
        let result = match object {
            Object::Pod(p) => ensure_pod(ctx, cr, ns, object, p, observed).await,
            // A claim being deleted (a replace) is recreated once it is gone.
            Object::PersistentVolumeClaim(_) if claim_terminating(observed, object.name()) => Ok(()),
            _ => {
                let current = observed.counterpart(object);
                if stale_claim_owner(cr, object, observed) || needs_apply(object, current.as_ref())? {
                    apply::apply(&ctx.client, ns, object).await
                } else {
                    Ok(())
                }
            }
        };
        if let Some(r) = refusal(object, result)? {
            warn!(object = %format!("{}/{}", r.kind, r.name), message = %r.message, "the API server refused the object");
            refused.push(r);
        }
    }
    Ok(refused)
}

/// A claim must lose its owner reference as soon as deleteClaim is switched off, or deleting the
/// cluster would still delete the data. Containment cannot see a field that is wanted absent, so
/// this one is checked explicitly.
fn stale_claim_owner(cr: &KafkaCluster, object: &Object, observed: &Observed) -> bool {
    let Object::PersistentVolumeClaim(p) = object else {
        return false;
    };
    p.metadata.owner_references.is_none()
        && observed.pvc(object.name()).is_some_and(|c| {
            c.owner_references()
                .iter()
                .any(|o| Some(&o.uid) == cr.uid().as_ref())
        })
}

/// Pods are created when missing and replaced when they ended (evicted, or failed on a lost
/// node).
async fn ensure_pod(
    ctx: &Context,
    cr: &KafkaCluster,
    ns: &str,
    object: &Object,
    desired: &Pod,
    observed: &Observed,
) -> Result<()> {
    let name = desired.name_any();
    match observed.pod(&name) {
        // A replace deleted its claim: the pod waits for the new one, or it would start on
        // the old volume (or wait for ever for a claim that is going away).
        None if pod_claims(desired).any(|c| claim_terminating(observed, c)) => {
            info!(pod = %name, "waiting for the pod's claim to go before recreating it");
        }
        None => {
            apply::apply(&ctx.client, ns, object).await?;
            ctx.caches.await_pod(ns, &name, |p| p.is_some()).await;
            let (reason, note) = if claim_existed(cr, desired, observed) {
                (
                    EventReason::Recreated,
                    format!("recreated pod {name} with its existing volume"),
                )
            } else {
                (EventReason::Created, format!("created pod {name}"))
            };
            info!(pod = %name, reason = reason.as_str(), "pod applied");
            ctx.pod_event(cr, pod_ref(ns, &name, None), EventType::Normal, reason, &note)
                .await;
        }
        Some(pod) if pod.metadata.deletion_timestamp.is_none() && has_ended(pod) => {
            let resource = object.api_resource();
            apply::delete(&ctx.client, ns, &resource, &name).await?;
            let uid = pod.metadata.uid.clone();
            ctx.caches
                .await_pod(ns, &name, |p| {
                    p.is_none_or(|p| p.metadata.uid != uid || p.metadata.deletion_timestamp.is_some())
                })
                .await;
            let phase = pod
                .status
                .as_ref()
                .and_then(|s| s.reason.clone().or(s.phase.clone()))
                .unwrap_or_default();
            let note = format!("pod {name} ended ({phase}); replacing it");
            ctx.pod_event(
                cr,
                pod_ref(ns, &name, uid),
                EventType::Warning,
                EventReason::Replacing,
                &note,
            )
            .await;
        }
        Some(_) => {}
    }
    Ok(())
}

/// The claims a pod mounts.
fn pod_claims(pod: &Pod) -> impl Iterator<Item = &str> {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.as_str())
}

/// Whether the claim `name` exists and is being deleted.
fn claim_terminating(observed: &Observed, name: &str) -> bool {
    observed
        .pvc(name)
        .is_some_and(|c| c.metadata.deletion_timestamp.is_some())
}

/// Whether the pod being created finds a claim of an earlier pod of the same node.
fn claim_existed(cr: &KafkaCluster, desired: &Pod, observed: &Observed) -> bool {
    let name = desired.name_any();
    pod_claims(desired).next().is_some_and(|c| {
        observed
            .pvc(c)
            .is_some_and(|p| p.metadata.creation_timestamp.is_some())
    }) && cr
        .status
        .as_ref()
        .is_some_and(|s| s.nodes.iter().any(|n| n.pod == name))
}

fn has_ended(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Failed") | Some("Succeeded")
    )
}

/// Deletes objects of this cluster that are no longer desired, and the claims of removed nodes
/// (brokers proven empty, controllers no longer voters).
pub async fn prune(
    ctx: &Context,
    cr: &KafkaCluster,
    ns: &str,
    desired: &[Object],
    observed: &Observed,
    removable: &[(Role, &BTreeSet<i32>)],
) -> Result<()> {
    let uid = cr.uid();
    let candidates = observed.prunable();
    for (kind, name) in orphans(desired, &candidates, uid.as_deref()) {
        let Some(resource) = Object::api_resource_of(kind) else {
            continue;
        };
        apply::delete(&ctx.client, ns, &resource, name).await?;
        if kind == "Pod" {
            let note = format!("removed pod {name}");
            ctx.pod_event(
                cr,
                pod_ref(ns, name, None),
                EventType::Normal,
                EventReason::Removed,
                &note,
            )
            .await;
        }
    }
    let claims = kube::api::ApiResource::erase::<PersistentVolumeClaim>(&());
    let claims_of: Vec<(Role, i32)> = removable
        .iter()
        .flat_map(|(role, ids)| ids.iter().map(|id| (*role, *id)).collect::<Vec<_>>())
        .collect();
    for (role, id) in claims_of {
        let claim = ClusterNames::new(&cr.name_any(), ns, "").pvc(role, id);
        if observed.pvc(&claim).is_some() {
            apply::delete(&ctx.client, ns, &claims, &claim).await?;
        }
    }
    Ok(())
}
