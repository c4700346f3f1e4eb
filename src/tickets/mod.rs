//! Service tickets (工单, SPEC §12): routing to teams and round-robin within them, the SLA clock
//! (business hours, pauses while waiting on the customer), comments, satisfaction and stats.
//!
//! `model` holds the vocabularies and rows; `rules` is pure (status machine, routing match, the SLA
//! clock); `store` holds the SQL (`config_store`: routing rules and SLA policies); `service` the
//! workflows over it (each change in one transaction); `sla` is the breach sweep; `api` the
//! handlers, one file per resource.

pub mod api;
pub mod config_store;
pub mod model;
pub mod rules;
pub mod service;
pub mod sla;
pub mod store;

pub use api::configure;
