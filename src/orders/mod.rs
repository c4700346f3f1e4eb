//! Orders from every channel: pricing, points, qualifying spend, refunds.

pub mod api;
pub mod rules;
pub mod service;
pub mod store;
