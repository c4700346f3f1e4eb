use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::rules::StaffRole;
use super::store::{self, NewStaff, Staff, StaffChanges, StaffFilter};
use crate::audit::{audited, AuditAction};
use crate::error::{ApiError, ApiResult, Violations};
use crate::http::auth::{Admin, Auth, Principal, StaffRead};
use crate::http::pagination::{Listing, Page, PageParams};
use crate::http::patch::double_option;
use crate::http::{etag, IfMatch};
use crate::state::AppState;

// Problem responses several operations name.
crate::problem_response!(pub UsernameTaken = 409, "Username taken (`username_taken`)");

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_staff).service(list_staff).service(get_staff).service(update_staff);
}

const UNKNOWN_ROLE: &str = "roles are 'sales', 'service' or 'manager'";

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "name": "王芳", "phone": "+8613812345678",
    "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "roles": ["sales"], "skills": ["女装"], "capacity": 20,
    "team": null, "active": true, "username": "wangfang", "version": 1,
    "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z"}))]
pub struct StaffView {
    id: Uuid,
    name: String,
    phone: Option<String>,
    store_id: Option<Uuid>,
    roles: Vec<StaffRole>,
    skills: Vec<String>,
    capacity: i32,
    team: Option<String>,
    active: bool,
    username: Option<String>,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl StaffView {
    /// Staff phones are personal data: masked without `customers:pii`. A username is a login
    /// name: shown to administrators only.
    fn for_principal(s: Staff, principal: &Principal) -> Self {
        let pii = principal.has("customers:pii");
        let admin = principal.has("admin");
        StaffView {
            id: s.id,
            name: s.name,
            phone: s.phone.map(|p| if pii { p } else { crate::phone::mask_phone(&p) }),
            store_id: s.store_id,
            roles: s.roles,
            skills: s.skills,
            capacity: s.capacity,
            team: s.team,
            active: s.active,
            username: s.username.filter(|_| admin),
            version: s.version,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "王芳", "phone": "13812345678", "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f",
    "roles": ["sales"], "skills": ["女装"], "capacity": 20, "username": "wangfang", "password": "correct horse battery"}))]
pub struct StaffInput {
    /// Not blank.
    #[schema(min_length = 1, max_length = 100, format = "non-blank")]
    name: Option<String>,
    /// Mainland mobile (`13812345678`) or E.164; stored as E.164.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = "phone")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    store_id: Option<Option<Uuid>>,
    #[schema(value_type = Option<Vec<StaffRole>>)]
    roles: Option<Vec<String>>,
    /// Product categories the person handles (lead assignment matches on these): at most 50, each
    /// 1-64 characters and not blank.
    #[schema(max_items = 50, min_length = 1, max_length = 64, format = "non-blank")]
    skills: Option<Vec<String>>,
    /// Open leads at once.
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(minimum = 0, maximum = 10000)]
    capacity: Option<i32>,
    /// Not blank.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, format = "non-blank")]
    team: Option<Option<String>>,
    active: Option<bool>,
    /// 3-64 letters, digits or `. _ - @`.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 3, max_length = 64, format = "username")]
    username: Option<Option<String>>,
    /// Write-only; at least 8 characters. Null removes password login.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 8, max_length = 256)]
    password: Option<Option<String>>,
}

impl StaffInput {
    /// Checks every field; gives the roles read.
    fn validate(&mut self, creating: bool) -> ApiResult<Option<Vec<StaffRole>>> {
        let mut v = Violations::new();
        match &self.name {
            Some(n) => v.check(!n.trim().is_empty() && n.chars().count() <= 100, "name", "must be 1-100 characters"),
            None if creating => v.add("name", "is required"),
            None => {}
        }
        if let Some(Some(phone)) = &self.phone {
            match crate::phone::normalize_phone(phone) {
                Ok(p) => self.phone = Some(Some(p)),
                Err(msg) => v.add("phone", msg),
            }
        }
        let roles = self.roles.as_ref().map(|roles| {
            let read = |text: &String| {
                let role = StaffRole::parse(text);
                v.check(role.is_some(), "roles", UNKNOWN_ROLE);
                role
            };
            roles.iter().filter_map(read).collect()
        });
        if let Some(skills) = &self.skills {
            v.check(
                skills.len() <= 50 && skills.iter().all(|s| !s.trim().is_empty() && s.chars().count() <= 64),
                "skills",
                "at most 50 skills of 1-64 characters",
            );
        }
        if let Some(c) = self.capacity {
            v.check((0..=10_000).contains(&c), "capacity", "must be between 0 and 10000");
        }
        if let Some(Some(team)) = &self.team {
            v.check(!team.trim().is_empty() && team.chars().count() <= 64, "team", "must be 1-64 characters");
        }
        if let Some(Some(u)) = &self.username {
            v.check(
                (3..=64).contains(&u.len()) && u.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b)),
                "username",
                "must be 3-64 letters, digits or . _ - @",
            );
        }
        if let Some(Some(p)) = &self.password {
            v.check((8..=256).contains(&p.chars().count()), "password", "must be 8-256 characters");
        }
        v.into_result()?;
        Ok(roles)
    }

    fn into_changes(self, roles: Option<Vec<StaffRole>>) -> ApiResult<StaffChanges> {
        let password_hash = match self.password {
            Some(Some(p)) => Some(Some(crate::http::secrets::hash_secret(&p)?)),
            Some(None) => Some(None),
            None => None,
        };
        Ok(StaffChanges {
            name: self.name.map(|n| n.trim().to_string()),
            phone: self.phone,
            store_id: self.store_id,
            roles,
            skills: self.skills.map(|s| s.into_iter().map(|x| x.trim().to_string()).collect()),
            capacity: self.capacity,
            team: self.team.map(|t| t.map(|s| s.trim().to_string())),
            active: self.active,
            username: self.username,
            password_hash,
        })
    }
}

