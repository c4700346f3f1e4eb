//! Points endpoints (balance, entries, adjustments), the rewards catalogue, reward redemptions and
//! the ledger audit.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::audit::LedgerAuditReport;
use super::ledger::{self, Entry};
use super::rewards::{self, NewReward, Reward, RewardChanges};
use crate::error::{ApiError, ApiResult, Problem, Violations};
use crate::http::auth::{Admin, Auth, LoyaltyRead, LoyaltyWrite};
use crate::http::pagination::{Page, PageParams};
use crate::http::patch::double_option;
use crate::http::IfMatch;
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_points)
        .service(list_points_entries)
        .service(adjust_points)
        .service(create_reward)
        .service(list_rewards)
        .service(get_reward)
        .service(update_reward)
        .service(redeem_reward)
        .service(audit_ledger);
}

/// Largest adjustment, reward cost and stock a request may name.
pub const MAX_ADJUSTMENT: i64 = 10_000_000;
pub const MAX_POINTS_COST: i64 = 10_000_000;
pub const MAX_STOCK: i32 = 1_000_000;
pub const MAX_QUANTITY: i32 = 100;
/// "Expiring soon" means within this many days.
pub const EXPIRING_WINDOW_DAYS: i64 = 30;

// ---------------------------------------------------------------------------------------------
// Request helpers
// ---------------------------------------------------------------------------------------------

/// For integer fields: JSON Schema counts `307.0` as an integer, so it is accepted as 307.
fn whole_i64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    if let Some(n) = number.as_i64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        // Only whole numbers well inside i64 (every limit here is far smaller).
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        _ => Err(D::Error::custom(format!("invalid type: {number}, expected a whole number"))),
    }
}

/// A non-zero number of points, at most 10,000,000 either way.
fn adjustment_points_schema() -> OneOfBuilder {
    let range = |min: i64, max: i64| {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(min as f64))
            .maximum(Some(max as f64))
    };
    OneOfBuilder::new()
        .item(range(-MAX_ADJUSTMENT, -1))
        .item(range(1, MAX_ADJUSTMENT))
        .description(Some(
            "Points to add (positive) or take away (negative); not zero, at most the program's \
             `max_adjustment_points` (default 10,000) either way, else 422 `adjustment_over_limit`.",
        ))
        .examples([json!(500), json!(-200)])
}

// ---------------------------------------------------------------------------------------------
// Points: balance, entries, adjustments
// ---------------------------------------------------------------------------------------------

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
    /// `earn`, `redeem`, `expire`, `adjust`, `refund_clawback`, `refund_return`, `merge_in`, `merge_out` or `reward`.
    pub kind: String,
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
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("bearer" = ["loyalty:read"])),
    responses(
        (status = 200, description = "The points summary (zeros for a customer without points)", body = PointsBalance),
        (status = 404, description = "`customer_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/customers/{id}/points")]
