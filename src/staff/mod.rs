//! Staff: store clerks, service agents, managers; optional password login.

pub mod api;
pub mod rules;
pub mod store;

pub use api::configure;
