//! API clients (machines) and the token endpoint.

pub mod api;
pub mod store;

pub use api::configure;
