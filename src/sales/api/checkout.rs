//! `POST /v1/checkout/quote` and the reservations it can make.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{customer_ref, validate_coupon_codes, validate_lines, LineInput};
use crate::customers::model::IdentityInput;
use crate::error::{ApiResult, Problem, Violations};
use crate::http::auth::{Auth, OrdersWrite};
use crate::loyalty::program::CatalogueCache;
use crate::reservations::service as reservations;
use crate::reservations::store::{self, Reservation};
use crate::sales::api::ReservationNotFound;
use crate::sales::quote::{self as service, Quote, QuoteRequest, TierProgress};
use crate::state::AppState;
use crate::stores::{SalesChannel, UNKNOWN_CHANNEL};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(quote).service(get_reservation).service(release_reservation);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customer_identity": {"kind": "phone", "value": "13812345678"}, "channel": "pos",
    "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f",
    "lines": [{"sku": "W-DRESS-001", "category": "女装", "quantity": 1, "unit_price": "340.00"}],
    "coupon_codes": ["K7M4P9QX2HTR"], "points_to_redeem": 1000, "reserve": true}))]
pub struct QuoteInput {
    customer_id: Option<Uuid>,
    customer_identity: Option<IdentityInput>,
    /// The selling store; a store-bound principal quotes for its own store (the default) only.
    store_id: Option<Uuid>,
    #[schema(format = "channel")]
    channel: String,
    #[schema(min_items = 1, max_items = 500)]
    lines: Vec<LineInput>,
    #[schema(max_items = 5)]
    coupon_codes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::http::whole_number_i64")]
    #[schema(minimum = 0, maximum = 100000000)]
    points_to_redeem: Option<i64>,
    /// Hold the applied coupons and the points for this customer (`CRM_RESERVATION_TTL_SECONDS`, 600 by default).
    reserve: Option<bool>,
}

impl QuoteInput {
    fn validate(self, auth: &crate::http::auth::Principal) -> ApiResult<QuoteRequest> {
        let mut v = Violations::new();
        let channel = v.known::<SalesChannel>("channel", &self.channel, UNKNOWN_CHANNEL);
        let lines = validate_lines(self.lines, false, &mut v);
        let coupon_codes = self.coupon_codes.unwrap_or_default();
        validate_coupon_codes(&coupon_codes, &mut v);
        let points = self.points_to_redeem.unwrap_or(0);
        v.check((0..=100_000_000).contains(&points), "points_to_redeem", "must be 0-100000000");
        let customer = customer_ref(self.customer_id, self.customer_identity, &mut v);
        // A store-bound till quotes and reserves for its own store (the default); naming another is 403.
        let store_id = auth.acting_store(self.store_id)?;
        v.into_result()?;
        Ok(QuoteRequest {
            customer,
            store_id,
            channel: channel.ok_or_else(|| SalesChannel::unknown("channel"))?,
            lines: lines.into_iter().map(|l| l.basket).collect(),
            coupon_codes,
            points_to_redeem: points,
            reserve: self.reserve.unwrap_or(false),
        })
    }
}

fn money(d: Decimal) -> String {
    crate::money::format(d)
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"line_no": 1, "sku": "W-DRESS-001", "amount": "340.00", "tier_discount": "34.00",
    "coupon_discount": "50.00", "discounted_amount": "256.00"}))]
pub struct QuoteLine {
    line_no: usize,
    sku: String,
    #[schema(format = "money")]
    amount: String,
    #[schema(format = "money")]
    tier_discount: String,
    #[schema(format = "money")]
    coupon_discount: String,
    /// After the tier discount and coupons.
    #[schema(format = "money")]
    discounted_amount: String,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"code": "K7M4P9QX2HTR", "applied": false, "discount": "0.00", "reason": "below_threshold"}))]
pub struct QuoteCoupon {
    code: String,
    applied: bool,
    #[schema(format = "money")]
    discount: String,
    /// Why it does not apply: `not_found`, `not_owner`, `already_redeemed`, `voided`, `expired`,
    /// `not_yet_valid`, `template_ended`, `reserved`, `wrong_store`, `wrong_channel`,
    /// `no_eligible_items`, `below_threshold`, `not_stackable`, `nothing_left_to_discount`, `duplicate`.
    reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"tier": "normal", "qualifying_spend": "4800.00", "qualifying_spend_after": "5056.00",
    "tier_after": "silver", "next_tier": "gold", "spend_to_next_tier": "9944.00"}))]
