//! Writing status: server-side apply on the status subresource, under the operator's field
//! manager, only when the computed status differs from the stored one.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::discovery::ApiResource;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::Context;
use super::events::EventReason;
use crate::FIELD_MANAGER;
use crate::crd::{KafkaCluster, KafkaClusterStatus};
use crate::error::{Error, Result};
use crate::status;

/// Condition times have second precision on the wire; rounding here keeps the computed status
/// equal to the stored one.
pub fn now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Writes `next` unless it equals what the KafkaCluster already carries; sets the cluster's gauges from `next` either way.
pub async fn publish(ctx: &Context, cr: &KafkaCluster, next: &KafkaClusterStatus) -> Result<()> {
    ctx.metrics
        .cluster_state(&cr.namespace().unwrap_or_default(), &cr.name_any(), next);
    if status::unchanged(cr.status.as_ref(), next) {
        return Ok(());
    }
    write(ctx, cr, next).await
}

/// Writes the status with server-side apply (status subresource, same field manager).
pub async fn write(ctx: &Context, cr: &KafkaCluster, status: &KafkaClusterStatus) -> Result<()> {
    apply_status(&ctx.client, cr, status).await
}

/// Server-side applies `status` to the status subresource of `object` (any of the operator's
/// namespaced custom resources).
pub async fn apply_status<K>(client: &kube::Client, object: &K, status: &impl serde::Serialize) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), &object.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &object.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// A resource that does not even deserialize: say so in its status (once) and wait for a change.
pub async fn report_unreadable(
    guard: &DeserializeGuard<KafkaCluster>,
    error: &str,
    ctx: &Context,
) -> Result<()> {
    let name = guard.name_any();
    let ns = guard
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let resource = ApiResource::erase::<KafkaCluster>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ns, &resource);
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
    let reference = raw.object_ref(&resource);
    ctx.publish(
        &reference,
        EventType::Warning,
        EventReason::InvalidSpec,
        &message,
        None,
    )
    .await;
    Ok(())
}
