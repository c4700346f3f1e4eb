//! Reports about customers: churn risk, the repurchase interval, members, the category forecast and
//! a customer's recommendations.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{money, rate, Count};
use crate::analytics::api::ChainWideReport;
use crate::analytics::export::{self, Cell, Row};
use crate::analytics::{rules, store};
use crate::error::{ApiError, ApiResult};
use crate::http::auth::{AnalyticsRead, Auth, ChainWide};
use crate::http::pagination::{Page, PageParams};
use crate::state::AppState;

/// The longest category name a report takes.
const CATEGORY_MAX: usize = 100;

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "name": "张三",
    "last_order_on": "2026-10-01", "days_since_last_order": 60, "orders_last_90": 3, "orders_prior_90": 4,
    "usual_interval_days": "20.0", "reasons": ["overdue_for_rhythm"]}))]
pub struct AtRiskCustomer {
    customer_id: Uuid,
    name: Option<String>,
    last_order_on: NaiveDate,
    days_since_last_order: i32,
    /// Counted orders in the last 90 days, and in the 90 before (SPEC §9).
    orders_last_90: i64,
    orders_prior_90: i64,
    /// The median days between the customer's buying days (three buying days or more).
    usual_interval_days: Option<String>,
    /// `orders_halved` (the last 90 days at most half the 90 before, which were ≥ 2) and/or
    /// `overdue_for_rhythm` (away more than twice the usual interval).
    reasons: Vec<String>,
}

impl Row for AtRiskCustomer {
    const COLUMNS: &'static [&'static str] = &[
        "customer_id",
        "name",
        "last_order_on",
        "days_since_last_order",
        "orders_last_90",
        "orders_prior_90",
        "usual_interval_days",
        "reasons",
    ];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.customer_id.to_string().as_str().into(),
            self.name.as_deref().into(),
            self.last_order_on.to_string().as_str().into(),
            i64::from(self.days_since_last_order).into(),
            self.orders_last_90.into(),
            self.orders_prior_90.into(),
            self.usual_interval_days.clone().map(Cell::Decimal).into(),
            self.reasons.join(";").as_str().into(),
        ]
    }
}

/// Live customers at risk of churning today, longest away first (customers gone over 365 days are
/// lost, not listed): by the two 90-day order counts, or by their own rhythm — a customer who buys
/// every 20 days and has been away 60 is listed long before a fixed 90-day rule would notice.
#[utoipa::path(
    tag = "analytics", operation_id = "analytics_churn_risk", params(PageParams),
    security(("bearer" = ["analytics:read"])),
    responses(
        (status = 200, description = "A page of customers at risk, with their reasons", body = Page<AtRiskCustomer>),
        crate::analytics::api::ChainWideReport,
    )
)]
#[get("/v1/analytics/churn-risk")]
async fn churn_risk(
    req: HttpRequest, _auth: Auth<ChainWide<AnalyticsRead>>, state: web::Data<AppState>, page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let limit = page.limit()?;
    let after = page.after::<String>()?.map(|key| parse_cursor(&key)).transpose()?;
    let today = state.today();
    let rows =
        crate::db::run(&state.reports_pool, move |conn| store::churn_risk(conn, today, after, limit + 1)).await?;
    let items = rows
        .into_iter()
        .map(|r| {
            let days_since_last_order = (today - r.last_order_on).num_days() as i32;
            let facts = rules::ChurnFacts {
                orders_last_90: r.orders_last_90,
                orders_prior_90: r.orders_prior_90,
                days_since_last_order,
                usual_interval_days: r.usual_interval_days,
            };
            AtRiskCustomer {
                customer_id: r.customer_id,
                name: r.name,
                last_order_on: r.last_order_on,
                days_since_last_order,
                orders_last_90: r.orders_last_90,
                orders_prior_90: r.orders_prior_90,
                usual_interval_days: r.usual_interval_days.map(|d| format!("{d:.1}")),
                reasons: rules::churn_reasons(&facts).into_iter().map(|r| r.as_str().to_string()).collect(),
            }
        })
        .collect::<Vec<_>>();
    let page = Page::from_rows(items, limit, |c| format!("{}|{}", c.last_order_on, c.customer_id));
    if let Some(file) = export::file(export::format_of(&req), &format!("churn-risk-{today}"), &page.items)? {
        return Ok(file);
    }
    Ok(HttpResponse::Ok().json(page))
}

