//! The event contract: every event type is a variant of [`EventData`] with a typed payload, so the
//! payloads, the feed, the webhooks and the OpenAPI document come from one definition and cannot
//! drift. Payloads carry ids, codes, amounts and statuses; only `campaign.message` carries words
//! (the gateway needs them), and an erasure redacts those.
//!
//! Changing a payload is changing the public contract: add optional members, never rename one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// Declares the enum, its type names and the schema list from one table, so a type name is
/// written exactly once.
macro_rules! event_types {
    ($($variant:ident = $name:literal => $payload:ident: $doc:literal,)*) => {
        /// An event's type and data. Serializes as `{"type": "...", "data": {...}}`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", content = "data")]
        pub enum EventData {
            $(#[doc = $doc] #[serde(rename = $name)] $variant($payload),)*
        }

        /// Every event type the service writes, in the order the document lists them.
        pub const EVENT_TYPES: &[&str] = &[$($name),*];

        /// Each type's name, what it means, and its payload's schema name (for the OpenAPI document).
        pub const EVENT_CATALOGUE: &[(&str, &str, &str)] = &[$(($name, $doc, stringify!($payload))),*];

        impl EventData {
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(EventData::$variant(_) => $name,)*
                }
            }

            /// The payload alone, as stored in `events.data`.
            pub fn to_data(&self) -> Value {
                match self {
                    $(EventData::$variant(p) => serde_json::to_value(p).unwrap_or(Value::Null),)*
                }
            }
        }

        /// The payload schemas, for `components.schemas`.
        pub fn payload_schemas() -> Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)> {
            let mut schemas = vec![$(
                (<$payload as utoipa::ToSchema>::name().into_owned(), <$payload as utoipa::PartialSchema>::schema()),
            )*];
            schemas.extend(support_schemas());
            schemas
        }
    };
}

event_types! {
    CustomerCreated = "customer.created" => CustomerCreated: "A profile was created (API, connector upsert, import or a won lead).",
    CustomerUpdated = "customer.updated" => CustomerUpdated: "A profile's fields, identities or tags changed.",
    CustomerMerged = "customer.merged" => CustomerMerged: "Another profile was merged into this one (the subject is the survivor).",
    CustomerErased = "customer.erased" => CustomerErased: "The customer's personal data was erased (PIPL).",
    MembershipEnrolled = "membership.enrolled" => MembershipEnrolled: "The customer joined the membership.",
    MembershipTierChanged = "membership.tier_changed" => MembershipTierChanged: "The member's tier changed (upgrade, downgrade, manual).",
    PointsEarned = "points.earned" => PointsEarned: "Points were earned, on an order or from a campaign.",
    PointsRedeemed = "points.redeemed" => PointsRedeemed: "Points were spent, on an order or for a reward.",
    PointsExpired = "points.expired" => PointsExpired: "Points expired.",
    OrderCreated = "order.created" => OrderCreated: "An order was posted.",
    OrderRefunded = "order.refunded" => OrderRefunded: "An order was refunded, in whole or in part.",
    CouponIssued = "coupon.issued" => CouponIssued: "A coupon was issued to the customer.",
    CouponRedeemed = "coupon.redeemed" => CouponRedeemed: "A coupon was redeemed (核销).",
    CouponVoided = "coupon.voided" => CouponVoided: "A coupon was voided.",
    CouponReturned = "coupon.returned" => CouponReturned: "A full refund gave a coupon back.",
    CouponRolledBack = "coupon.rolled_back" => CouponRolledBack: "A coupon's redemption was undone.",
    LeadCreated = "lead.created" => LeadCreated: "A sales lead was created.",
    LeadAssigned = "lead.assigned" => LeadAssigned: "A lead was assigned to a clerk (by rule, by hand or after a missed SLA).",
    LeadSlaBreached = "lead.sla_breached" => LeadSlaBreached: "A lead was not answered within its response SLA.",
    LeadContacted = "lead.contacted" => LeadStageChanged: "A lead was contacted.",
    LeadQualified = "lead.qualified" => LeadStageChanged: "A lead was qualified.",
    LeadWon = "lead.won" => LeadWon: "A lead was won (the subject is the customer).",
    LeadLost = "lead.lost" => LeadStageChanged: "A lead was lost.",
    TicketCreated = "ticket.created" => TicketSummary: "A service ticket was opened.",
    TicketAssigned = "ticket.assigned" => TicketSummary: "A ticket was assigned to a team or agent.",
    TicketResolved = "ticket.resolved" => TicketSummary: "A ticket was resolved.",
    TicketSurveyRequested = "ticket.survey_requested" => TicketSurveyRequested: "A satisfaction survey is due to the customer.",
    TicketSlaBreached = "ticket.sla_breached" => TicketSlaBreached: "A ticket missed its first-response or resolution SLA.",
    TicketUpdated = "ticket.updated" => TicketUpdated: "A ticket's status, priority, team or assignee changed.",
    TicketCommented = "ticket.commented" => TicketCommented: "A reply or an internal note was added (the event names it, never its words).",
    TicketSatisfactionRecorded = "ticket.satisfaction_recorded" => TicketSatisfactionRecorded: "The customer rated the service.",
    CampaignMessage = "campaign.message" => CampaignMessage: "A campaign message for the channel gateway to send.",
}

