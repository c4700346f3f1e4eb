//! `/v1/segments`: saved audiences, their preview and their members (SPEC §9). The chain's
//! marketing: chain-wide principals only.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::compile::Evaluation;
use super::definition::{self, top_level, Node};
use super::store::{self, Segment};
use crate::audit::{audited, AuditAction};
use crate::customers::model::CustomerView;
use crate::error::{ApiResult, Problem, Violations};
use crate::http::auth::{Auth, CampaignsRead, CampaignsWrite, ChainWide};
use crate::http::pagination::{Page, PageParams};
use crate::http::{versioned, IfMatch};
use crate::state::AppState;

// Problem responses several operations name.
crate::problem_response!(pub CatalogueIsTheChains = 403, "`store_bound_principal`: the catalogue is the chain's");
crate::problem_response!(pub SegmentDefinitionInvalid = 422, "`validation_failed`, naming the path in the definition");
crate::problem_response!(pub SegmentNameTaken = 409, "`segment_name_taken`");
crate::problem_response!(pub SegmentNotFound = 404, "`segment_not_found`");
crate::problem_response!(pub SegmentsAreTheChains = 403, "`forbidden` without the scope; `store_bound_principal`: segments are the chain's");
crate::problem_response!(pub TagNotFound = 404, "`tag_not_found`");

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_segment)
        .service(list_segments)
        .service(preview_definition)
        .service(get_segment)
        .service(update_segment)
        .service(delete_segment)
        .service(preview_segment)
        .service(segment_customers);
}

/// How many customers a preview lists.
pub const PREVIEW_SAMPLE: i64 = 20;

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "name": "上海沉睡会员",
    "definition": {"all": [{"field": "city", "op": "eq", "value": "上海"}, {"field": "lifecycle_stage", "op": "eq", "value": "dormant"}]},
    "version": 1, "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z"}))]
pub struct SegmentView {
    id: Uuid,
    name: String,
    /// The definition as saved (SPEC §9).
    #[schema(value_type = Object)]
    definition: Value,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Segment> for SegmentView {
    fn from(s: Segment) -> Self {
        SegmentView {
            id: s.id,
            name: s.name,
            definition: s.definition,
            version: s.version,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

fn segment_response(status: StatusCode, segment: Segment) -> HttpResponse {
    let (version, location) = (segment.version, format!("/v1/segments/{}", segment.id));
    versioned(status, version, location, &SegmentView::from(segment))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "上海沉睡会员",
    "definition": {"all": [{"field": "city", "op": "eq", "value": "上海"}, {"field": "lifecycle_stage", "op": "eq", "value": "dormant"}]}}))]
pub struct SegmentCreate {
    /// Unique (ignoring case), not blank.
    #[schema(min_length = 1, max_length = 100, format = "non-blank")]
    name: String,
    #[schema(value_type = Object)]
    definition: Value,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "上海沉睡会员（2026）"}))]
pub struct SegmentPatch {
    /// Unique (ignoring case), not blank.
    #[schema(min_length = 1, max_length = 100, format = "non-blank")]
    name: Option<String>,
    #[schema(value_type = Option<Object>)]
    definition: Option<Value>,
}

/// The trimmed name and the definition, checked.
fn validate(name: Option<String>, definition: Option<&Value>) -> ApiResult<Option<String>> {
    let mut v = Violations::new();
    let name = name.map(|n| n.trim().to_string());
    if let Some(n) = &name {
        v.check(!n.is_empty() && n.chars().count() <= 100, "name", "must be 1-100 characters");
    }
    if let Some(Err(m)) = definition.map(|d| definition::parse(d, "definition")) {
        v.add(m.path, m.message);
    }
    v.into_result()?;
    Ok(name)
}

/// Save a segment.
#[utoipa::path(
    tag = "segments", operation_id = "create_segment", request_body = SegmentCreate,
    security(("bearer" = ["campaigns:write"])),
    responses(
        (status = 201, description = "Saved", body = SegmentView),
        crate::segments::api::SegmentsAreTheChains,
        crate::segments::api::SegmentNameTaken,
        (status = 422, description = "`validation_failed`, naming the path in the definition (e.g. `definition.all[1].op`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/segments")]
async fn create_segment(
    auth: Auth<ChainWide<CampaignsWrite>>, state: web::Data<AppState>, body: crate::http::Json<SegmentCreate>,
) -> ApiResult<HttpResponse> {
    let SegmentCreate { name, definition } = body.into_inner();
    let name = validate(Some(name), Some(&definition))?.unwrap_or_default();
    let write = move |conn: &mut PgConnection| store::insert(conn, &name, &definition);
    let segment = audited(&state.pool, &auth, AuditAction::SegmentCreate, write, |done| done.id).await?;
    Ok(segment_response(StatusCode::CREATED, segment))
}

