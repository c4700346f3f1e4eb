//! The sale's reads (and the quote's): what a sale needs from customers, memberships, loyalty and
//! orders, in as few statements as the locking allows.
//!
//! Two statements for a member, one for anybody else. The first resolves the customer and locks
//! the membership and then the points account (the lock order every path keeps). The second reads
//! what those locks guard — lots, holds, qualifying spend — and whether the sale was posted
//! before. They cannot be one: in READ COMMITTED a statement that waited for a lock still reads
//! with the snapshot it took before waiting, and would miss the lots another till's sale wrote
//! meanwhile.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::customers::rules::CustomerStatus;
use crate::customers::service::{self as customers, CustomerRef};
use crate::error::{ApiError, ApiResult};
use crate::ids::{CustomerId, OrderId, StoreId};
use crate::loyalty::ledger::{Account, SalePoints};
use crate::loyalty::rules::{EntryKind, Lot};
use crate::memberships::store::Membership;
use crate::orders::store::{Line, Order, Outcome};
use crate::stores::SalesChannel;

#[derive(QueryableByName)]
struct LockedRow {
    #[diesel(sql_type = SqlUuid)]
    named_id: Uuid,
    #[diesel(sql_type = Text)]
    status: CustomerStatus,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    merged_into: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    member_card: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    tier_code: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    enrolled_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    m_channel: Option<SalesChannel>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    m_store_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    tier_since: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    tier_valid_until: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Integer>)]
    m_version: Option<i32>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    m_updated_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<BigInt>)]
    balance: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    debt: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    a_updated_at: Option<DateTime<Utc>>,
}

/// The customer a sale names, with its membership and points account locked.
pub struct Locked {
    /// The live customer (a merged one's survivor); `None` for a guest.
    pub customer: Option<Uuid>,
    pub membership: Option<Membership>,
    /// `None` also for a member who never had points: the caller opens the account.
    pub account: Option<Account>,
}

macro_rules! locked_sql {
    ($lock_membership:literal, $lock_account:literal) => {
        concat!(
            "WITH named AS ( \
                 (SELECT c.id, c.status, c.merged_into FROM customers c WHERE c.id = ?) \
                 UNION ALL \
                 (SELECT c.id, c.status, c.merged_into FROM identity_routes ci \
                  JOIN customers c ON c.id = ci.customer_id WHERE ci.kind = ? AND ci.value = ?) \
                 LIMIT 1), \
             m AS (SELECT m.* FROM memberships m, named \
                   WHERE m.customer_id = CASE named.status WHEN ? THEN named.id \
                                                            WHEN ? THEN named.merged_into END",
            $lock_membership,
            "), \
             a AS (SELECT a.* FROM points_accounts a, m WHERE a.customer_id = m.customer_id",
            $lock_account,
            ") \
             SELECT named.id AS named_id, named.status, named.merged_into, \
                 m.member_card, m.tier_code, m.enrolled_at, m.channel AS m_channel, m.store_id AS m_store_id, \
                 m.tier_since, m.tier_valid_until, m.version AS m_version, m.updated_at AS m_updated_at, \
                 a.balance, a.debt, a.updated_at AS a_updated_at \
             FROM named LEFT JOIN m ON true LEFT JOIN a ON true"
        )
    };
}