async fn get_points(
    _auth: Auth<LoyaltyRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
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
    params(("id" = Uuid, Path, description = "Customer id"), PageParams),
    security(("bearer" = ["loyalty:read"])),
    responses(
        (status = 200, description = "Entries, newest first", body = Page<PointsEntry>),
        (status = 404, description = "`customer_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/customers/{id}/points/entries")]
async fn list_points_entries(
    _auth: Auth<LoyaltyRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let limit = page.limit()?;
    let before = page.after::<i64>()?;
    let rows = crate::db::run(&state.pool, move |conn| {
        crate::customers::store::get(conn, id)?;
        ledger::entries(conn, id, before, limit + 1)
    })
    .await?;
    let items: Vec<PointsEntry> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(items, limit, |e| e.id.to_string())))
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
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("bearer" = ["loyalty:write"])),
    responses(
        (status = 201, description = "The entry and the new summary", body = PointsAdjustmentResult),
        (status = 403, description = "`forbidden` without `loyalty:write`; `store_bound_principal` for a store-bound principal", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`customer_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`customer_merged` / `customer_erased`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, `adjustment_over_limit` (with `max_adjustment_points`), `not_a_member`, or `insufficient_points` (with `available`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/customers/{id}/points/adjustments")]
async fn adjust_points(
    auth: Auth<LoyaltyWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: crate::http::Json<PointsAdjustment>,
) -> ApiResult<HttpResponse> {
    auth.require_chain_wide()?;
    let id = id.into_inner();
    let (points, reason) = body.into_inner().validate()?;
    let (now, tz) = (state.clock.now(), state.config.timezone);
    let who = auth.principal.clone();
    let result = crate::db::transaction(&state.pool, move |conn| {
        let entry_id = ledger::adjust(conn, id, points, &reason, &who.sub, now, tz)?;
        let detail = json!({"points": points, "reason": reason, "entry_id": entry_id});
        crate::audit::record(conn, &who, "points.adjust", "customer", Some(id.to_string()), detail)?;
        Ok(PointsAdjustmentResult {
            entry: ledger::entry(conn, entry_id)?.into(),
            summary: summary(conn, id, now, tz)?,
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(result))
}

// ---------------------------------------------------------------------------------------------
// Rewards catalogue
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "name": "小熊电炖锅", "description": "0.8L 小家电",
    "points_cost": 2000, "stock": 50, "active": true, "version": 1,
    "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z"}))]
pub struct RewardView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub points_cost: i64,
    pub stock: i32,
    /// Only active rewards can be redeemed.
    pub active: bool,
    /// Changes on every edit and every redemption (the stock moves); send it back as `If-Match`.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Reward> for RewardView {
    fn from(r: Reward) -> Self {
        RewardView {
            id: r.id,
            name: r.name,
            description: r.description,
            points_cost: r.points_cost,
            stock: r.stock,
            active: r.active,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn reward_response(status: StatusCode, reward: Reward) -> HttpResponse {
    crate::http::versioned(status, reward.version, format!("/v1/rewards/{}", reward.id), &RewardView::from(reward))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "小熊电炖锅", "description": "0.8L 小家电", "points_cost": 2000, "stock": 50, "active": true}))]
pub struct RewardCreate {
    #[schema(value_type = String, required = true, nullable = false, min_length = 1, max_length = 100, format = "non-blank")]
    pub name: Option<String>,
    /// Blank or `null`: none.
    #[schema(max_length = 500)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "whole_i64")]
    #[schema(value_type = i64, required = true, nullable = false, minimum = 1, maximum = 10000000)]
    pub points_cost: Option<i64>,
    /// Default 0.
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 1000000, default = 0)]
    pub stock: Option<i32>,
    /// Default true.
    #[schema(default = true)]
    pub active: Option<bool>,
}

impl RewardCreate {
    fn validate(self) -> ApiResult<NewReward> {
        let mut v = Violations::new();
        match &self.name {
            Some(name) => v.text("name", name, 100),
            None => v.add("name", "is required"),
        }
        if let Some(d) = &self.description {
            v.check(d.chars().count() <= 500, "description", "must be at most 500 characters");
        }
        match self.points_cost {
            Some(c) => v.check((1..=MAX_POINTS_COST).contains(&c), "points_cost", "must be 1-10000000"),
            None => v.add("points_cost", "is required"),
        }
        if let Some(s) = self.stock {
            v.check((0..=MAX_STOCK).contains(&s), "stock", "must be 0-1000000");
        }
        v.into_result()?;
        Ok(NewReward {
            name: crate::http::clean(self.name).unwrap_or_default(),
            description: crate::http::clean(self.description),
            points_cost: self.points_cost.unwrap_or_default(),
            stock: self.stock.unwrap_or(0),
            active: self.active.unwrap_or(true),
        })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"stock": 120, "points_cost": 1800}))]
pub struct RewardPatch {
    /// Not blank.
    #[schema(min_length = 1, max_length = 100, format = "non-blank")]
    pub name: Option<String>,
    /// Blank or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "whole_i64")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 10000000)]
    pub points_cost: Option<i64>,
    /// The new stock level (restocking or correcting a count).
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 1000000)]
    pub stock: Option<i32>,
    pub active: Option<bool>,
}

impl RewardPatch {
    fn validate(self) -> ApiResult<RewardChanges> {
        let mut v = Violations::new();
        if let Some(name) = &self.name {
            v.text("name", name, 100);
        }
        if let Some(Some(d)) = &self.description {
            v.check(d.chars().count() <= 500, "description", "must be at most 500 characters");
        }
        if let Some(c) = self.points_cost {
            v.check((1..=MAX_POINTS_COST).contains(&c), "points_cost", "must be 1-10000000");
        }
        if let Some(s) = self.stock {
            v.check((0..=MAX_STOCK).contains(&s), "stock", "must be 0-1000000");
        }
        v.into_result()?;
        Ok(RewardChanges {
            name: crate::http::clean(self.name),
            description: self.description.map(crate::http::clean),
            points_cost: self.points_cost,
            stock: self.stock,
            active: self.active,
        })
    }
}

/// Add a reward to the catalogue (e.g. a small appliance for 2,000 points). Chain-wide principals only.
#[utoipa::path(
    tag = "loyalty", operation_id = "create_reward", request_body = RewardCreate,
    security(("bearer" = ["loyalty:write"])),
    responses(
        (status = 201, description = "Created", body = RewardView),
        (status = 403, description = "`forbidden` without `loyalty:write`; `store_bound_principal` for a store-bound principal", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/rewards")]
async fn create_reward(
    auth: Auth<LoyaltyWrite>,
    state: web::Data<AppState>,
    body: crate::http::Json<RewardCreate>,
) -> ApiResult<HttpResponse> {
    auth.require_chain_wide()?;
    let new = body.into_inner().validate()?;
    let now = state.clock.now();
    let who = auth.principal.clone();
    let reward = crate::db::transaction(&state.pool, move |conn| {
        let reward = rewards::insert(conn, &new, now)?;
        crate::audit::record(conn, &who, "reward.create", "reward", Some(reward.id.to_string()), json!({}))?;
        Ok(reward)
    })
    .await?;
    Ok(reward_response(StatusCode::CREATED, reward))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RewardListParams {
    /// Only active (`true`) or only inactive (`false`) rewards.
    active: Option<bool>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200, example = 50)]
    limit: Option<i64>,
    /// Opaque cursor from the previous page's `next_cursor`.
    cursor: Option<String>,
}

/// The rewards catalogue, by id.
#[utoipa::path(
    tag = "loyalty", operation_id = "list_rewards", params(RewardListParams),
    security(("bearer" = ["loyalty:read"])),
    responses((status = 200, description = "Rewards by id", body = Page<RewardView>))
)]
#[get("/v1/rewards")]
async fn list_rewards(
    _auth: Auth<LoyaltyRead>,
    state: web::Data<AppState>,
    params: web::Query<RewardListParams>,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let page = PageParams { limit: p.limit, cursor: p.cursor };
    let limit = page.limit()?;
    let after = page.after::<Uuid>()?;
    let active = p.active;
    let rows = crate::db::run(&state.pool, move |conn| rewards::list(conn, active, after, limit + 1)).await?;
    let items: Vec<RewardView> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(items, limit, |r| r.id.to_string())))
}

/// Read a reward.
#[utoipa::path(
    tag = "loyalty", operation_id = "get_reward",
    params(("id" = Uuid, Path, description = "Reward id")),
    security(("bearer" = ["loyalty:read"])),
    responses(
        (status = 200, description = "The reward", body = RewardView),
        (status = 404, description = "`reward_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/rewards/{id}")]
async fn get_reward(
    _auth: Auth<LoyaltyRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let reward = crate::db::run(&state.pool, move |conn| rewards::get(conn, id)).await?;
    Ok(reward_response(StatusCode::OK, reward))
}

/// Change a reward (name, cost, stock, active); absent fields stay. `If-Match` guards against lost
/// updates. Chain-wide principals only.
#[utoipa::path(
    tag = "loyalty", operation_id = "update_reward", request_body = RewardPatch,
    params(("id" = Uuid, Path, description = "Reward id"),
           ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    security(("bearer" = ["loyalty:write"])),
    responses(
        (status = 200, description = "Updated", body = RewardView),
        (status = 403, description = "`forbidden` without `loyalty:write`; `store_bound_principal` for a store-bound principal", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`reward_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read (`precondition_failed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/v1/rewards/{id}")]
async fn update_reward(
    auth: Auth<LoyaltyWrite>,
    state: web::Data<AppState>,
    expected_version: IfMatch,
    id: web::Path<Uuid>,
    body: crate::http::Json<RewardPatch>,
) -> ApiResult<HttpResponse> {
    auth.require_chain_wide()?;
    let id = id.into_inner();
    let changes = body.into_inner().validate()?;
    let expected = expected_version.0;
    let now = state.clock.now();
    let who = auth.principal.clone();
    let reward = crate::db::transaction(&state.pool, move |conn| {
        let reward = rewards::update(conn, id, expected, &changes, now)?;
        let detail = json!({"version": reward.version, "stock": reward.stock, "points_cost": reward.points_cost});
        crate::audit::record(conn, &who, "reward.update", "reward", Some(id.to_string()), detail)?;
        Ok(reward)
    })
    .await?;
    Ok(reward_response(StatusCode::OK, reward))
}

// ---------------------------------------------------------------------------------------------
// Reward redemptions
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reward_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "quantity": 1}))]
pub struct RewardRedemptionRequest {
    #[schema(value_type = Uuid, required = true, nullable = false)]
    pub reward_id: Option<Uuid>,
    /// 1-100, default 1.
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 100, default = 1)]
    pub quantity: Option<i32>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d62", "reward_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f",
    "quantity": 1, "points": 2000, "entry_id": 42, "balance_after": 1500, "created_at": "2026-11-23T08:00:00Z"}))]
