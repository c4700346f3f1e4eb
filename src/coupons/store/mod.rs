//! Coupon SQL: templates, issuing (manual, claim, campaign), listing, voiding, stats, merge, lookup.
//!
//! Issuing locks the template row (`FOR UPDATE`) for the whole transaction: every coupon of a
//! template is inserted under that lock, so `total_quantity` and `per_customer_limit` hold under any
//! concurrency. The customers' guards are then taken shared (a merge or an erasure takes them
//! exclusively), so a coupon never lands on a profile that a concurrent merge is folding away.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::{Array, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use rust_decimal::Decimal;
use uuid::Uuid;

mod templates;

pub use templates::{
    ensure_issuable, get_template, insert_template, list_templates, lock_template, template_not_found, update_template,
};

use super::codes;
use super::model::{Coupon, CouponSource, CouponStatus, Template};
use crate::customers::store::{Customer, Guard, GUARDED_AT_MOST};
use crate::error::{ApiError, ApiResult};
use crate::events::types::{CouponIssued, CouponVoided, EventData};
use crate::schema::{coupon_redemptions as cr, coupon_templates as ct, coupons as c, customers as cu};

/// Attempts at fresh codes for rows whose code was taken (31^12 codes: a second attempt is already
/// astronomically unlikely).
const CODE_ATTEMPTS: usize = 5;

pub fn coupon_not_found() -> ApiError {
    ApiError::not_found("coupon_not_found", "no coupon with this code")
}

// ---------------------------------------------------------------------------------------------
// Issuing
// ---------------------------------------------------------------------------------------------

crate::vocabulary! {
    /// Why a customer got no coupon from an issue run.
    pub enum IssueSkip {
        CustomerNotFound = "customer_not_found",
        /// Erased.
        CustomerNotActive = "customer_not_active",
        /// Listed twice (directly and through a profile merged into it).
        Duplicate = "duplicate",
        PerCustomerLimit = "per_customer_limit",
        QuantityExhausted = "quantity_exhausted",
    }
}

/// How a coupon came to be, with an optional reference (the campaign).
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    pub kind: CouponSource,
    pub reference: Option<&'a str>,
}

pub struct Issued {
    /// The id the caller gave.
    pub requested: Uuid,
    /// The coupon; its `customer_id` is the survivor when `requested` was merged into another profile.
    pub coupon: Coupon,
}

pub struct Skipped {
    pub customer_id: Uuid,
    pub reason: IssueSkip,
}

pub struct IssueReport {
    pub issued: Vec<Issued>,
    pub skipped: Vec<Skipped>,
}

/// Issues one coupon of the template to each customer (duplicates dropped, order kept), skipping
/// those who cannot have one, with the reason. A merged profile's id issues to its survivor.
/// 404 for an unknown template, 409 `template_not_active` / `template_expired`.
pub fn issue(
    conn: &mut PgConnection, template_id: Uuid, customers: &[Uuid], source: Source, now: DateTime<Utc>, tz: Tz,
) -> ApiResult<IssueReport> {
    let template = lock_template(conn, template_id)?;
    ensure_issuable(&template, now)?;
    let mut distinct: HashSet<Uuid> = HashSet::with_capacity(customers.len());
    let requested: Vec<Uuid> = customers.iter().copied().filter(|id| distinct.insert(*id)).collect();
    let resolved = resolve_owners(conn, &requested)?;
    let owners: Vec<Uuid> = resolved.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    let mut held = held_counts(conn, template.id, &owners)?;

    let mut skipped = Vec::new();
    let mut planned: Vec<(Uuid, Uuid)> = Vec::new();
    let mut seen: HashSet<Uuid> = HashSet::new();
    let mut issued_count = i64::from(template.issued_count);
    for (requested_id, owner) in requested.iter().zip(resolved) {
        let reason = match owner {
            Err(reason) => Some(reason),
            Ok(owner) if !seen.insert(owner) => Some(IssueSkip::Duplicate),
            Ok(owner) if limit_reached(&template, held.get(&owner).copied().unwrap_or(0)) => {
                Some(IssueSkip::PerCustomerLimit)
            }
            Ok(_) if quantity_reached(&template, issued_count) => Some(IssueSkip::QuantityExhausted),
            Ok(owner) => {
                planned.push((*requested_id, owner));
                *held.entry(owner).or_insert(0) += 1;
                issued_count += 1;
                None
            }
        };
        if let Some(reason) = reason {
            skipped.push(Skipped { customer_id: *requested_id, reason });
        }
    }
    let owners: Vec<Uuid> = planned.iter().map(|(_, owner)| *owner).collect();
    let coupons = insert_coupons(conn, &template, &owners, source, now, tz)?;
    let issued =
        planned.into_iter().zip(coupons).map(|((requested, _), coupon)| Issued { requested, coupon }).collect();
    Ok(IssueReport { issued, skipped })
}

