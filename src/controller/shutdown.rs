//! Ordered shutdown when a KafkaCluster is deleted: brokers first, controllers last.
//!
//! Without it the garbage collector deletes every pod at once. The controllers exit within
//! seconds, and the brokers, whose controlled shutdown needs the controller quorum, hang until
//! their grace period ends and they are killed (two minutes by default), leaving unclean logs on
//! the retained volumes to recover on the next start. So the operator keeps a finalizer on each
//! KafkaCluster; on deletion it deletes the broker pods, waits until they are gone (each shuts
//! down cleanly against live controllers), then removes the finalizer and lets the garbage
//! collector take the rest. The decision is a function of what exists, so a restarted operator
//! carries on where it stopped.
//!
//! `kubectl delete --cascade=orphan` is respected: nothing is deleted, the finalizer goes.
//! If the operator is uninstalled before its clusters, their deletion waits for the finalizer;
//! docs/operations.md gives the one-line patch that removes it.

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams};
use serde_json::json;
use tracing::info;

use crate::error::Result;
use crate::labels;
use crate::names::Role;

use crate::annotations::FINALIZER;

/// The garbage collector's marker of `--cascade=orphan`.
const ORPHAN_FINALIZER: &str = "orphan";

/// What deleting a KafkaCluster needs next (pure).
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Not ours to act on (no finalizer of ours).
    Nothing,
    /// Delete these broker pods, then look again.
    DeleteBrokers(Vec<String>),
    /// Brokers are terminating: look again.
    WaitForBrokers(usize),
    /// No broker left (or the user orphans the pods): remove the finalizer.
    Release,
}

/// `brokers`: the broker pods the deleted cluster owns, as (name, terminating).
pub fn next_step(meta: &ObjectMeta, brokers: &[(String, bool)]) -> Step {
    let finalizers = meta.finalizers.as_deref().unwrap_or_default();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        return Step::Nothing;
    }
    if finalizers.iter().any(|f| f == ORPHAN_FINALIZER) || brokers.is_empty() {
        return Step::Release;
    }
    let running: Vec<String> = brokers
        .iter()
        .filter(|(_, terminating)| !terminating)
        .map(|(name, _)| name.clone())
        .collect();
    if running.is_empty() {
        Step::WaitForBrokers(brokers.len())
    } else {
        Step::DeleteBrokers(running)
    }
}

/// True when the finalizer still has to be added (a live object without it).
pub fn needs_finalizer(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_none()
        && !meta
            .finalizers
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|f| f == FINALIZER)
}

/// A merge patch that sets the finalizer list to `to`. It carries the object's
/// resourceVersion, so the API server refuses it (409) if the object changed meanwhile and
/// another controller's finalizer is never lost; the next pass retries on fresh data.
pub(crate) fn finalizers_patch(meta: &ObjectMeta, to: &[String]) -> Patch<serde_json::Value> {
    Patch::Merge(json!({"metadata": {
        "finalizers": to,
        "resourceVersion": meta.resource_version,
    }}))
}

/// Adds the finalizer to a live KafkaCluster (one write in its lifetime).
pub async fn ensure_finalizer<K>(api: &Api<K>, name: &str, meta: &ObjectMeta) -> Result<()>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    if !needs_finalizer(meta) {
        return Ok(());
    }
    let mut to = meta.finalizers.clone().unwrap_or_default();
    to.push(FINALIZER.to_string());
    api.patch(name, &PatchParams::default(), &finalizers_patch(meta, &to))
        .await?;
    Ok(())
}

