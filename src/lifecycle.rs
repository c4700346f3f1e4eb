//! The process's life (SPEC §16): the stop SIGTERM begins — requests drain, then background work
//! stops at a batch boundary — and the fault points the crash test uses.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

/// The process's background work (jobs, campaign batches, webhook attempts). Refused once the
/// requests have drained: the batch loops end at their next boundary. Process-wide because those
/// loops are plain functions deep in the domains, and a process stops as a whole.
static BACKGROUND: LazyLock<Drain> = LazyLock::new(Drain::default);

pub fn background() -> &'static Drain {
    &BACKGROUND
}

/// Whether background work should end at its next batch boundary (its progress is committed, so
/// the next start resumes there).
pub fn background_should_stop() -> bool {
    BACKGROUND.is_refusing()
}

/// One application's requests while it stops: once `refuse` is called, new requests get 503
/// `shutting_down` and those already in flight are counted down to zero.
#[derive(Default)]
pub struct Drain {
    refusing: AtomicBool,
    in_flight: AtomicUsize,
    idle: tokio::sync::Notify,
}

/// Held by a request while it is handled; its drop (also when the client goes away) counts it out.
pub struct InFlight<'a>(&'a Drain);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Drain {
    /// Counts a request in, or `None` when the application is stopping.
    pub fn enter(&self) -> Option<InFlight<'_>> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(self);
        // Checked after counting in, so `refuse` followed by a zero count means nobody got past.
        (!self.refusing.load(Ordering::SeqCst)).then_some(guard)
    }

    pub fn refuse(&self) {
        self.refusing.store(true, Ordering::SeqCst);
    }

    pub fn is_refusing(&self) -> bool {
        self.refusing.load(Ordering::Relaxed)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Waits until no request is in flight, or `grace` has passed. Returns those still in flight.
    pub async fn drained(&self, grace: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let idle = self.idle.notified();
            if self.in_flight() == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.in_flight();
            }
        }
    }
}

/// Test-only fault points, off unless the crash test sets them in the service's environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct Faults {
    /// `CRM_TEST_ABORT_AFTER_COMMIT`: the chance (0–1) that the process aborts right after a
    /// request's transaction committed, before its answer leaves — the crash idempotency must survive.
    pub abort_after_commit: f64,
    /// `CRM_TEST_ANSWER_DELAY_MS`: every answer to a request with an `Idempotency-Key` waits this
    /// long after its work is done, so a stop finds requests in flight.
    pub answer_delay: Duration,
}

static FAULTS: OnceLock<Faults> = OnceLock::new();

impl Faults {
    pub fn from_env() -> Faults {
        let number = |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse::<f64>().ok());
        Faults {
            abort_after_commit: number("CRM_TEST_ABORT_AFTER_COMMIT").unwrap_or(0.0).clamp(0.0, 1.0),
            answer_delay: Duration::from_millis(number("CRM_TEST_ANSWER_DELAY_MS").unwrap_or(0.0).max(0.0) as u64),
        }
    }

    /// Arms the fault points for this process (`serve` only; tests in-process never do).
    pub fn arm(self) {
        if self.abort_after_commit > 0.0 || !self.answer_delay.is_zero() {
            log::warn!("test fault points armed: {self:?}");
        }
        let _ = FAULTS.set(self);
    }
}

/// The crash test's fault point, called right after a request's transaction committed.
pub fn fault_after_commit() {
    let chance = FAULTS.get().map_or(0.0, |f| f.abort_after_commit);
    if chance > 0.0 && rand::random::<f64>() < chance {
        log::error!("test fault: aborting after a commit, before the answer");
        std::process::abort();
    }
}

/// How long an answer to a request with an `Idempotency-Key` waits (zero unless armed).
pub fn answer_delay() -> Duration {
    FAULTS.get().map_or(Duration::ZERO, |f| f.answer_delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn a_refusing_drain_lets_in_flight_requests_finish_and_admits_no_new_one() {
        let drain = Drain::default();
        let first = drain.enter().expect("admitted before the stop");
        drain.refuse();
        assert!(drain.enter().is_none(), "a request after the stop is refused");
        assert_eq!(drain.in_flight(), 1, "the refused one is not counted");
        assert_eq!(drain.drained(Duration::from_millis(20)).await, 1, "the grace runs out with one in flight");
        drop(first);
        assert_eq!(drain.drained(Duration::from_secs(5)).await, 0);
    }
}