fn support_schemas() -> Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)> {
    vec![
        (<EarnSource as ToSchema>::name().into_owned(), <EarnSource as utoipa::PartialSchema>::schema()),
        (<SpendSource as ToSchema>::name().into_owned(), <SpendSource as utoipa::PartialSchema>::schema()),
        (
            <TicketChangedFields as ToSchema>::name().into_owned(),
            <TicketChangedFields as utoipa::PartialSchema>::schema(),
        ),
    ]
}

/// A decimal amount of money as the API writes it: a string with two decimals.
fn money(amount: rust_decimal::Decimal) -> String {
    crate::money::format(amount)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"source_channel": "pos", "home_store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f"}))]
pub struct CustomerCreated {
    pub source_channel: Option<String>,
    pub home_store_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"fields": ["city", "consents"]}))]
pub struct CustomerUpdated {
    /// The profile fields that changed; `identities` or `tags` for those lists.
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"source_customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f",
    "moved": {"orders": 3, "coupons": 1}}))]
pub struct CustomerMerged {
    /// The profile that was folded into the subject; it is now `merged`.
    pub source_customer_id: Uuid,
    /// How many records of each kind moved to the survivor.
    pub moved: std::collections::BTreeMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({}))]
pub struct CustomerErased {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"tier": "silver", "channel": "pos", "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f"}))]
pub struct MembershipEnrolled {
    pub tier: String,
    pub channel: Option<String>,
    pub store_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"from": "silver", "to": "gold", "reason": "upgrade"}))]
pub struct MembershipTierChanged {
    pub from: Option<String>,
    pub to: String,
    pub reason: String,
}

/// Where earned points came from: an order (with its store; none for a chain channel) or a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(example = json!({"campaign_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e"}))]
pub enum EarnSource {
    Order { order_id: Uuid, store_id: Option<Uuid> },
    Campaign { campaign_id: Uuid },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"points": 320, "order_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f"}))]
pub struct PointsEarned {
    pub points: i64,
    #[serde(flatten)]
    pub source: EarnSource,
}

/// What spent points paid for: an order (with its store) or a reward from the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(example = json!({"reward_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "quantity": 1,
    "redemption_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f"}))]
pub enum SpendSource {
    Order { order_id: Uuid, store_id: Option<Uuid> },
    Reward { reward_id: Uuid, quantity: i32, redemption_id: Uuid },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"points": 500, "order_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f"}))]
pub struct PointsRedeemed {
    pub points: i64,
    #[serde(flatten)]
    pub source: SpendSource,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"points": 120}))]
pub struct PointsExpired {
    pub points: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"order_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "channel": "pos",
    "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "paid_amount": "288.00", "points_earned": 288,
    "points_redeemed": 0}))]
pub struct OrderCreated {
    pub order_id: Uuid,
    pub channel: String,
    /// None for a chain channel's order (an online shop).
    pub store_id: Option<Uuid>,
    /// Decimal string.
    pub paid_amount: String,
    pub points_earned: i64,
    pub points_redeemed: i64,
}

impl OrderCreated {
    pub fn new(order_id: Uuid, channel: &str, store_id: Option<Uuid>, paid: rust_decimal::Decimal) -> Self {
        OrderCreated {
            order_id,
            channel: channel.to_string(),
            store_id,
            paid_amount: money(paid),
            points_earned: 0,
            points_redeemed: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"order_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "refund_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60",
    "amount": "99.00", "points_clawed_back": 99, "points_returned": 0, "coupons_returned": []}))]
