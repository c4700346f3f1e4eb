//! Tiers, memberships and tier history.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rand::Rng;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::rules::{qualifying_since, tier_for_spend, TierChangeReason, TierPricing, TierRule};
use crate::error::{ApiError, ApiResult};
use crate::events::types::{EventData, MembershipEnrolled, MembershipTierChanged};
use crate::schema::{memberships as m, orders, tier_changes as tc, tiers};
use crate::stores::SalesChannel;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tiers)]
pub struct Tier {
    pub code: String,
    pub name: String,
    pub rank: i32,
    pub min_annual_spend: Decimal,
    pub discount_rate: Decimal,
    pub points_multiplier: Decimal,
    pub benefits: Vec<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Tier {
    pub fn rule(&self) -> TierRule {
        TierRule {
            code: self.code.clone(),
            rank: self.rank,
            min_annual_spend: self.min_annual_spend,
            discount_rate: self.discount_rate,
            points_multiplier: self.points_multiplier,
        }
    }
    pub fn pricing(&self) -> TierPricing {
        TierPricing {
            code: self.code.clone(),
            discount_rate: self.discount_rate,
            points_multiplier: self.points_multiplier,
        }
    }
}

#[derive(Insertable, AsChangeset, Default)]
#[diesel(table_name = tiers)]
pub struct TierChanges {
    pub name: Option<String>,
    pub rank: Option<i32>,
    pub min_annual_spend: Option<Decimal>,
    pub discount_rate: Option<Decimal>,
    pub points_multiplier: Option<Decimal>,
    pub benefits: Option<Vec<String>>,
}

fn tier_conflict(e: diesel::result::Error) -> ApiError {
    match ApiError::from(e) {
        ApiError::Conflict { .. } => ApiError::conflict("tier_conflict", "another tier has this code or rank"),
        other => other,
    }
}

pub fn list_tiers(conn: &mut PgConnection) -> ApiResult<Vec<Tier>> {
    Ok(tiers::table.select(Tier::as_select()).order(tiers::rank).load(conn)?)
}

pub fn get_tier(conn: &mut PgConnection, code: &str) -> ApiResult<Tier> {
    tiers::table
        .find(code)
        .select(Tier::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("tier_not_found", "no tier with this code"))
}

/// The base tier (rank 0) is what every member matches: it keeps rank 0 and a threshold of 0.
pub fn base_tier_violation(current_rank: Option<i32>, rank: i32, min_annual_spend: Decimal) -> Option<ApiError> {
    if current_rank == Some(0) && rank != 0 {
        return Some(ApiError::invalid("rank", "the base tier (rank 0) keeps rank 0: every member must match a tier"));
    }
    if rank == 0 && min_annual_spend != Decimal::ZERO {
        return Some(ApiError::invalid("min_annual_spend", "the base tier (rank 0) must have min_annual_spend 0"));
    }
    None
}

pub fn insert_tier(conn: &mut PgConnection, code: &str, t: &TierChanges) -> ApiResult<Tier> {
    if let (Some(rank), Some(min)) = (t.rank, t.min_annual_spend) {
        if let Some(e) = base_tier_violation(None, rank, min) {
            return Err(e);
        }
    }
    let tier = diesel::insert_into(tiers::table)
        .values((tiers::code.eq(code), t))
        .returning(Tier::as_returning())
        .get_result(conn)
        .map_err(tier_conflict)?;
    catalogue_changed(conn)?;
    Ok(tier)
}

/// The tills keep the program and the tiers in memory while `loyalty_program.catalogue_version`
/// stays the same (`loyalty::program::CatalogueCache`): every tier write moves it, in the same
/// transaction. (A trigger did this before; Citus runs no triggers on reference tables.)
fn catalogue_changed(conn: &mut PgConnection) -> ApiResult<()> {
    crate::db::CachedSql::new("UPDATE loyalty_program SET catalogue_version = catalogue_version + 1").execute(conn)?;
    Ok(())
}

pub fn update_tier(conn: &mut PgConnection, code: &str, expected: Option<i32>, t: &TierChanges) -> ApiResult<Tier> {
    let current: Tier = tiers::table
        .find(code)
        .select(Tier::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("tier_not_found", "no tier with this code"))?;
    crate::http::check_version(expected, current.version)?;
    let rank = t.rank.unwrap_or(current.rank);
    let min = t.min_annual_spend.unwrap_or(current.min_annual_spend);
    if let Some(e) = base_tier_violation(Some(current.rank), rank, min) {
        return Err(e);
    }
    let tier = diesel::update(tiers::table.find(code))
        .set((t, tiers::version.eq(current.version + 1), tiers::updated_at.eq(diesel::dsl::now)))
        .returning(Tier::as_returning())
        .get_result(conn)
        .map_err(tier_conflict)?;
    catalogue_changed(conn)?;
    Ok(tier)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = m)]