fn parse_cursor(key: &str) -> ApiResult<(NaiveDate, Uuid)> {
    let bad = || ApiError::bad_request("invalid_cursor", "the cursor is not one this API returned");
    let (day, id) = key.split_once('|').ok_or_else(bad)?;
    Ok((day.parse().map_err(|_| bad())?, id.parse().map_err(|_| bad())?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RepurchaseParams {
    /// One category (default: every category).
    #[param(max_length = 100)]
    category: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"category": "童装", "customers": 1800, "intervals": 5200, "median_days": "61.0"}))]
pub struct RepurchaseInterval {
    category: String,
    /// Customers who bought the category on two days or more.
    customers: i64,
    /// Gaps between their consecutive buying days.
    intervals: i64,
    /// The median gap, in days.
    median_days: Option<String>,
}

impl Row for RepurchaseInterval {
    const COLUMNS: &'static [&'static str] = &["category", "customers", "intervals", "median_days"];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.category.as_str().into(),
            self.customers.into(),
            self.intervals.into(),
            self.median_days.clone().map(Cell::Decimal).into(),
        ]
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"rows": [{"category": "童装", "customers": 1800, "intervals": 5200, "median_days": "61.0"}]}))]
pub struct RepurchaseReport {
    rows: Vec<RepurchaseInterval>,
}

/// The median days between purchases in a category (the seeds' "童装 about every 2 months"), over
/// every customer who bought it on two days or more; every category without `category`.
#[utoipa::path(
    tag = "analytics", operation_id = "analytics_repurchase_interval", params(RepurchaseParams),
    security(("bearer" = ["analytics:read"])),
    responses((status = 200, description = "One row per category", body = RepurchaseReport), ChainWideReport)
)]
#[get("/v1/analytics/repurchase-interval")]
async fn repurchase_interval(
    req: HttpRequest, _auth: Auth<ChainWide<AnalyticsRead>>, state: web::Data<AppState>,
    params: web::Query<RepurchaseParams>,
) -> ApiResult<HttpResponse> {
    let category = params.into_inner().category;
    if category.as_ref().is_some_and(|c| c.chars().count() > CATEGORY_MAX) {
        return Err(ApiError::invalid("category", "at most 100 characters"));
    }
    let rows = crate::db::run(&state.reports_pool, move |conn| store::repurchase(conn, category.as_deref())).await?;
    let rows = rows
        .into_iter()
        .map(|r| RepurchaseInterval {
            category: r.category,
            customers: r.customers,
            intervals: r.intervals,
            median_days: r.median_days.map(|d| format!("{d:.1}")),
        })
        .collect::<Vec<_>>();
    if let Some(file) = export::file(export::format_of(&req), "repurchase-interval", &rows)? {
        return Ok(file);
    }
    Ok(HttpResponse::Ok().json(RepurchaseReport { rows }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MembersParams {
    /// First business day (default: 29 days before `to`).
    from: Option<NaiveDate>,
    /// Last business day (default: today); at most 366 days in all.
    to: Option<NaiveDate>,
    /// The growth series' step: `day`, `week` (from Monday) or `month` (default `day`).
    #[param(pattern = "^(day|week|month)$")]
    group_by: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"from": "2026-11-01", "to": "2026-11-30", "group_by": "day", "members": 98000,
    "by_tier": [{"key": "normal", "count": 80000}, {"key": "silver", "count": 15000}, {"key": "gold", "count": 3000}],
    "growth": [{"key": "2026-11-20", "count": 85}], "buying_members": 21000, "repeat_members": 7600,
    "repurchase_rate": "0.3619"}))]
pub struct MembersReport {
    from: NaiveDate,
    to: NaiveDate,
    group_by: String,
    /// Members now.
    members: i64,
    /// Members per tier now, lowest tier first.
    by_tier: Vec<Count>,
    /// Members enrolled per step of the window (the step's first day).
    growth: Vec<Count>,
    /// Members with an order in the window, and with two or more.
    buying_members: i64,
    repeat_members: i64,
    /// Repeat ÷ buying members, 4 places; null without buyers.
    repurchase_rate: Option<String>,
}

/// Members by tier, enrolments per day, week or month, and the repurchase rate (members with two
/// orders or more in the window, of those with one or more).
#[utoipa::path(
    tag = "analytics", operation_id = "analytics_members", params(MembersParams),
    security(("bearer" = ["analytics:read"])),
    responses(
        (status = 200, description = "The figures", body = MembersReport),
        crate::analytics::api::ChainWideReport,
        (status = 422, description = "`validation_failed`: a bad window or `group_by`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/analytics/members")]
