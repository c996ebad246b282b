//! Tells each broker pod the addresses it advertises on its external listeners once they are
//! known (its node's address and node port, the load balancer's address): a merge patch of
//! the pod's annotation, which its start script waits for (see `crate::listeners`). The
//! decision is [`crate::listeners::plan`]; this only writes it.

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tracing::info;

use super::Context;
use crate::error::Result;
use crate::listeners::Plan;
use crate::{FIELD_MANAGER, annotations};

pub async fn annotate(ctx: &Context, ns: &str, plan: &Plan) -> Result<()> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    for (pod, value) in &plan.annotate {
        // A merge patch under its own manager, as the rack's: an apply of just this
        // annotation would drop every other field the operator's manager owns on the pod.
        let patch = json!({"metadata": {"annotations": {annotations::ADVERTISED_LISTENERS: value}}});
        let params = PatchParams {
            field_manager: Some(format!("{FIELD_MANAGER}-listeners")),
            ..Default::default()
        };
        api.patch(pod, &params, &Patch::Merge(&patch)).await?;
        info!(%pod, advertised = %value, "told the broker its external addresses");
        ctx.caches
            .await_pod(ns, pod, |p| {
                p.is_some_and(|p| p.annotations().get(annotations::ADVERTISED_LISTENERS) == Some(value))
            })
            .await;
    }
    Ok(())
}
