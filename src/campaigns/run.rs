//! Running campaigns: who is due, the contact policy at send time, and the actions — in batches,
//! each its own short transaction.
//!
//! Exactly once: a customer is decided once per campaign and occurrence (the primary key of
//! `campaign_recipients`), and the decision, the coupon, the points and the message commit
//! together. A batch claims its run with `FOR UPDATE SKIP LOCKED`, so two instances never work
//! the same run at once; should two ever decide the same customer, the second batch finds the key
//! taken, rolls back whole and goes on without them.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Numeric, Text, Uuid as SqlUuid};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::model::{self, Action, CampaignChannel, CampaignKind, CampaignMessageStatus, Trigger};
use super::rules::{self, CampaignStatus, Decision, Policy};
use super::store::{self, Campaign, Message};
use crate::error::{ApiError, ApiResult};
use crate::events::types::{CampaignMessage, EarnSource, EventData, PointsEarned};
use crate::orders::co_purchase::{recommend, Matrix};
use crate::segments::compile::{birthday_in_days_sql, Compiler, Evaluation, Param, FACTS};
use crate::segments::definition::Node;

/// Customers decided per transaction: short enough never to hold a customer's lock for long.
pub const BATCH: i64 = 500;
/// After each batch the runner rests half as long as the batch took: the tills keep a third of
/// the core it would otherwise take, and a campaign to a hundred thousand customers goes out in
/// well under a minute even on a slow day. (Resting longer bought the tills' p99 nothing
/// measurable on 2 cores, and took the run to 61 s on a slower cluster.)
const REST: f64 = 0.5;
const ACTOR: &str = "campaign";
/// Categories a message names for `{{usual_categories}}` and `{{recommended_categories}}`.
const CATEGORIES_NAMED: usize = 3;
/// Recommendations leave out what the customer bought this recently (SPEC §13).
const RECENTLY_BOUGHT_DAYS: i64 = 30;

/// A campaign made ready to run: its parts parsed, its audience compiled, its costs known.
pub struct Plan {
    pub campaign: Campaign,
    pub kind: CampaignKind,
    pub trigger: Option<Trigger>,
    pub actions: Vec<Action>,
    pub audience: Option<Node>,
    /// What reaching one customer costs: the message, the coupon's unit cost, the points' value.
    pub unit_cost: Decimal,
    pub coupon_name: Option<String>,
}

/// Reads what a run needs once. A stored campaign was checked when saved; should it no longer
/// parse, that is the campaign's problem to report, never a panic.
pub fn plan(conn: &mut PgConnection, campaign: Campaign) -> ApiResult<Plan> {
    let invalid = |m: model::Mistake| ApiError::invalid(m.path, m.message);
    let kind = campaign.kind;
    let trigger = campaign.trigger.as_ref().map(model::parse_trigger).transpose().map_err(invalid)?;
    let actions = model::parse_actions(&campaign.actions).map_err(invalid)?;
    let audience = match campaign.segment_id {
        Some(segment) => {
            let saved = crate::segments::store::get(conn, segment)?;
            Some(crate::segments::api::parse_saved(&saved.definition)?)
        }
        None => None,
    };
    let mut unit_cost = if model::message(&actions).is_some() { campaign.cost_per_message } else { Decimal::ZERO };
    let mut coupon_name = None;
    if let Some(template) = model::coupon_template(&actions) {
        let template = crate::coupons::store::get_template(conn, template)?;
        unit_cost += template.unit_cost;
        coupon_name = Some(template.name);
    }
    let points = model::award(&actions);
    if points > 0 {
        let program = crate::loyalty::program::load(conn)?;
        // Checked when saved and started; the program may have been tightened since.
        program.check_campaign_award(points)?;
        if program.redeem_unit_points > 0 {
            unit_cost += Decimal::from(points) * program.redeem_unit_value / Decimal::from(program.redeem_unit_points);
        }
    }
    Ok(Plan { campaign, kind, trigger, actions, audience, unit_cost, coupon_name })
}