/// Resolves who the sale names with their membership and account in one statement; with `lock`,
/// the membership and then the account are locked (the order every path takes them in).
pub fn named_customer(conn: &mut PgConnection, named: &CustomerRef, lock: bool) -> ApiResult<Locked> {
    let (id, kind, value) = match named {
        CustomerRef::Guest => return Ok(Locked { customer: None, membership: None, account: None }),
        CustomerRef::Id(id) => (Some(*id), None, None),
        CustomerRef::Identity(kind, value) => (None, Some(kind.as_str()), Some(value.as_str())),
    };
    const LOCKING: &str = locked_sql!(" FOR UPDATE OF m", " FOR UPDATE OF a");
    const READING: &str = locked_sql!("", "");
    let row: Option<LockedRow> = crate::db::CachedSql::new(if lock { LOCKING } else { READING })
        .bind::<Nullable<SqlUuid>, _>(id)
        .bind::<Nullable<Text>, _>(kind)
        .bind::<Nullable<Text>, _>(value)
        .bind::<Text, _>(CustomerStatus::Active)
        .bind::<Text, _>(CustomerStatus::Merged)
        .get_result(conn)
        .optional()?;
    let row = row.ok_or_else(|| customers::unknown_customer(named))?;
    let customer = customers::live_customer(row.named_id, row.status, row.merged_into)?;
    let membership = match (row.member_card, row.tier_code, row.enrolled_at, row.tier_since, row.m_version) {
        (Some(member_card), Some(tier_code), Some(enrolled_at), Some(tier_since), Some(version)) => Some(Membership {
            customer_id: customer,
            member_card,
            tier_code,
            enrolled_at,
            channel: row.m_channel,
            store_id: row.m_store_id,
            tier_since,
            tier_valid_until: row.tier_valid_until,
            version,
            updated_at: row.m_updated_at.unwrap_or(enrolled_at),
        }),
        _ => None,
    };
    let account = match (row.balance, row.debt, row.a_updated_at) {
        (Some(balance), Some(debt), Some(updated_at)) => {
            Some(Account { customer_id: customer, balance, debt, updated_at })
        }
        _ => None,
    };
    Ok(Locked { customer: Some(customer), membership, account })
}

#[derive(QueryableByName)]
struct NeedsRow {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    existing: Option<Uuid>,
    #[diesel(sql_type = BigInt)]
    catalogue_version: i64,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    store_known: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    held: Option<i64>,
    #[diesel(sql_type = Nullable<Numeric>)]
    spend: Option<Decimal>,
    #[diesel(sql_type = Array<SqlUuid>)]
    lot_ids: Vec<Uuid>,
    #[diesel(sql_type = Array<BigInt>)]
    lot_remaining: Vec<i64>,
    #[diesel(sql_type = Array<Timestamptz>)]
    lot_available_at: Vec<DateTime<Utc>>,
    #[diesel(sql_type = Array<Timestamptz>)]
    lot_expires_at: Vec<DateTime<Utc>>,
}

/// What the locks guard, read after they are held.
pub struct Needs {
    /// The order already posted under this natural key, if any.
    pub existing: Option<Uuid>,
    pub catalogue_version: i64,
    /// Live lots (remaining > 0) of the member; empty for anybody else.
    pub lots: Vec<Lot>,
    /// Points held by checkout reservations other than the one this sale consumes.
    pub held: i64,
    /// Qualifying spend in `(now - 365 days, now]` before this sale.
    pub spend: Decimal,
}

/// Where a sale happens, and the natural key it is posted under (a quote has no `external_id`:
/// nothing is found posted).
pub struct NaturalKey<'a> {
    pub channel: SalesChannel,
    pub store_id: Option<StoreId>,
    pub external_id: Option<&'a str>,
}

macro_rules! needs_sql {
    ($store_condition:literal) => {
        const_format::concatcp!(
            "WITH p AS (SELECT ?::uuid AS customer, ?::timestamptz AS now, ?::timestamptz AS since, \
                 ?::uuid AS except_id, ?::text AS channel, ?::uuid AS store_id, ?::text AS external_id) \
             SELECT (SELECT o.id FROM orders o WHERE o.channel = p.channel AND o.external_id = p.external_id \
                         AND ",
            $store_condition,
            ") AS existing, \
                 (SELECT catalogue_version FROM loyalty_program) AS catalogue_version, \
                 (p.store_id IS NULL OR EXISTS (SELECT 1 FROM stores s WHERE s.id = p.store_id)) AS store_known, \
                 (SELECT sum(r.points)::bigint FROM checkout_reservations r WHERE r.customer_id = p.customer \
                     AND r.status = '",
            crate::reservations::store::ReservationStatus::Held.as_str(),
            "' AND r.expires_at > p.now AND r.id IS DISTINCT FROM p.except_id) AS held, \
                 (SELECT sum(o.paid_amount - o.refunded_amount) FROM orders o WHERE o.customer_id = p.customer \
                     AND o.occurred_at > p.since AND o.occurred_at <= p.now) AS spend, \
                 l.ids AS lot_ids, l.remaining AS lot_remaining, l.available_at AS lot_available_at, \
                 l.expires_at AS lot_expires_at \
             FROM p, LATERAL (SELECT coalesce(array_agg(id), '{}') AS ids, \
                                     coalesce(array_agg(remaining), '{}') AS remaining, \
                                     coalesce(array_agg(available_at), '{}') AS available_at, \
                                     coalesce(array_agg(expires_at), '{}') AS expires_at \
                              FROM points_lots WHERE customer_id = p.customer AND remaining > 0) l"
        )
    };
}

