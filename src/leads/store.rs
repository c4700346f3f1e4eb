//! Lead SQL: leads, assignment rules, the candidates a rule names and their open-lead counts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::dsl::count_star;
use diesel::prelude::*;
use uuid::Uuid;

use super::model::{Lead, LeadAssignmentStrategy, LeadKind, LeadStatus, NewLead, Rule, RuleChanges};
use super::rules::{self, Candidate};
use crate::error::{ApiError, ApiResult};
use crate::http::auth::StoreScope;
use crate::schema::{lead_assignment_rules as r, leads, staff};
use crate::staff::store::Staff;
use crate::stores::SalesChannel;

pub fn lead_not_found() -> ApiError {
    ApiError::not_found("lead_not_found", "no lead with this id")
}

pub fn rule_not_found() -> ApiError {
    ApiError::not_found("lead_assignment_rule_not_found", "no lead assignment rule with this id")
}

// ---------------------------------------------------------------------------------------------
// Leads
// ---------------------------------------------------------------------------------------------

pub fn insert(conn: &mut PgConnection, new: &NewLead) -> ApiResult<Lead> {
    // Placed by the customer it is opened for, or by itself for a prospect (SPEC §16).
    let owner = new.customer_id.unwrap_or(new.id);
    Ok(diesel::insert_into(leads::table)
        .values((new, leads::owner_id.eq(owner)))
        .returning(Lead::as_returning())
        .get_result(conn)?)
}

/// A lead within `scope`: another store's lead is not found, exactly like a missing one.
pub fn get(conn: &mut PgConnection, id: Uuid, scope: StoreScope) -> ApiResult<Lead> {
    let mut q = leads::table.filter(leads::id.eq(id)).select(Lead::as_select()).into_boxed();
    if let Some(store) = scope.only() {
        q = q.filter(leads::store_id.eq(store));
    }
    q.first(conn).optional()?.ok_or_else(lead_not_found)
}

/// Locks a lead within `scope` (404 otherwise).
pub fn lock(conn: &mut PgConnection, id: Uuid, scope: StoreScope) -> ApiResult<Lead> {
    // Locking queries cannot be boxed: one statement per case.
    let found = match scope.only() {
        Some(store) => leads::table
            .filter(leads::id.eq(id))
            .filter(leads::store_id.eq(store))
            .select(Lead::as_select())
            .for_update()
            .first(conn)
            .optional()?,
        None => leads::table.filter(leads::id.eq(id)).select(Lead::as_select()).for_update().first(conn).optional()?,
    };
    found.ok_or_else(lead_not_found)
}

#[derive(Debug, Clone)]
pub struct LeadFilter {
    /// The caller's stores: a store-bound caller lists its own store's leads only.
    pub scope: StoreScope,
    pub status: Option<LeadStatus>,
    pub store_id: Option<Uuid>,
    pub assignee_staff_id: Option<Uuid>,
    pub source: Option<SalesChannel>,
    pub kind: Option<LeadKind>,
}

/// Leads by id (creation order), after `after`.
pub fn list(conn: &mut PgConnection, f: &LeadFilter, after: Option<Uuid>, limit: i64) -> ApiResult<Vec<Lead>> {
    let mut q = leads::table.select(Lead::as_select()).order(leads::id.asc()).limit(limit).into_boxed();
    if let Some(s) = f.status {
        q = q.filter(leads::status.eq(s));
    }
    if let Some(s) = f.scope.only() {
        q = q.filter(leads::store_id.eq(s));
    }
    if let Some(s) = f.store_id {
        q = q.filter(leads::store_id.eq(s));
    }
    if let Some(s) = f.assignee_staff_id {
        q = q.filter(leads::assignee_staff_id.eq(s));
    }
    if let Some(s) = &f.source {
        q = q.filter(leads::source.eq(*s));
    }
    if let Some(s) = f.kind {
        q = q.filter(leads::kind.eq(s));
    }
    if let Some(a) = after {
        q = q.filter(leads::id.gt(a));
    }
    Ok(q.load(conn)?)
}