#[derive(QueryableByName)]
pub struct Membership {
    pub customer_id: Uuid,
    pub member_card: String,
    pub tier_code: String,
    pub enrolled_at: DateTime<Utc>,
    pub channel: Option<SalesChannel>,
    pub store_id: Option<Uuid>,
    pub tier_since: DateTime<Utc>,
    pub tier_valid_until: Option<DateTime<Utc>>,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

pub fn find(conn: &mut PgConnection, customer: Uuid) -> ApiResult<Option<Membership>> {
    Ok(m::table.find(customer).select(Membership::as_select()).first(conn).optional()?)
}

pub fn lock(conn: &mut PgConnection, customer: Uuid) -> ApiResult<Option<Membership>> {
    Ok(m::table.find(customer).select(Membership::as_select()).for_update().first(conn).optional()?)
}

pub fn not_a_member() -> ApiError {
    ApiError::not_found("membership_not_found", "this customer is not a member")
}

/// A 16-digit card number from the CSPRNG, starting with 88 (the scheme's prefix).
pub fn new_card_number() -> String {
    let mut rng = rand::rngs::OsRng;
    format!("88{:014}", rng.gen_range(0..100_000_000_000_000u64))
}

/// Net paid amount of the customer's orders in the 365 days up to `now`.
pub fn qualifying_spend(conn: &mut PgConnection, customer: Uuid, now: DateTime<Utc>) -> ApiResult<Decimal> {
    use diesel::dsl::sum;
    let total: Option<Decimal> = orders::table
        .filter(orders::customer_id.eq(customer))
        .filter(orders::occurred_at.gt(qualifying_since(now)))
        .filter(orders::occurred_at.le(now))
        .select(sum(orders::paid_amount - orders::refunded_amount))
        .first(conn)?;
    Ok(total.unwrap_or(Decimal::ZERO))
}

/// `qualifying_spend` for many members in one grouped query (member lists); absent = no spend.
pub fn qualifying_spends(
    conn: &mut PgConnection, customers: &[Uuid], now: DateTime<Utc>,
) -> ApiResult<std::collections::HashMap<Uuid, Decimal>> {
    use diesel::dsl::sum;
    if customers.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(Option<Uuid>, Option<Decimal>)> = orders::table
        .filter(orders::customer_id.eq_any(customers))
        .filter(orders::occurred_at.gt(qualifying_since(now)))
        .filter(orders::occurred_at.le(now))
        .group_by(orders::customer_id)
        .select((orders::customer_id, sum(orders::paid_amount - orders::refunded_amount)))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(c, s)| Some((c?, s.unwrap_or(Decimal::ZERO)))).collect())
}

pub struct Enrolment {
    pub channel: Option<SalesChannel>,
    pub store_id: Option<Uuid>,
}

#[allow(clippy::too_many_arguments)] // each is a distinct fact of the change
pub fn record_change(
    conn: &mut PgConnection, customer: Uuid, from: Option<&str>, to: &str, reason: TierChangeReason,
    note: Option<&str>, actor: &str, at: DateTime<Utc>,
) -> ApiResult<()> {
    diesel::insert_into(tc::table)
        .values((
            tc::id.eq(Uuid::now_v7()),
            tc::customer_id.eq(customer),
            tc::from_tier.eq(from),
            tc::to_tier.eq(to),
            tc::reason.eq(reason),
            tc::note.eq(note),
            tc::actor.eq(actor),
            tc::occurred_at.eq(at),
        ))
        .execute(conn)?;
    // Enrolment has its own event; a manual renewal at the same tier is history, not a change.
    if from.is_some_and(|f| f != to) {
        let changed = MembershipTierChanged {
            from: from.map(str::to_string),
            to: to.to_string(),
            reason: reason.as_str().to_string(),
        };
        crate::events::emit(conn, Some(customer), EventData::MembershipTierChanged(changed))?;
    }
    Ok(())
}

/// Until when a tier reached at `at` holds; the base tier never lapses.
pub fn validity(tier: &Tier, at: DateTime<Utc>, validity_days: i32) -> Option<DateTime<Utc>> {
    (tier.rank > 0).then(|| at + chrono::Duration::days(i64::from(validity_days)))
}

