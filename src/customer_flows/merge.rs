//! Merging two profiles of one person (SPEC §5): every domain moves its records from the source
//! to the target, in the lock order of a sale.

use std::collections::BTreeMap;

use actix_web::{post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::customers::api::read_view;
use crate::customers::model::CustomerView;
use crate::customers::service::{self, MergeContext};
use crate::customers::store::{self, Customer};
use crate::error::{ApiResult, Problem};
use crate::http::auth::{Auth, CustomersWrite};
use crate::state::AppState;

/// A domain's part of a merge: moves its records from `source` to `target`, returns how many.
pub type MergeStep = fn(&mut PgConnection, &MergeContext) -> ApiResult<i64>;

/// Each domain that holds a customer's records has its step here.
pub const MERGE_STEPS: &[(&str, MergeStep)] = &[
    ("identities", |conn, m| store::move_identities(conn, m.source, m.target)),
    ("tags", |conn, m| store::move_tags(conn, m.source, m.target)),
    ("notes", |conn, m| store::move_notes(conn, m.source, m.target)),
    ("orders", |conn, m| crate::orders::store::move_to_customer(conn, m.source, m.target)),
    ("membership", crate::memberships::merge::merge_membership),
    ("points", crate::loyalty::merge::merge_points),
    // After the membership and the points account: the lock order of every sale.
    ("reservations", |conn, m| crate::reservations::store::release_all_of(conn, m.source, m.now)),
    ("coupons", |conn, m| crate::coupons::store::move_to_customer(conn, m.source, m.target)),
    ("leads", |conn, m| crate::leads::store::move_to_customer(conn, m.source, m.target)),
    ("tickets", |conn, m| crate::tickets::store::move_to_customer(conn, m.source, m.target)),
];

/// Folds `source` into `target`: its records move, its profile fills the target's gaps, and it
/// becomes `merged` with its personal data blanked (it now lives on the target).
pub fn merge(
    conn: &mut PgConnection, target_id: Uuid, source_id: Uuid, actor: &str, now: DateTime<Utc>,
) -> ApiResult<(Customer, BTreeMap<String, i64>)> {
    let (target, source) = service::lock_merge_pair(conn, target_id, source_id)?;
    let context = MergeContext { source: source.id, target: target.id, actor, now };
    let mut moved = BTreeMap::new();
    for (name, step) in MERGE_STEPS {
        moved.insert(name.to_string(), step(conn, &context)?);
    }
    let updated = service::finish_merge(conn, &target, &source, &moved)?;
    Ok((updated, moved))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"source_customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f"}))]
pub struct MergeInput {
    /// The duplicate to fold into the customer in the path.
    source_customer_id: Uuid,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"customer": crate::customers::model::view_example(true),
    "source_customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "moved": {"identities": 2, "tags": 1, "notes": 0}}))]
pub struct MergeResult {
    customer: CustomerView,
    source_customer_id: Uuid,
    /// Records moved, per kind.
    moved: BTreeMap<String, i64>,
}

/// Fold a duplicate into this customer: identities, tags, notes (and later orders, points, coupons,
/// tickets, leads) move; the source becomes `merged`; its identities now find this customer.
#[utoipa::path(
    tag = "customers", operation_id = "merge_customers", request_body = MergeInput,
    params(("id" = Uuid, Path, description = "Target customer id")),
    security(("bearer" = ["customers:write", "customers:pii"])),
    responses(
        (status = 200, description = "Merged", body = MergeResult),
        (status = 403, description = "`forbidden` without `customers:write` and `customers:pii`; `store_bound_principal` for a principal bound to a store", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`customer_not_found` (the target or the source)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The target was merged or erased", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/customers/{id}/merge")]
pub(super) async fn merge_customers(
    auth: Auth<CustomersWrite>, state: web::Data<AppState>, id: web::Path<Uuid>, body: crate::http::Json<MergeInput>,
) -> ApiResult<HttpResponse> {
    // A merge moves one person's points, coupons, tier and identities into another profile: it
    // takes the PII scope and the whole chain's view, never a till's.
    auth.require_scope("customers:pii")?;
    auth.require_chain_wide()?;
    let target = id.into_inner();
    let source = body.source_customer_id;
    let who = auth.principal.clone();
    let today = state.today();
    let now = state.clock.now();
    let result = crate::db::transaction(&state.pool, move |conn| {
        let (_, moved) = merge(conn, target, source, &who.sub, now)?;
        crate::audit::record(
            conn,
            &who,
            crate::audit::AuditAction::CustomerMerge,
            Some(target.to_string()),
            json!({"source_customer_id": source}),
        )?;
        Ok(MergeResult { customer: read_view(conn, &who, target, today)?, source_customer_id: source, moved })
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}
