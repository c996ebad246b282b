//! Server-side apply with one forced field manager, skipping objects that already match.
//!
//! A no-op reconcile must send no write at all, so before applying an object the desired JSON
//! is compared with the observed one: when every field the operator sets is already present with
//! the same value (quantities compared by amount, server defaults ignored), the apply would
//! change nothing and is skipped.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::Value;

use crate::FIELD_MANAGER;
use crate::desired::Object;
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

/// Whether applying `desired` over `observed` (as cached) would change anything. The cache keeps
/// a ConfigMap's data as digests ([`super::cache::digest_data`]), so the desired one is digested
/// the same way before comparing.
pub fn needs_apply(desired: &Object, observed: Option<&Value>) -> Result<bool> {
    let Some(observed) = observed else { return Ok(true) };
    let desired = match desired {
        Object::ConfigMap(cm) => {
            let mut digested = cm.clone();
            super::cache::digest_data(&mut digested);
            serde_json::to_value(Object::ConfigMap(digested))?
        }
        other => serde_json::to_value(other)?,
    };
    Ok(!contained(&desired, observed))
}

/// Applies a desired object with server-side apply, forced, under the operator's field
/// manager. One function for every kind: the object's own kind names its API.
pub async fn apply(client: &Client, namespace: &str, desired: &Object) -> Result<()> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &desired.api_resource());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(desired.name(), &params, &Patch::Apply(desired)).await?;
    Ok(())
}

/// Deletes an object of `kind` (as [`Object::api_resource_of`] knows it); one already gone is
/// not an error.
pub async fn delete(client: &Client, namespace: &str, resource: &ApiResource, name: &str) -> Result<()> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, resource);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The observed objects no desired object accounts for, as (kind, name). Objects being deleted
/// already, and objects this cluster does not control (no controller owner reference with its
/// uid), are left alone; claims are never pruned here (data goes only with the cluster, or with
/// a broker proven empty).
pub fn orphans<'a>(
    desired: &[Object],
    observed: &'a [(&'static str, &'a ObjectMeta)],
    owner_uid: Option<&str>,
) -> Vec<(&'static str, &'a str)> {
    let wanted: BTreeSet<(&str, &str)> = desired.iter().map(|o| (o.kind(), o.name())).collect();
    observed
        .iter()
        .filter(|(_, meta)| {
            meta.owner_references
                .iter()
                .flatten()
                .any(|o| Some(o.uid.as_str()) == owner_uid && o.controller == Some(true))
        })
        .filter(|(_, meta)| meta.deletion_timestamp.is_none())
        .filter_map(|(kind, meta)| Some((*kind, meta.name.as_deref()?)))
        .filter(|key| !wanted.contains(key))
        .collect()
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
    fn config_maps_compare_against_the_cached_digests() {
        let cm = |text: &str| k8s_openapi::api::core::v1::ConfigMap {
            metadata: ObjectMeta {
                name: Some("a".into()),
                ..Default::default()
            },
            data: Some([("server.properties".to_string(), text.to_string())].into()),
            ..Default::default()
        };
        let desired = Object::ConfigMap(cm("node.id=1\n"));
        assert!(needs_apply(&desired, None).unwrap(), "missing: apply");
        // What the cache holds: the same object, its data digested, server fields added.
        let mut cached = cm("node.id=1\n");
        super::super::cache::digest_data(&mut cached);
        cached.metadata.uid = Some("u".into());
        let cached = serde_json::to_value(&cached).unwrap();
        assert!(
            !needs_apply(&desired, Some(&cached)).unwrap(),
            "same data: no write"
        );
        let changed = Object::ConfigMap(cm("node.id=2\n"));
        assert!(needs_apply(&changed, Some(&cached)).unwrap(), "other data: apply");
    }

    fn meta(name: &str, owner: Option<&str>, deleting: bool) -> ObjectMeta {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
        ObjectMeta {
            name: Some(name.into()),
            owner_references: owner.map(|uid| {
                vec![OwnerReference {
                    uid: uid.into(),
                    controller: Some(true),
                    ..Default::default()
                }]
            }),
            deletion_timestamp: deleting.then_some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)),
            ..Default::default()
        }
    }

    #[test]
    fn orphans_are_owned_undesired_and_not_deleting() {
        let mut kept = k8s_openapi::api::core::v1::Service::default();
        kept.metadata.name = Some("kept".into());
        let desired = vec![Object::Service(kept)];
        let (a, b, c, d) = (
            meta("kept", Some("u"), false),
            meta("gone", Some("u"), false),
            meta("foreign", Some("other"), false),
            meta("leaving", Some("u"), true),
        );
        let observed = vec![("Service", &a), ("Service", &b), ("Service", &c), ("Pod", &d)];
        assert_eq!(orphans(&desired, &observed, Some("u")), vec![("Service", "gone")]);
    }
}
