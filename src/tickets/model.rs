//! What a ticket is made of: its closed vocabularies and its rows.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::rules::{BreachInput, Dues, SlaClock};
use crate::schema::{ticket_comments as cm, tickets as t};
use crate::stores::SalesChannel;

crate::vocabulary! {
    /// Where a ticket stands (SPEC §12); `can_move` says which moves are allowed.
    pub enum TicketStatus {
        Open = "open",
        InProgress = "in_progress",
        /// Waiting on the customer: the SLA clock is paused.
        PendingCustomer = "pending_customer",
        Resolved = "resolved",
        Closed = "closed",
    }
}

crate::vocabulary! {
    /// What a ticket is about; routing rules match on it.
    pub enum TicketType { Complaint = "complaint", AfterSales = "after_sales", Return = "return", Inquiry = "inquiry" }
}

crate::vocabulary! {
    /// A ticket's priority: each has its SLA policy (declared from lowest to highest).
    pub enum TicketPriority { Low = "low", Normal = "normal", High = "high", Urgent = "urgent" }
}

crate::vocabulary! {
    /// Who a ticket comment is for.
    pub enum TicketCommentVisibility {
        /// Staff only (shows on the customer's timeline for other departments).
        Internal = "internal",
        /// A reply to the customer.
        Public = "public",
    }
}

crate::vocabulary! {
    /// The two SLA targets of a ticket, as `ticket.sla_breached` names them.
    pub enum TicketSlaTarget { FirstResponse = "first_response", Resolution = "resolution" }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = t)]
pub struct Ticket {
    pub id: Uuid,
    pub customer_id: Option<Uuid>,
    pub order_id: Option<Uuid>,
    pub ticket_type: TicketType,
    pub category: Option<String>,
    pub channel: Option<SalesChannel>,
    pub priority: TicketPriority,
    pub subject: String,
    pub description: Option<String>,
    pub status: TicketStatus,
    pub team: Option<String>,
    pub assignee_staff_id: Option<Uuid>,
    pub store_id: Option<Uuid>,
    pub sla_elapsed_seconds: i64,
    pub sla_running_since: Option<DateTime<Utc>>,
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    pub first_responded_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub first_response_breached: bool,
    pub resolution_breached: bool,
    pub satisfaction_score: Option<i32>,
    pub satisfaction_comment: Option<String>,
    pub satisfaction_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// What a cluster places the ticket by (SPEC §16): its customer when opened, else itself.
    pub owner_id: Uuid,
}

impl Ticket {
    pub fn clock(&self) -> SlaClock {
        SlaClock { elapsed: self.sla_elapsed_seconds, running_since: self.sla_running_since }
    }
    pub fn dues(&self) -> Dues {
        Dues { first_response: self.first_response_due_at, resolution: self.resolution_due_at }
    }
    /// What the breach rule looks at.
    pub fn breach_input(&self) -> BreachInput {
        BreachInput {
            running: self.sla_running_since.is_some(),
            responded: self.first_responded_at.is_some(),
            first_response_due: self.first_response_due_at,
            resolution_due: self.resolution_due_at,
            first_response_breached: self.first_response_breached,
            resolution_breached: self.resolution_breached,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cm)]
pub struct Comment {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub visibility: TicketCommentVisibility,
    pub body: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
}
