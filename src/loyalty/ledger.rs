//! The points ledger: every change locks the member's account row, appends an entry with its
//! running balance, and moves lots. Entries are never updated or deleted.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use super::rules::{plan_consumption, summarize, EntryKind, Lot, Summary};
use crate::error::{ApiError, ApiResult};
use crate::events::types::points_expired;
use crate::ids::OrderId;
use crate::schema::{points_accounts as pa, points_entries as pe, points_lots as pl};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pa)]
pub struct Account {
    pub customer_id: Uuid,
    pub balance: i64,
    pub debt: i64,
    pub updated_at: DateTime<Utc>,
}

/// What an entry is about.
#[derive(Debug, Clone)]
pub struct Posting {
    pub kind: EntryKind,
    pub order_id: Option<Uuid>,
    pub refund_id: Option<Uuid>,
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub actor: String,
    pub at: DateTime<Utc>,
    /// The checkout reservation this spend consumes: its held points are this spend's to use.
    pub reservation_id: Option<Uuid>,
}

impl Posting {
    pub fn new(kind: EntryKind, actor: &str, at: DateTime<Utc>) -> Posting {
        Posting {
            kind,
            order_id: None,
            refund_id: None,
            reference: None,
            reason: None,
            actor: actor.to_string(),
            at,
            reservation_id: None,
        }
    }
    pub fn consuming(mut self, reservation_id: Option<Uuid>) -> Self {
        self.reservation_id = reservation_id;
        self
    }
    pub fn order(mut self, order_id: OrderId) -> Self {
        self.order_id = Some(order_id.uuid());
        self
    }
    pub fn refund(mut self, refund_id: Uuid) -> Self {
        self.refund_id = Some(refund_id);
        self
    }
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
    pub fn reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }
}

/// Locks (creating it when needed) the member's account: the serialization point for all of
/// their points, so two tills can never both spend the same balance.
pub fn lock_account(conn: &mut PgConnection, customer: Uuid) -> ApiResult<Account> {
    // The account usually exists: one round trip then; the insert only for a member's first points.
    if let Some(account) = pa::table.find(customer).select(Account::as_select()).for_update().first(conn).optional()? {
        return Ok(account);
    }
    diesel::insert_into(pa::table).values(pa::customer_id.eq(customer)).on_conflict_do_nothing().execute(conn)?;
    Ok(pa::table.find(customer).select(Account::as_select()).for_update().first(conn)?)
}

/// Writes one entry in one round trip: the lots it draws from, the entry with its running
/// balance, the lot it creates (if any), and the account's new balance and debt.
#[allow(clippy::too_many_arguments)] // one statement, every part of the entry
fn post_entry(
    conn: &mut PgConnection, account: &mut Account, delta: i64, debt_change: i64, posting: &Posting,
    draws: &[(Uuid, i64)], lots: Value, new_lot: Option<PlannedLot>,
) -> ApiResult<i64> {
    account.balance += delta;
    account.debt += debt_change;
    let lot =
        new_lot.unwrap_or(PlannedLot { id: Uuid::nil(), points: 0, available_at: posting.at, expires_at: posting.at });
    let row = super::store::entry_statement(account, delta, posting, draws, lots, lot).get_result(conn)?;
    Ok(row.entry_id)
}

fn append(
    conn: &mut PgConnection, account: &mut Account, delta: i64, debt_change: i64, posting: &Posting, lots: Value,
) -> ApiResult<i64> {
    post_entry(conn, account, delta, debt_change, posting, &[], lots, None)
}

