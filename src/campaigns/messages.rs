//! The gateways' side of messages (`POST /v1/campaign-messages/{id}/status`) and the contact
//! policy's settings (`/v1/marketing/settings`).

use actix_web::{get, post, put, web, HttpResponse};
use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{CampaignChannel, CampaignMessageStatus, MessageReport};
use super::store::{self, Message, Settings};
use crate::campaigns::api::CampaignsAreTheChains;
use crate::error::{ApiError, ApiResult, Problem, Violations};
use crate::http::auth::{Auth, CampaignsRead, CampaignsWrite, ChainWide};
use crate::http::{etag, IfMatch};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(record_message_status).service(get_settings).service(put_settings);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "delivered"}))]
pub struct StatusInput {
    #[schema(value_type = MessageReport)]
    status: String,
    /// Why it failed, in the gateway's words (only with `failed`).
    #[schema(max_length = 200)]
    reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "campaign_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f",
    "customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60", "channel": "sms", "status": "delivered", "reason": null,
    "send_at": "2026-06-15T01:00:00Z", "sent_at": "2026-06-15T01:00:00Z", "status_at": "2026-06-15T01:00:05Z"}))]
pub struct MessageStatus {
    id: Uuid,
    campaign_id: Uuid,
    customer_id: Uuid,
    channel: CampaignChannel,
    status: CampaignMessageStatus,
    reason: Option<String>,
    send_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    status_at: DateTime<Utc>,
}

impl From<Message> for MessageStatus {
    fn from(m: Message) -> Self {
        MessageStatus {
            id: m.id,
            campaign_id: m.campaign_id,
            customer_id: m.customer_id,
            channel: m.channel,
            status: m.status,
            reason: m.reason,
            send_at: m.send_at,
            sent_at: m.sent_at,
            status_at: m.status_at,
        }
    }
}

/// What a gateway may report after what: sent → delivered | failed | clicked, delivered → clicked.
/// The same report again changes nothing (gateways retry).
pub fn next_status(current: CampaignMessageStatus, reported: MessageReport) -> Option<bool> {
    use CampaignMessageStatus::{Clicked, Delivered, Sent};
    match (current, CampaignMessageStatus::from(reported)) {
        (c, r) if c == r => Some(false),
        (Sent, _) | (Delivered, Clicked) => Some(true),
        _ => None,
    }
}

/// A channel gateway reports what became of a message.
#[utoipa::path(
    tag = "campaigns", operation_id = "record_message_status", request_body = StatusInput,
    params(("id" = Uuid, Path, description = "Message id (`message_id` of the `campaign.message` event)")),
    security(("bearer" = ["campaigns:write"])),
    responses(
        (status = 200, description = "Recorded (or already so)", body = MessageStatus),
        crate::campaigns::api::CampaignsAreTheChains,
        (status = 404, description = "`campaign_message_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: not after the message's current status (with `message_status`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/campaign-messages/{id}/status")]
async fn record_message_status(
    _auth: Auth<ChainWide<CampaignsWrite>>, state: web::Data<AppState>, id: web::Path<Uuid>,
    body: crate::http::Json<StatusInput>,
) -> ApiResult<HttpResponse> {
    let input = body.into_inner();
    let mut v = Violations::new();
    let reported = v.word::<MessageReport>("status", Some(&input.status));
    if let Some(r) = &input.reason {
        v.check(reported == Some(MessageReport::Failed), "reason", "only with the status failed");
        v.check(r.chars().count() <= 200, "reason", "must be at most 200 characters");
    }
    v.into_result()?;
    let Some(reported) = reported else { return Err(ApiError::invalid("status", "is required")) };
    let (id, now) = (id.into_inner(), state.clock.now());
    let message = crate::db::transaction(&state.pool, move |conn| {
        let current = store::lock_message(conn, id)?;
        match next_status(current.status, reported) {
            Some(false) => Ok(current),
            Some(true) => store::set_message_status(conn, id, reported.into(), input.reason.as_deref(), now),
            None => {
                let detail = format!("a {} message cannot become {reported}", current.status);
                Err(ApiError::conflict("invalid_transition", detail).with("message_status", current.status.as_str()))
            }
        }
    })
    .await?;
    Ok(HttpResponse::Ok().json(MessageStatus::from(message)))
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Copy)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"max_messages": 3, "per_days": 7}))]
pub struct FrequencyCap {
    /// Marketing messages a customer may get, every campaign counted (0 stops all).
    #[serde(deserialize_with = "crate::http::whole_number_required")]
    #[schema(minimum = 0, maximum = 1000)]
    max_messages: i32,
    #[serde(deserialize_with = "crate::http::whole_number_required")]
    #[schema(minimum = 1, maximum = 365)]
    per_days: i32,
}

