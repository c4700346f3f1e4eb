//! "Now", as rules and jobs see it: the system clock, or a time a test sets.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

#[derive(Clone, Default)]
pub struct Clock {
    fixed: Arc<RwLock<Option<DateTime<Utc>>>>,
}

impl Clock {
    // The one place that reads the system clock.
    #[allow(clippy::disallowed_methods)]
    pub fn now(&self) -> DateTime<Utc> {
        self.fixed.read().ok().and_then(|t| *t).unwrap_or_else(Utc::now)
    }

    /// Pins "now" (tests): expiry and tier reviews are tested at any date without waiting.
    pub fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut t) = self.fixed.write() {
            *t = Some(at);
        }
    }

    pub fn advance(&self, by: chrono::Duration) {
        let next = self.now() + by;
        self.set(next);
    }
}