/// A customer takes one coupon of a template for themselves (source `claim`, or another source).
/// 404 `customer_not_found`, 409 `customer_merged` / `customer_erased`, 422 for an unknown template,
/// 409 `template_not_active`, `template_expired`, `per_customer_limit`, `quantity_exhausted`.
pub fn claim(
    conn: &mut PgConnection, customer: Uuid, template_id: Uuid, source: Source, now: DateTime<Utc>, tz: Tz,
) -> ApiResult<Coupon> {
    crate::customers::store::ensure_active(&crate::customers::store::get(conn, customer)?)?;
    // The template first, then the customer: the order every issue takes.
    let template = lock_template(conn, template_id).map_err(|e| match e {
        ApiError::NotFound { .. } => ApiError::invalid("template_id", "no coupon template with this id"),
        other => other,
    })?;
    ensure_issuable(&template, now)?;
    crate::customers::store::guard(conn, &[customer], Guard::Shared)?;
    let locked: Customer = crate::customers::store::get(conn, customer)?;
    // A merge or erasure that committed while we waited has the final word.
    crate::customers::store::ensure_active(&locked)?;
    let held = held_counts(conn, template.id, &[customer])?.get(&customer).copied().unwrap_or(0);
    if limit_reached(&template, held) {
        return Err(ApiError::conflict(
            "per_customer_limit",
            format!("the customer already holds {held} coupon(s) of this template"),
        )
        .with("per_customer_limit", template.per_customer_limit));
    }
    if quantity_reached(&template, i64::from(template.issued_count)) {
        return Err(ApiError::conflict("quantity_exhausted", "every coupon of this template has been issued")
            .with("total_quantity", template.total_quantity));
    }
    let mut coupons = insert_coupons(conn, &template, &[customer], source, now, tz)?;
    coupons.pop().ok_or_else(|| ApiError::internal("a claim inserted no coupon"))
}

fn limit_reached(t: &Template, held: i64) -> bool {
    t.per_customer_limit.is_some_and(|limit| held >= i64::from(limit))
}

fn quantity_reached(t: &Template, issued: i64) -> bool {
    t.total_quantity.is_some_and(|q| issued >= i64::from(q))
}

/// Each id's owner (itself, or the survivor of a merge) or why none. The owners are guarded (their
/// rows locked `FOR SHARE` in id order, past what one transaction may guard) and re-checked, so a
/// merge or erasure in flight is seen.
fn resolve_owners(conn: &mut PgConnection, ids: &[Uuid]) -> ApiResult<Vec<Result<Uuid, IssueSkip>>> {
    type Row = (Uuid, String, Option<Uuid>);
    let rows: Vec<Row> =
        cu::table.filter(cu::id.eq_any(ids)).select((cu::id, cu::status, cu::merged_into)).load(conn)?;
    let mut by_id: HashMap<Uuid, (String, Option<Uuid>)> = rows.into_iter().map(|(id, s, m)| (id, (s, m))).collect();
    let targets: Vec<Uuid> = by_id
        .values()
        .filter_map(|(s, m)| if s == "merged" { *m } else { None })
        .filter(|t| !by_id.contains_key(t))
        .collect();
    if !targets.is_empty() {
        let more: Vec<Row> =
            cu::table.filter(cu::id.eq_any(&targets)).select((cu::id, cu::status, cu::merged_into)).load(conn)?;
        by_id.extend(more.into_iter().map(|(id, s, m)| (id, (s, m))));
    }
    let active = |id: &Uuid| by_id.get(id).is_some_and(|(s, _)| s == "active");
    let resolved: Vec<Result<Uuid, IssueSkip>> = ids
        .iter()
        .map(|id| match by_id.get(id) {
            None => Err(IssueSkip::CustomerNotFound),
            Some((s, _)) if s == "active" => Ok(*id),
            Some((s, Some(target))) if s == "merged" && active(target) => Ok(*target),
            Some(_) => Err(IssueSkip::CustomerNotActive),
        })
        .collect();
    let mut owners: Vec<Uuid> = resolved.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    owners.sort();
    owners.dedup();
    if owners.is_empty() {
        return Ok(resolved);
    }
    let statuses = cu::table.filter(cu::id.eq_any(&owners)).order(cu::id.asc()).select((cu::id, cu::status));
    let statuses: Vec<(Uuid, String)> = if owners.len() <= GUARDED_AT_MOST {
        crate::customers::store::guard(conn, &owners, Guard::Shared)?;
        statuses.load(conn)?
    } else {
        statuses.for_share().load(conn)?
    };
    let still_active: HashSet<Uuid> = statuses.into_iter().filter(|(_, s)| s == "active").map(|(id, _)| id).collect();
    Ok(resolved
        .into_iter()
        .map(|r| match r {
            Ok(owner) if !still_active.contains(&owner) => Err(IssueSkip::CustomerNotActive),
            other => other,
        })
        .collect())
}

