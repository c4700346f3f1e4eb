//! A member's points: balance, entries, adjustments.

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{adjustment_points_schema, whole_i64, EXPIRING_WINDOW_DAYS, MAX_ADJUSTMENT};
use crate::customers::api::CustomerNotFound;
use crate::error::{ApiResult, Problem, Violations};
use crate::http::auth::{Auth, ChainWide, LoyaltyRead, LoyaltyWrite};
use crate::http::pagination::{Page, PageParams};
use crate::loyalty::ledger::{self, Entry};
use crate::loyalty::rules::EntryKind;
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_points).service(list_points_entries).service(adjust_points);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"date": "2026-12-31", "points": 300}))]
pub struct ExpiringPoints {
    /// The last local day (business time zone) the points can be used.
    pub date: NaiveDate,
    pub points: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "balance": 1500, "available": 1200,
    "pending": 300, "debt": 0, "expiring_within_30_days": 200, "expiring": [{"date": "2026-12-31", "points": 200}]}))]
pub struct PointsBalance {
    pub customer_id: Uuid,
    /// Σ of every entry: available + pending + what sits in expired lots not yet written off − debt.
    pub balance: i64,
    /// Spendable now: points in live, available lots minus debt (negative while in debt).
    pub available: i64,
    /// Earned but not yet spendable (the pending window covers returns).
    pub pending: i64,
    /// Points a refund took back after they were spent; later earnings pay it first.
    pub debt: i64,
    pub expiring_within_30_days: i64,
    /// Points expiring within 30 days, by last valid day, soonest first.
    pub expiring: Vec<ExpiringPoints>,
}

/// The summary as the till and the app show it, expiry dates in the business time zone.
pub fn summary(conn: &mut PgConnection, customer: Uuid, now: DateTime<Utc>, tz: Tz) -> ApiResult<PointsBalance> {
    let s = ledger::summary(conn, customer, now, EXPIRING_WINDOW_DAYS)?;
    let mut expiring: Vec<ExpiringPoints> = Vec::new();
    for (expires_at, points) in s.expiring {
        // Lots expire at the start of a local day; the last valid day is the one before.
        let date = (expires_at - chrono::Duration::seconds(1)).with_timezone(&tz).date_naive();
        match expiring.last_mut() {
            Some(last) if last.date == date => last.points += points,
            _ => expiring.push(ExpiringPoints { date, points }),
        }
    }
    Ok(PointsBalance {
        customer_id: customer,
        balance: s.balance,
        available: s.available,
        pending: s.pending,
        debt: s.debt,
        expiring_within_30_days: expiring.iter().map(|e| e.points).sum(),
        expiring,
    })
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": 42, "kind": "reward", "delta": -2000, "balance_after": 1500, "order_id": null,
    "refund_id": null, "reference": "reward:0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "reason": null,
    "actor": "client:0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60",
    "lots": [{"lot_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d61", "points": 2000}], "occurred_at": "2026-11-23T08:00:00Z"}))]
pub struct PointsEntry {
    /// Increases in posting order.
    pub id: i64,
    pub kind: EntryKind,
    pub delta: i64,
    pub balance_after: i64,
    pub order_id: Option<Uuid>,
    pub refund_id: Option<Uuid>,
    /// What else the entry is about, e.g. `reward:<id>` or `customer:<id>` for merges.
    pub reference: Option<String>,
    /// Why (adjustments).
    pub reason: Option<String>,
    /// Who posted it (token subject, or a job).
    pub actor: String,
    /// The lots involved: for a credit the lot it created, for a debit the lots it drew from
    /// (`[{"lot_id", "points"}]`); a `merge_in` lists `{"moved": [...], "settled_debt": [...]}`.
    pub lots: Value,
    pub occurred_at: DateTime<Utc>,
}

impl From<Entry> for PointsEntry {
    fn from(e: Entry) -> Self {
        PointsEntry {
            id: e.id,
            kind: e.kind,
            delta: e.delta,
            balance_after: e.balance_after,
            order_id: e.order_id,
            refund_id: e.refund_id,
            reference: e.reference,
            reason: e.reason,
            actor: e.actor,
            lots: e.lots,
            occurred_at: e.occurred_at,
        }
    }
}

