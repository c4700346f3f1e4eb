//! Orders from every channel as records: their rows, the pricing rules, and reading them back.
//! Posting and refunding them is the sales use case (`crate::sales`).

pub mod api;
pub mod rules;
pub mod store;
