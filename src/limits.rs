//! Abuse limits (SPEC §3.1, OWASP API4): a token bucket per principal, token requests per source
//! address, and failed logins per client id or username.
//!
//! The buckets are `governor`'s (GCRA, lock-free), and everything runs on the app's `Clock`:
//! a test pins it and the limits are exact, with no wall clock in between.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Duration, Utc};
use governor::clock::{Clock as GovernorClock, Reference as _};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{InsufficientCapacity, NotUntil, Quota, RateLimiter};

use crate::clock::Clock;
use crate::error::{ApiError, ApiResult};

/// The app's clock as governor's: nanoseconds since the Unix epoch.
#[derive(Clone)]
struct LimiterClock(Clock);

impl GovernorClock for LimiterClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::from(self.0.now().timestamp_nanos_opt().and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
    }
}

type Bucket = RateLimiter<NotKeyed, InMemoryState, LimiterClock, NoOpMiddleware<Nanos>>;
type AddressBuckets = RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, LimiterClock, NoOpMiddleware<Nanos>>;

/// Failed attempts for one identity within the window that lock it out (SPEC §3.1: 10 in 5 minutes).
pub const MAX_FAILED_LOGINS: usize = 10;
pub const FAILED_LOGIN_WINDOW_MINUTES: i64 = 5;
/// Identities are what a caller typed: kept to this many characters, and the table of failures
/// is swept of stale entries past this size, so guessing random names cannot fill memory.
const IDENTITY_CHARS: usize = 128;
const SWEEP_ABOVE_ENTRIES: usize = 10_000;

fn identity_key(identity: &str) -> String {
    identity.chars().take(IDENTITY_CHARS).collect()
}

/// Bulk calls one principal may have running at once: a connector catching up gets its rows
/// through, and never holds more of the service than a couple of tills would.
pub const BULK_CALLS_PER_PRINCIPAL: usize = 2;

/// A running bulk call's place: given back when dropped.
pub struct BulkSlot {
    running: Arc<Mutex<HashMap<String, usize>>>,
    subject: String,
}

impl Drop for BulkSlot {
    fn drop(&mut self) {
        if let Ok(mut running) = self.running.lock() {
            if let Some(n) = running.get_mut(&self.subject) {
                *n -= 1;
                if *n == 0 {
                    running.remove(&self.subject);
                }
            }
        }
    }
}

pub struct Limits {
    clock: LimiterClock,
    /// Requests per second for a principal without its own setting; 0 = unlimited.
    default_rps: u32,
    /// API clients' own `rate_limit_rps` by subject (`client:<id>`), kept current by the refresher.
    client_rates: RwLock<HashMap<String, u32>>,
    buckets: RwLock<HashMap<String, Option<Arc<Bucket>>>>,
    per_address: Option<AddressBuckets>,
    failed_logins: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
    bulk_running: Arc<Mutex<HashMap<String, usize>>>,
}

fn quota(rps: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(rps)?;
    let burst = NonZeroU32::new(rps.saturating_mul(2)).unwrap_or(rate);
    Some(Quota::per_second(rate).allow_burst(burst))
}

fn too_many(detail: &str, retry_after_seconds: u64) -> ApiError {
    ApiError::TooManyRequests { detail: detail.to_string(), retry_after_seconds: retry_after_seconds.max(1) }
}

impl Limits {
    pub fn new(default_rps: u32, token_requests_per_address: u32, clock: Clock) -> Limits {
        let clock = LimiterClock(clock);
        Limits {
            per_address: NonZeroU32::new(token_requests_per_address).map(|n| {
                RateLimiter::new(Quota::per_second(n).allow_burst(n), DefaultKeyedStateStore::default(), clock.clone())
            }),
            clock,
            default_rps,
            client_rates: RwLock::default(),
            buckets: RwLock::default(),
            failed_logins: Mutex::default(),
            bulk_running: Arc::default(),
        }
    }

    fn refusal(&self, detail: &str, not_until: NotUntil<Nanos>) -> ApiError {
        let wait = Duration::nanoseconds(
            i64::try_from(u64::from(not_until.earliest_possible().duration_since(self.clock.now()))).unwrap_or(0),
        );
        too_many(detail, (wait.num_milliseconds().max(0) as u64).div_ceil(1000))
    }

    /// An API client's own limit (from its row); `None` = the default.
    pub fn set_client_rate(&self, subject: &str, rps: Option<u32>) {
        let changed = match self.client_rates.write() {
            Ok(mut rates) => match rps {
                Some(r) => rates.insert(subject.to_string(), r) != Some(r),
                None => rates.remove(subject).is_some(),
            },
            Err(_) => false,
        };
        if changed {
            if let Ok(mut buckets) = self.buckets.write() {
                buckets.remove(subject);
            }
        }
    }

    /// Replaces every client's limit with the database's view.
    pub fn replace_client_rates(&self, rates: HashMap<String, u32>) {
        let old = self.client_rates.read().map(|r| r.clone()).unwrap_or_default();
        for (subject, rps) in &rates {
            self.set_client_rate(subject, Some(*rps));
        }
        for subject in old.keys().filter(|s| !rates.contains_key(*s)) {
            self.set_client_rate(subject, None);
        }
    }

