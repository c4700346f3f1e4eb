//! Tiers and memberships (会员管理).

pub mod store;
