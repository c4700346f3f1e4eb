//! The lead funnel: stages reached, conversion between them, response time, SLA breaches.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiResult, Problem, Violations};
use crate::http::auth::{Auth, LeadsRead};
use crate::leads::model::LeadStatus;
use crate::leads::rules;
use crate::leads::store;
use crate::state::AppState;
use crate::stores::SalesChannel;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LeadFunnelParams {
    /// Leads created at or after this instant (default: 30 days before `to`).
    from: Option<DateTime<Utc>>,
    /// Leads created before this instant (default: now); at most 366 days after `from`.
    to: Option<DateTime<Utc>>,
    /// One store's leads; a store-bound caller's default and only choice (another: 403 `store_bound_principal`).
    store_id: Option<Uuid>,
    /// A channel.
    #[param(format = "channel")]
    source: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"created": 10, "assigned": 8, "contacted": 6, "qualified": 3, "won": 2, "lost": 3}))]
pub struct LeadStageCounts {
    /// Leads created in the window.
    created: i64,
    /// ... that were ever assigned.
    assigned: i64,
    /// ... that got a first response.
    contacted: i64,
    /// ... that were qualified.
    qualified: i64,
    /// ... won, and lost (now).
    won: i64,
    lost: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"created_to_assigned": "0.8000", "assigned_to_contacted": "0.7500",
    "contacted_to_qualified": "0.5000", "qualified_to_won": "0.6667"}))]
pub struct LeadConversion {
    /// 4 decimals; null when the earlier stage is 0.
    created_to_assigned: Option<String>,
    assigned_to_contacted: Option<String>,
    contacted_to_qualified: Option<String>,
    qualified_to_won: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "store_id": null, "source": null,
    "counts": {"created": 10, "assigned": 8, "contacted": 6, "qualified": 3, "won": 2, "lost": 3},
    "conversion": {"created_to_assigned": "0.8000", "assigned_to_contacted": "0.7500",
                   "contacted_to_qualified": "0.5000", "qualified_to_won": "0.6667"},
    "median_first_response_minutes": "6.5", "sla_breached": 2, "sla_breach_rate": "0.2500"}))]
pub struct LeadFunnel {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    store_id: Option<Uuid>,
    source: Option<String>,
    counts: LeadStageCounts,
    conversion: LeadConversion,
    /// Median of `first_response_at - assigned_at` over contacted leads, minutes with 1 decimal; null when none.
    median_first_response_minutes: Option<String>,
    sla_breached: i64,
    /// `sla_breached / assigned`, 4 decimals; null when none was assigned.
    sla_breach_rate: Option<String>,
}

/// The lead funnel over leads created in `[from, to)`: how many reached each stage, the
/// conversion between stages, the median first response and the SLA breach rate.
/// A store-bound caller sees its own store's figures.
#[utoipa::path(
    tag = "leads", operation_id = "lead_funnel", params(LeadFunnelParams), security(("bearer" = ["leads:read"])),
    responses(
        (status = 200, description = "The funnel", body = LeadFunnel),
        crate::error::OtherStoreForbidden,
        (status = 422, description = "`validation_failed`: `from` not before `to`, a window over 366 days, unknown source", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/leads/funnel")]
pub(super) async fn lead_funnel(
    auth: Auth<LeadsRead>, state: web::Data<AppState>, params: web::Query<LeadFunnelParams>,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let mut v = Violations::new();
    let wanted = v.word::<SalesChannel>("source", p.source.as_deref());
    v.into_result()?;
    let (from, to) = crate::http::report_window(p.from, p.to, state.clock.now())?;
    let store_id = auth.acting_store(p.store_id)?;
    let rows = crate::db::run(&state.pool, move |conn| store::funnel_rows(conn, from, to, store_id, wanted)).await?;
    let count = |f: &dyn Fn(&store::FunnelRow) -> bool| rows.iter().filter(|r| f(r)).count() as i64;
    let counts = LeadStageCounts {
        created: rows.len() as i64,
        assigned: count(&|r| r.assigned_at.is_some()),
        contacted: count(&|r| r.first_response_at.is_some()),
        qualified: count(&|r| r.qualified_at.is_some()),
        won: count(&|r| r.status == LeadStatus::Won),
        lost: count(&|r| r.status == LeadStatus::Lost),
    };
    let breached = count(&|r| r.sla_breached);
    let responses: Vec<i64> = rows
        .iter()
        .filter_map(|r| match (r.assigned_at, r.first_response_at) {
            (Some(a), Some(f)) => Some((f - a).num_seconds().max(0)),
            _ => None,
        })
        .collect();
    Ok(HttpResponse::Ok().json(LeadFunnel {
        from,
        to,
        store_id,
        source: p.source,
        conversion: LeadConversion {
            created_to_assigned: rules::ratio(counts.assigned, counts.created),
            assigned_to_contacted: rules::ratio(counts.contacted, counts.assigned),
            contacted_to_qualified: rules::ratio(counts.qualified, counts.contacted),
            qualified_to_won: rules::ratio(counts.won, counts.qualified),
        },
        median_first_response_minutes: rules::median_minutes(responses),
        sla_breached: breached,
        sla_breach_rate: rules::ratio(breached, counts.assigned),
        counts,
    }))
}
