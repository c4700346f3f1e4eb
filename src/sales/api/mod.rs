//! The till's writes: `POST /v1/orders` (a sale), `POST /v1/orders/{id}/refunds`, and the checkout
//! quote with its reservations. Reading orders back is the orders domain's.

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpResponse};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::PgConnection;
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::refund::{self as refund_service, NewRefund};
use super::sale::{self, NewLine, NewOrder};
use crate::customers::model::IdentityInput;
use crate::customers::service::CustomerRef;
use crate::error::{ApiResult, Problem, Violations};
use crate::http::auth::{Auth, OrdersWrite, Principal, StoreScope};
use crate::ids::{OrderId, StoreId};
use crate::loyalty::program::CatalogueCache;
use crate::orders::api::{OrderView, RefundView};
use crate::orders::rules::BasketLine;
use crate::orders::rules::PricingMode;
use crate::state::AppState;
use crate::stores::{SalesChannel, UNKNOWN_CHANNEL};

// Problem responses several operations name.
crate::problem_response!(pub RefundRefused = 422, "`refund_exceeds_paid`, `refund_exceeds_quantity`, `nothing_to_refund`");
crate::problem_response!(pub ReservationNotFound = 404, "`reservation_not_found` (also another store's hold, for a store-bound principal)");

mod bulk;
mod checkout;
mod refunds;

/// Registered before the orders domain's reads, so the documented order of operations stays the
/// till's: sell, then read back. The bulk paths are literal, so `bulk` is never taken for an id.
pub fn configure_orders(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(bulk::post_orders_bulk)
        .service(post_order)
        .service(refunds::refund_order)
        .service(bulk::post_refunds_bulk)
        .service(refunds::refund_channel_order);
}

/// What every sale and refund of one request shares: who acts, for which stores, and when. The
/// single calls and the bulk calls post through it, so a bulk row is exactly a single call.
#[derive(Clone)]
struct Poster {
    actor: String,
    scope: StoreScope,
    now: DateTime<Utc>,
    tz: Tz,
}

/// A write as the API answers it: 201 with what it made, or 200 with what was stored before
/// under the same key (and changed nothing).
struct Answer<T> {
    created: bool,
    body: T,
}

impl<T> Answer<T> {
    fn status(&self) -> StatusCode {
        if self.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        }
    }
}

impl Poster {
    fn new(principal: &Principal, state: &AppState) -> Poster {
        Poster {
            actor: principal.sub.clone(),
            scope: principal.store_scope(),
            now: state.clock.now(),
            tz: state.config.timezone,
        }
    }

    /// A sale, in the caller's transaction, priced with the program and tiers of `catalogue`.
    fn sell(&self, conn: &mut PgConnection, catalogue: &CatalogueCache, new: NewOrder) -> ApiResult<Answer<OrderView>> {
        let posted = sale::post(conn, catalogue, new, &self.actor, self.now, self.tz)?;
        Ok(Answer { created: posted.created, body: OrderView::build(posted.order, posted.lines) })
    }

    /// A refund of `order` (within the caller's stores), in the caller's transaction.
    fn refund(&self, conn: &mut PgConnection, order: OrderId, new: NewRefund) -> ApiResult<Answer<RefundView>> {
        let (refund, created) = refund_service::refund(conn, order, self.scope, new, &self.actor, self.now)?;
        Ok(Answer { created, body: RefundView::from(refund) })
    }
}

pub fn configure_checkout(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    checkout::configure(cfg);
}

pub const MAX_LINES: usize = 500;

#[derive(Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "W-DRESS-001", "name": "连衣裙", "category": "女装", "quantity": 1, "unit_price": "299.00"}))]
pub struct LineInput {
    #[schema(min_length = 1, max_length = 64, format = "non-blank")]
    sku: String,
    #[schema(max_length = 200)]
    name: Option<String>,
    #[schema(min_length = 1, max_length = 64, format = "non-blank")]
    category: Option<String>,
    #[serde(deserialize_with = "crate::http::whole_number_required")]
    #[schema(minimum = 1, maximum = 100000)]
    quantity: i32,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, format = "money", example = "299.00")]
    unit_price: Decimal,
    /// The line's amount; defaults to `quantity × unit_price`. Only `external` pricing may send another
    /// value, and only a lower one (a discount).
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "299.00")]
    amount: Option<Decimal>,
}

impl LineInput {
    /// A line that did not come as JSON (an imported order's row), for `validate_lines`.
    pub fn new(
        sku: String, name: Option<String>, category: Option<String>, quantity: i32, unit_price: Decimal,
        amount: Option<Decimal>,
    ) -> LineInput {
        LineInput { sku, name, category, quantity, unit_price, amount }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"external_id": "BJ-CY-01-20261123-000123", "channel": "pos",
    "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "customer_identity": {"kind": "phone", "value": "13812345678"},
    "occurred_at": "2026-11-23T08:00:00Z",
    "lines": [{"sku": "W-DRESS-001", "name": "连衣裙", "category": "女装", "quantity": 1, "unit_price": "299.00"}],
    "points_to_redeem": 0, "pricing": "crm"}))]
