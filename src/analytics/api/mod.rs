//! `/v1/analytics/*`: thin handlers over `store` and the rules. A store-bound principal reads its
//! own store's dashboard and sales (`store_id` defaults to its store); everything else is the chain's.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::export::{self, Cell, Row};
use super::rules;
use super::store::{self, GroupBy};
use crate::error::ApiResult;
use crate::http::auth::{AnalyticsRead, Auth, ChainWide};
use crate::state::AppState;
use crate::stores::SalesChannel;

// Problem responses several operations name.
crate::problem_response!(pub ChainWideReport = 403, "`store_bound_principal`: a chain-wide report");

mod customers;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(dashboard)
        .service(sales)
        .service(lifecycle)
        .service(rfm)
        .service(customers::churn_risk)
        .service(customers::repurchase_interval)
        .service(customers::members)
        .service(customers::forecast)
        .service(customers::recommendations);
}

fn money(amount: Decimal) -> String {
    crate::money::format(amount)
}

fn rate(value: Option<Decimal>) -> Option<String> {
    value.map(|v| format!("{:.4}", v))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashboardParams {
    /// The business day in `CRM_TIMEZONE` (default: today).
    date: Option<NaiveDate>,
    /// One store (a store-bound principal: its own, the default); none: the chain.
    store_id: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"key": "pos", "count": 120}))]
pub struct Count {
    key: String,
    count: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"date": "2026-11-20", "store_id": null, "sales": "580000.00", "gross_sales": "596000.00",
    "refunded": "16000.00", "orders": 3200, "member_orders": 2400, "target": "630000.00", "attainment": "0.9206",
    "store_sales": "203000.00", "online_sales": "377000.00", "store_orders": 1120, "online_orders": 2080,
    "online_share": "0.6500", "new_customers": 210, "new_customers_store": 120, "new_customers_online": 90,
    "new_customers_by_channel": [{"key": "pos", "count": 120}, {"key": "wechat_mini_program", "count": 90}],
    "new_members": 85, "active_members": 15400, "members": 98000}))]
pub struct Dashboard {
    date: NaiveDate,
    store_id: Option<Uuid>,
    /// Paid for the day's orders, net of their refunds (a refund lowers its order's day).
    sales: String,
    gross_sales: String,
    refunded: String,
    /// Orders placed that day and not fully refunded.
    orders: i64,
    /// Of those, orders with a customer.
    member_orders: i64,
    /// The daily targets of the active stores in scope; null when none has one.
    target: Option<String>,
    /// Sales of the stores with a target ÷ their targets (4 places); null without a target.
    attainment: Option<String>,
    /// Sales at stores of kind `store`; online: online shops and orders without a store.
    store_sales: String,
    online_sales: String,
    store_orders: i64,
    online_orders: i64,
    /// Online orders ÷ orders (4 places); null without orders.
    online_share: Option<String>,
    /// Customers registered that day (for a store: whose home store it is).
    new_customers: i64,
    /// Registered through a store channel (`pos`, `store_staff`).
    new_customers_store: i64,
    new_customers_online: i64,
    new_customers_by_channel: Vec<Count>,
    /// Members enrolled that day (for a store: enrolled there).
    new_members: i64,
    /// Members with an order in the 30 days up to the day.
    active_members: i64,
    members: i64,
}

