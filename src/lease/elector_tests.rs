//! The election loops against an in-memory Lease with `resourceVersion` preconditions, on
//! tokio's paused clock: takeover timing, a partitioned leader, a stolen lease, release, races.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::core::Status;
use tokio::sync::watch;
use tokio::time::Instant;

use super::decide::{Lost, Timing};
use super::elector::{Held, acquire, fatal, release, renew};
use super::store::{self, LeaseStore};
use super::watchdog::Deadline;
use crate::error::{Error, Result};

/// One Lease shared by every replica's client; a client can be cut off (its requests hang).
#[derive(Clone, Default)]
struct Fake {
    lease: Arc<Mutex<(Option<Lease>, u64)>>,
    cut_off: Arc<AtomicBool>,
}

fn api_error(code: u16) -> Error {
    Error::Kube(kube::Error::Api(Box::new(
        Status::failure("fake", "Fake").with_code(code),
    )))
}

impl Fake {
    /// Another client of the same Lease.
    fn client(&self) -> Fake {
        Fake {
            lease: self.lease.clone(),
            cut_off: Arc::default(),
        }
    }

    async fn reachable(&self) {
        if self.cut_off.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }

    fn write(&self, lease: &Lease, must_exist: bool) -> Result<Lease> {
        let mut guard = self.lease.lock().expect("lock");
        let (current, version) = &mut *guard;
        let current_version = current.as_ref().and_then(|l| l.metadata.resource_version.clone());
        match (current.is_some(), must_exist) {
            (true, false) => return Err(api_error(409)),
            (false, true) => return Err(api_error(404)),
            _ => {}
        }
        if must_exist && lease.metadata.resource_version != current_version {
            return Err(api_error(409));
        }
        *version += 1;
        let mut written = lease.clone();
        written.metadata.resource_version = Some(version.to_string());
        *current = Some(written.clone());
        Ok(written)
    }

    fn holder(&self) -> Option<String> {
        let guard = self.lease.lock().expect("lock");
        guard.0.as_ref().and_then(store::holder).map(str::to_string)
    }
}

impl LeaseStore for Fake {
    async fn get(&self) -> Result<Option<Lease>> {
        self.reachable().await;
        Ok(self.lease.lock().expect("lock").0.clone())
    }

    async fn create(&self, lease: &Lease) -> Result<Lease> {
        self.reachable().await;
        self.write(lease, false)
    }

    async fn replace(&self, lease: &Lease) -> Result<Lease> {
        self.reachable().await;
        self.write(lease, true)
    }
}

fn timing() -> Timing {
    Timing::default()
}

/// Renews `held` for `me` until the lease is lost; returns why and when.
async fn lead(store: Fake, held: Held, me: &'static str) -> (Lost, Instant) {
    let deadline = Deadline::closed();
    let (tx, _rx) = watch::channel(held.lease.clone());
    let why = renew(&store, held, me, &timing(), &deadline, &tx).await;
    (why, Instant::now())
}

/// Waits for the lease as `me`; returns it and when it was taken.
fn stand_by(store: Fake, me: &'static str) -> tokio::task::JoinHandle<(Held, Instant)> {
    tokio::spawn(async move {
        let held = acquire(&store, me, &timing()).await.expect("acquired");
        (held, Instant::now())
    })
}

#[tokio::test(start_paused = true)]
async fn the_first_replica_takes_a_missing_lease_at_once() {
    let fake = Fake::default();
    let start = Instant::now();
    let held = acquire(&fake, "a", &timing()).await.expect("acquired");
    assert_eq!(Instant::now() - start, Duration::ZERO);
    assert_eq!(store::holder(&held.lease), Some("a"));
    assert_eq!(fake.holder().as_deref(), Some("a"));
}