/// The run a campaign is due for now, if any.
pub fn due_run(plan: &Plan, now: DateTime<Utc>, today: NaiveDate) -> Option<String> {
    let c = &plan.campaign;
    let opened = c.starts_at.is_none_or(|s| s <= now);
    let open = opened && c.ends_at.is_none_or(|e| now < e);
    match (plan.kind, plan.trigger) {
        (CampaignKind::OneOff, _) => Some("once".into()),
        (CampaignKind::Scheduled, _) if open => Some("once".into()),
        (CampaignKind::Triggered, Some(t)) if open => {
            Some(if t.on_events() { "events".into() } else { today.to_string() })
        }
        _ => None,
    }
}

/// One customer as a run sees them: the candidate and the occurrence it is due for.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Candidate {
    #[diesel(sql_type = SqlUuid)]
    pub customer_id: Uuid,
    #[diesel(sql_type = Text)]
    pub occurrence: String,
    /// Already decided (by a run that died half-way, or another instance).
    #[diesel(sql_type = Bool)]
    pub decided: bool,
}

/// The next candidates after `after`, in customer order: the audience (a one-off or scheduled
/// run), or those the trigger fires for today, within the audience when there is one. A run
/// that keeps a cursor (`resumable`) gets the next `limit` candidates, each marked whether it was
/// decided already; an event trigger's standing scan gets only undecided ones.
pub fn candidates(
    conn: &mut PgConnection,
    plan: &Plan,
    at: Evaluation,
    after: Option<Uuid>,
    limit: i64,
    resumable: bool,
) -> ApiResult<Vec<Candidate>> {
    let mut sql = Compiler::new(at);
    let after = sql.start_after(after.unwrap_or(Uuid::nil()));
    let campaign = sql.bind(Param::Id(plan.campaign.id));
    let in_audience = plan.audience.as_ref().map(|node| sql.node(node)).unwrap_or_else(|| "true".into());
    let activated = sql.bind(Param::Instant(plan.campaign.activated_at.unwrap_or(at.now)));
    let (from, occurrence, condition) = match plan.trigger.filter(|_| plan.kind == CampaignKind::Triggered) {
        None => (FACTS.to_string(), "'once'".to_string(), "true".to_string()),
        Some(Trigger::Birthday { offset_days }) => {
            // The birthday this run celebrates falls `offset_days` before today (−3: in 3 days).
            let day = format!("($1::date - {offset_days})");
            (
                FACTS.into(),
                format!("date_part('year', {day})::int::text"),
                format!("c.birthday IS NOT NULL AND {} = 0", birthday_in_days_sql("c.birthday", &day)),
            )
        }
        Some(Trigger::MembershipAnniversary) => {
            let joined = "(m.enrolled_at AT TIME ZONE $2::text)::date";
            (
                format!("{FACTS} JOIN memberships m ON m.customer_id = c.id"),
                "date_part('year', $1::date)::int::text".into(),
                format!("{joined} < $1::date AND {} = 0", birthday_in_days_sql(joined, "$1::date")),
            )
        }
        Some(Trigger::Dormant { days }) => {
            (FACTS.into(), "c.last_order_on::text".into(), format!("c.last_order_on <= $1::date - {days}"))
        }
        Some(Trigger::FirstOrder) => {
            (FACTS.into(), "'first'".into(), format!("c.first_order_on >= ({activated} AT TIME ZONE $2::text)::date"))
        }
        Some(Trigger::TierUpgraded) => (
            format!(
                "tier_changes tc JOIN {FACTS} ON c.id = tc.customer_id
                 JOIN tiers tf ON tf.code = tc.from_tier JOIN tiers tt ON tt.code = tc.to_tier"
            ),
            "tc.id::text".into(),
            format!("tc.occurred_at >= {activated} AND tt.rank > tf.rank"),
        ),
        Some(Trigger::CartAbandoned) => (
            format!("leads l JOIN {FACTS} ON c.id = l.customer_id"),
            "l.id::text".into(),
            format!(
                "l.kind = 'cart_abandoned' AND l.created_at >= {activated}
                 AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.occurred_at > l.created_at)"
            ),
        ),
    };
    let limit = sql.bind(Param::Integer(limit));
    // Whether a candidate was decided is one probe of the recipients' key per candidate, made
    // only for the candidates found: OFFSET 0 keeps the planner from turning it into an anti-join
    // planned on a young table's statistics, or from probing every customer it passes.
    let decided = format!(
        "EXISTS (SELECT 1 FROM campaign_recipients r WHERE r.campaign_id = {campaign}
                 AND r.customer_id = cand.customer_id AND r.occurrence = cand.occurrence OFFSET 0)"
    );
    let found = format!(
        "SELECT c.id AS customer_id, {occurrence} AS occurrence FROM {from}
         WHERE c.id > {after} AND {condition} AND ({in_audience})"
    );
    let text = if resumable {
        format!(
            "SELECT cand.customer_id, cand.occurrence, {decided} AS decided
             FROM ({found} ORDER BY 1, 2 LIMIT {limit}) cand ORDER BY 1, 2"
        )
    } else {
        format!(
            "SELECT cand.customer_id, cand.occurrence, false AS decided
             FROM ({found}) cand WHERE NOT {decided} ORDER BY 1, 2 LIMIT {limit}"
        )
    };
    crate::segments::store::roomy(conn, |conn| Ok(crate::segments::store::query(sql.finish(text)).load(conn)?))
}

