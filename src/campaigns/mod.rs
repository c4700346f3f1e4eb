//! Campaigns and automation (营销自动化, SPEC §9): one-off, scheduled and triggered campaigns that
//! message customers, issue coupons and award points under one contact policy, and report what
//! they caused against a control group.

pub mod actions;
pub mod api;
pub mod categories;
pub mod decide;
pub mod delivery;
pub mod messages;
pub mod model;
pub mod plan;
pub mod report;
pub mod rules;
pub mod run;
pub mod schedule;
pub mod store;

/// Wakes this instance's campaign runner, so a one-off campaign runs as soon as it is activated.
/// Domain runtime: `app()` registers it as its own `web::Data`, beside the foundation's state.
#[derive(Default)]
pub struct Wake(tokio::sync::Notify);

impl Wake {
    /// Asks the runner for a run now (one pending wake at most).
    pub fn notify_one(&self) {
        self.0.notify_one();
    }

    /// Waits for the next wake.
    pub async fn notified(&self) {
        self.0.notified().await;
    }
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    api::configure(cfg);
    categories::configure(cfg);
    report::configure(cfg);
    messages::configure(cfg);
}
