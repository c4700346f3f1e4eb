//! What a lead is made of: its closed vocabularies, its row and its assignment rules' rows.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use super::rules::Attributes;
use crate::schema::{lead_assignment_rules as r, leads};
use crate::stores::SalesChannel;

crate::vocabulary! {
    /// How a lead came in.
    pub enum LeadKind {
        Inquiry = "inquiry", CartAbandoned = "cart_abandoned", WalkIn = "walk_in", Referral = "referral",
    }
}

crate::vocabulary! {
    /// A lead's stage: `new` (the unassigned queue) → `assigned` → `contacted` → `qualified` →
    /// `won`; `lost` from any open stage.
    pub enum LeadStatus {
        New = "new", Assigned = "assigned", Contacted = "contacted", Qualified = "qualified", Won = "won",
        Lost = "lost",
    }
}

crate::vocabulary! {
    /// How a closed lead ended, as a caller closes it.
    pub enum LeadCloseOutcome {
        /// Only from `qualified`.
        Won = "won",
        /// From any open stage, with a reason.
        Lost = "lost",
    }
}

crate::vocabulary! {
    /// Who gets a lead among the free staff an assignment rule names.
    pub enum LeadAssignmentStrategy {
        /// The next free one after the last assignee, in id order (wrapping).
        RoundRobin = "round_robin",
        /// The one with the fewest open leads (ties by id).
        LeastLoaded = "least_loaded",
    }
}

crate::vocabulary! {
    /// Why a lead was (re)assigned, as `lead.assigned` says.
    pub enum LeadAssignmentReason {
        /// An assignment rule placed it on creation.
        Rule = "rule",
        /// A caller named the assignee.
        Manual = "manual",
        /// The response SLA was missed and the rule hands it on.
        SlaBreach = "sla_breach",
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = leads)]
pub struct Lead {
    pub id: Uuid,
    pub source: SalesChannel,
    pub kind: LeadKind,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_wechat: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
    pub category: Option<String>,
    pub items: Value,
    pub estimated_value: Option<Decimal>,
    pub notes: Option<String>,
    pub customer_id: Option<Uuid>,
    pub status: LeadStatus,
    pub lost_reason: Option<String>,
    pub assignee_staff_id: Option<Uuid>,
    pub store_id: Option<Uuid>,
    pub rule_id: Option<Uuid>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub response_due_at: Option<DateTime<Utc>>,
    pub sla_breached: bool,
    pub sla_breached_at: Option<DateTime<Utc>>,
    pub qualified_at: Option<DateTime<Utc>>,
    pub won_at: Option<DateTime<Utc>>,
    pub lost_at: Option<DateTime<Utc>>,
    pub order_id: Option<Uuid>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Lead {
    pub fn attributes(&self) -> Attributes {
        Attributes {
            city: self.city.clone(),
            district: self.district.clone(),
            category: self.category.clone(),
            source: Some(self.source),
            kind: Some(self.kind),
        }
    }

    /// The events' subject: the customer when known (so lead events show on the customer's
    /// timeline), else the lead itself.
    pub fn subject(&self) -> Uuid {
        self.customer_id.unwrap_or(self.id)
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = leads)]
pub struct NewLead {
    pub id: Uuid,
    pub source: SalesChannel,
    pub kind: LeadKind,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_wechat: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
    pub category: Option<String>,
    pub items: Value,
    pub estimated_value: Option<Decimal>,
    pub notes: Option<String>,
    pub customer_id: Option<Uuid>,
    pub store_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = r)]
pub struct Rule {
    pub id: Uuid,
    pub name: String,
    pub priority: i32,
    pub match_city: Option<String>,
    pub match_district: Option<String>,
    pub match_category: Option<String>,
    pub match_source: Option<SalesChannel>,
    pub match_kind: Option<LeadKind>,
    pub target_staff_ids: Vec<Uuid>,
    pub target_store_id: Option<Uuid>,
    pub target_skill: Option<String>,
    pub strategy: LeadAssignmentStrategy,
    pub reassign_on_breach: bool,
    pub active: bool,
    pub last_staff_id: Option<Uuid>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Rule {
    pub fn matcher(&self) -> Attributes {
        Attributes {
            city: self.match_city.clone(),
            district: self.match_district.clone(),
            category: self.match_category.clone(),
            source: self.match_source,
            kind: self.match_kind,
        }
    }
}

/// A rule's columns as written on create (all set) or update (`None` = unchanged).
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = r)]
pub struct RuleChanges {
    pub name: Option<String>,
    pub priority: Option<i32>,
    pub match_city: Option<Option<String>>,
    pub match_district: Option<Option<String>>,
    pub match_category: Option<Option<String>>,
    pub match_source: Option<Option<SalesChannel>>,
    pub match_kind: Option<Option<LeadKind>>,
    pub target_staff_ids: Option<Vec<Uuid>>,
    pub target_store_id: Option<Option<Uuid>>,
    pub target_skill: Option<Option<String>>,
    pub strategy: Option<LeadAssignmentStrategy>,
    pub reassign_on_breach: Option<bool>,
    pub active: Option<bool>,
}
