//! Campaigns and automation (营销自动化, SPEC §9): one-off, scheduled and triggered campaigns that
//! message customers, issue coupons and award points under one contact policy, and report what
//! they caused against a control group.

pub mod api;
pub mod categories;
pub mod messages;
pub mod model;
pub mod report;
pub mod rules;
pub mod run;
pub mod schedule;
pub mod store;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    api::configure(cfg);
    categories::configure(cfg);
    report::configure(cfg);
    messages::configure(cfg);
}
