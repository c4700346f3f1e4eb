//! A run's SQL: claiming it (one instance at a time), its cursor and end, what the campaign spent,
//! and a batch's decisions.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::campaigns::rules::{CampaignStatus, RecipientOutcome, SuppressReason};
use crate::db::cached_sql::Binds;
use crate::error::{ApiError, ApiResult};

/// A claimed run: where it stands, whether the campaign is still active, what it spent.
#[derive(QueryableByName)]
pub struct RunState {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub cursor: Option<Uuid>,
    #[diesel(sql_type = Bool)]
    pub finished: bool,
    #[diesel(sql_type = Bool)]
    pub active: bool,
    #[diesel(sql_type = Numeric)]
    pub spent: Decimal,
}

/// Claims `run` of a campaign for this transaction (creating it at first), `None` when another
/// instance holds it: `FOR UPDATE SKIP LOCKED`. What was spent is read only when `with_spent` (a
/// budget needs it).
pub fn claim(
    conn: &mut PgConnection, campaign: Uuid, run: &str, with_spent: bool, now: DateTime<Utc>,
) -> ApiResult<Option<RunState>> {
    diesel::sql_query(
        "INSERT INTO campaign_runs (campaign_id, run, started_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind::<SqlUuid, _>(campaign)
    .bind::<Text, _>(run)
    .bind::<Timestamptz, _>(now)
    .execute(conn)?;
    Ok(diesel::sql_query(
        "SELECT r.cursor, r.finished_at IS NOT NULL AS finished,
                (SELECT status = $4 FROM campaigns WHERE id = r.campaign_id) AS active,
                CASE WHEN $3 THEN (SELECT coalesce(sum(cost), 0) FROM campaign_recipients
                                   WHERE campaign_id = r.campaign_id) ELSE 0 END::numeric AS spent
         FROM campaign_runs r WHERE r.campaign_id = $1 AND r.run = $2 FOR UPDATE OF r SKIP LOCKED",
    )
    .bind::<SqlUuid, _>(campaign)
    .bind::<Text, _>(run)
    .bind::<Bool, _>(with_spent)
    .bind::<Text, _>(CampaignStatus::Active)
    .get_result(conn)
    .optional()?)
}

pub fn finish(conn: &mut PgConnection, campaign: Uuid, run: &str, now: DateTime<Utc>) -> ApiResult<()> {
    diesel::sql_query("UPDATE campaign_runs SET finished_at = $3 WHERE campaign_id = $1 AND run = $2")
        .bind::<SqlUuid, _>(campaign)
        .bind::<Text, _>(run)
        .bind::<Timestamptz, _>(now)
        .execute(conn)?;
    Ok(())
}

pub fn move_cursor(conn: &mut PgConnection, campaign: Uuid, run: &str, last: Uuid) -> ApiResult<()> {
    diesel::sql_query("UPDATE campaign_runs SET cursor = $3 WHERE campaign_id = $1 AND run = $2")
        .bind::<SqlUuid, _>(campaign)
        .bind::<Text, _>(run)
        .bind::<SqlUuid, _>(last)
        .execute(conn)?;
    Ok(())
}

/// Whether a one-off or scheduled campaign's single run has finished.
pub fn finished_once(conn: &mut PgConnection, campaign: Uuid) -> ApiResult<bool> {
    #[derive(QueryableByName)]
    struct Finished {
        #[diesel(sql_type = Bool)]
        finished: bool,
    }
    let row: Finished = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM campaign_runs WHERE campaign_id = $1 AND run = 'once'
                        AND finished_at IS NOT NULL) AS finished",
    )
    .bind::<SqlUuid, _>(campaign)
    .get_result(conn)?;
    Ok(row.finished)
}

/// What the campaign's decisions have cost so far.
pub fn spent(conn: &mut PgConnection, campaign: Uuid) -> ApiResult<Decimal> {
    #[derive(QueryableByName)]
    struct Spent {
        #[diesel(sql_type = Numeric)]
        spent: Decimal,
    }
    Ok(diesel::sql_query(
        "SELECT coalesce(sum(cost), 0)::numeric AS spent FROM campaign_recipients WHERE campaign_id = $1",
    )
    .bind::<SqlUuid, _>(campaign)
    .get_result::<Spent>(conn)?
    .spent)
}

/// A batch's decisions as columns, one entry per customer and occurrence.
#[derive(Debug, Default)]
pub struct Decisions {
    pub customers: Vec<Uuid>,
    pub occurrences: Vec<String>,
    pub outcomes: Vec<RecipientOutcome>,
    pub reasons: Vec<Option<SuppressReason>>,
    pub coupon_codes: Vec<Option<String>>,
    pub points: Vec<i64>,
    pub costs: Vec<Decimal>,
}

#[derive(QueryableByName)]
struct Inserted {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The insert of a batch's decisions (`recipients.sql`), not yet run.
fn record_statement<'a>(
    campaign: Uuid, d: &'a Decisions, now: DateTime<Utc>,
) -> impl diesel::query_dsl::LoadQuery<'a, PgConnection, Inserted> + Binds + 'a {
    crate::db::CachedSql::new(include_str!("recipients.sql"))
        .param::<SqlUuid, _>("campaign", campaign)
        .param::<Array<SqlUuid>, _>("customers", &d.customers)
        .param::<Array<Text>, _>("occurrences", &d.occurrences)
        .param::<Array<Text>, _>("outcomes", crate::vocabulary::names(&d.outcomes))
        .param::<Array<Nullable<Text>>, _>(
            "reasons",
            d.reasons.iter().map(|r| r.map(SuppressReason::as_str)).collect::<Vec<_>>(),
        )
        .param::<Array<Nullable<Text>>, _>("coupon_codes", &d.coupon_codes)
        .param::<Array<BigInt>, _>("points", &d.points)
        .param::<Array<Numeric>, _>("costs", &d.costs)
        .param::<Timestamptz, _>("decided_at", now)
}

/// Writes a batch's decisions: 409 `campaign_recipient_taken` when another run decided one of
/// them first (the batch must roll back whole).
pub fn record_decisions(conn: &mut PgConnection, campaign: Uuid, d: &Decisions, now: DateTime<Utc>) -> ApiResult<()> {
    let inserted: Inserted = record_statement(campaign, d, now).get_result(conn)?;
    if inserted.n != d.customers.len() as i64 {
        return Err(ApiError::conflict("campaign_recipient_taken", "another run decided a customer of this batch"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decisions_insert_binds_each_parameter_by_name() {
        let d = Decisions {
            customers: vec![Uuid::nil()],
            occurrences: vec!["once".into()],
            outcomes: vec![RecipientOutcome::Reached],
            reasons: vec![None],
            coupon_codes: vec![None],
            points: vec![0],
            costs: vec![Decimal::ZERO],
        };
        let query = record_statement(Uuid::nil(), &d, DateTime::UNIX_EPOCH);
        assert_eq!(crate::db::cached_sql::verify(&query), Ok(()));
    }
}
