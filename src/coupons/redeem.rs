//! Redemption (核销): loading presented coupons (locked when value moves), marking them used once,
//! giving them back on a full refund, and the stand-alone redeem / rollback endpoints.

use actix_web::{post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::codes;
use super::model::{Coupon, CouponStatus, Template};
use super::rules::{blocked_reason, standalone_discount, CouponResult, Presentation, Presented};
use crate::error::{ApiError, ApiResult, Problem};
use crate::events::types::{CouponRedeemed, CouponRolledBack, EventData};
use crate::http::auth::{Auth, CouponsRedeem, StoreScope};
use crate::ids::{CustomerId, OrderId, StoreId};
use crate::schema::{coupon_redemptions as cr, coupon_templates as ct, coupons as c};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(redeem).service(rollback);
}

/// A presented code and what it turned out to be.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The canonical code, or what was typed when it cannot be a code.
    pub code: String,
    pub found: Option<(Coupon, Template)>,
}

/// Loads the presented coupons and their templates. With `lock`, the coupon rows are locked in
/// code order (templates are not: a popular campaign must not serialize every till).
pub fn load(conn: &mut PgConnection, typed: &[String], lock: bool) -> ApiResult<Vec<Loaded>> {
    let canonical: Vec<Option<String>> = typed.iter().map(|t| codes::canonical(t)).collect();
    let mut wanted: Vec<&String> = canonical.iter().flatten().collect();
    wanted.sort();
    wanted.dedup();
    let (coupons, templates): (Vec<Coupon>, Vec<Template>) = if wanted.is_empty() {
        (Vec::new(), Vec::new())
    } else if lock {
        let coupons: Vec<Coupon> = c::table
            .filter(c::code.eq_any(&wanted))
            .order(c::code)
            .select(Coupon::as_select())
            .for_update()
            .load(conn)?;
        let ids: Vec<Uuid> = coupons.iter().map(|c| c.template_id).collect();
        (coupons, ct::table.filter(ct::id.eq_any(&ids)).select(Template::as_select()).load(conn)?)
    } else {
        let rows: Vec<(Coupon, Template)> = c::table
            .inner_join(ct::table)
            .filter(c::code.eq_any(&wanted))
            .select((Coupon::as_select(), Template::as_select()))
            .load(conn)?;
        rows.into_iter().unzip()
    };
    Ok(typed
        .iter()
        .zip(canonical)
        .map(|(t, canon)| {
            let found = canon.as_ref().and_then(|code| {
                let coupon = coupons.iter().find(|c| &c.code == code)?;
                let template = templates.iter().find(|t| t.id == coupon.template_id)?;
                Some((coupon.clone(), template.clone()))
            });
            Loaded { code: canon.unwrap_or_else(|| t.trim().to_uppercase()), found }
        })
        .collect())
}

/// The coupons as pricing sees them: terms, or why they cannot be used here and now.
pub fn presented(loaded: &[Loaded], at: &Presentation) -> Vec<Presented> {
    loaded
        .iter()
        .map(|l| match &l.found {
            None => Presented { code: l.code.clone(), terms: None, blocked: None },
            Some((coupon, template)) => {
                let terms = template.terms();
                let blocked = match &terms {
                    Some(t) => blocked_reason(coupon, template.status, t, at),
                    None => Some("template_invalid"),
                };
                Presented { code: l.code.clone(), terms, blocked }
            }
        })
        .collect()
}

/// The error for a sale whose coupons do not all apply: 409 when one was already used (the
/// race a till can lose), else 422 `coupon_not_applicable` naming each coupon and why.
pub fn not_applicable(results: &[CouponResult]) -> Option<ApiError> {
    let failed: Vec<&CouponResult> = results.iter().filter(|r| !r.applied).collect();
    let first = failed.first()?;
    let reason = first.reason.unwrap_or("not_applicable");
    if let Some(used) = failed.iter().find(|r| r.reason == Some("already_redeemed")) {
        return Some(
            ApiError::conflict("coupon_already_redeemed", format!("coupon {} has already been redeemed", used.code))
                .with("coupon_code", used.code.clone()),
        );
    }
    let details: Vec<_> = failed.iter().map(|r| json!({"code": r.code, "reason": r.reason})).collect();
    Some(
        ApiError::unprocessable("coupon_not_applicable", format!("coupon {} does not apply: {reason}", first.code))
            .with("reason", reason)
            .with("coupons", details),
    )
}