pub struct QuoteProgress {
    tier: String,
    #[schema(format = "money")]
    qualifying_spend: String,
    /// Qualifying spend once this sale is paid.
    #[schema(format = "money")]
    qualifying_spend_after: String,
    /// The tier this sale would bring (upgrades are immediate).
    tier_after: String,
    next_tier: Option<String>,
    #[schema(format = "money")]
    spend_to_next_tier: Option<String>,
}

impl From<TierProgress> for QuoteProgress {
    fn from(p: TierProgress) -> Self {
        QuoteProgress {
            tier: p.tier,
            qualifying_spend: money(p.qualifying_spend),
            qualifying_spend_after: money(p.qualifying_spend_after),
            tier_after: p.tier_after,
            next_tier: p.next_tier,
            spend_to_next_tier: p.spend_to_next_tier.map(money),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "tier": "gold",
    "lines": [{"line_no": 1, "sku": "W-DRESS-001", "amount": "340.00", "tier_discount": "34.00",
               "coupon_discount": "50.00", "discounted_amount": "256.00"}],
    "total_amount": "340.00", "tier_discount": "34.00", "coupon_discount": "50.00",
    "coupons": [{"code": "K7M4P9QX2HTR", "applied": true, "discount": "50.00", "reason": null}],
    "points_to_redeem": 1000, "points_offset": "100.00", "max_points_redeemable": 1200, "points_available": 3200,
    "payable": "156.00", "points_to_earn": 156,
    "tier_progress": {"tier": "gold", "qualifying_spend": "16000.00", "qualifying_spend_after": "16156.00",
                      "tier_after": "gold", "next_tier": null, "spend_to_next_tier": null},
    "reservation_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d61", "reservation_expires_at": "2026-11-23T08:10:00Z"}))]
pub struct QuoteView {
    customer_id: Option<Uuid>,
    /// The member's tier (null: not a member, list price).
    tier: Option<String>,
    lines: Vec<QuoteLine>,
    #[schema(format = "money")]
    total_amount: String,
    #[schema(format = "money")]
    tier_discount: String,
    #[schema(format = "money")]
    coupon_discount: String,
    /// Each presented coupon, in the order presented.
    coupons: Vec<QuoteCoupon>,
    points_to_redeem: i64,
    #[schema(format = "money")]
    points_offset: String,
    /// The cap: at most this many points on this basket.
    max_points_redeemable: i64,
    /// Points the member can spend now (points held by other reservations excluded).
    points_available: Option<i64>,
    #[schema(format = "money")]
    payable: String,
    points_to_earn: i64,
    tier_progress: Option<QuoteProgress>,
    reservation_id: Option<Uuid>,
    reservation_expires_at: Option<DateTime<Utc>>,
}

impl From<Quote> for QuoteView {
    fn from(q: Quote) -> Self {
        let p = q.pricing;
        QuoteView {
            customer_id: q.customer_id,
            tier: q.tier,
            lines: p
                .lines
                .iter()
                .enumerate()
                .map(|(i, l)| QuoteLine {
                    line_no: i + 1,
                    sku: String::new(),
                    amount: money(l.amount),
                    tier_discount: money(l.tier_discount),
                    coupon_discount: money(l.coupon_discount),
                    discounted_amount: money(l.discounted_amount),
                })
                .collect(),
            total_amount: money(p.total_amount),
            tier_discount: money(p.tier_discount),
            coupon_discount: money(p.coupon_discount),
            coupons: p
                .coupons
                .into_iter()
                .map(|c| QuoteCoupon {
                    code: c.code,
                    applied: c.applied,
                    discount: money(c.discount),
                    reason: c.reason.map(str::to_string),
                })
                .collect(),
            points_to_redeem: p.points_redeemed,
            points_offset: money(p.points_offset),
            max_points_redeemable: p.max_points,
            points_available: q.points_available,
            payable: money(p.payable),
            points_to_earn: p.points_to_earn,
            tier_progress: q.progress.map(Into::into),
            reservation_id: q.reservation.as_ref().map(|r| r.id),
            reservation_expires_at: q.reservation.as_ref().map(|r| r.expires_at),
        }
    }
}

