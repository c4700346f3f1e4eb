//! The demo's own SQL: finding what an earlier run made (by natural key), the run's record, and
//! the counts of the closing summary.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text};
use serde_json::Value;
use uuid::Uuid;

use crate::error::ApiResult;
use crate::schema::{
    campaigns, coupon_templates, job_runs, lead_assignment_rules, staff, stores, ticket_routing_rules,
};

/// The demo's row in `job_runs`: its business date is the last day of the demo's history.
pub const JOB: &str = "seed_demo";

pub fn run_record(conn: &mut PgConnection) -> ApiResult<Option<(NaiveDate, Value)>> {
    let row: Option<(NaiveDate, Option<Value>)> = job_runs::table
        .filter(job_runs::job.eq(JOB))
        .select((job_runs::business_date, job_runs::result))
        .order(job_runs::business_date.desc())
        .first(conn)
        .optional()?;
    Ok(row.map(|(date, result)| (date, result.unwrap_or(Value::Null))))
}

pub fn save_run_record(conn: &mut PgConnection, until: NaiveDate, result: &Value, now: DateTime<Utc>) -> ApiResult<()> {
    diesel::insert_into(job_runs::table)
        .values((
            job_runs::job.eq(JOB),
            job_runs::business_date.eq(until),
            job_runs::started_at.eq(now),
            job_runs::finished_at.eq(Some(now)),
            job_runs::result.eq(Some(result)),
        ))
        .on_conflict((job_runs::job, job_runs::business_date))
        .do_update()
        .set((job_runs::finished_at.eq(Some(now)), job_runs::result.eq(Some(result))))
        .execute(conn)?;
    Ok(())
}

pub fn store_by_code(conn: &mut PgConnection, code: &str) -> ApiResult<Option<Uuid>> {
    Ok(stores::table.filter(stores::code.eq(code)).select(stores::id).first(conn).optional()?)
}

pub fn staff_by_name(conn: &mut PgConnection, name: &str, store: Option<Uuid>) -> ApiResult<Option<Uuid>> {
    let q = staff::table.filter(staff::name.eq(name)).select(staff::id);
    Ok(match store {
        Some(s) => q.filter(staff::store_id.eq(s)).first(conn).optional()?,
        None => q.filter(staff::store_id.is_null()).first(conn).optional()?,
    })
}

pub fn template_by_name(conn: &mut PgConnection, name: &str) -> ApiResult<Option<Uuid>> {
    Ok(coupon_templates::table
        .filter(coupon_templates::name.eq(name))
        .order(coupon_templates::id)
        .select(coupon_templates::id)
        .first(conn)
        .optional()?)
}

pub fn campaign_by_name(conn: &mut PgConnection, name: &str) -> ApiResult<Option<Uuid>> {
    Ok(campaigns::table
        .filter(campaigns::name.eq(name))
        .order(campaigns::id)
        .select(campaigns::id)
        .first(conn)
        .optional()?)
}

pub fn lead_rule_by_name(conn: &mut PgConnection, name: &str) -> ApiResult<Option<Uuid>> {
    Ok(lead_assignment_rules::table
        .filter(lead_assignment_rules::name.eq(name))
        .select(lead_assignment_rules::id)
        .first(conn)
        .optional()?)
}

pub fn routing_rule_by_name(conn: &mut PgConnection, name: &str) -> ApiResult<Option<Uuid>> {
    Ok(ticket_routing_rules::table
        .filter(ticket_routing_rules::name.eq(name))
        .select(ticket_routing_rules::id)
        .first(conn)
        .optional()?)
}

#[derive(QueryableByName)]
struct SeededRow {
    #[diesel(sql_type = Text)]
    phone: String,
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    customer: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    ordered: bool,
}

/// What an earlier run left of a unit: its customer (and whether they have orders), or only a
/// lead naming its phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeded {
    pub customer: Option<Uuid>,
    pub ordered: bool,
}

