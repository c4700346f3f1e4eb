//! Coupon templates' rules: how a template's status moves, whether it issues, what a change may do
//! to the template as it stands, the validity window of the coupons issued from it, and the stats
//! ratios. Pure: no I/O. What needs the database (the stores exist, quantity against what was
//! issued) is checked by the store with the row locked; what a request body may say is checked by
//! `api::template_body`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::{Decimal, RoundingStrategy};
use uuid::Uuid;

use super::model::{CouponTemplateKind as Kind, CouponTemplateStatus as Status, Template};

/// Entries in each scope list (`stores`, `channels`, `categories`, `skus`).
pub const MAX_LIST: usize = 200;
/// Characters in a category, SKU or gift SKU.
pub const MAX_ENTRY_CHARS: usize = 64;
pub const MAX_VALID_DAYS: i32 = 3650;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// A template as checked, ready to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTemplate {
    pub name: String,
    pub description: Option<String>,
    pub kind: Kind,
    pub threshold: Option<Decimal>,
    pub discount: Option<Decimal>,
    pub discount_rate: Option<Decimal>,
    pub max_discount: Option<Decimal>,
    pub gift_sku: Option<String>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
    pub valid_days_after_issue: Option<i32>,
    pub total_quantity: Option<i32>,
    pub per_customer_limit: Option<i32>,
    pub store_ids: Vec<Uuid>,
    pub channels: Vec<String>,
    pub categories: Vec<String>,
    pub skus: Vec<String>,
    pub stackable: bool,
    pub unit_cost: Decimal,
    pub status: Status,
}

/// A patch whose fields are each valid on their own.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TemplateChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub status: Option<Status>,
    pub total_quantity: Option<Option<i32>>,
    pub per_customer_limit: Option<Option<i32>>,
    pub valid_to: Option<Option<DateTime<Utc>>>,
    pub unit_cost: Option<Decimal>,
}

/// Why changes cannot apply to the template as it stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The lifecycle does not allow the move (409 `invalid_transition`).
    Transition { from: Status, to: Status },
    /// Fields that do not fit the template, each with why (422).
    Fields(Vec<(&'static str, String)>),
}

impl TemplateChanges {
    /// The rules that need the current template: the status transition, the quantity against what
    /// was issued and the end against the start.
    pub fn refusal(&self, current: &Template, now: DateTime<Utc>) -> Option<Refusal> {
        if let Some(to) = self.status {
            if to != current.status && !can_move(current.status, to) {
                return Some(Refusal::Transition { from: current.status, to });
            }
        }
        let mut fields: Vec<(&'static str, String)> = Vec::new();
        let mut check = |ok: bool, field: &'static str, message: &str| {
            if !ok {
                fields.push((field, message.to_string()));
            }
        };
        if let Some(Some(q)) = self.total_quantity {
            check(
                q >= current.issued_count,
                "total_quantity",
                &format!("must not be below the {} coupons already issued", current.issued_count),
            );
        }
        match self.valid_to {
            Some(Some(to)) if to != current.valid_to.unwrap_or_default() => {
                check(to > now, "valid_to", "must be in the future");
                if let Some(from) = current.valid_from {
                    check(from < to, "valid_to", "must be after valid_from");
                }
            }
            Some(None) => check(
                current.valid_days_after_issue.is_some(),
                "valid_to",
                "is required while valid_days_after_issue is not set",
            ),
            _ => {}
        }
        (!fields.is_empty()).then_some(Refusal::Fields(fields))
    }

    pub fn is_empty(&self) -> bool {
        *self == TemplateChanges::default()
    }
}

/// draft → active | ended; active → paused | ended; paused → active | ended; ended is final.
pub fn can_move(from: Status, to: Status) -> bool {
    use Status::*;
    matches!((from, to), (Draft, Active | Ended) | (Active, Paused | Ended) | (Paused, Active | Ended))
}

/// Why a template issues no coupon now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotIssuable {
    /// Coupons are issued only from an active template.
    NotActive(Status),
    /// Its `valid_to` has passed.
    Expired,
}

/// Coupons are issued only from an active template whose end has not passed.
pub fn issuable(t: &Template, now: DateTime<Utc>) -> Result<(), NotIssuable> {
    if t.status != Status::Active {
        return Err(NotIssuable::NotActive(t.status));
    }
    if t.valid_to.is_some_and(|to| to <= now) {
        return Err(NotIssuable::Expired);
    }
    Ok(())
}
/// When a coupon issued at `now` is valid: from the template's `valid_from` (or now when it has none)
/// until `valid_to`, or through local day D + `valid_days_after_issue` where D is the day it becomes
/// valid (business time zone); with both, the earlier end.
pub fn coupon_window(t: &Template, now: DateTime<Utc>, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let valid_from = t.valid_from.unwrap_or(now);
    let by_days = t.valid_days_after_issue.map(|days| crate::loyalty::rules::expires_at(valid_from.max(now), days, tz));
    let expires_at = match (t.valid_to, by_days) {
        (Some(to), Some(days)) => to.min(days),
        (Some(to), None) => to,
        (None, Some(days)) => days,
        // The table refuses a template with neither.
        (None, None) => now,
    };
    (valid_from, expires_at)
}

