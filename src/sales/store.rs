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

use crate::customers::service::{self as customers, CustomerRef};
use crate::error::{ApiError, ApiResult};
use crate::loyalty::ledger::{Account, SalePoints};
use crate::loyalty::rules::Lot;
use crate::memberships::store::Membership;
use crate::orders::store::{Line, Order, Outcome};

#[derive(QueryableByName)]
struct LockedRow {
    #[diesel(sql_type = SqlUuid)]
    named_id: Uuid,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    merged_into: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    member_card: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    tier_code: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    enrolled_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    m_channel: Option<String>,
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
                 (SELECT c.id, c.status, c.merged_into FROM customer_identities ci \
                  JOIN customers c ON c.id = ci.customer_id WHERE ci.kind = ? AND ci.value = ?) \
                 LIMIT 1), \
             m AS (SELECT m.* FROM memberships m, named \
                   WHERE m.customer_id = CASE named.status WHEN 'active' THEN named.id \
                                                            WHEN 'merged' THEN named.merged_into END",
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
        .get_result(conn)
        .optional()?;
    let row = row.ok_or_else(|| customers::unknown_customer(named))?;
    let customer = customers::live_customer(row.named_id, &row.status, row.merged_into)?;
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
    pub channel: &'a str,
    pub store_id: Option<Uuid>,
    pub external_id: Option<&'a str>,
}