/// How many coupons of the template each customer holds (voided ones do not count).
fn held_counts(conn: &mut PgConnection, template: Uuid, customers: &[Uuid]) -> ApiResult<HashMap<Uuid, i64>> {
    if customers.is_empty() {
        return Ok(HashMap::new());
    }
    #[derive(QueryableByName)]
    struct Held {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        customer_id: Uuid,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        coupons: i64,
    }
    // One index probe per customer asked about: as `customer_id = ANY(...)` on a generic plan the
    // template's every coupon was filtered against the whole list (a campaign's batches slowed as
    // the template filled: 120 ms a batch at 20,000 coupons).
    let rows: Vec<Held> = diesel::sql_query(
        "SELECT c.customer_id, count(*) AS coupons
         FROM (SELECT DISTINCT id FROM unnest($2::uuid[]) AS listed(id)) asked
         JOIN coupons c ON c.template_id = $1 AND c.customer_id = asked.id
         WHERE c.status <> $3
         GROUP BY c.customer_id",
    )
    .bind::<diesel::sql_types::Uuid, _>(template)
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(customers)
    .bind::<Text, _>(CouponStatus::Voided)
    .load(conn)?;
    Ok(rows.into_iter().map(|h| (h.customer_id, h.coupons)).collect())
}

/// Inserts one coupon per owner (in that order), bumps the template's `issued_count` and emits
/// `coupon.issued` for each. The caller holds the template lock and has checked the limits.
fn insert_coupons(
    conn: &mut PgConnection, template: &Template, owners: &[Uuid], source: Source, now: DateTime<Utc>, tz: Tz,
) -> ApiResult<Vec<Coupon>> {
    if owners.is_empty() {
        return Ok(Vec::new());
    }
    let (valid_from, expires_at) = crate::coupons::templates::coupon_window(template, now, tz);
    // Codes are unique within the batch, so a code missing from what came back was taken before.
    let mut used: HashSet<String> = HashSet::with_capacity(owners.len());
    let mut fresh = || loop {
        let code = codes::generate();
        if used.insert(code.clone()) {
            return code;
        }
    };
    let mut codes_by_slot: Vec<String> = owners.iter().map(|_| fresh()).collect();
    let mut inserted: HashMap<String, Coupon> = HashMap::with_capacity(owners.len());
    let mut pending: Vec<usize> = (0..owners.len()).collect();
    for _ in 0..CODE_ATTEMPTS {
        let codes: Vec<&str> = pending.iter().map(|&i| codes_by_slot[i].as_str()).collect();
        let customers: Vec<Uuid> = pending.iter().map(|&i| owners[i]).collect();
        let got: Vec<Coupon> = crate::db::CachedSql::new(
            "INSERT INTO coupons (code, template_id, customer_id, source, source_ref, issued_at, valid_from, \
                                  expires_at, updated_at) \
             SELECT n.code, ?::uuid, n.customer_id, ?::text, ?::text, p.now, ?::timestamptz, ?::timestamptz, p.now \
             FROM unnest(?::text[], ?::uuid[]) AS n(code, customer_id), (SELECT ?::timestamptz AS now) p \
             ON CONFLICT DO NOTHING RETURNING *",
        )
        .bind::<SqlUuid, _>(template.id)
        .bind::<Text, _>(source.kind)
        .bind::<Nullable<Text>, _>(source.reference)
        .bind::<Timestamptz, _>(valid_from)
        .bind::<Timestamptz, _>(expires_at)
        .bind::<Array<Text>, _>(&codes)
        .bind::<Array<SqlUuid>, _>(&customers)
        .bind::<Timestamptz, _>(now)
        .get_results(conn)?;
        inserted.extend(got.into_iter().map(|coupon| (coupon.code.clone(), coupon)));
        pending.retain(|&i| !inserted.contains_key(&codes_by_slot[i]));
        if pending.is_empty() {
            break;
        }
        for &i in &pending {
            codes_by_slot[i] = fresh();
        }
    }
    if !pending.is_empty() {
        return Err(ApiError::internal("could not find free coupon codes"));
    }
    let count = i32::try_from(owners.len()).map_err(ApiError::internal)?;
    diesel::update(ct::table.find(template.id)).set(ct::issued_count.eq(ct::issued_count + count)).execute(conn)?;
    let coupons: Vec<Coupon> = codes_by_slot.iter().filter_map(|code| inserted.remove(code)).collect();
    let events: Vec<crate::events::Pending> = coupons
        .iter()
        .map(|coupon| {
            let issued = CouponIssued {
                code: coupon.code.clone(),
                template_id: coupon.template_id,
                expires_at: coupon.expires_at,
                source: coupon.source.to_string(),
            };
            (Some(coupon.customer_id), EventData::CouponIssued(issued))
        })
        .collect();
    crate::events::emit_many(conn, &events)?;
    Ok(coupons)
}

