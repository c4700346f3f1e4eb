//! retail-crm: a headless retail CRM API. `app()` builds the HTTP application; `serve` runs it.

pub mod analytics;
pub mod audit;
pub mod auth_clients;
pub mod campaigns;
pub mod clock;
pub mod config;
pub mod coupons;
pub mod customer_flows;
pub mod customers;
pub mod db;
pub mod demo;
pub mod error;
pub mod events;
pub mod files;
pub mod http;
pub mod ids;
pub mod import;
pub mod jobs;
pub mod leads;
pub mod lifecycle;
pub mod limits;
pub mod logging;
pub mod loyalty;
pub mod memberships;
pub mod metrics;
pub mod money;
pub mod openapi;
pub mod ops;
pub mod orders;
pub mod phone;
pub mod progress;
pub mod proxies;
pub mod reservations;
pub mod sales;
pub mod segments;
pub mod server;
pub mod staff;
pub mod state;
pub mod stores;
pub mod tickets;
pub mod tokens;
pub mod vocabulary;
pub mod webhooks;
#[rustfmt::skip]
pub mod schema;

use std::sync::OnceLock;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{web, App};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use state::AppState;

/// The domains' runtime that lives as long as the service, beside the foundation's `AppState`:
/// `app()` registers each piece as its own `web::Data`, and the handlers that need one take it.
#[derive(Clone)]
pub struct Runtime {
    /// Program and tiers as sales price with them, re-read when their version moves.
    pub catalogue: web::Data<loyalty::program::CatalogueCache>,
    /// Wakes this instance's campaign runner (a one-off campaign runs as soon as it is activated).
    pub campaign_wake: web::Data<campaigns::Wake>,
}

impl Default for Runtime {
    fn default() -> Runtime {
        Runtime { catalogue: web::Data::new(Default::default()), campaign_wake: web::Data::new(Default::default()) }
    }
}

/// Registers every documented API route; the OpenAPI document is collected from the same calls.
pub fn api_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    auth_clients::configure(cfg);
    stores::configure(cfg);
    staff::configure(cfg);
    customer_flows::configure(cfg);
    customers::configure(cfg);
    memberships::api::configure(cfg);
    loyalty::api::configure(cfg);
    sales::api::configure_orders(cfg);
    orders::api::configure(cfg);
    coupons::configure(cfg);
    sales::api::configure_checkout(cfg);
    leads::configure(cfg);
    tickets::configure(cfg);
    segments::configure(cfg);
    campaigns::configure(cfg);
    jobs::api::configure(cfg);
    events::api::configure(cfg);
    webhooks::configure(cfg);
    analytics::api::configure(cfg);
    audit::api::configure(cfg);
}

/// The OpenAPI 3.1 document, built once from the handlers.
pub fn openapi_document() -> &'static serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, doc) =
            App::new().into_utoipa_app().openapi(openapi::ApiDoc::openapi()).configure(api_routes).split_for_parts();
        openapi::finalize(doc)
    })
}

pub fn app(
    state: web::Data<AppState>, runtime: Runtime,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let body_limit = state.config.body_limit;
    let doc = openapi_document();
    App::new()
        .app_data(state)
        .app_data(runtime.catalogue)
        .app_data(runtime.campaign_wake)
        .app_data(http::json_config(body_limit))
        .app_data(web::PayloadConfig::new(body_limit))
        .app_data(http::path_config())
        .app_data(http::query_config())
        .app_data(web::Data::new(http::RouteTable::from_openapi(doc)))
        .wrap(from_fn(http::idempotency::idempotency))
        .wrap(from_fn(http::middleware::observe))
        .into_utoipa_app()
        .configure(api_routes)
        .into_app()
        .configure(ops::configure)
        .service(
            utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                .external_urls_from_iter_unchecked([("/openapi.json", doc.clone())]),
        )
        .default_service(web::to(http::fallback))
}
