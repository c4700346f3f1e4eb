//! Program settings endpoints (SPEC §7): `GET/PUT /v1/loyalty/program`.

use actix_web::{get, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem, Violations};
use crate::http::auth::{Admin, Auth, ChainWide, LoyaltyRead};
use crate::http::{etag, IfMatch};
use crate::loyalty::program::{self, ProgramChanges, ProgramRow};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_program).service(update_program);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"earn_rate": "1", "redeem_unit_points": 100, "redeem_unit_value": "10.00",
    "max_points_offset_ratio": "0.5", "points_ttl_days": 365, "points_pending_days": 0, "tier_validity_days": 365,
    "max_adjustment_points": 10000, "max_campaign_award_points": null, "version": 1, "updated_at": "2026-11-23T08:00:00Z"}))]
pub struct ProgramView {
    /// Points per CNY 1 paid (before the tier's multiplier).
    #[serde(serialize_with = "crate::money::rate::serialize")]
    #[schema(value_type = String, example = "1")]
    earn_rate: Decimal,
    /// Points redeemed in whole units of this many points...
    redeem_unit_points: i64,
    /// ...each worth this much off the price (100 points = CNY 10).
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, example = "10.00")]
    redeem_unit_value: Decimal,
    /// At most this share of an order can be paid with points.
    #[serde(serialize_with = "crate::money::rate::serialize")]
    #[schema(value_type = String, example = "0.5")]
    max_points_offset_ratio: Decimal,
    /// Days an earning stays spendable.
    points_ttl_days: i32,
    /// Days earned points stay pending (not spendable) to cover returns; 0 = available at once.
    points_pending_days: i32,
    /// Days a tier holds once reached, before the review.
    tier_validity_days: i32,
    /// The most points one manual adjustment may add or take away.
    max_adjustment_points: i64,
    /// The most points a campaign's `award_points` gives one customer per occurrence; `null`:
    /// `max_adjustment_points`.
    max_campaign_award_points: Option<i64>,
    version: i32,
    updated_at: DateTime<Utc>,
}

impl From<ProgramRow> for ProgramView {
    fn from(p: ProgramRow) -> Self {
        ProgramView {
            earn_rate: p.earn_rate,
            redeem_unit_points: p.redeem_unit_points,
            redeem_unit_value: p.redeem_unit_value,
            max_points_offset_ratio: p.max_points_offset_ratio,
            points_ttl_days: p.points_ttl_days,
            points_pending_days: p.points_pending_days,
            tier_validity_days: p.tier_validity_days,
            max_adjustment_points: p.max_adjustment_points,
            max_campaign_award_points: p.max_campaign_award_points,
            version: p.version,
            updated_at: p.updated_at,
        }
    }
}

/// Changes to the program: absent (or null) fields stay. Changes apply to what happens next;
/// points already earned keep the expiry and availability they were given.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"earn_rate": "2", "max_points_offset_ratio": "0.3", "points_pending_days": 7}))]
pub struct ProgramInput {
    /// In [0, 100], up to 4 decimals.
    #[schema(pattern = r"^([1-9]?[0-9](\.[0-9]{1,4})?|100(\.0{1,4})?)$")]
    earn_rate: Option<String>,
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(minimum = 1, maximum = 1000000)]
    redeem_unit_points: Option<i32>,
    /// Money, more than 0.
    #[schema(pattern = r"^(0\.([1-9][0-9]?|0[1-9])|[1-9][0-9]{0,11}(\.[0-9]{1,2})?)$")]
    redeem_unit_value: Option<String>,
    /// In [0, 1], up to 4 decimals.
    #[schema(pattern = r"^(0(\.[0-9]{1,4})?|1(\.0{1,4})?)$")]
    max_points_offset_ratio: Option<String>,
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(minimum = 1, maximum = 3650)]
    points_ttl_days: Option<i32>,
    /// Must stay shorter than `points_ttl_days` (points would expire before they could be spent).
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(minimum = 0, maximum = 365)]
    points_pending_days: Option<i32>,
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(minimum = 1, maximum = 3650)]
    tier_validity_days: Option<i32>,
    /// The most points one manual adjustment may add or take away (default 10,000).
    #[serde(default, deserialize_with = "crate::http::whole_number_i64")]
    #[schema(minimum = 1, maximum = 10000000)]
    max_adjustment_points: Option<i64>,
    /// The most points a campaign's `award_points` gives one customer per occurrence (unset: the
    /// `max_adjustment_points`).
    #[serde(default, deserialize_with = "crate::http::whole_number_i64")]
    #[schema(minimum = 1, maximum = 10000000)]
    max_campaign_award_points: Option<i64>,
}

