//! The points program: settings, the ledger, points endpoints, rewards, the audit (积分体系).

pub mod api;
pub mod audit;
pub mod ledger;
pub mod merge;
pub mod program;
pub mod rewards;
pub mod rules;
pub mod store;
