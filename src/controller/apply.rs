//! Server-side apply with one forced field manager, skipping objects that already match.
//!
//! A no-op reconcile must send no write at all, so before applying an object the desired JSON
//! is compared with the observed one: when every field the operator sets is already present with
//! the same value (quantities compared by amount, server defaults ignored), the apply would
//! change nothing and is skipped.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::FIELD_MANAGER;
use crate::error::Result;
use crate::quantity;

/// True when `desired` is contained in `observed`: every key of every object in `desired` is
/// present in `observed` with a contained value; lists must have the same length and be
/// contained element-wise (the server may add defaults inside elements, never elements).
pub fn contained(desired: &Value, observed: &Value) -> bool {
    match (desired, observed) {
        (Value::Object(d), Value::Object(o)) => d.iter().all(|(k, dv)| {
            o.get(k).is_some_and(|ov| contained(dv, ov)) || (dv.is_null() && !o.contains_key(k))
        }),
        (Value::Array(d), Value::Array(o)) => {
            d.len() == o.len() && d.iter().zip(o).all(|(a, b)| contained(a, b))
        }
        (Value::String(d), Value::String(o)) => d == o || (looks_like_quantity(d) && quantity::same(d, o)),
        (Value::Number(d), Value::String(o)) | (Value::String(o), Value::Number(d)) => d.to_string() == *o,
        (d, o) => d == o,
    }
}

fn looks_like_quantity(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_digit()) && quantity::parse(s).is_some()
}

/// Whether applying `desired` over `observed` would change anything.
pub fn needs_apply<K: Serialize>(desired: &K, observed: Option<&K>) -> Result<bool> {
    let Some(observed) = observed else { return Ok(true) };
    Ok(!contained(
        &serde_json::to_value(desired)?,
        &serde_json::to_value(observed)?,
    ))
}

/// Applies `desired` with server-side apply, forced, under the operator's field manager.
pub async fn apply<K>(client: &Client, namespace: &str, desired: &K) -> Result<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Serialize
        + DeserializeOwned
        + Clone
        + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let name = desired.meta().name.clone().unwrap_or_default();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    Ok(api.patch(&name, &params, &Patch::Apply(desired)).await?)
}

/// Creates `desired`; an object that appeared meanwhile is not an error.
pub async fn create<K>(client: &Client, namespace: &str, desired: &K) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Serialize
        + DeserializeOwned
        + Clone
        + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    match api.create(&params, desired).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Deletes an object; one already gone is not an error.
pub async fn delete<K>(client: &Client, namespace: &str, name: &str) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + DeserializeOwned + Clone + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn server_defaults_do_not_count_as_drift() {
        let desired = json!({"spec": {"ports": [{"name": "internal", "port": 9092}]}});
        let observed = json!({"spec": {"ports": [{"name": "internal", "port": 9092, "protocol": "TCP"}], "clusterIP": "10.0.0.1"}});
        assert!(contained(&desired, &observed));
    }

    #[test]
    fn changed_values_and_lists_are_drift() {
        let desired = json!({"spec": {"ports": [{"port": 9092}]}});
        assert!(!contained(
            &desired,
            &json!({"spec": {"ports": [{"port": 9093}]}})
        ));
        assert!(!contained(
            &desired,
            &json!({"spec": {"ports": [{"port": 9092}, {"port": 9094}]}})
        ));
        assert!(!contained(&desired, &json!({"spec": {}})));
    }

    #[test]
    fn quantities_compare_by_amount() {
        assert!(contained(&json!({"cpu": "1000m"}), &json!({"cpu": "1"})));
        assert!(!contained(&json!({"memory": "1Gi"}), &json!({"memory": "1G"})));
        // Names that merely start with a digit are compared as text.
        assert!(!contained(&json!({"name": "1a"}), &json!({"name": "1b"})));
    }

    #[test]
    fn missing_observed_object_needs_apply() {
        assert!(needs_apply(&json!({"a": 1}), None).unwrap());
        assert!(!needs_apply(&json!({"a": 1}), Some(&json!({"a": 1, "b": 2}))).unwrap());
    }
}
