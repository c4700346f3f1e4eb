//! The till's use cases: posting a sale, refunding it, quoting a basket and reserving what the
//! quote uses. The only code that composes customers, memberships, loyalty, coupons,
//! reservations and orders in one transaction (ARCHITECTURE "Layers").

pub mod api;
pub mod plan;
pub mod quote;
pub mod refund;
pub mod sale;
pub mod store;