pub struct OrderInput {
    /// The channel's own order number; `(channel, store_id, external_id)` makes the post idempotent.
    #[schema(min_length = 1, max_length = 128, format = "non-blank")]
    external_id: String,
    #[schema(format = "channel")]
    channel: String,
    /// The selling store; a store-bound principal sells for its own store (the default) only.
    store_id: Option<Uuid>,
    /// The customer; or give `customer_identity`; neither for a guest sale.
    customer_id: Option<Uuid>,
    customer_identity: Option<IdentityInput>,
    occurred_at: DateTime<Utc>,
    #[schema(min_items = 1, max_items = 500)]
    lines: Vec<LineInput>,
    /// If sent, must equal the sum of the lines.
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money")]
    total_amount: Option<Decimal>,
    /// Coupon codes to redeem (any case); each must apply, or the sale is refused with
    /// `coupon_not_applicable` (422) or `coupon_already_redeemed` (409). Omitted with a
    /// `reservation_id`: the reservation's coupons.
    #[schema(max_items = 5)]
    coupon_codes: Option<Vec<String>>,
    /// Whole units of the program's redeem unit (100 by default), at most 50% of the amount after
    /// the tier discount and coupons. Omitted with a `reservation_id`: the reservation's points.
    #[serde(default, deserialize_with = "crate::http::whole_number_i64")]
    #[schema(minimum = 0, maximum = 100000000)]
    points_to_redeem: Option<i64>,
    /// A hold from `POST /v1/checkout/quote` with `reserve: true`: this order consumes it.
    reservation_id: Option<Uuid>,
    /// `crm`: must equal the computed payable if sent. `external`: required, taken as given within
    /// `0 ≤ paid_amount ≤ total_amount` (the sum of the line amounts).
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money")]
    paid_amount: Option<Decimal>,
    /// `crm` (default) or `external`.
    #[schema(value_type = Option<crate::orders::rules::PricingMode>)]
    pricing: Option<String>,
}

impl OrderInput {
    /// The sale this body asks for, checked: every bad field named (422); a store-bound principal
    /// naming another store is 403 `store_bound_principal`.
    fn validate(self, principal: &Principal, now: DateTime<Utc>) -> ApiResult<NewOrder> {
        let mut v = Violations::new();
        v.text("external_id", &self.external_id, 128);
        let channel = v.known::<SalesChannel>("channel", &self.channel, UNKNOWN_CHANNEL);
        let external = match self.pricing.as_deref().map(PricingMode::parse) {
            None | Some(Some(PricingMode::Crm)) => false,
            Some(Some(PricingMode::External)) => true,
            Some(None) => {
                v.add("pricing", "must be 'crm' or 'external'");
                false
            }
        };
        if self.occurred_at > now + chrono::Duration::minutes(10) {
            v.add("occurred_at", "must not be in the future");
        }
        let lines = validate_lines(self.lines, external, &mut v);
        let sum: Decimal = lines.iter().map(|l| l.basket.amount).sum();
        if let Some(total) = self.total_amount {
            v.check(total == sum, "total_amount", "must equal the sum of the line amounts");
        }
        match self.paid_amount {
            Some(paid) if external => {
                if let Some(problem) = crate::orders::rules::external_paid_error(sum, paid) {
                    v.add("paid_amount", problem);
                }
            }
            Some(paid) => v.check(paid >= Decimal::ZERO, "paid_amount", "must not be negative"),
            None => {}
        }
        if let Some(codes) = &self.coupon_codes {
            validate_coupon_codes(codes, &mut v);
        }
        if let Some(points) = self.points_to_redeem {
            v.check((0..=100_000_000).contains(&points), "points_to_redeem", "must be 0-100000000");
        }
        if external && self.paid_amount.is_none() {
            v.add("paid_amount", "is required with pricing 'external'");
        }
        let customer = customer_ref(self.customer_id, self.customer_identity, &mut v);
        // A store-bound till posts for its own store (the default); naming another is 403.
        let store_id = principal.acting_store(self.store_id)?;
        v.into_result()?;
        Ok(NewOrder {
            external_id: self.external_id,
            channel: channel.ok_or_else(|| SalesChannel::unknown("channel"))?,
            store_id: store_id.map(StoreId),
            customer,
            occurred_at: self.occurred_at,
            lines,
            points_to_redeem: self.points_to_redeem,
            coupon_codes: self.coupon_codes,
            reservation_id: self.reservation_id,
            paid_amount: self.paid_amount,
            external_pricing: external,
        })
    }
}

