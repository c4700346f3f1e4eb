//! The one integration-test binary: every module drives the real app against real PostgreSQL.
//! `support` is the harness (`TestApp`); the other modules are grouped by domain.

mod support;

mod auth;
mod conventions;
mod customers;
mod events;
mod loyalty;
mod memberships;
mod openapi;
mod orders;
mod stores_staff;
