//! Reports a manager can trust (SPEC §13): the dashboard, members, sales, RFM, lifecycle, churn,
//! repurchase, forecast and recommendations. They read summary tables kept by followers of the
//! outbox (`summary`, `customers::activity`, `orders::co_purchase`) and the daily RFM snapshot
//! (`customers::rfm`), never scanning every order per request.

pub mod api;
pub mod rules;
pub mod store;
pub mod summary;
