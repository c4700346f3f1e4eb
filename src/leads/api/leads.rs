//! Leads: capture (with assignment at once), list, read.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{required_text, text};
use crate::error::{ApiError, ApiResult, Problem, Violations};
use crate::http::auth::{Auth, LeadsRead, LeadsWrite, Principal};
use crate::http::pagination::{Listing, Page, PageParams};
use crate::leads::model::{Lead, LeadKind, LeadStatus, NewLead};
use crate::leads::service;
use crate::leads::store::{self, LeadFilter};
use crate::state::AppState;
use crate::stores::SalesChannel;

const MAX_ITEMS: usize = 200;

/// A cart line of a `cart_abandoned` lead.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "W-DRESS-001", "name": "连衣裙", "quantity": 1, "unit_price": "299.00"}))]
pub struct LeadItem {
    #[schema(min_length = 1, max_length = 64, format = "non-blank")]
    sku: String,
    #[schema(max_length = 200)]
    name: Option<String>,
    #[serde(deserialize_with = "crate::http::whole_number_required")]
    #[schema(minimum = 1, maximum = 9999)]
    quantity: i32,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, format = "money", example = "299.00")]
    unit_price: Decimal,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"name": "王女士", "phone": "138****5678", "wechat": "wang_li88"}))]
pub struct LeadContactView {
    name: Option<String>,
    /// E.164; masked (`138****5678`) without `customers:pii`.
    phone: Option<String>,
    wechat: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "source": "wechat_mini_program", "kind": "inquiry",
    "contact": {"name": "王女士", "phone": "138****5678", "wechat": "wang_li88"}, "city": "北京", "district": "朝阳区",
    "category": "女装", "items": [], "estimated_value": "899.00", "notes": "想看冬季新款大衣",
    "customer_id": null, "status": "assigned", "lost_reason": null,
    "assignee_staff_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60", "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d61",
    "rule_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d62", "assigned_at": "2026-11-23T08:00:00Z", "first_response_at": null,
    "response_due_at": "2026-11-23T08:15:00Z", "sla_breached": false, "sla_breached_at": null, "qualified_at": null,
    "won_at": null, "lost_at": null, "order_id": null, "version": 2,
    "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z"}))]
pub struct LeadView {
    id: Uuid,
    /// The channel it came from.
    source: SalesChannel,
    kind: LeadKind,
    contact: LeadContactView,
    city: Option<String>,
    district: Option<String>,
    category: Option<String>,
    #[schema(value_type = Vec<LeadItem>)]
    items: Value,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "899.00")]
    estimated_value: Option<Decimal>,
    notes: Option<String>,
    /// Given, or matched by the contact phone; set on conversion.
    customer_id: Option<Uuid>,
    status: LeadStatus,
    lost_reason: Option<String>,
    assignee_staff_id: Option<Uuid>,
    store_id: Option<Uuid>,
    /// The assignment rule that placed it (null when assigned by hand).
    rule_id: Option<Uuid>,
    assigned_at: Option<DateTime<Utc>>,
    /// When the lead was first contacted.
    first_response_at: Option<DateTime<Utc>>,
    /// Assignment + the response SLA (15 minutes by default).
    response_due_at: Option<DateTime<Utc>>,
    /// Set once, by the SLA sweep, when the first response was not made in time.
    sla_breached: bool,
    sla_breached_at: Option<DateTime<Utc>>,
    qualified_at: Option<DateTime<Utc>>,
    won_at: Option<DateTime<Utc>>,
    lost_at: Option<DateTime<Utc>>,
    order_id: Option<Uuid>,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

pub(super) fn lead_view(l: Lead, unmasked: bool) -> LeadView {
    let phone = l.contact_phone.map(|p| if unmasked { p } else { crate::phone::mask_phone(&p) });
    LeadView {
        id: l.id,
        source: l.source,
        kind: l.kind,
        contact: LeadContactView { name: l.contact_name, phone, wechat: l.contact_wechat },
        city: l.city,
        district: l.district,
        category: l.category,
        items: l.items,
        estimated_value: l.estimated_value,
        notes: l.notes,
        customer_id: l.customer_id,
        status: l.status,
        lost_reason: l.lost_reason,
        assignee_staff_id: l.assignee_staff_id,
        store_id: l.store_id,
        rule_id: l.rule_id,
        assigned_at: l.assigned_at,
        first_response_at: l.first_response_at,
        response_due_at: l.response_due_at,
        sla_breached: l.sla_breached,
        sla_breached_at: l.sla_breached_at,
        qualified_at: l.qualified_at,
        won_at: l.won_at,
        lost_at: l.lost_at,
        order_id: l.order_id,
        version: l.version,
        created_at: l.created_at,
        updated_at: l.updated_at,
    }
}

