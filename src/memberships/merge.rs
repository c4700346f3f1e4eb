//! The membership part of a customer merge: the higher tier wins (points: `loyalty::merge`).

use diesel::prelude::*;

use super::store::{self as memberships, Membership};
use crate::customers::service::MergeContext;
use crate::db::distribution::move_customer_rows;
use crate::error::ApiResult;
use crate::schema::memberships as m;

fn rank(conn: &mut PgConnection, membership: &Membership) -> ApiResult<i32> {
    Ok(memberships::get_tier(conn, &membership.tier_code)?.rank)
}

fn move_history(conn: &mut PgConnection, ctx: &MergeContext) -> ApiResult<usize> {
    let columns = "id, from_tier, to_tier, reason, note, actor, occurred_at";
    Ok(move_customer_rows(conn, "tier_changes", columns, ctx.source, ctx.target)?)
}

/// The source's membership becomes the target's, card and tier included (the target had none).
fn move_membership(conn: &mut PgConnection, ctx: &MergeContext) -> ApiResult<usize> {
    let columns = "member_card, tier_code, enrolled_at, channel, store_id, tier_since, tier_valid_until, version, \
                   updated_at";
    Ok(move_customer_rows(conn, "memberships", columns, ctx.source, ctx.target)?)
}

/// Source-only member: the membership (and its history) moves to the target. Both members: the
/// target keeps its card and membership and takes the source's tier when that is higher, with the
/// later validity; the source's card stays findable as one of the target's identities.
pub fn merge_membership(conn: &mut PgConnection, ctx: &MergeContext) -> ApiResult<i64> {
    let Some(source) = memberships::lock(conn, ctx.source)? else { return Ok(0) };
    move_history(conn, ctx)?;
    let Some(target) = memberships::lock(conn, ctx.target)? else {
        move_membership(conn, ctx)?;
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