/// The day's figures: sales and orders net of refunds, target attainment, online vs store share,
/// new customers by channel, new and active members. Summaries follow the sales within a minute.
#[utoipa::path(
    tag = "analytics", operation_id = "analytics_dashboard", params(DashboardParams),
    security(("bearer" = ["analytics:read"])),
    responses(
        (status = 200, description = "The day's figures", body = Dashboard),
        (status = 403, description = "`store_bound_principal`: another store's dashboard", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/analytics/dashboard")]
async fn dashboard(
    auth: Auth<AnalyticsRead>, state: web::Data<AppState>, params: web::Query<DashboardParams>,
) -> ApiResult<HttpResponse> {
    let store = auth.acting_store(params.store_id)?;
    let date = params.date.unwrap_or_else(|| state.today());
    let tz = state.config.timezone;
    let (day, channels, members) = crate::db::run(&state.reports_pool, move |conn| {
        Ok((
            store::day_sales(conn, date, store)?,
            store::new_customers(conn, date, store, tz)?,
            store::member_counts(conn, date, store, tz)?,
        ))
    })
    .await?;
    let new_customers: i64 = channels.iter().map(|c| c.count).sum();
    let new_customers_store: i64 = channels
        .iter()
        .filter(|c| SalesChannel::parse(&c.key).is_some_and(SalesChannel::in_store))
        .map(|c| c.count)
        .sum();
    let online_orders = day.orders - day.store_orders;
    Ok(HttpResponse::Ok().json(Dashboard {
        date,
        store_id: store,
        sales: money(day.sales),
        gross_sales: money(day.gross),
        refunded: money(day.refunded),
        orders: day.orders,
        member_orders: day.member_orders,
        target: day.target.map(money),
        attainment: rate(day.target.and_then(|t| rules::ratio(day.targeted_sales, t))),
        store_sales: money(day.store_sales),
        online_sales: money(day.sales - day.store_sales),
        store_orders: day.store_orders,
        online_orders,
        online_share: rate(rules::ratio(Decimal::from(online_orders), Decimal::from(day.orders))),
        new_customers,
        new_customers_store,
        new_customers_online: new_customers - new_customers_store,
        new_customers_by_channel: channels.into_iter().map(|c| Count { key: c.key, count: c.count }).collect(),
        new_members: members.new_members,
        active_members: members.active_members,
        members: members.members,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SalesParams {
    /// First business day (default: 29 days before `to`).
    from: Option<NaiveDate>,
    /// Last business day (default: today); at most 366 days in all.
    to: Option<NaiveDate>,
    /// `day`, `week` (from Monday), `month`, `store`, `channel` or `category` (default `day`).
    #[param(inline)]
    group_by: Option<GroupBy>,
    /// One store (a store-bound principal: its own, the default); none: the chain.
    store_id: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"key": "2026-11-20", "label": null, "orders": 3200, "quantity": null,
    "gross": "596000.00", "refunded": "16000.00", "net": "580000.00"}))]
pub struct SalesLine {
    /// The day, week's Monday, month (`YYYY-MM`), store id (empty: no store), channel or category.
    key: String,
    /// The store's name when grouped by store.
    label: Option<String>,
    orders: i64,
    /// Items sold (by category only).
    quantity: Option<i64>,
    /// Paid and refunded (not by category: lines carry no share of the points used).
    gross: Option<String>,
    refunded: Option<String>,
    net: String,
}

impl Row for SalesLine {
    const COLUMNS: &'static [&'static str] = &["key", "label", "orders", "quantity", "gross", "refunded", "net"];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.key.as_str().into(),
            self.label.as_deref().into(),
            self.orders.into(),
            self.quantity.into(),
            self.gross.clone().map(Cell::Decimal).into(),
            self.refunded.clone().map(Cell::Decimal).into(),
            Cell::Decimal(self.net.clone()),
        ]
    }
}

impl Row for Count {
    const COLUMNS: &'static [&'static str] = &["key", "count"];
    fn cells(&self) -> Vec<Cell> {
        vec![self.key.as_str().into(), self.count.into()]
    }
}

impl Row for crate::customers::rfm::Cell {
    const COLUMNS: &'static [&'static str] = &["r", "f", "m", "segment", "customers"];
    fn cells(&self) -> Vec<Cell> {
        vec![
            i64::from(self.r).into(),
            i64::from(self.f).into(),
            i64::from(self.m).into(),
            self.segment.as_str().into(),
            self.customers.into(),
        ]
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"from": "2026-11-01", "to": "2026-11-30", "group_by": "day", "store_id": null,
    "rows": [{"key": "2026-11-20", "label": null, "orders": 3200, "quantity": null, "gross": "596000.00",
              "refunded": "16000.00", "net": "580000.00"}]}))]
pub struct SalesReport {
    from: NaiveDate,
    to: NaiveDate,
    #[schema(inline)]
    group_by: GroupBy,
    store_id: Option<Uuid>,
    rows: Vec<SalesLine>,
}

/// Sales of business days `from..=to` by day, week, month, store, channel or category, net of refunds.
#[utoipa::path(
    tag = "analytics", operation_id = "analytics_sales", params(SalesParams), security(("bearer" = ["analytics:read"])),
    responses(
        (status = 200, description = "The rows, in key order", body = SalesReport),
        (status = 403, description = "`store_bound_principal`: another store's sales", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `to` before `from`, or over 366 days", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/analytics/sales")]
async fn sales(
    req: HttpRequest, auth: Auth<AnalyticsRead>, state: web::Data<AppState>, params: web::Query<SalesParams>,
) -> ApiResult<HttpResponse> {
    let store = auth.acting_store(params.store_id)?;
    let (from, to) = crate::http::day_window(params.from, params.to, state.today())?;
    let group_by = params.group_by.unwrap_or(GroupBy::Day);
    let rows = crate::db::run(&state.reports_pool, move |conn| store::sales(conn, from, to, group_by, store)).await?;
    let rows = rows
        .into_iter()
        .map(|r| SalesLine {
            key: r.key,
            label: r.label,
            orders: r.orders,
            quantity: r.quantity,
            gross: r.gross.map(money),
            refunded: r.refunded.map(money),
            net: money(r.net),
        })
        .collect::<Vec<_>>();
    if let Some(file) = export::file(export::format_of(&req), &format!("sales-{from}-{to}"), &rows)? {
        return Ok(file);
    }
    Ok(HttpResponse::Ok().json(SalesReport { from, to, group_by, store_id: store, rows }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayParams {
    /// The business day (default: today).
    date: Option<NaiveDate>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"date": "2026-11-30", "customers": 1200,
    "stages": [{"key": "active", "count": 300}, {"key": "prospect", "count": 900}]}))]
