//! Running campaigns: who is due, the contact policy at send time, and the actions — in batches,
//! each its own short transaction.
//!
//! Exactly once: a customer is decided once per campaign and occurrence (the primary key of
//! `campaign_recipients`), and the decision, the coupon, the points and the message commit
//! together. A batch claims its run with `FOR UPDATE SKIP LOCKED`, so two instances never work
//! the same run at once; should two ever decide the same customer, the second batch finds the key
//! taken, rolls back whole and goes on without them.

use std::collections::HashSet;

use chrono_tz::Tz;
use diesel::prelude::*;
use uuid::Uuid;

use super::decide::{self, Tally};
use super::plan::{Plan, RunContext};
use super::store::{self, audience::Candidate};
use super::{actions, delivery, model};
use crate::error::{ApiError, ApiResult};
use crate::orders::co_purchase::Matrix;

/// Customers decided per transaction: short enough never to hold a customer's lock for long.
pub const BATCH: i64 = 500;
/// After each batch the runner rests half as long as the batch took: the tills keep a third of
/// the core it would otherwise take, and a campaign to a hundred thousand customers goes out in
/// well under a minute even on a slow day. (Resting longer bought the tills' p99 nothing
/// measurable on 2 cores, and took the run to 61 s on a slower cluster.)
const REST: f64 = 0.5;

enum Batch {
    Done,
    Busy,
    Worked(Tally),
}

/// Runs `run` of a campaign batch by batch until nothing is left, another instance holds it, or
/// the campaign stopped being active. Returns what this call did.
pub fn run(conn: &mut PgConnection, plan: &Plan, run: &str, ctx: RunContext, tz: Tz) -> ApiResult<Tally> {
    let mut total = Tally::default();
    let mut recommendations: Option<Matrix> = None;
    if model::message(&plan.actions).is_some_and(|(_, t)| t.contains("recommended_categories")) {
        // Co-purchase follows the outbox in its own sweep, run before this one (`jobs::campaign_sweep`).
        let mut matrix = crate::orders::co_purchase::matrix(conn, "category", None)?;
        // A message recommends only what the chain catalogued (issue 22: no till's text in an SMS).
        let catalogue = super::categories::names(conn)?;
        for others in matrix.values_mut() {
            others.retain(|(other, _)| catalogue.contains(other));
        }
        recommendations = Some(matrix);
    }
    loop {
        if crate::lifecycle::background_should_stop() {
            // The run's cursor is committed with each batch: the next start goes on from there.
            return Ok(total);
        }
        let started = std::time::Instant::now();
        let outcome = conn.transaction(|conn| batch(conn, plan, run, ctx, tz, recommendations.as_ref()));
        match outcome {
            Ok(Batch::Worked(t)) => {
                std::thread::sleep(started.elapsed().mul_f64(REST));
                total.add(&t);
            }
            Ok(Batch::Done | Batch::Busy) => return Ok(total),
            // Someone else decided a customer of this batch first: it rolled back whole, try again.
            Err(ApiError::Conflict { code: "campaign_recipient_taken", .. }) => continue,
            Err(e) => return Err(e),
        }
    }
}

fn batch(
    conn: &mut PgConnection, plan: &Plan, run: &str, ctx: RunContext, tz: Tz, matrix: Option<&Matrix>,
) -> ApiResult<Batch> {
    let id = plan.campaign.id;
    // Only a budget needs what was spent so far.
    let claimed = store::runs::claim(conn, id, run, plan.campaign.budget.is_some(), ctx.at.now)?;
    let Some(state) = claimed else { return Ok(Batch::Busy) };
    if state.finished || !state.active {
        return Ok(Batch::Done);
    }
    // An event trigger's standing scan re-reads its tier moves or carts each time (those decided
    // drop out); only the audience's runs keep a cursor.
    let resumable = run != "events";
    let after = if resumable { state.cursor } else { None };
    let found = store::audience::candidates(conn, plan, ctx.at, after, BATCH, resumable)?;
    let Some(last) = found.last().map(|c| c.customer_id) else {
        if run != "events" {
            store::runs::finish(conn, id, run, ctx.at.now)?;
        }
        return Ok(Batch::Done);
    };
    let due: Vec<Candidate> = found.into_iter().filter(|c| !c.decided).collect();
    if due.is_empty() {
        store::runs::move_cursor(conn, id, run, last)?;
        return Ok(Batch::Worked(Tally::default()));
    }
    let ids: Vec<Uuid> = due.iter().map(|c| c.customer_id).collect::<HashSet<_>>().into_iter().collect();
    // The coupon template before the customers' guards: the order every coupon issue takes.
    if let Some(template) = model::coupon_template(&plan.actions) {
        crate::coupons::store::lock_template(conn, template)?;
    }
    // The frequency cap counts every campaign's messages: customers are taken one at a time
    // across campaigns, in one order, for as long as this batch lasts. Held exclusively, the guard
    // also keeps a merge or an erasure out until the batch commits.
    crate::customers::store::guard(conn, &ids, crate::customers::store::Guard::Exclusive)?;
    let contacts = store::audience::contacts(conn, &ids, plan, &ctx.policy, ctx.at.now, ctx.at.today)?;
    let mut outcomes = decide::decide_all(plan, &due, &contacts, &ctx.policy, state.spent);
    let codes = actions::issue_coupons(conn, plan, &mut outcomes, ctx.at.now, tz)?;
    actions::award_points(conn, plan, &outcomes, ctx.at.now, tz)?;
    let decided = delivery::Decided { plan, outcomes: &outcomes, codes: &codes, contacts: &contacts, ctx, matrix };
    let tally = record(conn, &decided)?;
    if resumable {
        store::runs::move_cursor(conn, id, run, last)?;
    }
    Ok(Batch::Worked(tally))
}

/// Writes every decision, and the messages of those reached.
fn record(conn: &mut PgConnection, batch: &delivery::Decided) -> ApiResult<Tally> {
    let (plan, outcomes) = (batch.plan, batch.outcomes);
    store::runs::record_decisions(
        conn,
        plan.campaign.id,
        &decide::decisions(plan, outcomes, batch.codes),
        batch.ctx.at.now,
    )?;
    let messages = delivery::compose(batch);
    store::insert_messages(conn, &messages)?;
    delivery::emit_sent(conn, &messages)?;
    Ok(Tally { messages: messages.len() as i64, ..Tally::of(outcomes) })
}
