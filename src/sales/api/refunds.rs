//! `POST /v1/orders/{id}/refunds`: a refund from any channel.

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpResponse};
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::MAX_LINES;
use crate::http::auth::{Auth, OrdersWrite};
use crate::http::error::{ApiResult, Problem, Violations};
use crate::orders::api::RefundView;
use crate::sales::refund::{self as service, NewRefund, RefundLine};
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