pub fn enrol(
    conn: &mut PgConnection, customer: Uuid, e: &Enrolment, actor: &str, now: DateTime<Utc>, validity_days: i32,
) -> ApiResult<Membership> {
    if find(conn, customer)?.is_some() {
        return Err(ApiError::conflict("already_member", "this customer is already a member"));
    }
    let tiers = list_tiers(conn)?;
    let spend = qualifying_spend(conn, customer, now)?;
    let rules: Vec<TierRule> = tiers.iter().map(Tier::rule).collect();
    let code =
        tier_for_spend(&rules, spend).map(|t| t.code.clone()).ok_or_else(|| ApiError::internal("no base tier"))?;
    let tier = tiers.iter().find(|t| t.code == code).ok_or_else(|| ApiError::internal("tier vanished"))?;
    // A fresh card number; a collision (1 in 10^14 per member) just draws again.
    for _ in 0..5 {
        let card = new_card_number();
        if crate::customers::store::owner_of(conn, "member_card", &card)?.is_some() {
            continue;
        }
        crate::customers::store::claim_identity(conn, customer, "member_card", &card)?;
        let membership = diesel::insert_into(m::table)
            .values((
                m::customer_id.eq(customer),
                m::member_card.eq(&card),
                m::tier_code.eq(&tier.code),
                m::enrolled_at.eq(now),
                m::channel.eq(e.channel),
                m::store_id.eq(e.store_id),
                m::tier_since.eq(now),
                m::tier_valid_until.eq(validity(tier, now, validity_days)),
            ))
            .on_conflict_do_nothing()
            .returning(Membership::as_returning())
            .get_result(conn)
            .optional()?
            .ok_or_else(|| ApiError::conflict("already_member", "this customer is already a member"))?;
        record_change(conn, customer, None, &tier.code, TierChangeReason::Enrolment, None, actor, now)?;
        let enrolled = MembershipEnrolled {
            tier: tier.code.clone(),
            channel: e.channel.map(|c| c.to_string()),
            store_id: e.store_id,
        };
        crate::events::emit(conn, Some(customer), EventData::MembershipEnrolled(enrolled))?;
        return Ok(membership);
    }
    Err(ApiError::Unavailable { retry_after_seconds: 1 })
}

/// Moves a member to `tier` (upgrade, review, manual set, merge) with a fresh validity.
#[allow(clippy::too_many_arguments)] // each is a distinct fact of the change
pub fn set_tier(
    conn: &mut PgConnection, current: &Membership, tier: &Tier, reason: TierChangeReason, note: Option<&str>,
    actor: &str, now: DateTime<Utc>, validity_days: i32,
) -> ApiResult<Membership> {
    let changed = current.tier_code != tier.code;
    let updated = diesel::update(m::table.find(current.customer_id))
        .set((
            m::tier_code.eq(&tier.code),
            m::tier_since.eq(if changed { now } else { current.tier_since }),
            m::tier_valid_until.eq(validity(tier, now, validity_days)),
            m::version.eq(current.version + 1),
            m::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Membership::as_returning())
        .get_result(conn)?;
    // An admin's decision is always kept, even one that only renews the current tier.
    if changed || reason == TierChangeReason::Manual {
        record_change(conn, current.customer_id, Some(&current.tier_code), &tier.code, reason, note, actor, now)?;
    }
    Ok(updated)
}

/// Instant upgrade after spend rises: only ever up, never down (refunds never downgrade on the spot).
pub fn upgrade_if_due(
    conn: &mut PgConnection, current: &Membership, actor: &str, now: DateTime<Utc>, validity_days: i32,
) -> ApiResult<(Membership, bool)> {
    let tiers = list_tiers(conn)?;
    let spend = qualifying_spend(conn, current.customer_id, now)?;
    match due_upgrade(&tiers, current, spend) {
        Some(tier) => Ok((upgrade_to(conn, current, tier, spend, actor, now, validity_days)?, true)),
        None => Ok((current.clone(), false)),
    }
}

/// The tier `spend` reaches when it is above the member's current one (upgrades only ever go up).
pub fn due_upgrade<'a>(tiers: &'a [Tier], current: &Membership, spend: Decimal) -> Option<&'a Tier> {
    let rules: Vec<TierRule> = tiers.iter().map(Tier::rule).collect();
    let rank_now = tiers.iter().find(|t| t.code == current.tier_code).map(|t| t.rank).unwrap_or(0);
    match tier_for_spend(&rules, spend) {
        Some(due) if due.rank > rank_now => tiers.iter().find(|t| t.code == due.code),
        _ => None,
    }
}

