//! Ticket rules, pure: the status machine, routing-rule matching, the round-robin pick and THE SLA
//! CLOCK. No I/O; "now" and the business time zone are passed in.
//!
//! The SLA clock of a ticket is `elapsed` (business seconds it has run) plus `running_since` (when
//! the current run started; `None` while paused or stopped). It runs while the ticket is `open` or
//! `in_progress`, pauses while `pending_customer` and stops at `resolved` / `closed` (a reopen
//! resumes it). With business hours (and/or business days) configured on the priority's policy, only
//! time inside them counts. Due times are derived: `due = add_business_seconds(running_since,
//! target − elapsed)`; while paused they are `None`, once stopped they keep their last value.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use uuid::Uuid;

use super::model::{TicketPriority, TicketStatus, TicketType};
use crate::stores::SalesChannel;

/// Allowed moves: open → in_progress | resolved; in_progress → pending_customer | resolved;
/// pending_customer → in_progress (resume) | resolved; resolved → closed | in_progress (reopen);
/// closed → in_progress (reopen). Staying in the same status is no move.
pub fn can_move(from: TicketStatus, to: TicketStatus) -> bool {
    use TicketStatus::*;
    matches!(
        (from, to),
        (Open, InProgress | Resolved)
            | (InProgress, PendingCustomer | Resolved)
            | (PendingCustomer, InProgress | Resolved)
            | (Resolved, Closed | InProgress)
            | (Closed, InProgress)
    )
}

/// The SLA clock runs in these statuses only.
pub fn clock_runs(status: TicketStatus) -> bool {
    matches!(status, TicketStatus::Open | TicketStatus::InProgress)
}

/// A routing rule's match fields; `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleMatch {
    pub ticket_type: Option<TicketType>,
    pub category: Option<String>,
    pub channel: Option<SalesChannel>,
    pub priority: Option<TicketPriority>,
}

/// The ticket fields routing looks at.
#[derive(Debug, Clone, Copy)]
pub struct Routed<'a> {
    pub ticket_type: TicketType,
    pub category: Option<&'a str>,
    pub channel: Option<SalesChannel>,
    pub priority: TicketPriority,
}

impl RuleMatch {
    pub fn matches(&self, t: &Routed<'_>) -> bool {
        fn text(want: &Option<String>, have: Option<&str>) -> bool {
            want.as_deref().is_none_or(|w| have == Some(w))
        }
        self.ticket_type.is_none_or(|w| w == t.ticket_type)
            && text(&self.category, t.category)
            && self.channel.is_none_or(|w| Some(w) == t.channel)
            && self.priority.is_none_or(|w| w == t.priority)
    }
}

/// The first rule (already ordered by priority, then id) that matches; returns its index.
pub fn first_match(rules: &[RuleMatch], t: &Routed<'_>) -> Option<usize> {
    rules.iter().position(|r| r.matches(t))
}

/// Round-robin: the agent after `last` in id order, wrapping; the first when `last` is unknown.
pub fn next_in_rotation(agents_by_id: &[Uuid], last: Option<Uuid>) -> Option<Uuid> {
    match last {
        Some(l) => agents_by_id.iter().find(|a| **a > l).or_else(|| agents_by_id.first()).copied(),
        None => agents_by_id.first().copied(),
    }
}

// ---------------------------------------------------------------------------------------------
// Business time
// ---------------------------------------------------------------------------------------------

/// When the clock may run: inside `start..end` local time (both or neither) on `days` (ISO
/// weekdays, 1 = Monday; empty = every day). Neither hours nor days: plain wall clock.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BusinessHours {
    pub start: Option<NaiveTime>,
    pub end: Option<NaiveTime>,
    pub days: Vec<i32>,
}

/// Days scanned forward at most when adding business time (ten years: a policy always has a
/// business day every week, so this bound is never reached in practice).
const MAX_SCAN_DAYS: i64 = 3660;

fn local_instant<Z: TimeZone>(tz: &Z, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    let naive = date.and_time(time);
    tz.from_local_datetime(&naive)
        .earliest()
        // A local time skipped by a DST jump: the first instant after the gap.
        .or_else(|| tz.from_local_datetime(&(naive + Duration::hours(1))).earliest())
        .map(|d| d.with_timezone(&Utc))
}