    fn bucket(&self, subject: &str) -> Option<Arc<Bucket>> {
        if let Some(found) = self.buckets.read().ok().and_then(|b| b.get(subject).cloned()) {
            return found;
        }
        let rps = self.client_rates.read().ok().and_then(|r| r.get(subject).copied()).unwrap_or(self.default_rps);
        let bucket = quota(rps).map(|q| Arc::new(RateLimiter::direct_with_clock(q, self.clock.clone())));
        if let Ok(mut buckets) = self.buckets.write() {
            buckets.entry(subject.to_string()).or_insert(bucket).clone()
        } else {
            bucket
        }
    }

    /// One request by `subject`: 429 + `Retry-After` beyond its bucket.
    pub fn admit_request(&self, subject: &str) -> ApiResult<()> {
        match self.bucket(subject) {
            None => Ok(()),
            Some(bucket) => bucket
                .check()
                .map_err(|not_until| self.refusal("this client is over its request rate limit", not_until)),
        }
    }

    /// A bulk call of `rows` rows by `subject` (issue 22): it costs a token per row — the request
    /// itself took one — and at most `BULK_CALLS_PER_PRINCIPAL` run at once; 429 beyond either.
    /// More rows than the principal's burst can ever admit is 422 `too_many_rows` with `max_rows`.
    pub fn admit_bulk(&self, subject: &str, rows: usize) -> ApiResult<BulkSlot> {
        let slot = {
            let mut running = self.bulk_running.lock().map_err(|_| ApiError::internal("bulk slots poisoned"))?;
            let n = running.entry(subject.to_string()).or_default();
            if *n >= BULK_CALLS_PER_PRINCIPAL {
                return Err(too_many(
                    &format!("at most {BULK_CALLS_PER_PRINCIPAL} bulk calls per client at a time: wait for one to end"),
                    1,
                ));
            }
            *n += 1;
            BulkSlot { running: self.bulk_running.clone(), subject: subject.to_string() }
        };
        let extra = u32::try_from(rows.saturating_sub(1)).ok().and_then(NonZeroU32::new);
        if let (Some(bucket), Some(extra)) = (self.bucket(subject), extra) {
            match bucket.check_n(extra) {
                Ok(Ok(())) => {}
                Ok(Err(not_until)) => {
                    return Err(self.refusal(
                        "this client is over its request rate limit (a bulk row counts as a request)",
                        not_until,
                    ))
                }
                Err(InsufficientCapacity(burst)) => {
                    return Err(ApiError::unprocessable(
                        "too_many_rows",
                        format!("this client's rate limit admits at most {burst} rows in one call"),
                    )
                    .with("max_rows", burst))
                }
            }
        }
        Ok(slot)
    }

    /// One token request from `address` (SPEC §3.1: `CRM_TOKEN_RATE_PER_ADDRESS` per second).
    pub fn admit_token_request(&self, address: Option<IpAddr>) -> ApiResult<()> {
        match (&self.per_address, address) {
            (Some(limiter), Some(addr)) => limiter
                .check_key(&addr)
                .map_err(|not_until| self.refusal("too many token requests from this address", not_until)),
            _ => Ok(()),
        }
    }

