//! Campaign SQL: campaigns, the marketing settings, messages and their status; a run's audience
//! and contacts (`audience`) and its claims and decisions (`runs`).

pub mod audience;
pub mod runs;

use chrono::{DateTime, NaiveTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use super::model::{CampaignChannel, CampaignKind, CampaignMessageStatus};
use super::rules::{CampaignStatus, Policy};
use crate::db::cached_sql::Binds;
use crate::error::{ApiError, ApiResult};
use crate::schema::{campaign_messages as cm, campaigns, marketing_settings as ms};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = campaigns)]
pub struct Campaign {
    pub id: Uuid,
    pub name: String,
    pub kind: CampaignKind,
    pub status: CampaignStatus,
    pub segment_id: Option<Uuid>,
    pub trigger: Option<Value>,
    pub actions: Value,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub budget: Option<Decimal>,
    pub cost_per_message: Decimal,
    pub holdout_percent: i32,
    pub attribution_days: i32,
    pub activated_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Everything a campaign is made of, as a create or a change writes it.
#[derive(Debug, Clone, AsChangeset, Insertable, Default)]
#[diesel(table_name = campaigns)]
pub struct CampaignFields {
    pub name: Option<String>,
    pub kind: Option<CampaignKind>,
    pub segment_id: Option<Option<Uuid>>,
    pub trigger: Option<Option<Value>>,
    pub actions: Option<Value>,
    pub starts_at: Option<Option<DateTime<Utc>>>,
    pub ends_at: Option<Option<DateTime<Utc>>>,
    pub budget: Option<Option<Decimal>>,
    pub cost_per_message: Option<Decimal>,
    pub holdout_percent: Option<i32>,
    pub attribution_days: Option<i32>,
}

pub fn not_found() -> ApiError {
    ApiError::not_found("campaign_not_found", "no campaign with this id")
}

pub fn insert(conn: &mut PgConnection, fields: &CampaignFields) -> ApiResult<Campaign> {
    Ok(diesel::insert_into(campaigns::table)
        .values((campaigns::id.eq(Uuid::now_v7()), fields))
        .returning(Campaign::as_returning())
        .get_result(conn)?)
}

pub fn get(conn: &mut PgConnection, id: Uuid) -> ApiResult<Campaign> {
    campaigns::table.find(id).select(Campaign::as_select()).first(conn).optional()?.ok_or_else(not_found)
}

pub fn lock(conn: &mut PgConnection, id: Uuid) -> ApiResult<Campaign> {
    campaigns::table.find(id).select(Campaign::as_select()).for_update().first(conn).optional()?.ok_or_else(not_found)
}

pub fn list(
    conn: &mut PgConnection, status: Option<CampaignStatus>, after: Option<Uuid>, limit: i64,
) -> ApiResult<Vec<Campaign>> {
    let mut q = campaigns::table.select(Campaign::as_select()).order(campaigns::id).limit(limit).into_boxed();
    if let Some(status) = status {
        q = q.filter(campaigns::status.eq(status));
    }
    if let Some(after) = after {
        q = q.filter(campaigns::id.gt(after));
    }
    Ok(q.load(conn)?)
}

pub fn update(conn: &mut PgConnection, current: &Campaign, fields: &CampaignFields) -> ApiResult<Campaign> {
    Ok(diesel::update(campaigns::table.find(current.id))
        .set((fields, campaigns::version.eq(current.version + 1), campaigns::updated_at.eq(diesel::dsl::now)))
        .returning(Campaign::as_returning())
        .get_result(conn)?)
}

pub fn set_status(
    conn: &mut PgConnection, current: &Campaign, to: CampaignStatus, now: DateTime<Utc>,
) -> ApiResult<Campaign> {
    let activated =
        if to == CampaignStatus::Active && current.activated_at.is_none() { Some(now) } else { current.activated_at };
    let completed = if to == CampaignStatus::Completed { Some(now) } else { None };
    Ok(diesel::update(campaigns::table.find(current.id))
        .set((
            campaigns::status.eq(to),
            campaigns::activated_at.eq(activated),
            campaigns::completed_at.eq(completed),
            campaigns::version.eq(current.version + 1),
            campaigns::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Campaign::as_returning())
        .get_result(conn)?)
}

/// Active campaigns, for the scheduler.
pub fn active(conn: &mut PgConnection) -> ApiResult<Vec<Campaign>> {
    Ok(campaigns::table
        .filter(campaigns::status.eq(CampaignStatus::Active))
        .select(Campaign::as_select())
        .order(campaigns::id)
        .load(conn)?)
}

// ---- settings ----

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ms)]
pub struct Settings {
    pub frequency_max: i32,
    pub frequency_days: i32,
    pub quiet_start: Option<NaiveTime>,
    pub quiet_end: Option<NaiveTime>,
    pub version: i32,
}