pub(super) fn lead_response(status: StatusCode, l: Lead, principal: &Principal) -> HttpResponse {
    crate::http::versioned(
        status,
        l.version,
        format!("/v1/leads/{}", l.id),
        &lead_view(l, principal.has("customers:pii")),
    )
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "王女士", "phone": "13812345678", "wechat": "wang_li88"}))]
pub struct LeadContactInput {
    #[schema(max_length = 100)]
    name: Option<String>,
    /// A mainland mobile or +<country code><number>; used to match the customer.
    #[schema(max_length = 32, format = "phone")]
    phone: Option<String>,
    #[schema(max_length = 64)]
    wechat: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"source": "wechat_mini_program", "kind": "inquiry",
    "contact": {"name": "王女士", "phone": "13812345678", "wechat": "wang_li88"},
    "city": "北京", "district": "朝阳区", "category": "女装", "estimated_value": "899.00", "notes": "想看冬季新款大衣"}))]
pub struct LeadCreate {
    /// The channel it came from.
    #[schema(value_type = String, required = true, nullable = false, format = "channel")]
    source: Option<String>,
    #[schema(value_type = LeadKind, required = true, nullable = false)]
    kind: Option<String>,
    contact: Option<LeadContactInput>,
    #[schema(max_length = 100)]
    city: Option<String>,
    #[schema(max_length = 100)]
    district: Option<String>,
    /// A product category (e.g. 女装); rules match on it and pick staff with it as a skill.
    #[schema(max_length = 100)]
    category: Option<String>,
    /// The cart, for `cart_abandoned` (at most 200 lines).
    #[schema(max_items = 200)]
    items: Option<Vec<LeadItem>>,
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "899.00")]
    estimated_value: Option<Decimal>,
    #[schema(max_length = 2000)]
    notes: Option<String>,
    /// The customer, when known; otherwise matched by the contact phone.
    customer_id: Option<Uuid>,
    /// Pins the lead to a store: only that store's staff are assigned. A store-bound caller's
    /// leads are always for its own store.
    store_id: Option<Uuid>,
}

impl LeadCreate {
    fn validate(self, principal: &Principal, now: DateTime<Utc>) -> ApiResult<NewLead> {
        let mut v = Violations::new();
        let source = required_text(&mut v, "source", self.source, 64);
        let source = v.word::<SalesChannel>("source", source.as_deref());
        let kind = required_text(&mut v, "kind", self.kind, 32);
        let kind = v.word::<LeadKind>("kind", kind.as_deref());
        let contact = self.contact.unwrap_or_default();
        let contact_name = text(&mut v, "contact.name", contact.name, 100);
        let contact_wechat = text(&mut v, "contact.wechat", contact.wechat, 64);
        let contact_phone = match text(&mut v, "contact.phone", contact.phone, 32) {
            // As a customer's phone is normalized, so the owner of the identity is found.
            Some(raw) => match crate::phone::normalize_phone(&raw) {
                Ok(p) => Some(p),
                Err(m) => {
                    v.add("contact.phone", m);
                    None
                }
            },
            None => None,
        };
        let city = text(&mut v, "city", self.city, 100);
        let district = text(&mut v, "district", self.district, 100);
        let category = text(&mut v, "category", self.category, 100);
        let items = self.items.unwrap_or_default();
        v.check(items.len() <= MAX_ITEMS, "items", "at most 200 lines");
        for (i, item) in items.iter().enumerate() {
            let sku = item.sku.trim();
            v.check(
                !sku.is_empty() && sku.chars().count() <= 64,
                &format!("items[{i}].sku"),
                "must be 1-64 characters",
            );
            if let Some(name) = &item.name {
                v.check(name.chars().count() <= 200, &format!("items[{i}].name"), "must be at most 200 characters");
            }
            v.check((1..=9999).contains(&item.quantity), &format!("items[{i}].quantity"), "must be 1-9999");
            v.check(item.unit_price >= Decimal::ZERO, &format!("items[{i}].unit_price"), "must not be negative");
        }
        if let Some(value) = self.estimated_value {
            v.check(value >= Decimal::ZERO, "estimated_value", "must not be negative");
        }
        let notes = text(&mut v, "notes", self.notes, 2000);
        let store_id = principal.acting_store(self.store_id)?;
        v.into_result()?;
        Ok(NewLead {
            id: Uuid::now_v7(),
            source: source.ok_or_else(|| ApiError::invalid("source", "is required"))?,
            kind: kind.ok_or_else(|| ApiError::invalid("kind", "is required"))?,
            contact_name,
            contact_phone,
            contact_wechat,
            city,
            district,
            category,
            items: serde_json::to_value(&items).map_err(ApiError::internal)?,
            estimated_value: self.estimated_value,
            notes,
            customer_id: self.customer_id,
            store_id,
            created_at: now,
            updated_at: now,
        })
    }
}