/// Credits points (earning, returns, positive adjustments, merges): debt is paid first, the rest
/// becomes a lot with its own availability and expiry.
pub fn credit(
    conn: &mut PgConnection, account: &mut Account, points: i64, posting: &Posting, available_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> ApiResult<Option<i64>> {
    if points <= 0 {
        return Ok(None);
    }
    let (pays_debt, lots, new_lot) = credit_plan(account, points, available_at, expires_at);
    let entry = post_entry(conn, account, points, -pays_debt, posting, &[], lots, Some(new_lot))?;
    Ok(Some(entry))
}

/// What a credit does: the debt it pays first, the lots it records, the lot the rest becomes.
fn credit_plan(
    account: &Account, points: i64, available_at: DateTime<Utc>, expires_at: DateTime<Utc>,
) -> (i64, Value, PlannedLot) {
    let pays_debt = points.min(account.debt);
    let lot_points = points - pays_debt;
    let lot_id = Uuid::now_v7();
    let lots = if lot_points > 0 { json!([{"lot_id": lot_id, "points": lot_points}]) } else { json!([]) };
    (pays_debt, lots, PlannedLot { id: lot_id, points: lot_points, available_at, expires_at })
}

/// A lot row: id, remaining, available_at, expires_at, order.
type LotRow = (Uuid, i64, DateTime<Utc>, DateTime<Utc>, Option<Uuid>);

fn live_lots(conn: &mut PgConnection, customer: Uuid) -> ApiResult<Vec<(Lot, Option<Uuid>)>> {
    let rows: Vec<LotRow> = pl::table
        .filter(pl::customer_id.eq(customer))
        .filter(pl::remaining.gt(0))
        .select((pl::id, pl::remaining, pl::available_at, pl::expires_at, pl::order_id))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, remaining, available_at, expires_at, order)| {
            (Lot { id, remaining, available_at, expires_at }, order)
        })
        .collect())
}

#[derive(QueryableByName)]
struct LotWithHolds {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Int8)]
    remaining: i64,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    available_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    expires_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Int8>)]
    held: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Int8>)]
    debt: Option<i64>,
}