/// Moves the member up to `tier`, which `spend` reached (see `due_upgrade`).
pub fn upgrade_to(
    conn: &mut PgConnection, current: &Membership, tier: &Tier, spend: Decimal, actor: &str, now: DateTime<Utc>,
    validity_days: i32,
) -> ApiResult<Membership> {
    let note = format!("qualifying spend {spend}");
    set_tier(conn, current, tier, TierChangeReason::Upgrade, Some(&note), actor, now, validity_days)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tc)]
pub struct TierChange {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub from_tier: Option<String>,
    pub to_tier: String,
    pub reason: TierChangeReason,
    pub note: Option<String>,
    pub actor: String,
    pub occurred_at: DateTime<Utc>,
}

pub fn history(conn: &mut PgConnection, customer: Uuid) -> ApiResult<Vec<TierChange>> {
    Ok(tc::table
        .filter(tc::customer_id.eq(customer))
        .select(TierChange::as_select())
        .order((tc::occurred_at.desc(), tc::id.desc()))
        .load(conn)?)
}

pub fn list_members(
    conn: &mut PgConnection, tier: Option<&str>, store: Option<Uuid>, after: Option<Uuid>, limit: i64,
) -> ApiResult<Vec<Membership>> {
    let mut q = m::table.select(Membership::as_select()).order(m::customer_id).limit(limit).into_boxed();
    if let Some(t) = tier {
        q = q.filter(m::tier_code.eq(t.to_string()));
    }
    if let Some(s) = store {
        q = q.filter(m::store_id.eq(s));
    }
    if let Some(a) = after {
        q = q.filter(m::customer_id.gt(a));
    }
    Ok(q.load(conn)?)
}

/// Erasure: the membership stays for the reports (tier counts) but its card number is forgotten.
pub fn forget_card(conn: &mut PgConnection, customer: Uuid) -> ApiResult<()> {
    diesel::update(m::table.find(customer)).set(m::member_card.eq(format!("erased:{customer}"))).execute(conn)?;
    Ok(())
}

/// Members whose tier validity has run out by `now` (the daily review).
pub fn due_for_review(conn: &mut PgConnection, now: DateTime<Utc>, limit: i64) -> ApiResult<Vec<Uuid>> {
    Ok(m::table
        .filter(m::tier_valid_until.le(now))
        .select(m::customer_id)
        .order(m::tier_valid_until)
        .limit(limit)
        .load(conn)?)
}

/// The daily review of one member: the highest tier the current spend meets, validity renewed.
pub fn review(
    conn: &mut PgConnection, customer: Uuid, actor: &str, now: DateTime<Utc>, validity_days: i32,
) -> ApiResult<Option<(String, String)>> {
    let Some(current) = lock(conn, customer)? else { return Ok(None) };
    if current.tier_valid_until.is_none_or(|until| until > now) {
        return Ok(None);
    }
    let tiers = list_tiers(conn)?;
    let rules: Vec<TierRule> = tiers.iter().map(Tier::rule).collect();
    let spend = qualifying_spend(conn, customer, now)?;
    let due =
        tier_for_spend(&rules, spend).map(|t| t.code.clone()).ok_or_else(|| ApiError::internal("no base tier"))?;
    let tier = tiers.iter().find(|t| t.code == due).ok_or_else(|| ApiError::internal("tier vanished"))?;
    set_tier(
        conn,
        &current,
        tier,
        TierChangeReason::Review,
        Some(&format!("qualifying spend {spend}")),
        actor,
        now,
        validity_days,
    )?;
    Ok((current.tier_code != tier.code).then(|| (current.tier_code.clone(), tier.code.clone())))
}

/// How long a reached tier stays valid (days): a setting of the loyalty program's row.
pub fn tier_validity_days(conn: &mut PgConnection) -> ApiResult<i32> {
    use crate::schema::loyalty_program as lp;
    Ok(lp::table.select(lp::tier_validity_days).first(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_tier_keeps_rank_0_and_no_threshold() {
        let d = |s: &str| s.parse::<Decimal>().unwrap_or_default();
        assert!(base_tier_violation(None, 0, d("0")).is_none());
        assert!(base_tier_violation(None, 1, d("5000")).is_none());
        assert!(base_tier_violation(Some(1), 2, d("5000")).is_none());
        let field = |e: Option<ApiError>| e.map(|e| e.problem().errors[0].field.clone());
        assert_eq!(field(base_tier_violation(None, 0, d("100"))), Some("min_annual_spend".into()));
        assert_eq!(field(base_tier_violation(Some(0), 0, d("0.01"))), Some("min_annual_spend".into()));
        assert_eq!(field(base_tier_violation(Some(0), 3, d("0"))), Some("rank".into()));
    }
}