/// List segments.
#[utoipa::path(
    tag = "segments", operation_id = "list_segments", params(PageParams), security(("bearer" = ["campaigns:read"])),
    responses((status = 200, description = "Segments by id", body = Page<SegmentView>), SegmentsAreTheChains)
)]
#[get("/v1/segments")]
async fn list_segments(
    _auth: Auth<ChainWide<CampaignsRead>>, state: web::Data<AppState>, page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let fetch = move |conn: &mut PgConnection, after, n| store::list(conn, after, n);
    let page = page.load(&state.pool, fetch, |s: &SegmentView| s.id.to_string());
    Ok(HttpResponse::Ok().json(page.await?))
}

/// Read a segment.
#[utoipa::path(
    tag = "segments", operation_id = "get_segment",
    params(("id" = Uuid, Path, description = "Segment id")), security(("bearer" = ["campaigns:read"])),
    responses((status = 200, description = "The segment", body = SegmentView), SegmentsAreTheChains, SegmentNotFound)
)]
#[get("/v1/segments/{id}")]
async fn get_segment(
    _auth: Auth<ChainWide<CampaignsRead>>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let segment = crate::db::run(&state.pool, move |conn| store::get(conn, id)).await?;
    Ok(segment_response(StatusCode::OK, segment))
}

/// Change a segment's name or definition; send `If-Match` with the ETag you read.
#[utoipa::path(
    tag = "segments", operation_id = "update_segment", request_body = SegmentPatch,
    params(("id" = Uuid, Path, description = "Segment id"), IfMatch), security(("bearer" = ["campaigns:write"])),
    responses(
        (status = 200, description = "Changed", body = SegmentView),
        crate::segments::api::SegmentsAreTheChains,
        crate::segments::api::SegmentNotFound,
        crate::segments::api::SegmentNameTaken,
        crate::error::PreconditionFailed,
        crate::segments::api::SegmentDefinitionInvalid,
    )
)]
#[patch("/v1/segments/{id}")]
async fn update_segment(
    auth: Auth<ChainWide<CampaignsWrite>>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
    body: crate::http::Json<SegmentPatch>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let SegmentPatch { name, definition } = body.into_inner();
    let name = validate(name, definition.as_ref())?;
    let expected = expected_version.0;
    let write = move |conn: &mut PgConnection| store::update(conn, id, expected, name.as_deref(), definition.as_ref());
    let segment = audited(&state.pool, &auth, AuditAction::SegmentUpdate, write, move |_| id).await?;
    Ok(segment_response(StatusCode::OK, segment))
}

/// Delete a segment.
#[utoipa::path(
    tag = "segments", operation_id = "delete_segment",
    params(("id" = Uuid, Path, description = "Segment id")), security(("bearer" = ["campaigns:write"])),
    responses(
        (status = 204, description = "Deleted"),
        crate::segments::api::SegmentsAreTheChains,
        crate::segments::api::SegmentNotFound,
        (status = 409, description = "`segment_in_use`: a campaign's audience", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/v1/segments/{id}")]
async fn delete_segment(
    auth: Auth<ChainWide<CampaignsWrite>>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let write = move |conn: &mut PgConnection| store::delete(conn, id);
    audited(&state.pool, &auth, AuditAction::SegmentDelete, write, move |_| id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"path": "definition.all[0]", "condition": {"field": "city", "op": "eq", "value": "上海"}, "customers": 5200}))]
pub struct PreviewStep {
    /// Where the condition is in the definition.
    path: String,
    #[schema(value_type = Object)]
    condition: Value,
    /// Live customers left after this condition and those before it (for a root `any`: reached by
    /// any of them).
    customers: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"customers": 1200, "evaluated_on": "2026-11-23",
    "customer_ids": ["0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e"],
    "steps": [{"path": "definition.all[0]", "condition": {"field": "city", "op": "eq", "value": "上海"}, "customers": 5200},
              {"path": "definition.all[1]", "condition": {"field": "lifecycle_stage", "op": "eq", "value": "dormant"}, "customers": 1200}]}))]
pub struct Preview {
    /// The exact number of live customers in the segment.
    customers: i64,
    /// The business day the definition was evaluated on (ages, windows, lifecycle).
    evaluated_on: NaiveDate,
    /// The first 20 by id.
    customer_ids: Vec<Uuid>,
    /// The count left after each top-level condition in turn: why the audience is the size it is.
    steps: Vec<PreviewStep>,
}

/// Evaluates on the business day of now, after the activity has caught up with the outbox.
pub fn evaluation(state: &AppState) -> Evaluation {
    let now = state.clock.now();
    let zone = state.config.timezone;
    Evaluation { today: now.with_timezone(&zone).date_naive(), now, zone }
}

