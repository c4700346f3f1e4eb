//! Sales leads and opportunities (销售线索 / 商机, SPEC §11): capture, rule-based assignment to
//! store staff, the response SLA, the stage machine and the funnel.

pub mod api;
pub mod rules;
pub mod service;
pub mod sla;
pub mod store;

pub use api::configure;