#[derive(Serialize, Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"start": "21:00", "end": "09:00"}))]
pub struct QuietHours {
    /// Local time (`CRM_TIMEZONE`), `HH:MM`.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    start: String,
    /// Local time, `HH:MM`; before `start` means the next morning. Not equal to `start`.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    end: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"frequency_cap": {"max_messages": 3, "per_days": 7}, "quiet_hours": {"start": "21:00", "end": "09:00"}}))]
pub struct MarketingSettings {
    #[serde(deserialize_with = "crate::http::object_required")]
    frequency_cap: FrequencyCap,
    /// Messages decided within them wait until they end; `null`: none.
    #[serde(default, deserialize_with = "crate::http::object_only")]
    quiet_hours: Option<QuietHours>,
}

fn settings_view(s: &Settings) -> MarketingSettings {
    let hhmm = |t: NaiveTime| t.format("%H:%M").to_string();
    MarketingSettings {
        frequency_cap: FrequencyCap { max_messages: s.frequency_max, per_days: s.frequency_days },
        quiet_hours: s.quiet_start.zip(s.quiet_end).map(|(a, b)| QuietHours { start: hhmm(a), end: hhmm(b) }),
    }
}

/// The contact policy's settings.
#[utoipa::path(
    tag = "campaigns", operation_id = "get_marketing_settings", security(("bearer" = ["campaigns:read"])),
    responses((status = 200, description = "The settings", body = MarketingSettings), CampaignsAreTheChains)
)]
#[get("/v1/marketing/settings")]
async fn get_settings(_auth: Auth<ChainWide<CampaignsRead>>, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let settings = crate::db::run(&state.pool, store::settings).await?;
    Ok(HttpResponse::Ok().insert_header(etag(settings.version)).json(settings_view(&settings)))
}

/// Replace the contact policy's settings; send `If-Match` with the ETag you read.
#[utoipa::path(
    tag = "campaigns", operation_id = "put_marketing_settings", request_body = MarketingSettings,
    params(IfMatch), security(("bearer" = ["campaigns:write"])),
    responses(
        (status = 200, description = "Saved", body = MarketingSettings),
        crate::campaigns::api::CampaignsAreTheChains,
        crate::error::PreconditionFailed,
    )
)]
#[put("/v1/marketing/settings")]
async fn put_settings(
    auth: Auth<ChainWide<CampaignsWrite>>, state: web::Data<AppState>, expected_version: IfMatch,
    body: crate::http::Json<MarketingSettings>,
) -> ApiResult<HttpResponse> {
    let input = body.into_inner();
    let mut v = Violations::new();
    let cap = input.frequency_cap;
    v.check((0..=1000).contains(&cap.max_messages), "frequency_cap.max_messages", "must be 0-1000");
    v.check((1..=365).contains(&cap.per_days), "frequency_cap.per_days", "must be 1-365");
    let time = |t: &str| NaiveTime::parse_from_str(t, "%H:%M").ok().filter(|_| t.len() == 5);
    let quiet = match &input.quiet_hours {
        None => None,
        Some(q) => match (time(&q.start), time(&q.end)) {
            (Some(a), Some(b)) if a != b => Some((a, b)),
            (Some(_), Some(_)) => {
                v.add("quiet_hours.end", "must differ from start");
                None
            }
            (a, _) => {
                let field = if a.is_none() { "quiet_hours.start" } else { "quiet_hours.end" };
                v.add(field, "must be a time HH:MM");
                None
            }
        },
    };
    v.into_result()?;
    let expected = expected_version.0;
    let who = auth.principal.clone();
    let settings = crate::db::transaction(&state.pool, move |conn| {
        let saved = store::save_settings(conn, expected, (cap.max_messages, cap.per_days), quiet)?;
        crate::audit::record(conn, &who, crate::audit::AuditAction::MarketingSettings, None, json!({}))?;
        Ok(saved)
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header(etag(settings.version)).json(settings_view(&settings)))
}