impl ProgramInput {
    fn validate(&self) -> ApiResult<(ProgramChanges, Value)> {
        let mut v = Violations::new();
        let mut rate = |field: &str, raw: &Option<String>, decimals: usize, min_inclusive: bool, max: Decimal| match raw
            .as_deref()
            .map(|r| crate::money::rate::parse_within(r, decimals, Decimal::ZERO, min_inclusive, max))
        {
            Some(Ok(value)) => Some(value),
            Some(Err(message)) => {
                v.add(field, message);
                None
            }
            None => None,
        };
        let earn_rate = rate("earn_rate", &self.earn_rate, 4, true, Decimal::from(100));
        let redeem_unit_value =
            rate("redeem_unit_value", &self.redeem_unit_value, 2, false, Decimal::from(999_999_999_999i64));
        let max_points_offset_ratio =
            rate("max_points_offset_ratio", &self.max_points_offset_ratio, 4, true, Decimal::ONE);
        let mut whole = |field: &str, value: Option<i32>, min: i32, max: i32| {
            if let Some(n) = value {
                v.check((min..=max).contains(&n), field, &format!("must be between {min} and {max}"));
            }
        };
        whole("redeem_unit_points", self.redeem_unit_points, 1, 1_000_000);
        whole("points_ttl_days", self.points_ttl_days, 1, 3650);
        whole("points_pending_days", self.points_pending_days, 0, 365);
        whole("tier_validity_days", self.tier_validity_days, 1, 3650);
        let max = super::MAX_ADJUSTMENT;
        for (field, value) in [
            ("max_adjustment_points", self.max_adjustment_points),
            ("max_campaign_award_points", self.max_campaign_award_points),
        ] {
            if let Some(n) = value {
                v.check((1..=max).contains(&n), field, &format!("must be between 1 and {max}"));
            }
        }
        v.into_result()?;
        let mut detail = Map::new();
        let mut note = |field: &str, value: Value| {
            if !value.is_null() {
                detail.insert(field.to_string(), value);
            }
        };
        note("earn_rate", json!(self.earn_rate));
        note("redeem_unit_points", json!(self.redeem_unit_points));
        note("redeem_unit_value", json!(self.redeem_unit_value));
        note("max_points_offset_ratio", json!(self.max_points_offset_ratio));
        note("points_ttl_days", json!(self.points_ttl_days));
        note("points_pending_days", json!(self.points_pending_days));
        note("tier_validity_days", json!(self.tier_validity_days));
        note("max_adjustment_points", json!(self.max_adjustment_points));
        note("max_campaign_award_points", json!(self.max_campaign_award_points));
        let changes = ProgramChanges {
            earn_rate,
            redeem_unit_points: self.redeem_unit_points.map(i64::from),
            redeem_unit_value,
            max_points_offset_ratio,
            points_ttl_days: self.points_ttl_days,
            points_pending_days: self.points_pending_days,
            tier_validity_days: self.tier_validity_days,
            max_adjustment_points: self.max_adjustment_points,
            max_campaign_award_points: self.max_campaign_award_points,
        };
        Ok((changes, Value::Object(detail)))
    }
}

/// Pending points must become available before they expire (checked on the settings after the change).
fn check_pending_within_ttl(after: &ProgramRow, changes: &ProgramChanges) -> ApiResult<()> {
    if after.points_pending_days >= after.points_ttl_days {
        let field = if changes.points_pending_days.is_some() { "points_pending_days" } else { "points_ttl_days" };
        return Err(ApiError::invalid(field, "points_pending_days must be shorter than points_ttl_days"));
    }
    Ok(())
}

fn program_response(row: ProgramRow) -> HttpResponse {
    HttpResponse::Ok().insert_header(etag(row.version)).json(ProgramView::from(row))
}

/// The points program settings.
#[utoipa::path(
    tag = "loyalty", operation_id = "get_loyalty_program", security(("bearer" = ["loyalty:read"])),
    responses((status = 200, description = "The settings; the ETag is their version", body = ProgramView))
)]
#[get("/v1/loyalty/program")]
async fn get_program(_auth: Auth<LoyaltyRead>, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let row = crate::db::run(&state.pool, program::load).await?;
    Ok(program_response(row))
}

/// Change the points program settings (only the fields sent); send `If-Match` with the ETag you read.
/// Chain-wide principals only.
#[utoipa::path(
    tag = "loyalty", operation_id = "update_loyalty_program", request_body = ProgramInput,
    params(IfMatch), security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The settings after the change", body = ProgramView),
        crate::error::AdminChainWideOnly,
        crate::error::PreconditionFailed,
        (status = 422, description = "Out-of-range values (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/v1/loyalty/program")]
async fn update_program(
    auth: Auth<ChainWide<Admin>>, state: web::Data<AppState>, expected_version: IfMatch,
    body: crate::http::Json<ProgramInput>,
) -> ApiResult<HttpResponse> {
    let (changes, detail) = body.into_inner().validate()?;
    let expected = expected_version.0;
    let who = auth.principal.clone();
    let now = state.clock.now();
    let row = crate::db::transaction(&state.pool, move |conn| {
        // The update locks the row and checks the version; a bad combination rolls it back.
        let row = program::update(conn, expected, &changes, now)?;
        check_pending_within_ttl(&row, &changes)?;
        crate::audit::record(conn, &who, crate::audit::AuditAction::LoyaltyProgramUpdate, None, detail)?;
        Ok(row)
    })
    .await?;
    Ok(program_response(row))
}
