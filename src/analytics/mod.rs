//! Reports a manager can trust (SPEC §13): the dashboard, members, sales, RFM, lifecycle, churn,
//! repurchase, forecast and recommendations. They read summary tables kept by followers of the
//! outbox (`summary`, `customers::activity`, `orders::co_purchase`) and the daily RFM snapshot
//! (`customers::rfm`), never scanning every order per request. A report only reads (so it can be
//! served by a read replica): what it shows follows the sales within a minute, through the minute
//! sweeps (`POST /v1/sweeps/{name}/run` catches one up at once).

pub mod api;
pub mod derived;
pub mod export;
pub mod rules;
pub mod store;
pub mod summary;