/// Lots, holds and qualifying spend of `customer` (none for a guest) and whether `key` was posted;
/// 422 on `store_id` when the sale names a store that does not exist.
/// The store is compared with `=` or `IS NULL`, never `IS NOT DISTINCT FROM`, so the natural-key
/// index finds the order.
pub fn needs(
    conn: &mut PgConnection, customer: Option<Uuid>, key: &NaturalKey, consuming: Option<Uuid>, now: DateTime<Utc>,
) -> ApiResult<Needs> {
    const AT_STORE: &str = needs_sql!("o.store_id = p.store_id");
    const NO_STORE: &str = needs_sql!("o.store_id IS NULL");
    let sql = if key.store_id.is_some() { AT_STORE } else { NO_STORE };
    let row: NeedsRow = crate::db::CachedSql::new(sql)
        .bind::<Nullable<SqlUuid>, _>(customer)
        .bind::<Timestamptz, _>(now)
        .bind::<Timestamptz, _>(crate::memberships::rules::qualifying_since(now))
        .bind::<Nullable<SqlUuid>, _>(consuming)
        .bind::<Text, _>(key.channel)
        .bind::<Nullable<SqlUuid>, _>(key.store_id)
        .bind::<Nullable<Text>, _>(key.external_id)
        .get_result(conn)?;
    if !row.store_known {
        // Checked here rather than by a foreign key (see the migration `till`).
        return Err(ApiError::invalid("store_id", "no store with this id"));
    }
    let lots = row
        .lot_ids
        .into_iter()
        .zip(row.lot_remaining)
        .zip(row.lot_available_at.into_iter().zip(row.lot_expires_at))
        .map(|((id, remaining), (available_at, expires_at))| Lot { id, remaining, available_at, expires_at })
        .collect();
    Ok(Needs {
        existing: row.existing,
        catalogue_version: row.catalogue_version,
        lots,
        held: row.held.unwrap_or(0),
        spend: row.spend.unwrap_or(Decimal::ZERO),
    })
}

/// What identifies an order and who it is for, before it is priced.
pub struct Head<'a> {
    pub id: OrderId,
    pub external_id: &'a str,
    pub channel: SalesChannel,
    pub store_id: Option<StoreId>,
    pub customer_id: Option<CustomerId>,
    pub occurred_at: DateTime<Utc>,
}

/// The member's points in a sale: whose, planned on the locked account, by whom and when.
pub struct SalePosting<'a> {
    pub customer: CustomerId,
    pub points: &'a SalePoints,
    pub actor: &'a str,
    pub at: DateTime<Utc>,
}

/// Writes the sale in one statement, once per natural key `(channel, store_id, external_id)`: the
/// priced order, its lines, its events and the member's ledger entries (the redemption's draws,
/// the entries, the earned lot, the account). `None` when the key was posted before: then nothing
/// is written (a concurrent post of the same key waits here for the other to commit or roll back).
pub fn record_sale(
    conn: &mut PgConnection, head: &Head, outcome: &Outcome, lines: &[Line], events: &crate::events::EventColumns,
    points: Option<&SalePosting>,
) -> ApiResult<Option<Order>> {
    Ok(record_sale_statement(head, outcome, lines, events, points).get_result(conn).optional()?)
}

