//! Customers written a thousand at a time.

use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::customers::model::{CustomerInput, IdentityInput};
use crate::customers::rules;
use crate::customers::service;
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::auth::{Auth, CustomersWrite};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(bulk_upsert_customers);
}

pub const BULK_MAX_ROWS: usize = 1000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customers": [{"identity": {"kind": "tmall_ouid", "value": "t_88231"}, "name": "李四", "phone": "13900001111"}]}))]
pub struct BulkRequest {
    /// 1-1000 rows, each an identity plus profile fields.
    #[schema(value_type = Vec<BulkRow>)]
    customers: Vec<Value>,
}

/// One upsert: the identity that finds (or creates) the customer, plus profile fields.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({"identity": {"kind": "tmall_ouid", "value": "t_88231"}, "name": "李四"}))]
pub struct BulkRow {
    identity: IdentityInput,
    #[schema(inline)]
    #[serde(flatten)]
    profile: CustomerInput,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"index": 0, "status": "created", "customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "error": null}))]
pub struct BulkRowResult {
    index: usize,
    /// `created`, `updated` or `failed`.
    status: &'static str,
    customer_id: Option<Uuid>,
    error: Option<Problem>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"created": 1, "updated": 0, "failed": 0, "results": [{"index": 0, "status": "created", "customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "error": null}]}))]
pub struct BulkResponse {
    created: usize,
    updated: usize,
    failed: usize,
    results: Vec<BulkRowResult>,
}

fn parse_bulk_row(
    row: Value, index: usize, today: chrono::NaiveDate,
) -> ApiResult<(String, String, crate::customers::model::ValidInput)> {
    let prefix = format!("customers[{index}].");
    let Value::Object(mut fields) = row else {
        return Err(ApiError::invalid(format!("customers[{index}]"), "must be an object"));
    };
    let identity: IdentityInput = fields
        .remove("identity")
        .ok_or_else(|| ApiError::invalid(format!("{prefix}identity"), "is required"))
        .and_then(|v| {
            serde_json::from_value(v).map_err(|e| ApiError::invalid(format!("{prefix}identity"), e.to_string()))
        })?;
    let (kind, value) = rules::normalize_identity(&identity.kind, &identity.value)
        .map_err(|m| ApiError::invalid(format!("{prefix}identity"), m))?;
    let input: CustomerInput =
        serde_json::from_value(Value::Object(fields)).map_err(|e| crate::http::body_error(&e.to_string()))?;
    Ok((kind, value, input.validate(today, &prefix)?))
}

/// Upsert up to 1,000 customers by identity; each row stands alone, a bad row never sinks the others.
#[utoipa::path(
    tag = "customers", operation_id = "bulk_upsert_customers", request_body = BulkRequest,
    security(("bearer" = ["customers:write"])),
    responses(
        (status = 200, description = "Per-row results", body = BulkResponse),
        (status = 422, description = "`validation_failed` (no rows or more than 1,000), `too_many_rows` (more than the client's rate limit admits at once, with `max_rows`)", body = Problem, content_type = "application/problem+json"),
        crate::error::BulkRateLimited,
    )
)]
#[post("/v1/customers/bulk")]
async fn bulk_upsert_customers(
    auth: Auth<CustomersWrite>, state: web::Data<AppState>, body: crate::http::Json<BulkRequest>,
) -> ApiResult<HttpResponse> {
    let rows = body.into_inner().customers;
    if rows.is_empty() || rows.len() > BULK_MAX_ROWS {
        return Err(ApiError::invalid("customers", "send between 1 and 1000 rows"));
    }
    let now = state.clock.now();
    let today = service::today(now, state.config.timezone);
    let scope = auth.store_scope();
    let _slot = state.limits.admit_bulk(&auth.sub, rows.len())?;
    let results = crate::db::run_bulk(&state.pool, move |conn| {
        use diesel::Connection;
        let mut results = Vec::with_capacity(rows.len());
        for (index, row) in rows.into_iter().enumerate() {
            let outcome = parse_bulk_row(row, index, today).and_then(|(kind, value, input)| {
                conn.transaction(|conn| service::upsert_by_identity(conn, &kind, &value, input, now, scope))
            });
            results.push(match outcome {
                Ok((customer, created)) => BulkRowResult {
                    index,
                    status: if created { "created" } else { "updated" },
                    customer_id: Some(customer.id),
                    error: None,
                },
                Err(ApiError::Internal(cause)) => return Err(ApiError::Internal(cause)),
                Err(err) => BulkRowResult { index, status: "failed", customer_id: None, error: Some(err.problem()) },
            });
        }
        Ok(results)
    })
    .await?;
    let count = |s: &str| results.iter().filter(|r| r.status == s).count();
    Ok(HttpResponse::Ok().json(BulkResponse {
        created: count("created"),
        updated: count("updated"),
        failed: count("failed"),
        results,
    }))
}