/// What a redemption is part of.
pub struct Use<'a> {
    pub customer_id: CustomerId,
    pub order_id: Option<OrderId>,
    pub order_reference: Option<&'a str>,
    pub store_id: Option<StoreId>,
    pub channel: Option<&'a str>,
    /// The sale's amount (GMV for the template's stats).
    pub amount: Decimal,
}

fn already_redeemed(code: &str) -> ApiError {
    ApiError::conflict("coupon_already_redeemed", format!("coupon {code} has already been redeemed"))
        .with("coupon_code", code.to_string())
}

/// The redemption statement of one coupon, not yet run.
fn mark_redeemed_statement<'a>(
    coupon: &'a Coupon, id: Uuid, discount: Decimal, used: &'a Use<'a>, actor: &'a str, now: DateTime<Utc>,
) -> impl diesel::query_dsl::methods::ExecuteDsl<PgConnection> + RunQueryDsl<PgConnection> + crate::db::cached_sql::Binds + 'a
{
    use diesel::sql_types::{Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
    crate::db::CachedSql::new(include_str!("mark_redeemed.sql"))
        .param::<Text, _>("code", &coupon.code)
        .param::<Timestamptz, _>("at", now)
        .param::<SqlUuid, _>("id", id)
        .param::<SqlUuid, _>("customer", used.customer_id)
        .param::<Nullable<SqlUuid>, _>("order_id", used.order_id)
        .param::<Nullable<Text>, _>("order_reference", used.order_reference)
        .param::<Nullable<SqlUuid>, _>("store_id", used.store_id)
        .param::<Nullable<Text>, _>("channel", used.channel)
        .param::<Numeric, _>("amount", used.amount)
        .param::<Numeric, _>("discount", discount)
        .param::<Text, _>("actor", actor)
        .param::<Text, _>("available", CouponStatus::Available)
        .param::<Text, _>("redeemed", CouponStatus::Redeemed)
}

/// Marks one coupon redeemed and records the use. The status guard and the unique index on live
/// redemptions make a second 核销 of the same code impossible, lock or no lock.
pub fn mark_redeemed(
    conn: &mut PgConnection, coupon: &Coupon, discount: Decimal, used: &Use, actor: &str, now: DateTime<Utc>,
) -> ApiResult<Uuid> {
    let id = Uuid::now_v7();
    let inserted =
        mark_redeemed_statement(coupon, id, discount, used, actor, now).execute(conn).map_err(
            |e| match ApiError::from(e) {
                err if err.code() == "already_exists" => already_redeemed(&coupon.code),
                err => err,
            },
        )?;
    if inserted == 0 {
        return Err(already_redeemed(&coupon.code));
    }
    Ok(id)
}

/// Redeems the coupons an order applied; returns the `coupon.redeemed` events to write.
pub fn redeem_applied(
    conn: &mut PgConnection, loaded: &[Loaded], results: &[CouponResult], used: &Use, actor: &str, now: DateTime<Utc>,
) -> ApiResult<Vec<crate::events::Pending>> {
    let mut events = Vec::new();
    for (l, r) in loaded.iter().zip(results).filter(|(_, r)| r.applied) {
        let Some((coupon, _)) = &l.found else { continue };
        mark_redeemed(conn, coupon, r.discount, used, actor, now)?;
        let redeemed = CouponRedeemed {
            code: coupon.code.clone(),
            template_id: coupon.template_id,
            order_id: used.order_id.map(Into::into),
            order_reference: None,
            store_id: used.store_id.map(Into::into),
            discount: CouponRedeemed::discount(r.discount),
        };
        events.push((Some(used.customer_id.uuid()), EventData::CouponRedeemed(redeemed)));
    }
    Ok(events)
}

/// Gives back an order's coupons after it was refunded in full: each still-valid coupon becomes
/// available again; an expired one stays used. Returns the codes given back.
pub fn return_for_order(conn: &mut PgConnection, order_id: OrderId, now: DateTime<Utc>) -> ApiResult<Vec<String>> {
    let live: Vec<(Uuid, String)> = cr::table
        .filter(cr::order_id.eq(order_id))
        .filter(cr::undone_at.is_null())
        .select((cr::id, cr::code))
        .load(conn)?;
    let mut returned = Vec::new();
    for (redemption, code) in live {
        let coupon: Coupon = c::table.find(&code).select(Coupon::as_select()).for_update().first(conn)?;
        if coupon.expires_at <= now || coupon.status != CouponStatus::Redeemed {
            continue;
        }
        undo(conn, redemption, &code, "refund", now)?;
        returned.push(code);
    }
    Ok(returned)
}

fn undo(conn: &mut PgConnection, redemption: Uuid, code: &str, why: &str, now: DateTime<Utc>) -> ApiResult<()> {
    diesel::update(cr::table.find(redemption)).set((cr::undone_at.eq(now), cr::undone_reason.eq(why))).execute(conn)?;
    diesel::update(c::table.find(code))
        .set((
            c::status.eq(CouponStatus::Available),
            c::redeemed_at.eq(None::<DateTime<Utc>>),
            c::version.eq(c::version + 1),
            c::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

fn coupon_not_found() -> ApiError {
    ApiError::not_found("coupon_not_found", "no coupon with this code")
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "order_reference": "POS-20261123-0042", "amount": "320.00"}))]
pub struct RedeemInput {
    /// Who presents the coupon: it must be theirs.
    customer_id: Uuid,
    /// Where; a store-bound caller redeems at its own store only (the default; another is 403
    /// `store_bound_principal`).
    store_id: Option<Uuid>,
    /// The till's own sale number, kept with the redemption.
    #[schema(min_length = 1, max_length = 128, format = "non-blank")]
    order_reference: String,
    /// The sale's amount: thresholds are checked against it and the discount computed on it.
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, format = "money", example = "320.00")]
    amount: Decimal,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"redemption_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60", "code": "K7M4P9QX2HTR",
    "customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "order_reference": "POS-20261123-0042",
    "amount": "320.00", "discount": "50.00", "payable": "270.00", "gift_sku": null, "redeemed_at": "2026-11-23T08:00:00Z"}))]
