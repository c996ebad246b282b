//! Tells each bound broker pod its rack: the pod's start script waits for the annotation
//! (through a downward API volume) and appends `broker.rack`. Kafka pods need no API access.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use serde_json::json;

use super::Context;
use super::events::EventReason;
use crate::crd::KafkaCluster;
use crate::error::Result;
use crate::names::Role;
use crate::placement::rack::rack_of_node;
use crate::{FIELD_MANAGER, annotations, labels};

/// What to do about one pod: nothing, annotate it with its rack, or report its node unlabelled.
#[derive(Debug, PartialEq, Eq)]
pub enum RackStep {
    Annotate { pod: String, rack: String },
    Unknown { pod: String, node: String, key: String },
}

/// Broker pods bound to a node that have no rack yet, and their rack (pure).
pub fn plan(pods: &[Pod], nodes: &BTreeMap<String, BTreeMap<String, String>>, key: &str) -> Vec<RackStep> {
    let empty = BTreeMap::new();
    pods.iter()
        .filter(|p| p.labels().get(labels::ROLE).map(String::as_str) == Some(Role::Broker.as_str()))
        .filter(|p| {
            !p.annotations().contains_key(annotations::RACK) && p.metadata.deletion_timestamp.is_none()
        })
        .filter_map(|p| {
            let node = p.spec.as_ref()?.node_name.clone()?;
            let labels = nodes.get(&node).unwrap_or(&empty);
            Some(match rack_of_node(labels, key) {
                Some(rack) => RackStep::Annotate {
                    pod: p.name_any(),
                    rack: rack.to_string(),
                },
                None => RackStep::Unknown {
                    pod: p.name_any(),
                    node,
                    key: key.to_string(),
                },
            })
        })
        .collect()
}

pub async fn assign(ctx: &Context, cr: &KafkaCluster, ns: &str, steps: Vec<RackStep>) -> Result<()> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    for step in steps {
        match step {
            RackStep::Annotate { pod, rack } => {
                // A merge patch under its own manager: an apply of just this annotation would
                // drop every other field the operator's manager owns on the pod.
                let patch = json!({"metadata": {"annotations": {annotations::RACK: rack}}});
                let params = PatchParams {
                    field_manager: Some(format!("{FIELD_MANAGER}-rack")),
                    ..Default::default()
                };
                api.patch(&pod, &params, &Patch::Merge(&patch)).await?;
                ctx.caches
                    .await_pod(ns, &pod, |p| {
                        p.is_some_and(|p| p.annotations().contains_key(annotations::RACK))
                    })
                    .await;
            }
            RackStep::Unknown { pod, node, key } => {
                let note = format!("node {node} of pod {pod} has no label {key}; broker.rack cannot be set");
                ctx.event(cr, EventType::Warning, EventReason::RackUnknown, &note)
                    .await;
            }
        }
    }
    Ok(())
}