/// What the policy and the message need of one customer.
#[derive(Debug, Clone, QueryableByName)]
struct ContactRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Bool)]
    live: bool,
    #[diesel(sql_type = Bool)]
    consented: bool,
    #[diesel(sql_type = Nullable<Text>)]
    address: Option<String>,
    #[diesel(sql_type = BigInt)]
    recent_messages: i64,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    tier_name: Option<String>,
    #[diesel(sql_type = BigInt)]
    points: i64,
    #[diesel(sql_type = Nullable<Text>)]
    store_name: Option<String>,
    #[diesel(sql_type = Array<Text>)]
    usual: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    bought: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    bought_recently: Vec<String>,
}

/// Reads, besides what the contact policy checks, only what the campaign's template names: a
/// birthday SMS with `{{name}}` reads no tier, balance, store or categories for its customers.
fn contacts(
    conn: &mut PgConnection,
    ids: &[Uuid],
    plan: &Plan,
    policy: &Policy,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> ApiResult<HashMap<Uuid, ContactRow>> {
    let message = model::message(&plan.actions);
    let channel = message.map(|(c, _)| c);
    let named: Vec<String> = message.and_then(|(_, t)| rules::variables_of(t).ok()).unwrap_or_default();
    let names = |variable: &str| named.iter().any(|n| n == variable);
    let rows: Vec<ContactRow> = diesel::sql_query(
        "SELECT c.id, c.status = 'active' AS live,
                coalesce((c.consents -> $2 ->> 'granted')::boolean, false) AS consented,
                CASE $3 WHEN 'sms' THEN c.phone WHEN 'email' THEN c.email
                        WHEN 'wechat' THEN (SELECT i.value FROM customer_identities i
                                            WHERE i.customer_id = c.id AND i.kind = 'wechat_openid'
                                            ORDER BY i.created_at, i.value LIMIT 1) END AS address,
                (SELECT count(*) FROM campaign_messages cm
                 WHERE cm.customer_id = c.id AND cm.created_at > $4) AS recent_messages,
                c.name,
                CASE WHEN $8 THEN (SELECT t.name FROM memberships m JOIN tiers t ON t.code = m.tier_code
                                   WHERE m.customer_id = c.id) END AS tier_name,
                coalesce(CASE WHEN $9 THEN (SELECT pa.balance - pa.debt FROM points_accounts pa
                                            WHERE pa.customer_id = c.id) END, 0) AS points,
                CASE WHEN $10 THEN (SELECT s.name FROM stores s WHERE s.id = c.home_store_id) END AS store_name,
                CASE WHEN $11 THEN ARRAY(SELECT cc.category FROM customer_categories cc
                                         JOIN message_categories mc ON mc.name = cc.category
                                         WHERE cc.customer_id = c.id
                                         ORDER BY cc.quantity DESC, cc.orders DESC, cc.category LIMIT $6)
                     ELSE '{}' END AS usual,
                CASE WHEN $12 THEN ARRAY(SELECT cc.category FROM customer_categories cc WHERE cc.customer_id = c.id)
                     ELSE '{}' END AS bought,
                CASE WHEN $12 THEN ARRAY(SELECT cc.category FROM customer_categories cc
                                         WHERE cc.customer_id = c.id AND cc.last_bought_on > $5 - $7::int)
                     ELSE '{}' END AS bought_recently
         FROM customers c
         WHERE c.id = ANY($1)",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Text, _>(channel.map(CampaignChannel::consent).unwrap_or(""))
    .bind::<Text, _>(channel.map(CampaignChannel::as_str).unwrap_or(""))
    .bind::<diesel::sql_types::Timestamptz, _>(now - Duration::days(i64::from(policy.frequency_days)))
    .bind::<diesel::sql_types::Date, _>(today)
    .bind::<BigInt, _>(CATEGORIES_NAMED as i64)
    .bind::<diesel::sql_types::Integer, _>(RECENTLY_BOUGHT_DAYS as i32)
    .bind::<Bool, _>(names("tier"))
    .bind::<Bool, _>(names("points"))
    .bind::<Bool, _>(names("store_name"))
    .bind::<Bool, _>(names("usual_categories"))
    .bind::<Bool, _>(names("recommended_categories"))
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.id, r)).collect())
}