async fn members(
    req: HttpRequest, _auth: Auth<ChainWide<AnalyticsRead>>, state: web::Data<AppState>,
    params: web::Query<MembersParams>,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let (from, to) = crate::http::day_window(p.from, p.to, state.today())?;
    let group_by = p.group_by.unwrap_or_else(|| "day".into());
    if !["day", "week", "month"].contains(&group_by.as_str()) {
        return Err(ApiError::invalid("group_by", "must be day, week or month"));
    }
    let (unit, tz) = (group_by.clone(), state.config.timezone);
    let (by_tier, growth, buyers) = crate::db::run(&state.reports_pool, move |conn| {
        Ok((
            store::members_by_tier(conn)?,
            store::member_growth(conn, from, to, &unit, tz)?,
            store::member_buyers(conn, from, to)?,
        ))
    })
    .await?;
    let count = |rows: Vec<store::KeyCount>| -> Vec<Count> {
        rows.into_iter().map(|r| Count { key: r.key, count: r.count }).collect()
    };
    let growth = count(growth);
    if let Some(file) = export::file(export::format_of(&req), &format!("member-growth-{from}-{to}"), &growth)? {
        return Ok(file);
    }
    Ok(HttpResponse::Ok().json(MembersReport {
        from,
        to,
        group_by,
        members: by_tier.iter().map(|t| t.count).sum(),
        by_tier: count(by_tier),
        growth,
        buying_members: buyers.buying,
        repeat_members: buyers.repeat,
        repurchase_rate: rate(rules::ratio(Decimal::from(buyers.repeat), Decimal::from(buyers.buying))),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForecastParams {
    /// The category to project.
    #[param(min_length = 1, max_length = 100)]
    category: String,
    /// Months ahead, from the current month: 1–24 (default 3).
    #[param(minimum = 1, maximum = 24)]
    months: Option<u32>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"month": "2026-07-01", "base_month": "2025-07-01", "base_net": "1322.50", "years_ahead": 1,
    "forecast": "1520.88"}))]
pub struct ForecastMonthView {
    month: NaiveDate,
    base_month: NaiveDate,
    base_net: String,
    years_ahead: i32,
    forecast: String,
}

impl Row for ForecastMonthView {
    const COLUMNS: &'static [&'static str] = &["month", "base_month", "base_net", "years_ahead", "forecast"];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.month.to_string().as_str().into(),
            self.base_month.to_string().as_str().into(),
            Cell::Decimal(self.base_net.clone()),
            i64::from(self.years_ahead).into(),
            Cell::Decimal(self.forecast.clone()),
        ]
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"from": "2025-07-01", "to": "2026-06-01", "net": "18200.00"}))]
pub struct YearTotalView {
    /// The first and last month of the 12.
    from: NaiveDate,
    to: NaiveDate,
    net: String,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"category": "连衣裙", "method": "seasonal naive with a yearly trend",
    "history_months": 36, "history": [{"month": "2025-07-01", "net": "1322.50"}],
    "years": [{"from": "2025-07-01", "to": "2026-06-01", "net": "18200.00"}], "growth_rate": "0.1500",
    "months": [{"month": "2026-07-01", "base_month": "2025-07-01", "base_net": "1322.50", "years_ahead": 1, "forecast": "1520.88"}]}))]
pub struct ForecastReport {
    category: String,
    /// How each month is computed: the same month in the latest year of the history × (1 + growth)
    /// per year ahead; growth is the compound yearly growth of the 12-month totals, from the oldest
    /// year with sales to the latest: (latest / oldest)^(1/(years − 1)) − 1; 0 with fewer than two.
    method: String,
    history_months: u32,
    /// Net sales per month of the history (months without sales are left out).
    history: Vec<MonthNet>,
    /// The history's 12-month totals, most recent first.
    years: Vec<YearTotalView>,
    growth_rate: String,
    months: Vec<ForecastMonthView>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"month": "2025-07-01", "net": "1322.50"}))]
pub struct MonthNet {
    month: NaiveDate,
    net: String,
}

