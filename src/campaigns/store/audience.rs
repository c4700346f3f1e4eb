//! Who a run is due for (`candidates`: the audience or the trigger, compiled with the segment
//! language), what the contact policy and the message need of them (`contacts`), and whether a
//! deferred message may still go (`still_reachable`).

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use const_format::formatcp;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Date, Int4, Int8, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use crate::campaigns::model::{self, CampaignChannel, CampaignKind, Trigger};
use crate::campaigns::plan::Plan;
use crate::campaigns::rules::{self, Policy};
use crate::customers::rules::{CustomerStatus, IdentityKind};
use crate::db::cached_sql::Binds;
use crate::error::ApiResult;
use crate::segments::compile::{birthday_in_days_sql, Compiler, Evaluation, Param, FACTS};

/// Categories a message names for `{{usual_categories}}` and `{{recommended_categories}}`.
pub const CATEGORIES_NAMED: usize = 3;
/// Recommendations leave out what the customer bought this recently (SPEC §13).
const RECENTLY_BOUGHT_DAYS: i32 = 30;

/// One customer as a run sees them: the candidate and the occurrence it is due for.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Candidate {
    #[diesel(sql_type = SqlUuid)]
    pub customer_id: Uuid,
    #[diesel(sql_type = Text)]
    pub occurrence: String,
    /// Already decided (by a run that died half-way, or another instance).
    #[diesel(sql_type = Bool)]
    pub decided: bool,
}

/// The next candidates after `after`, in customer order: the audience (a one-off or scheduled
/// run), or those the trigger fires for today, within the audience when there is one. A run
/// that keeps a cursor (`resumable`) gets the next `limit` candidates, each marked whether it was
/// decided already; an event trigger's standing scan gets only undecided ones.
pub fn candidates(
    conn: &mut PgConnection, plan: &Plan, at: Evaluation, after: Option<Uuid>, limit: i64, resumable: bool,
) -> ApiResult<Vec<Candidate>> {
    let mut sql = Compiler::new(at);
    let after = sql.start_after(after.unwrap_or(Uuid::nil()));
    let campaign = sql.bind(Param::Id(plan.campaign.id));
    let in_audience = plan.audience.as_ref().map(|node| sql.node(node)).unwrap_or_else(|| "true".into());
    let activated = sql.bind(Param::Instant(plan.campaign.activated_at.unwrap_or(at.now)));
    let (from, occurrence, condition) = match plan.trigger.filter(|_| plan.kind == CampaignKind::Triggered) {
        None => (FACTS.to_string(), "'once'".to_string(), "true".to_string()),
        Some(Trigger::Birthday { offset_days }) => {
            // The birthday this run celebrates falls `offset_days` before today (−3: in 3 days).
            let day = format!("($1::date - {offset_days})");
            (
                FACTS.into(),
                format!("date_part('year', {day})::int::text"),
                format!("c.birthday IS NOT NULL AND {} = 0", birthday_in_days_sql("c.birthday", &day)),
            )
        }
        Some(Trigger::MembershipAnniversary) => {
            let joined = "(m.enrolled_at AT TIME ZONE $2::text)::date";
            (
                format!("{FACTS} JOIN memberships m ON m.customer_id = c.id"),
                "date_part('year', $1::date)::int::text".into(),
                format!("{joined} < $1::date AND {} = 0", birthday_in_days_sql(joined, "$1::date")),
            )
        }
        Some(Trigger::Dormant { days }) => {
            (FACTS.into(), "c.last_order_on::text".into(), format!("c.last_order_on <= $1::date - {days}"))
        }
        Some(Trigger::FirstOrder) => {
            (FACTS.into(), "'first'".into(), format!("c.first_order_on >= ({activated} AT TIME ZONE $2::text)::date"))
        }
        Some(Trigger::TierUpgraded) => (
            format!(
                "tier_changes tc JOIN {FACTS} ON c.id = tc.customer_id
                 JOIN tiers tf ON tf.code = tc.from_tier JOIN tiers tt ON tt.code = tc.to_tier"
            ),
            "tc.id::text".into(),
            format!("tc.occurred_at >= {activated} AND tt.rank > tf.rank"),
        ),
        Some(Trigger::CartAbandoned) => (
            format!("leads l JOIN {FACTS} ON c.id = l.customer_id"),
            "l.id::text".into(),
            format!(
                "l.kind = 'cart_abandoned' AND l.created_at >= {activated}
                 AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.occurred_at > l.created_at)"
            ),
        ),
    };
    let limit = sql.bind(Param::Integer(limit));
    // Whether a candidate was decided is one probe of the recipients' key per candidate, made
    // only for the candidates found: OFFSET 0 keeps the planner from turning it into an anti-join
    // planned on a young table's statistics, or from probing every customer it passes.
    let decided = format!(
        "EXISTS (SELECT 1 FROM campaign_recipients r WHERE r.campaign_id = {campaign}
                 AND r.customer_id = cand.customer_id AND r.occurrence = cand.occurrence OFFSET 0)"
    );
    let found = format!(
        "SELECT c.id AS customer_id, {occurrence} AS occurrence FROM {from}
         WHERE c.id > {after} AND {condition} AND ({in_audience})"
    );
    let text = if resumable {
        format!(
            "SELECT cand.customer_id, cand.occurrence, {decided} AS decided
             FROM ({found} ORDER BY 1, 2 LIMIT {limit}) cand ORDER BY 1, 2"
        )
    } else {
        format!(
            "SELECT cand.customer_id, cand.occurrence, false AS decided
             FROM ({found}) cand WHERE NOT {decided} ORDER BY 1, 2 LIMIT {limit}"
        )
    };
    crate::segments::store::roomy(conn, |conn| Ok(crate::segments::store::query(sql.finish(text)).load(conn)?))
}

