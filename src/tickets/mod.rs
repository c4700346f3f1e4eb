//! Service tickets (工单, SPEC §12): routing to teams and round-robin within them, the SLA clock
//! (business hours, pauses while waiting on the customer), comments, satisfaction and stats.
//!
//! `rules` is pure (status machine, routing match, the SLA clock); `store` holds the SQL and the
//! transactions (`config_store`: routing rules and SLA policies); `sla` is the breach sweep; `api` the handlers.

pub mod api;
pub mod config_api;
pub mod config_store;
pub mod rules;
pub mod sla;
pub mod store;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    api::configure(cfg);
    config_api::configure(cfg);
}
