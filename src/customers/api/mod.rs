//! Customer endpoints, one file per resource: profiles (and their bulk upsert), identities, tags,
//! notes, the timeline and the export.

mod bulk;
mod export;
mod identities;
mod notes;
mod profiles;
mod tags;
mod timeline;

pub use bulk::BULK_MAX_ROWS;
pub use profiles::{audited_unmasked, customer_response, read_view, views_of};

// Problem responses several operations name.
crate::problem_response!(pub CustomerNotFound = 404, "`customer_not_found`");
crate::problem_response!(pub PiiForbidden = 403, "`forbidden` without `customers:pii`; `store_bound_principal` for a principal bound to a store");

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    // Literal paths before `{id}` so `lookup` and `bulk` are never parsed as ids.
    bulk::configure(cfg);
    profiles::configure(cfg);
    identities::configure(cfg);
    tags::configure(cfg);
    notes::configure(cfg);
    timeline::configure(cfg);
    export::configure(cfg);
}