/// A member's points: balance, available, pending, debt, and what expires within 30 days.
#[utoipa::path(
    tag = "loyalty", operation_id = "get_points",
    params(("id" = Uuid, Path, description = "Customer id")), security(("bearer" = ["loyalty:read"])),
    responses(
        (status = 200, description = "The points summary (zeros for a customer without points)", body = PointsBalance),
        crate::customers::api::CustomerNotFound,
    )
)]
#[get("/v1/customers/{id}/points")]
async fn get_points(
    _auth: Auth<LoyaltyRead>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let (now, tz) = (state.clock.now(), state.config.timezone);
    let body = crate::db::run(&state.pool, move |conn| {
        crate::customers::store::get(conn, id)?;
        summary(conn, id, now, tz)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// A member's ledger entries, newest first.
#[utoipa::path(
    tag = "loyalty", operation_id = "list_points_entries",
    params(("id" = Uuid, Path, description = "Customer id"), PageParams), security(("bearer" = ["loyalty:read"])),
    responses((status = 200, description = "Entries, newest first", body = Page<PointsEntry>), CustomerNotFound)
)]
#[get("/v1/customers/{id}/points/entries")]
async fn list_points_entries(
    _auth: Auth<LoyaltyRead>, state: web::Data<AppState>, id: web::Path<Uuid>, page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let fetch = move |conn: &mut PgConnection, before, n| {
        crate::customers::store::get(conn, id)?;
        ledger::entries(conn, id, before, n)
    };
    let page = page.load(&state.pool, fetch, |e: &PointsEntry| e.id.to_string());
    Ok(HttpResponse::Ok().json(page.await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"points": 500, "reason": "补偿: 门店系统故障未积分"}))]
pub struct PointsAdjustment {
    #[serde(default, deserialize_with = "whole_i64")]
    #[schema(schema_with = adjustment_points_schema, required = true)]
    pub points: Option<i64>,
    /// Why: shown in the ledger and the audit log.
    #[schema(value_type = String, required = true, nullable = false, min_length = 1, max_length = 500, format = "non-blank")]
    pub reason: Option<String>,
}

impl PointsAdjustment {
    fn validate(self) -> ApiResult<(i64, String)> {
        let mut v = Violations::new();
        match self.points {
            Some(p) => v.check(
                p != 0 && p.abs() <= MAX_ADJUSTMENT,
                "points",
                "must be non-zero and at most 10000000 either way",
            ),
            None => v.add("points", "is required"),
        }
        match &self.reason {
            Some(reason) => v.text("reason", reason, 500),
            None => v.add("reason", "is required"),
        }
        v.into_result()?;
        Ok((self.points.unwrap_or_default(), self.reason.unwrap_or_default().trim().to_string()))
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "entry": {"id": 41, "kind": "adjust", "delta": 500, "balance_after": 3500, "order_id": null, "refund_id": null,
              "reference": null, "reason": "补偿: 门店系统故障未积分", "actor": "staff:0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60",
              "lots": [{"lot_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d61", "points": 500}], "occurred_at": "2026-11-23T08:00:00Z"},
    "summary": {"customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "balance": 3500, "available": 3500, "pending": 0,
                "debt": 0, "expiring_within_30_days": 0, "expiring": []}}))]
pub struct PointsAdjustmentResult {
    pub entry: PointsEntry,
    pub summary: PointsBalance,
}

/// Add or take away points by hand, with a reason (audited). Chain-wide principals only, and at
/// most the program's `max_adjustment_points` (default 10,000) per call.
///
/// A positive adjustment is available at once and expires like earned points (after `points_ttl_days`);
/// it pays any debt first. A negative one spends available points, soonest-expiring first, and never
/// creates debt. Members only.
#[utoipa::path(
    tag = "loyalty", operation_id = "adjust_points", request_body = PointsAdjustment,
    params(("id" = Uuid, Path, description = "Customer id")), security(("bearer" = ["loyalty:write"])),
    responses(
        (status = 201, description = "The entry and the new summary", body = PointsAdjustmentResult),
        crate::loyalty::api::LoyaltyWriteChainWideOnly,
        crate::customers::api::CustomerNotFound,
        (status = 409, description = "`customer_merged` / `customer_erased`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, `adjustment_over_limit` (with `max_adjustment_points`), `not_a_member`, or `insufficient_points` (with `available`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/customers/{id}/points/adjustments")]
async fn adjust_points(
    auth: Auth<ChainWide<LoyaltyWrite>>, state: web::Data<AppState>, id: web::Path<Uuid>,
    body: crate::http::Json<PointsAdjustment>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let (points, reason) = body.into_inner().validate()?;
    let (now, tz) = (state.clock.now(), state.config.timezone);
    let who = auth.principal.clone();
    let result = crate::db::transaction(&state.pool, move |conn| {
        let entry_id = ledger::adjust(conn, id, points, &reason, &who.sub, now, tz)?;
        let detail = json!({"points": points, "reason": reason, "entry_id": entry_id});
        crate::audit::record(conn, &who, crate::audit::AuditAction::PointsAdjust, Some(id.to_string()), detail)?;
        Ok(PointsAdjustmentResult {
            entry: ledger::entry(conn, id, entry_id)?.into(),
            summary: summary(conn, id, now, tz)?,
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(result))
}
