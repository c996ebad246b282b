//! A thread that ends the process when the leader's renew deadline passes, on its own OS thread
//! so that it fires even if the async runtime is starved or stuck: the renew loop notices a
//! passed deadline too, but only when the runtime lets it run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::Result;

/// No deadline yet.
const DISARMED: u64 = u64::MAX;
/// The thread ends.
const STOPPED: u64 = u64::MAX - 1;
/// Longest sleep between two looks at the deadline.
const TICK: Duration = Duration::from_millis(200);

/// Calls its action once, from its own thread, when the armed deadline passes.
pub struct Watchdog {
    base: Instant,
    /// Nanoseconds after `base`, or `DISARMED` / `STOPPED`.
    deadline: Arc<AtomicU64>,
}

impl Watchdog {
    /// Starts the thread, armed with `deadline`.
    pub fn start(deadline: Instant, on_expiry: impl FnOnce() + Send + 'static) -> Result<Self> {
        let dog = Watchdog {
            base: Instant::now(),
            deadline: Arc::new(AtomicU64::new(DISARMED)),
        };
        dog.arm(deadline);
        let (base, shared) = (dog.base, dog.deadline.clone());
        std::thread::Builder::new()
            .name("lease-watchdog".into())
            .spawn(move || watch(base, &shared, on_expiry))?;
        Ok(dog)
    }

    /// Moves the deadline (a successful renewal).
    pub fn arm(&self, deadline: Instant) {
        let nanos = deadline.saturating_duration_since(self.base).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(STOPPED - 1).min(STOPPED - 1);
        self.deadline.store(nanos, Ordering::SeqCst);
    }

    /// Ends the thread without firing: this replica has stopped acting. Dropping the watchdog
    /// does not stop it, so a renew task that ends by surprise (a panic) still ends the process
    /// at the deadline.
    pub fn stop(&self) {
        self.deadline.store(STOPPED, Ordering::SeqCst);
    }
}

fn watch(base: Instant, deadline: &AtomicU64, on_expiry: impl FnOnce()) {
    loop {
        let at = deadline.load(Ordering::SeqCst);
        if at == STOPPED {
            return;
        }
        let elapsed = u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if at != DISARMED && elapsed >= at {
            on_expiry();
            return;
        }
        let left = Duration::from_nanos(at.saturating_sub(elapsed));
        std::thread::sleep(left.min(TICK));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A watchdog armed `after` from now that reports when it fires.
    fn started(after: Duration) -> (Watchdog, mpsc::Receiver<Instant>, Instant) {
        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        let dog = Watchdog::start(start + after, move || {
            let _ = tx.send(Instant::now());
        })
        .expect("start");
        (dog, rx, start)
    }

    #[test]
    fn fires_once_the_deadline_passes_and_not_before() {
        let (_dog, fired, start) = started(Duration::from_millis(150));
        let at = fired.recv_timeout(Duration::from_secs(2)).expect("fired");
        assert!(at - start >= Duration::from_millis(150), "{:?}", at - start);
    }

    #[test]
    fn a_renewal_moves_the_deadline() {
        let (dog, fired, start) = started(Duration::from_millis(100));
        dog.arm(start + Duration::from_millis(400));
        let at = fired.recv_timeout(Duration::from_secs(2)).expect("fired");
        assert!(at - start >= Duration::from_millis(400), "{:?}", at - start);
    }

    #[test]
    fn stopping_it_ends_it_without_firing_but_dropping_it_does_not() {
        let (dog, fired, _) = started(Duration::from_millis(100));
        dog.stop();
        assert!(fired.recv_timeout(Duration::from_millis(500)).is_err());
        let (dog, fired, _) = started(Duration::from_millis(100));
        drop(dog);
        assert!(fired.recv_timeout(Duration::from_secs(2)).is_ok());
    }
}