pub struct RedemptionView {
    redemption_id: Uuid,
    code: String,
    customer_id: Uuid,
    order_reference: String,
    #[schema(value_type = String, format = "money")]
    #[serde(with = "crate::money::required")]
    amount: Decimal,
    #[schema(value_type = String, format = "money")]
    #[serde(with = "crate::money::required")]
    discount: Decimal,
    /// `amount − discount`: what the customer pays.
    #[schema(value_type = String, format = "money")]
    #[serde(with = "crate::money::required")]
    payable: Decimal,
    /// For a gift coupon: the SKU to hand over.
    gift_sku: Option<String>,
    redeemed_at: DateTime<Utc>,
}

fn lock_coupon(conn: &mut PgConnection, typed: &str) -> ApiResult<Coupon> {
    let code = codes::canonical(typed).ok_or_else(coupon_not_found)?;
    c::table.find(&code).select(Coupon::as_select()).for_update().first(conn).optional()?.ok_or_else(coupon_not_found)
}

/// Stand-alone redemption (核销) for a till that prices the sale itself.
#[utoipa::path(
    tag = "coupons",
    params(("code" = String, Path, description = "The coupon code, any case")),
    request_body = RedeemInput,
    responses(
        (status = 201, description = "Redeemed", body = RedemptionView),
        crate::error::OtherStoreForbidden,
        crate::coupons::api::CouponNotFound,
        (status = 409, description = "`coupon_already_redeemed`: the code was used before (or by another till just now)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`coupon_not_applicable` with `reason` (`not_owner`, `expired`, `below_threshold`, `wrong_store`, ...)", body = Problem, content_type = "application/problem+json"),
    ), security(("bearer" = ["coupons:redeem"]))
)]
#[post("/v1/coupons/{code}/redeem")]
pub async fn redeem(
    state: web::Data<AppState>, auth: Auth<CouponsRedeem>, code: web::Path<String>,
    body: crate::http::Json<RedeemInput>,
) -> ApiResult<HttpResponse> {
    let input = body.into_inner();
    let store_id = auth.acting_store(input.store_id)?;
    let reference = input.order_reference.trim().to_string();
    if reference.is_empty() || reference.chars().count() > 128 {
        return Err(ApiError::invalid("order_reference", "must be 1-128 characters"));
    }
    if input.amount < Decimal::ZERO || input.amount >= crate::money::MAX_AMOUNT {
        return Err(ApiError::invalid("amount", "must be 0 or more and below 10^12"));
    }
    let actor = auth.sub.clone();
    let now = state.clock.now();
    let view = crate::db::transaction(&state.pool, move |conn| {
        let coupon = lock_coupon(conn, &code)?;
        let template: Template = ct::table.find(coupon.template_id).select(Template::as_select()).first(conn)?;
        let terms = template.terms().ok_or_else(|| ApiError::internal("coupon template without terms"))?;
        let at =
            Presentation { customer_id: Some(input.customer_id), store_id, channel: None, now, reservation_id: None };
        let outcome = blocked_reason(&coupon, template.status, &terms, &at)
            .map_or_else(|| standalone_discount(&terms, input.amount), Err);
        let discount = match outcome {
            Ok(d) => d,
            Err(reason) => {
                let result = CouponResult {
                    code: coupon.code.clone(),
                    applied: false,
                    discount: Decimal::ZERO,
                    reason: Some(reason),
                };
                return Err(not_applicable(&[result]).unwrap_or_else(|| ApiError::internal("no reason")));
            }
        };
        let used = Use {
            customer_id: CustomerId(input.customer_id),
            order_id: None,
            order_reference: Some(&reference),
            store_id: store_id.map(StoreId),
            channel: None,
            amount: input.amount,
        };
        let id = mark_redeemed(conn, &coupon, discount, &used, &actor, now)?;
        let redeemed = CouponRedeemed {
            code: coupon.code.clone(),
            template_id: coupon.template_id,
            order_id: None,
            order_reference: Some(reference.clone()),
            store_id,
            discount: CouponRedeemed::discount(discount),
        };
        crate::events::emit(conn, Some(input.customer_id), EventData::CouponRedeemed(redeemed))?;
        Ok(RedemptionView {
            redemption_id: id,
            code: coupon.code,
            customer_id: input.customer_id,
            order_reference: reference,
            amount: input.amount,
            discount,
            payable: input.amount - discount,
            gift_sku: template.gift_sku,
            redeemed_at: now,
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(view))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "sale cancelled at the till"}))]
pub struct RollbackInput {
    /// Why the redemption is undone (kept in the audit log).
    #[schema(max_length = 500)]
    reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"code": "K7M4P9QX2HTR", "redemption_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60",
    "status": "available", "rolled_back_at": "2026-11-23T08:05:00Z"}))]
