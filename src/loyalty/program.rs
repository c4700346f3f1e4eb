//! The loyalty program settings (one row).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;

use super::rules::Program;
use crate::error::{ApiError, ApiResult};
use crate::schema::loyalty_program as lp;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = lp)]
pub struct ProgramRow {
    pub earn_rate: Decimal,
    pub redeem_unit_points: i64,
    pub redeem_unit_value: Decimal,
    pub max_points_offset_ratio: Decimal,
    pub points_ttl_days: i32,
    pub points_pending_days: i32,
    pub tier_validity_days: i32,
    /// The most points one adjustment may move, either way (SPEC §3.1).
    pub max_adjustment_points: i64,
    /// The most points a campaign's `award_points` gives one customer (None: `max_adjustment_points`).
    pub max_campaign_award_points: Option<i64>,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

impl ProgramRow {
    /// A campaign mints points without a hand on each: bounded like a hand adjustment unless the
    /// program sets its own bound.
    pub fn campaign_award_limit(&self) -> i64 {
        self.max_campaign_award_points.unwrap_or(self.max_adjustment_points)
    }

    /// 422 `award_over_limit` (with `max_campaign_award_points`) when a campaign would give each
    /// customer more than `campaign_award_limit` points.
    pub fn check_campaign_award(&self, points: i64) -> ApiResult<()> {
        let limit = self.campaign_award_limit();
        if points <= limit {
            return Ok(());
        }
        Err(ApiError::unprocessable(
            "award_over_limit",
            format!("a campaign awards each customer at most {limit} points (the program's max_campaign_award_points)"),
        )
        .with("max_campaign_award_points", limit))
    }

    pub fn rules(&self) -> Program {
        Program {
            earn_rate: self.earn_rate,
            redeem_unit_points: self.redeem_unit_points,
            redeem_unit_value: self.redeem_unit_value,
            max_points_offset_ratio: self.max_points_offset_ratio,
            points_ttl_days: self.points_ttl_days,
            points_pending_days: self.points_pending_days,
            tier_validity_days: self.tier_validity_days,
        }
    }
}

#[derive(AsChangeset, Default, Debug)]
#[diesel(table_name = lp)]
pub struct ProgramChanges {
    pub earn_rate: Option<Decimal>,
    pub redeem_unit_points: Option<i64>,
    pub redeem_unit_value: Option<Decimal>,
    pub max_points_offset_ratio: Option<Decimal>,
    pub points_ttl_days: Option<i32>,
    pub points_pending_days: Option<i32>,
    pub tier_validity_days: Option<i32>,
    pub max_adjustment_points: Option<i64>,
    pub max_campaign_award_points: Option<i64>,
}

pub fn load(conn: &mut PgConnection) -> ApiResult<ProgramRow> {
    Ok(lp::table.select(ProgramRow::as_select()).first(conn)?)
}

pub fn update(
    conn: &mut PgConnection, expected: Option<i32>, changes: &ProgramChanges, now: DateTime<Utc>,
) -> ApiResult<ProgramRow> {
    let current: ProgramRow = lp::table.select(ProgramRow::as_select()).for_update().first(conn)?;
    crate::http::check_version(expected, current.version)?;
    Ok(diesel::update(lp::table)
        .set((
            changes,
            lp::version.eq(current.version + 1),
            lp::catalogue_version.eq(lp::catalogue_version + 1),
            lp::updated_at.eq(now),
        ))
        .returning(ProgramRow::as_returning())
        .get_result(conn)?)
}

/// The most points one adjustment may move.
pub fn max_adjustment_points(conn: &mut PgConnection) -> ApiResult<i64> {
    Ok(lp::table.select(lp::max_adjustment_points).first(conn)?)
}

/// The program and the tier catalogue (by rank) as one sale prices with them, and the
/// `catalogue_version` they were read at (it changes with any change to either).
#[derive(Debug)]
pub struct Catalogue {
    pub version: i64,
    pub program: Program,
    pub tiers: Vec<crate::memberships::store::Tier>,
}

/// The program and the tier catalogue in one query.
pub fn load_catalogue(conn: &mut PgConnection) -> ApiResult<Catalogue> {
    use crate::memberships::store::Tier;
    use crate::schema::tiers;
    let rows: Vec<(ProgramRow, i64, Tier)> = lp::table
        .inner_join(tiers::table.on(lp::singleton.eq(true)))
        .order(tiers::rank)
        .select((ProgramRow::as_select(), lp::catalogue_version, Tier::as_select()))
        .load(conn)?;
    match rows.first() {
        Some((program, version, _)) => Ok(Catalogue {
            version: *version,
            program: program.rules(),
            tiers: rows.iter().map(|(_, _, t)| t.clone()).collect(),
        }),
        None => {
            let (program, version) =
                lp::table.select((ProgramRow::as_select(), lp::catalogue_version)).first::<(ProgramRow, i64)>(conn)?;
            Ok(Catalogue { version, program: program.rules(), tiers: Vec::new() })
        }
    }
}

/// The catalogue kept in memory: a sale learns the current `catalogue_version` from a statement it
/// runs anyway, so the program and the tiers are re-read only after they change, never per sale.
#[derive(Default)]
pub struct CatalogueCache(std::sync::RwLock<Option<std::sync::Arc<Catalogue>>>);

impl CatalogueCache {
    /// The catalogue at `version`, or a fresh read when the cached one is older or missing.
    pub fn at(&self, conn: &mut PgConnection, version: i64) -> ApiResult<std::sync::Arc<Catalogue>> {
        let cached = self.0.read().ok().and_then(|c| c.clone());
        if let Some(catalogue) = cached.filter(|c| c.version == version) {
            return Ok(catalogue);
        }
        let fresh = std::sync::Arc::new(load_catalogue(conn)?);
        if let Ok(mut slot) = self.0.write() {
            // Concurrent sales may read different versions: keep the newest.
            if slot.as_ref().is_none_or(|c| c.version <= fresh.version) {
                *slot = Some(fresh.clone());
            }
        }
        Ok(fresh)
    }
}
