//! The one integration-test binary: every module drives the real app against real PostgreSQL.
//! `support` is the harness (`TestApp`); the other modules are grouped by domain.

mod builders;
mod support;

mod abuse;
mod access;
mod analytics;

mod auth;
mod backup;
mod campaigns;
mod checkout;
mod citus;
mod conventions;
mod coupons;
mod customers;
mod demo;
mod durability;
mod erasure;
mod events;
mod import;
mod layers;
mod leads;
mod loyalty;
mod memberships;
mod observability;
mod openapi;
mod orders;
mod owners;
mod segments;
mod served;
mod stores_staff;
mod tickets;
mod till;
mod webhooks;
