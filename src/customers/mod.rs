//! Customers: one profile per person across channels (客户信息管理 / 全渠道客户视图).

pub mod activity;
pub mod api;
pub mod bulk_store;
pub mod bulk_upsert;
pub mod lifecycle;
pub mod model;
pub mod rfm;
pub mod rules;
pub mod service;
pub mod store;
mod timeline;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    api::configure(cfg);
}
