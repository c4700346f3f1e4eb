//! `POST /v1/orders/bulk` and `POST /v1/refunds/bulk`: connectors catching up post up to 500 rows a
//! call. A row is the single call's body, read, checked and posted by the single call's own code in
//! a transaction of its own, and answered with the single call's status and body or problem.

use actix_web::{post, web, HttpResponse};
use diesel::{Connection, PgConnection};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::refunds::{ChannelOrder, ChannelRefundInput};
use super::{Answer, OrderInput, Poster};
use crate::error::NotFinal;
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::auth::{Auth, OrdersWrite, Principal};
use crate::http::json::from_object;
use crate::loyalty::program::CatalogueCache;
use crate::orders::api::{OrderView, RefundView};
use crate::sales::refund::NewRefund;
use crate::state::AppState;

/// Rows per call: a call holds one pooled connection while its rows run one after another. A row
/// costs the client a request of its rate limit, a client runs at most two bulk calls at once, and
/// bulk calls hold at most a quarter of the connections (`db::bulk_share`): the tills go first.
pub const MAX_ROWS: usize = 500;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"orders": [{"external_id": "TM-3920018827731", "channel": "tmall",
    "customer_identity": {"kind": "tmall_ouid", "value": "t_88231"}, "occurred_at": "2026-11-23T08:00:00Z",
    "lines": [{"sku": "W-DRESS-001", "name": "连衣裙", "category": "女装", "quantity": 1, "unit_price": "299.00"}],
    "pricing": "external", "paid_amount": "269.00"}]}))]
pub struct BulkOrdersInput {
    /// 1-500 sales, each exactly the body of `POST /v1/orders`. Rows are read one by one: a row that
    /// is not a valid order is answered in its place with the problem the single call gives it.
    #[schema(value_type = Vec<OrderInput>, min_items = 1, max_items = 500)]
    orders: Vec<Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refunds": [{"order": {"channel": "tmall", "external_id": "TM-3920018827731"},
    "external_id": "TM-RF-88120", "amount": "199.00"}]}))]
pub struct BulkRefundsInput {
    /// 1-500 refunds, each exactly the body of `POST /v1/refunds`. Rows are read one by one: a row
    /// that is not a valid refund is answered in its place with the problem the single call gives it.
    #[schema(value_type = Vec<ChannelRefundInput>, min_items = 1, max_items = 500)]
    refunds: Vec<Value>,
}

/// The answer of a bulk call over one kind of row, as named schemas a client generator can use:
/// `$row` for one row (the single call's body as `result`, or its problem) and `$answer` for all.
macro_rules! bulk_answer {
    ($answer:ident, $row:ident, $view:ty) => {
        /// One row's answer, at the row's place in the input.
        #[derive(Serialize, ToSchema)]
        pub struct $row {
            /// The row's position in the input, from 0.
            index: usize,
            /// What the single call would have answered: 201 posted now, 200 stored before under
            /// the same key (nothing changed), else the problem's status (400, 403, 409, 422...).
            #[schema(minimum = 200, maximum = 599)]
            status: u16,
            /// With 200 and 201: the single call's body.
            #[serde(skip_serializing_if = "Option::is_none")]
            #[schema(nullable = false)]
            result: Option<$view>,
            /// Otherwise: the single call's problem, member for member.
            #[serde(skip_serializing_if = "Option::is_none")]
            #[schema(nullable = false)]
            problem: Option<Problem>,
        }

        /// Every row's answer in input order, and how many of each kind.
        #[derive(Serialize, ToSchema)]
        pub struct $answer {
            /// Rows answered 201.
            created: usize,
            /// Rows answered 200: stored before under the same key, unchanged.
            already_stored: usize,
            /// Rows answered with a problem.
            failed: usize,
            results: Vec<$row>,
        }

        impl From<Tally<$view>> for $answer {
            fn from(t: Tally<$view>) -> Self {
                let results = t.rows.into_iter().map(|r| $row { index: r.0, status: r.1, result: r.2, problem: r.3 });
                $answer {
                    created: t.created,
                    already_stored: t.already_stored,
                    failed: t.failed,
                    results: results.collect(),
                }
            }
        }
    };
}

bulk_answer!(BulkOrdersAnswer, BulkOrderRow, OrderView);
bulk_answer!(BulkRefundsAnswer, BulkRefundRow, RefundView);