/// Open leads (assigned, contacted, qualified) held by each of `staff_ids`.
pub fn open_counts(conn: &mut PgConnection, staff_ids: &[Uuid]) -> ApiResult<HashMap<Uuid, i64>> {
    let rows: Vec<(Option<Uuid>, i64)> = leads::table
        .filter(leads::assignee_staff_id.eq_any(staff_ids))
        .filter(leads::status.eq_any(rules::OPEN_ASSIGNED))
        .group_by(leads::assignee_staff_id)
        .select((leads::assignee_staff_id, count_star()))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(id, n)| id.map(|id| (id, n))).collect())
}

/// Arbitrary but fixed: the transaction-level advisory lock every lead assignment takes.
const ASSIGNMENT_LOCK_KEY: i64 = 0x7265_7461_696c_0005;

/// Serializes lead assignment (by rule, by hand, after a breach) until the transaction ends, so
/// capacity counts and round-robin positions are exact under concurrency and no two assignments
/// can deadlock over rules and staff they reach in different orders. Assignments are short and
/// far rarer than sales, so one lock costs nothing that matters.
pub fn lock_assignment(conn: &mut PgConnection) -> ApiResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(ASSIGNMENT_LOCK_KEY)
        .execute(conn)?;
    Ok(())
}

/// A staff member within `scope` and their open leads (call under `lock_assignment`). Another
/// store's staff member is "no staff member", exactly like a missing one.
pub fn staff_with_load(conn: &mut PgConnection, id: Uuid, scope: StoreScope) -> ApiResult<(Staff, i64)> {
    let s = crate::staff::store::get_in(conn, id, scope).map_err(|e| match e.code() {
        "staff_not_found" => ApiError::invalid("staff_id", "no staff member with this id"),
        _ => e,
    })?;
    let open = open_counts(conn, &[id])?.get(&id).copied().unwrap_or(0);
    Ok((s, open))
}

/// Gives the lead to `staff` (and the staff's store): status `assigned`, a fresh response clock.
pub fn set_assignment(
    conn: &mut PgConnection, id: Uuid, staff: &Staff, rule_id: Option<Uuid>, now: DateTime<Utc>, due: DateTime<Utc>,
) -> ApiResult<Lead> {
    Ok(diesel::update(leads::table.filter(leads::id.eq(id)))
        .set((
            leads::status.eq(LeadStatus::Assigned),
            leads::assignee_staff_id.eq(staff.id),
            leads::store_id.eq(staff.store_id),
            leads::rule_id.eq(rule_id),
            leads::assigned_at.eq(now),
            leads::response_due_at.eq(due),
            leads::version.eq(leads::version + 1),
            leads::updated_at.eq(now),
        ))
        .returning(Lead::as_returning())
        .get_result(conn)?)
}

/// What a stage move writes besides the status.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = leads)]
pub struct StageChanges {
    pub status: Option<LeadStatus>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub qualified_at: Option<DateTime<Utc>>,
    pub won_at: Option<DateTime<Utc>>,
    pub lost_at: Option<DateTime<Utc>>,
    pub lost_reason: Option<String>,
    pub customer_id: Option<Uuid>,
    pub order_id: Option<Uuid>,
}

pub fn set_stage(conn: &mut PgConnection, id: Uuid, changes: &StageChanges, now: DateTime<Utc>) -> ApiResult<Lead> {
    Ok(diesel::update(leads::table.filter(leads::id.eq(id)))
        .set((changes, leads::version.eq(leads::version + 1), leads::updated_at.eq(now)))
        .returning(Lead::as_returning())
        .get_result(conn)?)
}

/// Assigned leads with no first response whose response was due by `now` and not yet marked,
/// locked (skipping rows another sweep holds).
pub fn lock_due(conn: &mut PgConnection, now: DateTime<Utc>, limit: i64) -> ApiResult<Vec<Lead>> {
    Ok(leads::table
        .filter(leads::status.eq(LeadStatus::Assigned))
        .filter(leads::first_response_at.is_null())
        .filter(leads::sla_breached.eq(false))
        .filter(leads::response_due_at.le(now))
        .select(Lead::as_select())
        .order(leads::id.asc())
        .limit(limit)
        .for_update()
        .skip_locked()
        .load(conn)?)
}

