//! Coupon template SQL: insert, read, lock, list, change; and the template rules' refusals as
//! API errors.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::coupons::model::{CouponTemplateStatus, Template};
use crate::coupons::templates::{self, NewTemplate, NotIssuable, Refusal, TemplateChanges};
use crate::error::{ApiError, ApiResult, Violations};
use crate::schema::{coupon_templates as ct, stores};

pub fn template_not_found() -> ApiError {
    ApiError::not_found("coupon_template_not_found", "no coupon template with this id")
}

pub fn insert_template(conn: &mut PgConnection, t: &NewTemplate, now: DateTime<Utc>) -> ApiResult<Template> {
    if !t.store_ids.is_empty() {
        let found: HashSet<Uuid> = stores::table
            .filter(stores::id.eq_any(&t.store_ids))
            .select(stores::id)
            .load::<Uuid>(conn)?
            .into_iter()
            .collect();
        if let Some(missing) = t.store_ids.iter().find(|s| !found.contains(s)) {
            return Err(ApiError::invalid("stores", format!("no store with this id: {missing}")));
        }
    }
    Ok(diesel::insert_into(ct::table)
        .values((
            ct::id.eq(Uuid::now_v7()),
            ct::name.eq(&t.name),
            ct::description.eq(&t.description),
            ct::kind.eq(&t.kind),
            ct::threshold.eq(t.threshold),
            ct::discount.eq(t.discount),
            ct::discount_rate.eq(t.discount_rate),
            ct::max_discount.eq(t.max_discount),
            ct::gift_sku.eq(&t.gift_sku),
            ct::valid_from.eq(t.valid_from),
            ct::valid_to.eq(t.valid_to),
            ct::valid_days_after_issue.eq(t.valid_days_after_issue),
            ct::total_quantity.eq(t.total_quantity),
            ct::per_customer_limit.eq(t.per_customer_limit),
            ct::store_ids.eq(&t.store_ids),
            ct::channels.eq(&t.channels),
            ct::categories.eq(&t.categories),
            ct::skus.eq(&t.skus),
            ct::stackable.eq(t.stackable),
            ct::unit_cost.eq(t.unit_cost),
            ct::status.eq(&t.status),
            ct::created_at.eq(now),
            ct::updated_at.eq(now),
        ))
        .returning(Template::as_returning())
        .get_result(conn)?)
}

pub fn get_template(conn: &mut PgConnection, id: Uuid) -> ApiResult<Template> {
    ct::table.find(id).select(Template::as_select()).first(conn).optional()?.ok_or_else(template_not_found)
}

/// The template, locked until the transaction ends: issuing and edits take turns on it.
pub fn lock_template(conn: &mut PgConnection, id: Uuid) -> ApiResult<Template> {
    ct::table.find(id).select(Template::as_select()).for_update().first(conn).optional()?.ok_or_else(template_not_found)
}

/// By id, after `after`; only those in `status` when given.
pub fn list_templates(
    conn: &mut PgConnection, status: Option<CouponTemplateStatus>, after: Option<Uuid>, limit: i64,
) -> ApiResult<Vec<Template>> {
    let mut q = ct::table.select(Template::as_select()).order(ct::id.asc()).limit(limit).into_boxed();
    if let Some(status) = status {
        q = q.filter(ct::status.eq(status));
    }
    if let Some(after) = after {
        q = q.filter(ct::id.gt(after));
    }
    Ok(q.load(conn)?)
}

/// Applies a checked patch: 412 when `expected` is not the current version, 409 for a status move
/// the lifecycle does not allow, 422 for a quantity below what was issued or a bad end.
pub fn update_template(
    conn: &mut PgConnection, id: Uuid, expected: Option<i32>, changes: &TemplateChanges, now: DateTime<Utc>,
) -> ApiResult<Template> {
    let current = lock_template(conn, id)?;
    crate::http::check_version(expected, current.version)?;
    if let Some(refusal) = changes.refusal(&current, now) {
        return Err(refused(&current, refusal));
    }
    Ok(diesel::update(ct::table.find(id))
        .set((
            (
                changes.name.as_ref().map(|v| ct::name.eq(v)),
                changes.description.as_ref().map(|v| ct::description.eq(v)),
                changes.status.map(|v| ct::status.eq(v)),
                changes.total_quantity.map(|v| ct::total_quantity.eq(v)),
                changes.per_customer_limit.map(|v| ct::per_customer_limit.eq(v)),
                changes.valid_to.map(|v| ct::valid_to.eq(v)),
                changes.unit_cost.map(|v| ct::unit_cost.eq(v)),
            ),
            ct::version.eq(current.version + 1),
            ct::updated_at.eq(now),
        ))
        .returning(Template::as_returning())
        .get_result(conn)?)
}

/// A change the template rules refuse: 409 `invalid_transition` with the current status, or 422.
fn refused(current: &Template, refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Transition { from, to } => {
            ApiError::conflict("invalid_transition", format!("a {from} template cannot become {to}"))
                .with("template_status", current.status.as_str())
        }
        Refusal::Fields(fields) => {
            let mut v = Violations::new();
            for (field, message) in fields {
                v.add(field, message);
            }
            v.into_result().err().unwrap_or_else(|| ApiError::internal("a refusal named no field"))
        }
    }
}

/// Coupons are issued only from an active template whose end has not passed: 409
/// `template_not_active` (with `template_status`) or `template_expired`.
pub fn ensure_issuable(t: &Template, now: DateTime<Utc>) -> ApiResult<()> {
    templates::issuable(t, now).map_err(|why| match why {
        NotIssuable::NotActive(status) => {
            ApiError::conflict("template_not_active", format!("the template is {status}"))
                .with("template_status", status.as_str())
        }
        NotIssuable::Expired => ApiError::conflict("template_expired", "the template's validity has ended"),
    })
}