/// The rows' outcomes counted, each as (index, status, body, problem), and whether every one is
/// final (none would be answered otherwise on a retry: no `order_not_posted`, no fault of ours).
struct Tally<T> {
    created: usize,
    already_stored: usize,
    failed: usize,
    rows: Vec<(usize, u16, Option<T>, Option<Problem>)>,
    all_final: bool,
}

impl<T> Tally<T> {
    fn of(outcomes: Vec<ApiResult<Answer<T>>>) -> Tally<T> {
        let mut tally = Tally { created: 0, already_stored: 0, failed: 0, rows: Vec::new(), all_final: true };
        for (index, outcome) in outcomes.into_iter().enumerate() {
            tally.rows.push(match outcome {
                Ok(done) => {
                    *(if done.created { &mut tally.created } else { &mut tally.already_stored }) += 1;
                    (index, done.status().as_u16(), Some(done.body), None)
                }
                Err(err) => {
                    if let ApiError::Internal(cause) = &err {
                        log::error!("internal error in bulk row {index}: {cause}");
                    }
                    tally.all_final &= err.is_final();
                    tally.failed += 1;
                    let problem = err.problem();
                    (index, problem.status, None, Some(problem))
                }
            });
        }
        tally
    }
}

/// 200 with every row's answer. A row that may be answered otherwise on a retry makes the whole
/// answer not final: an `Idempotency-Key` is then released rather than stored, so the same call
/// with the same key runs again (the rows posted the first time answer 200 by their own keys).
fn respond<T, A: From<Tally<T>> + Serialize>(outcomes: Vec<ApiResult<Answer<T>>>) -> HttpResponse {
    let tally = Tally::of(outcomes);
    let all_final = tally.all_final;
    let mut response = HttpResponse::Ok().json(A::from(tally));
    if !all_final {
        response.extensions_mut().insert(NotFinal);
    }
    response
}

/// 1-500 rows, or 422: none is `validation_failed` on `field`, too many is `too_many_rows`.
fn check_row_count(field: &str, rows: &[Value]) -> ApiResult<()> {
    if rows.is_empty() {
        return Err(ApiError::invalid(field, format!("send 1-{MAX_ROWS} rows")));
    }
    if rows.len() > MAX_ROWS {
        return Err(ApiError::unprocessable(
            "too_many_rows",
            format!("{} rows sent; a call takes at most {MAX_ROWS}: send the rest in further calls", rows.len()),
        )
        .with("max_rows", MAX_ROWS));
    }
    Ok(())
}

/// A bulk call: 1-500 rows, each read and checked by `check` (as the single call reads and checks
/// its body), then posted by `post` in input order on one connection, each in a transaction of its
/// own (a row commits or rolls back alone; no lock is held from one row to the next). A row that
/// failed its check keeps its problem and touches nothing. Answered as `A`.
async fn post_rows<R, T, A>(
    state: &AppState, who: &Principal, field: &str, rows: Vec<Value>, check: impl FnMut(Value) -> ApiResult<R>,
    post: impl Fn(&mut PgConnection, R) -> ApiResult<Answer<T>> + Send + 'static,
) -> ApiResult<HttpResponse>
where
    R: Send + 'static,
    T: Send + 'static,
    A: From<Tally<T>> + Serialize,
{
    check_row_count(field, &rows)?;
    let _slot = state.limits.admit_bulk(&who.sub, rows.len())?;
    let checked: Vec<ApiResult<R>> = rows.into_iter().map(check).collect();
    let outcomes = crate::db::run_bulk(&state.pool, move |conn| {
        Ok(checked.into_iter().map(|row| row.and_then(|r| conn.transaction(|conn| post(conn, r)))).collect())
    })
    .await?;
    Ok(respond::<T, A>(outcomes))
}