macro_rules! needs_sql {
    ($store_condition:literal) => {
        concat!(
            "WITH p AS (SELECT ?::uuid AS customer, ?::timestamptz AS now, ?::timestamptz AS since, \
                 ?::uuid AS except_id, ?::text AS channel, ?::uuid AS store_id, ?::text AS external_id) \
             SELECT (SELECT o.id FROM orders o WHERE o.channel = p.channel AND o.external_id = p.external_id \
                         AND ",
            $store_condition,
            ") AS existing, \
                 (SELECT catalogue_version FROM loyalty_program) AS catalogue_version, \
                 (p.store_id IS NULL OR EXISTS (SELECT 1 FROM stores s WHERE s.id = p.store_id)) AS store_known, \
                 (SELECT sum(r.points)::bigint FROM checkout_reservations r WHERE r.customer_id = p.customer \
                     AND r.status = 'held' AND r.expires_at > p.now AND r.id IS DISTINCT FROM p.except_id) AS held, \
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
    conn: &mut PgConnection,
    customer: Option<Uuid>,
    key: &NaturalKey,
    consuming: Option<Uuid>,
    now: DateTime<Utc>,
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
    pub id: Uuid,
    pub external_id: &'a str,
    pub channel: &'a str,
    pub store_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
}

/// The member's points in a sale: whose, planned on the locked account, by whom and when.
pub struct SalePosting<'a> {
    pub customer: Uuid,
    pub points: &'a SalePoints,
    pub actor: &'a str,
    pub at: DateTime<Utc>,
}

/// Writes the sale in one statement, once per natural key `(channel, store_id, external_id)`: the
/// priced order, its lines, its events and the member's ledger entries (the redemption's draws,
/// the entries, the earned lot, the account). `None` when the key was posted before: then nothing
/// is written (a concurrent post of the same key waits here for the other to commit or roll back).
pub fn record_sale(
    conn: &mut PgConnection,
    head: &Head,
    outcome: &Outcome,
    lines: &[Line],
    events: &crate::events::EventColumns,
    points: Option<&SalePosting>,
) -> ApiResult<Option<Order>> {
    use diesel::sql_types::{Array, Bool, Int4, Int8, Jsonb};
    let none = SalePoints { entries: Vec::new(), draws: Vec::new(), new_lot: None, balance: 0, debt: 0 };
    let (customer, planned, actor, at) = match points {
        Some(p) => (Some(p.customer), p.points, Some(p.actor), Some(p.at)),
        None => (None, &none, None, None),
    };
    let (draw_ids, draw_points): (Vec<Uuid>, Vec<i64>) = planned.draws.iter().copied().unzip();
    let entry_kinds: Vec<&str> = planned.entries.iter().map(|e| e.kind).collect();
    let entry_deltas: Vec<i64> = planned.entries.iter().map(|e| e.delta).collect();
    let entry_balances: Vec<i64> = planned.entries.iter().map(|e| e.balance_after).collect();
    let entry_lots: Vec<serde_json::Value> = planned.entries.iter().map(|e| e.lots.clone()).collect();
    let lot = planned.new_lot.as_ref();
    fn column<T: Clone>(lines: &[Line], f: impl Fn(&Line) -> T) -> Vec<T> {
        lines.iter().map(f).collect()
    }
    Ok(crate::db::CachedSql::new(concat!(
        "WITH o AS ( \
             INSERT INTO orders (id, external_id, channel, store_id, customer_id, occurred_at, pricing, \
                 total_amount, tier_discount, coupon_discount, points_redeemed, points_offset, paid_amount, \
                 points_earned, earn_rate, points_multiplier, tier_code, tier_after, tier_changed, \
                 points_balance_after, coupon_codes, reservation_id) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT ON CONSTRAINT orders_natural_key DO NOTHING RETURNING *), \
         lines AS ( \
             INSERT INTO order_lines (order_id, line_no, sku, name, category, quantity, unit_price, amount, \
                 discounted_amount, refunded_quantity, tier_discount, coupon_discount) \
             SELECT o.id, l.* FROM o, unnest(?::int[], ?::text[], ?::text[], ?::text[], ?::int[], ?::numeric[], \
                 ?::numeric[], ?::numeric[], ?::int[], ?::numeric[], ?::numeric[]) AS l), \
         events AS ( \
             INSERT INTO events (id, type, occurred_at, subject_id, data) \
             SELECT e.id, e.type, ",
        crate::events::event_time_sql!(),
        ", e.subject_id, e.data \
             FROM o, unnest(?::uuid[], ?::text[], ?::uuid[], ?::jsonb[]) AS e(id, type, subject_id, data)), \
         pts AS (SELECT ?::uuid AS customer, ?::text AS actor, ?::timestamptz AS at, ?::bigint AS balance, \
                     ?::bigint AS debt, ?::uuid AS lot_id, ?::bigint AS lot_points, \
                     ?::timestamptz AS available_at, ?::timestamptz AS expires_at), \
         drawn AS ( \
             UPDATE points_lots l SET remaining = l.remaining - d.take \
             FROM o, unnest(?::uuid[], ?::bigint[]) AS d(id, take) WHERE l.id = d.id RETURNING l.id), \
         entries AS ( \
             INSERT INTO points_entries (customer_id, kind, delta, balance_after, order_id, actor, lots, occurred_at) \
             SELECT pts.customer, e.kind, e.delta, e.balance_after, o.id, pts.actor, e.lots, pts.at \
             FROM o, pts, unnest(?::text[], ?::bigint[], ?::bigint[], ?::jsonb[]) WITH ORDINALITY \
                 AS e(kind, delta, balance_after, lots, n) \
             ORDER BY e.n RETURNING id, kind), \
         lot AS ( \
             INSERT INTO points_lots (id, customer_id, entry_id, order_id, amount, remaining, available_at, expires_at) \
             SELECT pts.lot_id, pts.customer, entries.id, o.id, pts.lot_points, pts.lot_points, pts.available_at, \
                 pts.expires_at FROM o, pts, entries WHERE entries.kind = 'earn' AND pts.lot_points > 0), \
         account AS ( \
             UPDATE points_accounts a SET balance = pts.balance, debt = pts.debt, updated_at = now() \
             FROM o, pts WHERE a.customer_id = pts.customer AND EXISTS (SELECT 1 FROM entries)) \
         SELECT * FROM o",
    ))
    .bind::<SqlUuid, _>(head.id)
    .bind::<Text, _>(head.external_id)
    .bind::<Text, _>(head.channel)
    .bind::<Nullable<SqlUuid>, _>(head.store_id)
    .bind::<Nullable<SqlUuid>, _>(head.customer_id)
    .bind::<Timestamptz, _>(head.occurred_at)
    .bind::<Text, _>(&outcome.pricing)
    .bind::<Numeric, _>(outcome.total_amount)
    .bind::<Numeric, _>(outcome.tier_discount)
    .bind::<Numeric, _>(outcome.coupon_discount)
    .bind::<Int8, _>(outcome.points_redeemed)
    .bind::<Numeric, _>(outcome.points_offset)
    .bind::<Numeric, _>(outcome.paid_amount)
    .bind::<Int8, _>(outcome.points_earned)
    .bind::<Numeric, _>(outcome.earn_rate)
    .bind::<Numeric, _>(outcome.points_multiplier)
    .bind::<Nullable<Text>, _>(&outcome.tier_code)
    .bind::<Nullable<Text>, _>(&outcome.tier_after)
    .bind::<Bool, _>(outcome.tier_changed)
    .bind::<Nullable<Int8>, _>(outcome.points_balance_after)
    .bind::<Array<Text>, _>(&outcome.coupon_codes)
    .bind::<Nullable<SqlUuid>, _>(outcome.reservation_id)
    .bind::<Array<Int4>, _>(column(lines, |l| l.line_no))
    .bind::<Array<Text>, _>(column(lines, |l| l.sku.clone()))
    .bind::<Array<Nullable<Text>>, _>(column(lines, |l| l.name.clone()))
    .bind::<Array<Nullable<Text>>, _>(column(lines, |l| l.category.clone()))
    .bind::<Array<Int4>, _>(column(lines, |l| l.quantity))
    .bind::<Array<Numeric>, _>(column(lines, |l| l.unit_price))
    .bind::<Array<Numeric>, _>(column(lines, |l| l.amount))
    .bind::<Array<Numeric>, _>(column(lines, |l| l.discounted_amount))
    .bind::<Array<Int4>, _>(column(lines, |l| l.refunded_quantity))
    .bind::<Array<Numeric>, _>(column(lines, |l| l.tier_discount))
    .bind::<Array<Numeric>, _>(column(lines, |l| l.coupon_discount))
    .bind::<Array<SqlUuid>, _>(&events.0)
    .bind::<Array<Text>, _>(&events.1)
    .bind::<Array<Nullable<SqlUuid>>, _>(&events.2)
    .bind::<Array<Jsonb>, _>(&events.3)
    .bind::<Nullable<SqlUuid>, _>(customer)
    .bind::<Nullable<Text>, _>(actor)
    .bind::<Nullable<Timestamptz>, _>(at)
    .bind::<Int8, _>(planned.balance)
    .bind::<Int8, _>(planned.debt)
    .bind::<Nullable<SqlUuid>, _>(lot.map(|l| l.id))
    .bind::<Int8, _>(lot.map_or(0, |l| l.points))
    .bind::<Nullable<Timestamptz>, _>(lot.map(|l| l.available_at))
    .bind::<Nullable<Timestamptz>, _>(lot.map(|l| l.expires_at))
    .bind::<Array<SqlUuid>, _>(&draw_ids)
    .bind::<Array<Int8>, _>(&draw_points)
    .bind::<Array<Text>, _>(&entry_kinds)
    .bind::<Array<Int8>, _>(&entry_deltas)
    .bind::<Array<Int8>, _>(&entry_balances)
    .bind::<Array<Jsonb>, _>(&entry_lots)
    .get_result(conn)
    .optional()?)
}
