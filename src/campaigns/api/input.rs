//! A campaign as a request gives it, and what it must be to be saved: its fields on their own,
//! the whole campaign after a change, the references it names and the points it may award.

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::campaigns::model::{self, CampaignKind};
use crate::campaigns::store::{Campaign, CampaignFields};
use crate::error::{ApiError, ApiResult, Violations};
use crate::http::auth::Principal;

#[derive(Serialize, Deserialize, ToSchema, Clone, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"segment_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e"}))]
pub struct Audience {
    /// A saved segment; for a triggered campaign it narrows who the trigger may reach.
    pub(super) segment_id: Option<Uuid>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"starts_at": "2026-06-18T01:00:00Z", "ends_at": "2026-06-20T16:00:00Z"}))]
pub struct Schedule {
    /// A scheduled campaign runs once, here; a triggered one is active from here.
    pub(super) starts_at: Option<DateTime<Utc>>,
    /// After this the campaign completes.
    pub(super) ends_at: Option<DateTime<Utc>>,
}

pub const DEFAULT_ATTRIBUTION_DAYS: i32 = 14;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "生日关怀", "kind": "triggered", "trigger": {"type": "birthday", "offset_days": -3},
    "actions": [{"type": "issue_coupon", "template_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f"},
                {"type": "send_message", "channel": "sms", "template": "{{name}}，生日快乐！送您满300减50券：{{coupon_code}}"}],
    "budget": "50000.00", "holdout_percent": 10}))]
pub struct CampaignInput {
    /// Not blank (required on create).
    #[schema(min_length = 1, max_length = 100, format = "non-blank")]
    name: Option<String>,
    /// Required on create; fixed after.
    #[schema(value_type = Option<CampaignKind>)]
    kind: Option<String>,
    /// Whom it reaches: required for one-off and scheduled campaigns.
    #[serde(default, deserialize_with = "crate::http::object_only")]
    audience: Option<Audience>,
    /// Required for a triggered campaign, and only for one.
    #[schema(value_type = Option<Object>)]
    trigger: Option<Value>,
    /// 1-10 actions: at most one message and one coupon (required on create).
    #[schema(value_type = Option<Vec<Object>>)]
    actions: Option<Value>,
    /// `starts_at` is required for a scheduled campaign; `ends_at` after it.
    #[serde(default, deserialize_with = "crate::http::object_only")]
    schedule: Option<Schedule>,
    /// Money: the most the campaign may cost; past it customers are suppressed (`budget_exhausted`).
    #[serde(default, deserialize_with = "money_patch")]
    #[schema(value_type = Option<String>, format = "money", example = "50000.00")]
    budget: Option<Option<Decimal>>,
    /// What one message costs (up to 4 decimals), for the budget and the ROI. Default 0.
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{1,10}(\.[0-9]{1,4})?$", example = "0.05")]
    cost_per_message: Option<String>,
    /// 0-50 (default 0): the share of the audience kept as a control group.
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(minimum = 0, maximum = 50)]
    holdout_percent: Option<i32>,
    /// 1-90 (default 14): days after a message in which an order counts as converted.
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(minimum = 1, maximum = 90)]
    attribution_days: Option<i32>,
}

fn money_patch<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Decimal>>, D::Error> {
    crate::money::option::deserialize(d).map(Some)
}

