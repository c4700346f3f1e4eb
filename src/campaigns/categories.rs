//! The category catalogue (issue 22): the category names a marketing message may show. Order
//! lines carry whatever category a till or a channel sends, so `{{usual_categories}}` and
//! `{{recommended_categories}}` render only names a chain-wide principal has put here, each a
//! plain name (`rules::category_name_problem`).

use std::collections::HashSet;

use actix_web::{delete, get, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::rules;
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::auth::{Auth, CampaignsRead, CampaignsWrite, ChainWide};
use crate::http::pagination::{Page, PageParams};
use crate::schema::message_categories as mc;
use crate::state::AppState;

/// The catalogue holds at most this many names: a message names three.
pub const MAX_CATEGORIES: i64 = 2000;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_categories).service(put_category).service(delete_category);
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = mc)]
#[schema(example = json!({"name": "童装", "created_at": "2026-11-23T08:00:00Z"}))]
pub struct Category {
    /// As order lines spell it: 1-20 Latin or Chinese letters and digits, with spaces and `- & · ( )` between.
    #[schema(format = "category-name")]
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// Every catalogued name, for a run to render from.
pub fn names(conn: &mut PgConnection) -> ApiResult<HashSet<String>> {
    Ok(mc::table.select(mc::name).load::<String>(conn)?.into_iter().collect())
}

/// Puts names into the catalogue (a name already there stays as it was); returns how many were new.
pub fn insert(conn: &mut PgConnection, names: &[String], now: DateTime<Utc>) -> ApiResult<usize> {
    let rows: Vec<_> = names.iter().map(|n| (mc::name.eq(n), mc::created_at.eq(now))).collect();
    Ok(diesel::insert_into(mc::table).values(&rows).on_conflict_do_nothing().execute(conn)?)
}

fn not_found() -> ApiError {
    ApiError::not_found("category_not_found", "no category of this name in the catalogue")
}

const CHAIN_ONLY: &str = "`forbidden` without the scope; `store_bound_principal`: the catalogue is the chain's";

/// The category catalogue, by name.
#[utoipa::path(
    tag = "campaigns", operation_id = "list_message_categories", params(PageParams),
    security(("bearer" = ["campaigns:read"])),
    responses(
        (status = 200, description = "Catalogued categories by name", body = Page<Category>),
        (status = 403, description = CHAIN_ONLY, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/message-categories")]
async fn list_categories(
    _auth: Auth<ChainWide<CampaignsRead>>, state: web::Data<AppState>, page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let fetch = |conn: &mut PgConnection, after: Option<String>, n| {
        let mut q = mc::table.select(Category::as_select()).order(mc::name).limit(n).into_boxed();
        if let Some(after) = after {
            q = q.filter(mc::name.gt(after));
        }
        Ok(q.load(conn)?)
    };
    let page = page.load(&state.pool, fetch, |c: &Category| c.name.clone());
    Ok(HttpResponse::Ok().json(page.await?))
}

/// Let messages name a category: 201 when added, 200 when it was there already.
#[utoipa::path(
    tag = "campaigns", operation_id = "put_message_category",
    params(("name" = String, Path, format = "category-name", description = "The category as order lines spell it, e.g. `童装`")),
    security(("bearer" = ["campaigns:write"])),
    responses(
        (status = 200, description = "Already catalogued", body = Category),
        (status = 201, description = "Catalogued", body = Category),
        (status = 403, description = CHAIN_ONLY, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`category_catalogue_full` (with `max_categories`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: not a plain category name", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/v1/message-categories/{name}")]
async fn put_category(
    auth: Auth<ChainWide<CampaignsWrite>>, state: web::Data<AppState>, name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let name = name.into_inner();
    if let Some(problem) = rules::category_name_problem(&name) {
        return Err(ApiError::invalid("name", problem));
    }
    let (who, now) = (auth.principal.clone(), state.clock.now());
    let (category, added) = crate::db::transaction(&state.pool, move |conn| {
        // One writer at a time, so the cap holds under concurrent puts.
        diesel::sql_query("LOCK TABLE message_categories IN SHARE ROW EXCLUSIVE MODE").execute(conn)?;
        if let Some(found) = mc::table.find(&name).select(Category::as_select()).first(conn).optional()? {
            return Ok((found, false));
        }
        let count: i64 = mc::table.count().get_result(conn)?;
        if count >= MAX_CATEGORIES {
            return Err(ApiError::conflict(
                "category_catalogue_full",
                "the catalogue is full: remove a category first",
            )
            .with("max_categories", MAX_CATEGORIES));
        }
        insert(conn, std::slice::from_ref(&name), now)?;
        crate::audit::record(conn, &who, crate::audit::AuditAction::MessageCategoryAdd, Some(name.clone()), json!({}))?;
        Ok((Category { name, created_at: now }, true))
    })
    .await?;
    let mut res = if added { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(res.json(category))
}

/// Stop messages naming a category.
#[utoipa::path(
    tag = "campaigns", operation_id = "delete_message_category",
    params(("name" = String, Path, description = "The category")), security(("bearer" = ["campaigns:write"])),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = CHAIN_ONLY, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`category_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/v1/message-categories/{name}")]
async fn delete_category(
    auth: Auth<ChainWide<CampaignsWrite>>, state: web::Data<AppState>, name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let name = name.into_inner();
    let who = auth.principal.clone();
    crate::db::transaction(&state.pool, move |conn| {
        if diesel::delete(mc::table.find(&name)).execute(conn)? == 0 {
            return Err(not_found());
        }
        crate::audit::record(conn, &who, crate::audit::AuditAction::MessageCategoryRemove, Some(name), json!({}))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
