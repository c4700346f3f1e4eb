//! `Idempotency-Key` on POST: the first response is stored for 24 h per (caller, key) and replayed.
//! The answer of a request that changed something commits in the transaction of the change
//! (`KeyClaim`), so no crash leaves a change without its answer, and a retry never does it twice.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse, ResponseError};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::db::{Carrier, PooledConn, CARRIER};
use crate::error::{ApiError, ApiResult, NotFinal};
use crate::schema::idempotency_keys as ik;
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
pub const RETENTION_HOURS: i64 = 24;
/// Top-level members of a JSON response that the stored copy drops (a secret is shown once):
/// a handler puts this in the response's extensions.
pub struct RedactOnReplay(pub &'static [&'static str]);

/// Response headers worth replaying.
const KEPT_HEADERS: &[&str] = &["content-type", "location", "etag"];

/// A stored answer.
struct Stored {
    status: u16,
    headers: Map<String, Value>,
    body: Vec<u8>,
}

/// A request's hold on its key (SPEC §2, §16). The key is taken inside the request's first
/// transaction — a transaction-level advisory lock, so a holder that dies frees it at once — and
/// that transaction stays open until the answer is known: the answer is stored in it and both
/// commit together, or neither does. A crash between the effect and its answer cannot happen.
struct KeyClaim {
    principal: String,
    key: String,
    hash: String,
    now: DateTime<Utc>,
    taken: AtomicBool,
    parked: Mutex<Option<PooledConn>>,
    replay: Mutex<Option<Stored>>,
    after_commit: Mutex<Vec<crate::db::Deferred>>,
}

impl Carrier for KeyClaim {
    fn claim(&self) -> bool {
        !self.taken.swap(true, Ordering::SeqCst)
    }

    fn enter(&self, conn: &mut PgConnection) -> ApiResult<()> {
        if !take_key_lock(conn, &self.principal, &self.key)? {
            return Err(in_progress());
        }
        // Another request with this key may have finished since the middleware looked.
        match lookup(conn, &self.principal, &self.key, &self.hash, self.now)? {
            Found::Nothing => Ok(()),
            Found::Reused => Err(reused()),
            Found::Answer(stored) => {
                if let Ok(mut replay) = self.replay.lock() {
                    *replay = Some(stored);
                }
                Err(in_progress())
            }
        }
    }

    fn park(&self, open: PooledConn) {
        if let Ok(mut parked) = self.parked.lock() {
            *parked = Some(open);
        }
    }

    fn defer(&self, then: crate::db::Deferred) -> Option<crate::db::Deferred> {
        let open = self.parked.lock().is_ok_and(|p| p.is_some());
        match self.after_commit.lock() {
            Ok(mut waiting) if open => {
                waiting.push(then);
                None
            }
            _ => Some(then),
        }
    }
}

impl KeyClaim {
    fn take_parked(&self) -> Option<PooledConn> {
        self.parked.lock().ok().and_then(|mut p| p.take())
    }

    fn take_replay(&self) -> Option<Stored> {
        self.replay.lock().ok().and_then(|mut r| r.take())
    }

    /// What waited for the commit (`db::after_commit`), to run now that it happened.
    fn run_after_commit(&self) {
        let waiting = self.after_commit.lock().map(|mut w| std::mem::take(&mut *w)).unwrap_or_default();
        for then in waiting {
            then();
        }
    }
}

fn in_progress() -> ApiError {
    ApiError::retry_later(
        "idempotency_request_in_progress",
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
}

fn reused() -> ApiError {
    ApiError::unprocessable("idempotency_key_reused", "this Idempotency-Key was used with a different request")
}

/// The caller's key, held by this transaction until it ends (a dead holder's connection ends it).
fn take_key_lock(conn: &mut PgConnection, principal: &str, key: &str) -> ApiResult<bool> {
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        locked: bool,
    }
    let locked: Locked =
        diesel::sql_query("SELECT pg_try_advisory_xact_lock(hashtextextended($1 || E'\\n' || $2, 22)) AS locked")
            .bind::<diesel::sql_types::Text, _>(principal)
            .bind::<diesel::sql_types::Text, _>(key)
            .get_result(conn)?;
    Ok(locked.locked)
}

enum Found {
    /// No answer within the retention (none stored, an expired one, or a legacy in-flight mark).
    Nothing,
    /// The key answered another request.
    Reused,
    Answer(Stored),
}

type StoredRow = (String, DateTime<Utc>, Option<i16>, Option<Value>, Option<Vec<u8>>);

