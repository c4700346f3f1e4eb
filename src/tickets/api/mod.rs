//! Service-ticket endpoints (SPEC §12): tickets and their status machine (`tickets`), comments
//! (`comments`), stats (`stats`), routing rules (`routing_rules`) and SLA policies (`sla_policies`).

mod comments;
mod routing_rules;
mod sla_policies;
mod stats;
mod tickets;

pub use comments::{CommentCreate, CommentCreated, CommentView};
pub use routing_rules::{RuleCreate, RulePatch, RuleView};
pub use sla_policies::{PolicyPut, PolicyView};
pub use stats::{StatsParams, TicketCount, TicketStats};
pub use tickets::{SatisfactionRequest, TicketCreate, TicketListParams, TicketPatch, TicketView};

// Problem responses several operations name.
crate::problem_response!(pub TicketConfigIsTheChains = 403, "`forbidden` without the scope; `store_bound_principal`: ticket routing and SLA policies are the chain's, for chain-wide principals only");
crate::problem_response!(pub TicketNotFound = 404, "`ticket_not_found`");
crate::problem_response!(pub TicketRoutingRuleNotFound = 404, "`ticket_routing_rule_not_found`");

/// In registration order: a literal path (`/v1/tickets/stats`) before the one it would match as an id.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(tickets::create_ticket)
        .service(tickets::list_tickets)
        .service(stats::ticket_stats)
        .service(tickets::get_ticket)
        .service(tickets::update_ticket)
        .service(comments::add_comment)
        .service(comments::list_comments)
        .service(tickets::record_satisfaction)
        .service(routing_rules::create_rule)
        .service(routing_rules::list_rules)
        .service(routing_rules::get_rule)
        .service(routing_rules::update_rule)
        .service(routing_rules::delete_rule)
        .service(sla_policies::list_policies)
        .service(sla_policies::put_policy);
}

/// At most this many characters in a ticket's text (description, comment).
const MAX_TEXT: usize = 5000;
/// At most this many characters in a name (team, category, rule).
const MAX_NAME: usize = 64;
/// What a request naming an unknown channel is told here.
const MUST_BE_KNOWN: &str = "must be a known channel";
