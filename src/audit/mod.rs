//! Append-only audit log: unmasked PII reads and admin actions.

pub mod api;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::http::auth::Principal;
use crate::schema::audit_log;

crate::vocabulary! {
    /// What an audited act was: `<resource>.<verb>`. Every act the service audits is one of these.
    pub enum AuditAction {
        ApiClientCreate = "api_client.create", ApiClientRevoke = "api_client.revoke",
        CampaignCreate = "campaign.create", CampaignStatus = "campaign.status", CampaignUpdate = "campaign.update",
        CouponIssue = "coupon.issue", CouponRollback = "coupon.rollback", CouponVoid = "coupon.void",
        CouponTemplateCreate = "coupon_template.create", CouponTemplateUpdate = "coupon_template.update",
        CustomerErase = "customer.erase", CustomerExport = "customer.export", CustomerMerge = "customer.merge",
        CustomerReadPii = "customer.read_pii", DemoSeed = "demo.seed", ImportFinish = "import.finish",
        ImportStart = "import.start", JobRun = "job.run", LeadAssign = "lead.assign", LeadClose = "lead.close",
        LeadContact = "lead.contact", LeadConvert = "lead.convert", LeadCreate = "lead.create",
        LeadQualify = "lead.qualify", LeadRuleCreate = "lead_rule.create", LeadRuleUpdate = "lead_rule.update",
        LoyaltyProgramUpdate = "loyalty_program.update", MarketingSettings = "marketing.settings",
        MembershipSetTier = "membership.set_tier", MessageCategoryAdd = "message_category.add",
        MessageCategoryRemove = "message_category.remove", PointsAdjust = "points.adjust",
        RewardCreate = "reward.create", RewardUpdate = "reward.update", SegmentCreate = "segment.create",
        SegmentDelete = "segment.delete", SegmentUpdate = "segment.update", SlaPolicyUpdate = "sla_policy.update",
        StaffCreate = "staff.create", StaffUpdate = "staff.update", StoreCreate = "store.create",
        StoreUpdate = "store.update", SweepRun = "sweep.run", TagCreate = "tag.create", TicketCreate = "ticket.create",
        TicketUpdate = "ticket.update", TicketRoutingRuleCreate = "ticket_routing_rule.create",
        TicketRoutingRuleDelete = "ticket_routing_rule.delete", TicketRoutingRuleUpdate = "ticket_routing_rule.update",
        TierCreate = "tier.create", TierUpdate = "tier.update", WebhookCreate = "webhook.create",
        WebhookDelete = "webhook.delete", WebhookReplay = "webhook.replay", WebhookRetry = "webhook.retry",
        WebhookRotateSecret = "webhook.rotate_secret", WebhookUpdate = "webhook.update",
    }
}

impl AuditAction {
    /// The kind of thing the act was on, as the log's `resource` column names it.
    pub fn resource(self) -> &'static str {
        match self {
            AuditAction::ApiClientCreate | AuditAction::ApiClientRevoke => "api_client",
            AuditAction::CampaignCreate | AuditAction::CampaignStatus | AuditAction::CampaignUpdate => "campaign",
            AuditAction::CouponRollback | AuditAction::CouponVoid => "coupon",
            AuditAction::CouponIssue | AuditAction::CouponTemplateCreate | AuditAction::CouponTemplateUpdate => {
                "coupon_template"
            }
            AuditAction::CustomerErase
            | AuditAction::CustomerExport
            | AuditAction::CustomerMerge
            | AuditAction::CustomerReadPii
            | AuditAction::PointsAdjust => "customer",
            AuditAction::DemoSeed => "demo",
            AuditAction::ImportFinish | AuditAction::ImportStart => "import_run",
            AuditAction::JobRun => "job",
            AuditAction::LeadAssign
            | AuditAction::LeadClose
            | AuditAction::LeadContact
            | AuditAction::LeadConvert
            | AuditAction::LeadCreate
            | AuditAction::LeadQualify => "lead",
            AuditAction::LeadRuleCreate | AuditAction::LeadRuleUpdate => "lead_assignment_rule",
            AuditAction::LoyaltyProgramUpdate => "loyalty_program",
            AuditAction::MarketingSettings => "marketing_settings",
            AuditAction::MembershipSetTier => "membership",
            AuditAction::MessageCategoryAdd | AuditAction::MessageCategoryRemove => "message_category",
            AuditAction::RewardCreate | AuditAction::RewardUpdate => "reward",
            AuditAction::SegmentCreate | AuditAction::SegmentDelete | AuditAction::SegmentUpdate => "segment",
            AuditAction::SlaPolicyUpdate => "sla_policy",
            AuditAction::StaffCreate | AuditAction::StaffUpdate => "staff",
            AuditAction::StoreCreate | AuditAction::StoreUpdate => "store",
            AuditAction::SweepRun => "sweep",
            AuditAction::TagCreate => "tag",
            AuditAction::TicketCreate | AuditAction::TicketUpdate => "ticket",
            AuditAction::TicketRoutingRuleCreate
            | AuditAction::TicketRoutingRuleDelete
            | AuditAction::TicketRoutingRuleUpdate => "ticket_routing_rule",
            AuditAction::TierCreate | AuditAction::TierUpdate => "tier",
            AuditAction::WebhookCreate
            | AuditAction::WebhookDelete
            | AuditAction::WebhookReplay
            | AuditAction::WebhookRetry
            | AuditAction::WebhookRotateSecret
            | AuditAction::WebhookUpdate => "webhook_subscription",
        }
    }
}