/// `redeemed / issued` with 4 decimals, half-up ("0.0000" when nothing was issued).
pub fn redemption_rate(redeemed: i64, issued: i64) -> String {
    if issued <= 0 {
        return "0.0000".into();
    }
    let rate = (Decimal::from(redeemed) / Decimal::from(issued))
        .round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero);
    format!("{rate:.4}")
}

/// `gmv / cost` with 2 decimals, half-up; `None` when nothing was spent.
pub fn roi(gmv: Decimal, cost: Decimal) -> Option<String> {
    if cost <= Decimal::ZERO {
        return None;
    }
    Some(format!("{:.2}", crate::money::round(gmv / cost)))
}

/// A cash template as tests start from, changed by `extra`.
#[cfg(test)]
pub(crate) fn sample_template(now: DateTime<Utc>, extra: impl FnOnce(&mut Template)) -> Template {
    let mut t = Template {
        id: Uuid::nil(),
        name: "t".into(),
        description: None,
        kind: Kind::Cash,
        threshold: None,
        discount: Some(Decimal::from(20)),
        discount_rate: None,
        max_discount: None,
        gift_sku: None,
        valid_from: None,
        valid_to: None,
        valid_days_after_issue: Some(30),
        total_quantity: None,
        per_customer_limit: None,
        store_ids: vec![],
        channels: vec![],
        categories: vec![],
        skus: vec![],
        stackable: false,
        unit_cost: Decimal::ZERO,
        status: Status::Active,
        issued_count: 0,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    extra(&mut t);
    t
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).single().unwrap_or_default()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap_or_default()
    }

    fn template(extra: impl FnOnce(&mut Template)) -> Template {
        sample_template(now(), extra)
    }

    #[test]
    fn status_moves_along_the_lifecycle_and_ended_is_final() {
        let allowed = ["draft>active", "draft>ended", "active>paused", "active>ended", "paused>active", "paused>ended"];
        for from in Status::ALL {
            for to in Status::ALL {
                let expected = allowed.contains(&format!("{from}>{to}").as_str());
                assert_eq!(can_move(*from, *to), expected, "{from} → {to}");
            }
        }
    }

    #[test]
    fn only_active_unexpired_templates_issue() {
        assert_eq!(issuable(&template(|_| {}), now()), Ok(()));
        for status in [Status::Draft, Status::Paused, Status::Ended] {
            assert_eq!(issuable(&template(|t| t.status = status), now()), Err(NotIssuable::NotActive(status)));
        }
        assert_eq!(issuable(&template(|t| t.valid_to = Some(now())), now()), Err(NotIssuable::Expired));
    }

    #[test]
    fn coupons_last_through_local_day_d_plus_n_or_until_valid_to() {
        let tz = chrono_tz::Asia::Shanghai;
        // 2026-11-23 08:00Z is 16:00 in Shanghai; valid through 12-23 local, so until 12-23 16:00Z.
        let (from, to) = coupon_window(&template(|_| {}), now(), tz);
        assert_eq!(from, now());
        assert_eq!(to, Utc.with_ymd_and_hms(2026, 12, 23, 16, 0, 0).single().unwrap_or_default());
        let end = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).single().unwrap_or_default();
        let (_, to) = coupon_window(&template(|t| t.valid_to = Some(end)), now(), tz);
        assert_eq!(to, end, "the earlier end wins");
        let (_, to) = coupon_window(
            &template(|t| {
                t.valid_to = Some(end);
                t.valid_days_after_issue = None;
            }),
            now(),
            tz,
        );
        assert_eq!(to, end);
        // Not valid yet: the days count from when it becomes valid.
        let start = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).single().unwrap_or_default();
        let (from, to) = coupon_window(
            &template(|t| {
                t.valid_from = Some(start);
                t.valid_days_after_issue = Some(1);
            }),
            now(),
            tz,
        );
        assert_eq!(from, start);
        assert_eq!(to, Utc.with_ymd_and_hms(2027, 1, 2, 16, 0, 0).single().unwrap_or_default());
    }

    #[test]
    fn stats_ratios_round_half_up() {
        assert_eq!(redemption_rate(0, 0), "0.0000");
        assert_eq!(redemption_rate(1, 3), "0.3333");
        assert_eq!(redemption_rate(2, 3), "0.6667");
        assert_eq!(redemption_rate(5, 5), "1.0000");
        assert_eq!(roi(d("900"), Decimal::ZERO), None);
        assert_eq!(roi(d("900.00"), d("15.00")).as_deref(), Some("60.00"));
        assert_eq!(roi(d("100"), d("3")).as_deref(), Some("33.33"));
        assert_eq!(roi(d("200"), d("3")).as_deref(), Some("66.67"));
    }
}