impl CampaignInput {
    /// Checks the fields given and, merged with `current` (a change), the whole campaign.
    pub fn fields(self, current: Option<&Campaign>) -> ApiResult<CampaignFields> {
        let mut v = Violations::new();
        let name = self.name.map(|n| n.trim().to_string());
        if let Some(n) = &name {
            v.check(!n.is_empty() && n.chars().count() <= 100, "name", "must be 1-100 characters");
        }
        let kind = match (&self.kind, current) {
            (Some(k), None) => v.word::<CampaignKind>("kind", Some(k)),
            (Some(k), Some(c)) if CampaignKind::parse(k) != Some(c.kind) => {
                v.add("kind", "a campaign's kind is fixed when it is created");
                None
            }
            (_, Some(c)) => Some(c.kind),
            (None, None) => None,
        };
        if current.is_none() {
            if self.kind.is_none() {
                v.add("kind", "is required");
            }
            v.check(name.is_some(), "name", "is required");
            v.check(self.actions.is_some(), "actions", "is required");
        }
        let mistake = |v: &mut Violations, m: model::Mistake| v.add(m.path, m.message);
        if let Some(Err(m)) = self.trigger.as_ref().map(model::parse_trigger) {
            mistake(&mut v, m);
        }
        if let Some(Err(m)) = self.actions.as_ref().map(model::parse_actions) {
            mistake(&mut v, m);
        }
        let cost_per_message = match self.cost_per_message.as_deref() {
            None => None,
            Some(text) => {
                let parsed = text.parse::<Decimal>().ok().filter(|d| *d >= Decimal::ZERO && d.scale() <= 4);
                v.check(parsed.is_some(), "cost_per_message", "must be an amount of 0 or more, up to 4 decimals");
                parsed
            }
        };
        if let Some(Some(b)) = self.budget {
            v.check(b >= Decimal::ZERO, "budget", "must not be negative");
        }
        if let Some(h) = self.holdout_percent {
            v.check((0..=50).contains(&h), "holdout_percent", "must be 0-50");
        }
        if let Some(d) = self.attribution_days {
            v.check((1..=90).contains(&d), "attribution_days", "must be 1-90");
        }
        // The whole campaign, as it would be after this change.
        let segment = match &self.audience {
            Some(a) => a.segment_id,
            None => current.and_then(|c| c.segment_id),
        };
        let trigger_given = self.trigger.is_some() || current.is_some_and(|c| c.trigger.is_some());
        let schedule = self.schedule.clone().unwrap_or_else(|| Schedule {
            starts_at: current.and_then(|c| c.starts_at),
            ends_at: current.and_then(|c| c.ends_at),
        });
        match kind {
            Some(CampaignKind::OneOff | CampaignKind::Scheduled) => {
                v.check(segment.is_some(), "audience.segment_id", "one-off and scheduled campaigns need an audience");
                v.check(!trigger_given, "trigger", "only a triggered campaign has a trigger");
            }
            Some(CampaignKind::Triggered) => v.check(trigger_given, "trigger", "a triggered campaign needs a trigger"),
            None => {}
        }
        if kind == Some(CampaignKind::Scheduled) {
            v.check(schedule.starts_at.is_some(), "schedule.starts_at", "a scheduled campaign needs a start");
        }
        if let (Some(s), Some(e)) = (schedule.starts_at, schedule.ends_at) {
            v.check(s < e, "schedule.ends_at", "must be after starts_at");
        }
        v.into_result()?;
        Ok(CampaignFields {
            name,
            kind: if current.is_none() { kind } else { None },
            segment_id: self.audience.map(|a| a.segment_id),
            trigger: self.trigger.map(Some),
            actions: self.actions,
            starts_at: self.schedule.as_ref().map(|s| s.starts_at),
            ends_at: self.schedule.as_ref().map(|s| s.ends_at),
            budget: self.budget,
            cost_per_message,
            holdout_percent: self.holdout_percent,
            attribution_days: self.attribution_days.or(current.is_none().then_some(DEFAULT_ATTRIBUTION_DAYS)),
        })
    }
}

/// Points a campaign awards are points minted (issue 22): whoever saves or starts such a
/// campaign needs `loyalty:write` as well, and each customer gets at most the program's
/// `max_campaign_award_points` (default `max_adjustment_points`) per occurrence — as a hand
/// adjustment is bounded per call, even for the admin.
pub fn check_award(conn: &mut PgConnection, who: &Principal, actions: &Value) -> ApiResult<()> {
    let points = model::award(&model::parse_actions(actions).unwrap_or_default());
    if points == 0 {
        return Ok(());
    }
    who.require_scope("loyalty:write")?;
    crate::loyalty::program::load(conn)?.check_campaign_award(points)
}

/// References a campaign names must exist: its segment and its coupon template.
pub fn check_references(conn: &mut PgConnection, fields: &CampaignFields) -> ApiResult<()> {
    let mut v = Violations::new();
    if let Some(Some(segment)) = fields.segment_id {
        match crate::segments::store::get(conn, segment) {
            Err(ApiError::NotFound { .. }) => v.add("audience.segment_id", "no segment with this id"),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    if let Some(actions) = &fields.actions {
        let parsed = model::parse_actions(actions).unwrap_or_default();
        for (i, action) in parsed.iter().enumerate() {
            if let model::Action::IssueCoupon { template_id } = action {
                match crate::coupons::store::get_template(conn, *template_id) {
                    Err(ApiError::NotFound { .. }) => {
                        v.add(format!("actions[{i}].template_id"), "no coupon template with this id")
                    }
                    Err(e) => return Err(e),
                    Ok(_) => {}
                }
            }
        }
    }
    v.into_result()
}