fn preview(conn: &mut diesel::PgConnection, raw: &Value, at: Evaluation) -> ApiResult<Preview> {
    let node = store::parse_saved(raw)?;
    crate::customers::activity::follow(conn, at.zone)?;
    let counts = store::steps(conn, &node, at)?;
    let audience = counts.last().copied().unwrap_or(0);
    // Nobody to list: no second pass over the customers looking for them.
    let ids = if audience > 0 { store::members(conn, &node, at, None, PREVIEW_SAMPLE)? } else { Vec::new() };
    let root = match &node {
        Node::All(_) => "definition.all",
        Node::Any(_) => "definition.any",
        _ => "definition",
    };
    let conditions: Vec<Value> = match raw.get("all").or_else(|| raw.get("any")).and_then(Value::as_array) {
        Some(children) if !matches!(node, Node::Not(_) | Node::Condition(_)) => children.clone(),
        _ => vec![raw.clone()],
    };
    let steps = top_level(&node)
        .iter()
        .enumerate()
        .zip(conditions)
        .zip(&counts)
        .map(|(((i, _), condition), customers)| PreviewStep {
            path: if root == "definition" { root.to_string() } else { format!("{root}[{i}]") },
            condition,
            customers: *customers,
        })
        .collect();
    Ok(Preview { customers: audience, evaluated_on: at.today, customer_ids: ids, steps })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"definition": {"all": [{"field": "consent.marketing_sms", "op": "eq", "value": true},
    {"field": "days_since_last_order", "op": "gt", "value": 90}]}}))]
pub struct PreviewInput {
    #[schema(value_type = Object)]
    definition: Value,
}

/// Preview an unsaved definition: the exact count, the first 20 ids and the count after each
/// top-level condition.
#[utoipa::path(
    tag = "segments", operation_id = "preview_definition", request_body = PreviewInput,
    security(("bearer" = ["campaigns:read"])),
    responses(
        (status = 200, description = "The audience", body = Preview),
        crate::segments::api::SegmentsAreTheChains,
        crate::segments::api::SegmentDefinitionInvalid,
    )
)]
#[post("/v1/segments/preview")]
async fn preview_definition(
    _auth: Auth<ChainWide<CampaignsRead>>, state: web::Data<AppState>, body: crate::http::Json<PreviewInput>,
) -> ApiResult<HttpResponse> {
    let raw = body.into_inner().definition;
    store::parse_saved(&raw)?;
    let at = evaluation(&state);
    let result = crate::db::run(&state.pool, move |conn| preview(conn, &raw, at)).await?;
    Ok(HttpResponse::Ok().json(result))
}

/// Preview a saved segment.
#[utoipa::path(
    tag = "segments", operation_id = "preview_segment",
    params(("id" = Uuid, Path, description = "Segment id")), security(("bearer" = ["campaigns:read"])),
    responses((status = 200, description = "The audience", body = Preview), SegmentsAreTheChains, SegmentNotFound)
)]
#[get("/v1/segments/{id}/preview")]
async fn preview_segment(
    _auth: Auth<ChainWide<CampaignsRead>>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let at = evaluation(&state);
    let result = crate::db::run(&state.pool, move |conn| {
        let segment = store::get(conn, id)?;
        preview(conn, &segment.definition, at)
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// The segment's customers today, by id (also needs `customers:read`; unmasked with `customers:pii`,
/// which is audited).
#[utoipa::path(
    tag = "segments", operation_id = "list_segment_customers",
    params(("id" = Uuid, Path, description = "Segment id"), PageParams),
    security(("bearer" = ["campaigns:read", "customers:read"])),
    responses(
        (status = 200, description = "Customers by id", body = Page<CustomerView>),
        (status = 403, description = "`forbidden` without both scopes; `store_bound_principal`: segments are the chain's", body = Problem, content_type = "application/problem+json"),
        crate::segments::api::SegmentNotFound,
    )
)]
#[get("/v1/segments/{id}/customers")]
async fn segment_customers(
    auth: Auth<ChainWide<CampaignsRead>>, state: web::Data<AppState>, id: web::Path<Uuid>, page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    auth.require_scope("customers:read")?;
    let id = id.into_inner();
    let at = evaluation(&state);
    let who = auth.principal.clone();
    let (limit, after) = (page.limit()?, page.after::<Uuid>()?);
    let views = crate::db::run(&state.pool, move |conn| {
        let segment = store::get(conn, id)?;
        let node = store::parse_saved(&segment.definition)?;
        crate::customers::activity::follow(conn, at.zone)?;
        let ids = store::members(conn, &node, at, after, limit + 1)?;
        crate::customers::api::views_of(conn, &who, &ids, at.today)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |c| c.id.to_string())))
}
