//! The checkout quote (what a basket costs this member, with coupons and points) and the
//! reservations that hold coupons and points between the quote and the sale.

pub mod api;
pub mod service;
pub mod store;
