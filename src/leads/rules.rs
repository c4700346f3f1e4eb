//! Pure lead rules (SPEC §11): the stage machine, which assignment rule matches a lead, who gets it,
//! the response SLA and the funnel's arithmetic. No I/O.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use uuid::Uuid;

use super::model::{LeadAssignmentStrategy, LeadKind, LeadStatus};
use crate::stores::SalesChannel;

/// Stages that count against a clerk's capacity.
pub const OPEN_ASSIGNED: &[LeadStatus] = &[LeadStatus::Assigned, LeadStatus::Contacted, LeadStatus::Qualified];

/// What a caller can do to a lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Assign,
    Contact,
    Qualify,
    Convert,
    CloseWon,
    CloseLost,
}

impl Action {
    pub const ALL: [Action; 6] =
        [Action::Assign, Action::Contact, Action::Qualify, Action::Convert, Action::CloseWon, Action::CloseLost];

    pub fn name(self) -> &'static str {
        match self {
            Action::Assign => "assign",
            Action::Contact => "contact",
            Action::Qualify => "qualify",
            Action::Convert => "convert",
            Action::CloseWon => "close as won",
            Action::CloseLost => "close as lost",
        }
    }
}

/// The status an action leads to from `status`, or `None` when the move is not allowed
/// (stages cannot be skipped; `won` and `lost` are final).
pub fn transition(status: LeadStatus, action: Action) -> Option<LeadStatus> {
    use LeadStatus::*;
    match (status, action) {
        (New | Assigned, Action::Assign) => Some(Assigned),
        (Assigned, Action::Contact) => Some(Contacted),
        (Contacted, Action::Qualify) => Some(Qualified),
        (Qualified, Action::Convert | Action::CloseWon) => Some(Won),
        (New | Assigned | Contacted | Qualified, Action::CloseLost) => Some(Lost),
        _ => None,
    }
}

/// The fields a rule matches on; `None` on a rule means "any".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    pub city: Option<String>,
    pub district: Option<String>,
    pub category: Option<String>,
    pub source: Option<SalesChannel>,
    pub kind: Option<LeadKind>,
}

/// True when every field the rule names equals the lead's (a lead without the field does not match it).
pub fn matches(rule: &Attributes, lead: &Attributes) -> bool {
    let field = |want: &Option<String>, have: &Option<String>| match want {
        None => true,
        Some(w) => have.as_deref() == Some(w.as_str()),
    };
    field(&rule.city, &lead.city)
        && field(&rule.district, &lead.district)
        && field(&rule.category, &lead.category)
        && rule.source.is_none_or(|want| lead.source == Some(want))
        && rule.kind.is_none_or(|want| lead.kind == Some(want))
}

/// A staff member a rule could hand a lead to, with the open leads they hold now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub id: Uuid,
    pub active: bool,
    pub capacity: i32,
    pub open_leads: i64,
}

impl Candidate {
    pub fn is_free(&self) -> bool {
        self.active && self.open_leads < i64::from(self.capacity)
    }
}

/// Who gets the lead among `candidates`: only active staff under capacity, never `exclude`.
/// Round robin: the next free one after `last` in id order (wrapping). Least loaded: fewest open
/// leads, ties by id. `None` when nobody is free.
pub fn pick(
    strategy: LeadAssignmentStrategy, candidates: &[Candidate], last: Option<Uuid>, exclude: Option<Uuid>,
) -> Option<Uuid> {
    let mut free: Vec<&Candidate> = candidates.iter().filter(|c| c.is_free() && Some(c.id) != exclude).collect();
    free.sort_by_key(|c| c.id);
    free.dedup_by_key(|c| c.id);
    match strategy {
        LeadAssignmentStrategy::RoundRobin => {
            let next = last.and_then(|last| free.iter().find(|c| c.id > last));
            next.or(free.first()).map(|c| c.id)
        }
        LeadAssignmentStrategy::LeastLoaded => free.iter().min_by_key(|c| (c.open_leads, c.id)).map(|c| c.id),
    }
}

/// When the first response is due: assignment + the configured minutes (15 by default).
pub fn response_due(assigned_at: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
    assigned_at + Duration::minutes(minutes)
}

/// `num / den` with 4 decimals; `None` when `den` is 0.
pub fn ratio(num: i64, den: i64) -> Option<String> {
    if den == 0 {
        return None;
    }
    let r = (Decimal::from(num) / Decimal::from(den)).round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero);
    Some(format!("{r:.4}"))
}

