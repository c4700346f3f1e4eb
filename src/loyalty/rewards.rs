//! The rewards catalogue (gifts for points) and reward redemptions.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::ledger::{self, Posting};
use crate::error::{ApiError, ApiResult};
use crate::events::types::{EventData, PointsRedeemed, SpendSource};
use crate::loyalty::rules::EntryKind;
use crate::schema::{reward_redemptions as rr, rewards as r};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = r)]
pub struct Reward {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub points_cost: i64,
    pub stock: i32,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct NewReward {
    pub name: String,
    pub description: Option<String>,
    pub points_cost: i64,
    pub stock: i32,
    pub active: bool,
}

#[derive(AsChangeset, Default, Debug)]
#[diesel(table_name = r)]
pub struct RewardChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub points_cost: Option<i64>,
    pub stock: Option<i32>,
    pub active: Option<bool>,
}

pub fn not_found() -> ApiError {
    ApiError::not_found("reward_not_found", "no reward with this id")
}

pub fn insert(conn: &mut PgConnection, new: &NewReward, now: DateTime<Utc>) -> ApiResult<Reward> {
    Ok(diesel::insert_into(r::table)
        .values((
            r::id.eq(Uuid::now_v7()),
            r::name.eq(&new.name),
            r::description.eq(&new.description),
            r::points_cost.eq(new.points_cost),
            r::stock.eq(new.stock),
            r::active.eq(new.active),
            r::created_at.eq(now),
            r::updated_at.eq(now),
        ))
        .returning(Reward::as_returning())
        .get_result(conn)?)
}

pub fn get(conn: &mut PgConnection, id: Uuid) -> ApiResult<Reward> {
    r::table.find(id).select(Reward::as_select()).first(conn).optional()?.ok_or_else(not_found)
}

/// By id, after `after`; only active (or only inactive) ones when `active` is given.
pub fn list(conn: &mut PgConnection, active: Option<bool>, after: Option<Uuid>, limit: i64) -> ApiResult<Vec<Reward>> {
    let mut q = r::table.select(Reward::as_select()).order(r::id.asc()).limit(limit).into_boxed();
    if let Some(active) = active {
        q = q.filter(r::active.eq(active));
    }
    if let Some(after) = after {
        q = q.filter(r::id.gt(after));
    }
    Ok(q.load(conn)?)
}

/// Changes a reward; 412 when `expected` is not its current version.
pub fn update(
    conn: &mut PgConnection, id: Uuid, expected: Option<i32>, changes: &RewardChanges, now: DateTime<Utc>,
) -> ApiResult<Reward> {
    let current: Reward =
        r::table.find(id).select(Reward::as_select()).for_update().first(conn).optional()?.ok_or_else(not_found)?;
    crate::http::check_version(expected, current.version)?;
    Ok(diesel::update(r::table.find(id))
        .set((changes, r::version.eq(current.version + 1), r::updated_at.eq(now)))
        .returning(Reward::as_returning())
        .get_result(conn)?)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rr)]
pub struct Redemption {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub reward_id: Uuid,
    pub quantity: i32,
    pub points: i64,
    pub entry_id: i64,
    pub created_at: DateTime<Utc>,
}

/// A redemption with the balance it left.
pub struct Redeemed {
    pub redemption: Redemption,
    pub balance_after: i64,
}

/// Takes `quantity` of a reward out of stock and its points out of the member's account, in the
/// caller's transaction. The account is locked first (the member's points are spent one request at
/// a time), then the stock moves with a conditional UPDATE that must touch exactly one row, so stock
/// never goes below zero; when the points fall short the error rolls the stock back with everything else.
pub fn redeem(
    conn: &mut PgConnection, customer: Uuid, reward_id: Uuid, quantity: i32, actor: &str, now: DateTime<Utc>,
) -> ApiResult<Redeemed> {
    crate::customers::store::ensure_active(&crate::customers::store::get(conn, customer)?)?;
    if crate::memberships::store::find(conn, customer)?.is_none() {
        return Err(ledger::not_a_member());
    }
    let mut account = ledger::lock_account(conn, customer)?;
    // A merge or erasure that committed while we waited for the lock has the final word.
    crate::customers::store::ensure_active(&crate::customers::store::get(conn, customer)?)?;

    let taken: Option<i64> =
        diesel::update(r::table.filter(r::id.eq(reward_id)).filter(r::stock.ge(quantity)).filter(r::active.eq(true)))
            .set((r::stock.eq(r::stock - quantity), r::version.eq(r::version + 1), r::updated_at.eq(now)))
            .returning(r::points_cost)
            .get_result(conn)
            .optional()?;
    let Some(points_cost) = taken else {
        let reward = get(conn, reward_id)?;
        if !reward.active {
            return Err(ApiError::unprocessable("reward_inactive", "this reward is not offered any more"));
        }
        return Err(ApiError::conflict(
            "out_of_stock",
            format!("{quantity} requested, {} in stock", reward.stock.max(0)),
        )
        .with("stock", reward.stock.max(0)));
    };
    let points = points_cost
        .checked_mul(i64::from(quantity))
        .ok_or_else(|| ApiError::invalid("quantity", "the total cost is too large"))?;

    let posting = Posting::new(EntryKind::Reward, actor, now).reference(format!("reward:{reward_id}"));
    let entry_id = ledger::spend(conn, &mut account, points, &posting, now)?
        .ok_or_else(|| ApiError::internal("a reward redemption posted no entry"))?;
    let redemption = diesel::insert_into(rr::table)
        .values((
            rr::id.eq(Uuid::now_v7()),
            rr::customer_id.eq(customer),
            rr::reward_id.eq(reward_id),
            rr::quantity.eq(quantity),
            rr::points.eq(points),
            rr::entry_id.eq(entry_id),
            rr::created_at.eq(now),
        ))
        .returning(Redemption::as_returning())
        .get_result(conn)?;
    let source = SpendSource::Reward { reward_id, quantity, redemption_id: redemption.id };
    crate::events::emit(conn, Some(customer), EventData::PointsRedeemed(PointsRedeemed { points, source }))?;
    Ok(Redeemed { redemption, balance_after: account.balance })
}