pub fn mark_breached(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> ApiResult<Lead> {
    Ok(diesel::update(leads::table.filter(leads::id.eq(id)))
        .set((
            leads::sla_breached.eq(true),
            leads::sla_breached_at.eq(now),
            leads::version.eq(leads::version + 1),
            leads::updated_at.eq(now),
        ))
        .returning(Lead::as_returning())
        .get_result(conn)?)
}

/// What the funnel counts, per lead created in `[from, to)`.
pub struct FunnelRow {
    pub status: LeadStatus,
    pub assigned_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub qualified_at: Option<DateTime<Utc>>,
    pub sla_breached: bool,
}

pub fn funnel_rows(
    conn: &mut PgConnection, from: DateTime<Utc>, to: DateTime<Utc>, store_id: Option<Uuid>,
    source: Option<SalesChannel>,
) -> ApiResult<Vec<FunnelRow>> {
    let mut q = leads::table
        .filter(leads::created_at.ge(from))
        .filter(leads::created_at.lt(to))
        .select((leads::status, leads::assigned_at, leads::first_response_at, leads::qualified_at, leads::sla_breached))
        .into_boxed();
    if let Some(s) = store_id {
        q = q.filter(leads::store_id.eq(s));
    }
    if let Some(s) = source {
        q = q.filter(leads::source.eq(s));
    }
    #[allow(clippy::type_complexity)]
    let rows: Vec<(LeadStatus, Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<DateTime<Utc>>, bool)> =
        q.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(status, assigned_at, first_response_at, qualified_at, sla_breached)| FunnelRow {
            status,
            assigned_at,
            first_response_at,
            qualified_at,
            sla_breached,
        })
        .collect())
}

/// Merge: the source customer's leads now belong to the target.
pub fn move_to_customer(conn: &mut PgConnection, source: Uuid, target: Uuid) -> ApiResult<i64> {
    let moved = diesel::update(leads::table.filter(leads::customer_id.eq(source)))
        .set(leads::customer_id.eq(target))
        .execute(conn)?;
    Ok(moved as i64)
}

// ---------------------------------------------------------------------------------------------
// Assignment rules
// ---------------------------------------------------------------------------------------------

pub fn insert_rule(conn: &mut PgConnection, c: &RuleChanges, now: DateTime<Utc>) -> ApiResult<Rule> {
    Ok(diesel::insert_into(r::table)
        .values((
            r::id.eq(Uuid::now_v7()),
            r::name.eq(c.name.clone().unwrap_or_default()),
            r::priority.eq(c.priority.unwrap_or(100)),
            r::match_city.eq(c.match_city.clone().flatten()),
            r::match_district.eq(c.match_district.clone().flatten()),
            r::match_category.eq(c.match_category.clone().flatten()),
            r::match_source.eq(c.match_source.flatten()),
            r::match_kind.eq(c.match_kind.flatten()),
            r::target_staff_ids.eq(c.target_staff_ids.clone().unwrap_or_default()),
            r::target_store_id.eq(c.target_store_id.flatten()),
            r::target_skill.eq(c.target_skill.clone().flatten()),
            r::strategy.eq(c.strategy.unwrap_or(LeadAssignmentStrategy::RoundRobin)),
            r::reassign_on_breach.eq(c.reassign_on_breach.unwrap_or(false)),
            r::active.eq(c.active.unwrap_or(true)),
            r::created_at.eq(now),
            r::updated_at.eq(now),
        ))
        .returning(Rule::as_returning())
        .get_result(conn)?)
}

pub fn get_rule(conn: &mut PgConnection, id: Uuid) -> ApiResult<Rule> {
    r::table.find(id).select(Rule::as_select()).first(conn).optional()?.ok_or_else(rule_not_found)
}

pub fn lock_rule(conn: &mut PgConnection, id: Uuid) -> ApiResult<Rule> {
    r::table.find(id).select(Rule::as_select()).for_update().first(conn).optional()?.ok_or_else(rule_not_found)
}

