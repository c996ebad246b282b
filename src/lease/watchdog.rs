//! The leader's renew deadline, shared by everything that must stop when it passes: a watchdog
//! thread that ends the process, and the fence on the controllers' client (`fence.rs`) that
//! refuses their requests. The watchdog runs on its own OS thread so that it fires even if the
//! async runtime is starved or stuck; the renew loop notices a passed deadline too, but only when
//! the runtime lets it run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::Result;

/// No deadline in force: this replica does not lead (yet, or any more).
const CLOSED: u64 = u64::MAX;
/// Longest sleep of the watchdog between two looks at the deadline.
const TICK: Duration = Duration::from_millis(200);

/// The instant until which this replica may act; cheap to read from any thread.
#[derive(Clone, Debug)]
pub struct Deadline {
    base: Instant,
    /// Nanoseconds after `base`, or `CLOSED`.
    at: Arc<AtomicU64>,
}

impl Deadline {
    /// No deadline yet: nothing may act.
    pub fn closed() -> Self {
        Self {
            base: Instant::now(),
            at: Arc::new(AtomicU64::new(CLOSED)),
        }
    }

    /// Acting is allowed until `deadline` (an acquisition or a successful renewal).
    pub fn arm(&self, deadline: Instant) {
        let nanos = deadline.saturating_duration_since(self.base).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(CLOSED - 1).min(CLOSED - 1);
        self.at.store(nanos, Ordering::SeqCst);
    }

    /// This replica has stopped acting: nothing may act any more, and the watchdog ends quietly.
    pub fn close(&self) {
        self.at.store(CLOSED, Ordering::SeqCst);
    }

    /// Acting is not allowed now: closed, or the deadline passed.
    pub fn passed(&self) -> bool {
        self.left().is_none_or(|left| left.is_zero())
    }

    /// Time left until the deadline; `None` when closed.
    fn left(&self) -> Option<Duration> {
        let at = self.at.load(Ordering::SeqCst);
        if at == CLOSED {
            return None;
        }
        let elapsed = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        Some(Duration::from_nanos(at.saturating_sub(elapsed)))
    }
}

/// Starts a thread that calls `on_expiry` once when `deadline` passes, and ends without calling
/// it when `deadline` is closed first.
pub fn spawn(deadline: Deadline, on_expiry: impl FnOnce() + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .name("lease-watchdog".into())
        .spawn(move || {
            while let Some(left) = deadline.left() {
                if left.is_zero() {
                    on_expiry();
                    return;
                }
                std::thread::sleep(left.min(TICK));
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A deadline `after` from now, watched by a watchdog that reports when it fires.
    fn started(after: Duration) -> (Deadline, mpsc::Receiver<Instant>, Instant) {
        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        let deadline = Deadline::closed();
        deadline.arm(start + after);
        spawn(deadline.clone(), move || {
            let _ = tx.send(Instant::now());
        })
        .expect("start");
        (deadline, rx, start)
    }

    #[test]
    fn fires_once_the_deadline_passes_and_not_before() {
        let (deadline, fired, start) = started(Duration::from_millis(150));
        assert!(!deadline.passed());
        let at = fired.recv_timeout(Duration::from_secs(2)).expect("fired");
        assert!(at - start >= Duration::from_millis(150), "{:?}", at - start);
        assert!(deadline.passed());
    }

    #[test]
    fn a_renewal_moves_the_deadline() {
        let (deadline, fired, start) = started(Duration::from_millis(100));
        deadline.arm(start + Duration::from_millis(400));
        let at = fired.recv_timeout(Duration::from_secs(2)).expect("fired");
        assert!(at - start >= Duration::from_millis(400), "{:?}", at - start);
    }

    #[test]
    fn closing_it_ends_the_watchdog_without_firing_and_forbids_acting() {
        let (deadline, fired, _) = started(Duration::from_millis(100));
        deadline.close();
        assert!(fired.recv_timeout(Duration::from_millis(500)).is_err());
        assert!(deadline.passed());
        assert!(
            Deadline::closed().passed(),
            "nothing may act before the lease is held"
        );
    }
}