fn staff_response(status: StatusCode, member: Staff, principal: &Principal) -> HttpResponse {
    HttpResponse::build(status).insert_header(etag(member.version)).json(StaffView::for_principal(member, principal))
}

/// Ends the tokens a change has cut off, on this instance at once (others within a second).
fn sync_revocation(state: &AppState, member: &Staff) {
    if let Some(how) = member.token_cutoff() {
        state.revocations.revoke(member.subject(), how);
    }
}

/// Add a staff member.
#[utoipa::path(
    tag = "staff", operation_id = "create_staff", request_body = StaffInput, security(("bearer" = ["admin"])),
    responses((status = 201, description = "Created", body = StaffView), crate::staff::api::UsernameTaken)
)]
#[post("/v1/staff")]
async fn create_staff(
    auth: Auth<Admin>, state: web::Data<AppState>, body: crate::http::Json<StaffInput>,
) -> ApiResult<HttpResponse> {
    let mut input = body.into_inner();
    let roles = input.validate(true)?;
    input.store_id = Some(auth.acting_store(input.store_id.flatten())?);
    let c = input.into_changes(roles)?;
    let new = NewStaff {
        name: c.name.unwrap_or_default(),
        phone: c.phone.flatten(),
        store_id: c.store_id.flatten(),
        roles: c.roles.unwrap_or_default(),
        skills: c.skills.unwrap_or_default(),
        capacity: c.capacity.unwrap_or(20),
        team: c.team.flatten(),
        active: c.active.unwrap_or(true),
        username: c.username.flatten(),
        password_hash: c.password_hash.flatten(),
    };
    let write = move |conn: &mut PgConnection| store::insert(conn, &new);
    let member = audited(&state.pool, &auth, AuditAction::StaffCreate, write, |done| done.id).await?;
    Ok(staff_response(StatusCode::CREATED, member, &auth))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StaffParams {
    store_id: Option<Uuid>,
    #[param(value_type = Option<StaffRole>)]
    role: Option<String>,
    active: Option<bool>,
}

/// List staff (a store-bound caller sees only its own store's). Phones are masked without
/// `customers:pii`; usernames are shown to administrators only.
#[utoipa::path(
    tag = "staff", operation_id = "list_staff", params(PageParams, StaffParams), security(("bearer" = ["staff:read"])),
    responses((status = 200, description = "Staff by id", body = Page<StaffView>))
)]
#[get("/v1/staff")]
async fn list_staff(
    auth: Auth<StaffRead>, state: web::Data<AppState>, query: Listing<StaffParams>,
) -> ApiResult<HttpResponse> {
    let (page, p) = (query.page, query.filter);
    let role = match p.role.as_deref() {
        Some(r) => Some(StaffRole::parse(r).ok_or_else(|| ApiError::invalid("role", UNKNOWN_ROLE))?),
        None => None,
    };
    let filter = StaffFilter { store_id: auth.acting_store(p.store_id)?, role, active: p.active };
    let who = auth.principal.clone();
    let fetch = move |conn: &mut PgConnection, after, n| {
        Ok(store::list(conn, &filter, after, n)?.into_iter().map(|s| StaffView::for_principal(s, &who)).collect())
    };
    let page = page.load(&state.pool, fetch, |s: &StaffView| s.id.to_string());
    Ok(HttpResponse::Ok().json(page.await?))
}

/// Read a staff member.
#[utoipa::path(
    tag = "staff", operation_id = "get_staff",
    params(("id" = Uuid, Path, description = "Staff id")), security(("bearer" = ["staff:read"])),
    responses(
        (status = 200, description = "The staff member", body = StaffView),
        (status = 404, description = "`staff_not_found` (also another store's, for a store-bound caller)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/staff/{id}")]
async fn get_staff(auth: Auth<StaffRead>, state: web::Data<AppState>, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let (id, scope) = (id.into_inner(), auth.store_scope());
    let member = crate::db::run(&state.pool, move |conn| store::get_in(conn, id, scope)).await?;
    Ok(staff_response(StatusCode::OK, member, &auth))
}

/// Change a staff member (`If-Match` honoured). Deactivating revokes their tokens at once.
#[utoipa::path(
    tag = "staff", operation_id = "update_staff", request_body = StaffInput,
    params(("id" = Uuid, Path, description = "Staff id"), IfMatch), security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Updated", body = StaffView),
        crate::staff::api::UsernameTaken,
        (status = 412, description = "Changed since read", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/v1/staff/{id}")]
async fn update_staff(
    auth: Auth<Admin>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
    body: crate::http::Json<StaffInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let mut input = body.into_inner();
    let roles = input.validate(false)?;
    if let Some(moved_to) = input.store_id {
        auth.acting_store(moved_to)?;
        if moved_to.is_none() {
            auth.require_chain_wide()?;
        }
    }
    let changes = input.into_changes(roles)?;
    let (expected, now, scope) = (expected_version.0, state.clock.now(), auth.store_scope());
    let write = move |conn: &mut PgConnection| store::update(conn, id, scope, expected, &changes, now);
    let member = audited(&state.pool, &auth, AuditAction::StaffUpdate, write, move |_| id).await?;
    sync_revocation(&state, &member);
    Ok(staff_response(StatusCode::OK, member, &auth))
}
