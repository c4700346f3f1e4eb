//! The till's lookup as one statement (`till_card.sql`): the lookup reads customers, memberships,
//! loyalty and coupons together, so its SQL lives with the use case, not in any one domain.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::sql_types::{Array, Date, Int8, Nullable, Numeric, Text, Timestamptz};
use diesel::{PgConnection, QueryableByName, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::customers::lifecycle::OrderHistory;
use crate::customers::store::Customer;
use crate::error::ApiResult;
use crate::loyalty::rules::Lot;

/// Everything the till shows about one customer, as stored.
#[derive(Debug)]
pub struct TillCard {
    pub customer: Customer,
    pub tags: Vec<String>,
    /// (kind, value, created_at), by kind and value.
    pub identities: Vec<(String, String, DateTime<Utc>)>,
    /// The order history as of the day looked up on.
    pub history: OrderHistory,
    /// `None` for a customer who is not a member.
    pub member: Option<Member>,
    pub coupons: Vec<UsableCoupon>,
    /// The latest RFM snapshot's scores, when the customer has them.
    pub rfm: Option<crate::customers::rfm::Scores>,
}

#[derive(Debug)]
pub struct Member {
    pub member_card: String,
    pub enrolled_at: DateTime<Utc>,
    pub tier_valid_until: Option<DateTime<Utc>>,
    pub tier_code: String,
    pub tier_name: String,
    pub discount_rate: Decimal,
    /// Zero before the account's first entry, as `loyalty::ledger::summary` reads a missing account.
    pub points_balance: i64,
    pub points_debt: i64,
    /// The lots with points left, in any state (pending, spendable, expired but not written off).
    pub lots: Vec<Lot>,
}

/// A coupon usable now, soonest expiry first.
#[derive(Debug)]
pub struct UsableCoupon {
    pub code: String,
    pub template_id: Uuid,
    pub name: String,
    pub kind: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(embed)]
    customer: Customer,
    #[diesel(sql_type = Array<Text>)]
    tags: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    identity_kinds: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    identity_values: Vec<String>,
    #[diesel(sql_type = Array<Timestamptz>)]
    identity_created_at: Vec<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    member_card: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    enrolled_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    tier_valid_until: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    tier_code: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    tier_name: Option<String>,
    #[diesel(sql_type = Nullable<Numeric>)]
    discount_rate: Option<Decimal>,
    #[diesel(sql_type = Nullable<Int8>)]
    points_balance: Option<i64>,
    #[diesel(sql_type = Nullable<Int8>)]
    points_debt: Option<i64>,
    #[diesel(sql_type = Array<diesel::sql_types::Uuid>)]
    lot_ids: Vec<Uuid>,
    #[diesel(sql_type = Array<Int8>)]
    lot_remaining: Vec<i64>,
    #[diesel(sql_type = Array<Timestamptz>)]
    lot_available_at: Vec<DateTime<Utc>>,
    #[diesel(sql_type = Array<Timestamptz>)]
    lot_expires_at: Vec<DateTime<Utc>>,
    #[diesel(sql_type = Array<Text>)]
    coupon_codes: Vec<String>,
    #[diesel(sql_type = Array<diesel::sql_types::Uuid>)]
    coupon_template_ids: Vec<Uuid>,
    #[diesel(sql_type = Array<Text>)]
    coupon_names: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    coupon_kinds: Vec<String>,
    #[diesel(sql_type = Array<Timestamptz>)]
    coupon_expires_at: Vec<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Array<Date>>)]
    order_days: Option<Vec<NaiveDate>>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Jsonb>)]
    rfm: Option<serde_json::Value>,
}

fn till_card_statement<'a>(
    kind: &'a str, value: &'a str, now: DateTime<Utc>, coupon_limit: i64,
) -> impl diesel::query_dsl::LoadQuery<'a, PgConnection, Row> + crate::db::cached_sql::Binds + 'a {
    crate::db::CachedSql::new(include_str!("till_card.sql"))
        .param::<Text, _>("kind", kind)
        .param::<Text, _>("value", value)
        .param::<Timestamptz, _>("now", now)
        .param::<Int8, _>("coupon_limit", coupon_limit)
}

/// The customer who holds the identity `(kind, value)` with everything the till shows, at `now`;
/// `None` when nobody holds it (a merged profile's identities moved to the survivor, an erased
/// one's were released). At most `coupon_limit` coupons.
pub fn till_card(
    conn: &mut PgConnection, kind: &str, value: &str, now: DateTime<Utc>, today: NaiveDate, coupon_limit: i64,
) -> ApiResult<Option<TillCard>> {
    let rows: Vec<Row> = till_card_statement(kind, value, now, coupon_limit).load(conn)?;
    // The identity is the primary key of identity_routes: one row at most.
    let Some(r) = rows.into_iter().next() else { return Ok(None) };
    let identities = r
        .identity_kinds
        .into_iter()
        .zip(r.identity_values)
        .zip(r.identity_created_at)
        .map(|((kind, value), created_at)| (kind, value, created_at))
        .collect();
    let lots = r
        .lot_ids
        .into_iter()
        .zip(r.lot_remaining)
        .zip(r.lot_available_at)
        .zip(r.lot_expires_at)
        .map(|(((id, remaining), available_at), expires_at)| Lot { id, remaining, available_at, expires_at })
        .collect();
    // The tier is a foreign key of the membership: these are all set or all null.
    let member = match (r.member_card, r.enrolled_at, r.tier_code, r.tier_name, r.discount_rate) {
        (Some(member_card), Some(enrolled_at), Some(tier_code), Some(tier_name), Some(discount_rate)) => Some(Member {
            member_card,
            enrolled_at,
            tier_valid_until: r.tier_valid_until,
            tier_code,
            tier_name,
            discount_rate,
            points_balance: r.points_balance.unwrap_or(0),
            points_debt: r.points_debt.unwrap_or(0),
            lots,
        }),
        _ => None,
    };
    let coupons = r
        .coupon_codes
        .into_iter()
        .zip(r.coupon_template_ids)
        .zip(r.coupon_names)
        .zip(r.coupon_kinds)
        .zip(r.coupon_expires_at)
        .map(|((((code, template_id), name), kind), expires_at)| UsableCoupon {
            code,
            template_id,
            name,
            kind,
            expires_at,
        })
        .collect();
    let history = OrderHistory::from_days(&r.order_days.unwrap_or_default(), today);
    let rfm = r.rfm.and_then(|v| serde_json::from_value(v).ok());
    Ok(Some(TillCard { customer: r.customer, tags: r.tags, identities, history, member, coupons, rfm }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_till_card_binds_each_parameter_by_name() {
        let query = super::till_card_statement("phone", "13800000000", chrono::DateTime::UNIX_EPOCH, 5);
        assert_eq!(crate::db::cached_sql::verify(&query), Ok(()));
    }
}