/// `record_sale.sql` with every parameter bound by its name.
fn record_sale_statement<'a>(
    head: &'a Head, outcome: &'a Outcome, lines: &[Line], events: &'a crate::events::EventColumns,
    points: Option<&'a SalePosting>,
) -> impl diesel::query_dsl::LoadQuery<'a, PgConnection, Order> + crate::db::cached_sql::Binds + 'a {
    use diesel::sql_types::{Bool, Int4, Int8, Jsonb};
    fn column<T>(lines: &[Line], f: impl Fn(&Line) -> T) -> Vec<T> {
        lines.iter().map(f).collect()
    }
    let planned = points.map(|p| p.points);
    let entries = planned.map_or(&[][..], |p| &p.entries[..]);
    let (draw_ids, draw_points): (Vec<Uuid>, Vec<i64>) =
        planned.map_or(&[][..], |p| &p.draws[..]).iter().copied().unzip();
    let lot = planned.and_then(|p| p.new_lot.as_ref());
    crate::db::CachedSql::new(include_str!("record_sale.sql"))
        .param::<SqlUuid, _>("id", head.id)
        .param::<Text, _>("external_id", head.external_id)
        .param::<Text, _>("channel", head.channel)
        .param::<Nullable<SqlUuid>, _>("store_id", head.store_id)
        .param::<Nullable<SqlUuid>, _>("customer_id", head.customer_id)
        .param::<Timestamptz, _>("occurred_at", head.occurred_at)
        .param::<Text, _>("pricing", outcome.pricing)
        .param::<Numeric, _>("total_amount", outcome.total_amount)
        .param::<Numeric, _>("tier_discount", outcome.tier_discount)
        .param::<Numeric, _>("coupon_discount", outcome.coupon_discount)
        .param::<Int8, _>("points_redeemed", outcome.points_redeemed)
        .param::<Numeric, _>("points_offset", outcome.points_offset)
        .param::<Numeric, _>("paid_amount", outcome.paid_amount)
        .param::<Int8, _>("points_earned", outcome.points_earned)
        .param::<Numeric, _>("earn_rate", outcome.earn_rate)
        .param::<Numeric, _>("points_multiplier", outcome.points_multiplier)
        .param::<Nullable<Text>, _>("tier_code", &outcome.tier_code)
        .param::<Nullable<Text>, _>("tier_after", &outcome.tier_after)
        .param::<Bool, _>("tier_changed", outcome.tier_changed)
        .param::<Nullable<Int8>, _>("points_balance_after", outcome.points_balance_after)
        .param::<Array<Text>, _>("coupon_codes", &outcome.coupon_codes)
        .param::<Nullable<SqlUuid>, _>("reservation_id", outcome.reservation_id)
        .param::<Array<Int4>, _>("line_nos", column(lines, |l| l.line_no))
        .param::<Array<Text>, _>("line_skus", column(lines, |l| l.sku.clone()))
        .param::<Array<Nullable<Text>>, _>("line_names", column(lines, |l| l.name.clone()))
        .param::<Array<Nullable<Text>>, _>("line_categories", column(lines, |l| l.category.clone()))
        .param::<Array<Int4>, _>("line_quantities", column(lines, |l| l.quantity))
        .param::<Array<Numeric>, _>("line_unit_prices", column(lines, |l| l.unit_price))
        .param::<Array<Numeric>, _>("line_amounts", column(lines, |l| l.amount))
        .param::<Array<Numeric>, _>("line_discounted_amounts", column(lines, |l| l.discounted_amount))
        .param::<Array<Int4>, _>("line_refunded_quantities", column(lines, |l| l.refunded_quantity))
        .param::<Array<Numeric>, _>("line_tier_discounts", column(lines, |l| l.tier_discount))
        .param::<Array<Numeric>, _>("line_coupon_discounts", column(lines, |l| l.coupon_discount))
        .param::<Array<SqlUuid>, _>("event_ids", &events.0)
        .param::<Array<Text>, _>("event_types", &events.1)
        .param::<Array<Nullable<SqlUuid>>, _>("event_subjects", &events.2)
        .param::<Array<Jsonb>, _>("event_data", &events.3)
        .param::<Nullable<SqlUuid>, _>("points_customer", points.map(|p| p.customer))
        .param::<Nullable<Text>, _>("actor", points.map(|p| p.actor))
        .param::<Nullable<Timestamptz>, _>("at", points.map(|p| p.at))
        .param::<Int8, _>("balance", planned.map_or(0, |p| p.balance))
        .param::<Int8, _>("debt", planned.map_or(0, |p| p.debt))
        .param::<Nullable<SqlUuid>, _>("lot_id", lot.map(|l| l.id))
        .param::<Int8, _>("lot_points", lot.map_or(0, |l| l.points))
        .param::<Nullable<Timestamptz>, _>("available_at", lot.map(|l| l.available_at))
        .param::<Nullable<Timestamptz>, _>("expires_at", lot.map(|l| l.expires_at))
        .param::<Array<SqlUuid>, _>("draw_ids", draw_ids)
        .param::<Array<Int8>, _>("draw_points", draw_points)
        .param::<Array<Text>, _>("entry_kinds", entries.iter().map(|e| e.kind).collect::<Vec<_>>())
        .param::<Array<Int8>, _>("entry_deltas", entries.iter().map(|e| e.delta).collect::<Vec<_>>())
        .param::<Array<Int8>, _>("entry_balances", entries.iter().map(|e| e.balance_after).collect::<Vec<_>>())
        .param::<Array<Jsonb>, _>("entry_lots", entries.iter().map(|e| e.lots.clone()).collect::<Vec<_>>())
        .param::<Text, _>("earn_kind", EntryKind::Earn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loyalty::ledger::{PlannedEntry, PlannedLot};

    #[test]
    fn the_sale_binds_each_parameter_by_name() {
        let now = DateTime::UNIX_EPOCH;
        let head = Head {
            id: OrderId(Uuid::now_v7()),
            external_id: "POS-1",
            channel: SalesChannel::Pos,
            store_id: None,
            customer_id: Some(CustomerId(Uuid::now_v7())),
            occurred_at: now,
        };
        let outcome = Outcome {
            pricing: crate::orders::rules::PricingMode::Crm,
            total_amount: Decimal::new(10000, 2),
            tier_discount: Decimal::ZERO,
            coupon_discount: Decimal::ZERO,
            points_redeemed: 0,
            points_offset: Decimal::ZERO,
            paid_amount: Decimal::new(10000, 2),
            points_earned: 100,
            earn_rate: Decimal::ONE,
            points_multiplier: Decimal::ONE,
            tier_code: Some("silver".into()),
            tier_after: Some("silver".into()),
            tier_changed: false,
            points_balance_after: Some(100),
            coupon_codes: vec![],
            reservation_id: None,
        };
        let points = SalePoints {
            entries: vec![PlannedEntry {
                kind: EntryKind::Earn,
                delta: 100,
                balance_after: 100,
                lots: serde_json::json!([]),
            }],
            draws: vec![(Uuid::now_v7(), 10)],
            new_lot: Some(PlannedLot { id: Uuid::now_v7(), points: 100, available_at: now, expires_at: now }),
            balance: 100,
            debt: 0,
        };
        let posting = SalePosting { customer: CustomerId(Uuid::now_v7()), points: &points, actor: "till", at: now };
        let events = crate::events::EventColumns::default();
        let member = record_sale_statement(&head, &outcome, &[], &events, Some(&posting));
        assert_eq!(crate::db::cached_sql::verify(&member), Ok(()));
        let guest = record_sale_statement(&head, &outcome, &[], &events, None);
        assert_eq!(crate::db::cached_sql::verify(&guest), Ok(()));
    }

    #[test]
    fn the_sale_stamps_its_events_as_every_event_is_stamped() {
        assert!(include_str!("record_sale.sql").contains(crate::events::event_time_sql!()));
    }
}