#[tokio::test(start_paused = true)]
async fn a_standby_waits_while_the_leader_renews_and_takes_over_after_it_stops() {
    let fake = Fake::default();
    let held = acquire(&fake, "a", &timing()).await.expect("a leads");
    let leader = tokio::spawn(lead(fake.client(), held, "a"));
    let standby = stand_by(fake.client(), "b");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(
        !standby.is_finished(),
        "the standby must wait while the leader renews"
    );
    assert_eq!(fake.holder().as_deref(), Some("a"));
    // the leader dies (SIGKILL): no more renewals, no release
    leader.abort();
    let killed = Instant::now();
    let (held, took_over) = standby.await.expect("standby");
    let after = took_over - killed;
    assert!(
        after >= Duration::from_secs(8) && after <= Duration::from_secs(12),
        "took over {after:?} after the kill"
    );
    assert_eq!(store::holder(&held.lease), Some("b"));
    assert_eq!(held.lease.spec.and_then(|s| s.lease_transitions), Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_cut_off_leader_stops_before_the_standby_starts() {
    let fake = Fake::default();
    let leader_client = fake.client();
    let held = acquire(&leader_client, "a", &timing()).await.expect("a leads");
    let leader = tokio::spawn(lead(leader_client.clone(), held, "a"));
    let standby = stand_by(fake.client(), "b");
    tokio::time::sleep(Duration::from_secs(7)).await;
    // a partition: the leader's requests hang, the standby still reads
    leader_client.cut_off.store(true, Ordering::SeqCst);
    let (why, stopped) = leader.await.expect("leader");
    let (_, started) = standby.await.expect("standby");
    assert_eq!(why, Lost::DeadlinePassed);
    println!(
        "leader stopped, then the standby started {:?} later",
        started - stopped
    );
    assert!(
        started - stopped >= Duration::from_secs(2),
        "the standby started only {:?} after the leader stopped",
        started - stopped
    );
}

/// Why the leader "a" stops when `change` is made to its Lease 3 s into its term.
async fn why_lost_after(change: impl FnOnce(&Fake)) -> Lost {
    let fake = Fake::default();
    let held = acquire(&fake, "a", &timing()).await.expect("a leads");
    let leader = tokio::spawn(lead(fake.client(), held, "a"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    change(&fake);
    leader.await.expect("leader").0
}

#[tokio::test(start_paused = true)]
async fn a_leader_whose_lease_was_taken_or_deleted_stops_at_its_next_renewal() {
    let stolen = why_lost_after(|fake| {
        let current = fake.lease.lock().expect("lock").0.clone();
        fake.write(&store::claimed(current.as_ref(), "x", &timing()), true)
            .expect("steal");
    })
    .await;
    assert_eq!(stolen, Lost::TakenBy(Some("x".into())));
    let deleted = why_lost_after(|fake| fake.lease.lock().expect("lock").0 = None).await;
    assert_eq!(deleted, Lost::Deleted);
}

#[tokio::test(start_paused = true)]
async fn a_released_lease_passes_to_the_standby_at_its_next_look() {
    let fake = Fake::default();
    let held = acquire(&fake, "a", &timing()).await.expect("a leads");
    let standby = stand_by(fake.client(), "b");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let released_at = Instant::now();
    assert!(release(&fake, held.lease.clone(), "a").await.expect("release"));
    let (_, took_over) = standby.await.expect("standby");
    assert!(
        took_over - released_at <= Duration::from_secs(2),
        "{:?}",
        took_over - released_at
    );
    // releasing again is refused: the lease is b's now
    assert!(!release(&fake, held.lease, "a").await.expect("release"));
    assert_eq!(fake.holder().as_deref(), Some("b"));
}

#[tokio::test(start_paused = true)]
async fn of_two_standbys_racing_for_a_free_lease_one_wins() {
    let fake = Fake::default();
    let racers = ["a", "b"].map(|me| {
        let fake = fake.client();
        tokio::spawn(async move { acquire(&fake, me, &timing()).await.map(|h| (me, h)) })
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    let done: Vec<bool> = racers.iter().map(|r| r.is_finished()).collect();
    assert_eq!(
        done.iter().filter(|d| **d).count(),
        1,
        "exactly one wins: {done:?}"
    );
    let [a, b] = racers;
    let winner = if a.is_finished() { a } else { b };
    let (me, _) = winner.await.expect("task").expect("acquired");
    assert_eq!(fake.holder().as_deref(), Some(me));
}

#[test]
fn only_a_missing_namespace_or_rbac_stops_the_wait() {
    assert!(
        fatal(&api_error(404), true).is_err(),
        "create: the namespace does not exist"
    );
    assert!(
        fatal(&api_error(404), false).is_ok(),
        "replace: the Lease was deleted meanwhile"
    );
    assert!(fatal(&api_error(403), false).is_err(), "RBAC");
    for code in [409, 429, 500, 503] {
        assert!(fatal(&api_error(code), true).is_ok(), "{code} is worth a retry");
    }
}
