//! A campaign's parts as typed values: kind, trigger, actions — parsed from JSON with the path of
//! every mistake (`actions[0].template`).

use crate::customers::rules::ConsentKind;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::rules;

crate::vocabulary! {
    /// When a campaign reaches its customers; fixed once created.
    pub enum CampaignKind {
        /// Runs once, as soon as it is activated.
        OneOff = "one_off",
        /// Runs once, when its window opens.
        Scheduled = "scheduled",
        /// Reaches each customer when something happens to them.
        Triggered = "triggered",
    }
}

crate::vocabulary! {
    /// What fires a triggered campaign for a customer (`trigger.type`).
    pub enum CampaignTrigger {
        Birthday = "birthday", MembershipAnniversary = "membership_anniversary", Dormant = "dormant",
        FirstOrder = "first_order", TierUpgraded = "tier_upgraded", CartAbandoned = "cart_abandoned",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `offset_days` from the birthday: −3 is three days before. Once a year.
    Birthday { offset_days: i64 },
    /// The day a member joined, every year after. Once a year.
    MembershipAnniversary,
    /// `days` without an order. Once per spell of dormancy (per last order).
    Dormant { days: i64 },
    /// A customer's first order. Once.
    FirstOrder,
    /// A move to a higher tier. Once per move.
    TierUpgraded,
    /// A `cart_abandoned` lead of the customer with no order after it. Once per lead.
    CartAbandoned,
}

impl Trigger {
    pub fn kind(self) -> CampaignTrigger {
        match self {
            Trigger::Birthday { .. } => CampaignTrigger::Birthday,
            Trigger::MembershipAnniversary => CampaignTrigger::MembershipAnniversary,
            Trigger::Dormant { .. } => CampaignTrigger::Dormant,
            Trigger::FirstOrder => CampaignTrigger::FirstOrder,
            Trigger::TierUpgraded => CampaignTrigger::TierUpgraded,
            Trigger::CartAbandoned => CampaignTrigger::CartAbandoned,
        }
    }

    /// Event triggers react to events as they come; the others are scanned once a business day.
    pub fn on_events(self) -> bool {
        matches!(self, Trigger::TierUpgraded | Trigger::CartAbandoned)
    }
}

crate::vocabulary! {
    /// Where a campaign's message goes.
    pub enum CampaignChannel { Sms = "sms", Email = "email", Wechat = "wechat" }
}

impl CampaignChannel {
    /// The consent a message on this channel needs.
    pub fn consent(self) -> ConsentKind {
        match self {
            CampaignChannel::Sms => ConsentKind::MarketingSms,
            CampaignChannel::Email => ConsentKind::MarketingEmail,
            CampaignChannel::Wechat => ConsentKind::MarketingWechat,
        }
    }
}

crate::vocabulary! {
    /// What became of a campaign's message.
    pub enum CampaignMessageStatus {
        /// Waiting for quiet hours to end.
        Deferred = "deferred",
        /// Handed to the gateway.
        Sent = "sent",
        Delivered = "delivered",
        Failed = "failed",
        /// A delivery the gateway saw opened.
        Clicked = "clicked",
    }
}

crate::vocabulary! {
    /// What a channel gateway may report of a message it was handed.
    pub enum MessageReport { Delivered = "delivered", Failed = "failed", Clicked = "clicked" }
}

impl From<MessageReport> for CampaignMessageStatus {
    fn from(report: MessageReport) -> Self {
        match report {
            MessageReport::Delivered => CampaignMessageStatus::Delivered,
            MessageReport::Failed => CampaignMessageStatus::Failed,
            MessageReport::Clicked => CampaignMessageStatus::Clicked,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    SendMessage { channel: CampaignChannel, template: String },
    IssueCoupon { template_id: Uuid },
    AwardPoints { points: i64 },
}

/// The most bonus points one campaign gives one customer.
pub const MAX_AWARD_POINTS: i64 = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mistake {
    pub path: String,
    pub message: String,
}

fn mistake(path: impl Into<String>, message: impl Into<String>) -> Mistake {
    Mistake { path: path.into(), message: message.into() }
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, Mistake> {
    value.as_object().ok_or_else(|| mistake(path, "must be an object"))
}

fn only_keys(o: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), Mistake> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(mistake(format!("{path}.{k}"), format!("unknown key: use {}", allowed.join(", ")))),
        None => Ok(()),
    }
}

fn string<'a>(o: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str, Mistake> {
    o.get(key).and_then(Value::as_str).ok_or_else(|| mistake(format!("{path}.{key}"), "is required, a string"))
}

fn integer(
    o: &Map<String, Value>, key: &str, path: &str, range: std::ops::RangeInclusive<i64>,
) -> Result<i64, Mistake> {
    o.get(key).and_then(crate::http::whole_number_in).filter(|n| range.contains(n)).ok_or_else(|| {
        mistake(format!("{path}.{key}"), format!("is required, a whole number {}..{}", range.start(), range.end()))
    })
}

pub fn parse_trigger(value: &Value) -> Result<Trigger, Mistake> {
    let path = "trigger";
    let o = object(value, path)?;
    let kind = string(o, "type", path)?;
    let Some(kind) = CampaignTrigger::parse(kind) else {
        let known = CampaignTrigger::NAMES.join(", ");
        return Err(mistake("trigger.type", format!("unknown trigger '{kind}': use {known}")));
    };
    let trigger = match kind {
        CampaignTrigger::Birthday => {
            only_keys(o, path, &["type", "offset_days"])?;
            let offset_days = match o.get("offset_days") {
                None => 0,
                Some(_) => integer(o, "offset_days", path, -30..=30)?,
            };
            Trigger::Birthday { offset_days }
        }
        CampaignTrigger::Dormant => {
            only_keys(o, path, &["type", "days"])?;
            Trigger::Dormant { days: integer(o, "days", path, 1..=3650)? }
        }
        CampaignTrigger::MembershipAnniversary
        | CampaignTrigger::FirstOrder
        | CampaignTrigger::TierUpgraded
        | CampaignTrigger::CartAbandoned => {
            only_keys(o, path, &["type"])?;
            match kind {
                CampaignTrigger::MembershipAnniversary => Trigger::MembershipAnniversary,
                CampaignTrigger::FirstOrder => Trigger::FirstOrder,
                CampaignTrigger::TierUpgraded => Trigger::TierUpgraded,
                _ => Trigger::CartAbandoned,
            }
        }
    };
    Ok(trigger)
}

/// 1–10 actions; at most one message (one message per customer per campaign).
pub fn parse_actions(value: &Value) -> Result<Vec<Action>, Mistake> {
    let items = value
        .as_array()
        .filter(|a| (1..=10).contains(&a.len()))
        .ok_or_else(|| mistake("actions", "must be a list of 1-10 actions"))?;
    let mut actions = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("actions[{i}]");
        let o = object(item, &path)?;
        let action = match string(o, "type", &path)? {
            "send_message" => {
                only_keys(o, &path, &["type", "channel", "template"])?;
                let channel = CampaignChannel::parse(string(o, "channel", &path)?)
                    .ok_or_else(|| mistake(format!("{path}.channel"), "must be sms, email or wechat"))?;
                let template = string(o, "template", &path)?;
                if template.trim().is_empty() || template.chars().count() > 1000 {
                    return Err(mistake(format!("{path}.template"), "must be 1-1000 characters"));
                }
                rules::variables_of(template).map_err(|m| mistake(format!("{path}.template"), m))?;
                if actions.iter().any(|a| matches!(a, Action::SendMessage { .. })) {
                    return Err(mistake(&path, "a campaign sends one message per customer: one send_message action"));
                }
                Action::SendMessage { channel, template: template.to_string() }
            }
            "issue_coupon" => {
                only_keys(o, &path, &["type", "template_id"])?;
                let template_id = Uuid::parse_str(string(o, "template_id", &path)?)
                    .map_err(|_| mistake(format!("{path}.template_id"), "must be a coupon template id (UUID)"))?;
                Action::IssueCoupon { template_id }
            }
            "award_points" => {
                only_keys(o, &path, &["type", "points"])?;
                Action::AwardPoints { points: integer(o, "points", &path, 1..=MAX_AWARD_POINTS)? }
            }
            other => {
                return Err(mistake(
                    format!("{path}.type"),
                    format!("unknown action '{other}': use send_message, issue_coupon, award_points"),
                ))
            }
        };
        actions.push(action);
    }
    if actions.iter().filter(|a| matches!(a, Action::IssueCoupon { .. })).count() > 1 {
        return Err(mistake("actions", "at most one issue_coupon action"));
    }
    let uses_coupon = actions.iter().any(|a| matches!(a, Action::IssueCoupon { .. }));
    for (i, action) in actions.iter().enumerate() {
        if let Action::SendMessage { template, .. } = action {
            let needs_coupon = rules::variables_of(template)
                .unwrap_or_default()
                .iter()
                .any(|v| v == "coupon_code" || v == "coupon_name");
            if needs_coupon && !uses_coupon {
                return Err(mistake(format!("actions[{i}].template"), "names a coupon but the campaign issues none"));
            }
        }
    }
    Ok(actions)
}

