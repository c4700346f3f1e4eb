//! The tag catalogue (`/v1/tags`): manual tags, set by hand on customers, and rule tags — a segment
//! definition whose holders are recomputed every night and on demand (SPEC §5).

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::compile::Evaluation;
use super::definition;
use crate::customers::model::validate_tags;
use crate::customers::store::{self as customers, Tag, TagKind};
use crate::error::{ApiResult, Problem, Violations};
use crate::http::auth::{Auth, ChainWide, CustomersRead, CustomersWrite};
use crate::http::pagination::{Page, PageParams};
use crate::segments::api::CatalogueIsTheChains;
use crate::segments::api::TagNotFound;
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_tags).service(create_tag).service(delete_tag).service(evaluate_tag);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"name": "高价值", "kind": "rule", "description": "近一年消费满5000",
    "definition": {"field": "spend", "op": "gte", "value": "5000.00", "window_days": 365}, "created_at": "2026-11-23T08:00:00Z"}))]
pub struct TagView {
    name: String,
    kind: TagKind,
    description: Option<String>,
    /// A rule tag's segment definition (SPEC §9); null for a manual tag.
    #[schema(value_type = Option<Object>)]
    definition: Option<Value>,
    created_at: DateTime<Utc>,
}

impl From<Tag> for TagView {
    fn from(t: Tag) -> Self {
        TagView {
            name: t.name,
            kind: t.kind,
            description: t.description,
            definition: t.definition,
            created_at: t.created_at,
        }
    }
}

/// The tag catalogue.
#[utoipa::path(
    tag = "customers", operation_id = "list_tags", params(PageParams), security(("bearer" = ["customers:read"])),
    responses((status = 200, description = "Tags by name", body = Page<TagView>))
)]
#[get("/v1/tags")]
async fn list_tags(
    _auth: Auth<CustomersRead>, state: web::Data<AppState>, page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let fetch = move |conn: &mut PgConnection, after: Option<String>, n| customers::list_tags(conn, after, n);
    let page = page.load(&state.pool, fetch, |t: &TagView| t.name.clone());
    Ok(HttpResponse::Ok().json(page.await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "高价值", "kind": "rule", "description": "近一年消费满5000",
    "definition": {"field": "spend", "op": "gte", "value": "5000.00", "window_days": 365}}))]
pub struct NewTag {
    /// Not blank.
    #[schema(min_length = 1, max_length = 64, format = "non-blank")]
    name: String,
    /// `manual`, or `rule` for a tag with a definition (the default follows `definition`).
    #[schema(value_type = Option<TagKind>)]
    kind: Option<String>,
    #[schema(max_length = 500)]
    description: Option<String>,
    /// A rule tag's segment definition (SPEC §9): required with `kind` `rule`, not allowed with `manual`.
    #[schema(value_type = Option<Object>)]
    definition: Option<Value>,
}

/// Add a tag to the catalogue (the chain's: a store-bound principal gets 403 `store_bound_principal`).
/// A rule tag is computed at once, then every night and on demand; it cannot be set by hand.
#[utoipa::path(
    tag = "customers", operation_id = "create_tag", request_body = NewTag, security(("bearer" = ["customers:write"])),
    responses(
        (status = 201, description = "Created", body = TagView),
        crate::segments::api::CatalogueIsTheChains,
        (status = 409, description = "`tag_exists`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`; a bad definition names its path (e.g. `definition.all[1].op`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/tags")]