    /// Forgets addresses whose budget is full again (the housekeeping task calls this).
    pub fn sweep(&self) {
        if let Some(limiter) = &self.per_address {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// 429 while `identity` has had `MAX_FAILED_LOGINS` failures within the window before `now`,
    /// even with the right secret: guessing must not be able to tell a lock-out from a miss.
    pub fn check_login_allowed(&self, identity: &str, now: DateTime<Utc>) -> ApiResult<()> {
        let window = Duration::minutes(FAILED_LOGIN_WINDOW_MINUTES);
        let Ok(mut failures) = self.failed_logins.lock() else { return Ok(()) };
        let identity = identity_key(identity);
        let Some(times) = failures.get_mut(&identity) else { return Ok(()) };
        while times.front().is_some_and(|t| *t + window <= now) {
            times.pop_front();
        }
        if times.is_empty() {
            failures.remove(&identity);
            return Ok(());
        }
        if times.len() < MAX_FAILED_LOGINS {
            return Ok(());
        }
        // Locked until enough of the window's failures have aged out.
        let unlock_at = times[times.len() - MAX_FAILED_LOGINS] + window;
        let wait = (unlock_at - now).num_seconds().max(1) as u64;
        Err(too_many("too many failed attempts for this client id or username; retry later", wait))
    }

    pub fn record_failed_login(&self, identity: &str, now: DateTime<Utc>) {
        if let Ok(mut failures) = self.failed_logins.lock() {
            if failures.len() > SWEEP_ABOVE_ENTRIES {
                let window = Duration::minutes(FAILED_LOGIN_WINDOW_MINUTES);
                failures.retain(|_, times| times.back().is_some_and(|t| *t + window > now));
            }
            let times = failures.entry(identity_key(identity)).or_default();
            times.push_back(now);
            // Only the newest failures can matter for a lock-out.
            while times.len() > MAX_FAILED_LOGINS {
                times.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::days(20_000) + Duration::seconds(seconds)
    }

    fn pinned() -> Clock {
        let clock = Clock::default();
        clock.set(at(0));
        clock
    }

    #[test]
    fn ten_failures_within_five_minutes_lock_the_identity_until_the_window_passes() {
        let limits = Limits::new(0, 0, pinned());
        for i in 0..9 {
            limits.record_failed_login("cli_a", at(i * 10));
        }
        assert!(limits.check_login_allowed("cli_a", at(95)).is_ok(), "9 failures do not lock");
        limits.record_failed_login("cli_a", at(100));
        let err = limits.check_login_allowed("cli_a", at(101)).expect_err("10 failures lock");
        assert_eq!(err.code(), "too_many_requests");
        assert!(matches!(err, ApiError::TooManyRequests { retry_after_seconds: 199, .. }), "{err:?}");
        assert!(limits.check_login_allowed("cli_b", at(101)).is_ok(), "another identity is not locked");
        assert!(limits.check_login_allowed("cli_a", at(299)).is_err());
        assert!(limits.check_login_allowed("cli_a", at(300)).is_ok(), "the first failure left the window");
    }

    #[test]
    fn guessed_identities_cannot_fill_memory() {
        let limits = Limits::new(0, 0, pinned());
        for i in 0..SWEEP_ABOVE_ENTRIES + 1 {
            limits.record_failed_login(&format!("cli_{i}"), at(0));
        }
        let long = "x".repeat(100_000);
        for _ in 0..MAX_FAILED_LOGINS {
            limits.record_failed_login(&long, at(400));
        }
        let size = limits.failed_logins.lock().map(|f| f.len()).unwrap_or(0);
        assert_eq!(size, 1, "failures past the window are swept");
        assert!(limits.check_login_allowed(&long, at(401)).is_err(), "a long identity is counted, by its prefix");
        assert!(limits.failed_logins.lock().is_ok_and(|f| f.keys().all(|k| k.chars().count() <= IDENTITY_CHARS)));
    }

    #[test]
    fn a_bulk_call_costs_a_token_per_row_and_two_run_at_once() {
        let limits = Limits::new(8, 0, pinned());
        // Burst 16: the request's own token, then one per further row.
        assert!(limits.admit_request("client:c").is_ok());
        let err = limits.admit_bulk("client:c", 20).err().expect("more rows than the burst");
        assert_eq!(err.code(), "too_many_rows");
        assert!(limits.admit_request("client:c").is_ok());
        let first = limits.admit_bulk("client:c", 10).expect("10 rows fit");
        assert!(limits.admit_request("client:c").is_ok());
        let err = limits.admit_bulk("client:c", 10).err().expect("the bucket is spent");
        assert_eq!(err.code(), "too_many_requests");
        drop(first);
        let unlimited = Limits::new(0, 0, pinned());
        let (a, b) = (unlimited.admit_bulk("client:u", 500), unlimited.admit_bulk("client:u", 500));
        assert!(a.is_ok() && b.is_ok());
        let err = unlimited.admit_bulk("client:u", 1).err().expect("a third at once");
        assert_eq!(err.code(), "too_many_requests");
        assert!(unlimited.admit_bulk("client:other", 1).is_ok(), "slots are per principal");
        drop(a);
        assert!(unlimited.admit_bulk("client:u", 1).is_ok(), "a slot comes back when its call ends");
    }

    #[test]
    fn a_principal_gets_twice_its_rate_as_burst_and_zero_is_unlimited() {
        let clock = pinned();
        let limits = Limits::new(3, 0, clock.clone());
        let admitted = (0..10).filter(|_| limits.admit_request("client:x").is_ok()).count();
        assert_eq!(admitted, 6, "burst 2 × 3 rps");
        let err = limits.admit_request("client:x").expect_err("over");
        assert!(matches!(err, ApiError::TooManyRequests { retry_after_seconds: 1, .. }), "{err:?}");
        // A third of a second later one more request fits, and only one.
        clock.advance(Duration::milliseconds(334));
        assert!(limits.admit_request("client:x").is_ok());
        assert!(limits.admit_request("client:x").is_err());
        limits.set_client_rate("client:y", Some(0));
        assert!((0..100).all(|_| limits.admit_request("client:y").is_ok()));
        assert!(limits.admit_request("client:z").is_ok(), "buckets are per principal");
    }

    #[test]
    fn token_requests_are_limited_per_source_address() {
        let clock = pinned();
        let limits = Limits::new(0, 20, clock.clone());
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        assert_eq!((0..30).filter(|_| limits.admit_token_request(Some(a)).is_ok()).count(), 20);
        assert!(limits.admit_token_request(Some(b)).is_ok(), "another address has its own budget");
        clock.advance(Duration::seconds(1));
        assert_eq!((0..30).filter(|_| limits.admit_token_request(Some(a)).is_ok()).count(), 20, "a second later");
    }
}