/// What a basket costs this customer: tier discount on each line → coupons in the order that saves
/// most (a threshold such as 满300 is checked on the eligible lines after the tier discount) →
/// points offset (capped at 50% of what is left) → payable, points to earn and tier progress.
/// Each coupon that does not apply says why. Changes nothing, unless `reserve` is true: then the
/// applied coupons and the points are held for this customer until an order with the returned
/// `reservation_id` consumes them, the reservation is released, or it expires.
#[utoipa::path(
    tag = "checkout", request_body = QuoteInput, security(("bearer" = ["orders:write"])),
    responses(
        (status = 200, description = "The quote (and the reservation, when asked)", body = QuoteView),
        (status = 403, description = "`store_bound_principal`: a store-bound principal quoting for another store", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, `insufficient_points`, `points_over_limit`, `membership_not_found`, `customer_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/checkout/quote")]
async fn quote(
    auth: Auth<OrdersWrite>, state: web::Data<AppState>, catalogue: web::Data<CatalogueCache>,
    body: crate::http::Json<QuoteInput>,
) -> ApiResult<HttpResponse> {
    let request = body.into_inner().validate(&auth)?;
    let skus: Vec<String> = request.lines.iter().map(|l| l.sku.clone()).collect();
    let now = state.clock.now();
    let actor = auth.sub.clone();
    let ttl = state.config.reservation_ttl_seconds;
    let quote = if request.reserve {
        crate::db::transaction(&state.pool, move |conn| service::quote(conn, &catalogue, request, &actor, now, ttl))
            .await?
    } else {
        crate::db::run(&state.pool, move |conn| service::quote(conn, &catalogue, request, &actor, now, ttl)).await?
    };
    let mut view = QuoteView::from(quote);
    for (line, sku) in view.lines.iter_mut().zip(skus) {
        line.sku = sku;
    }
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d61", "customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "channel": "pos", "status": "held", "points": 1000,
    "coupon_codes": ["K7M4P9QX2HTR"], "quote": {"payable": "156.00"}, "expires_at": "2026-11-23T08:10:00Z",
    "order_id": null, "created_at": "2026-11-23T08:00:00Z", "closed_at": null}))]
pub struct ReservationView {
    id: Uuid,
    customer_id: Uuid,
    store_id: Option<Uuid>,
    channel: SalesChannel,
    /// `consumed` by `order_id`.
    status: crate::reservations::store::ReservationStatus,
    points: i64,
    coupon_codes: Vec<String>,
    /// The quote's totals when the hold was made.
    #[schema(value_type = Object)]
    quote: serde_json::Value,
    expires_at: DateTime<Utc>,
    order_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
}

fn reservation_view(r: Reservation, now: DateTime<Utc>) -> ReservationView {
    ReservationView {
        status: r.status_at(now),
        id: r.id,
        customer_id: r.customer_id,
        store_id: r.store_id,
        channel: r.channel,
        points: r.points,
        coupon_codes: r.coupon_codes,
        quote: r.quote,
        expires_at: r.expires_at,
        order_id: r.order_id,
        created_at: r.created_at,
        closed_at: r.closed_at,
    }
}

/// A reservation and whether it still holds (a store-bound principal: its own store's holds only).
#[utoipa::path(
    tag = "checkout", params(("id" = Uuid, Path)), security(("bearer" = ["orders:write"])),
    responses((status = 200, description = "The reservation", body = ReservationView), ReservationNotFound)
)]
#[get("/v1/checkout/reservations/{id}")]
async fn get_reservation(
    auth: Auth<OrdersWrite>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let now = state.clock.now();
    let scope = auth.store_scope();
    let r = crate::db::run(&state.pool, move |conn| store::get_in(conn, id, scope)).await?;
    Ok(HttpResponse::Ok().json(reservation_view(r, now)))
}

/// Releases a hold at once (the customer walked away); releasing again is harmless. The holding
/// store or a chain-wide principal (customer service) may release it; another store gets 404.
#[utoipa::path(
    tag = "checkout", params(("id" = Uuid, Path)), security(("bearer" = ["orders:write"])),
    responses(
        (status = 204, description = "Released"),
        crate::sales::api::ReservationNotFound,
        (status = 409, description = "`reservation_consumed`: an order used it", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/v1/checkout/reservations/{id}")]
async fn release_reservation(
    auth: Auth<OrdersWrite>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let now = state.clock.now();
    let scope = auth.store_scope();
    crate::db::transaction(&state.pool, move |conn| reservations::release(conn, id, scope, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}
