//! The loops of leader election over a [`LeaseStore`]: wait for and take the lease, renew it,
//! give it up. Every decision is [`decide`]'s; these functions only do the I/O and the sleeping.

use std::time::Instant;

use k8s_openapi::api::coordination::v1::Lease;
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, timeout_at};
use tracing::{debug, warn};

use super::decide::{Decision, Lost, Observed, Timing, Tracker, decide};
use super::store::{self, LeaseStore};
use super::watchdog::Deadline;
use crate::error::{Error, Result};

/// Tokio's clock (so the tests can pause it), as the `std` instant [`decide`] takes.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// The lease as last written by its holder, and when that write was sent.
#[derive(Clone, Debug)]
pub struct Held {
    pub lease: Lease,
    pub renewed_at: Instant,
}

/// Waits until `me` holds the lease. Errors only when waiting cannot help: the Lease's namespace
/// does not exist, or the operator may not read or write Leases there.
pub async fn acquire<S: LeaseStore>(store: &S, me: &str, timing: &Timing) -> Result<Held> {
    let mut tracker = Tracker::default();
    loop {
        let current = match store.get().await {
            Ok(current) => current,
            Err(e) => {
                fatal(&e, false)?;
                warn!(error = %e, "reading the lease; retrying");
                sleep(timing.retry_period).await;
                continue;
            }
        };
        // Seen when the answer arrived, never earlier: the wait must not start before the write
        // it waits on was sent.
        let seen = now();
        let observed = store::observe(current.as_ref(), &mut tracker, seen);
        if let Decision::Wait(wait) = decide(observed.as_ref(), me, None, seen, timing) {
            sleep(wait).await;
            continue;
        }
        let lease = store::claimed(current.as_ref(), me, timing);
        let sent = now();
        let written = match &current {
            Some(_) => store.replace(&lease).await,
            None => store.create(&lease).await,
        };
        match written {
            Ok(lease) => {
                return Ok(Held {
                    lease,
                    renewed_at: sent,
                });
            }
            // another replica wrote first: look again at once
            Err(e) if store::is_conflict(&e) => debug!("another replica wrote the lease first"),
            Err(e) => {
                fatal(&e, current.is_none())?;
                warn!(error = %e, "taking the lease; retrying");
                sleep(timing.retry_period).await;
            }
        }
    }
}

/// Errors that retrying cannot fix: a missing namespace (404 when `creating`; on a replace it only
/// means the Lease was deleted meanwhile), missing RBAC (403).
pub(super) fn fatal(e: &Error, creating: bool) -> Result<()> {
    match store::status_code(e) {
        Some(404) if creating => Err(Error::Lease(format!(
            "the lease's namespace does not exist (create it, pass --lease-namespace, or \
             --leader-election=false): {e}"
        ))),
        Some(403) => Err(Error::Lease(format!(
            "not allowed to use the lease (RBAC: get, create, update on leases.coordination.k8s.io \
             in the lease's namespace): {e}"
        ))),
        _ => Ok(()),
    }
}

/// Renews the lease every retry period until it is lost, and says why. Each successful renewal
/// moves `deadline` on and is published on `latest` (for [`release`]). A renewal refused with 409
/// means another replica wrote: the lease is read again and [`decide`] says whether it is still
/// ours. Returns [`Lost::DeadlinePassed`] as soon as the renew deadline passes without success.
pub async fn renew<S: LeaseStore>(
    store: &S,
    held: Held,
    me: &str,
    timing: &Timing,
    deadline: &Deadline,
    latest: &watch::Sender<Lease>,
) -> Lost {
    let Held {
        lease,
        mut renewed_at,
    } = held;
    let mut current = Some(lease);
    let mut next = renewed_at + timing.retry_period;
    loop {
        sleep_until(next.into()).await;
        let sent = now();
        let observed = current
            .as_ref()
            .map(|l| Observed::new(store::holder(l), None, sent));
        let lease = match (
            decide(observed.as_ref(), me, Some(renewed_at), sent, timing),
            &current,
        ) {
            (Decision::Renew, Some(lease)) => lease,
            (Decision::Lost(why), _) => return why,
            // decide answers nothing else to a leader; stopping is the safe reading
            _ => return Lost::Deleted,
        };
        let give_up = (renewed_at + timing.renew_deadline).into();
        next = sent + timing.retry_period / 4;
        match timeout_at(give_up, store.replace(&store::renewed(lease))).await {
            Ok(Ok(lease)) => {
                renewed_at = sent;
                deadline.arm(sent + timing.renew_deadline);
                latest.send_replace(lease.clone());
                current = Some(lease);
                next = sent + timing.retry_period;
            }
            Ok(Err(e)) if store::is_conflict(&e) => {
                debug!("the lease changed under us; reading it");
                match timeout_at(give_up, store.get()).await {
                    Ok(Ok(fresh)) => {
                        current = fresh;
                        next = now();
                    }
                    Ok(Err(e)) => warn!(error = %e, "reading the lease; retrying"),
                    Err(_) => return Lost::DeadlinePassed,
                }
            }
            Ok(Err(e)) if store::status_code(&e) == Some(404) => current = None,
            Ok(Err(e)) => warn!(error = %e, "renewing the lease; retrying"),
            Err(_) => return Lost::DeadlinePassed,
        }
    }
}

/// Gives the lease up (no holder, one second), so a standby takes over at its next look. `false`
/// when it was no longer ours.
pub async fn release<S: LeaseStore>(store: &S, lease: Lease, me: &str) -> Result<bool> {
    let mut current = lease;
    for _ in 0..2 {
        match store.replace(&store::released(&current)).await {
            Ok(_) => return Ok(true),
            // a renewal we stopped waiting for may have landed: read the version it left
            Err(e) if store::is_conflict(&e) => match store.get().await? {
                Some(fresh) if store::holder(&fresh) == Some(me) => current = fresh,
                _ => return Ok(false),
            },
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}
