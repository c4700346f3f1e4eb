//! The points program: settings, the ledger, points endpoints, rewards, the audit (积分体系).

pub mod api;
pub mod ledger;
pub mod program;
pub mod rules;
