//! The pure half of leader election: what a replica does next, given the Lease it observed.
//!
//! Expiry is judged on this replica's own monotonic clock, never on the `renewTime` another
//! replica wrote: a standby counts the lease duration from the moment it first saw the current
//! version of the Lease (its `resourceVersion`), so clocks that disagree between nodes cannot make
//! it take over early. A leader counts its renew deadline from the moment it *sent* its last
//! successful renewal, which is before any standby can have seen that renewal; with a renew
//! deadline shorter than the lease duration, the leader has stopped before a standby may start.

use std::time::{Duration, Instant};

/// How long a lease lasts and how often it is renewed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How long a standby waits, from its last sight of a change, before taking the lease over.
    pub lease_duration: Duration,
    /// How long a leader may go without a successful renewal before it stops acting. Shorter than
    /// `lease_duration`: the difference is the margin for the leader to stop.
    pub renew_deadline: Duration,
    /// How often the leader renews and a standby looks at the lease.
    pub retry_period: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(10),
            renew_deadline: Duration::from_secs(8),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// The Lease as far as the decision needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// `spec.holderIdentity`; `None` when empty (released, or never held).
    pub holder: Option<String>,
    /// `spec.leaseDurationSeconds` when positive: the duration its holder promised to renew within.
    pub duration: Option<Duration>,
    /// When this replica first saw this version of the Lease (its own clock).
    pub seen_at: Instant,
}

impl Observed {
    /// From a Lease's fields; an empty holder is no holder, a duration that is not positive is none.
    pub fn new(holder: Option<&str>, duration_seconds: Option<i32>, seen_at: Instant) -> Self {
        Self {
            holder: holder.filter(|h| !h.is_empty()).map(str::to_string),
            duration: duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            seen_at,
        }
    }
}

/// Why a leader stops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lost {
    /// No successful renewal within the renew deadline.
    DeadlinePassed,
    /// The Lease names another holder (or none).
    TakenBy(Option<String>),
    /// The Lease was deleted.
    Deleted,
}

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lost::DeadlinePassed => f.write_str("no successful renewal within the renew deadline"),
            Lost::TakenBy(Some(holder)) => write!(f, "the lease is held by {holder}"),
            Lost::TakenBy(None) => f.write_str("the lease was released by someone else"),
            Lost::Deleted => f.write_str("the lease was deleted"),
        }
    }
}

/// What to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Take the lease: it is free, expired, or already ours from an earlier run of this identity.
    Acquire,
    /// We lead: renew.
    Renew,
    /// Another replica holds a valid lease: look again after this long at the latest.
    Wait(Duration),
    /// We led and must stop acting now.
    Lost(Lost),
}

/// The next step of replica `me`. `renewed_at` is `Some` while `me` leads: the moment its last
/// successful renewal (or acquisition) was sent. `observed` is `None` when there is no Lease.
pub fn decide(
    observed: Option<&Observed>,
    me: &str,
    renewed_at: Option<Instant>,
    now: Instant,
    timing: &Timing,
) -> Decision {
    if let Some(renewed_at) = renewed_at {
        return decide_leading(observed, me, renewed_at, now, timing);
    }
    let Some(lease) = observed else {
        return Decision::Acquire;
    };
    match lease.holder.as_deref() {
        None => Decision::Acquire,
        // Only an earlier run of this replica holds it (a container restarted in the same pod):
        // that run has stopped, so the lease is ours to take back at once.
        Some(holder) if holder == me => Decision::Acquire,
        Some(_) => {
            let duration = lease.duration.unwrap_or(timing.lease_duration);
            // `now` before `seen_at` cannot happen on a monotonic clock; if it did, nothing elapsed.
            let elapsed = now.saturating_duration_since(lease.seen_at);
            match duration.checked_sub(elapsed) {
                Some(left) if !left.is_zero() => Decision::Wait(left.min(timing.retry_period)),
                _ => Decision::Acquire,
            }
        }
    }
}

