//! Sales leads and opportunities (销售线索 / 商机, SPEC §11): capture, rule-based assignment to
//! store staff, the response SLA, the stage machine and the funnel.
//!
//! `model` holds the vocabularies and rows; `rules` is pure (stage machine, rule matching, the
//! pick, funnel arithmetic); `store` holds the SQL; `service` the workflows over it; `sla` is the
//! response sweep; `api` the handlers, one file per resource.

pub mod api;
pub mod model;
pub mod rules;
pub mod service;
pub mod sla;
pub mod store;

pub use api::configure;
