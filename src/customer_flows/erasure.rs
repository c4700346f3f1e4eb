//! Erasure (SPEC §5, PIPL): every domain forgets the person; orders, ledger entries and coupons
//! stay, anonymous, so reports still add up.

use actix_web::{delete, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde_json::json;
use uuid::Uuid;

use crate::customers::service::{self, ErasureContext};
use crate::customers::store::{self, Customer};
use crate::error::{ApiResult, Problem};
use crate::http::auth::{Auth, ChainWide, CustomersPii};
use crate::state::AppState;

/// A domain's part of an erasure: removes or blanks what it holds about the person, returns how
/// many records it changed.
pub type ErasureStep = fn(&mut PgConnection, &ErasureContext) -> ApiResult<i64>;

/// After these, no table and no event holds the person's name, phone, email, address, birthday or
/// channel ids (SPEC §5). Orders, ledger entries and coupons stay, anonymous, so reports add up.
/// A domain that stores personal data adds its step here.
pub const ERASURE_STEPS: &[(&str, ErasureStep)] = &[
    ("identities", |conn, e| Ok(store::delete_identities(conn, e.customer)? as i64)),
    ("membership_card", |conn, e| crate::memberships::store::forget_card(conn, e.customer).map(|()| 1)),
    ("tags", |conn, e| Ok(store::delete_tags(conn, e.customer)? as i64)),
    ("notes", |conn, e| Ok(store::delete_notes(conn, e.customer)? as i64)),
    ("leads", |conn, e| crate::leads::store::erase_contacts(conn, &e.ids, &e.phones, e.now)),
    ("tickets", |conn, e| crate::tickets::store::erase_customer_words(conn, &e.ids, &e.words, e.now)),
    ("campaign_messages", |conn, e| crate::campaigns::store::erase_messages(conn, &e.ids, e.now)),
    ("idempotent_responses", |conn, e| crate::http::idempotency::forget_mentions(conn, &e.identifiers)),
    ("profile", |conn, e| store::blank_pii(conn, e.customer).map(|()| 1)),
    // Last: it holds the feed's sequencer until the erasure commits.
    ("events", |conn, e| crate::events::redact(conn, &e.ids, &e.words)),
];

/// PIPL erasure: every step of `ERASURE_STEPS`; the row stays (as `erased`) so orders and ledger
/// totals still add up. Erasing an erased customer again changes nothing.
pub fn erase(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> ApiResult<Option<Customer>> {
    let Some(current) = service::lock_for_erasure(conn, id)? else { return Ok(None) };
    let context = service::erasure_context(conn, &current, now)?;
    for (_, step) in ERASURE_STEPS {
        step(conn, &context)?;
    }
    service::finish_erasure(conn, &current).map(Some)
}

/// Erase a customer (PIPL): personal data blanked, identities released; orders and totals kept anonymously.
#[utoipa::path(
    tag = "customers", operation_id = "erase_customer",
    params(("id" = Uuid, Path, description = "Customer id")), security(("bearer" = ["customers:pii"])),
    responses(
        (status = 204, description = "Erased; the profile is gone afterwards (404), its orders and ledger kept anonymously"),
        crate::customers::api::PiiForbidden,
        (status = 404, description = "`customer_not_found`: no such customer, or erased already", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer was merged: erase the customer it was merged into", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/v1/customers/{id}")]
pub(super) async fn erase_customer(
    auth: Auth<ChainWide<CustomersPii>>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let (id, now) = (id.into_inner(), state.clock.now());
    let who = auth.principal.clone();
    crate::db::transaction(&state.pool, move |conn| {
        if erase(conn, id, now)?.is_none() {
            return Err(crate::customers::store::not_found());
        }
        crate::audit::record(conn, &who, crate::audit::AuditAction::CustomerErase, Some(id.to_string()), json!({}))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
