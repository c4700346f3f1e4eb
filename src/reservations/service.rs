//! Holding, taking and releasing a reservation: the rules every path that touches one shares.

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use uuid::Uuid;

use super::store::{self, Reservation, ReservationStatus};
use crate::error::{ApiError, ApiResult};
use crate::http::auth::StoreScope;
use crate::ids::{CustomerId, StoreId};

/// Releases a hold (idempotent: releasing twice is fine); one an order consumed cannot be released.
/// Only within `scope`: another store's hold is not found.
pub fn release(conn: &mut PgConnection, id: Uuid, scope: StoreScope, now: DateTime<Utc>) -> ApiResult<()> {
    let reservation = store::lock_in(conn, id, scope)?;
    match reservation.status {
        ReservationStatus::Consumed => {
            Err(ApiError::conflict("reservation_consumed", "an order has already used this reservation")
                .with("order_id", reservation.order_id.map(|o| o.to_string())))
        }
        ReservationStatus::Released => Ok(()),
        ReservationStatus::Held | ReservationStatus::Expired => {
            store::close(conn, id, ReservationStatus::Released, None, now).map(|_| ())
        }
    }
}

/// Takes a live reservation for an order: it must be this customer's, made for this store (or both
/// without one), still held and unexpired.
pub fn take_for_order(
    conn: &mut PgConnection, id: Uuid, customer: Option<CustomerId>, store: Option<StoreId>, now: DateTime<Utc>,
) -> ApiResult<Reservation> {
    let not_found = || {
        ApiError::unprocessable("reservation_not_found", "no reservation with this id for this customer and store")
            .with("reservation_id", id.to_string())
    };
    let reservation = store::lock(conn, id).map_err(|_| not_found())?;
    if customer != Some(CustomerId(reservation.customer_id)) || reservation.store_id.map(StoreId) != store {
        return Err(not_found());
    }
    match reservation.status_at(now) {
        ReservationStatus::Held => Ok(reservation),
        ReservationStatus::Expired => {
            Err(ApiError::conflict("reservation_expired", "the reservation has expired: quote again"))
        }
        other @ (ReservationStatus::Consumed | ReservationStatus::Released) => {
            Err(ApiError::conflict("reservation_not_active", format!("the reservation is {other}")))
        }
    }
}
