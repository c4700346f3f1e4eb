//! Orders from every channel: pricing, points, qualifying spend, refunds.

pub mod rules;