/// The message action, if any.
pub fn message(actions: &[Action]) -> Option<(CampaignChannel, &str)> {
    actions.iter().find_map(|a| match a {
        Action::SendMessage { channel, template } => Some((*channel, template.as_str())),
        _ => None,
    })
}

pub fn coupon_template(actions: &[Action]) -> Option<Uuid> {
    actions.iter().find_map(|a| match a {
        Action::IssueCoupon { template_id } => Some(*template_id),
        _ => None,
    })
}

pub fn award(actions: &[Action]) -> i64 {
    actions.iter().map(|a| if let Action::AwardPoints { points } = a { *points } else { 0 }).sum()
}

/// Triggers and actions as JSON Schema, for the OpenAPI document: (trigger, action).
pub fn json_schemas() -> (Value, Value) {
    use serde_json::json;
    let only = |kind: CampaignTrigger| json!({"type": "object", "required": ["type"], "properties": {"type": {"const": kind}}, "additionalProperties": false});
    let trigger = json!({"anyOf": [
        {"type": "object", "required": ["type"], "additionalProperties": false, "properties": {
            "type": {"const": CampaignTrigger::Birthday},
            "offset_days": {"type": "integer", "minimum": -30, "maximum": 30,
                            "description": "Days from the birthday: -3 is three days before. Default 0."}}},
        only(CampaignTrigger::MembershipAnniversary),
        {"type": "object", "required": ["type", "days"], "additionalProperties": false, "properties": {
            "type": {"const": CampaignTrigger::Dormant}, "days": {"type": "integer", "minimum": 1, "maximum": 3650}}},
        only(CampaignTrigger::FirstOrder),
        only(CampaignTrigger::TierUpgraded),
        only(CampaignTrigger::CartAbandoned),
    ], "example": {"type": "birthday", "offset_days": -3}});
    let action = json!({"anyOf": [
        {"type": "object", "required": ["type", "channel", "template"], "additionalProperties": false, "properties": {
            "type": {"const": "send_message"},
            "channel": {"enum": CampaignChannel::NAMES},
            "template": {"type": "string", "minLength": 1, "maxLength": 1000, "format": "non-blank",
                         "description": format!("Text with variables in double braces: {}. A coupon's variables need an issue_coupon action.",
                                                rules::VARIABLES.iter().map(|v| format!("{{{{{v}}}}}")).collect::<Vec<_>>().join(", "))}}},
        {"type": "object", "required": ["type", "template_id"], "additionalProperties": false, "properties": {
            "type": {"const": "issue_coupon"}, "template_id": {"type": "string", "format": "uuid"}}},
        {"type": "object", "required": ["type", "points"], "additionalProperties": false, "properties": {
            "type": {"const": "award_points"}, "points": {"type": "integer", "minimum": 1, "maximum": MAX_AWARD_POINTS}}},
    ], "example": {"type": "send_message", "channel": "sms", "template": "{{name}}，生日快乐！"}});
    (trigger, action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn actions_name_the_path_of_their_mistake() {
        let cases = [
            (json!([{"type": "send_message", "channel": "sms", "template": "{{nickname}}"}]), "actions[0].template"),
            (
                json!([{"type": "award_points", "points": 10}, {"type": "send_message", "channel": "fax", "template": "x"}]),
                "actions[1].channel",
            ),
            (json!([{"type": "award_points", "points": 0}]), "actions[0].points"),
            (json!([{"type": "issue_coupon", "template_id": "x"}]), "actions[0].template_id"),
            (json!([{"type": "dance"}]), "actions[0].type"),
            (json!([]), "actions"),
            (
                json!([{"type": "send_message", "channel": "sms", "template": "券码{{coupon_code}}"}]),
                "actions[0].template",
            ),
        ];
        for (actions, path) in cases {
            assert_eq!(parse_actions(&actions).unwrap_err().path, path, "{actions}");
        }
    }

    #[test]
    fn triggers_take_their_numbers() {
        assert_eq!(
            parse_trigger(&json!({"type": "birthday", "offset_days": -3})).unwrap(),
            Trigger::Birthday { offset_days: -3 }
        );
        assert_eq!(parse_trigger(&json!({"type": "dormant", "days": 90})).unwrap(), Trigger::Dormant { days: 90 });
        assert_eq!(parse_trigger(&json!({"type": "dormant"})).unwrap_err().path, "trigger.days");
        assert_eq!(
            parse_trigger(&json!({"type": "birthday", "offset_days": -31})).unwrap_err().path,
            "trigger.offset_days"
        );
        assert_eq!(parse_trigger(&json!({"type": "payday"})).unwrap_err().path, "trigger.type");
    }
}