/// Of `phones`, those an earlier run seeded: a customer holds the phone, or a lead names it.
pub fn seeded_phones(conn: &mut PgConnection, phones: &[String]) -> ApiResult<HashMap<String, Seeded>> {
    let rows: Vec<SeededRow> = diesel::sql_query(
        "SELECT i.value AS phone, i.customer_id AS customer, \
                EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = i.customer_id) AS ordered \
         FROM identity_routes i WHERE i.kind = 'phone' AND i.value = ANY($1) \
         UNION ALL \
         SELECT DISTINCT contact_phone, NULL::uuid, false FROM leads WHERE contact_phone = ANY($1)",
    )
    .bind::<Array<Text>, _>(phones)
    .load(conn)?;
    let mut out: HashMap<String, Seeded> = HashMap::new();
    for r in rows {
        let seen = Seeded { customer: r.customer, ordered: r.ordered };
        // A customer row says more than a lead naming the same phone.
        let keep = out.get(&r.phone).is_some_and(|s| s.customer.is_some());
        if !keep {
            out.insert(r.phone, seen);
        }
    }
    Ok(out)
}

/// A customer's coupons in the order they were issued.
pub fn coupons_of(conn: &mut PgConnection, customer: Uuid) -> ApiResult<Vec<crate::coupons::model::Coupon>> {
    use crate::schema::coupons;
    Ok(coupons::table
        .filter(coupons::customer_id.eq(customer))
        .order((coupons::issued_at, coupons::code))
        .select(crate::coupons::model::Coupon::as_select())
        .load(conn)?)
}

#[derive(QueryableByName, Debug, Clone, PartialEq)]
pub struct Count {
    #[diesel(sql_type = Text)]
    pub what: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// What the database holds, for the summary (the whole database, seeded or not).
pub fn counts(conn: &mut PgConnection) -> ApiResult<Vec<Count>> {
    Ok(diesel::sql_query(
        "SELECT 'stores' AS what, count(*) FILTER (WHERE kind = 'store') AS n FROM stores
         UNION ALL SELECT 'online shops', count(*) FILTER (WHERE kind = 'online') FROM stores
         UNION ALL SELECT 'staff', count(*) FROM staff
         UNION ALL SELECT 'customers', count(*) FROM customers WHERE status = 'active'
         UNION ALL SELECT 'members', count(*) FROM memberships
         UNION ALL SELECT 'silver', count(*) FILTER (WHERE tier_code = 'silver') FROM memberships
         UNION ALL SELECT 'gold', count(*) FILTER (WHERE tier_code = 'gold') FROM memberships
         UNION ALL SELECT 'orders', count(*) FROM orders
         UNION ALL SELECT 'refunds', count(*) FROM refunds
         UNION ALL SELECT 'points entries', count(*) FROM points_entries
         UNION ALL SELECT 'coupon templates', count(*) FROM coupon_templates
         UNION ALL SELECT 'coupons', count(*) FROM coupons
         UNION ALL SELECT 'coupons redeemed', count(*) FILTER (WHERE status = 'redeemed') FROM coupons
         UNION ALL SELECT 'campaigns', count(*) FROM campaigns
         UNION ALL SELECT 'leads', count(*) FROM leads
         UNION ALL SELECT 'tickets', count(*) FROM tickets",
    )
    .load(conn)?)
}

/// The automations' ids and statuses, by name.
pub fn campaign_statuses(conn: &mut PgConnection, ids: &[Uuid]) -> ApiResult<Vec<(String, String)>> {
    Ok(campaigns::table
        .filter(campaigns::id.eq_any(ids))
        .order(campaigns::id)
        .select((campaigns::name, campaigns::status))
        .load(conn)?)
}

/// The tier discount rates of the catalogue, lowest first (the deepest discount a basket can get).
pub fn lowest_tier_rate(conn: &mut PgConnection) -> ApiResult<rust_decimal::Decimal> {
    use crate::schema::tiers;
    let rates: Vec<rust_decimal::Decimal> = tiers::table.select(tiers::discount_rate).load(conn)?;
    Ok(rates.into_iter().min().unwrap_or(rust_decimal::Decimal::ONE).min(rust_decimal::Decimal::ONE))
}