/// The live lots, the points checkout reservations other than `except` hold, and the account's
/// debt, in one query (holds and debt only matter when there are lots to spend).
fn lots_and_holds(
    conn: &mut PgConnection, customer: Uuid, now: DateTime<Utc>, except: Option<Uuid>,
) -> ApiResult<(Vec<Lot>, i64, i64)> {
    use diesel::sql_types::{Nullable, Timestamptz, Uuid as SqlUuid};
    let rows: Vec<LotWithHolds> = crate::db::CachedSql::new(
        // Holds and debt once per query, not once per lot row. 'held' is `reservations`'
        // `ReservationStatus::Held`, spelled here because the ledger sits below reservations.
        "WITH p AS (SELECT ?::timestamptz AS now, ?::uuid AS except_id, ?::uuid AS customer), \
         h AS (SELECT sum(r.points)::bigint AS held FROM checkout_reservations r, p \
               WHERE r.customer_id = p.customer AND r.status = 'held' AND r.expires_at > p.now \
                 AND r.id IS DISTINCT FROM p.except_id), \
         a AS (SELECT a.debt FROM points_accounts a, p WHERE a.customer_id = p.customer) \
         SELECT l.id, l.remaining, l.available_at, l.expires_at, h.held, (SELECT debt FROM a) AS debt \
         FROM p JOIN points_lots l ON l.customer_id = p.customer AND l.remaining > 0 CROSS JOIN h",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<Nullable<SqlUuid>, _>(except)
    .bind::<SqlUuid, _>(customer)
    .load(conn)?;
    let held = rows.first().and_then(|r| r.held).unwrap_or(0);
    let debt = rows.first().and_then(|r| r.debt).unwrap_or(0);
    let lots = rows
        .into_iter()
        .map(|r| Lot { id: r.id, remaining: r.remaining, available_at: r.available_at, expires_at: r.expires_at })
        .collect();
    Ok((lots, held, debt))
}

/// Points the member can spend now, from the live lots, the debt and what other tills hold as the
/// caller read them: never below zero.
pub fn spendable(lots: &[Lot], debt: i64, held: i64, now: DateTime<Utc>) -> i64 {
    spendable_after(lots, debt, held, now).max(0)
}

/// Spendable lots less the debt and what other tills hold (may be negative).
fn spendable_after(lots: &[Lot], debt: i64, held: i64, now: DateTime<Utc>) -> i64 {
    lots.iter().filter(|l| l.spendable(now)).map(|l| l.remaining).sum::<i64>() - debt - held
}

fn drawn_json(plan: &[(Uuid, i64)]) -> Value {
    Value::Array(plan.iter().map(|(lot, take)| json!({"lot_id": lot, "points": take})).collect())
}

/// Draws from lots on its own (refund take-backs and debt settlement, where what is drawn must be
/// visible to the next step before the entry is written).
fn draw(conn: &mut PgConnection, customer: Uuid, plan: &[(Uuid, i64)]) -> ApiResult<Value> {
    for (lot, take) in plan {
        diesel::update(pl::table.find((customer, lot))).set(pl::remaining.eq(pl::remaining - take)).execute(conn)?;
    }
    Ok(drawn_json(plan))
}

pub fn insufficient(available: i64, wanted: i64) -> ApiError {
    ApiError::unprocessable("insufficient_points", format!("{wanted} points needed, {available} available"))
        .with("available", available)
        .with("requested", wanted)
}

/// Spends points (redemption, rewards, negative adjustments) from spendable lots, soonest expiry
/// first; 422 `insufficient_points` when they do not cover it, counting points a checkout
/// reservation holds for another till as gone. Never creates debt.
pub fn spend(
    conn: &mut PgConnection, account: &mut Account, points: i64, posting: &Posting, now: DateTime<Utc>,
) -> ApiResult<Option<i64>> {
    if points <= 0 {
        return Ok(None);
    }
    let (lots, held, _) = lots_and_holds(conn, account.customer_id, now, posting.reservation_id)?;
    let plan = spend_plan(account, points, now, &lots, held)?;
    Ok(Some(post_entry(conn, account, -points, 0, posting, &plan, drawn_json(&plan), None)?))
}

/// The lots a spend draws from, soonest expiry first; 422 `insufficient_points` when they do not
/// cover it (debt and other tills' holds count as gone).
fn spend_plan(
    account: &Account, points: i64, now: DateTime<Utc>, lots: &[Lot], held: i64,
) -> ApiResult<Vec<(Uuid, i64)>> {
    let available = spendable_after(lots, account.debt, held, now);
    if account.debt > 0 || points > available {
        return Err(insufficient(available.max(0), points));
    }
    plan_consumption(lots, points, now).ok_or_else(|| insufficient(available, points))
}

/// One entry a caller writes in its own statement, planned exactly as `post_entry` would write it.
pub struct PlannedEntry {
    pub kind: EntryKind,
    pub delta: i64,
    pub balance_after: i64,
    pub lots: Value,
}

/// The lot an entry creates (an earning's).
pub struct PlannedLot {
    pub id: Uuid,
    pub points: i64,
    pub available_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A sale's points, planned on its locked account: the redemption, then the earning, as `spend`
/// and `credit` would post them, for the sale to write with the order in one statement.
pub struct SalePoints {
    /// In ledger order: `redeem`, then `earn`.
    pub entries: Vec<PlannedEntry>,
    /// What the redemption draws from each lot.
    pub draws: Vec<(Uuid, i64)>,
    /// The lot the earning becomes (none when it all paid debt); its entry is the `earn` one.
    pub new_lot: Option<PlannedLot>,
    /// The account after both.
    pub balance: i64,
    pub debt: i64,
}

/// Plans a sale's redemption and earning on `account` (updated to what it will be after them).
#[allow(clippy::too_many_arguments)] // the two movements and the facts each rule needs
pub fn plan_sale(
    account: &mut Account, redeem: i64, earn: i64, lots: &[Lot], held: i64, now: DateTime<Utc>,
    available_at: DateTime<Utc>, expires_at: DateTime<Utc>,
) -> ApiResult<SalePoints> {
    let mut planned = SalePoints { entries: Vec::new(), draws: Vec::new(), new_lot: None, balance: 0, debt: 0 };
    if redeem > 0 {
        planned.draws = spend_plan(account, redeem, now, lots, held)?;
        account.balance -= redeem;
        planned.entries.push(PlannedEntry {
            kind: EntryKind::Redeem,
            delta: -redeem,
            balance_after: account.balance,
            lots: drawn_json(&planned.draws),
        });
    }
    if earn > 0 {
        let (pays_debt, lots, lot) = credit_plan(account, earn, available_at, expires_at);
        account.balance += earn;
        account.debt -= pays_debt;
        planned.entries.push(PlannedEntry { kind: EntryKind::Earn, delta: earn, balance_after: account.balance, lots });
        planned.new_lot = (lot.points > 0).then_some(lot);
    }
    planned.balance = account.balance;
    planned.debt = account.debt;
    Ok(planned)
}

/// Takes back points a refund un-earns: first from the order's own lots (pending ones included,
/// so a refund inside the pending window leaves no debt), then from other unexpired lots, and
/// whatever is still missing becomes debt that later earnings pay first.
pub fn take_back(
    conn: &mut PgConnection, account: &mut Account, points: i64, posting: &Posting, now: DateTime<Utc>,
) -> ApiResult<Option<i64>> {
    if points <= 0 {
        return Ok(None);
    }
    let own = |order: &Option<Uuid>| order.is_some() && *order == posting.order_id;
    let mut lots = live_lots(conn, account.customer_id)?;
    // The order's own lots count even when expired but not yet written off: they hold the very
    // points the refund takes back. Other lots must still be alive.
    lots.retain(|(l, order)| l.expires_at > now || own(order));
    lots.sort_by_key(|(l, order)| (!own(order), l.expires_at, l.id));
    let mut left = points;
    let mut plan = Vec::new();
    for (lot, _) in &lots {
        if left == 0 {
            break;
        }
        let take = lot.remaining.min(left);
        plan.push((lot.id, take));
        left -= take;
    }
    let drawn = draw(conn, account.customer_id, &plan)?;
    if left > 0 {
        // Debt and lots never coexist on an account: what is left of expired lots (not yet written
        // off by the daily job) is written off before the debt appears.
        let expired = expire_due(conn, account, now, &posting.actor)?;
        if expired > 0 {
            crate::events::emit(conn, Some(account.customer_id), points_expired(expired))?;
        }
    }
    Ok(Some(append(conn, account, -points, left, posting, drawn)?))
}

/// Writes off what is left of expired lots (the daily expiry job). Returns points expired.
pub fn expire_due(conn: &mut PgConnection, account: &mut Account, now: DateTime<Utc>, actor: &str) -> ApiResult<i64> {
    let due: Vec<(Lot, Option<Uuid>)> =
        live_lots(conn, account.customer_id)?.into_iter().filter(|(l, _)| l.expires_at <= now).collect();
    let points: i64 = due.iter().map(|(l, _)| l.remaining).sum();
    if points == 0 {
        return Ok(0);
    }
    let plan: Vec<(Uuid, i64)> = due.iter().map(|(l, _)| (l.id, l.remaining)).collect();
    post_entry(
        conn,
        account,
        -points,
        0,
        &Posting::new(EntryKind::Expire, actor, now),
        &plan,
        drawn_json(&plan),
        None,
    )?;
    Ok(points)
}

/// Moves every live lot and the debt from one account to another (customer merge), as a
/// `merge_out` entry on the source and a `merge_in` entry on the target. Returns the net points moved.
pub fn transfer_all(
    conn: &mut PgConnection, source: &mut Account, target: &mut Account, actor: &str, now: DateTime<Utc>,
) -> ApiResult<i64> {
    let lots = live_lots(conn, source.customer_id)?;
    let moved: i64 = lots.iter().map(|(l, _)| l.remaining).sum();
    let debt = source.debt;
    if moved == 0 && debt == 0 {
        return Ok(0);
    }
    let lot_json = Value::Array(lots.iter().map(|(l, _)| json!({"lot_id": l.id, "points": l.remaining})).collect());
    let out = Posting::new(EntryKind::MergeOut, actor, now).reference(format!("customer:{}", target.customer_id));
    append(conn, source, debt - moved, -debt, &out, lot_json.clone())?;
    let ids: Vec<Uuid> = lots.iter().map(|(l, _)| l.id).collect();
    move_lots(conn, source.customer_id, target.customer_id, &ids)?;
    // Lots and debt never coexist on one account: what arrives pays the combined debt first.
    let lots_total: i64 = live_lots(conn, target.customer_id)?.iter().map(|(l, _)| l.remaining).sum();
    let settle = lots_total.min(target.debt + debt);
    let settled = settle_debt_from_lots(conn, target.customer_id, settle)?;
    let into = Posting::new(EntryKind::MergeIn, actor, now).reference(format!("customer:{}", source.customer_id));
    append(conn, target, moved - debt, debt - settle, &into, json!({"moved": lot_json, "settled_debt": settled}))?;
    Ok(moved - debt)
}

/// Moves live lots to another customer the way a distributed table allows (SPEC §16): each is
/// written again under the target with its id, amount and dates, and the source's is emptied, so
/// the customer column (the distribution key) is never updated and entries that name a lot id still
/// find it on the account that now holds it.
fn move_lots(conn: &mut PgConnection, source: Uuid, target: Uuid, ids: &[Uuid]) -> ApiResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    crate::db::CachedSql::new(
        "INSERT INTO points_lots (id, customer_id, entry_id, order_id, amount, remaining, available_at, expires_at) \
         SELECT id, ?, entry_id, order_id, amount, remaining, available_at, expires_at \
           FROM points_lots WHERE customer_id = ? AND id = ANY(?)",
    )
    .bind::<diesel::sql_types::Uuid, _>(target)
    .bind::<diesel::sql_types::Uuid, _>(source)
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(ids)
    .execute(conn)?;
    diesel::update(pl::table.filter(pl::customer_id.eq(source)).filter(pl::id.eq_any(ids)))
        .set(pl::remaining.eq(0))
        .execute(conn)?;
    Ok(())
}

/// Consumes `points` from the account's lots to pay its debt (after lots arrive by merge).
fn settle_debt_from_lots(conn: &mut PgConnection, customer: Uuid, points: i64) -> ApiResult<Value> {
    if points <= 0 {
        return Ok(json!([]));
    }
    let mut lots: Vec<Lot> = live_lots(conn, customer)?.into_iter().map(|(l, _)| l).collect();
    lots.sort_by_key(|l| (l.expires_at, l.id));
    let mut left = points;
    let mut plan = Vec::new();
    for lot in &lots {
        if left == 0 {
            break;
        }
        let take = lot.remaining.min(left);
        plan.push((lot.id, take));
        left -= take;
    }
    draw(conn, customer, &plan)
}

#[derive(QueryableByName)]
struct AccountLot {
    #[diesel(sql_type = diesel::sql_types::Int8)]
    balance: i64,
    #[diesel(sql_type = diesel::sql_types::Int8)]
    debt: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Int8>)]
    remaining: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    available_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    expires_at: Option<DateTime<Utc>>,
}

