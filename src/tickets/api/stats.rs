//! Ticket stats: volume, response and resolution times, SLA breaches, satisfaction.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiResult, Problem};
use crate::http::auth::{Auth, TicketsRead};
use crate::state::AppState;
use crate::tickets::rules;
use crate::tickets::store;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsParams {
    /// Tickets created at or after this.
    from: Option<DateTime<Utc>>,
    /// Tickets created before this.
    to: Option<DateTime<Utc>>,
    /// Only this team's tickets.
    team: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"key": "return", "count": 3}))]
pub struct TicketCount {
    key: String,
    count: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "team": null, "tickets": 4,
    "by_type": [{"key": "return", "count": 3}, {"key": "complaint", "count": 1}],
    "by_category": [{"key": "size_mismatch", "count": 2}, {"key": "(none)", "count": 2}],
    "median_first_response_minutes": 25.0, "median_resolution_minutes": 240.0, "sla_breach_rate": "0.2500",
    "csat_average": "4.33", "satisfaction_rate": "0.6667", "satisfaction_responses": 3}))]
pub struct TicketStats {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    team: Option<String>,
    /// Tickets created in the window.
    tickets: i64,
    /// Most first, then by key.
    by_type: Vec<TicketCount>,
    /// Most first, then by key; `(none)` for tickets without a category.
    by_category: Vec<TicketCount>,
    /// Wall-clock minutes from creation to the first public reply (0.1 minute), over tickets with one.
    median_first_response_minutes: Option<f64>,
    /// Wall-clock minutes from creation to resolution (0.1 minute), over resolved or closed tickets.
    median_resolution_minutes: Option<f64>,
    /// Tickets with any breach / tickets, 4 decimals.
    sla_breach_rate: String,
    /// Average score, 2 decimals; null without scores.
    csat_average: Option<String>,
    /// Scores of 4-5 / scores, 4 decimals.
    satisfaction_rate: String,
    satisfaction_responses: i64,
}

/// Ticket volume by type and category, median first response and resolution, SLA breach rate, CSAT
/// average and satisfaction rate, over tickets created in `[from, to)`.
#[utoipa::path(
    tag = "tickets", operation_id = "ticket_stats", params(StatsParams), security(("bearer" = ["tickets:read"])),
    responses(
        (status = 200, description = "The figures", body = TicketStats),
        (status = 422, description = "`validation_failed`: `from` not before `to`, or a window over 366 days (none given: the last 30 days)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/tickets/stats")]
pub(super) async fn ticket_stats(
    auth: Auth<TicketsRead>, state: web::Data<AppState>, params: web::Query<StatsParams>,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let (from, to) = crate::http::report_window(p.from, p.to, state.clock.now())?;
    let (team, store_id) = (p.team.clone(), auth.store_scope().only());
    let (totals, by_type, by_category) = crate::db::run(&state.pool, move |conn| {
        store::stats(conn, &store::StatsWindow { from: Some(from), to: Some(to), team: team.as_deref(), store_id })
    })
    .await?;
    let count =
        |rows: Vec<store::KeyCount>| rows.into_iter().map(|r| TicketCount { key: r.key, count: r.count }).collect();
    let stats = TicketStats {
        from: Some(from),
        to: Some(to),
        team: p.team,
        tickets: totals.tickets,
        by_type: count(by_type),
        by_category: count(by_category),
        median_first_response_minutes: totals.median_first_response_minutes.map(rules::round_tenth),
        median_resolution_minutes: totals.median_resolution_minutes.map(rules::round_tenth),
        sla_breach_rate: rules::ratio(totals.breached, totals.tickets),
        csat_average: rules::average(totals.score_sum, totals.scores),
        satisfaction_rate: rules::ratio(totals.satisfied, totals.scores),
        satisfaction_responses: totals.scores,
    };
    Ok(HttpResponse::Ok().json(stats))
}
