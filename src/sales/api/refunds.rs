//! `POST /v1/orders/{id}/refunds` and `POST /v1/refunds`: a refund from any channel, of an order
//! named by the CRM's id or by the channel's own order number.

use actix_web::{post, web, HttpResponse};
use diesel::PgConnection;
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Poster, MAX_LINES};
use crate::error::{ApiError, ApiResult, Problem, Violations};
use crate::http::auth::{Auth, OrdersWrite, Principal};
use crate::ids::{OrderId, StoreId};
use crate::orders::api::RefundView;
use crate::sales::refund::{NewRefund, RefundLine};
use crate::state::AppState;
use crate::stores::{SalesChannel, UNKNOWN_CHANNEL};

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
    params(("id" = Uuid, Path, description = "Order id")), security(("bearer" = ["orders:write"])),
    responses(
        (status = 201, description = "Refunded", body = RefundView),
        (status = 200, description = "Already refunded under this external_id: the stored refund", body = RefundView),
        crate::orders::api::OrderNotFound,
        crate::sales::api::RefundRefused,
    )
)]
#[post("/v1/orders/{id}/refunds")]
async fn refund_order(
    auth: Auth<OrdersWrite>, state: web::Data<AppState>, id: web::Path<OrderId>, body: crate::http::Json<RefundInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let input = body.into_inner();
    let new = new_refund(input.external_id, input.lines, input.amount, Violations::new())?;
    let poster = Poster::new(&auth, &state);
    let answer = crate::db::transaction(&state.pool, move |conn| poster.refund(conn, id, new)).await?;
    Ok(HttpResponse::build(answer.status()).json(answer.body))
}

/// What both refund calls take, checked: every bad field named, none left for later.
fn new_refund(
    external_id: String, lines: Option<Vec<RefundLineInput>>, amount: Option<Decimal>, mut v: Violations,
) -> ApiResult<NewRefund> {
    v.text("external_id", &external_id, 128);
    let lines: Vec<RefundLine> = lines
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
    Ok(NewRefund { external_id, lines, amount })
}

/// An order as its channel knows it: the natural key a sale was posted under.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"channel": "tmall", "external_id": "TM-3920018827731"}))]
pub struct ChannelOrderRef {
    #[schema(format = "channel")]
    channel: String,
    /// The store the sale was posted for; omitted for an online channel's store-less orders. A
    /// store-bound principal may omit it (its own store) and names no other.
    store_id: Option<Uuid>,
    #[schema(min_length = 1, max_length = 128, format = "non-blank")]
    external_id: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"order": {"channel": "tmall", "external_id": "TM-3920018827731"},
    "external_id": "TM-RF-88120", "amount": "199.00"}))]
pub struct ChannelRefundInput {
    /// The refunded order, by the channel's own number.
    order: ChannelOrderRef,
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

fn order_not_posted() -> ApiError {
    ApiError::retry_later(
        "order_not_posted",
        "no order with this channel, store and number has been posted yet: retry later",
    )
}

/// An order by the natural key it was posted under, with the store the caller acts for.
pub(super) struct ChannelOrder {
    channel: SalesChannel,
    store_id: Option<Uuid>,
    external_id: String,
}

impl ChannelOrder {
    /// The order's id; 409 `order_not_posted` (retry later) while no such order has arrived, or
    /// none the caller's store holds.
    pub(super) fn find(&self, conn: &mut PgConnection) -> ApiResult<OrderId> {
        let found =
            crate::orders::store::find_by_external(conn, self.channel, self.store_id.map(StoreId), &self.external_id)?;
        Ok(found.ok_or_else(order_not_posted)?.id)
    }
}

impl ChannelRefundInput {
    /// The refund this body asks for and the order it names, checked: every bad field named
    /// (422); a store-bound principal naming another store is 403 `store_bound_principal`, and
    /// one naming none means its own.
    pub(super) fn validate(self, principal: &Principal) -> ApiResult<(ChannelOrder, NewRefund)> {
        let mut v = Violations::new();
        let channel = v.known::<SalesChannel>("order.channel", &self.order.channel, UNKNOWN_CHANNEL);
        v.text("order.external_id", &self.order.external_id, 128);
        let new = new_refund(self.external_id, self.lines, self.amount, v)?;
        let store_id = principal.acting_store(self.order.store_id)?;
        let channel = channel.ok_or_else(|| SalesChannel::unknown("order.channel"))?;
        Ok((ChannelOrder { channel, store_id, external_id: self.order.external_id }, new))
    }
}

/// Refund an order named by the channel's own number, as connectors know it: the same rules as
/// `POST /v1/orders/{id}/refunds`. A refund that arrives before its order is 409 `order_not_posted`.
#[utoipa::path(
    tag = "orders", operation_id = "refund_channel_order", request_body = ChannelRefundInput,
    security(("bearer" = ["orders:write"])),
    responses(
        (status = 201, description = "Refunded", body = RefundView),
        (status = 200, description = "Already refunded under this external_id: the stored refund", body = RefundView),
        (status = 403, description = "`forbidden` without the scope; `store_bound_principal`: a store-bound principal named another store", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`order_not_posted`: no such order yet (a store-bound principal sees only its own store's)", body = Problem, content_type = "application/problem+json"),
        crate::sales::api::RefundRefused,
    )
)]
#[post("/v1/refunds")]
async fn refund_channel_order(
    auth: Auth<OrdersWrite>, state: web::Data<AppState>, body: crate::http::Json<ChannelRefundInput>,
) -> ApiResult<HttpResponse> {
    let (order, new) = body.into_inner().validate(&auth)?;
    let poster = Poster::new(&auth, &state);
    let answer = crate::db::transaction(&state.pool, move |conn| {
        let id = order.find(conn)?;
        poster.refund(conn, id, new)
    })
    .await?;
    Ok(HttpResponse::build(answer.status()).json(answer.body))
}
