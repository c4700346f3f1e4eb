//! A run's messages: rendered for each reached customer, handed to the gateway as events, and the
//! deferred ones released when quiet hours end.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection};
use uuid::Uuid;

use super::decide::Outcome;
use super::model::{self, CampaignMessageStatus};
use super::plan::{Plan, RunContext};
use super::rules::{self, Decision};
use super::run::BATCH;
use super::store::{self, audience::ContactRow, audience::CATEGORIES_NAMED, Message};
use crate::error::{ApiError, ApiResult};
use crate::events::types::{CampaignMessage, EventData};
use crate::orders::co_purchase::{recommend, Matrix};

/// A batch of a run once decided: each candidate's outcome, the coupon codes issued (by customer
/// and occurrence), the contact rows, and what the messages are rendered with.
pub struct Decided<'a> {
    pub plan: &'a Plan,
    pub outcomes: &'a [Outcome],
    pub codes: &'a HashMap<(Uuid, String), String>,
    pub contacts: &'a HashMap<Uuid, ContactRow>,
    pub ctx: RunContext,
    pub matrix: Option<&'a Matrix>,
}

/// The messages of those reached, rendered from each one's contact row: sent now, or deferred
/// until quiet hours end.
pub fn compose(batch: &Decided) -> Vec<Message> {
    let Decided { plan, outcomes, codes, contacts, ctx, matrix } = *batch;
    let Some((channel, template)) = model::message(&plan.actions) else { return Vec::new() };
    let now = ctx.at.now;
    let send_at = rules::send_at(now, ctx.policy.quiet, ctx.at.zone);
    let deferred = send_at > now;
    let mut messages = Vec::new();
    for o in outcomes.iter().filter(|o| o.decision == Decision::Reach) {
        let Some(row) = contacts.get(&o.customer_id) else { continue };
        let code = codes.get(&(o.customer_id, o.occurrence.clone())).cloned();
        let recommended: Vec<String> = matrix
            .map(|m| recommend(&row.bought, &row.bought_recently, m, CATEGORIES_NAMED))
            .unwrap_or_default()
            .into_iter()
            .map(|(category, _)| category)
            .collect();
        let values: HashMap<&str, String> = [
            ("name", row.name.clone().unwrap_or_default()),
            ("tier", row.tier_name.clone().unwrap_or_default()),
            ("points", row.points.to_string()),
            ("coupon_code", code.clone().unwrap_or_default()),
            ("coupon_name", plan.coupon_name.clone().unwrap_or_default()),
            ("store_name", row.store_name.clone().unwrap_or_default()),
            ("usual_categories", row.usual.join("、")),
            ("recommended_categories", recommended.join("、")),
        ]
        .into();
        messages.push(Message {
            id: Uuid::now_v7(),
            campaign_id: plan.campaign.id,
            customer_id: o.customer_id,
            occurrence: o.occurrence.clone(),
            channel,
            recipient: row.address.clone().unwrap_or_default(),
            body: rules::render(template, &values),
            coupon_code: code,
            status: if deferred { CampaignMessageStatus::Deferred } else { CampaignMessageStatus::Sent },
            send_at,
            sent_at: (!deferred).then_some(now),
            reason: None,
            status_at: now,
            created_at: now,
        });
    }
    messages
}

/// Hands the messages that went out now to the gateway.
pub fn emit_sent(conn: &mut PgConnection, messages: &[Message]) -> ApiResult<()> {
    let sent: Vec<&Message> = messages.iter().filter(|m| m.status == CampaignMessageStatus::Sent).collect();
    emit_messages(conn, &sent)
}

/// A message handed to the gateway is a `campaign.message` event (SPEC §9): the gateway's
/// webhook needs the recipient and the text, which an erasure redacts.
pub fn emit_messages(conn: &mut PgConnection, messages: &[&Message]) -> ApiResult<()> {
    let events: Vec<_> = messages
        .iter()
        .map(|m| {
            let message = CampaignMessage {
                message_id: m.id,
                campaign_id: m.campaign_id,
                channel: m.channel.to_string(),
                recipient: m.recipient.clone(),
                text: m.body.clone(),
                coupon_code: m.coupon_code.clone(),
            };
            (Some(m.customer_id), EventData::CampaignMessage(message))
        })
        .collect();
    crate::events::emit_many(conn, &events)
}

/// Hands over deferred messages whose quiet hours are over — unless the customer has meanwhile
/// withdrawn the channel's consent or is no longer live: those fail with the reason.
pub fn release_deferred(conn: &mut PgConnection, now: DateTime<Utc>) -> ApiResult<i64> {
    let mut released = 0;
    loop {
        if crate::lifecycle::background_should_stop() {
            return Ok(released);
        }
        let n = conn.transaction(|conn| {
            let due = store::claim_due_deferred(conn, now, BATCH)?;
            if due.is_empty() {
                return Ok::<_, ApiError>(0);
            }
            let ids: Vec<Uuid> = due.iter().map(|m| m.customer_id).collect();
            let allowed = store::audience::still_reachable(conn, &ids)?;
            let (go, stop): (Vec<&Message>, Vec<&Message>) = due.iter().partition(|m| {
                allowed.get(&m.customer_id).is_some_and(|(live, consents)| {
                    *live && consents.iter().any(|granted| m.channel.consent() == granted.as_str())
                })
            });
            store::mark_sent(conn, &go.iter().map(|m| m.id).collect::<Vec<_>>(), now)?;
            for m in &stop {
                let live = allowed.get(&m.customer_id).is_some_and(|(live, _)| *live);
                store::set_message_status(
                    conn,
                    m.id,
                    CampaignMessageStatus::Failed,
                    Some(if live { "consent_revoked" } else { "not_live" }),
                    now,
                )?;
            }
            emit_messages(conn, &go)?;
            Ok(due.len() as i64)
        })?;
        released += n;
        if n < BATCH {
            return Ok(released);
        }
    }
}