/// What one customer's decision came to.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub customer_id: Uuid,
    pub occurrence: String,
    pub decision: Decision,
}

/// Counts of one batch or run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub reached: i64,
    pub holdout: i64,
    pub suppressed: i64,
    pub messages: i64,
}

/// The policy's decision for each candidate, in order. A customer twice in one batch (two
/// occurrences) counts their first message against the cap for the second.
fn decide_all(
    plan: &Plan,
    candidates: &[Candidate],
    contacts: &HashMap<Uuid, ContactRow>,
    policy: &Policy,
    mut spent: Decimal,
) -> Vec<Outcome> {
    let messages = model::message(&plan.actions).is_some();
    let mut sent_now: HashMap<Uuid, i64> = HashMap::new();
    candidates
        .iter()
        .map(|candidate| {
            let row = contacts.get(&candidate.customer_id);
            let contact = rules::Contact {
                live: row.is_some_and(|r| r.live),
                consented: row.is_some_and(|r| r.consented),
                address: row.and_then(|r| r.address.clone()).filter(|a| !a.is_empty()),
                recent_messages: row.map_or(0, |r| r.recent_messages)
                    + sent_now.get(&candidate.customer_id).copied().unwrap_or(0),
            };
            let holdout = rules::in_holdout(plan.campaign.id, candidate.customer_id, plan.campaign.holdout_percent);
            let within_budget = plan.campaign.budget.is_none_or(|b| spent + plan.unit_cost <= b);
            let decision = rules::decide(&contact, messages, holdout, policy, within_budget);
            if decision == Decision::Reach {
                spent += plan.unit_cost;
                if messages {
                    *sent_now.entry(candidate.customer_id).or_default() += 1;
                }
            }
            Outcome { customer_id: candidate.customer_id, occurrence: candidate.occurrence.clone(), decision }
        })
        .collect()
}

/// Where a run is evaluated.
#[derive(Debug, Clone, Copy)]
pub struct RunContext {
    pub at: Evaluation,
    pub policy: Policy,
}

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
        // What goes together follows the outbox: bring it to now, as the activity is for the audience.
        crate::orders::co_purchase::follow(conn)?;
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
                total.reached += t.reached;
                total.holdout += t.holdout;
                total.suppressed += t.suppressed;
                total.messages += t.messages;
            }
            Ok(Batch::Done | Batch::Busy) => return Ok(total),
            // Someone else decided a customer of this batch first: it rolled back whole, try again.
            Err(ApiError::Conflict { code: "campaign_recipient_taken", .. }) => continue,
            Err(e) => return Err(e),
        }
    }
}

#[derive(QueryableByName)]
struct RunRow {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    cursor: Option<Uuid>,
    #[diesel(sql_type = Bool)]
    finished: bool,
    #[diesel(sql_type = Bool)]
    active: bool,
    #[diesel(sql_type = Numeric)]
    spent: Decimal,
}

