//! Webhook subscriptions, deliveries and attempts as stored.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::{webhook_attempts as wa, webhook_deliveries as wd, webhook_subscriptions as ws};

crate::vocabulary! {
    /// Where a delivery stands: `pending` (waiting for its next attempt), `sending` (an attempt is
    /// under way), `succeeded`, or `failed` (retries spent, or the receiver answered 410).
    pub enum DeliveryStatus { Pending = "pending", Sending = "sending", Succeeded = "succeeded", Failed = "failed" }
}

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = ws)]
pub struct Subscription {
    pub id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub active: bool,
    pub description: Option<String>,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub cursor_seq: i64,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Subscription {
    /// The secrets a delivery is signed with now: the current one, and the previous one during a rotation.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(old), Some(until)) = (&self.previous_secret, self.previous_secret_until) {
            if until > now {
                secrets.push(old.as_str());
            }
        }
        secrets
    }
}

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = wd)]
pub struct Delivery {
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub event_id: Uuid,
    pub event_seq: i64,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub first_failed_at: Option<DateTime<Utc>>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_response_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = wa)]
pub struct Attempt {
    pub id: Uuid,
    pub delivery_id: Uuid,
    pub attempted_at: DateTime<Utc>,
    pub succeeded: bool,
    pub response_code: Option<i32>,
    pub duration_ms: i32,
    pub error: Option<String>,
}
