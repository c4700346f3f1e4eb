//! Lead workflows, each inside the caller's transaction: create and auto-assign, manual assignment,
//! stage moves, conversion into a customer, the SLA's re-assignment.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::model::{Lead, LeadAssignmentReason, LeadStatus, NewLead, Rule};
use super::rules::{self, Action};
use super::store::{self, StageChanges};
use crate::error::{ApiError, ApiResult};
use crate::events::emit;
use crate::events::types::{EventData, LeadAssigned, LeadCreated, LeadStageChanged, LeadWon};
use crate::http::auth::StoreScope;
use crate::staff::store::Staff;

/// 409 `invalid_transition`, naming the lead's current status.
pub fn invalid_transition(lead: &Lead, action: Action) -> ApiError {
    ApiError::conflict("invalid_transition", format!("a lead in status '{}' cannot {}", lead.status, action.name()))
        .with("lead_status", lead.status.as_str())
}

/// The next status for `action`, or 409.
pub fn next_status(lead: &Lead, action: Action) -> ApiResult<LeadStatus> {
    rules::transition(lead.status, action).ok_or_else(|| invalid_transition(lead, action))
}

fn assigned_event(conn: &mut PgConnection, lead: &Lead, reason: LeadAssignmentReason) -> ApiResult<()> {
    let event = LeadAssigned {
        lead_id: lead.id,
        assignee_staff_id: lead.assignee_staff_id,
        store_id: lead.store_id,
        rule_id: lead.rule_id,
        response_due_at: lead.response_due_at,
        reason: reason.to_string(),
    };
    emit(conn, Some(lead.subject()), EventData::LeadAssigned(event))?;
    Ok(())
}

/// Runs one rule for the lead (under `store::lock_assignment`): locks the rule row, picks a free
/// person and moves the round-robin position. `None` when nobody under the rule is free.
fn assign_under_rule(
    conn: &mut PgConnection, rule_id: Uuid, lead: &Lead, within_store: Option<Uuid>, exclude: Option<Uuid>,
) -> ApiResult<Option<(Rule, Staff)>> {
    let rule = store::lock_rule(conn, rule_id)?;
    if !rule.active {
        return Ok(None);
    }
    let (candidates, mut people) = store::candidates(conn, &rule, lead.category.as_deref(), within_store)?;
    let Some(chosen) = rules::pick(rule.strategy, &candidates, rule.last_staff_id, exclude) else { return Ok(None) };
    store::set_last_staff(conn, rule.id, chosen)?;
    Ok(people.remove(&chosen).map(|s| (rule, s)))
}

/// Creates a lead and runs the assignment rules in order; unassigned (`new`) when no rule matches
/// or nobody under the matching rules is free.
pub fn create(conn: &mut PgConnection, new: &NewLead, now: DateTime<Utc>, response_minutes: i64) -> ApiResult<Lead> {
    let lead = store::insert(conn, new)?;
    let event = LeadCreated {
        lead_id: lead.id,
        source: lead.source.to_string(),
        kind: lead.kind.to_string(),
        category: lead.category.clone(),
        store_id: lead.store_id,
    };
    emit(conn, Some(lead.subject()), EventData::LeadCreated(event))?;
    let attributes = lead.attributes();
    let matching: Vec<Rule> =
        store::active_rules(conn)?.into_iter().filter(|r| rules::matches(&r.matcher(), &attributes)).collect();
    if !matching.is_empty() {
        store::lock_assignment(conn)?;
    }
    for rule in matching {
        if let Some((rule, staff)) = assign_under_rule(conn, rule.id, &lead, new.store_id, None)? {
            let due = rules::response_due(now, response_minutes);
            let lead = store::set_assignment(conn, lead.id, &staff, Some(rule.id), now, due)?;
            assigned_event(conn, &lead, LeadAssignmentReason::Rule)?;
            return Ok(lead);
        }
    }
    Ok(lead)
}

/// Hands the lead to a named staff member: within the caller's stores (another store's staff
/// member is "no staff member", 422), of the lead's store when it has one (a lead takes its
/// assignee's store, so a store's lead never leaves it by hand), active and under capacity.
pub fn assign(
    conn: &mut PgConnection, lead: &Lead, staff_id: Uuid, scope: StoreScope, now: DateTime<Utc>, response_minutes: i64,
) -> ApiResult<Lead> {
    next_status(lead, Action::Assign)?;
    store::lock_assignment(conn)?;
    let (staff, open) = store::staff_with_load(conn, staff_id, scope)?;
    if !StoreScope::of_holder(lead.store_id).covers(staff.store_id) {
        return Err(ApiError::invalid("staff_id", "not a staff member of the lead's store"));
    }
    if !staff.active {
        return Err(ApiError::conflict("staff_inactive", "this staff member is not active"));
    }
    if lead.assignee_staff_id == Some(staff.id) {
        return Err(ApiError::conflict("already_assigned", "the lead is already assigned to this staff member"));
    }
    if open >= i64::from(staff.capacity) {
        return Err(ApiError::conflict(
            "staff_at_capacity",
            "this staff member has as many open leads as their capacity",
        )
        .with("capacity", staff.capacity)
        .with("open_leads", open));
    }
    let due = rules::response_due(now, response_minutes);
    let updated = store::set_assignment(conn, lead.id, &staff, None, now, due)?;
    assigned_event(conn, &updated, LeadAssignmentReason::Manual)?;
    Ok(updated)
}

