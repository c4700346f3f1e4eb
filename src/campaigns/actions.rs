//! A reached customer's actions besides the message: the campaign's coupon and its points.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::PgConnection;
use uuid::Uuid;

use super::decide::Outcome;
use super::model;
use super::plan::Plan;
use super::rules::{Decision, SuppressReason};
use super::run::BATCH;
use crate::error::{ApiError, ApiResult};
use crate::events::types::{EarnSource, EventData, PointsEarned};

/// Who the ledger names as having awarded campaign points.
const ACTOR: &str = "campaign";

/// Issues the campaign's coupon to those reached; one who cannot have one (the template's limits)
/// is not reached after all. Returns each reached customer's code.
pub fn issue_coupons(
    conn: &mut PgConnection, plan: &Plan, outcomes: &mut [Outcome], now: DateTime<Utc>, tz: Tz,
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
                    None => o.decision = Decision::Suppress(SuppressReason::CouponUnavailable),
                }
            }
        }
    }
    Ok(codes)
}

/// Bonus points through the ledger, accounts locked in customer order.
pub fn award_points(
    conn: &mut PgConnection, plan: &Plan, outcomes: &[Outcome], now: DateTime<Utc>, tz: Tz,
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
        let posting = crate::loyalty::ledger::Posting::new(crate::loyalty::rules::EntryKind::Campaign, ACTOR, now)
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