/// Create a lead; the assignment rules run at once (in order of priority) and place it with a free
/// clerk, or it waits unassigned (`new`).
///
/// Without `customer_id`, the customer who owns the contact phone is linked. Assignment sets the
/// assignee, the store (the assignee's), `assigned_at` and `response_due_at` (+15 minutes by default).
#[utoipa::path(
    tag = "leads", operation_id = "create_lead", request_body = LeadCreate, security(("bearer" = ["leads:write"])),
    responses(
        (status = 201, description = "Created (and assigned when a rule found someone free)", body = LeadView),
        crate::error::OtherStoreForbidden,
        (status = 422, description = "`validation_failed`: every bad field, including a customer or store that does not exist", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/leads")]
pub(super) async fn create_lead(
    auth: Auth<LeadsWrite>, state: web::Data<AppState>, body: crate::http::Json<LeadCreate>,
) -> ApiResult<HttpResponse> {
    let now = state.clock.now();
    let mut new = body.into_inner().validate(&auth.principal, now)?;
    let minutes = state.config.lead_response_minutes;
    let who = auth.principal.clone();
    let lead = crate::db::transaction(&state.pool, move |conn| {
        let mut v = Violations::new();
        if let Some(c) = new.customer_id {
            match crate::customers::store::get(conn, c) {
                Ok(customer) => crate::customers::store::ensure_active(&customer)?,
                Err(_) => v.add("customer_id", "no customer with this id"),
            }
        } else {
            new.customer_id = service::match_by_phone(conn, new.contact_phone.as_deref())?;
        }
        if let Some(s) = new.store_id {
            if crate::stores::store::get(conn, s).is_err() {
                v.add("store_id", "no store with this id");
            }
        }
        v.into_result()?;
        let lead = service::create(conn, &new, now, minutes)?;
        let detail = json!({"source": lead.source, "kind": lead.kind, "status": lead.status});
        crate::audit::record(conn, &who, crate::audit::AuditAction::LeadCreate, Some(lead.id.to_string()), detail)?;
        Ok(lead)
    })
    .await?;
    Ok(lead_response(StatusCode::CREATED, lead, &auth.principal))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LeadListParams {
    /// `new` is the unassigned queue.
    #[param(value_type = Option<LeadStatus>)]
    status: Option<String>,
    /// Only this store's leads; a store-bound caller sees its own store's only (another: 403
    /// `store_bound_principal`).
    store_id: Option<Uuid>,
    assignee_staff_id: Option<Uuid>,
    /// A channel.
    #[param(format = "channel")]
    source: Option<String>,
    #[param(value_type = Option<LeadKind>)]
    kind: Option<String>,
}

/// Leads by creation (id order), filtered; a store-bound caller sees only its own store's.
#[utoipa::path(
    tag = "leads", operation_id = "list_leads", params(PageParams, LeadListParams),
    security(("bearer" = ["leads:read"])),
    responses(
        (status = 200, description = "Leads by id", body = Page<LeadView>),
        crate::error::OtherStoreForbidden,
        (status = 422, description = "`validation_failed`: an unknown status, source or kind", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/leads")]
pub(super) async fn list_leads(
    auth: Auth<LeadsRead>, state: web::Data<AppState>, query: Listing<LeadListParams>,
) -> ApiResult<HttpResponse> {
    let (page, p) = (query.page, query.filter);
    let mut v = Violations::new();
    let status = v.word::<LeadStatus>("status", p.status.as_deref());
    let source = v.word::<SalesChannel>("source", p.source.as_deref());
    let kind = v.word::<LeadKind>("kind", p.kind.as_deref());
    v.into_result()?;
    let filter = LeadFilter {
        status,
        store_id: auth.acting_store(p.store_id)?,
        scope: auth.store_scope(),
        assignee_staff_id: p.assignee_staff_id,
        source,
        kind,
    };
    let unmasked = auth.principal.has("customers:pii");
    let fetch = move |conn: &mut PgConnection, after, n| {
        Ok(store::list(conn, &filter, after, n)?.into_iter().map(|l| lead_view(l, unmasked)).collect())
    };
    let page = page.load(&state.pool, fetch, |l: &LeadView| l.id.to_string());
    Ok(HttpResponse::Ok().json(page.await?))
}

/// Read a lead.
#[utoipa::path(
    tag = "leads", operation_id = "get_lead",
    params(("id" = Uuid, Path, description = "Lead id")), security(("bearer" = ["leads:read"])),
    responses(
        (status = 200, description = "The lead", body = LeadView),
        (status = 404, description = "`lead_not_found` (also another store's lead, for a store-bound caller)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/leads/{id}")]
pub(super) async fn get_lead(
    auth: Auth<LeadsRead>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let (id, scope) = (id.into_inner(), auth.store_scope());
    let lead = crate::db::run(&state.pool, move |conn| store::get(conn, id, scope)).await?;
    Ok(lead_response(StatusCode::OK, lead, &auth.principal))
}
