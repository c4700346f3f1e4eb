//! `GET /v1/campaigns/{id}/report` (SPEC §9): what the campaign did and what it caused.
//!
//! Attribution: a reached customer converted when they ordered within the attribution window
//! after they were reached, or used the campaign's coupon (any time). Revenue is what those orders
//! were paid net of refunds (a stand-alone coupon use: its amount), each order once. The control
//! group is judged by the same window, so the difference is what the campaign itself caused.
//! Cost is what the campaign committed when it reached customers: messages, coupons at their unit
//! cost, points at the program's redemption value.

use std::collections::BTreeMap;

use actix_web::{get, web, HttpResponse};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Numeric, Text, Uuid as SqlUuid};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::CampaignMessageStatus;
use super::rules::{self, RecipientOutcome};
use crate::coupons::model::{CouponSource, CouponStatus};
use crate::error::ApiResult;
use crate::http::auth::{Auth, CampaignsRead, ChainWide};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(campaign_report);
}

#[derive(QueryableByName)]
struct Converted {
    #[diesel(sql_type = Text)]
    outcome: RecipientOutcome,
    #[diesel(sql_type = Nullable<Text>)]
    channel: Option<String>,
    #[diesel(sql_type = BigInt)]
    converted: i64,
    #[diesel(sql_type = Numeric)]
    revenue: Decimal,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Nullable<Text>)]
    detail: Option<String>,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
}

#[derive(Serialize, ToSchema, Default)]
#[schema(example = json!({"channel": "sms", "messages": 1000, "deferred": 0, "delivered": 950, "clicked": 120, "failed": 50,
    "converted": 180, "revenue": "54000.00"}))]
pub struct ChannelReport {
    channel: String,
    /// Messages decided on this channel.
    messages: i64,
    /// Waiting for quiet hours to end.
    deferred: i64,
    delivered: i64,
    clicked: i64,
    failed: i64,
    /// Reached customers messaged on this channel who converted, and their revenue.
    converted: i64,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, example = "54000.00")]
    revenue: Decimal,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"customers": 110, "converted": 11, "conversion_rate": 0.1, "revenue": "2200.00",
    "incremental_conversion": 0.08, "incremental_revenue": "32000.00"}))]
pub struct ControlReport {
    /// Customers held out.
    customers: i64,
    converted: i64,
    conversion_rate: f64,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, example = "2200.00")]
    revenue: Decimal,
    /// The reached customers' conversion rate minus the control group's.
    incremental_conversion: f64,
    /// (revenue per reached customer − revenue per held-out customer) × reached customers.
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, example = "32000.00")]
    incremental_revenue: Decimal,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"campaign_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "attribution_days": 14, "audience": 1200,
    "reached": 1000, "suppressed": {"no_consent": 60, "frequency_cap": 30}, "messages": 1000, "delivered": 950,
    "coupons_issued": 1000, "coupons_redeemed": 210, "converted": 180, "conversion_rate": 0.18, "revenue": "800000.00",
    "cost": "50000.00", "roi": "16.00", "roi_ratio": "1:16", "by_channel": [], "control": null}))]
pub struct CampaignReport {
    campaign_id: Uuid,
    attribution_days: i32,
    /// Every customer decided: reached, held out or suppressed.
    audience: i64,
    reached: i64,
    /// Suppressed customers by reason.
    suppressed: BTreeMap<String, i64>,
    /// Messages decided (sent, waiting for the morning, or already reported on).
    messages: i64,
    delivered: i64,
    coupons_issued: i64,
    coupons_redeemed: i64,
    /// Reached customers who ordered within the window after the message, or used the coupon.
    converted: i64,
    /// converted / reached.
    conversion_rate: f64,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, example = "800000.00")]
    revenue: Decimal,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, example = "50000.00")]
    cost: Decimal,
    /// revenue / cost, when there was a cost.
    #[schema(value_type = Option<String>, example = "16.00")]
    roi: Option<String>,
    /// The same as a marketer writes it: "1:16".
    roi_ratio: Option<String>,
    by_channel: Vec<ChannelReport>,
    /// With a control group (`holdout_percent` > 0).
    control: Option<ControlReport>,
}

/// Who of the reached and the held-out converted (`conversions.sql`), not yet run.
fn conversions_statement(
    campaign: Uuid, attribution_days: i32,
) -> impl diesel::query_dsl::LoadQuery<'static, PgConnection, Converted> + crate::db::cached_sql::Binds {
    let judged = crate::vocabulary::names(&[RecipientOutcome::Reached, RecipientOutcome::Holdout]);
    crate::db::CachedSql::new(include_str!("conversions.sql"))
        .param::<SqlUuid, _>("campaign", campaign)
        .param::<Integer, _>("days", attribution_days)
        .param::<Array<Text>, _>("judged", judged)
        .param::<Text, _>("source", CouponSource::Campaign)
}

fn rate(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0
}