pub struct RollbackView {
    code: String,
    redemption_id: Uuid,
    /// `available` again (or `expired` if its time has passed meanwhile).
    status: CouponStatus,
    rolled_back_at: DateTime<Utc>,
}

/// Undoes a stand-alone redemption (the sale was cancelled at the till). A coupon used by an order
/// comes back through a full refund of that order instead.
///
/// A store-bound caller rolls back only redemptions made at its store: for it, a code with no live
/// redemption at its store is not found, exactly like an unknown code, so a till learns nothing
/// about other stores' coupons.
#[utoipa::path(
    tag = "coupons",
    params(("code" = String, Path, description = "The coupon code, any case")),
    request_body = RollbackInput,
    responses(
        (status = 200, description = "Rolled back", body = RollbackView),
        (status = 404, description = "`coupon_not_found`: no such coupon, or (for a store-bound caller) no live redemption of it at the caller's store", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`coupon_not_redeemed` (chain-wide callers), or `coupon_redeemed_by_order` (refund the order instead)", body = Problem, content_type = "application/problem+json"),
    ), security(("bearer" = ["coupons:redeem"]))
)]
#[post("/v1/coupons/{code}/rollback")]
pub async fn rollback(
    state: web::Data<AppState>, auth: Auth<CouponsRedeem>, code: web::Path<String>,
    body: crate::http::Json<RollbackInput>,
) -> ApiResult<HttpResponse> {
    let reason = body.into_inner().reason;
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(ApiError::invalid("reason", "at most 500 characters"));
    }
    let scope = auth.store_scope();
    let who = auth.principal.clone();
    let now = state.clock.now();
    let view = crate::db::transaction(&state.pool, move |conn| {
        let coupon = lock_coupon(conn, &code)?;
        let live = live_redemption(conn, &coupon.code, scope)?;
        let Some(LiveRedemption { id: redemption, order_id: order, store_id: redeemed_at_store }) = live else {
            return Err(match scope {
                StoreScope::Chain => {
                    ApiError::conflict("coupon_not_redeemed", "the coupon has no redemption to roll back")
                }
                StoreScope::Store(_) => coupon_not_found(),
            });
        };
        if order.is_some() {
            return Err(ApiError::conflict(
                "coupon_redeemed_by_order",
                "the coupon was used by an order: a full refund of the order gives it back",
            ));
        }
        undo(conn, redemption, &coupon.code, "rollback", now)?;
        // The till's words stay in the audit log, not in the event (events carry no free text).
        let detail = json!({"redemption_id": redemption, "reason": reason});
        crate::audit::record(conn, &who, crate::audit::AuditAction::CouponRollback, Some(coupon.code.clone()), detail)?;
        let rolled_back =
            CouponRolledBack { code: coupon.code.clone(), redemption_id: redemption, store_id: redeemed_at_store };
        crate::events::emit(conn, Some(coupon.customer_id), EventData::CouponRolledBack(rolled_back))?;
        let status = if coupon.expires_at <= now { CouponStatus::Expired } else { CouponStatus::Available };
        Ok(RollbackView { code: coupon.code, redemption_id: redemption, status, rolled_back_at: now })
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// A code's redemption that was not undone.
#[derive(Queryable)]
struct LiveRedemption {
    id: Uuid,
    order_id: Option<Uuid>,
    store_id: Option<Uuid>,
}

/// A code's live redemption made within the caller's stores.
fn live_redemption(conn: &mut PgConnection, code: &str, scope: StoreScope) -> ApiResult<Option<LiveRedemption>> {
    let mut q = cr::table
        .filter(cr::code.eq(code))
        .filter(cr::undone_at.is_null())
        .select((cr::id, cr::order_id, cr::store_id))
        .into_boxed();
    if let Some(store) = scope.only() {
        q = q.filter(cr::store_id.eq(store));
    }
    Ok(q.first(conn).optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redemption_binds_each_parameter_by_name() {
        let now = DateTime::UNIX_EPOCH;
        let coupon = crate::coupons::model::sample_coupon(Uuid::nil(), now);
        let used = Use {
            customer_id: CustomerId(Uuid::nil()),
            order_id: None,
            order_reference: Some("S-1"),
            store_id: None,
            channel: Some("pos"),
            amount: Decimal::ONE_HUNDRED,
        };
        let query = mark_redeemed_statement(&coupon, Uuid::nil(), Decimal::TEN, &used, "till", now);
        assert_eq!(crate::db::cached_sql::verify(&query), Ok(()));
    }
}
