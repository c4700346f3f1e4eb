//! Ticket configuration SQL: routing rules (and the routing of a new ticket) and SLA policies.

use chrono::{DateTime, NaiveTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::model::{TicketPriority, TicketType};
use super::rules::{self, BusinessHours, Policy, Routed, RuleMatch};
use crate::error::{ApiError, ApiResult};
use crate::schema::{sla_policies as sp, ticket_routing_rules as rr};
use crate::stores::SalesChannel;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rr)]
pub struct RoutingRule {
    pub id: Uuid,
    #[diesel(embed)]
    pub fields: RuleFields,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RoutingRule {
    fn to_match(&self) -> RuleMatch {
        RuleMatch {
            ticket_type: self.fields.match_type,
            category: self.fields.match_category.clone(),
            channel: self.fields.match_channel,
            priority: self.fields.match_priority,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sp)]
pub struct SlaPolicy {
    pub priority: TicketPriority,
    pub first_response_minutes: i32,
    pub resolution_minutes: i32,
    pub business_hours_start: Option<NaiveTime>,
    pub business_hours_end: Option<NaiveTime>,
    pub business_days: Vec<i32>,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

impl SlaPolicy {
    pub fn rules(&self) -> Policy {
        Policy {
            first_response_minutes: self.first_response_minutes,
            resolution_minutes: self.resolution_minutes,
            hours: BusinessHours {
                start: self.business_hours_start,
                end: self.business_hours_end,
                days: self.business_days.clone(),
            },
        }
    }
}

pub fn rule_not_found() -> ApiError {
    ApiError::not_found("ticket_routing_rule_not_found", "no ticket routing rule with this id")
}

pub fn policy_not_found() -> ApiError {
    ApiError::not_found("sla_policy_not_found", "SLA policies exist for low, normal, high and urgent")
}

// ---------------------------------------------------------------------------------------------
// SLA policies
// ---------------------------------------------------------------------------------------------

/// From the lowest priority to the highest.
pub fn policies(conn: &mut PgConnection) -> ApiResult<Vec<SlaPolicy>> {
    let mut all: Vec<SlaPolicy> = sp::table.select(SlaPolicy::as_select()).load(conn)?;
    all.sort_by_key(|p| p.priority);
    Ok(all)
}

pub fn policy(conn: &mut PgConnection, priority: TicketPriority) -> ApiResult<SlaPolicy> {
    sp::table.find(priority).select(SlaPolicy::as_select()).first(conn).optional()?.ok_or_else(policy_not_found)
}

pub struct PolicyUpdate {
    pub first_response_minutes: i32,
    pub resolution_minutes: i32,
    pub business_hours_start: Option<NaiveTime>,
    pub business_hours_end: Option<NaiveTime>,
    pub business_days: Vec<i32>,
}

/// Replaces a policy; applies to tickets from their next change (open tickets keep their due times
/// until then).
pub fn put_policy(
    conn: &mut PgConnection, priority: TicketPriority, expected: Option<i32>, p: &PolicyUpdate, now: DateTime<Utc>,
) -> ApiResult<SlaPolicy> {
    let current: SlaPolicy = sp::table
        .find(priority)
        .select(SlaPolicy::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(policy_not_found)?;
    crate::http::check_version(expected, current.version)?;
    Ok(diesel::update(sp::table.find(priority))
        .set((
            sp::first_response_minutes.eq(p.first_response_minutes),
            sp::resolution_minutes.eq(p.resolution_minutes),
            sp::business_hours_start.eq(p.business_hours_start),
            sp::business_hours_end.eq(p.business_hours_end),
            sp::business_days.eq(&p.business_days),
            sp::version.eq(current.version + 1),
            sp::updated_at.eq(now),
        ))
        .returning(SlaPolicy::as_returning())
        .get_result(conn)?)
}

// ---------------------------------------------------------------------------------------------
// Routing rules
// ---------------------------------------------------------------------------------------------

/// What a routing rule says, as created or replaced whole (`None` is NULL: any).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = rr, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct RuleFields {
    pub name: String,
    pub priority: i32,
    pub match_type: Option<TicketType>,
    pub match_category: Option<String>,
    pub match_channel: Option<SalesChannel>,
    pub match_priority: Option<TicketPriority>,
    pub team: String,
    pub active: bool,
}

pub fn insert_rule(conn: &mut PgConnection, r: &RuleFields, now: DateTime<Utc>) -> ApiResult<RoutingRule> {
    Ok(diesel::insert_into(rr::table)
        .values((rr::id.eq(Uuid::now_v7()), r, rr::created_at.eq(now), rr::updated_at.eq(now)))
        .returning(RoutingRule::as_returning())
        .get_result(conn)?)
}

/// In evaluation order: priority, then id.
pub fn list_rules(conn: &mut PgConnection, after: Option<(i32, Uuid)>, limit: i64) -> ApiResult<Vec<RoutingRule>> {
    let mut q = rr::table.select(RoutingRule::as_select()).order((rr::priority, rr::id)).limit(limit).into_boxed();
    if let Some((p, id)) = after {
        q = q.filter(rr::priority.gt(p).or(rr::priority.eq(p).and(rr::id.gt(id))));
    }
    Ok(q.load(conn)?)
}

pub fn get_rule(conn: &mut PgConnection, id: Uuid) -> ApiResult<RoutingRule> {
    rr::table.find(id).select(RoutingRule::as_select()).first(conn).optional()?.ok_or_else(rule_not_found)
}

pub fn update_rule(
    conn: &mut PgConnection, id: Uuid, expected: Option<i32>,
    apply: impl FnOnce(&RoutingRule) -> ApiResult<RuleFields>, now: DateTime<Utc>,
) -> ApiResult<RoutingRule> {
    let current: RoutingRule = rr::table
        .find(id)
        .select(RoutingRule::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(rule_not_found)?;
    // The body is judged first: a bad body is a 4xx of its own, whatever version it names.
    let r = apply(&current)?;
    crate::http::check_version(expected, current.version)?;
    Ok(diesel::update(rr::table.find(id))
        .set((&r, rr::version.eq(current.version + 1), rr::updated_at.eq(now)))
        .returning(RoutingRule::as_returning())
        .get_result(conn)?)
}

pub fn delete_rule(conn: &mut PgConnection, id: Uuid, expected: Option<i32>) -> ApiResult<()> {
    let current = get_rule(conn, id)?;
    crate::http::check_version(expected, current.version)?;
    diesel::delete(rr::table.find(id)).execute(conn)?;
    Ok(())
}

/// The team of the first active rule that matches, if any.
pub fn route(conn: &mut PgConnection, ticket: &Routed<'_>) -> ApiResult<Option<String>> {
    let active: Vec<RoutingRule> = rr::table
        .filter(rr::active.eq(true))
        .order((rr::priority, rr::id))
        .select(RoutingRule::as_select())
        .load(conn)?;
    let matches: Vec<RuleMatch> = active.iter().map(RoutingRule::to_match).collect();
    Ok(rules::first_match(&matches, ticket).map(|i| active[i].fields.team.clone()))
}