/// Monthly sales of a category projected ahead: the same month in earlier years, scaled by the
/// year-over-year trend, with the method and every input in the response (checkable by hand).
#[utoipa::path(
    tag = "analytics", operation_id = "analytics_forecast", params(ForecastParams),
    security(("bearer" = ["analytics:read"])),
    responses(
        (status = 200, description = "The projection and its inputs", body = ForecastReport),
        crate::analytics::api::ChainWideReport,
        (status = 422, description = "`validation_failed`: `months` outside 1–24, a blank category", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/analytics/forecast")]
async fn forecast(
    req: HttpRequest, _auth: Auth<ChainWide<AnalyticsRead>>, state: web::Data<AppState>,
    params: web::Query<ForecastParams>,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let months = p.months.unwrap_or(3);
    if !(1..=rules::FORECAST_MAX_MONTHS).contains(&months) {
        return Err(ApiError::invalid("months", "must be between 1 and 24"));
    }
    if p.category.trim().is_empty() || p.category.chars().count() > CATEGORY_MAX {
        return Err(ApiError::invalid("category", "must not be blank, at most 100 characters"));
    }
    let first = rules::month_start(state.today(), 0);
    let since = rules::month_start(first, -(rules::FORECAST_HISTORY_MONTHS as i32));
    let category = p.category.clone();
    let history =
        crate::db::run(&state.reports_pool, move |conn| store::category_months(conn, &category, since, first)).await?;
    let f = rules::forecast(&history, first, months);
    let projected: Vec<ForecastMonthView> = f
        .months
        .into_iter()
        .map(|m| ForecastMonthView {
            month: m.month,
            base_month: m.base_month,
            base_net: money(m.base_net),
            years_ahead: m.years_ahead,
            forecast: money(m.forecast),
        })
        .collect();
    if let Some(file) = export::file(export::format_of(&req), &format!("forecast-{first}"), &projected)? {
        return Ok(file);
    }
    Ok(HttpResponse::Ok().json(ForecastReport {
        category: p.category,
        method: "seasonal naive with a yearly trend: forecast = the same month in the latest year of the history × \
                 (1 + growth_rate) per year ahead; growth_rate = (latest 12-month total / oldest 12-month total with \
                 sales)^(1/(years - 1)) - 1, 0 with fewer than two such years"
            .into(),
        history_months: rules::FORECAST_HISTORY_MONTHS,
        history: history.iter().map(|m| MonthNet { month: m.month, net: money(m.net) }).collect(),
        years: f.years.iter().map(|y| YearTotalView { from: y.from, to: y.to, net: money(y.net) }).collect(),
        growth_rate: format!("{:.4}", f.growth_rate),
        months: projected,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecommendationParams {
    /// Items of each kind, 1–20 (default 5).
    #[param(minimum = 1, maximum = 20)]
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"item": "玩具", "score": 41}))]
pub struct Recommended {
    /// A category or a SKU.
    item: String,
    /// Orders in which it was bought together with something this customer bought.
    score: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "recent_days": 30,
    "categories": [{"item": "玩具", "score": 41}], "skus": [{"item": "SKU-TOY-7", "score": 12}]}))]
pub struct Recommendations {
    customer_id: Uuid,
    /// What the customer bought in these days is not recommended.
    recent_days: i32,
    categories: Vec<Recommended>,
    skus: Vec<Recommended>,
}

/// Categories and SKUs bought together (in one order) with what this customer bought, most often
/// first, leaving out what they bought in the last 30 days (推荐引擎, item-to-item co-purchase).
#[utoipa::path(
    tag = "analytics", operation_id = "customer_recommendations",
    params(("id" = Uuid, Path, description = "Customer id"), RecommendationParams),
    security(("bearer" = ["analytics:read"])),
    responses(
        (status = 200, description = "The recommendations", body = Recommendations),
        crate::customers::api::CustomerNotFound,
        (status = 422, description = "`validation_failed`: `limit` outside 1–20", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/customers/{id}/recommendations")]
async fn recommendations(
    _auth: Auth<AnalyticsRead>, state: web::Data<AppState>, id: web::Path<Uuid>,
    params: web::Query<RecommendationParams>,
) -> ApiResult<HttpResponse> {
    use crate::orders::co_purchase;
    let limit = params.limit.unwrap_or(5);
    if !(1..=20).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 20"));
    }
    let id = id.into_inner();
    let since = state.today() - chrono::Duration::days(i64::from(co_purchase::RECENT_DAYS - 1));
    let tz = state.config.timezone;
    let (categories, skus) = crate::db::run(&state.reports_pool, move |conn| {
        crate::customers::store::get_profile(conn, id)?;
        let bought = co_purchase::bought(conn, id, since, tz)?;
        let by_category = co_purchase::matrix(conn, "category", Some(&bought.categories))?;
        let by_sku = co_purchase::matrix(conn, "sku", Some(&bought.skus))?;
        Ok((
            co_purchase::recommend(&bought.categories, &bought.categories_recently, &by_category, limit),
            co_purchase::recommend(&bought.skus, &bought.skus_recently, &by_sku, limit),
        ))
    })
    .await?;
    let view = |items: Vec<(String, i64)>| items.into_iter().map(|(item, score)| Recommended { item, score }).collect();
    Ok(HttpResponse::Ok().json(Recommendations {
        customer_id: id,
        recent_days: co_purchase::RECENT_DAYS,
        categories: view(categories),
        skus: view(skus),
    }))
}