/// Appends one entry: who did `action` to the resource `resource_id` (its kind is the action's).
pub fn record(
    conn: &mut PgConnection, who: &Principal, action: AuditAction, resource_id: Option<String>, detail: Value,
) -> ApiResult<()> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::actor.eq(&who.sub),
            audit_log::action.eq(action),
            audit_log::resource.eq(action.resource()),
            audit_log::resource_id.eq(resource_id),
            audit_log::request_id.eq(Some(&who.request_id).filter(|r| !r.is_empty())),
            audit_log::detail.eq(detail),
        ))
        .execute(conn)?;
    Ok(())
}

/// The audited write of an admin act: `write` and its audit entry (no detail) in one transaction,
/// the resource being `resource_id` of what `write` returns.
pub async fn audited<T, K, W>(
    pool: &crate::db::PgPool, who: &Principal, action: AuditAction, write: W,
    resource_id: impl FnOnce(&T) -> K + Send + 'static,
) -> ApiResult<T>
where
    T: Send + 'static,
    K: ToString,
    W: FnOnce(&mut PgConnection) -> ApiResult<T> + Send + 'static,
{
    let who = who.clone();
    crate::db::transaction(pool, move |conn| {
        let done = write(conn)?;
        record(conn, &who, action, Some(resource_id(&done).to_string()), Value::Object(Default::default()))?;
        Ok(done)
    })
    .await
}

#[derive(Debug, Queryable, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 7, "at": "2026-11-23T08:00:00Z", "actor": "client:0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "action": "customer.read_pii", "resource": "customer", "resource_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f",
    "request_id": "0192f0c4-0000-7000-8000-000000000001", "detail": {}
}))]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub resource_id: Option<String>,
    pub request_id: Option<String>,
    #[schema(value_type = Object)]
    pub detail: Value,
}

pub struct AuditFilter {
    pub actor: Option<String>,
    pub resource: Option<String>,
    pub resource_id: Option<String>,
    pub action: Option<String>,
}

/// Newest first.
pub fn list(
    conn: &mut PgConnection, filter: &AuditFilter, before: Option<i64>, limit: i64,
) -> ApiResult<Vec<AuditEntry>> {
    let mut q = audit_log::table.order(audit_log::id.desc()).limit(limit).into_boxed();
    if let Some(v) = &filter.actor {
        q = q.filter(audit_log::actor.eq(v));
    }
    if let Some(v) = &filter.resource {
        q = q.filter(audit_log::resource.eq(v));
    }
    if let Some(v) = &filter.resource_id {
        q = q.filter(audit_log::resource_id.eq(v));
    }
    if let Some(v) = &filter.action {
        q = q.filter(audit_log::action.eq(v));
    }
    if let Some(b) = before {
        q = q.filter(audit_log::id.lt(b));
    }
    Ok(q.load(conn)?)
}
