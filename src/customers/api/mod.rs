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
