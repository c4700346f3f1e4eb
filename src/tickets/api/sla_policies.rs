//! SLA policies (`/v1/sla-policies`, SPEC §12): one per ticket priority. They govern every
//! store's tickets: every verb, reads included, is for chain-wide principals only (SPEC §3.1).

use actix_web::http::StatusCode;
use actix_web::{get, put, web, HttpResponse};
use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::error::{ApiResult, Problem, Violations};
use crate::http::auth::{Auth, ChainWide, TicketsRead, TicketsWrite};
use crate::http::IfMatch;
use crate::state::AppState;
use crate::tickets::api::TicketConfigIsTheChains;
use crate::tickets::config_store::{self as store, PolicyUpdate, SlaPolicy};
use crate::tickets::model::TicketPriority;

/// A week of minutes times 52: targets beyond a year make no sense.
const MAX_TARGET_MINUTES: i32 = 525_600;

fn hhmm<S: serde::Serializer>(value: &Option<NaiveTime>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(t) => s.serialize_str(&t.format("%H:%M").to_string()),
        None => s.serialize_none(),
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"priority": "normal", "first_response_minutes": 120, "resolution_minutes": 2880,
    "business_hours_start": "09:00", "business_hours_end": "21:00", "business_days": [1, 2, 3, 4, 5, 6, 7],
    "version": 1, "updated_at": "2026-11-23T08:00:00Z"}))]
pub struct PolicyView {
    priority: TicketPriority,
    first_response_minutes: i32,
    resolution_minutes: i32,
    /// Local time (business time zone) `HH:MM`; null with `business_hours_end`: around the clock.
    #[serde(serialize_with = "hhmm")]
    #[schema(value_type = Option<String>, example = "09:00")]
    business_hours_start: Option<NaiveTime>,
    #[serde(serialize_with = "hhmm")]
    #[schema(value_type = Option<String>, example = "21:00")]
    business_hours_end: Option<NaiveTime>,
    /// ISO weekdays (1 = Monday) the clock runs on; empty: every day.
    business_days: Vec<i32>,
    version: i32,
    updated_at: DateTime<Utc>,
}

impl From<SlaPolicy> for PolicyView {
    fn from(p: SlaPolicy) -> Self {
        PolicyView {
            priority: p.priority,
            first_response_minutes: p.first_response_minutes,
            resolution_minutes: p.resolution_minutes,
            business_hours_start: p.business_hours_start,
            business_hours_end: p.business_hours_end,
            business_days: p.business_days,
            version: p.version,
            updated_at: p.updated_at,
        }
    }
}

/// The SLA policies, one per priority (low, normal, high, urgent).
#[utoipa::path(
    tag = "tickets", operation_id = "list_sla_policies", security(("bearer" = ["tickets:read"])),
    responses((status = 200, description = "The four policies", body = Vec<PolicyView>), TicketConfigIsTheChains)
)]
#[get("/v1/sla-policies")]
pub(super) async fn list_policies(
    _auth: Auth<ChainWide<TicketsRead>>, state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let rows = crate::db::run(&state.pool, store::policies).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(PolicyView::from).collect::<Vec<_>>()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"first_response_minutes": 120, "resolution_minutes": 2880, "business_hours_start": "09:00",
    "business_hours_end": "21:00", "business_days": [1, 2, 3, 4, 5]}))]
pub struct PolicyPut {
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(value_type = i32, required = true, nullable = false, minimum = 1, maximum = 525600)]
    first_response_minutes: Option<i32>,
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(value_type = i32, required = true, nullable = false, minimum = 1, maximum = 525600)]
    resolution_minutes: Option<i32>,
    /// `HH:MM` local time; both or neither.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    business_hours_start: Option<String>,
    /// `HH:MM` local time, after the start.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    business_hours_end: Option<String>,
    /// ISO weekdays 1-7; empty or absent: every day.
    #[serde(default, deserialize_with = "crate::http::whole_numbers")]
    #[schema(max_items = 7)]
    business_days: Option<Vec<i32>>,
}

impl PolicyPut {
    fn validate(self) -> ApiResult<PolicyUpdate> {
        let mut v = Violations::new();
        for (field, value) in
            [("first_response_minutes", self.first_response_minutes), ("resolution_minutes", self.resolution_minutes)]
        {
            match value {
                None => v.add(field, "is required"),
                Some(m) => v.check((1..=MAX_TARGET_MINUTES).contains(&m), field, "must be 1-525600"),
            }
        }
        let mut time = |field: &str, raw: &Option<String>| -> Option<NaiveTime> {
            let raw = raw.as_deref()?;
            let t = NaiveTime::parse_from_str(raw, "%H:%M").ok();
            v.check(t.is_some(), field, "must be HH:MM");
            t
        };
        let start = time("business_hours_start", &self.business_hours_start);
        let end = time("business_hours_end", &self.business_hours_end);
        v.check(
            self.business_hours_start.is_some() == self.business_hours_end.is_some(),
            "business_hours_end",
            "business_hours_start and business_hours_end go together",
        );
        if let (Some(s), Some(e)) = (start, end) {
            v.check(s < e, "business_hours_end", "must be after business_hours_start");
        }
        let mut days = self.business_days.unwrap_or_default();
        v.check(days.iter().all(|d| (1..=7).contains(d)), "business_days", "each must be an ISO weekday 1-7");
        days.sort_unstable();
        days.dedup();
        v.into_result()?;
        Ok(PolicyUpdate {
            first_response_minutes: self.first_response_minutes.unwrap_or_default(),
            resolution_minutes: self.resolution_minutes.unwrap_or_default(),
            business_hours_start: start,
            business_hours_end: end,
            business_days: days,
        })
    }
}

/// Replace a priority's SLA policy; send `If-Match`. Open tickets take it from their next change.
#[utoipa::path(
    tag = "tickets", operation_id = "put_sla_policy", request_body = PolicyPut,
    params(("priority" = TicketPriority, Path, description = "The priority whose policy this is"), IfMatch),
    security(("bearer" = ["tickets:write"])),
    responses(
        (status = 200, description = "Replaced", body = PolicyView),
        crate::tickets::api::TicketConfigIsTheChains,
        (status = 404, description = "`sla_policy_not_found`", body = Problem, content_type = "application/problem+json"),
        crate::error::PreconditionFailed,
        crate::error::ValidationFailed,
    )
)]
#[put("/v1/sla-policies/{priority}")]
pub(super) async fn put_policy(
    auth: Auth<ChainWide<TicketsWrite>>, state: web::Data<AppState>, expected_version: IfMatch,
    priority: web::Path<String>, body: crate::http::Json<PolicyPut>,
) -> ApiResult<HttpResponse> {
    let priority = TicketPriority::parse(&priority.into_inner()).ok_or_else(store::policy_not_found)?;
    let update = body.into_inner().validate()?;
    let expected = expected_version.0;
    let now = state.clock.now();
    let who = auth.principal.clone();
    let p = crate::db::transaction(&state.pool, move |conn| {
        let p = store::put_policy(conn, priority, expected, &update, now)?;
        let detail = json!({"version": p.version, "first_response_minutes": p.first_response_minutes,
            "resolution_minutes": p.resolution_minutes});
        crate::audit::record(
            conn,
            &who,
            crate::audit::AuditAction::SlaPolicyUpdate,
            Some(priority.to_string()),
            detail,
        )?;
        Ok(p)
    })
    .await?;
    Ok(crate::http::versioned(StatusCode::OK, p.version, String::new(), &PolicyView::from(p)))
}
