//! Reservations: the coupons and points a quote holds for a customer at a store until an order
//! consumes them, someone releases them or they expire. A domain below orders, so the sale, the
//! quote and the merge use it alike.

pub mod service;
pub mod store;
