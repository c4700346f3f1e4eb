//! Refunds of an order: `POST /v1/orders/{id}/refunds` and reading them back.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::MAX_LINES;
use crate::http::auth::{Auth, OrdersRead, OrdersWrite};
use crate::http::error::{ApiResult, Problem, Violations};
use crate::orders::service::{self, NewRefund, RefundLine};
use crate::orders::store::{self, Refund};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"line_no": 1, "quantity": 1}))]
pub struct RefundLineInput {
    #[serde(deserialize_with = "crate::http::whole_number_required")]
    #[schema(minimum = 1, maximum = 500)]
    line_no: i32,
    #[serde(deserialize_with = "crate::http::whole_number_required")]
    #[schema(minimum = 1, maximum = 100000)]
    quantity: i32,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"external_id": "RF-20261124-0007", "lines": [{"line_no": 1, "quantity": 1}]}))]
pub struct RefundInput {
    /// The channel's refund number; `(order, external_id)` makes the refund idempotent.
    #[schema(min_length = 1, max_length = 128, format = "non-blank")]
    external_id: String,
    /// Lines and quantities returned; omit for the whole remaining order.
    #[schema(max_items = 500)]
    lines: Option<Vec<RefundLineInput>>,
    /// The amount refunded; defaults to the lines' share of what was paid (or all that is left).
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money")]
    amount: Option<Decimal>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d61", "order_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "external_id": "RF-20261124-0007", "amount": "284.05", "lines": [{"line_no": 1, "quantity": 1}],
    "points_clawed_back": 284, "points_returned": 0, "points_balance": 1000, "created_at": "2026-11-24T08:00:00Z"}))]
pub struct RefundView {
    id: Uuid,
    order_id: Uuid,
    external_id: String,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String)]
    amount: Decimal,
    #[schema(value_type = Vec<Object>)]
    lines: Value,
    points_clawed_back: i64,
    points_returned: i64,
    points_balance: Option<i64>,
    created_at: DateTime<Utc>,
}

impl From<Refund> for RefundView {
    fn from(r: Refund) -> Self {
        RefundView {
            id: r.id,
            order_id: r.order_id,
            external_id: r.external_id,
            amount: r.amount,
            lines: r.lines,
            points_clawed_back: r.points_clawed_back,
            points_returned: r.points_returned,
            points_balance: r.points_balance_after,
            created_at: r.created_at,
        }
    }
}

/// Refund an order in whole or by lines (a store-bound principal: its own store's orders only). Earned points on the refunded amount are taken back (a
/// debt if already spent), used points are returned, qualifying spend drops; the tier stays.
#[utoipa::path(
    tag = "orders", operation_id = "refund_order", request_body = RefundInput,
    params(("id" = Uuid, Path, description = "Order id")),
    security(("bearer" = ["orders:write"])),
    responses(
        (status = 201, description = "Refunded", body = RefundView),
        (status = 200, description = "Already refunded under this external_id: the stored refund", body = RefundView),
        (status = 404, description = "`order_not_found` (also another store's order, for a store-bound principal)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`refund_exceeds_paid`, `refund_exceeds_quantity`, `nothing_to_refund`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/orders/{id}/refunds")]
async fn refund_order(
    auth: Auth<OrdersWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: crate::http::Json<RefundInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let input = body.into_inner();
    let mut v = Violations::new();
    v.text("external_id", &input.external_id, 128);
    let lines: Vec<RefundLine> = input
        .lines
        .unwrap_or_default()
        .into_iter()
        .map(|l| RefundLine { line_no: l.line_no, quantity: l.quantity })
        .collect();
    v.check(lines.len() <= MAX_LINES, "lines", "at most 500 lines");
    for (i, l) in lines.iter().enumerate() {
        v.check((1..=500).contains(&l.line_no), &format!("lines[{i}].line_no"), "must be 1-500");
        v.check((1..=100_000).contains(&l.quantity), &format!("lines[{i}].quantity"), "must be 1-100000");
    }
    v.into_result()?;
    let new = NewRefund { external_id: input.external_id, lines, amount: input.amount };
    let (scope, actor) = (auth.store_scope(), auth.sub.clone());
    let now = state.clock.now();
    let (refund, created) =
        crate::db::transaction(&state.pool, move |conn| service::refund(conn, id, scope, new, &actor, now)).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(HttpResponse::build(status).json(RefundView::from(refund)))
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"items": [{"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d61",
    "order_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "external_id": "RF-20261124-0007", "amount": "284.05",
    "lines": [{"line_no": 1, "quantity": 1}], "points_clawed_back": 284, "points_returned": 0, "points_balance": 1000,
    "created_at": "2026-11-24T08:00:00Z"}]}))]
pub struct RefundList {
    /// Oldest first.
    items: Vec<RefundView>,
}

/// An order's refunds, oldest first (a store-bound principal: its own store's orders only).
#[utoipa::path(
    tag = "orders", operation_id = "list_order_refunds",
    params(("id" = Uuid, Path, description = "Order id")),
    security(("bearer" = ["orders:read"])),
    responses(
        (status = 200, description = "The order's refunds", body = RefundList),
        (status = 404, description = "`order_not_found` (also another store's order, for a store-bound principal)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/orders/{id}/refunds")]
async fn list_refunds(
    auth: Auth<OrdersRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let scope = auth.store_scope();
    let refunds = crate::db::run(&state.pool, move |conn| {
        store::get_in(conn, id, scope)?;
        store::refunds_of(conn, id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(RefundList { items: refunds.into_iter().map(Into::into).collect() }))
}