pub fn report(conn: &mut PgConnection, id: Uuid) -> ApiResult<CampaignReport> {
    let campaign = super::store::get(conn, id)?;
    let conversions: Vec<Converted> = conversions_statement(id, campaign.attribution_days).load(conn)?;
    let counts: Vec<Count> = diesel::sql_query(
        "SELECT 'recipient' AS key, outcome || coalesce(':' || reason, '') AS detail, count(*) AS n,
                coalesce(sum(cost), 0)::numeric AS amount
         FROM campaign_recipients WHERE campaign_id = $1 GROUP BY 2
         UNION ALL
         SELECT 'message', channel || ':' || status, count(*), 0 FROM campaign_messages WHERE campaign_id = $1 GROUP BY 2
         UNION ALL
         SELECT 'coupon', status, count(*), 0 FROM coupons WHERE source = $2 AND source_ref = $1::text GROUP BY 2",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(CouponSource::Campaign)
    .load(conn)?;

    let mut out = CampaignReport {
        campaign_id: id,
        attribution_days: campaign.attribution_days,
        audience: 0,
        reached: 0,
        suppressed: BTreeMap::new(),
        messages: 0,
        delivered: 0,
        coupons_issued: 0,
        coupons_redeemed: 0,
        converted: 0,
        conversion_rate: 0.0,
        revenue: Decimal::ZERO,
        cost: Decimal::ZERO,
        roi: None,
        roi_ratio: None,
        by_channel: Vec::new(),
        control: None,
    };
    let mut channels: BTreeMap<String, ChannelReport> = BTreeMap::new();
    let mut holdout = 0;
    for c in &counts {
        let detail = c.detail.clone().unwrap_or_default();
        match c.key.as_str() {
            "recipient" => {
                out.audience += c.n;
                out.cost += c.amount;
                let (outcome, reason) = detail.split_once(':').unwrap_or((detail.as_str(), ""));
                match RecipientOutcome::parse(outcome) {
                    Some(RecipientOutcome::Suppressed) => *out.suppressed.entry(reason.to_string()).or_default() += c.n,
                    Some(RecipientOutcome::Reached) => out.reached += c.n,
                    Some(RecipientOutcome::Holdout) | None => holdout += c.n,
                }
            }
            "message" => {
                let (channel, status) = detail.split_once(':').unwrap_or((detail.as_str(), ""));
                let row = channels
                    .entry(channel.to_string())
                    .or_insert_with(|| ChannelReport { channel: channel.to_string(), ..Default::default() });
                row.messages += c.n;
                out.messages += c.n;
                let status = CampaignMessageStatus::parse(status);
                match status {
                    Some(CampaignMessageStatus::Deferred) => row.deferred += c.n,
                    Some(CampaignMessageStatus::Delivered) => row.delivered += c.n,
                    Some(CampaignMessageStatus::Clicked) => row.clicked += c.n,
                    Some(CampaignMessageStatus::Failed) => row.failed += c.n,
                    Some(CampaignMessageStatus::Sent) | None => {}
                }
                // A click is a delivery the gateway saw opened.
                if matches!(status, Some(CampaignMessageStatus::Delivered | CampaignMessageStatus::Clicked)) {
                    out.delivered += c.n;
                }
            }
            _ => {
                out.coupons_issued += c.n;
                if CouponStatus::parse(&detail) == Some(CouponStatus::Redeemed) {
                    out.coupons_redeemed += c.n;
                }
            }
        }
    }
    let (mut held_converted, mut held_revenue) = (0, Decimal::ZERO);
    for c in &conversions {
        if c.outcome == RecipientOutcome::Reached {
            out.converted += c.converted;
            out.revenue += c.revenue;
            if let Some(row) = c.channel.as_ref().and_then(|ch| channels.get_mut(ch)) {
                row.converted += c.converted;
                row.revenue += c.revenue;
            }
        } else {
            held_converted += c.converted;
            held_revenue += c.revenue;
        }
    }
    out.conversion_rate = rate(out.converted, out.reached);
    out.cost = crate::money::round(out.cost);
    if let Some((ratio, label)) = rules::roi(out.revenue, out.cost) {
        out.roi = Some(format!("{ratio:.2}"));
        out.roi_ratio = Some(label);
    }
    if campaign.holdout_percent > 0 || holdout > 0 {
        let per = |revenue: Decimal, n: i64| if n == 0 { Decimal::ZERO } else { revenue / Decimal::from(n) };
        let incremental = (per(out.revenue, out.reached) - per(held_revenue, holdout)) * Decimal::from(out.reached);
        out.control = Some(ControlReport {
            customers: holdout,
            converted: held_converted,
            conversion_rate: rate(held_converted, holdout),
            revenue: held_revenue,
            incremental_conversion: ((out.conversion_rate - rate(held_converted, holdout)) * 10_000.0).round()
                / 10_000.0,
            incremental_revenue: crate::money::round(incremental),
        });
    }
    out.by_channel = channels.into_values().collect();
    Ok(out)
}

/// What the campaign did and caused: reach, suppression, delivery, coupons, conversion, revenue,
/// cost and ROI, by channel, and against the control group.
#[utoipa::path(
    tag = "campaigns", operation_id = "campaign_report",
    params(("id" = Uuid, Path, description = "Campaign id")), security(("bearer" = ["campaigns:read"])),
    responses(
        (status = 200, description = "The report", body = CampaignReport),
        crate::campaigns::api::CampaignsAreTheChains,
        crate::campaigns::api::CampaignNotFound,
    )
)]
#[get("/v1/campaigns/{id}/report")]
async fn campaign_report(
    _auth: Auth<ChainWide<CampaignsRead>>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let result = crate::db::run(&state.pool, move |conn| report(conn, id)).await?;
    Ok(HttpResponse::Ok().json(result))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_conversions_bind_each_parameter_by_name() {
        let query = super::conversions_statement(uuid::Uuid::nil(), 14);
        assert_eq!(crate::db::cached_sql::verify(&query), Ok(()));
    }
}