/// The basket lines as pricing takes them; `external` pricing may send its own line amounts.
pub fn validate_lines(input: Vec<LineInput>, external: bool, v: &mut Violations) -> Vec<NewLine> {
    if input.is_empty() || input.len() > MAX_LINES {
        v.add("lines", "send 1-500 lines");
    }
    let mut lines = Vec::with_capacity(input.len());
    for (i, l) in input.into_iter().enumerate() {
        let f = |name: &str| format!("lines[{i}].{name}");
        v.text(&f("sku"), &l.sku, 64);
        v.check(l.name.as_deref().is_none_or(|n| n.chars().count() <= 200), &f("name"), "at most 200 characters");
        if let Some(c) = &l.category {
            v.text(&f("category"), c, 64);
        }
        v.check((1..=100_000).contains(&l.quantity), &f("quantity"), "must be 1-100000");
        v.check(l.unit_price >= Decimal::ZERO, &f("unit_price"), "must not be negative");
        let list_amount = crate::money::round(l.unit_price * Decimal::from(l.quantity.max(0)));
        let amount = match l.amount {
            Some(a) if a < Decimal::ZERO => {
                v.add(f("amount"), "must not be negative");
                a
            }
            Some(a) if a != list_amount && !external => {
                v.add(f("amount"), "must equal quantity × unit_price with pricing 'crm'");
                a
            }
            // A channel discounts a line, never charges above its list amount (SPEC §7): an inflated
            // line would mint points on money nobody paid.
            Some(a) if a > list_amount => {
                v.add(f("amount"), "must not exceed quantity × unit_price with pricing 'external'");
                a
            }
            Some(a) => a,
            None => list_amount,
        };
        v.check(amount < crate::money::MAX_AMOUNT, &f("amount"), "is too large");
        lines.push(NewLine {
            basket: BasketLine {
                sku: l.sku,
                category: l.category,
                quantity: l.quantity,
                unit_price: l.unit_price,
                amount,
            },
            name: l.name,
        });
    }
    let sum: Decimal = lines.iter().map(|l| l.basket.amount).sum();
    v.check(sum < crate::money::MAX_AMOUNT, "lines", "the order total is too large");
    lines
}

/// A code that cannot be a coupon code is not refused here: the quote reports it as `not_found`.
pub fn validate_coupon_codes(codes: &[String], v: &mut Violations) {
    let max = crate::coupons::rules::MAX_COUPONS_PER_BASKET;
    v.check(codes.len() <= max, "coupon_codes", &format!("at most {max} coupons per sale"));
}

/// The customer a sale or a quote names: by id, by identity, or nobody (a guest).
pub fn customer_ref(id: Option<Uuid>, identity: Option<IdentityInput>, v: &mut Violations) -> CustomerRef {
    match (id, identity) {
        (Some(_), Some(_)) => {
            v.add("customer_identity", "give customer_id or customer_identity, not both");
            CustomerRef::Guest
        }
        (Some(id), None) => CustomerRef::Id(id),
        (None, Some(identity)) => match crate::customers::rules::normalize_identity(&identity.kind, &identity.value) {
            Ok((kind, value)) => CustomerRef::Identity(kind, value),
            Err(msg) => {
                v.add("customer_identity", msg);
                CustomerRef::Guest
            }
        },
        (None, None) => CustomerRef::Guest,
    }
}

/// Post a sale: prices it (tier discount, coupons, points offset — exactly as the checkout quote),
/// redeems the coupons and points (or consumes a reservation), earns points, adds qualifying spend
/// and upgrades the tier, in one transaction. The natural key is `(channel, store_id,
/// external_id)` (receipt numbers repeat across stores): re-posting it with the same content
/// returns the stored order with 200 and changes nothing; with other content (customer, lines,
/// amounts, coupons, points) it is 409 `order_conflict` with the stored order's `order_id`.
/// A store-bound principal posts for its own store only.
#[utoipa::path(
    tag = "orders", operation_id = "post_order", request_body = OrderInput, security(("bearer" = ["orders:write"])),
    responses(
        (status = 201, description = "Posted", body = OrderView),
        (status = 200, description = "Already posted: the stored order, unchanged", body = OrderView),
        (status = 403, description = "`store_bound_principal`: a store-bound principal posting for another store", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`order_conflict` (the natural key was posted with other content; with `order_id` and `fields`), `coupon_already_redeemed`, `reservation_expired`, `reservation_not_active`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, `amount_mismatch`, `insufficient_points`, `points_over_limit`, `not_a_member`, `customer_not_found`, `coupon_not_applicable` (with `reason` and `coupons`), `reservation_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/orders")]
async fn post_order(
    auth: Auth<OrdersWrite>, state: web::Data<AppState>, catalogue: web::Data<CatalogueCache>,
    body: crate::http::Json<OrderInput>,
) -> ApiResult<HttpResponse> {
    let poster = Poster::new(&auth, &state);
    let new = body.into_inner().validate(&auth, poster.now)?;
    let answer = crate::db::transaction(&state.pool, move |conn| poster.sell(conn, &catalogue, new)).await?;
    Ok(HttpResponse::build(answer.status())
        .insert_header(("location", format!("/v1/orders/{}", answer.body.id())))
        .json(answer.body))
}
