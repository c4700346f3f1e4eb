//! Finding and reading orders (SPEC §7): by id, by natural key, by customer; `orders:read`.

use actix_web::{get, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::OrderView;
use crate::error::{ApiResult, Problem, Violations};
use crate::http::auth::{Auth, OrdersRead};
use crate::http::pagination::{Listing, Page, PageParams};
use crate::ids::OrderId;
use crate::orders::store::{self, OrderCursor, OrderFilter};
use crate::state::AppState;

/// Read an order (a store-bound principal: its own store's only; another store's is 404).
#[utoipa::path(
    tag = "orders", operation_id = "get_order",
    params(("id" = Uuid, Path, description = "Order id")), security(("bearer" = ["orders:read"])),
    responses((status = 200, description = "The order", body = OrderView), crate::orders::api::OrderNotFound)
)]
#[get("/v1/orders/{id}")]
async fn get_order(
    auth: Auth<OrdersRead>, state: web::Data<AppState>, id: web::Path<OrderId>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let scope = auth.store_scope();
    let view = crate::db::run(&state.pool, move |conn| {
        let order = store::get_in(conn, id, scope)?;
        let lines = store::lines(conn, id)?;
        Ok(OrderView::build(order, lines))
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrderFinderParams {
    /// Only orders from this channel.
    #[param(format = "channel")]
    channel: Option<String>,
    /// Only this store's orders. A store-bound principal sees its own store's only (the default);
    /// naming another store is 403 `store_bound_principal`. Left out by a chain-wide principal: every store.
    store_id: Option<Uuid>,
    /// The channel's own order number (with `channel` and `store_id`: the natural key).
    #[param(min_length = 1, max_length = 128)]
    external_id: Option<String>,
    /// Only this customer's orders.
    customer_id: Option<Uuid>,
}

/// Find orders: by natural key (`channel`, `store_id`, `external_id`), by customer, or any
/// combination; newest sale first (`occurred_at`, then id), paged.
#[utoipa::path(
    tag = "orders", operation_id = "list_orders", params(PageParams, OrderFinderParams),
    security(("bearer" = ["orders:read"])),
    responses(
        (status = 200, description = "Matching orders, newest first", body = Page<OrderView>),
        (status = 403, description = "`store_bound_principal`: a store-bound principal naming another store", body = Problem, content_type = "application/problem+json"),
        crate::error::ValidationFailed,
    )
)]
#[get("/v1/orders")]
async fn list_orders(
    auth: Auth<OrdersRead>, state: web::Data<AppState>, query: Listing<OrderFinderParams>,
) -> ApiResult<HttpResponse> {
    let (page, p) = (query.page, query.filter);
    let store_id = auth.acting_store(p.store_id)?;
    let limit = page.limit()?;
    let after = page.after::<OrderCursor>()?;
    let mut v = Violations::new();
    if let Some(channel) = &p.channel {
        v.check(crate::stores::SalesChannel::parse(channel).is_some(), "channel", "is not a known channel");
    }
    if let Some(external_id) = &p.external_id {
        v.text("external_id", external_id, 128);
    }
    v.into_result()?;
    let filter = OrderFilter { channel: p.channel, store_id, external_id: p.external_id, customer_id: p.customer_id };
    let views = crate::db::run(&state.pool, move |conn| {
        let orders = store::find(conn, &filter, after, limit + 1)?;
        let ids: Vec<Uuid> = orders.iter().map(|o| o.id.uuid()).collect();
        let mut by_order = std::collections::HashMap::<Uuid, Vec<store::Line>>::new();
        for line in store::lines_of(conn, &ids)? {
            by_order.entry(line.order_id).or_default().push(line);
        }
        Ok(orders
            .into_iter()
            .map(|o| {
                let own = by_order.remove(&o.id.uuid()).unwrap_or_default();
                OrderView::build(o, own)
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, OrderView::cursor)))
}
