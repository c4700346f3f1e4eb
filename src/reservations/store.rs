//! Reservation SQL. A reservation is `held` until an order consumes it, a till releases it, or
//! `expires_at` passes (then it holds nothing, without any job having to run).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::http::auth::StoreScope;
use crate::schema::{checkout_reservations as r, coupons as c};
use crate::stores::SalesChannel;

crate::vocabulary! {
    /// Where a checkout reservation stands.
    pub enum ReservationStatus {
        /// Holding its coupons and points until `expires_at`.
        Held = "held",
        /// An order used it.
        Consumed = "consumed",
        Released = "released",
        /// Never stored: held past `expires_at`, it holds nothing (no job has to run).
        Expired = "expired",
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = r)]
pub struct Reservation {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub store_id: Option<Uuid>,
    pub channel: SalesChannel,
    pub points: i64,
    pub coupon_codes: Vec<String>,
    pub quote: Value,
    pub status: ReservationStatus,
    pub expires_at: DateTime<Utc>,
    pub order_id: Option<Uuid>,
    pub actor: String,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl Reservation {
    /// The stored status, or `expired` for one held past its time.
    pub fn status_at(&self, now: DateTime<Utc>) -> ReservationStatus {
        if self.status == ReservationStatus::Held && self.expires_at <= now {
            ReservationStatus::Expired
        } else {
            self.status
        }
    }
}

pub fn not_found() -> ApiError {
    ApiError::not_found("reservation_not_found", "no reservation with this id")
}

pub struct NewReservation<'a> {
    pub customer_id: Uuid,
    pub store_id: Option<Uuid>,
    pub channel: SalesChannel,
    pub points: i64,
    pub coupon_codes: &'a [String],
    pub quote: Value,
    pub expires_at: DateTime<Utc>,
    pub actor: &'a str,
    pub now: DateTime<Utc>,
}

/// Records the hold and marks its coupons as held until it expires.
pub fn insert(conn: &mut PgConnection, new: NewReservation) -> ApiResult<Reservation> {
    let id = Uuid::now_v7();
    let reservation = diesel::insert_into(r::table)
        .values((
            r::id.eq(id),
            r::customer_id.eq(new.customer_id),
            r::store_id.eq(new.store_id),
            r::channel.eq(new.channel),
            r::points.eq(new.points),
            r::coupon_codes.eq(new.coupon_codes),
            r::quote.eq(new.quote),
            r::expires_at.eq(new.expires_at),
            r::actor.eq(new.actor),
            r::created_at.eq(new.now),
        ))
        .returning(Reservation::as_returning())
        .get_result(conn)?;
    if !new.coupon_codes.is_empty() {
        diesel::update(c::table.filter(c::code.eq_any(new.coupon_codes)))
            .set((c::reserved_by.eq(id), c::reserved_until.eq(new.expires_at), c::updated_at.eq(new.now)))
            .execute(conn)?;
    }
    Ok(reservation)
}

/// A reservation within `scope`: another store's hold is not found, exactly like a missing one.
pub fn get_in(conn: &mut PgConnection, id: Uuid, scope: StoreScope) -> ApiResult<Reservation> {
    let q = r::table.filter(r::id.eq(id)).select(Reservation::as_select());
    match scope.only() {
        Some(store) => q.filter(r::store_id.eq(store)).first(conn),
        None => q.first(conn),
    }
    .optional()?
    .ok_or_else(not_found)
}

/// Locks a reservation within `scope` (releasing it).
pub fn lock_in(conn: &mut PgConnection, id: Uuid, scope: StoreScope) -> ApiResult<Reservation> {
    let q = r::table.filter(r::id.eq(id)).select(Reservation::as_select()).for_update();
    match scope.only() {
        Some(store) => q.filter(r::store_id.eq(store)).first(conn),
        None => q.first(conn),
    }
    .optional()?
    .ok_or_else(not_found)
}

pub fn lock(conn: &mut PgConnection, id: Uuid) -> ApiResult<Reservation> {
    lock_in(conn, id, StoreScope::Chain)
}

/// Ends a hold (`consumed` by an order, or `released`) and frees the coupons it still holds.
pub fn close(
    conn: &mut PgConnection, id: Uuid, status: ReservationStatus, order_id: Option<Uuid>, now: DateTime<Utc>,
) -> ApiResult<Reservation> {
    let closed = diesel::update(r::table.filter(r::id.eq(id)))
        .set((r::status.eq(status), r::order_id.eq(order_id), r::closed_at.eq(now)))
        .returning(Reservation::as_returning())
        .get_result(conn)?;
    if !closed.coupon_codes.is_empty() {
        // By code (the primary key): the hold is on exactly these coupons.
        diesel::update(c::table.filter(c::code.eq_any(&closed.coupon_codes)).filter(c::reserved_by.eq(id)))
            .set((c::reserved_by.eq(None::<Uuid>), c::reserved_until.eq(None::<DateTime<Utc>>)))
            .execute(conn)?;
    }
    Ok(closed)
}

/// Releases every hold of a customer (a merge folds them into another: they quote again).
pub fn release_all_of(conn: &mut PgConnection, customer: Uuid, now: DateTime<Utc>) -> ApiResult<i64> {
    let held: Vec<Uuid> = r::table
        .filter(r::customer_id.eq(customer))
        .filter(r::status.eq(ReservationStatus::Held))
        .select(r::id)
        .for_update()
        .load(conn)?;
    for id in &held {
        close(conn, *id, ReservationStatus::Released, None, now)?;
    }
    Ok(held.len() as i64)
}