pub struct OrderRefunded {
    pub order_id: Uuid,
    pub store_id: Option<Uuid>,
    pub refund_id: Uuid,
    /// Decimal string.
    pub amount: String,
    pub points_clawed_back: i64,
    pub points_returned: i64,
    pub coupons_returned: Vec<String>,
}

impl OrderRefunded {
    pub fn amount(amount: rust_decimal::Decimal) -> String {
        money(amount)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"code": "CPN-7KQ2-M9XD", "template_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "expires_at": "2026-12-31T15:59:59Z", "source": "campaign"}))]
pub struct CouponIssued {
    pub code: String,
    pub template_id: Uuid,
    pub expires_at: DateTime<Utc>,
    /// `manual` (issued through the API), `claim` (claimed by the customer) or `campaign`.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"code": "CPN-7KQ2-M9XD", "template_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "order_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60",
    "discount": "50.00"}))]
pub struct CouponRedeemed {
    pub code: String,
    pub template_id: Uuid,
    /// The order it was redeemed on, when posted through `POST /v1/orders`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Uuid>,
    /// The caller's own reference, when redeemed through `POST /v1/coupons/{code}/redeem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_reference: Option<String>,
    pub store_id: Option<Uuid>,
    /// Decimal string.
    pub discount: String,
}

impl CouponRedeemed {
    pub fn discount(amount: rust_decimal::Decimal) -> String {
        money(amount)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"code": "CPN-7KQ2-M9XD", "template_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e"}))]
pub struct CouponVoided {
    pub code: String,
    pub template_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"code": "CPN-7KQ2-M9XD", "order_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "store_id": null, "refund_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f"}))]
pub struct CouponReturned {
    pub code: String,
    pub order_id: Uuid,
    pub store_id: Option<Uuid>,
    pub refund_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"code": "CPN-7KQ2-M9XD", "redemption_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f"}))]
pub struct CouponRolledBack {
    pub code: String,
    pub redemption_id: Uuid,
    pub store_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"lead_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "source": "wechat",
    "kind": "product_inquiry", "category": "童装", "store_id": null}))]
pub struct LeadCreated {
    pub lead_id: Uuid,
    pub source: String,
    pub kind: String,
    pub category: Option<String>,
    pub store_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"lead_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "assignee_staff_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60",
    "rule_id": null, "response_due_at": "2026-11-23T08:30:00Z", "reason": "rule"}))]
pub struct LeadAssigned {
    pub lead_id: Uuid,
    pub assignee_staff_id: Option<Uuid>,
    pub store_id: Option<Uuid>,
    pub rule_id: Option<Uuid>,
    pub response_due_at: Option<DateTime<Utc>>,
    /// `rule`, `manual` or `sla_breach`.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"lead_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "assignee_staff_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "store_id": null,
    "response_due_at": "2026-11-23T08:30:00Z"}))]
pub struct LeadSlaBreached {
    pub lead_id: Uuid,
    pub assignee_staff_id: Option<Uuid>,
    pub store_id: Option<Uuid>,
    pub response_due_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"lead_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "status": "contacted",
    "assignee_staff_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "store_id": null}))]
pub struct LeadStageChanged {
    pub lead_id: Uuid,
    pub status: String,
    pub assignee_staff_id: Option<Uuid>,
    pub store_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"lead_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "customer_created": false, "order_id": null,
    "assignee_staff_id": null, "store_id": null}))]
pub struct LeadWon {
    pub lead_id: Uuid,
    /// The customer the lead became; none when it was closed as won by hand, without a conversion.
    pub customer_id: Option<Uuid>,
    #[serde(default)]
    pub customer_created: bool,
    pub order_id: Option<Uuid>,
    pub assignee_staff_id: Option<Uuid>,
    pub store_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"ticket_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "type": "return",
    "status": "open", "priority": "normal", "team": "after_sales", "assignee_staff_id": null, "store_id": null}))]
pub struct TicketSummary {
    pub ticket_id: Uuid,
    #[serde(rename = "type")]
    pub ticket_type: String,
    pub status: String,
    pub priority: String,
    pub team: Option<String>,
    pub assignee_staff_id: Option<Uuid>,
    pub store_id: Option<Uuid>,
}