fn batch(
    conn: &mut PgConnection,
    plan: &Plan,
    run: &str,
    ctx: RunContext,
    tz: Tz,
    matrix: Option<&Matrix>,
) -> ApiResult<Batch> {
    let id = plan.campaign.id;
    diesel::sql_query(
        "INSERT INTO campaign_runs (campaign_id, run, started_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(run)
    .bind::<diesel::sql_types::Timestamptz, _>(ctx.at.now)
    .execute(conn)?;
    let claimed: Option<RunRow> = diesel::sql_query(
        "SELECT r.cursor, r.finished_at IS NOT NULL AS finished,
                (SELECT status = $4 FROM campaigns WHERE id = r.campaign_id) AS active,
                CASE WHEN $3 THEN (SELECT coalesce(sum(cost), 0) FROM campaign_recipients
                                   WHERE campaign_id = r.campaign_id) ELSE 0 END::numeric AS spent
         FROM campaign_runs r WHERE r.campaign_id = $1 AND r.run = $2 FOR UPDATE OF r SKIP LOCKED",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(run)
    // Only a budget needs what was spent so far.
    .bind::<Bool, _>(plan.campaign.budget.is_some())
    .bind::<Text, _>(CampaignStatus::Active)
    .get_result(conn)
    .optional()?;
    let Some(state) = claimed else { return Ok(Batch::Busy) };
    if state.finished || !state.active {
        return Ok(Batch::Done);
    }
    // An event trigger's standing scan re-reads its tier moves or carts each time (those decided
    // drop out); only the audience's runs keep a cursor.
    let resumable = run != "events";
    let after = if resumable { state.cursor } else { None };
    let found = candidates(conn, plan, ctx.at, after, BATCH, resumable)?;
    let Some(last) = found.last().map(|c| c.customer_id) else {
        if run != "events" {
            diesel::sql_query("UPDATE campaign_runs SET finished_at = $3 WHERE campaign_id = $1 AND run = $2")
                .bind::<SqlUuid, _>(id)
                .bind::<Text, _>(run)
                .bind::<diesel::sql_types::Timestamptz, _>(ctx.at.now)
                .execute(conn)?;
        }
        return Ok(Batch::Done);
    };
    let due: Vec<Candidate> = found.into_iter().filter(|c| !c.decided).collect();
    if due.is_empty() {
        move_cursor(conn, id, run, last)?;
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
    let contacts = contacts(conn, &ids, plan, &ctx.policy, ctx.at.now, ctx.at.today)?;
    let mut outcomes = decide_all(plan, &due, &contacts, &ctx.policy, state.spent);
    let codes = issue_coupons(conn, plan, &mut outcomes, ctx.at.now, tz)?;
    award_points(conn, plan, &outcomes, ctx.at.now, tz)?;
    let tally = record(conn, plan, &outcomes, &codes, &contacts, ctx, matrix)?;
    if resumable {
        move_cursor(conn, id, run, last)?;
    }
    Ok(Batch::Worked(tally))
}

fn move_cursor(conn: &mut PgConnection, campaign: Uuid, run: &str, last: Uuid) -> ApiResult<()> {
    diesel::sql_query("UPDATE campaign_runs SET cursor = $3 WHERE campaign_id = $1 AND run = $2")
        .bind::<SqlUuid, _>(campaign)
        .bind::<Text, _>(run)
        .bind::<SqlUuid, _>(last)
        .execute(conn)?;
    Ok(())
}

/// What a run now would do, as counts over every candidate and the first few outcomes.
#[derive(Debug, Default)]
pub struct Forecast {
    pub candidates: i64,
    pub reached: i64,
    pub holdout: i64,
    pub suppressed: std::collections::BTreeMap<&'static str, i64>,
    /// Points the reached would be awarded, and what reaching them would cost (messages, coupons'
    /// unit cost, the points' value) — charged to the budget as a run charges it.
    pub points: i64,
    pub cost: Decimal,
    pub sample: Vec<Outcome>,
}

/// What a run now would decide for everyone it is due for, writing nothing. Candidates are read
/// and decided a batch at a time and only counted, so a campaign to millions holds one batch and
/// `sample_size` outcomes in memory.
pub fn dry_run(conn: &mut PgConnection, plan: &Plan, ctx: RunContext, sample_size: usize) -> ApiResult<Forecast> {
    #[derive(QueryableByName)]
    struct Spent {
        #[diesel(sql_type = Numeric)]
        spent: Decimal,
    }
    let mut spent = diesel::sql_query(
        "SELECT coalesce(sum(cost), 0)::numeric AS spent FROM campaign_recipients WHERE campaign_id = $1",
    )
    .bind::<SqlUuid, _>(plan.campaign.id)
    .get_result::<Spent>(conn)?
    .spent;
    let award = model::award(&plan.actions);
    let mut forecast = Forecast::default();
    let mut after = None;
    loop {
        let found = candidates(conn, plan, ctx.at, after, BATCH, true)?;
        let Some(last) = found.last() else { return Ok(forecast) };
        after = Some(last.customer_id);
        let exhausted = (found.len() as i64) < BATCH;
        let due: Vec<Candidate> = found.into_iter().filter(|c| !c.decided).collect();
        let ids: Vec<Uuid> = due.iter().map(|c| c.customer_id).collect::<HashSet<_>>().into_iter().collect();
        let contacts = contacts(conn, &ids, plan, &ctx.policy, ctx.at.now, ctx.at.today)?;
        for outcome in decide_all(plan, &due, &contacts, &ctx.policy, spent) {
            forecast.candidates += 1;
            match outcome.decision {
                Decision::Reach => {
                    forecast.reached += 1;
                    forecast.points += award;
                    forecast.cost += plan.unit_cost;
                    spent += plan.unit_cost;
                }
                Decision::Holdout => forecast.holdout += 1,
                Decision::Suppress(reason) => *forecast.suppressed.entry(reason).or_default() += 1,
            }
            if forecast.sample.len() < sample_size {
                forecast.sample.push(outcome);
            }
        }
        if exhausted {
            return Ok(forecast);
        }
    }
}

/// Issues the campaign's coupon to those reached; one who cannot have one (the template's limits)
/// is not reached after all. Returns each reached customer's code.
fn issue_coupons(
    conn: &mut PgConnection,
    plan: &Plan,
    outcomes: &mut [Outcome],
    now: DateTime<Utc>,
    tz: Tz,
) -> ApiResult<HashMap<(Uuid, String), String>> {
    let mut codes = HashMap::new();
    let Some(template) = model::coupon_template(&plan.actions) else { return Ok(codes) };
    let reached: Vec<usize> = (0..outcomes.len()).filter(|i| outcomes[*i].decision == Decision::Reach).collect();
    let reference = plan.campaign.id.to_string();
    // One customer at a time through the coupon rules: a customer twice in a batch may have room for one.
    for chunk_start in (0..reached.len()).step_by(BATCH as usize) {
        let chunk = &reached[chunk_start..(chunk_start + BATCH as usize).min(reached.len())];
        let mut seen = HashSet::new();
        let (first, again): (Vec<usize>, Vec<usize>) =
            chunk.iter().partition(|i| seen.insert(outcomes[**i].customer_id));
        for group in [first, again] {
            if group.is_empty() {
                continue;
            }
            let customers: Vec<Uuid> = group.iter().map(|i| outcomes[*i].customer_id).collect();
            let source = crate::coupons::store::Source {
                kind: crate::coupons::model::CouponSource::Campaign,
                reference: Some(&reference),
            };
            let report = match crate::coupons::store::issue(conn, template, &customers, source, now, tz) {
                Ok(report) => report,
                // The template ended or was paused: nobody gets its coupon.
                Err(ApiError::Conflict { .. }) => {
                    crate::coupons::store::IssueReport { issued: vec![], skipped: vec![] }
                }
                Err(e) => return Err(e),
            };
            let issued: HashMap<Uuid, String> =
                report.issued.into_iter().map(|i| (i.requested, i.coupon.code)).collect();
            for i in group {
                let o = &mut outcomes[i];
                match issued.get(&o.customer_id) {
                    Some(code) => {
                        codes.insert((o.customer_id, o.occurrence.clone()), code.clone());
                    }
                    None => o.decision = Decision::Suppress(rules::reason::COUPON_UNAVAILABLE),
                }
            }
        }
    }
    Ok(codes)
}

/// Bonus points through the ledger, accounts locked in customer order.
fn award_points(
    conn: &mut PgConnection,
    plan: &Plan,
    outcomes: &[Outcome],
    now: DateTime<Utc>,
    tz: Tz,
) -> ApiResult<()> {
    let points = model::award(&plan.actions);
    if points == 0 {
        return Ok(());
    }
    let program = crate::loyalty::program::load(conn)?;
    let mut reached: Vec<&Outcome> = outcomes.iter().filter(|o| o.decision == Decision::Reach).collect();
    reached.sort_by_key(|o| o.customer_id);
    for o in reached {
        let mut account = crate::loyalty::ledger::lock_account(conn, o.customer_id)?;
        let posting = crate::loyalty::ledger::Posting::new("campaign", ACTOR, now)
            .reference(format!("campaign:{}:{}", plan.campaign.id, o.occurrence))
            .reason(plan.campaign.name.clone());
        let available = crate::loyalty::rules::available_at(now, program.points_pending_days);
        let expires = crate::loyalty::rules::expires_at(now, program.points_ttl_days, tz);
        crate::loyalty::ledger::credit(conn, &mut account, points, &posting, available, expires)?;
        let source = EarnSource::Campaign { campaign_id: plan.campaign.id };
        crate::events::emit(conn, Some(o.customer_id), EventData::PointsEarned(PointsEarned { points, source }))?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Inserted {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Writes every decision, and the messages of those reached.
fn record(
    conn: &mut PgConnection,
    plan: &Plan,
    outcomes: &[Outcome],
    codes: &HashMap<(Uuid, String), String>,
    contacts: &HashMap<Uuid, ContactRow>,
    ctx: RunContext,
    matrix: Option<&Matrix>,
) -> ApiResult<Tally> {
    let now = ctx.at.now;
    let mut tally = Tally::default();
    let (mut customers, mut occurrences, mut kinds, mut reasons, mut coupon_codes, mut points, mut costs) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut messages: Vec<Message> = Vec::new();
    let send_at = rules::send_at(now, ctx.policy.quiet, ctx.at.zone);
    for o in outcomes {
        let code = codes.get(&(o.customer_id, o.occurrence.clone())).cloned();
        let (kind, reason) = o.decision.outcome();
        match o.decision {
            Decision::Reach => tally.reached += 1,
            Decision::Holdout => tally.holdout += 1,
            Decision::Suppress(_) => tally.suppressed += 1,
        }
        let reached = o.decision == Decision::Reach;
        customers.push(o.customer_id);
        occurrences.push(o.occurrence.clone());
        kinds.push(kind);
        reasons.push(reason);
        coupon_codes.push(code.clone());
        points.push(if reached { model::award(&plan.actions) } else { 0 });
        costs.push(if reached { plan.unit_cost } else { Decimal::ZERO });
        if let (true, Some((channel, template)), Some(row)) =
            (reached, model::message(&plan.actions), contacts.get(&o.customer_id))
        {
            let recommended: Vec<String> = matrix
                .map(|m| recommend(&row.bought, &row.bought_recently, m, CATEGORIES_NAMED))
                .unwrap_or_default()
                .into_iter()
                .map(|(category, _)| category)
                .collect();
            let values: HashMap<&str, String> = [
                ("name", row.name.clone().unwrap_or_default()),
                ("tier", row.tier_name.clone().unwrap_or_default()),
                ("points", row.points.to_string()),
                ("coupon_code", code.clone().unwrap_or_default()),
                ("coupon_name", plan.coupon_name.clone().unwrap_or_default()),
                ("store_name", row.store_name.clone().unwrap_or_default()),
                ("usual_categories", row.usual.join("、")),
                ("recommended_categories", recommended.join("、")),
            ]
            .into();
            let deferred = send_at > now;
            messages.push(Message {
                id: Uuid::now_v7(),
                campaign_id: plan.campaign.id,
                customer_id: o.customer_id,
                occurrence: o.occurrence.clone(),
                channel,
                recipient: row.address.clone().unwrap_or_default(),
                body: rules::render(template, &values),
                coupon_code: code,
                status: if deferred { CampaignMessageStatus::Deferred } else { CampaignMessageStatus::Sent },
                send_at,
                sent_at: (!deferred).then_some(now),
                reason: None,
                status_at: now,
                created_at: now,
            });
        }
    }
    let inserted: Inserted = diesel::sql_query(
        "WITH rows AS (
             INSERT INTO campaign_recipients
                 (campaign_id, customer_id, occurrence, outcome, reason, coupon_code, points, cost, decided_at)
             SELECT $1, * , $9 FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::numeric[])
             ON CONFLICT DO NOTHING RETURNING 1)
         SELECT count(*) AS n FROM rows",
    )
    .bind::<SqlUuid, _>(plan.campaign.id)
    .bind::<Array<SqlUuid>, _>(&customers)
    .bind::<Array<Text>, _>(&occurrences)
    .bind::<Array<Text>, _>(crate::vocabulary::names(&kinds))
    .bind::<Array<Nullable<Text>>, _>(&reasons)
    .bind::<Array<Nullable<Text>>, _>(&coupon_codes)
    .bind::<Array<BigInt>, _>(&points)
    .bind::<Array<Numeric>, _>(&costs)
    .bind::<diesel::sql_types::Timestamptz, _>(now)
    .get_result(conn)?;
    if inserted.n != outcomes.len() as i64 {
        return Err(ApiError::conflict("campaign_recipient_taken", "another run decided a customer of this batch"));
    }
    store::insert_messages(conn, &messages)?;
    let sent: Vec<&Message> = messages.iter().filter(|m| m.status == CampaignMessageStatus::Sent).collect();
    emit_messages(conn, &sent)?;
    tally.messages = messages.len() as i64;
    Ok(tally)
}

/// A message handed to the gateway is a `campaign.message` event (SPEC §9): the gateway's
/// webhook needs the recipient and the text, which an erasure redacts.
pub fn emit_messages(conn: &mut PgConnection, messages: &[&Message]) -> ApiResult<()> {
    let events: Vec<_> = messages
        .iter()
        .map(|m| {
            let message = CampaignMessage {
                message_id: m.id,
                campaign_id: m.campaign_id,
                channel: m.channel.to_string(),
                recipient: m.recipient.clone(),
                text: m.body.clone(),
                coupon_code: m.coupon_code.clone(),
            };
            (Some(m.customer_id), EventData::CampaignMessage(message))
        })
        .collect();
    crate::events::emit_many(conn, &events)
}

/// Hands over deferred messages whose quiet hours are over — unless the customer has meanwhile
/// withdrawn the channel's consent or is no longer live: those fail with the reason.
pub fn release_deferred(conn: &mut PgConnection, now: DateTime<Utc>) -> ApiResult<i64> {
    let mut released = 0;
    loop {
        if crate::lifecycle::background_should_stop() {
            return Ok(released);
        }
        let n = conn.transaction(|conn| {
            let due = store::claim_due_deferred(conn, now, BATCH)?;
            if due.is_empty() {
                return Ok::<_, ApiError>(0);
            }
            let ids: Vec<Uuid> = due.iter().map(|m| m.customer_id).collect();
            let allowed = still_reachable(conn, &ids)?;
            let (go, stop): (Vec<&Message>, Vec<&Message>) = due.iter().partition(|m| {
                allowed.get(&m.customer_id).is_some_and(|(live, consents)| {
                    *live && consents.iter().any(|granted| granted == m.channel.consent())
                })
            });
            store::mark_sent(conn, &go.iter().map(|m| m.id).collect::<Vec<_>>(), now)?;
            for m in &stop {
                let live = allowed.get(&m.customer_id).is_some_and(|(live, _)| *live);
                store::set_message_status(
                    conn,
                    m.id,
                    CampaignMessageStatus::Failed,
                    Some(if live { "consent_revoked" } else { "not_live" }),
                    now,
                )?;
            }
            emit_messages(conn, &go)?;
            Ok(due.len() as i64)
        })?;
        released += n;
        if n < BATCH {
            return Ok(released);
        }
    }
}

/// For each customer: live, and the consents granted now.
fn still_reachable(conn: &mut PgConnection, ids: &[Uuid]) -> ApiResult<HashMap<Uuid, (bool, Vec<String>)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = Bool)]
        live: bool,
        #[diesel(sql_type = Array<Text>)]
        granted: Vec<String>,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT c.id, c.status = 'active' AS live,
                ARRAY(SELECT k FROM jsonb_each(c.consents) j(k, v) WHERE (v ->> 'granted')::boolean) AS granted
         FROM customers c WHERE c.id = ANY($1)",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.id, (r.live, r.granted))).collect())
}