/// Rules in evaluation order (priority, then id), after the `(priority, id)` key.
pub fn list_rules(
    conn: &mut PgConnection, active: Option<bool>, after: Option<(i32, Uuid)>, limit: i64,
) -> ApiResult<Vec<Rule>> {
    let mut q = r::table.select(Rule::as_select()).order((r::priority.asc(), r::id.asc())).limit(limit).into_boxed();
    if let Some(a) = active {
        q = q.filter(r::active.eq(a));
    }
    if let Some((p, id)) = after {
        q = q.filter(r::priority.gt(p).or(r::priority.eq(p).and(r::id.gt(id))));
    }
    Ok(q.load(conn)?)
}

pub fn active_rules(conn: &mut PgConnection) -> ApiResult<Vec<Rule>> {
    Ok(r::table
        .filter(r::active.eq(true))
        .select(Rule::as_select())
        .order((r::priority.asc(), r::id.asc()))
        .load(conn)?)
}

pub fn update_rule(conn: &mut PgConnection, id: Uuid, c: &RuleChanges, now: DateTime<Utc>) -> ApiResult<Rule> {
    Ok(diesel::update(r::table.find(id))
        .set((c, r::version.eq(r::version + 1), r::updated_at.eq(now)))
        .returning(Rule::as_returning())
        .get_result(conn)?)
}

pub fn set_last_staff(conn: &mut PgConnection, id: Uuid, staff_id: Uuid) -> ApiResult<()> {
    diesel::update(r::table.find(id)).set(r::last_staff_id.eq(staff_id)).execute(conn)?;
    Ok(())
}

/// The staff a rule names, in id order, with their open leads: the listed staff, or the
/// staff of the target store whose skills include the rule's skill (or the lead's category).
/// `within_store` keeps only staff of that store (a lead created for a given store). Call under
/// `lock_assignment`.
pub fn candidates(
    conn: &mut PgConnection, rule: &Rule, category: Option<&str>, within_store: Option<Uuid>,
) -> ApiResult<(Vec<Candidate>, HashMap<Uuid, Staff>)> {
    let mut q = staff::table.select(staff::id).into_boxed();
    if !rule.target_staff_ids.is_empty() {
        q = q.filter(staff::id.eq_any(rule.target_staff_ids.clone()));
    } else {
        let Some(store) = rule.target_store_id else { return Ok((vec![], HashMap::new())) };
        let Some(skill) = rule.target_skill.as_deref().or(category) else { return Ok((vec![], HashMap::new())) };
        q = q.filter(staff::store_id.eq(store)).filter(staff::skills.contains(vec![skill.to_string()]));
    }
    if let Some(store) = within_store {
        q = q.filter(staff::store_id.eq(store));
    }
    let ids: Vec<Uuid> = q.load(conn)?;
    let people: Vec<Staff> =
        staff::table.filter(staff::id.eq_any(&ids)).select(Staff::as_select()).order(staff::id.asc()).load(conn)?;
    let open = open_counts(conn, &ids)?;
    let candidates = people
        .iter()
        .map(|s| Candidate {
            id: s.id,
            active: s.active,
            capacity: s.capacity,
            open_leads: open.get(&s.id).copied().unwrap_or(0),
        })
        .collect();
    Ok((candidates, people.into_iter().map(|s| (s.id, s)).collect()))
}

// ---------------------------------------------------------------------------------------------
// Erasure (SPEC §5)
// ---------------------------------------------------------------------------------------------

/// PIPL erasure: the person's leads (theirs by `customer_id`, or unlinked ones left with their
/// phone) keep their stage and figures but lose the contact (name, phone, WeChat) and the notes,
/// which are the person's own words. Returns how many leads changed.
pub fn erase_contacts(
    conn: &mut PgConnection, customers: &[Uuid], phones: &[String], now: DateTime<Utc>,
) -> ApiResult<i64> {
    use crate::schema::leads as l;
    let erased = diesel::update(
        l::table
            .filter(l::customer_id.eq_any(customers).or(l::customer_id.is_null().and(l::contact_phone.eq_any(phones)))),
    )
    .set((
        l::contact_name.eq(None::<String>),
        l::contact_phone.eq(None::<String>),
        l::contact_wechat.eq(None::<String>),
        l::notes.eq(diesel::dsl::case_when(
            l::notes.is_not_null(),
            crate::events::ERASED.into_sql::<diesel::sql_types::Text>(),
        )),
        l::version.eq(l::version + 1),
        l::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(erased as i64)
}
