//! Keeps the embedded cluster alive while `serve` runs (SPEC §16). A thread looks at the postmaster
//! every half second; when it has died (killed, out of memory, a crash) the thread starts it again
//! the way it was first started — PostgreSQL runs crash recovery from its WAL as it starts — and
//! waits longer after each start that fails, so a cluster that cannot start is not hammered.
//! While it is down, requests answer 503 `database_unavailable` and the pool reconnects by itself
//! once it is back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{EmbeddedError, LocalPostgres};

/// How often the postmaster is looked at.
const CHECK_EVERY: Duration = Duration::from_millis(500);
/// The longest wait between two failed starts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How long to wait after `failures` starts in a row have failed: nothing before the first try,
/// then 1 s, 2 s, 4 s... up to `MAX_BACKOFF`.
pub fn backoff(failures: u32) -> Duration {
    match failures {
        0 => Duration::ZERO,
        n => Duration::from_secs(1u64 << (n - 1).min(5)).min(MAX_BACKOFF),
    }
}

impl LocalPostgres {
    /// Whether the postmaster is up; `pg_ctl status` failing to run counts as up (nothing to heal
    /// that a restart would fix).
    pub fn alive(&self) -> bool {
        self.is_running().unwrap_or(true)
    }

    /// Starts the cluster again after its death, with the options it was first started with.
    pub fn restart(&mut self) -> Result<(), EmbeddedError> {
        let opts = self.opts.clone();
        self.pg_ctl_start(&opts)?;
        self.running = true;
        self.wait_until_ready()
    }
}

/// The watching thread; dropping it stops the thread, then the cluster (as dropping the handle
/// always did).
pub struct Supervisor {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Supervisor {
    pub fn start(mut pg: LocalPostgres) -> Supervisor {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("pg-supervisor".into())
            .spawn(move || {
                let mut failures = 0;
                while !stopping.load(Ordering::SeqCst) {
                    std::thread::sleep(CHECK_EVERY + backoff(failures));
                    if stopping.load(Ordering::SeqCst) || pg.alive() {
                        failures = 0;
                        continue;
                    }
                    log::warn!("the embedded PostgreSQL has stopped; starting it again (crash recovery)");
                    match pg.restart() {
                        Ok(()) => {
                            log::info!("the embedded PostgreSQL is back");
                            failures = 0;
                        }
                        Err(e) => {
                            failures += 1;
                            log::error!("starting the embedded PostgreSQL failed ({failures} in a row): {e}");
                        }
                    }
                }
                drop(pg);
            })
            .ok();
        Supervisor { stop, thread }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_starts_wait_longer_each_time_up_to_half_a_minute() {
        let waits: Vec<u64> = (0..9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [0, 1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
