//! Coupons (优惠券): templates, codes issued to customers, and their redemption (核销).

pub mod api;
pub mod codes;
pub mod model;
pub mod redeem;
pub mod rules;
pub mod store;
pub mod templates;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    api::configure(cfg);
    redeem::configure(cfg);
}
