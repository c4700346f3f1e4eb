//! Reading an order's refunds back (`GET /v1/orders/{id}/refunds`).

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiResult;
use crate::http::auth::{Auth, OrdersRead};
use crate::ids::OrderId;
use crate::orders::store::{self, Refund};
use crate::state::AppState;

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
    params(("id" = Uuid, Path, description = "Order id")), security(("bearer" = ["orders:read"])),
    responses((status = 200, description = "The order's refunds", body = RefundList), crate::orders::api::OrderNotFound)
)]
#[get("/v1/orders/{id}/refunds")]
async fn list_refunds(
    auth: Auth<OrdersRead>, state: web::Data<AppState>, id: web::Path<OrderId>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let scope = auth.store_scope();
    let refunds = crate::db::run(&state.pool, move |conn| {
        store::get_in(conn, id, scope)?;
        store::refunds_of(conn, id.uuid())
    })
    .await?;
    Ok(HttpResponse::Ok().json(RefundList { items: refunds.into_iter().map(Into::into).collect() }))
}