async fn create_tag(
    auth: Auth<ChainWide<CustomersWrite>>, state: web::Data<AppState>, body: crate::http::Json<NewTag>,
) -> ApiResult<HttpResponse> {
    let input = body.into_inner();
    let mut v = Violations::new();
    let name = validate_tags(std::slice::from_ref(&input.name), &mut v).pop().unwrap_or_default();
    let kind = v.word::<TagKind>("kind", input.kind.as_deref());
    // An unknown kind is reported; the definition is then checked as for a manual tag.
    let rule = match (&input.kind, kind) {
        (None, _) => input.definition.is_some(),
        (Some(_), kind) => kind == Some(TagKind::Rule),
    };
    match (&input.definition, rule) {
        (Some(d), true) => {
            if let Err(m) = definition::parse(d, "definition") {
                v.add(m.path, m.message);
            }
        }
        (None, true) => v.add("definition", "a rule tag needs a definition"),
        (Some(_), false) => v.add("definition", "only a rule tag has a definition"),
        (None, false) => {}
    }
    if let Some(d) = &input.description {
        v.check(d.chars().count() <= 500, "description", "must be at most 500 characters");
    }
    v.into_result()?;
    let at = super::api::evaluation(&state);
    // Committed at once: a rule tag is evaluated on another connection before the answer.
    let tag = crate::db::transaction_now(&state.pool, move |conn| {
        let tag = customers::create_tag(conn, &name, input.description.as_deref(), input.definition.as_ref())?;
        crate::audit::record(
            conn,
            &auth.principal,
            crate::audit::AuditAction::TagCreate,
            Some(name.clone()),
            json!({}),
        )?;
        Ok(tag)
    })
    .await?;
    if tag.kind == TagKind::Rule {
        let name = tag.name.clone();
        crate::db::run(&state.pool, move |conn| evaluate(conn, &name, at)).await?;
    }
    Ok(HttpResponse::Created().json(TagView::from(tag)))
}

/// Remove a tag from the catalogue and from every customer (the chain's act).
#[utoipa::path(
    tag = "customers", operation_id = "delete_tag",
    params(("name" = String, Path, description = "Tag name")), security(("bearer" = ["customers:write"])),
    responses((status = 204, description = "Deleted"), CatalogueIsTheChains, TagNotFound)
)]
#[delete("/v1/tags/{name}")]
async fn delete_tag(
    _auth: Auth<ChainWide<CustomersWrite>>, state: web::Data<AppState>, name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let name = name.into_inner();
    crate::db::transaction(&state.pool, move |conn| customers::delete_tag(conn, &name)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"tag": "高价值", "tagged": 12, "untagged": 3}))]
pub struct Evaluated {
    tag: String,
    /// Customers who gained the tag.
    tagged: i64,
    /// Customers who lost it.
    untagged: i64,
}

/// Recomputes a rule tag's holders now (it also runs every night).
#[utoipa::path(
    tag = "customers", operation_id = "evaluate_tag",
    params(("name" = String, Path, description = "Tag name")), security(("bearer" = ["customers:write"])),
    responses(
        (status = 200, description = "Who gained and who lost the tag", body = Evaluated),
        crate::segments::api::CatalogueIsTheChains,
        crate::segments::api::TagNotFound,
        (status = 409, description = "`manual_tag`: only rule tags are computed", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/tags/{name}/evaluate")]
async fn evaluate_tag(
    _auth: Auth<ChainWide<CustomersWrite>>, state: web::Data<AppState>, name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let name = name.into_inner();
    let at = super::api::evaluation(&state);
    let result = crate::db::run(&state.pool, move |conn| evaluate(conn, &name, at)).await?;
    Ok(HttpResponse::Ok().json(result))
}

/// Brings one rule tag up to date with the order history.
pub fn evaluate(conn: &mut PgConnection, name: &str, at: Evaluation) -> ApiResult<Evaluated> {
    let tag = customers::get_tag(conn, name)?;
    let Some(raw) = tag.definition.filter(|_| tag.kind == TagKind::Rule) else {
        return Err(crate::error::ApiError::conflict("manual_tag", "only rule tags are computed"));
    };
    let node = super::store::parse_saved(&raw)?;
    crate::customers::activity::follow(conn, at.zone)?;
    let (tagged, untagged) = super::store::sync_rule_tag(conn, name, &node, at)?;
    Ok(Evaluated { tag: tag.name, tagged, untagged })
}

/// The nightly job: every rule tag. Returns (tags, customers whose tags changed).
pub fn evaluate_all(conn: &mut PgConnection, at: Evaluation) -> ApiResult<(i64, i64)> {
    let (mut tags, mut changed) = (0, 0);
    for tag in customers::rule_tags(conn)? {
        let result = evaluate(conn, &tag.name, at)?;
        tags += 1;
        changed += result.tagged + result.untagged;
    }
    Ok((tags, changed))
}