pub struct RewardRedemptionView {
    pub id: Uuid,
    pub reward_id: Uuid,
    pub quantity: i32,
    /// Points spent: `points_cost × quantity`.
    pub points: i64,
    /// The `reward` ledger entry.
    pub entry_id: i64,
    pub balance_after: i64,
    pub created_at: DateTime<Utc>,
}

/// Redeem points for a reward: the stock and the points move together or not at all.
#[utoipa::path(
    tag = "loyalty", operation_id = "redeem_reward", request_body = RewardRedemptionRequest,
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("bearer" = ["loyalty:write"])),
    responses(
        (status = 201, description = "Redeemed", body = RewardRedemptionView),
        (status = 404, description = "`customer_not_found` / `reward_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`out_of_stock` (with `stock`), `customer_merged` / `customer_erased`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`insufficient_points` (with `available`), `reward_inactive`, `not_a_member`, `validation_failed`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/customers/{id}/reward-redemptions")]
async fn redeem_reward(
    auth: Auth<LoyaltyWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: crate::http::Json<RewardRedemptionRequest>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let body = body.into_inner();
    let mut v = Violations::new();
    if body.reward_id.is_none() {
        v.add("reward_id", "is required");
    }
    let quantity = body.quantity.unwrap_or(1);
    v.check((1..=MAX_QUANTITY).contains(&quantity), "quantity", "must be 1-100");
    v.into_result()?;
    let reward_id = body.reward_id.ok_or_else(|| ApiError::invalid("reward_id", "is required"))?;
    let now = state.clock.now();
    let actor = auth.sub.clone();
    let done =
        crate::db::transaction(&state.pool, move |conn| rewards::redeem(conn, id, reward_id, quantity, &actor, now))
            .await?;
    let r = done.redemption;
    Ok(HttpResponse::Created().json(RewardRedemptionView {
        id: r.id,
        reward_id: r.reward_id,
        quantity: r.quantity,
        points: r.points,
        entry_id: r.entry_id,
        balance_after: done.balance_after,
        created_at: r.created_at,
    }))
}

// ---------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------

/// Re-check the ledger's invariants for every account.
///
/// Checks, each as one set-based pass: balance = Σ delta; balance = Σ lots.remaining − debt;
/// 0 ≤ lot remaining ≤ amount; the latest entry's balance_after = balance; no lots while in debt;
/// each balance_after = the previous one + delta; a debit's drawn lots add up to what it took.
#[utoipa::path(
    tag = "loyalty", operation_id = "audit_ledger",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Accounts checked and the violations found (empty when the ledger is sound)", body = LedgerAuditReport),
        (status = 403, description = "`forbidden` without `admin`; `store_bound_principal` for a store-bound principal (every store's accounts)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/loyalty/audit")]
async fn audit_ledger(auth: Auth<Admin>, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    auth.require_chain_wide()?;
    let report = crate::db::run(&state.pool, super::audit::run).await?;
    Ok(HttpResponse::Ok().json(report))
}
