//! A campaign made ready to run: its parts parsed, its audience read, its costs known; and the
//! run it is due for now.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::PgConnection;
use rust_decimal::Decimal;

use super::model::{self, Action, CampaignKind, Trigger};
use super::rules::Policy;
use super::store::Campaign;
use crate::error::{ApiError, ApiResult};
use crate::segments::compile::Evaluation;
use crate::segments::definition::Node;

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
            Some(crate::segments::store::parse_saved(&saved.definition)?)
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

/// Where a run is evaluated.
#[derive(Debug, Clone, Copy)]
pub struct RunContext {
    pub at: Evaluation,
    pub policy: Policy,
}