// ---------------------------------------------------------------------------------------------
// Coupons: read, list, void
// ---------------------------------------------------------------------------------------------

/// Where a customer's coupon list continues: the last row's `(expires_at, code)`.
#[derive(Debug, Clone, PartialEq)]
pub struct CouponKey {
    pub expires_at: DateTime<Utc>,
    pub code: String,
}

impl CouponKey {
    pub fn of(coupon: &Coupon) -> CouponKey {
        CouponKey { expires_at: coupon.expires_at, code: coupon.code.clone() }
    }
}

impl std::fmt::Display for CouponKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}~{}", self.expires_at.timestamp_micros(), self.code)
    }
}

impl FromStr for CouponKey {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let (micros, code) = s.split_once('~').ok_or(())?;
        let expires_at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| ())?).ok_or(())?;
        Ok(CouponKey { expires_at, code: code.to_string() })
    }
}

/// One coupon with its template, by canonical code.
pub fn get_coupon(conn: &mut PgConnection, code: &str) -> ApiResult<(Coupon, Template)> {
    c::table
        .inner_join(ct::table)
        .filter(c::code.eq(code))
        .select((Coupon::as_select(), Template::as_select()))
        .first(conn)
        .optional()?
        .ok_or_else(coupon_not_found)
}

/// A customer's coupons by `(expires_at, code)`. `status` as the customer sees it: `available`
/// (stored available, not yet expired), `expired` (stored available, past its end), `redeemed`, `voided`.
pub fn list_for_customer(
    conn: &mut PgConnection, customer: Uuid, status: Option<CouponStatus>, after: Option<CouponKey>, limit: i64,
    now: DateTime<Utc>,
) -> ApiResult<Vec<(Coupon, Template)>> {
    let mut q = c::table
        .inner_join(ct::table)
        .filter(c::customer_id.eq(customer))
        .select((Coupon::as_select(), Template::as_select()))
        .order((c::expires_at.asc(), c::code.asc()))
        .limit(limit)
        .into_boxed();
    q = match status {
        Some(CouponStatus::Available) => q.filter(c::status.eq(CouponStatus::Available)).filter(c::expires_at.gt(now)),
        Some(CouponStatus::Expired) => q.filter(c::status.eq(CouponStatus::Available)).filter(c::expires_at.le(now)),
        Some(stored) => q.filter(c::status.eq(stored)),
        None => q,
    };
    if let Some(k) = after {
        q = q.filter(c::expires_at.gt(k.expires_at).or(c::expires_at.eq(k.expires_at).and(c::code.gt(k.code))));
    }
    Ok(q.load(conn)?)
}

