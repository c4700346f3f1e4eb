//! The loyalty program settings (one row).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;

use super::rules::Program;
use crate::http::error::ApiResult;
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
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

impl ProgramRow {
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
}

pub fn load(conn: &mut PgConnection) -> ApiResult<ProgramRow> {
    Ok(lp::table.select(ProgramRow::as_select()).first(conn)?)
}

pub fn update(
    conn: &mut PgConnection,
    expected: Option<i32>,
    changes: &ProgramChanges,
    now: DateTime<Utc>,
) -> ApiResult<ProgramRow> {
    let current: ProgramRow = lp::table.select(ProgramRow::as_select()).for_update().first(conn)?;
    crate::http::check_version(expected, current.version)?;
    Ok(diesel::update(lp::table)
        .set((changes, lp::version.eq(current.version + 1), lp::updated_at.eq(now)))
        .returning(ProgramRow::as_returning())
        .get_result(conn)?)
}

/// The most points one adjustment may move.
pub fn max_adjustment_points(conn: &mut PgConnection) -> ApiResult<i64> {
    Ok(lp::table.select(lp::max_adjustment_points).first(conn)?)
}

/// The program and the tier catalogue (by rank) in one query: what pricing a member's sale needs.
pub fn load_with_tiers(conn: &mut PgConnection) -> ApiResult<(Program, Vec<crate::memberships::store::Tier>)> {
    use crate::memberships::store::Tier;
    use crate::schema::tiers;
    let rows: Vec<(ProgramRow, Tier)> = lp::table
        .inner_join(tiers::table.on(lp::singleton.eq(true)))
        .order(tiers::rank)
        .select((ProgramRow::as_select(), Tier::as_select()))
        .load(conn)?;
    match rows.first() {
        Some((program, _)) => Ok((program.rules(), rows.iter().map(|(_, t)| t.clone()).collect())),
        None => Ok((load(conn)?.rules(), Vec::new())),
    }
}
