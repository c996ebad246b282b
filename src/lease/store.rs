//! The Lease object: where it is stored (the API server, or a fake in the tests) and the records
//! a replica writes into it. Every write carries the `resourceVersion` it was based on, so the API
//! server refuses it (409 Conflict) when another replica wrote in between.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::client::ClientBuilder;
use kube::{Client, Config};

use super::decide::{Observed, Timing, Tracker};
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// Reads and writes one Lease.
pub trait LeaseStore: Send + Sync {
    /// The Lease, `None` when it does not exist.
    fn get(&self) -> impl Future<Output = Result<Option<Lease>>> + Send;
    /// Creates it; 409 when it already exists.
    fn create(&self, lease: &Lease) -> impl Future<Output = Result<Lease>> + Send;
    /// Replaces it if its `resourceVersion` still is `lease`'s; 409 otherwise.
    fn replace(&self, lease: &Lease) -> impl Future<Output = Result<Lease>> + Send;
}

/// The Lease `namespace/name` on the API server.
#[derive(Clone)]
pub struct KubeLease {
    api: Api<Lease>,
    name: String,
}

impl KubeLease {
    pub fn new(client: Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
        }
    }
}

impl LeaseStore for KubeLease {
    async fn get(&self) -> Result<Option<Lease>> {
        Ok(self.api.get_opt(&self.name).await?)
    }

    async fn create(&self, lease: &Lease) -> Result<Lease> {
        let mut lease = lease.clone();
        lease.metadata.name = Some(self.name.clone());
        Ok(self.api.create(&PostParams::default(), &lease).await?)
    }

    async fn replace(&self, lease: &Lease) -> Result<Lease> {
        Ok(self
            .api
            .replace(&self.name, &PostParams::default(), lease)
            .await?)
    }
}

/// A client of its own for the Lease, every request counted in `kraftwerk_lease_requests_total`
/// (not in the controller's request counters), on connections the controller's watches and
/// writes never queue in front of.
pub async fn lease_client(metrics: Arc<Metrics>) -> Result<Client> {
    let config = Config::infer().await.map_err(|e| Error::Config(e.to_string()))?;
    let count = tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
        metrics.observe_lease_request(req.method(), req.uri());
        req
    });
    Ok(ClientBuilder::try_from(config)?.with_layer(&count).build())
}

/// The HTTP status of a refused request, if the API server answered one.
pub fn status_code(e: &Error) -> Option<u16> {
    match e {
        Error::Kube(kube::Error::Api(status)) => Some(status.code),
        _ => None,
    }
}

/// Another replica wrote first (the object exists, or its version moved on).
pub fn is_conflict(e: &Error) -> bool {
    status_code(e) == Some(409)
}

pub fn holder(lease: &Lease) -> Option<&str> {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        .filter(|h| !h.is_empty())
}

/// What the decision needs of `lease`, with the time this replica first saw its version.
pub fn observe(lease: Option<&Lease>, tracker: &mut Tracker, now: Instant) -> Option<Observed> {
    let Some(lease) = lease else {
        tracker.forget();
        return None;
    };
    let version = lease.metadata.resource_version.as_deref().unwrap_or_default();
    let seen_at = tracker.seen(version, now);
    let duration = lease.spec.as_ref().and_then(|s| s.lease_duration_seconds);
    Some(Observed::new(holder(lease), duration, seen_at))
}

fn now() -> Option<MicroTime> {
    Some(MicroTime(Timestamp::now()))
}

/// `current` (or a new Lease when there is none; the store names it) held by `me` from now on. A change of
/// holder counts a transition and sets `acquireTime`.
pub fn claimed(current: Option<&Lease>, me: &str, timing: &Timing) -> Lease {
    let mut lease = current.cloned().unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/name".to_string(),
                "kraftwerk".to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: None,
    });
    let before = lease.spec.take().unwrap_or_default();
    let was_mine = before.holder_identity.as_deref() == Some(me);
    let transitions = before.lease_transitions.unwrap_or(0);
    lease.spec = Some(LeaseSpec {
        holder_identity: Some(me.to_string()),
        lease_duration_seconds: Some(i32::try_from(timing.lease_duration.as_secs()).unwrap_or(i32::MAX)),
        acquire_time: if was_mine { before.acquire_time } else { now() },
        renew_time: now(),
        lease_transitions: Some(match (current, was_mine) {
            (Some(_), false) => transitions.saturating_add(1),
            _ => transitions,
        }),
        ..before
    });
    lease
}

/// `lease` renewed now.
pub fn renewed(lease: &Lease) -> Lease {
    let mut lease = lease.clone();
    lease.spec.get_or_insert_with(LeaseSpec::default).renew_time = now();
    lease
}

/// `lease` given up: no holder and a duration of one second, so a standby takes it at its next
/// look instead of waiting for it to expire.
pub fn released(lease: &Lease) -> Lease {
    let mut lease = lease.clone();
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = now();
    lease
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versioned(mut lease: Lease, version: &str) -> Lease {
        lease.metadata.resource_version = Some(version.into());
        lease
    }

    #[test]
    fn a_new_lease_names_its_holder_with_no_transition() {
        let lease = claimed(None, "a", &Timing::default());
        let spec = lease.spec.expect("spec");
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_duration_seconds, Some(10));
        assert_eq!(spec.lease_transitions, Some(0));
        assert!(spec.acquire_time.is_some() && spec.renew_time.is_some());
    }

    #[test]
    fn taking_over_counts_a_transition_and_keeps_the_version_for_the_precondition() {
        let timing = Timing::default();
        let a = versioned(claimed(None, "a", &timing), "7");
        let b = claimed(Some(&a), "b", &timing);
        assert_eq!(b.metadata.resource_version.as_deref(), Some("7"));
        let spec = b.spec.expect("spec");
        assert_eq!(spec.holder_identity.as_deref(), Some("b"));
        assert_eq!(spec.lease_transitions, Some(1));
        // the same holder again (a restarted container): no transition, same acquire time
        let again = claimed(Some(&a), "a", &timing);
        assert_eq!(again.spec.as_ref().and_then(|s| s.lease_transitions), Some(0));
        assert_eq!(
            again.spec.and_then(|s| s.acquire_time),
            a.spec.and_then(|s| s.acquire_time)
        );
    }

    #[test]
    fn a_released_lease_has_no_holder_and_a_one_second_duration() {
        let a = versioned(claimed(None, "a", &Timing::default()), "9");
        let r = released(&a);
        assert_eq!(holder(&r), None);
        assert_eq!(r.metadata.resource_version.as_deref(), Some("9"));
        assert_eq!(r.spec.and_then(|s| s.lease_duration_seconds), Some(1));
    }

    #[test]
    fn observing_tracks_the_first_sighting_of_each_version() {
        let t0 = Instant::now();
        let later = t0 + std::time::Duration::from_secs(3);
        let mut tracker = Tracker::default();
        let a = versioned(claimed(None, "a", &Timing::default()), "1");
        let first = observe(Some(&a), &mut tracker, t0).expect("observed");
        assert_eq!(first.holder.as_deref(), Some("a"));
        assert_eq!(
            observe(Some(&a), &mut tracker, later).map(|o| o.seen_at),
            Some(t0)
        );
        let renewed = versioned(renewed(&a), "2");
        assert_eq!(
            observe(Some(&renewed), &mut tracker, later).map(|o| o.seen_at),
            Some(later)
        );
        assert_eq!(observe(None, &mut tracker, later), None);
    }
}