/// What the policy and the message need of one customer.
#[derive(Debug, Clone, QueryableByName)]
pub struct ContactRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Bool)]
    pub live: bool,
    #[diesel(sql_type = Bool)]
    pub consented: bool,
    #[diesel(sql_type = Nullable<Text>)]
    pub address: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub recent_messages: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub tier_name: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub points: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub store_name: Option<String>,
    #[diesel(sql_type = Array<Text>)]
    pub usual: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    pub bought: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    pub bought_recently: Vec<String>,
}

/// The contacts statement of a batch, not yet run: `names` are the variables the template uses.
fn contacts_statement<'a>(
    ids: &'a [Uuid], channel: Option<CampaignChannel>, policy: &Policy, now: DateTime<Utc>, today: NaiveDate,
    names: &[String],
) -> impl diesel::query_dsl::LoadQuery<'a, PgConnection, ContactRow> + Binds + 'a {
    let named = |variable: &str| names.iter().any(|n| n == variable);
    crate::db::CachedSql::new(include_str!("contacts.sql"))
        .param::<Array<SqlUuid>, _>("ids", ids)
        .param::<Text, _>("consent", channel.map(|c| c.consent().as_str()).unwrap_or(""))
        .param::<Text, _>("channel", channel.map(CampaignChannel::as_str).unwrap_or(""))
        .param::<Timestamptz, _>("counted_since", now - Duration::days(i64::from(policy.frequency_days)))
        .param::<Date, _>("today", today)
        .param::<Int8, _>("categories_named", CATEGORIES_NAMED as i64)
        .param::<Int4, _>("recently_bought_days", RECENTLY_BOUGHT_DAYS)
        .param::<Bool, _>("names_tier", named("tier"))
        .param::<Bool, _>("names_points", named("points"))
        .param::<Bool, _>("names_store", named("store_name"))
        .param::<Bool, _>("names_usual", named("usual_categories"))
        .param::<Bool, _>("names_recommended", named("recommended_categories"))
        .param::<Text, _>("sms", CampaignChannel::Sms)
        .param::<Text, _>("email", CampaignChannel::Email)
        .param::<Text, _>("wechat", CampaignChannel::Wechat)
        .param::<Text, _>("active", CustomerStatus::Active)
        .param::<Text, _>("wechat_openid", IdentityKind::WechatOpenid)
}

/// Reads, besides what the contact policy checks, only what the campaign's template names: a
/// birthday SMS with `{{name}}` reads no tier, balance, store or categories for its customers.
pub fn contacts(
    conn: &mut PgConnection, ids: &[Uuid], plan: &Plan, policy: &Policy, now: DateTime<Utc>, today: NaiveDate,
) -> ApiResult<HashMap<Uuid, ContactRow>> {
    let message = model::message(&plan.actions);
    let channel = message.map(|(c, _)| c);
    let names: Vec<String> = message.and_then(|(_, t)| rules::variables_of(t).ok()).unwrap_or_default();
    let rows: Vec<ContactRow> = contacts_statement(ids, channel, policy, now, today, &names).load(conn)?;
    Ok(rows.into_iter().map(|r| (r.id, r)).collect())
}

/// For each customer: live, and the consents granted now.
pub fn still_reachable(conn: &mut PgConnection, ids: &[Uuid]) -> ApiResult<HashMap<Uuid, (bool, Vec<String>)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = Bool)]
        live: bool,
        #[diesel(sql_type = Array<Text>)]
        granted: Vec<String>,
    }
    const LIVE_AND_GRANTED: &str = formatcp!(
        "SELECT c.id, c.status = '{}' AS live,
                ARRAY(SELECT k FROM jsonb_each(c.consents) j(k, v) WHERE (v ->> 'granted')::boolean) AS granted
         FROM customers c WHERE c.id = ANY($1)",
        CustomerStatus::Active.as_str()
    );
    let rows: Vec<Row> = diesel::sql_query(LIVE_AND_GRANTED).bind::<Array<SqlUuid>, _>(ids).load(conn)?;
    Ok(rows.into_iter().map(|r| (r.id, (r.live, r.granted))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contacts_bind_each_parameter_by_name() {
        let policy = Policy { frequency_max: 3, frequency_days: 7, quiet: None };
        let (ids, names) = ([Uuid::nil()], vec!["tier".to_string()]);
        let at = DateTime::UNIX_EPOCH;
        let query = contacts_statement(&ids, Some(CampaignChannel::Sms), &policy, at, at.date_naive(), &names);
        assert_eq!(crate::db::cached_sql::verify(&query), Ok(()));
    }
}
