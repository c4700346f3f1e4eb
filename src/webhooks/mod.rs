//! Signed webhooks (SPEC §10, Standard Webhooks): subscriptions follow the outbox, a worker inside
//! the service delivers each event with retries, and the log shows every attempt.

pub mod address;
pub mod api;
pub mod model;
pub mod rules;
pub mod store;
pub mod worker;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    api::configure(cfg);
}
