//! Coupon endpoints (SPEC §8), one file per resource: templates and their stats, issuing and
//! claiming, coupons (a customer's, one by code, voiding). The template bodies and their checks are
//! `template_body` and `template_patch`. Redemption lives in `redeem`.

mod coupons;
mod issue;
pub mod template_body;
pub mod template_patch;
mod templates;

use rust_decimal::Decimal;
use serde::Serializer;

pub use template_body::TemplateCreate;
pub use template_patch::TemplatePatch;

// Problem responses several operations name.
crate::problem_response!(pub CouponNotFound = 404, "`coupon_not_found`");
crate::problem_response!(pub CouponTemplateNotFound = 404, "`coupon_template_not_found`");

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(templates::create_template)
        .service(templates::list_templates)
        .service(templates::get_template)
        .service(templates::update_template)
        .service(issue::issue_coupons)
        .service(templates::template_stats)
        .service(issue::claim_coupon)
        .service(coupons::list_customer_coupons)
        .service(coupons::get_coupon)
        .service(coupons::void_coupon);
}

/// A rate as the views show it ("0.9" is 9折), or null.
fn rate_option<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => crate::money::rate::serialize(v, s),
        None => s.serialize_none(),
    }
}