impl Settings {
    pub fn policy(&self) -> Policy {
        Policy {
            frequency_max: self.frequency_max,
            frequency_days: self.frequency_days,
            quiet: self.quiet_start.zip(self.quiet_end),
        }
    }
}

pub fn settings(conn: &mut PgConnection) -> ApiResult<Settings> {
    Ok(ms::table.select(Settings::as_select()).first(conn)?)
}

pub fn save_settings(
    conn: &mut PgConnection, expected: Option<i32>, frequency: (i32, i32), quiet: Option<(NaiveTime, NaiveTime)>,
) -> ApiResult<Settings> {
    let current: Settings = ms::table.select(Settings::as_select()).for_update().first(conn)?;
    crate::http::check_version(expected, current.version)?;
    Ok(diesel::update(ms::table)
        .set((
            ms::frequency_max.eq(frequency.0),
            ms::frequency_days.eq(frequency.1),
            ms::quiet_start.eq(quiet.map(|q| q.0)),
            ms::quiet_end.eq(quiet.map(|q| q.1)),
            ms::version.eq(current.version + 1),
            ms::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Settings::as_returning())
        .get_result(conn)?)
}

// ---- messages ----

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cm)]
pub struct Message {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub customer_id: Uuid,
    pub occurrence: String,
    pub channel: CampaignChannel,
    pub recipient: String,
    pub body: String,
    pub coupon_code: Option<String>,
    pub status: CampaignMessageStatus,
    pub send_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub status_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// The insert of a batch's messages, not yet run.
fn insert_messages_statement(
    messages: &[Message],
) -> impl diesel::query_dsl::methods::ExecuteDsl<PgConnection> + RunQueryDsl<PgConnection> + Binds + '_ {
    use diesel::sql_types::{Array, Nullable, Text, Timestamptz, Uuid as SqlUuid};
    fn column<'a, T>(messages: &'a [Message], f: impl Fn(&'a Message) -> T) -> Vec<T> {
        messages.iter().map(f).collect()
    }
    crate::db::CachedSql::new(include_str!("insert_messages.sql"))
        .param::<Array<SqlUuid>, _>("ids", column(messages, |m| m.id))
        .param::<Array<SqlUuid>, _>("campaign_ids", column(messages, |m| m.campaign_id))
        .param::<Array<SqlUuid>, _>("customer_ids", column(messages, |m| m.customer_id))
        .param::<Array<Text>, _>("occurrences", column(messages, |m| m.occurrence.as_str()))
        .param::<Array<Text>, _>("channels", column(messages, |m| m.channel))
        .param::<Array<Text>, _>("recipients", column(messages, |m| m.recipient.as_str()))
        .param::<Array<Text>, _>("bodies", column(messages, |m| m.body.as_str()))
        .param::<Array<Nullable<Text>>, _>("coupon_codes", column(messages, |m| m.coupon_code.as_deref()))
        .param::<Array<Text>, _>("statuses", column(messages, |m| m.status))
        .param::<Array<Timestamptz>, _>("send_ats", column(messages, |m| m.send_at))
        .param::<Array<Nullable<Timestamptz>>, _>("sent_ats", column(messages, |m| m.sent_at))
        .param::<Array<Nullable<Text>>, _>("reasons", column(messages, |m| m.reason.as_deref()))
        .param::<Array<Timestamptz>, _>("status_ats", column(messages, |m| m.status_at))
        .param::<Array<Timestamptz>, _>("created_ats", column(messages, |m| m.created_at))
}