/// The account and its live lots in one query (the till's lookup reads it on every scan).
pub fn summary(conn: &mut PgConnection, customer: Uuid, now: DateTime<Utc>, expiring_days: i64) -> ApiResult<Summary> {
    let rows: Vec<AccountLot> = crate::db::CachedSql::new(
        "SELECT a.balance, a.debt, l.id, l.remaining, l.available_at, l.expires_at \
         FROM points_accounts a LEFT JOIN points_lots l ON l.customer_id = a.customer_id AND l.remaining > 0 \
         WHERE a.customer_id = ?",
    )
    .bind::<diesel::sql_types::Uuid, _>(customer)
    .load(conn)?;
    let Some(first) = rows.first() else { return Ok(Summary::default()) };
    let (balance, debt) = (first.balance, first.debt);
    let lots: Vec<Lot> = rows
        .into_iter()
        .filter_map(|r| {
            Some(Lot { id: r.id?, remaining: r.remaining?, available_at: r.available_at?, expires_at: r.expires_at? })
        })
        .collect();
    Ok(summarize(balance, debt, &lots, now, expiring_days))
}

/// When the lots an order's redemption drew from expire (the latest of them): returned points
/// keep the life they had.
pub fn redemption_expiry(conn: &mut PgConnection, order: OrderId) -> ApiResult<Option<DateTime<Utc>>> {
    // The redemption's entry stays on the ledger it was posted to, even after a merge moved the
    // order; the lots it drew from are looked up under that same customer (a merge leaves an emptied
    // copy there with the same dates).
    let drawn: Vec<(Uuid, Value)> = pe::table
        .filter(pe::order_id.eq(order))
        .filter(pe::kind.eq(EntryKind::Redeem))
        .select((pe::customer_id, pe::lots))
        .load(conn)?;
    let mut latest = None;
    for (customer, lots) in drawn {
        let ids: Vec<Uuid> = lots
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.get("lot_id").and_then(Value::as_str).and_then(|s| s.parse().ok()))
            .collect();
        let expiry: Option<DateTime<Utc>> = pl::table
            .filter(pl::customer_id.eq(customer))
            .filter(pl::id.eq_any(ids))
            .select(diesel::dsl::max(pl::expires_at))
            .first(conn)?;
        latest = latest.max(expiry);
    }
    Ok(latest)
}

