//! Use cases over a customer's records in every domain (ARCHITECTURE "Layers"): the till's lookup,
//! merging two profiles and erasing a person. The customers domain keeps its own rules and rows;
//! these compose it with memberships, loyalty, coupons, orders, reservations, leads and tickets:
//! the lookup in one statement, merge and erasure in one transaction with one explicit list of
//! steps each.

pub mod erasure;
pub mod lookup;
mod lookup_store;
pub mod merge;

/// Registered before the customers domain's routes: `/v1/customers/lookup` is a literal path that
/// `/v1/customers/{id}` must not take.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(lookup::lookup_customer).service(merge::merge_customers).service(erasure::erase_customer);
}
