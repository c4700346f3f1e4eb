//! The points part of a customer merge: the source's points add up on the target.

use diesel::prelude::*;

use super::ledger;
use crate::customers::service::MergeContext;
use crate::error::ApiResult;

/// The source's lots and debt move to the target as `merge_out` / `merge_in` entries.
pub fn merge_points(conn: &mut PgConnection, ctx: &MergeContext) -> ApiResult<i64> {
    use crate::schema::points_accounts as pa;
    let has_account: bool = diesel::select(diesel::dsl::exists(pa::table.find(ctx.source))).get_result(conn)?;
    if !has_account {
        return Ok(0);
    }
    // Accounts lock in id order, like the customer rows, so opposite merges cannot deadlock.
    let (first, second) = if ctx.source < ctx.target { (ctx.source, ctx.target) } else { (ctx.target, ctx.source) };
    let a = ledger::lock_account(conn, first)?;
    let b = ledger::lock_account(conn, second)?;
    let (mut source, mut target) = if a.customer_id == ctx.source { (a, b) } else { (b, a) };
    ledger::transfer_all(conn, &mut source, &mut target, ctx.actor, ctx.now)
}
