//! Customers: one profile per person across channels.

pub mod rules;

pub fn configure(_cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {}
