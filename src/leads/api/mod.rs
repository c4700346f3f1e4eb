//! Lead endpoints (SPEC §11): leads (`leads`), their stage actions (`stages`), the funnel
//! (`funnel`) and the assignment rules (`assignment_rules`).

mod assignment_rules;
mod funnel;
mod leads;
mod stages;

pub use assignment_rules::{LeadRuleCreate, LeadRuleMatch, LeadRulePatch, LeadRuleTarget, LeadRuleView};
pub use funnel::{LeadConversion, LeadFunnel, LeadStageCounts};
pub use leads::{LeadContactInput, LeadContactView, LeadCreate, LeadItem, LeadView};
pub use stages::{LeadAssignRequest, LeadCloseRequest, LeadConvertRequest};

use crate::error::Violations;

// Problem responses several operations name.
crate::problem_response!(pub AssignmentRulesAreTheChains = 403, "`forbidden` without the scope; `store_bound_principal`: assignment rules route every store's leads, so only a chain-wide principal reads or changes them");
crate::problem_response!(pub LeadAssignmentRuleNotFound = 404, "`lead_assignment_rule_not_found`");
crate::problem_response!(pub LeadInvalidTransition = 409, "`invalid_transition` (with `lead_status`)");
crate::problem_response!(pub LeadNotFound = 404, "`lead_not_found`");

/// In registration order: a literal path (`/v1/leads/funnel`) before the one it would match as an id.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(leads::create_lead)
        .service(leads::list_leads)
        .service(funnel::lead_funnel)
        .service(leads::get_lead)
        .service(stages::assign_lead)
        .service(stages::contact_lead)
        .service(stages::qualify_lead)
        .service(stages::convert_lead)
        .service(stages::close_lead)
        .service(assignment_rules::create_rule)
        .service(assignment_rules::list_rules)
        .service(assignment_rules::get_rule)
        .service(assignment_rules::update_rule);
}

/// Trimmed text, blank as absent, at most `max` characters.
fn text(v: &mut Violations, field: &str, value: Option<String>, max: usize) -> Option<String> {
    let t = value.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if let Some(s) = &t {
        v.check(s.chars().count() <= max, field, &format!("must be at most {max} characters"));
    }
    t
}

fn required_text(v: &mut Violations, field: &str, value: Option<String>, max: usize) -> Option<String> {
    let t = text(v, field, value, max);
    if t.is_none() {
        v.add(field, "is required");
    }
    t
}