/// Which of a ticket's fields an update changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"status": true, "priority": false, "team": false, "assignee_staff_id": false}))]
pub struct TicketChangedFields {
    pub status: bool,
    pub priority: bool,
    pub team: bool,
    pub assignee_staff_id: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"ticket_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "type": "return",
    "status": "in_progress", "priority": "normal", "team": "after_sales", "assignee_staff_id": null, "store_id": null,
    "from_status": "open", "changed": {"status": true, "priority": false, "team": false, "assignee_staff_id": false}}))]
pub struct TicketUpdated {
    #[serde(flatten)]
    pub ticket: TicketSummary,
    pub from_status: String,
    pub changed: TicketChangedFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"ticket_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "channel": "wechat", "store_id": null}))]
pub struct TicketSurveyRequested {
    pub ticket_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub channel: Option<String>,
    pub store_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"ticket_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "which": "first_response",
    "due_at": "2026-11-23T10:00:00Z", "team": "after_sales", "assignee_staff_id": null, "store_id": null}))]
pub struct TicketSlaBreached {
    pub ticket_id: Uuid,
    /// `first_response` or `resolution`.
    pub which: String,
    pub due_at: Option<DateTime<Utc>>,
    pub team: Option<String>,
    pub assignee_staff_id: Option<Uuid>,
    pub store_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"ticket_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "comment_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "visibility": "public", "author": "staff:li.na",
    "store_id": null}))]
pub struct TicketCommented {
    pub ticket_id: Uuid,
    pub comment_id: Uuid,
    /// `public` (a reply the customer sees) or `internal`.
    pub visibility: String,
    pub author: String,
    pub store_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"ticket_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "score": 5, "store_id": null}))]
pub struct TicketSatisfactionRecorded {
    pub ticket_id: Uuid,
    /// 1 to 5.
    pub score: i32,
    pub store_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"message_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "campaign_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "channel": "sms", "recipient": "+8613812345678",
    "text": "王女士，生日快乐！满300减50券已到账：CPN-7KQ2-M9XD", "coupon_code": "CPN-7KQ2-M9XD"}))]
pub struct CampaignMessage {
    pub message_id: Uuid,
    pub campaign_id: Uuid,
    /// `sms`, `wechat` or `email`.
    pub channel: String,
    /// The phone, openid or address the gateway sends to.
    pub recipient: String,
    /// The rendered message.
    pub text: String,
    pub coupon_code: Option<String>,
}

pub fn points_expired(points: i64) -> EventData {
    EventData::PointsExpired(PointsExpired { points })
}

pub fn updated_fields(fields: &[&str]) -> EventData {
    EventData::CustomerUpdated(CustomerUpdated { fields: fields.iter().map(|f| f.to_string()).collect() })
}

impl EventData {
    /// Reads a stored event back into its type; `None` for a type or a shape this version does not know.
    pub fn read(event_type: &str, data: &Value) -> Option<EventData> {
        serde_json::from_value(serde_json::json!({"type": event_type, "data": data})).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_stored_form() {
        let id = Uuid::nil();
        let samples = vec![
            EventData::PointsEarned(PointsEarned {
                points: 5,
                source: EarnSource::Order { order_id: id, store_id: None },
            }),
            EventData::PointsEarned(PointsEarned { points: 5, source: EarnSource::Campaign { campaign_id: id } }),
            EventData::PointsRedeemed(PointsRedeemed {
                points: 5,
                source: SpendSource::Reward { reward_id: id, quantity: 1, redemption_id: id },
            }),
            EventData::CustomerErased(CustomerErased {}),
        ];
        for event in samples {
            let back = EventData::read(event.event_type(), &event.to_data());
            assert_eq!(back.as_ref(), Some(&event), "{}", event.event_type());
        }
    }

    #[test]
    fn an_order_earning_names_its_store_even_when_none_and_a_campaign_earning_names_none() {
        // The timeline decides who may see an event by whether its data has `store_id` at all.
        let order = EventData::PointsEarned(PointsEarned {
            points: 1,
            source: EarnSource::Order { order_id: Uuid::nil(), store_id: None },
        });
        assert!(order.to_data().as_object().is_some_and(|o| o.contains_key("store_id")));
        let campaign = EventData::PointsEarned(PointsEarned {
            points: 1,
            source: EarnSource::Campaign { campaign_id: Uuid::nil() },
        });
        assert!(campaign.to_data().as_object().is_some_and(|o| !o.contains_key("store_id")));
    }

    #[test]
    fn type_names_are_unique() {
        let mut names: Vec<&str> = EVENT_TYPES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EVENT_TYPES.len());
    }
}