/// One statement of column arrays for a whole batch, prepared once per connection (see
/// `events::emit_many`).
pub fn insert_messages(conn: &mut PgConnection, messages: &[Message]) -> ApiResult<()> {
    if messages.is_empty() {
        return Ok(());
    }
    insert_messages_statement(messages).execute(conn)?;
    Ok(())
}

pub fn lock_message(conn: &mut PgConnection, id: Uuid) -> ApiResult<Message> {
    cm::table
        .filter(cm::id.eq(id))
        .select(Message::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("campaign_message_not_found", "no campaign message with this id"))
}

pub fn set_message_status(
    conn: &mut PgConnection, id: Uuid, status: CampaignMessageStatus, reason: Option<&str>, now: DateTime<Utc>,
) -> ApiResult<Message> {
    Ok(diesel::update(cm::table.filter(cm::id.eq(id)))
        .set((cm::status.eq(status), cm::reason.eq(reason), cm::status_at.eq(now)))
        .returning(Message::as_returning())
        .get_result(conn)?)
}

/// Deferred messages whose quiet hours are over, claimed so no other instance sends them too.
pub fn claim_due_deferred(conn: &mut PgConnection, now: DateTime<Utc>, limit: i64) -> ApiResult<Vec<Message>> {
    Ok(cm::table
        .filter(cm::status.eq(CampaignMessageStatus::Deferred))
        .filter(cm::send_at.le(now))
        .order(cm::send_at)
        .limit(limit)
        .for_update()
        .skip_locked()
        .select(Message::as_select())
        .load(conn)?)
}

/// Marks messages handed to the gateway.
pub fn mark_sent(conn: &mut PgConnection, ids: &[Uuid], now: DateTime<Utc>) -> ApiResult<()> {
    diesel::update(cm::table.filter(cm::id.eq_any(ids)))
        .set((cm::status.eq(CampaignMessageStatus::Sent), cm::sent_at.eq(Some(now)), cm::status_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Erasure: the person's address and words go; a message still waiting is never sent.
pub fn erase_messages(conn: &mut PgConnection, customers: &[Uuid], now: DateTime<Utc>) -> ApiResult<i64> {
    let waiting = diesel::update(
        cm::table.filter(cm::customer_id.eq_any(customers)).filter(cm::status.eq(CampaignMessageStatus::Deferred)),
    )
    .set((cm::status.eq(CampaignMessageStatus::Failed), cm::reason.eq(Some("not_live")), cm::status_at.eq(now)))
    .execute(conn)?;
    let blanked = diesel::update(cm::table.filter(cm::customer_id.eq_any(customers)))
        .set((cm::recipient.eq(""), cm::body.eq("[erased]")))
        .execute(conn)?;
    Ok((waiting + blanked) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaigns::model::{CampaignChannel, CampaignMessageStatus};

    #[test]
    fn the_messages_insert_binds_each_parameter_by_name() {
        let at = DateTime::UNIX_EPOCH;
        let message = Message {
            id: Uuid::nil(),
            campaign_id: Uuid::nil(),
            customer_id: Uuid::nil(),
            occurrence: "once".into(),
            channel: CampaignChannel::Sms,
            recipient: "13800000000".into(),
            body: "hello".into(),
            coupon_code: None,
            status: CampaignMessageStatus::Sent,
            send_at: at,
            sent_at: Some(at),
            reason: None,
            status_at: at,
            created_at: at,
        };
        let messages = [message];
        assert_eq!(crate::db::cached_sql::verify(&insert_messages_statement(&messages)), Ok(()));
    }
}
