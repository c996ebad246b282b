//! Leader election: of the operator's replicas, only the one holding the Lease
//! `kraftwerk-operator` (coordination.k8s.io/v1, in the operator's namespace) acts; the others
//! stand by, ready, and take over when it stops renewing. See docs/architecture.md, "High
//! availability".
//!
//! - [`decide`]: the pure rules (acquire, renew, wait, lost), on this replica's own clock.
//! - `elector`: the loops that read and write the Lease, with `resourceVersion` preconditions.
//! - `watchdog`: the renew deadline, and a thread that ends the process when it passes, whatever
//!   the runtime is doing.
//! - `fence`: the controllers' client refuses every request unless the deadline is in force.
//!
//! A leader that cannot renew within the renew deadline (8 s) exits with status
//! [`EXIT_LEASE_LOST`] before any standby may take over (10 s after it last saw a renewal); the
//! Deployment restarts it as a standby. On SIGTERM the leader finishes its work and releases the
//! Lease, so a standby takes over at its next look (within 2 s).

pub mod decide;
mod elector;
mod fence;
mod store;
mod watchdog;

#[cfg(test)]
mod elector_tests;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures::FutureExt;
use kube::Client;

use crate::http::Health;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::{error, info, warn};

pub use decide::{Lost, Timing};

use crate::error::Result;
use crate::metrics::Metrics;
use watchdog::Deadline;

/// The Lease's name.
pub const LEASE_NAME: &str = "kraftwerk-operator";
/// The Lease's namespace when neither a flag nor the pod says otherwise (a local `kraftwerk run`).
pub const DEFAULT_NAMESPACE: &str = "kraftwerk-system";
/// The exit status of a leader that lost its lease.
pub const EXIT_LEASE_LOST: i32 = 3;

const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// Which Lease, and who this replica is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub timing: Timing,
}

impl LeaseConfig {
    /// The namespace is `namespace` (the flag), else `POD_NAMESPACE`, else the service account's
    /// namespace in a pod, else [`DEFAULT_NAMESPACE`]; the identity is `identity` (`POD_NAME`),
    /// else the host name with a random suffix.
    pub fn new(namespace: Option<String>, name: String, identity: Option<String>) -> Self {
        let namespace = non_empty(namespace)
            .or_else(|| non_empty(std::env::var("POD_NAMESPACE").ok()))
            .or_else(|| non_empty(std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE).ok()))
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
        Self {
            namespace,
            name,
            identity: non_empty(identity).unwrap_or_else(|| fallback_identity(&hostname())),
            timing: Timing::default(),
        }
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn hostname() -> String {
    non_empty(std::env::var("HOSTNAME").ok())
        .or_else(|| non_empty(std::fs::read_to_string(Path::new("/proc/sys/kernel/hostname")).ok()))
        .unwrap_or_else(|| "kraftwerk".to_string())
}

/// `host-1a2b3c4d`: unique even for two processes on one host.
fn fallback_identity(host: &str) -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}", &suffix[..8])
}

/// Runs `work` (the controllers) on `client` once this replica holds the lease, renewing it
/// meanwhile, then releases it. Until then this replica stands by: ready, sending no request but
/// reads of the Lease; SIGTERM or SIGINT while standing by returns `Ok` at once. The client
/// `work` gets refuses every request unless the renew deadline is in force, and a leader that
/// loses the lease ends the process (status [`EXIT_LEASE_LOST`]) without waiting for `work`.
pub async fn lead<W, F>(
    config: LeaseConfig,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    client: Client,
    work: W,
) -> Result<()>
where
    W: FnOnce(Client) -> F,
    F: Future<Output = Result<()>>,
{
    let store = store::KubeLease::new(
        store::lease_client(metrics.clone()).await?,
        &config.namespace,
        &config.name,
    );
    let (me, timing) = (config.identity.clone(), config.timing);
    let lease = format!("{}/{}", config.namespace, config.name);
    let deadline = Deadline::closed();
    let work = work(fence::fenced(client, deadline.clone()));
    metrics.is_leader.set(0);
    // A standby is ready: it is healthy, and a rolling update must be able to count on it.
    health.standby.store(true, Ordering::Relaxed);
    info!(identity = %me, %lease, "standing by until this replica holds the lease");
    let mut terminate = signal(SignalKind::terminate())?;
    let waited = Instant::now();
    let held = tokio::select! {
        held = elector::acquire(&store, &me, &timing) => held?,
        _ = terminate.recv() => return Ok(()),
        _ = tokio::signal::ctrl_c() => return Ok(()),
    };
    deadline.arm(held.renewed_at + timing.renew_deadline);
    watchdog::spawn(deadline.clone(), || stop_acting(&Lost::DeadlinePassed))?;
    // From here the controllers say when they are ready (their caches synced) and alive.
    health.standby.store(false, Ordering::Relaxed);
    metrics.is_leader.set(1);
    info!(identity = %me, %lease, waited_ms = waited.elapsed().as_millis(), "acquired the lease: leading");
    let (latest_tx, latest) = watch::channel(held.lease.clone());
    let renewer = {
        let (store, me, deadline) = (store.clone(), me.clone(), deadline.clone());
        tokio::spawn(async move {
            let why = elector::renew(&store, held, &me, &timing, &deadline, &latest_tx).await;
            stop_acting(&why);
        })
    };
    // A SIGTERM that came while the lease was being taken is not seen by the controllers' handler.
    let result = match terminate.recv().now_or_never() {
        Some(_) => Ok(()),
        None => work.await,
    };
    // Stopped acting: the deadline no longer matters, the renewals stop, the Lease is given up.
    deadline.close();
    renewer.abort();
    let _ = renewer.await;
    metrics.is_leader.set(0);
    let last = latest.borrow().clone();
    match elector::release(&store, last, &me).await {
        Ok(true) => info!(identity = %me, %lease, "released the lease"),
        Ok(false) => info!(identity = %me, %lease, "the lease had already passed on"),
        Err(e) => warn!(error = %e, %lease, "releasing the lease; a standby takes over when it expires"),
    }
    result
}

/// Ends the process: a replica that is not sure to hold the lease must not act a moment longer.
/// The watchdog thread and the renew loop may both get here; the first one exits.
fn stop_acting(why: &Lost) -> ! {
    static STOPPING: AtomicBool = AtomicBool::new(false);
    if STOPPING.swap(true, Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    error!(reason = %why, status = EXIT_LEASE_LOST, "lost the lease: stopping");
    std::process::exit(EXIT_LEASE_LOST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_identity_is_the_host_with_a_random_suffix() {
        let a = fallback_identity("node-1");
        let b = fallback_identity("node-1");
        assert!(a.starts_with("node-1-") && a.len() == "node-1-".len() + 8, "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn flags_win_and_blanks_do_not_count() {
        let c = LeaseConfig::new(Some("ops".into()), LEASE_NAME.into(), Some("pod-a".into()));
        assert_eq!((c.namespace.as_str(), c.identity.as_str()), ("ops", "pod-a"));
        let c = LeaseConfig::new(Some(" ".into()), LEASE_NAME.into(), Some(String::new()));
        assert!(!c.namespace.trim().is_empty());
        assert!(!c.identity.is_empty() && c.identity != " ");
    }
}