fn decide_leading(
    observed: Option<&Observed>,
    me: &str,
    renewed_at: Instant,
    now: Instant,
    timing: &Timing,
) -> Decision {
    if now.saturating_duration_since(renewed_at) >= timing.renew_deadline {
        return Decision::Lost(Lost::DeadlinePassed);
    }
    match observed {
        None => Decision::Lost(Lost::Deleted),
        Some(lease) if lease.holder.as_deref() == Some(me) => Decision::Renew,
        Some(lease) => Decision::Lost(Lost::TakenBy(lease.holder.clone())),
    }
}

/// When this replica first saw each version of the Lease: the clock a standby's wait runs on.
#[derive(Debug, Default)]
pub struct Tracker {
    last: Option<(String, Instant)>,
}

impl Tracker {
    /// The first sighting of `version` (a `resourceVersion`), recording `now` if it is new.
    pub fn seen(&mut self, version: &str, now: Instant) -> Instant {
        match &self.last {
            Some((v, at)) if v == version => *at,
            _ => {
                self.last = Some((version.to_string(), now));
                now
            }
        }
    }

    /// The Lease is gone: the next version starts a new wait.
    pub fn forget(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "kraftwerk-a";
    const OTHER: &str = "kraftwerk-b";

    fn timing() -> Timing {
        Timing::default()
    }

    fn held_by(holder: &str, seen_at: Instant) -> Observed {
        Observed::new(Some(holder), Some(10), seen_at)
    }

    /// What `ME`, standing by, does about `lease` at `now`.
    fn standby(lease: &Observed, now: Instant) -> Decision {
        decide(Some(lease), ME, None, now, &timing())
    }

    /// What `ME`, leading since its renewal sent at `renewed_at`, does about `lease` at `now`.
    fn leader(lease: &Observed, renewed_at: Instant, now: Instant) -> Decision {
        decide(Some(lease), ME, Some(renewed_at), now, &timing())
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn ms(m: u64) -> Duration {
        Duration::from_millis(m)
    }

    #[test]
    fn no_lease_or_a_released_one_is_acquired_at_once() {
        let t0 = Instant::now();
        assert_eq!(decide(None, ME, None, t0, &timing()), Decision::Acquire);
        for holder in [None, Some("")] {
            let released = Observed::new(holder, Some(1), t0);
            assert_eq!(standby(&released, t0), Decision::Acquire, "holder {holder:?}");
        }
    }

    #[test]
    fn a_standby_waits_for_a_held_lease_and_looks_again_every_retry_period() {
        let t0 = Instant::now();
        let lease = held_by(OTHER, t0);
        assert_eq!(standby(&lease, t0), Decision::Wait(secs(2)));
        assert_eq!(
            standby(&lease, t0 + ms(8_500)),
            Decision::Wait(ms(1_500)),
            "the last wait ends exactly at expiry"
        );
    }

    #[test]
    fn a_standby_takes_over_once_the_lease_went_unrenewed_for_its_duration() {
        let t0 = Instant::now();
        let lease = held_by(OTHER, t0);
        assert_eq!(standby(&lease, t0 + ms(9_999)), Decision::Wait(ms(1)));
        assert_eq!(standby(&lease, t0 + secs(10)), Decision::Acquire);
        assert_eq!(standby(&lease, t0 + secs(60)), Decision::Acquire);
    }

    #[test]
    fn each_renewal_restarts_the_standbys_wait() {
        let t0 = Instant::now();
        let mut tracker = Tracker::default();
        let first = held_by(OTHER, tracker.seen("100", t0));
        assert_eq!(standby(&first, t0 + secs(9)), Decision::Wait(secs(1)));
        // the holder renewed: a new resourceVersion, first seen at t0 + 9 s
        let renewed = held_by(OTHER, tracker.seen("101", t0 + secs(9)));
        assert_eq!(renewed.seen_at, t0 + secs(9));
        assert_eq!(standby(&renewed, t0 + secs(12)), Decision::Wait(secs(2)));
        // the same version seen again keeps its first sighting
        assert_eq!(tracker.seen("101", t0 + secs(15)), t0 + secs(9));
        assert_eq!(standby(&renewed, t0 + secs(19)), Decision::Acquire);
        tracker.forget();
        assert_eq!(tracker.seen("101", t0 + secs(20)), t0 + secs(20));
    }

    #[test]
    fn the_holders_own_duration_wins_and_a_missing_or_bad_one_falls_back_to_ours() {
        let t0 = Instant::now();
        let longer = Observed::new(Some(OTHER), Some(30), t0);
        assert_eq!(standby(&longer, t0 + secs(15)), Decision::Wait(secs(2)));
        assert_eq!(standby(&longer, t0 + secs(30)), Decision::Acquire);
        for bad in [None, Some(0), Some(-5)] {
            let lease = Observed::new(Some(OTHER), bad, t0);
            assert_eq!(lease.duration, None, "{bad:?}");
            assert_eq!(
                standby(&lease, t0 + ms(9_900)),
                Decision::Wait(ms(100)),
                "{bad:?}"
            );
            assert_eq!(standby(&lease, t0 + secs(10)), Decision::Acquire);
        }
    }

    #[test]
    fn clock_edge_cases_neither_panic_nor_shorten_a_wait() {
        let t0 = Instant::now() + secs(100);
        // seen "after" now (cannot happen on a monotonic clock): nothing has elapsed
        let future = held_by(OTHER, t0 + secs(5));
        assert_eq!(standby(&future, t0), Decision::Wait(secs(2)));
        // the largest duration a Lease can carry: no overflow, and the standby keeps waiting
        let huge = Observed::new(Some(OTHER), Some(i32::MAX), t0);
        assert_eq!(standby(&huge, t0 + secs(3_600)), Decision::Wait(secs(2)));
        // a leader whose renewal was sent "after" now: nothing has elapsed, it renews
        let mine = held_by(ME, t0);
        assert_eq!(leader(&mine, t0 + secs(1), t0), Decision::Renew);
    }

    #[test]
    fn a_leader_renews_until_its_deadline_then_stops() {
        let t0 = Instant::now();
        let mine = held_by(ME, t0);
        assert_eq!(leader(&mine, t0, t0 + secs(2)), Decision::Renew);
        assert_eq!(leader(&mine, t0, t0 + ms(7_999)), Decision::Renew);
        assert_eq!(
            leader(&mine, t0, t0 + secs(8)),
            Decision::Lost(Lost::DeadlinePassed)
        );
    }

    #[test]
    fn a_leader_stops_at_its_deadline_before_any_standby_may_take_over() {
        let timing = timing();
        assert!(timing.renew_deadline < timing.lease_duration);
        // the leader sends its renewal at t0; a standby can only see it afterwards
        let t0 = Instant::now();
        let standby_view = held_by(ME, t0 + ms(1));
        let leader_stops = (0..20_000u64)
            .map(|m| t0 + ms(m))
            .find(|now| decide(Some(&standby_view), ME, Some(t0), *now, &timing) != Decision::Renew);
        let standby_starts = (0..20_000u64)
            .map(|m| t0 + ms(m))
            .find(|now| decide(Some(&standby_view), OTHER, None, *now, &timing) == Decision::Acquire);
        let (Some(stops), Some(starts)) = (leader_stops, standby_starts) else {
            panic!("both must happen within 20 s");
        };
        assert_eq!(stops - t0, secs(8));
        assert_eq!(starts - t0, ms(10_001));
    }

    #[test]
    fn a_leader_that_sees_another_holder_or_no_lease_has_lost() {
        let t0 = Instant::now();
        assert_eq!(
            decide(Some(&held_by(OTHER, t0)), ME, Some(t0), t0, &timing()),
            Decision::Lost(Lost::TakenBy(Some(OTHER.into())))
        );
        let released = Observed::new(Some(""), Some(1), t0);
        assert_eq!(leader(&released, t0, t0), Decision::Lost(Lost::TakenBy(None)));
        assert_eq!(
            decide(None, ME, Some(t0), t0, &timing()),
            Decision::Lost(Lost::Deleted)
        );
    }

    #[test]
    fn a_restarted_replica_takes_back_a_lease_its_earlier_run_held() {
        let t0 = Instant::now();
        assert_eq!(
            decide(Some(&held_by(ME, t0)), ME, None, t0, &timing()),
            Decision::Acquire
        );
    }
}