fn lookup(conn: &mut PgConnection, principal: &str, key: &str, hash: &str, now: DateTime<Utc>) -> ApiResult<Found> {
    let row: Option<StoredRow> = ik::table
        .find((principal, key))
        .select((ik::request_hash, ik::created_at, ik::status, ik::response_headers, ik::response_body))
        .first(conn)
        .optional()?;
    let Some((stored_hash, created_at, Some(status), headers, body)) = row else { return Ok(Found::Nothing) };
    if created_at < now - Duration::hours(RETENTION_HOURS) {
        return Ok(Found::Nothing);
    }
    if stored_hash != hash {
        return Ok(Found::Reused);
    }
    let headers = match headers {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    Ok(Found::Answer(Stored { status: status as u16, headers, body: body.unwrap_or_default() }))
}

pub async fn idempotency(
    mut req: ServiceRequest, next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.method() != Method::POST || !req.headers().contains_key(HEADER) {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    }
    let key = req.headers().get(HEADER).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if key.is_empty() || key.len() > 255 {
        return Ok(error_response(
            req,
            ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key must be 1-255 visible characters"),
        ));
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    // A replay is served only to a caller the handler would serve: the token is checked like any
    // request's (revoked or expired: the handler's 401). The handler reuses this decision.
    let Ok(principal) = super::auth::authenticate(req.request()).map(|p| p.sub) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };

    let body = match req.extract::<web::Bytes>().await {
        Ok(body) => body,
        Err(_) => {
            return Ok(error_response(req, ApiError::PayloadTooLarge { limit: state.config.body_limit }));
        }
    };
    let hash = request_hash(req.method().as_str(), req.path(), req.query_string(), &body);
    req.set_payload(actix_http::Payload::from(body));

    let now = state.clock.now();
    let found = {
        let (principal, key, hash) = (principal.clone(), key.clone(), hash.clone());
        crate::db::run(&state.pool, move |conn| lookup(conn, &principal, &key, &hash, now)).await
    };
    match found {
        Err(err) => return Ok(error_response(req, err)),
        Ok(Found::Reused) => return Ok(error_response(req, reused())),
        Ok(Found::Answer(stored)) => return Ok(replay(req.into_parts().0, stored)),
        Ok(Found::Nothing) => {}
    }
    let claim = Arc::new(KeyClaim {
        principal,
        key,
        hash,
        now,
        taken: AtomicBool::new(false),
        parked: Mutex::new(None),
        replay: Mutex::new(None),
        after_commit: Mutex::new(Vec::new()),
    });
    let carrier: Arc<dyn Carrier> = claim.clone();
    let res = CARRIER.scope(carrier, next.call(req)).await;
    let parked = claim.take_parked();
    let res = match res {
        Ok(res) => res,
        Err(e) => {
            if let Some(open) = parked {
                let _ = crate::db::finish_parked(open, false, |_| Ok(())).await;
            }
            return Err(e);
        }
    };
    let (http_req, http_res) = res.into_parts();
    if let Some(stored) = claim.take_replay() {
        return Ok(replay(http_req, stored));
    }
    let status = http_res.status();
    let kept = kept_headers(&http_res);
    let redact = http_res.extensions().get::<RedactOnReplay>().map(|r| r.0);
    let final_answer = should_store(status) && http_res.extensions().get::<NotFinal>().is_none();
    let (head, body) = http_res.into_parts();
    let bytes =
        actix_web::body::to_bytes(body).await.map_err(|_| ApiError::internal("response body could not be buffered"))?;
    let answer = Stored {
        status: status.as_u16(),
        headers: kept,
        body: redact.map_or_else(|| bytes.to_vec(), |fields| without_members(&bytes, fields)),
    };
    let (principal, key, hash) = (claim.principal.clone(), claim.key.clone(), claim.hash.clone());
    match parked {
        // The effect is in the open transaction: it commits with its answer, or — when the answer
        // is an error or not final — not at all.
        Some(open) => {
            let keep = final_answer && status.is_success();
            let store = move |conn: &mut PgConnection| store_answer(conn, &principal, &key, &hash, &answer, now);
            if let Err(e) = crate::db::finish_parked(open, keep, store).await {
                log::warn!("the idempotent answer and its effect did not commit: {e}");
                let unavailable = ApiError::Unavailable { retry_after_seconds: 1 };
                return Ok(ServiceResponse::new(http_req, unavailable.error_response()));
            }
            if keep {
                claim.run_after_commit();
            }
        }
        // Nothing was written in a carried transaction (a validation error, a read): the answer
        // is stored on its own, unless a concurrent request stored one first.
        None if final_answer => {
            let outcome =
                crate::db::run(&state.pool, move |conn| store_answer(conn, &principal, &key, &hash, &answer, now))
                    .await;
            if let Err(e) = outcome {
                log::warn!("idempotency record not stored: {e}");
            }
        }
        None => {}
    }
    Ok(ServiceResponse::new(http_req, head.set_body(bytes).map_into_boxed_body()))
}

fn replay(http_req: actix_web::HttpRequest, stored: Stored) -> ServiceResponse<BoxBody> {
    let mut builder = HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK));
    for (name, value) in &stored.headers {
        if let Some(value) = value.as_str() {
            builder.insert_header((name.as_str(), value));
        }
    }
    builder.insert_header((REPLAYED_HEADER, "true"));
    ServiceResponse::new(http_req, builder.body(stored.body))
}

