//! Tiers and memberships (会员管理).

pub mod api;
pub mod merge;
pub mod rules;
pub mod store;
