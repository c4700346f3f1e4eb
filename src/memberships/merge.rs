//! The membership part of a customer merge: the higher tier wins (points: `loyalty::merge`).

use diesel::prelude::*;

use super::store::{self as memberships, Membership};
use crate::customers::service::MergeContext;
use crate::error::ApiResult;
use crate::schema::{memberships as m, tier_changes as tc};

fn rank(conn: &mut PgConnection, membership: &Membership) -> ApiResult<i32> {
    Ok(memberships::get_tier(conn, &membership.tier_code)?.rank)
}

/// Source-only member: the membership (and its history) moves to the target. Both members: the
/// target keeps its card and membership and takes the source's tier when that is higher, with the
/// later validity; the source's card stays findable as one of the target's identities.
pub fn merge_membership(conn: &mut PgConnection, ctx: &MergeContext) -> ApiResult<i64> {
    let Some(source) = memberships::lock(conn, ctx.source)? else { return Ok(0) };
    diesel::update(tc::table.filter(tc::customer_id.eq(ctx.source)))
        .set(tc::customer_id.eq(ctx.target))
        .execute(conn)?;
    let Some(target) = memberships::lock(conn, ctx.target)? else {
        diesel::update(m::table.find(ctx.source)).set(m::customer_id.eq(ctx.target)).execute(conn)?;
        return Ok(1);
    };
    diesel::delete(m::table.find(ctx.source)).execute(conn)?;
    if rank(conn, &source)? > rank(conn, &target)? {
        let tier = memberships::get_tier(conn, &source.tier_code)?;
        let updated = diesel::update(m::table.find(ctx.target))
            .set((
                m::tier_code.eq(&tier.code),
                m::tier_since.eq(source.tier_since),
                m::tier_valid_until.eq(source.tier_valid_until.max(target.tier_valid_until)),
                m::version.eq(target.version + 1),
            ))
            .execute(conn)?;
        memberships::record_change(
            conn,
            ctx.target,
            Some(&target.tier_code),
            &tier.code,
            crate::memberships::rules::TierChangeReason::Merge,
            None,
            ctx.actor,
            ctx.now,
        )?;
        return Ok(updated as i64);
    }
    Ok(1)
}