/// One ledger entry as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pe)]
pub struct Entry {
    pub id: i64,
    pub customer_id: Uuid,
    pub kind: EntryKind,
    pub delta: i64,
    pub balance_after: i64,
    pub order_id: Option<Uuid>,
    pub refund_id: Option<Uuid>,
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub actor: String,
    pub lots: Value,
    pub occurred_at: DateTime<Utc>,
}

pub fn entry(conn: &mut PgConnection, customer: Uuid, id: i64) -> ApiResult<Entry> {
    Ok(pe::table.find((customer, id)).select(Entry::as_select()).first(conn)?)
}

/// A member's entries, newest first (by id: the order they were posted in), below `before`.
pub fn entries(conn: &mut PgConnection, customer: Uuid, before: Option<i64>, limit: i64) -> ApiResult<Vec<Entry>> {
    let mut q = pe::table
        .filter(pe::customer_id.eq(customer))
        .select(Entry::as_select())
        .order(pe::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        q = q.filter(pe::id.lt(before));
    }
    Ok(q.load(conn)?)
}

pub fn not_a_member() -> ApiError {
    ApiError::unprocessable("not_a_member", "only members have points")
}

/// A manual adjustment by staff or an integration (`adjust` entry, reason required): a positive one
/// is a lot available at once with the program's expiry; a negative one spends spendable lots and
/// never creates debt. Members only, and only while the customer is active.
pub fn adjust(
    conn: &mut PgConnection, customer: Uuid, points: i64, reason: &str, actor: &str, now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> ApiResult<i64> {
    crate::customers::store::lock_active(conn, customer)?;
    if crate::memberships::store::find(conn, customer)?.is_none() {
        return Err(not_a_member());
    }
    let program = super::program::load(conn)?;
    // A hand adjustment is bounded per call (SPEC §3.1): larger moves take several, each audited.
    if points.unsigned_abs() > program.max_adjustment_points.unsigned_abs() {
        return Err(ApiError::unprocessable(
            "adjustment_over_limit",
            format!("one adjustment moves at most {} points either way", program.max_adjustment_points),
        )
        .with("max_adjustment_points", program.max_adjustment_points));
    }
    let ttl_days = program.points_ttl_days;
    let mut account = lock_account(conn, customer)?;
    let posting = Posting::new(EntryKind::Adjust, actor, now).reason(reason);
    let entry = if points > 0 {
        credit(conn, &mut account, points, &posting, now, super::rules::expires_at(now, ttl_days, tz))?
    } else {
        spend(conn, &mut account, -points, &posting, now)?
    };
    entry.ok_or_else(|| ApiError::invalid("points", "must not be zero"))
}
