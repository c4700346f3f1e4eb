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

pub fn record(
    conn: &mut PgConnection,
    who: &Principal,
    action: &str,
    resource: &str,
    resource_id: Option<String>,
    detail: Value,
) -> ApiResult<()> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::actor.eq(&who.sub),
            audit_log::action.eq(action),
            audit_log::resource.eq(resource),
            audit_log::resource_id.eq(resource_id),
            audit_log::request_id.eq(Some(&who.request_id).filter(|r| !r.is_empty())),
            audit_log::detail.eq(detail),
        ))
        .execute(conn)?;
    Ok(())
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
    conn: &mut PgConnection,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: i64,
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