/// Post up to 500 sales at once (a connector catching up, a till back online).
///
/// Each row is the body of `POST /v1/orders`, posted exactly as if it were sent alone, by the same
/// code: its own transaction, every rule of the single call, the same natural key `(channel,
/// store_id, external_id)` and the same access decisions (a store-bound principal posts for its own
/// store only: a row for another store is 403 `store_bound_principal`). Rows run one after another
/// in input order, so a later row sees what an earlier one posted; a late row is judged as the
/// single call judges it. One bad row never sinks the others: the call answers **200** with every
/// row's answer in input order — `status` as the single call would answer (201 posted now, 200
/// stored before under the same key, or the problem's status) and its body as `result` or its
/// problem+json as `problem`. Only a call that is wrong itself is refused whole: no rows (422
/// `validation_failed`), more than 500 (422 `too_many_rows` with `max_rows`), a body that is not
/// `{"orders": [...]}` (400) or over the size limit (413).
///
/// Rows are naturally idempotent: the same call can simply be sent again. With an
/// `Idempotency-Key` the first answer is stored and replayed as for any POST — unless a row's
/// answer was not final (503, 500): then nothing is stored, and a retry with the key runs again.
#[utoipa::path(
    tag = "orders", operation_id = "post_orders_bulk", request_body = BulkOrdersInput,
    security(("bearer" = ["orders:write"])),
    responses(
        (status = 200, description = "Every row's answer, in input order", body = BulkOrdersAnswer),
        crate::error::BulkRowsRefused,
        crate::error::BulkRateLimited,
    )
)]
#[post("/v1/orders/bulk")]
async fn post_orders_bulk(
    auth: Auth<OrdersWrite>, state: web::Data<AppState>, catalogue: web::Data<CatalogueCache>,
    body: crate::http::Json<BulkOrdersInput>,
) -> ApiResult<HttpResponse> {
    let poster = Poster::new(&auth, &state);
    let now = poster.now;
    let check = |row| from_object::<OrderInput>(row)?.validate(&auth, now);
    let post = move |conn: &mut PgConnection, new| poster.sell(conn, &catalogue, new);
    post_rows::<_, _, BulkOrdersAnswer>(&state, &auth, "orders", body.into_inner().orders, check, post).await
}

/// Post up to 500 refunds at once, each naming its order by the channel's own number.
///
/// Each row is the body of `POST /v1/refunds`, posted exactly as if it were sent alone, by the same
/// code: its own transaction, every rule of a refund, the same idempotency (the refund's
/// `external_id` per order) and the same access decisions (a store-bound principal refunds its own
/// store's orders only: naming another store is 403 `store_bound_principal`, and other stores'
/// orders are not posted as far as it can tell). Rows run one after another in input order, so a
/// refund may follow its order in the same call. A refund whose order has not arrived yet is 409
/// `order_not_posted`: send it again later. One bad row never sinks the others: the call answers
/// **200** with every row's answer in input order — `status` as the single call would answer (201
/// refunded now, 200 refunded before under this `external_id`, or the problem's status) and its
/// body as `result` or its problem+json as `problem`. Only a call that is wrong itself is refused
/// whole: no rows (422 `validation_failed`), more than 500 (422 `too_many_rows` with `max_rows`), a
/// body that is not `{"refunds": [...]}` (400) or over the size limit (413).
///
/// Rows are naturally idempotent: the same call can simply be sent again. With an
/// `Idempotency-Key` the first answer is stored and replayed as for any POST — unless a row's
/// answer was not final (409 `order_not_posted`, 503, 500): then nothing is stored, and a retry
/// with the key runs again.
#[utoipa::path(
    tag = "orders", operation_id = "post_refunds_bulk", request_body = BulkRefundsInput,
    security(("bearer" = ["orders:write"])),
    responses(
        (status = 200, description = "Every row's answer, in input order", body = BulkRefundsAnswer),
        crate::error::BulkRowsRefused,
        crate::error::BulkRateLimited,
    )
)]
#[post("/v1/refunds/bulk")]
async fn post_refunds_bulk(
    auth: Auth<OrdersWrite>, state: web::Data<AppState>, body: crate::http::Json<BulkRefundsInput>,
) -> ApiResult<HttpResponse> {
    let poster = Poster::new(&auth, &state);
    let check = |row| from_object::<ChannelRefundInput>(row)?.validate(&auth);
    let post = move |conn: &mut PgConnection, (order, new): (ChannelOrder, NewRefund)| {
        let id = order.find(conn)?;
        poster.refund(conn, id, new)
    };
    post_rows::<_, _, BulkRefundsAnswer>(&state, &auth, "refunds", body.into_inner().refunds, check, post).await
}