/// contact / qualify / close-as-lost: a stage move with its timestamp and event.
pub fn advance(
    conn: &mut PgConnection, lead: &Lead, action: Action, lost_reason: Option<String>, now: DateTime<Utc>,
) -> ApiResult<Lead> {
    let status = next_status(lead, action)?;
    let mut changes = StageChanges { status: Some(status), ..Default::default() };
    match action {
        Action::Contact => changes.first_response_at = Some(now),
        Action::Qualify => changes.qualified_at = Some(now),
        Action::CloseLost => {
            changes.lost_at = Some(now);
            changes.lost_reason = lost_reason;
        }
        Action::CloseWon => changes.won_at = Some(now),
        Action::Assign | Action::Convert => return Err(ApiError::internal("advance called for assign/convert")),
    }
    let updated = store::set_stage(conn, lead.id, &changes, now)?;
    let stage = LeadStageChanged {
        lead_id: updated.id,
        status: updated.status.to_string(),
        assignee_staff_id: updated.assignee_staff_id,
        store_id: updated.store_id,
    };
    let event = match action {
        Action::Contact => EventData::LeadContacted(stage),
        Action::Qualify => EventData::LeadQualified(stage),
        Action::CloseLost => EventData::LeadLost(stage),
        // Closed as won by hand: no conversion, so no order and no new customer.
        _ => EventData::LeadWon(LeadWon {
            lead_id: updated.id,
            customer_id: updated.customer_id,
            customer_created: false,
            order_id: None,
            assignee_staff_id: updated.assignee_staff_id,
            store_id: updated.store_id,
        }),
    };
    emit(conn, Some(updated.subject()), event)?;
    Ok(updated)
}

/// The customer a contact phone belongs to, if any.
pub fn match_by_phone(conn: &mut PgConnection, phone: Option<&str>) -> ApiResult<Option<Uuid>> {
    match phone {
        Some(p) => crate::customers::store::owner_of(conn, "phone", p),
        None => Ok(None),
    }
}

/// qualified → won, linking the given customer, the matched one, or a new customer made from
/// the contact (name and phone); optionally the order that won it.
pub fn convert(
    conn: &mut PgConnection, lead: &Lead, customer_id: Option<Uuid>, order_id: Option<Uuid>, now: DateTime<Utc>,
) -> ApiResult<(Lead, bool)> {
    next_status(lead, Action::Convert)?;
    if let Some(order) = order_id {
        crate::orders::store::linkable(conn, order, lead.store_id, "order_id")?;
    }
    let mut created = false;
    let customer = match customer_id {
        Some(id) => {
            let c = crate::customers::store::get(conn, id)
                .map_err(|_| ApiError::invalid("customer_id", "no customer with this id"))?;
            crate::customers::store::ensure_active(&c)?;
            id
        }
        None => match lead.customer_id.or(match_by_phone(conn, lead.contact_phone.as_deref())?) {
            Some(id) => id,
            None => {
                let profile = crate::customers::store::ProfileChanges {
                    name: Some(lead.contact_name.clone()),
                    phone: Some(lead.contact_phone.clone()),
                    city: Some(lead.city.clone()),
                    district: Some(lead.district.clone()),
                    source_channel: Some(Some(lead.source)),
                    home_store_id: Some(lead.store_id),
                    ..Default::default()
                };
                let input = crate::customers::model::ValidInput { profile, ..Default::default() };
                created = true;
                crate::customers::service::create(conn, input, now, crate::http::auth::StoreScope::Chain)?.id
            }
        },
    };
    let changes = StageChanges {
        status: Some(LeadStatus::Won),
        won_at: Some(now),
        customer_id: Some(customer),
        order_id,
        ..Default::default()
    };
    let updated = store::set_stage(conn, lead.id, &changes, now)?;
    let won = LeadWon {
        lead_id: updated.id,
        customer_id: Some(customer),
        customer_created: created,
        order_id,
        assignee_staff_id: updated.assignee_staff_id,
        store_id: updated.store_id,
    };
    emit(conn, Some(customer), EventData::LeadWon(won))?;
    Ok((updated, created))
}

/// SLA re-assignment: the next free person under the lead's rule other than the current
/// assignee, in the lead's store, with a response clock as long as the first one. `None` when
/// nobody is free.
pub fn reassign_after_breach(conn: &mut PgConnection, lead: &Lead, now: DateTime<Utc>) -> ApiResult<Option<Lead>> {
    let Some(rule_id) = lead.rule_id else { return Ok(None) };
    let rule = store::get_rule(conn, rule_id)?;
    if !rule.reassign_on_breach {
        return Ok(None);
    }
    store::lock_assignment(conn)?;
    // Within the store that holds the lead: a store-bound caller keeps seeing it.
    let Some((rule, staff)) = assign_under_rule(conn, rule.id, lead, lead.store_id, lead.assignee_staff_id)? else {
        return Ok(None);
    };
    let window = match (lead.assigned_at, lead.response_due_at) {
        (Some(a), Some(d)) if d > a => d - a,
        _ => chrono::Duration::minutes(15),
    };
    let updated = store::set_assignment(conn, lead.id, &staff, Some(rule.id), now, now + window)?;
    assigned_event(conn, &updated, LeadAssignmentReason::SlaBreach)?;
    Ok(Some(updated))
}