/// Advances the shutdown of a deleted KafkaCluster, given its pods as cached. Returns true once
/// the finalizer is gone.
pub async fn advance<K>(
    clusters: &Api<K>,
    pods: &Api<Pod>,
    cached: &[Pod],
    name: &str,
    meta: &ObjectMeta,
) -> Result<bool>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    // Only pods the deleted object still owns: orphaning (`--cascade=orphan`) removes the
    // owner references, whether or not its `orphan` finalizer is still there when we look.
    let owned = |p: &Pod| {
        p.metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| Some(&o.uid) == meta.uid.as_ref())
    };
    let is_broker =
        |p: &&Pod| p.labels().get(labels::ROLE).map(String::as_str) == Some(Role::Broker.as_str());
    let brokers: Vec<(String, bool)> = cached
        .iter()
        .filter(is_broker)
        .filter(|p| owned(p))
        .cloned()
        .filter_map(|p| Some((p.metadata.name?, p.metadata.deletion_timestamp.is_some())))
        .collect();
    match next_step(meta, &brokers) {
        Step::Nothing => Ok(true),
        Step::DeleteBrokers(names) => {
            for pod in &names {
                match pods.delete(pod, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
            info!(brokers = ?names, "cluster deleted: shutting the brokers down before the controllers");
            Ok(false)
        }
        Step::WaitForBrokers(n) => {
            info!(remaining = n, "waiting for the brokers to shut down");
            Ok(false)
        }
        Step::Release => {
            let to: Vec<String> = meta
                .finalizers
                .iter()
                .flatten()
                .filter(|f| *f != FINALIZER)
                .cloned()
                .collect();
            match clusters
                .patch(name, &PatchParams::default(), &finalizers_patch(meta, &to))
                .await
            {
                Ok(_) => {}
                // already gone
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
            info!("brokers are down; released the cluster to the garbage collector");
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn meta(finalizers: &[&str], deleted: bool) -> ObjectMeta {
        ObjectMeta {
            finalizers: Some(finalizers.iter().map(|f| f.to_string()).collect()),
            deletion_timestamp: deleted.then_some(Time(Timestamp::UNIX_EPOCH)),
            ..Default::default()
        }
    }

    fn pods(list: &[(&str, bool)]) -> Vec<(String, bool)> {
        list.iter().map(|(n, t)| (n.to_string(), *t)).collect()
    }

    #[test]
    fn brokers_go_first_then_the_finalizer() {
        let m = meta(&[FINALIZER], true);
        assert_eq!(
            next_step(&m, &pods(&[("c-broker-0", false), ("c-broker-1", true)])),
            Step::DeleteBrokers(vec!["c-broker-0".into()])
        );
        assert_eq!(
            next_step(&m, &pods(&[("c-broker-1", true)])),
            Step::WaitForBrokers(1)
        );
        assert_eq!(next_step(&m, &[]), Step::Release);
    }

    #[test]
    fn orphaning_deletes_nothing() {
        let m = meta(&["orphan", FINALIZER], true);
        assert_eq!(next_step(&m, &pods(&[("c-broker-0", false)])), Step::Release);
    }

    #[test]
    fn without_our_finalizer_nothing_is_done() {
        let m = meta(&["someone.else/finalizer"], true);
        assert_eq!(next_step(&m, &pods(&[("c-broker-0", false)])), Step::Nothing);
    }

    #[test]
    fn finalizer_is_added_once_and_never_to_a_deleted_object() {
        assert!(needs_finalizer(&meta(&[], false)));
        assert!(needs_finalizer(&meta(&["someone.else/finalizer"], false)));
        assert!(!needs_finalizer(&meta(&[FINALIZER], false)));
        assert!(!needs_finalizer(&meta(&[], true)));
    }

    #[test]
    fn finalizer_patch_is_conditional_on_the_resource_version() {
        let m = ObjectMeta {
            resource_version: Some("42".into()),
            ..meta(&["a"], false)
        };
        let Patch::Merge(v) = finalizers_patch(&m, &["a".into(), FINALIZER.into()]) else {
            panic!("merge patch")
        };
        assert_eq!(v["metadata"]["resourceVersion"], "42");
        assert_eq!(v["metadata"]["finalizers"], json!(["a", FINALIZER]));
    }
}
