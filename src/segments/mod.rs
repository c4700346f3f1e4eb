//! Segments (客户分群): audiences defined over profile, consent and order history, compiled to one
//! SQL query; rule tags are segments whose holders are kept as tags.

pub mod api;
pub mod compile;
pub mod definition;
pub mod store;
pub mod tags;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    api::configure(cfg);
    tags::configure(cfg);
}
