//! The lifecycle stage (SPEC §9): a pure function of a customer's order history, evaluated on a
//! business day. Profiles, the `lifecycle_stage` search filter, segments and reports all read it
//! from here.
//!
//! Days are counted back from the evaluated day, which is day 0: "the last 30 days" are days
//! 0–29, "the 90 days before" the last 90 are days 90–179, and "over 60 days ago" is day 61 or
//! earlier. The stages are tried in the order SPEC §9 lists them; the first that fits wins.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

/// Where a customer stands in their relationship with the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(example = "active")]
pub enum LifecycleStage {
    /// No orders yet.
    Prospect,
    /// First order within the last 30 days.
    New,
    /// Last order over 60 days ago.
    Dormant,
    /// Orders in the last 90 days at most half those of the 90 days before, which were at least 2.
    ChurnRisk,
    /// An order in the last 30 days.
    Active,
    /// Everyone else.
    Occasional,
}

impl LifecycleStage {
    pub const ALL: [LifecycleStage; 6] = [
        LifecycleStage::Prospect,
        LifecycleStage::New,
        LifecycleStage::Dormant,
        LifecycleStage::ChurnRisk,
        LifecycleStage::Active,
        LifecycleStage::Occasional,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleStage::Prospect => "prospect",
            LifecycleStage::New => "new",
            LifecycleStage::Dormant => "dormant",
            LifecycleStage::ChurnRisk => "churn_risk",
            LifecycleStage::Active => "active",
            LifecycleStage::Occasional => "occasional",
        }
    }

    pub fn parse(value: &str) -> Option<LifecycleStage> {
        LifecycleStage::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// The window of "new" and "active".
pub const RECENT_DAYS: i64 = 30;
/// Past this many days without an order a customer is dormant.
pub const DORMANT_AFTER_DAYS: i64 = 60;
/// The two windows churn risk compares.
pub const CHURN_WINDOW_DAYS: i64 = 90;
/// The earlier window needs at least this many orders for a drop to mean anything.
pub const CHURN_MIN_EARLIER_ORDERS: i64 = 2;

/// What the stage needs to know of a customer's orders, as of the evaluated day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OrderHistory {
    /// Business day of the first order; `None` without orders.
    pub first_order: Option<NaiveDate>,
    /// Business day of the latest order.
    pub last_order: Option<NaiveDate>,
    /// Orders in the last 90 days (days 0–89).
    pub orders_last_90: i64,
    /// Orders in the 90 days before those (days 90–179).
    pub orders_previous_90: i64,
}

impl OrderHistory {
    /// The history as of `day` from the business days of a customer's orders (later ones are
    /// not yet history).
    pub fn from_days(order_days: &[NaiveDate], day: NaiveDate) -> OrderHistory {
        let past: Vec<NaiveDate> = order_days.iter().copied().filter(|d| *d <= day).collect();
        let days_ago = |d: &NaiveDate| (day - *d).num_days();
        OrderHistory {
            first_order: past.iter().min().copied(),
            last_order: past.iter().max().copied(),
            orders_last_90: past.iter().filter(|d| days_ago(d) < CHURN_WINDOW_DAYS).count() as i64,
            orders_previous_90: past
                .iter()
                .filter(|d| (CHURN_WINDOW_DAYS..2 * CHURN_WINDOW_DAYS).contains(&days_ago(d)))
                .count() as i64,
        }
    }
}

/// The stage of a customer with `history` on `day`.
pub fn stage(history: &OrderHistory, day: NaiveDate) -> LifecycleStage {
    let (Some(first), Some(last)) = (history.first_order, history.last_order) else {
        return LifecycleStage::Prospect;
    };
    let days_since = |d: NaiveDate| (day - d).num_days();
    if days_since(first) < RECENT_DAYS {
        return LifecycleStage::New;
    }
    if days_since(last) > DORMANT_AFTER_DAYS {
        return LifecycleStage::Dormant;
    }
    if history.orders_previous_90 >= CHURN_MIN_EARLIER_ORDERS
        && 2 * history.orders_last_90 <= history.orders_previous_90
    {
        return LifecycleStage::ChurnRisk;
    }
    if days_since(last) < RECENT_DAYS {
        return LifecycleStage::Active;
    }
    LifecycleStage::Occasional
}