impl BusinessHours {
    pub fn is_wall_clock(&self) -> bool {
        self.start.is_none() && self.end.is_none() && self.days.is_empty()
    }

    /// The business window of a local date, as UTC instants; `None` on a non-business day.
    fn window<Z: TimeZone>(&self, tz: &Z, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let weekday = date.weekday().number_from_monday() as i32;
        if !self.days.is_empty() && !self.days.contains(&weekday) {
            return None;
        }
        let (start, end) = match (self.start, self.end) {
            (Some(s), Some(e)) => (local_instant(tz, date, s)?, local_instant(tz, date, e)?),
            _ => (local_instant(tz, date, NaiveTime::MIN)?, local_instant(tz, date.succ_opt()?, NaiveTime::MIN)?),
        };
        (start < end).then_some((start, end))
    }

    /// Business seconds in `[from, to)`; 0 when `to <= from`.
    pub fn seconds_between<Z: TimeZone>(&self, tz: &Z, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        if self.is_wall_clock() {
            return (to - from).num_seconds();
        }
        let mut date = from.with_timezone(tz).date_naive();
        let last = to.with_timezone(tz).date_naive();
        let mut total = 0;
        while date <= last {
            if let Some((ws, we)) = self.window(tz, date) {
                let (s, e) = (ws.max(from), we.min(to));
                if e > s {
                    total += (e - s).num_seconds();
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        total
    }

    /// The instant when `seconds` of business time have run from `from`. Zero or less: `from`
    /// (already due). Time landing exactly on a window's end is due at that end.
    pub fn add_seconds<Z: TimeZone>(&self, tz: &Z, from: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
        if seconds <= 0 {
            return from;
        }
        if self.is_wall_clock() {
            return from + Duration::seconds(seconds);
        }
        let mut remaining = seconds;
        let mut date = from.with_timezone(tz).date_naive();
        for _ in 0..MAX_SCAN_DAYS {
            if let Some((ws, we)) = self.window(tz, date) {
                let s = ws.max(from);
                if we > s {
                    let len = (we - s).num_seconds();
                    if remaining <= len {
                        return s + Duration::seconds(remaining);
                    }
                    remaining -= len;
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        from + Duration::seconds(seconds)
    }
}

/// A priority's targets and hours.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub first_response_minutes: i32,
    pub resolution_minutes: i32,
    pub hours: BusinessHours,
}

/// The state of a ticket's SLA clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaClock {
    /// Business seconds run so far (up to `running_since` when running).
    pub elapsed: i64,
    /// When the current run began; `None` while paused or stopped.
    pub running_since: Option<DateTime<Utc>>,
}

/// Due times of a ticket's two targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dues {
    pub first_response: Option<DateTime<Utc>>,
    pub resolution: Option<DateTime<Utc>>,
}

impl SlaClock {
    /// A clock starting now.
    pub fn start(now: DateTime<Utc>) -> SlaClock {
        SlaClock { elapsed: 0, running_since: Some(now) }
    }

    /// Business seconds run by `now` (under `policy`'s hours).
    pub fn elapsed_at<Z: TimeZone>(&self, policy: &Policy, tz: &Z, now: DateTime<Utc>) -> i64 {
        self.elapsed + self.running_since.map_or(0, |rs| policy.hours.seconds_between(tz, rs, now))
    }

    /// Folds the time run so far into `elapsed` (under `policy`, the one in force until `now`) and
    /// sets the clock running from `now` when `runs`, else paused/stopped.
    pub fn retime<Z: TimeZone>(self, policy: &Policy, tz: &Z, now: DateTime<Utc>, runs: bool) -> SlaClock {
        SlaClock { elapsed: self.elapsed_at(policy, tz, now), running_since: runs.then_some(now) }
    }

    /// When `target_minutes` of business time will have run; `None` unless running.
    pub fn due<Z: TimeZone>(&self, policy: &Policy, tz: &Z, target_minutes: i32) -> Option<DateTime<Utc>> {
        let rs = self.running_since?;
        Some(policy.hours.add_seconds(tz, rs, i64::from(target_minutes) * 60 - self.elapsed))
    }
}

/// The due times after a change: running → recomputed from the clock (first response only while no
/// first response was given; after it, kept); `pending_customer` → `None` for what is still open;
/// resolved/closed → kept as they were (the record of the targets).
pub fn dues<Z: TimeZone>(
    clock: &SlaClock, policy: &Policy, tz: &Z, status: TicketStatus, responded: bool, old: Dues,
) -> Dues {
    match status {
        TicketStatus::Open | TicketStatus::InProgress => Dues {
            first_response: if responded {
                old.first_response
            } else {
                clock.due(policy, tz, policy.first_response_minutes)
            },
            resolution: clock.due(policy, tz, policy.resolution_minutes),
        },
        TicketStatus::PendingCustomer => {
            Dues { first_response: if responded { old.first_response } else { None }, resolution: None }
        }
        TicketStatus::Resolved | TicketStatus::Closed => old,
    }
}

/// Which targets fell due by `now` and are not flagged yet (the clock must be running).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Breaches {
    pub first_response: bool,
    pub resolution: bool,
}

pub struct BreachInput {
    pub running: bool,
    pub responded: bool,
    pub first_response_due: Option<DateTime<Utc>>,
    pub resolution_due: Option<DateTime<Utc>>,
    pub first_response_breached: bool,
    pub resolution_breached: bool,
}

pub fn new_breaches(t: &BreachInput, now: DateTime<Utc>) -> Breaches {
    if !t.running {
        return Breaches::default();
    }
    Breaches {
        first_response: !t.first_response_breached && !t.responded && t.first_response_due.is_some_and(|d| d <= now),
        resolution: !t.resolution_breached && t.resolution_due.is_some_and(|d| d <= now),
    }
}

// ---------------------------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------------------------

/// `part / whole` with 4 decimals, half-up ("0.0000" for an empty whole).
pub fn ratio(part: i64, whole: i64) -> String {
    crate::coupons::templates::redemption_rate(part, whole)
}

/// The average score with 2 decimals, half-up; `None` without scores.
pub fn average(sum: i64, count: i64) -> Option<String> {
    if count <= 0 {
        return None;
    }
    let avg = (rust_decimal::Decimal::from(sum) / rust_decimal::Decimal::from(count))
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    Some(format!("{avg:.2}"))
}

/// Minutes rounded to 0.1 (medians are reported so).
pub fn round_tenth(minutes: f64) -> f64 {
    (minutes * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use chrono_tz::Asia::Shanghai;

    use super::*;

    /// A Shanghai local time as UTC.
    fn sh(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Shanghai.with_ymd_and_hms(y, m, d, h, min, 0).single().map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    fn t(h: u32, m: u32) -> Option<NaiveTime> {
        NaiveTime::from_hms_opt(h, m, 0)
    }

    /// 09:00–21:00, Monday–Friday.
    fn weekdays_9_to_21() -> BusinessHours {
        BusinessHours { start: t(9, 0), end: t(21, 0), days: vec![1, 2, 3, 4, 5] }
    }

    fn policy(hours: BusinessHours) -> Policy {
        Policy { first_response_minutes: 120, resolution_minutes: 2880, hours }
    }

    // 2026-11-27 is a Friday, 2026-11-30 a Monday.

    #[test]
    fn every_status_pair_is_allowed_or_not_as_the_machine_says() {
        let allowed = [
            "open>in_progress",
            "open>resolved",
            "in_progress>pending_customer",
            "in_progress>resolved",
            "pending_customer>in_progress",
            "pending_customer>resolved",
            "resolved>closed",
            "resolved>in_progress",
            "closed>in_progress",
        ];
        for &from in TicketStatus::ALL {
            for &to in TicketStatus::ALL {
                let expected = allowed.contains(&format!("{from}>{to}").as_str());
                assert_eq!(can_move(from, to), expected, "{from} → {to}");
            }
        }
    }

    #[test]
    fn the_clock_runs_only_while_open_or_in_progress() {
        let runs: Vec<TicketStatus> = TicketStatus::ALL.iter().copied().filter(|s| clock_runs(*s)).collect();
        assert_eq!(runs, [TicketStatus::Open, TicketStatus::InProgress]);
    }

    #[test]
    fn business_seconds_across_nights_and_weekends() {
        let h = weekdays_9_to_21();
        let cases = [
            // (from, to, seconds)
            (sh(2026, 11, 27, 10, 0), sh(2026, 11, 27, 12, 0), 2 * 3600),
            (sh(2026, 11, 27, 20, 30), sh(2026, 11, 30, 10, 30), 2 * 3600),
            (sh(2026, 11, 27, 22, 0), sh(2026, 11, 30, 8, 0), 0),
            (sh(2026, 11, 28, 10, 0), sh(2026, 11, 29, 20, 0), 0),
            (sh(2026, 11, 26, 20, 0), sh(2026, 11, 27, 10, 0), 2 * 3600),
            (sh(2026, 11, 23, 0, 0), sh(2026, 11, 30, 0, 0), 5 * 12 * 3600),
            (sh(2026, 11, 27, 12, 0), sh(2026, 11, 27, 10, 0), 0),
        ];
        for (from, to, secs) in cases {
            assert_eq!(h.seconds_between(&Shanghai, from, to), secs, "{from} → {to}");
        }
    }

    #[test]
    fn adding_business_time_skips_nights_and_weekends() {
        let h = weekdays_9_to_21();
        let cases = [
            // (from, seconds, due)
            (sh(2026, 11, 27, 20, 30), 2 * 3600, sh(2026, 11, 30, 10, 30)),
            (sh(2026, 11, 27, 10, 0), 2 * 3600, sh(2026, 11, 27, 12, 0)),
            (sh(2026, 11, 27, 19, 0), 2 * 3600, sh(2026, 11, 27, 21, 0)),
            (sh(2026, 11, 28, 3, 0), 60, sh(2026, 11, 30, 9, 1)),
            (sh(2026, 11, 26, 6, 0), 48 * 3600, sh(2026, 12, 1, 21, 0)),
            (sh(2026, 11, 27, 10, 0), 0, sh(2026, 11, 27, 10, 0)),
            (sh(2026, 11, 27, 10, 0), -5, sh(2026, 11, 27, 10, 0)),
        ];
        for (from, secs, due) in cases {
            assert_eq!(h.add_seconds(&Shanghai, from, secs), due, "{from} + {secs}s");
            if secs > 0 {
                assert_eq!(h.seconds_between(&Shanghai, from, due), secs, "round trip from {from}");
            }
        }
    }

    #[test]
    fn hours_without_days_apply_every_day_and_days_without_hours_count_whole_days() {
        let daily = BusinessHours { start: t(9, 0), end: t(21, 0), days: vec![] };
        assert_eq!(daily.add_seconds(&Shanghai, sh(2026, 11, 27, 20, 30), 7200), sh(2026, 11, 28, 10, 30));
        let weekdays = BusinessHours { start: None, end: None, days: vec![1, 2, 3, 4, 5] };
        assert_eq!(weekdays.add_seconds(&Shanghai, sh(2026, 11, 27, 23, 0), 7200), sh(2026, 11, 30, 1, 0));
        assert_eq!(weekdays.seconds_between(&Shanghai, sh(2026, 11, 27, 23, 0), sh(2026, 11, 30, 1, 0)), 7200);
    }

    #[test]
    fn no_business_hours_is_the_plain_wall_clock() {
        let h = BusinessHours::default();
        assert!(h.is_wall_clock());
        assert_eq!(h.add_seconds(&Shanghai, sh(2026, 11, 27, 20, 30), 7200), sh(2026, 11, 27, 22, 30));
        assert_eq!(h.seconds_between(&Shanghai, sh(2026, 11, 27, 20, 30), sh(2026, 11, 28, 20, 30)), 86_400);
    }

    #[test]
    fn it_is_tz_generic_and_handles_a_dst_night() {
        // New York, 2026-03-08: clocks jump 02:00 → 03:00. Every day 00:00-24:00 counts, but the
        // local day is 23 hours long.
        let ny = chrono_tz::America::New_York;
        let h = BusinessHours { start: None, end: None, days: vec![7] };
        let from = ny.with_ymd_and_hms(2026, 3, 8, 0, 0, 0).single().map(|d| d.with_timezone(&Utc));
        let to = ny.with_ymd_and_hms(2026, 3, 9, 0, 0, 0).single().map(|d| d.with_timezone(&Utc));
        let (Some(from), Some(to)) = (from, to) else { panic!("dates") };
        assert_eq!(h.seconds_between(&ny, from, to), 23 * 3600);
        let nine_to_five = BusinessHours { start: t(9, 0), end: t(17, 0), days: vec![] };
        assert_eq!(nine_to_five.seconds_between(&ny, from, to), 8 * 3600);
    }

    #[test]
    fn friday_evening_ticket_with_two_hour_first_response_is_due_monday_10_30() {
        let p = policy(weekdays_9_to_21());
        let created = sh(2026, 11, 27, 20, 30);
        let clock = SlaClock::start(created);
        let d = dues(&clock, &p, &Shanghai, TicketStatus::Open, false, Dues::default());
        assert_eq!(d.first_response, Some(sh(2026, 11, 30, 10, 30)));
        // 48 h of business time = four 12-hour days: 30 min Friday + Mon, Tue, Wed + 11.5 h Thursday.
        assert_eq!(d.resolution, Some(sh(2026, 12, 3, 20, 30)));
    }

    #[test]
    fn a_pause_pushes_the_due_time_by_exactly_the_paused_business_time() {
        let p = policy(weekdays_9_to_21());
        let created = sh(2026, 11, 30, 9, 0);
        let clock = SlaClock::start(created);
        let before = dues(&clock, &p, &Shanghai, TicketStatus::Open, false, Dues::default());
        assert_eq!(before.first_response, Some(sh(2026, 11, 30, 11, 0)));
        // Waiting on the customer from 09:30 to 12:30: 3 business hours.
        let paused = clock.retime(&p, &Shanghai, sh(2026, 11, 30, 9, 30), false);
        assert_eq!(paused, SlaClock { elapsed: 1800, running_since: None });
        let while_paused = dues(&paused, &p, &Shanghai, TicketStatus::PendingCustomer, false, before);
        assert_eq!(while_paused, Dues::default(), "no due times while paused");
        let resumed = paused.retime(&p, &Shanghai, sh(2026, 11, 30, 12, 30), true);
        assert_eq!(resumed.elapsed, 1800, "paused time does not count");
        let after = dues(&resumed, &p, &Shanghai, TicketStatus::InProgress, false, while_paused);
        assert_eq!(after.first_response, Some(sh(2026, 11, 30, 14, 0)), "11:00 + 3 h");
        // A pause across the night only costs the business time inside it: 20:00 → next day 10:00 = 2 h.
        let c = SlaClock::start(sh(2026, 11, 30, 19, 0));
        let no_pause = dues(&c, &p, &Shanghai, TicketStatus::Open, false, Dues::default());
        assert_eq!(no_pause.first_response, Some(sh(2026, 11, 30, 21, 0)));
        let c =
            c.retime(&p, &Shanghai, sh(2026, 11, 30, 20, 0), false).retime(&p, &Shanghai, sh(2026, 12, 1, 10, 0), true);
        assert_eq!(
            dues(&c, &p, &Shanghai, TicketStatus::Open, false, Dues::default()).first_response,
            Some(sh(2026, 12, 1, 11, 0))
        );
    }

    #[test]
    fn retiming_a_running_clock_does_not_move_its_due_times() {
        let p = policy(weekdays_9_to_21());
        let clock = SlaClock::start(sh(2026, 11, 27, 20, 30));
        let d0 = dues(&clock, &p, &Shanghai, TicketStatus::Open, false, Dues::default());
        for now in [sh(2026, 11, 27, 20, 45), sh(2026, 11, 28, 12, 0), sh(2026, 11, 30, 9, 30)] {
            let c = clock.retime(&p, &Shanghai, now, true);
            assert_eq!(
                dues(&c, &p, &Shanghai, TicketStatus::InProgress, false, Dues::default()),
                d0,
                "retimed at {now}"
            );
        }
    }

    #[test]
    fn a_past_target_is_due_at_resume_and_the_wall_clock_counts_everything() {
        let p = policy(BusinessHours::default());
        let clock = SlaClock { elapsed: 3 * 3600, running_since: Some(sh(2026, 11, 27, 20, 30)) };
        let d = dues(&clock, &p, &Shanghai, TicketStatus::InProgress, false, Dues::default());
        assert_eq!(d.first_response, Some(sh(2026, 11, 27, 20, 30)));
        assert_eq!(d.resolution, Some(sh(2026, 11, 29, 17, 30)));
    }

    #[test]
    fn after_a_first_response_or_once_stopped_due_times_are_kept() {
        let p = policy(BusinessHours::default());
        let old = Dues { first_response: Some(sh(2026, 11, 27, 1, 0)), resolution: Some(sh(2026, 11, 28, 1, 0)) };
        let clock = SlaClock::start(sh(2026, 11, 27, 12, 0));
        let d = dues(&clock, &p, &Shanghai, TicketStatus::InProgress, true, old);
        assert_eq!(d.first_response, old.first_response);
        assert_eq!(d.resolution, Some(sh(2026, 11, 29, 12, 0)));
        let stopped = SlaClock { elapsed: 60, running_since: None };
        assert_eq!(dues(&stopped, &p, &Shanghai, TicketStatus::Resolved, true, old), old);
        assert_eq!(dues(&stopped, &p, &Shanghai, TicketStatus::Closed, false, old), old);
        assert_eq!(
            dues(&stopped, &p, &Shanghai, TicketStatus::PendingCustomer, true, old).first_response,
            old.first_response
        );
    }

    #[test]
    fn breaches_only_while_running_past_due_and_once() {
        let now = sh(2026, 11, 27, 12, 0);
        let base = BreachInput {
            running: true,
            responded: false,
            first_response_due: Some(now),
            resolution_due: Some(now + Duration::seconds(1)),
            first_response_breached: false,
            resolution_breached: false,
        };
        assert_eq!(new_breaches(&base, now), Breaches { first_response: true, resolution: false });
        let later = now + Duration::seconds(1);
        assert_eq!(new_breaches(&base, later), Breaches { first_response: true, resolution: true });
        let flagged = BreachInput { first_response_breached: true, resolution_breached: true, ..base };
        assert_eq!(new_breaches(&flagged, later), Breaches::default());
        let responded = BreachInput { responded: true, first_response_breached: false, ..flagged };
        assert_eq!(new_breaches(&responded, later), Breaches::default());
        let paused = BreachInput { running: false, first_response_breached: false, ..base };
        assert_eq!(new_breaches(&paused, later), Breaches::default());
    }

    #[test]
    fn routing_takes_the_first_matching_rule_and_absent_fields_match_anything() {
        use TicketPriority::{High, Low, Urgent};
        use TicketType::{Complaint, Inquiry, Return};
        let rule = |ty: Option<TicketType>, cat: Option<&str>, ch: Option<SalesChannel>, pr: Option<TicketPriority>| {
            RuleMatch { ticket_type: ty, category: cat.map(Into::into), channel: ch, priority: pr }
        };
        let rules = vec![
            rule(Some(Complaint), None, None, Some(Urgent)),
            rule(Some(Return), Some("size_mismatch"), None, None),
            rule(None, None, Some(SalesChannel::Tmall), None),
            rule(None, None, None, None),
        ];
        let t = |ty, cat, ch, pr| Routed { ticket_type: ty, category: cat, channel: ch, priority: pr };
        assert_eq!(first_match(&rules, &t(Complaint, None, None, Urgent)), Some(0));
        assert_eq!(first_match(&rules, &t(Complaint, None, None, High)), Some(3));
        assert_eq!(first_match(&rules, &t(Return, Some("size_mismatch"), Some(SalesChannel::Tmall), Low)), Some(1));
        assert_eq!(first_match(&rules, &t(Return, None, Some(SalesChannel::Tmall), Low)), Some(2));
        assert_eq!(first_match(&rules, &t(Return, Some("quality"), None, Low)), Some(3));
        assert_eq!(first_match(&rules[..3], &t(Inquiry, None, None, Low)), None);
    }

    #[test]
    fn round_robin_takes_the_next_agent_by_id_and_wraps() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let c = Uuid::from_u128(3);
        let agents = [a, b, c];
        assert_eq!(next_in_rotation(&agents, None), Some(a));
        assert_eq!(next_in_rotation(&agents, Some(a)), Some(b));
        assert_eq!(next_in_rotation(&agents, Some(c)), Some(a));
        // The last one left the team: continue after its id.
        assert_eq!(next_in_rotation(&[a, c], Some(b)), Some(c));
        assert_eq!(next_in_rotation(&[], Some(b)), None);
    }

    #[test]
    fn stats_figures_round_as_documented() {
        assert_eq!(round_tenth(1.625), 1.6);
        assert_eq!(round_tenth(20.0), 20.0);
        assert_eq!(round_tenth(0.05), 0.1);
        assert_eq!(average(13, 3).as_deref(), Some("4.33"));
        assert_eq!(average(0, 0), None);
        assert_eq!(ratio(2, 3), "0.6667");
    }
}
