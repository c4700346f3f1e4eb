//! The checkout quote (what a basket costs this member, with coupons and points), which may hold
//! them in a reservation (`crate::reservations`) until the sale.

pub mod api;
pub mod service;