/// The same rule as SQL, for queries that must pick customers by stage without loading them:
/// an expression over columns or placeholders holding the first and last order days, the two
/// windows' order counts and the evaluated day. `first` is NULL for a customer without orders.
/// A test runs it against [`stage`] on every boundary.
pub fn stage_sql(first: &str, last: &str, recent: &str, earlier: &str, day: &str) -> String {
    use LifecycleStage::*;
    format!(
        "CASE WHEN {first} IS NULL THEN '{prospect}'
              WHEN {day} - {first} < {RECENT_DAYS} THEN '{new}'
              WHEN {day} - {last} > {DORMANT_AFTER_DAYS} THEN '{dormant}'
              WHEN {earlier} >= {CHURN_MIN_EARLIER_ORDERS} AND 2 * {recent} <= {earlier} THEN '{churn}'
              WHEN {day} - {last} < {RECENT_DAYS} THEN '{active}'
              ELSE '{occasional}' END",
        prospect = Prospect.as_str(),
        new = New.as_str(),
        dormant = Dormant.as_str(),
        churn = ChurnRisk.as_str(),
        active = Active.as_str(),
        occasional = Occasional.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::LifecycleStage::*;
    use super::*;

    /// The evaluated day is 2026-11-30; an order `n` days ago is on `today - n`.
    fn on(orders_days_ago: &[i64]) -> LifecycleStage {
        let today = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap_or_default();
        let days: Vec<NaiveDate> = orders_days_ago.iter().map(|n| today - chrono::Duration::days(*n)).collect();
        stage(&OrderHistory::from_days(&days, today), today)
    }

    #[test]
    fn every_boundary_of_every_stage() {
        let cases: &[(&str, &[i64], LifecycleStage)] = &[
            ("no orders", &[], Prospect),
            ("an order tomorrow is not history yet", &[-1], Prospect),
            ("first order today", &[0], New),
            ("first order 29 days ago: still new", &[29], New),
            ("first order 30 days ago: no longer new", &[30], Occasional),
            ("new even with a second order", &[20, 3], New),
            ("last order 60 days ago: not yet dormant", &[200, 60], Occasional),
            ("last order 61 days ago: dormant", &[200, 61], Dormant),
            ("dormant wins over a dropped rhythm", &[100, 120, 130, 140], Dormant),
            ("1 order in days 0-89 against 2 in days 90-179: churn risk", &[10, 100, 150], ChurnRisk),
            ("2 against 4: exactly half is churn risk", &[10, 20, 100, 110, 120, 130], ChurnRisk),
            ("3 against 4: more than half is not", &[10, 20, 40, 100, 110, 120, 130], Active),
            ("day 89 counts in the last 90 (2 against 3)", &[10, 89, 90, 91, 92], Active),
            ("day 90 counts in the 90 before (2 against 4)", &[10, 89, 90, 91, 92, 93], ChurnRisk),
            ("day 179 counts in the 90 before (1 against 2)", &[10, 100, 179, 181], ChurnRisk),
            ("day 180 counts in neither (1 against 1)", &[10, 100, 180], Active),
            ("1 against 1: the earlier window needs at least 2", &[10, 100], Active),
            ("1 against 2 when the 2nd is on day 180: needs 2 in days 90-179", &[40, 100, 180], Occasional),
            ("churn risk wins over active", &[0, 100, 110, 120], ChurnRisk),
            ("an order 29 days ago: active", &[200, 29], Active),
            ("an order 30 days ago: occasional", &[200, 30], Occasional),
        ];
        for (why, orders, expected) in cases {
            assert_eq!(on(orders), *expected, "{why}");
        }
    }

    #[test]
    fn stages_round_trip_through_their_names() {
        for s in LifecycleStage::ALL {
            assert_eq!(LifecycleStage::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).ok(), Some(serde_json::Value::from(s.as_str())));
        }
        assert_eq!(LifecycleStage::parse("vip"), None);
    }
}
