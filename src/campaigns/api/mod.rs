//! `/v1/campaigns`: create, change, move through their statuses, dry-run (SPEC §9). The chain's
//! marketing: chain-wide principals only. One file per resource; the request body and its checks
//! are `input`.

mod campaigns;
mod dry_run;
pub mod input;

pub use input::{check_award, check_references, CampaignInput};

// Problem responses several operations name.
crate::problem_response!(pub CampaignInvalidTransition = 409, "`invalid_transition` (with `campaign_status`)");
crate::problem_response!(pub CampaignNotFound = 404, "`campaign_not_found`");
crate::problem_response!(pub CampaignsAreTheChains = 403, "`forbidden` without the scope; `store_bound_principal`: campaigns are the chain's");

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(campaigns::create_campaign)
        .service(campaigns::list_campaigns)
        .service(campaigns::get_campaign)
        .service(campaigns::update_campaign)
        .service(campaigns::activate_campaign)
        .service(campaigns::pause_campaign)
        .service(campaigns::complete_campaign)
        .service(dry_run::dry_run_campaign);
}

const CHAIN_ONLY: &str = "`forbidden` without the scope (a campaign that awards points needs `loyalty:write` too); `store_bound_principal`: campaigns are the chain's";
