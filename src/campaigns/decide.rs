//! What a run decides: the contact policy's decision for each candidate, the counts, the
//! decisions as stored, and a dry-run's forecast over everyone due.

use std::collections::{HashMap, HashSet};

use diesel::PgConnection;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::model;
use super::plan::{Plan, RunContext};
use super::rules::{self, Decision, Policy};
use super::store::{self, audience::Candidate, audience::ContactRow, runs::Decisions};
use crate::error::ApiResult;

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

impl Tally {
    /// The decisions counted (no message yet).
    pub fn of(outcomes: &[Outcome]) -> Tally {
        let mut tally = Tally::default();
        for o in outcomes {
            match o.decision {
                Decision::Reach => tally.reached += 1,
                Decision::Holdout => tally.holdout += 1,
                Decision::Suppress(_) => tally.suppressed += 1,
            }
        }
        tally
    }

    pub fn add(&mut self, other: &Tally) {
        self.reached += other.reached;
        self.holdout += other.holdout;
        self.suppressed += other.suppressed;
        self.messages += other.messages;
    }
}

/// The policy's decision for each candidate, in order. A customer twice in one batch (two
/// occurrences) counts their first message against the cap for the second.
pub fn decide_all(
    plan: &Plan, candidates: &[Candidate], contacts: &HashMap<Uuid, ContactRow>, policy: &Policy, mut spent: Decimal,
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

/// The decisions as `campaign_recipients` keeps them: the reached carry their coupon, points and cost.
pub fn decisions(plan: &Plan, outcomes: &[Outcome], codes: &HashMap<(Uuid, String), String>) -> Decisions {
    let mut d = Decisions::default();
    for o in outcomes {
        let (outcome, reason) = o.decision.outcome();
        let reached = o.decision == Decision::Reach;
        d.customers.push(o.customer_id);
        d.occurrences.push(o.occurrence.clone());
        d.outcomes.push(outcome);
        d.reasons.push(reason);
        d.coupon_codes.push(codes.get(&(o.customer_id, o.occurrence.clone())).cloned());
        d.points.push(if reached { model::award(&plan.actions) } else { 0 });
        d.costs.push(if reached { plan.unit_cost } else { Decimal::ZERO });
    }
    d
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
    let mut spent = store::runs::spent(conn, plan.campaign.id)?;
    let award = model::award(&plan.actions);
    let mut forecast = Forecast::default();
    let mut after = None;
    loop {
        let found = store::audience::candidates(conn, plan, ctx.at, after, super::run::BATCH, true)?;
        let Some(last) = found.last() else { return Ok(forecast) };
        after = Some(last.customer_id);
        let exhausted = (found.len() as i64) < super::run::BATCH;
        let due: Vec<Candidate> = found.into_iter().filter(|c| !c.decided).collect();
        let ids: Vec<Uuid> = due.iter().map(|c| c.customer_id).collect::<HashSet<_>>().into_iter().collect();
        let contacts = store::audience::contacts(conn, &ids, plan, &ctx.policy, ctx.at.now, ctx.at.today)?;
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
                Decision::Suppress(reason) => *forecast.suppressed.entry(reason.as_str()).or_default() += 1,
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