/// Stores an answer, over a record past its retention or a legacy in-flight mark, never over a
/// live answer (a concurrent request with the key answered first: its answer stands).
fn store_answer(
    conn: &mut PgConnection, principal: &str, key: &str, hash: &str, answer: &Stored, now: DateTime<Utc>,
) -> ApiResult<()> {
    diesel::sql_query(
        "INSERT INTO idempotency_keys
             (principal, key, request_hash, created_at, status, completed_at, response_headers, response_body)
         VALUES ($1, $2, $3, $4, $5, $4, $6, $7)
         ON CONFLICT (principal, key) DO UPDATE
             SET request_hash = EXCLUDED.request_hash, created_at = EXCLUDED.created_at, status = EXCLUDED.status,
                 completed_at = EXCLUDED.completed_at, response_headers = EXCLUDED.response_headers,
                 response_body = EXCLUDED.response_body
             WHERE idempotency_keys.status IS NULL OR idempotency_keys.created_at < $8",
    )
    .bind::<diesel::sql_types::Text, _>(principal)
    .bind::<diesel::sql_types::Text, _>(key)
    .bind::<diesel::sql_types::Text, _>(hash)
    .bind::<diesel::sql_types::Timestamptz, _>(now)
    .bind::<diesel::sql_types::SmallInt, _>(answer.status as i16)
    .bind::<diesel::sql_types::Jsonb, _>(Value::Object(answer.headers.clone()))
    .bind::<diesel::sql_types::Binary, _>(&answer.body)
    .bind::<diesel::sql_types::Timestamptz, _>(now - Duration::hours(RETENTION_HOURS))
    .execute(conn)?;
    Ok(())
}

/// Server failures and "come back later" answers are not final: the caller must be able to retry.
/// (The in-flight 409 is answered before the handler runs, so it never reaches here.)
fn should_store(status: StatusCode) -> bool {
    !(status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS)
}

fn without_members(body: &[u8], fields: &[&str]) -> Vec<u8> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut members)) => {
            for field in fields {
                members.remove(*field);
            }
            serde_json::to_vec(&members).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

fn request_hash(method: &str, path: &str, query: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes(), query.as_bytes(), body] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn kept_headers(res: &HttpResponse<impl MessageBody>) -> Map<String, Value> {
    KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = res.headers().get(*name)?.to_str().ok()?;
            Some((name.to_string(), Value::String(value.to_string())))
        })
        .collect()
}

fn error_response(req: ServiceRequest, err: ApiError) -> ServiceResponse<BoxBody> {
    let (http_req, _) = req.into_parts();
    ServiceResponse::new(http_req, err.error_response())
}

/// Deletes records past their 24 h retention; run by the housekeeping job.
pub fn purge_expired(conn: &mut PgConnection, now: DateTime<Utc>) -> ApiResult<usize> {
    Ok(diesel::delete(ik::table.filter(ik::created_at.lt(now - Duration::hours(RETENTION_HOURS)))).execute(conn)?)
}

/// Erasure (SPEC §5): drops every stored response that mentions one of `needles` (the person's ids
/// and contact values), in its body or its headers (`Location`), so no replay hands the person's
/// data out again. A caller retrying such a request later runs it afresh, as after the 24 h.
pub fn forget_mentions(conn: &mut PgConnection, needles: &[String]) -> ApiResult<i64> {
    if needles.is_empty() {
        return Ok(0);
    }
    let forgotten = diesel::sql_query(
        "DELETE FROM idempotency_keys k
         WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS n(needle)
                       WHERE position(convert_to(n.needle, 'UTF8') IN k.response_body) > 0
                          OR strpos(k.response_headers::text, n.needle) > 0)",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(needles)
    .execute(conn)?;
    Ok(forgotten as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_distinguishes_body_path_and_query() {
        let a = request_hash("POST", "/v1/customers", "", b"{\"a\":1}");
        assert_eq!(a, request_hash("POST", "/v1/customers", "", b"{\"a\":1}"));
        assert_ne!(a, request_hash("POST", "/v1/customers", "", b"{\"a\":2}"));
        assert_ne!(a, request_hash("POST", "/v1/customer", "s", b"{\"a\":1}"));
    }

    #[test]
    fn only_final_answers_are_stored() {
        assert!(should_store(StatusCode::CREATED));
        assert!(should_store(StatusCode::UNPROCESSABLE_ENTITY));
        assert!(should_store(StatusCode::CONFLICT), "a domain conflict (phone_taken) is a final answer");
        assert!(!should_store(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!should_store(StatusCode::SERVICE_UNAVAILABLE));
    }
}