/// Voids an available (or expired) coupon: 409 `coupon_already_redeemed` / `coupon_voided` otherwise.
pub fn void(conn: &mut PgConnection, code: &str, reason: &str, now: DateTime<Utc>) -> ApiResult<(Coupon, Template)> {
    let current: Coupon = c::table
        .find(code)
        .select(Coupon::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(coupon_not_found)?;
    match current.status {
        CouponStatus::Redeemed => {
            return Err(ApiError::conflict("coupon_already_redeemed", "the coupon has been redeemed"))
        }
        CouponStatus::Voided => return Err(ApiError::conflict("coupon_voided", "the coupon was voided before")),
        CouponStatus::Available | CouponStatus::Expired => {}
    }
    let coupon: Coupon = diesel::update(c::table.find(code))
        .set((
            c::status.eq(CouponStatus::Voided),
            c::voided_at.eq(now),
            c::void_reason.eq(reason),
            c::version.eq(current.version + 1),
            c::updated_at.eq(now),
        ))
        .returning(Coupon::as_returning())
        .get_result(conn)?;
    let voided = CouponVoided { code: coupon.code.clone(), template_id: coupon.template_id };
    crate::events::emit(conn, Some(coupon.customer_id), EventData::CouponVoided(voided))?;
    let template = get_template(conn, coupon.template_id)?;
    Ok((coupon, template))
}

// ---------------------------------------------------------------------------------------------
// Stats, merge, lookup
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct TemplateCounts {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub issued: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub available: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub redeemed: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub expired: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub voided: i64,
    /// Σ discount of the live (not undone) redemptions.
    #[diesel(sql_type = Numeric)]
    pub discount_given: Decimal,
    /// Σ order amount of the live redemptions.
    #[diesel(sql_type = Numeric)]
    pub gmv: Decimal,
}

/// A template's coupons by status at `now`, and what its live redemptions gave and sold.
pub fn counts(conn: &mut PgConnection, template: Uuid, now: DateTime<Utc>) -> ApiResult<TemplateCounts> {
    Ok(diesel::sql_query(
        "SELECT count(*) AS issued,
                count(*) FILTER (WHERE status = $3 AND expires_at > $2) AS available,
                count(*) FILTER (WHERE status = $4) AS redeemed,
                count(*) FILTER (WHERE status = $3 AND expires_at <= $2) AS expired,
                count(*) FILTER (WHERE status = $5) AS voided,
                (SELECT COALESCE(sum(discount), 0) FROM coupon_redemptions
                  WHERE template_id = $1 AND undone_at IS NULL) AS discount_given,
                (SELECT COALESCE(sum(amount), 0) FROM coupon_redemptions
                  WHERE template_id = $1 AND undone_at IS NULL) AS gmv
           FROM coupons WHERE template_id = $1",
    )
    .bind::<SqlUuid, _>(template)
    .bind::<Timestamptz, _>(now)
    .bind::<Text, _>(CouponStatus::Available)
    .bind::<Text, _>(CouponStatus::Redeemed)
    .bind::<Text, _>(CouponStatus::Voided)
    .get_result(conn)?)
}

/// Merge step: the source's coupons and their redemptions move to the target.
pub fn move_to_customer(conn: &mut PgConnection, source: Uuid, target: Uuid) -> ApiResult<i64> {
    let moved =
        diesel::update(c::table.filter(c::customer_id.eq(source))).set(c::customer_id.eq(target)).execute(conn)?;
    diesel::update(cr::table.filter(cr::customer_id.eq(source))).set(cr::customer_id.eq(target)).execute(conn)?;
    Ok(moved as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coupon_cursors_round_trip_to_the_microsecond() {
        let at = DateTime::from_timestamp_micros(1_795_000_000_123_456).unwrap_or_default();
        let key = CouponKey { expires_at: at, code: "K7M4P9QX2HTR".into() };
        assert_eq!(key.to_string().parse::<CouponKey>(), Ok(key));
        assert!("garbage".parse::<CouponKey>().is_err());
        assert!("12~".parse::<CouponKey>().is_ok_and(|k| k.code.is_empty()));
        assert!("x~ABC".parse::<CouponKey>().is_err());
    }
}