pub struct LifecycleReport {
    date: NaiveDate,
    /// Live customers (merged and erased ones are not).
    customers: i64,
    /// Every stage of SPEC §9, zero included.
    stages: Vec<Count>,
}

/// Live customers per lifecycle stage on a day (SPEC §9's stages).
#[utoipa::path(
    tag = "analytics", operation_id = "analytics_lifecycle", params(DayParams),
    security(("bearer" = ["analytics:read"])),
    responses((status = 200, description = "Counts per stage", body = LifecycleReport), ChainWideReport)
)]
#[get("/v1/analytics/lifecycle")]
async fn lifecycle(
    req: HttpRequest, _auth: Auth<ChainWide<AnalyticsRead>>, state: web::Data<AppState>, params: web::Query<DayParams>,
) -> ApiResult<HttpResponse> {
    let date = params.date.unwrap_or_else(|| state.today());
    let counts = crate::db::run(&state.reports_pool, move |conn| store::lifecycle(conn, date)).await?;
    let stages: Vec<Count> = crate::customers::lifecycle::LifecycleStage::ALL
        .iter()
        .map(|stage| Count {
            key: stage.as_str().to_string(),
            count: counts.iter().find(|c| c.key == stage.as_str()).map_or(0, |c| c.count),
        })
        .collect();
    if let Some(file) = export::file(export::format_of(&req), &format!("lifecycle-{date}"), &stages)? {
        return Ok(file);
    }
    Ok(HttpResponse::Ok().json(LifecycleReport { date, customers: stages.iter().map(|s| s.count).sum(), stages }))
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"segment": "champions", "customers": 120, "share": "0.1000"}))]
pub struct SegmentCount {
    segment: String,
    customers: i64,
    /// Of the scored customers, 4 places.
    share: String,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"rfm_map": "v1", "as_of": "2026-11-30", "window_days": 365, "customers": 1200,
    "computed_at": "2026-11-30T00:01:00Z",
    "segments": [{"segment": "champions", "customers": 120, "share": "0.1000"}],
    "bands": [{"measure": "recency_days", "score": 5, "low": "0", "high": "12", "customers": 240}],
    "cells": [{"r": 5, "f": 5, "m": 5, "segment": "champions", "customers": 40}]}))]
pub struct RfmReport {
    /// The version of the segment map (SPEC §13).
    rfm_map: String,
    /// The business day the scores were computed for (the `rfm` job, daily); null before the first run.
    as_of: Option<NaiveDate>,
    window_days: i32,
    /// Live customers with an order in the window, scored.
    customers: i64,
    computed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Every segment of the map, zero included.
    segments: Vec<SegmentCount>,
    /// What each score spans, per measure: the quintile cut points.
    bands: Vec<crate::customers::rfm::Band>,
    /// The distribution: customers per (R, F, M).
    cells: Vec<crate::customers::rfm::Cell>,
}

/// RFM quintile scores over the 365 days to the snapshot's day: segments of the `v1` map, the score
/// bands and the distribution. Scores are recomputed once per business day (the `rfm` job).
#[utoipa::path(
    tag = "analytics", operation_id = "analytics_rfm", security(("bearer" = ["analytics:read"])),
    responses((status = 200, description = "The snapshot", body = RfmReport), crate::analytics::api::ChainWideReport)
)]
#[get("/v1/analytics/rfm")]
async fn rfm(
    req: HttpRequest, _auth: Auth<ChainWide<AnalyticsRead>>, state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    use crate::customers::rfm;
    let (snapshot, cells, bands) = crate::db::run(&state.reports_pool, |conn| {
        Ok((rfm::snapshot(conn)?, rfm::distribution(conn)?, rfm::bands(conn)?))
    })
    .await?;
    let as_of = snapshot.as_ref().map_or_else(|| "none".to_string(), |s| s.as_of.to_string());
    if let Some(file) = export::file(export::format_of(&req), &format!("rfm-{as_of}"), &cells)? {
        return Ok(file);
    }
    let customers: i64 = cells.iter().map(|c| c.customers).sum();
    let segments = rfm::segments()
        .map(|segment| {
            let n: i64 = cells.iter().filter(|c| c.segment == segment).map(|c| c.customers).sum();
            SegmentCount {
                segment: segment.to_string(),
                customers: n,
                share: rate(rules::ratio(Decimal::from(n), Decimal::from(customers)))
                    .unwrap_or_else(|| "0.0000".into()),
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(RfmReport {
        rfm_map: rfm::MAP_VERSION.to_string(),
        as_of: snapshot.as_ref().map(|s| s.as_of),
        window_days: rfm::WINDOW_DAYS,
        customers,
        computed_at: snapshot.map(|s| s.computed_at),
        segments,
        bands,
        cells,
    }))
}