/// The median of durations in seconds, in minutes with 1 decimal; `None` for no data.
pub fn median_minutes(mut seconds: Vec<i64>) -> Option<String> {
    if seconds.is_empty() {
        return None;
    }
    seconds.sort_unstable();
    let n = seconds.len();
    let median = if n % 2 == 1 {
        Decimal::from(seconds[n / 2])
    } else {
        (Decimal::from(seconds[n / 2 - 1]) + Decimal::from(seconds[n / 2])) / Decimal::from(2)
    };
    let minutes = (median / Decimal::from(60)).round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero);
    Some(format!("{minutes:.1}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use LeadAssignmentStrategy as Strategy;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn cand(n: u128, active: bool, capacity: i32, open: i64) -> Candidate {
        Candidate { id: id(n), active, capacity, open_leads: open }
    }

    fn attrs(city: &str, district: &str, category: &str, source: &str, kind: &str) -> Attributes {
        let s = |v: &str| (!v.is_empty()).then(|| v.to_string());
        let kind = LeadKind::parse(kind);
        Attributes {
            city: s(city),
            district: s(district),
            category: s(category),
            source: SalesChannel::parse(source),
            kind,
        }
    }

    #[test]
    fn every_status_action_pair() {
        use Action::*;
        use LeadStatus::{Assigned, Contacted, Lost, New, Qualified, Won};
        let table: &[(LeadStatus, [Option<LeadStatus>; 6])] = &[
            // Assign, Contact, Qualify, Convert, CloseWon, CloseLost
            (New, [Some(Assigned), None, None, None, None, Some(Lost)]),
            (Assigned, [Some(Assigned), Some(Contacted), None, None, None, Some(Lost)]),
            (Contacted, [None, None, Some(Qualified), None, None, Some(Lost)]),
            (Qualified, [None, None, None, Some(Won), Some(Won), Some(Lost)]),
            (Won, [None, None, None, None, None, None]),
            (Lost, [None, None, None, None, None, None]),
        ];
        assert_eq!(table.len(), LeadStatus::ALL.len());
        for (status, expected) in table {
            for (action, want) in [Assign, Contact, Qualify, Convert, CloseWon, CloseLost].iter().zip(expected) {
                assert_eq!(transition(*status, *action), *want, "{status} + {}", action.name());
            }
        }
    }

    #[test]
    fn rule_matching_treats_absent_as_any() {
        let lead = attrs("北京", "朝阳区", "女装", "wechat_mini_program", "inquiry");
        let cases = [
            (attrs("", "", "", "", ""), true),
            (attrs("北京", "朝阳区", "女装", "", ""), true),
            (attrs("北京", "海淀区", "女装", "", ""), false),
            (attrs("", "", "男装", "", ""), false),
            (attrs("", "", "", "wechat_mini_program", "inquiry"), true),
            (attrs("", "", "", "tmall", ""), false),
            (attrs("", "", "", "", "walk_in"), false),
        ];
        for (rule, want) in cases {
            assert_eq!(matches(&rule, &lead), want, "{rule:?}");
        }
        // A lead without a category does not match a rule that asks for one.
        assert!(!matches(&attrs("", "", "女装", "", ""), &attrs("北京", "朝阳区", "", "web", "inquiry")));
    }

    #[test]
    fn round_robin_alternates_and_wraps() {
        let staff = [cand(1, true, 2, 0), cand(2, true, 2, 0)];
        let first = pick(Strategy::RoundRobin, &staff, None, None);
        assert_eq!(first, Some(id(1)));
        let second = pick(Strategy::RoundRobin, &staff, first, None);
        assert_eq!(second, Some(id(2)));
        assert_eq!(pick(Strategy::RoundRobin, &staff, second, None), Some(id(1)));
        // The last one may have left the list: continue with the next id after it.
        assert_eq!(
            pick(Strategy::RoundRobin, &[cand(1, true, 2, 0), cand(3, true, 2, 0)], Some(id(2)), None),
            Some(id(3))
        );
    }

    #[test]
    fn only_active_staff_under_capacity() {
        let cases: &[(&[Candidate], Option<Uuid>, Option<Uuid>)] = &[
            // (candidates, last, expected)
            (&[cand(1, true, 2, 2), cand(2, true, 2, 1)], None, Some(id(2))),
            (&[cand(1, false, 2, 0), cand(2, true, 2, 0)], None, Some(id(2))),
            (&[cand(1, true, 2, 0), cand(2, true, 2, 2)], Some(id(1)), Some(id(1))),
            (&[cand(1, true, 2, 2), cand(2, true, 2, 2)], None, None),
            (&[cand(1, true, 0, 0)], None, None),
            (&[], None, None),
        ];
        for (candidates, last, want) in cases {
            assert_eq!(pick(Strategy::RoundRobin, candidates, *last, None), *want, "{candidates:?}");
            let least = pick(Strategy::LeastLoaded, candidates, *last, None);
            assert_eq!(least.is_some(), want.is_some());
        }
    }

    #[test]
    fn least_loaded_picks_fewest_open_then_lowest_id() {
        let staff = [cand(3, true, 5, 1), cand(1, true, 5, 2), cand(2, true, 5, 1)];
        assert_eq!(pick(Strategy::LeastLoaded, &staff, None, None), Some(id(2)));
        assert_eq!(pick(Strategy::LeastLoaded, &staff, Some(id(2)), None), Some(id(2)));
        assert_eq!(pick(Strategy::LeastLoaded, &staff, None, Some(id(2))), Some(id(3)));
    }

    #[test]
    fn exclusion_skips_the_current_assignee() {
        let staff = [cand(1, true, 2, 1), cand(2, true, 2, 0)];
        assert_eq!(pick(Strategy::RoundRobin, &staff, Some(id(2)), Some(id(1))), Some(id(2)));
        assert_eq!(pick(Strategy::RoundRobin, &[cand(1, true, 2, 1)], None, Some(id(1))), None);
    }

    #[test]
    fn response_is_due_fifteen_minutes_after_assignment() {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).single().unwrap_or_default();
        assert_eq!(response_due(at, 15), Utc.with_ymd_and_hms(2026, 11, 23, 8, 15, 0).single().unwrap_or_default());
    }

    #[test]
    fn funnel_arithmetic() {
        assert_eq!(ratio(1, 3).as_deref(), Some("0.3333"));
        assert_eq!(ratio(2, 3).as_deref(), Some("0.6667"));
        assert_eq!(ratio(4, 4).as_deref(), Some("1.0000"));
        assert_eq!(ratio(0, 5).as_deref(), Some("0.0000"));
        assert_eq!(ratio(3, 0), None);
        assert_eq!(median_minutes(vec![]), None);
        assert_eq!(median_minutes(vec![600, 120, 300]).as_deref(), Some("5.0"));
        assert_eq!(median_minutes(vec![60, 180, 300, 900]).as_deref(), Some("4.0"));
        assert_eq!(median_minutes(vec![90]).as_deref(), Some("1.5"));
    }
}
