//! `Idempotency-Key` on POST: the first response is stored for 24 h per (caller, key) and replayed.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse, ResponseError};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::error::{ApiError, ApiResult};
use crate::schema::idempotency_keys as ik;
use crate::AppState;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
pub const RETENTION_HOURS: i64 = 24;
/// An in-flight record older than this belongs to a request that died; a retry may take it over.
const ABANDONED_AFTER_SECONDS: i64 = 120;
/// Top-level members of a JSON response that the stored copy drops (a secret is shown once):
/// a handler puts this in the response's extensions.
pub struct RedactOnReplay(pub &'static [&'static str]);

/// Marks a response that is no final answer although its status may look like one (a 409 "retry
/// later", a bulk call with such rows): the key is released instead of stored, so a retry with
/// it runs afresh. Put in the response's extensions (`ApiError` does it for its own).
pub struct NotFinal;

/// Response headers worth replaying.
const KEPT_HEADERS: &[&str] = &["content-type", "location", "etag"];

enum Claim {
    Proceed,
    Replay { status: u16, headers: Map<String, Value>, body: Vec<u8> },
}

pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
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

    let claim = {
        let (principal, key, hash, now) = (principal.clone(), key.clone(), hash.clone(), state.clock.now());
        crate::db::run(&state.pool, move |conn| claim_key(conn, &principal, &key, &hash, now)).await
    };
    match claim {
        Err(err) => Ok(error_response(req, err)),
        Ok(Claim::Replay { status, headers, body }) => {
            let mut builder = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
            for (name, value) in &headers {
                if let Some(value) = value.as_str() {
                    builder.insert_header((name.as_str(), value));
                }
            }
            builder.insert_header((REPLAYED_HEADER, "true"));
            let (http_req, _) = req.into_parts();
            Ok(ServiceResponse::new(http_req, builder.body(body)))
        }
        Ok(Claim::Proceed) => {
            let res = next.call(req).await?;
            let status = res.status();
            let (http_req, http_res) = res.into_parts();
            let kept = kept_headers(&http_res);
            let redact = http_res.extensions().get::<RedactOnReplay>().map(|r| r.0);
            let final_answer = should_store(status) && http_res.extensions().get::<NotFinal>().is_none();
            let (head, body) = http_res.into_parts();
            let bytes = actix_web::body::to_bytes(body)
                .await
                .map_err(|_| ApiError::internal("response body could not be buffered"))?;
            let stored = (redact.map_or_else(|| bytes.to_vec(), |fields| without_members(&bytes, fields)), kept);
            let (pool, now) = (state.pool.clone(), state.clock.now());
            let outcome = crate::db::run(&pool, move |conn| {
                if final_answer {
                    complete_key(conn, &principal, &key, status.as_u16(), stored.1, &stored.0, now)
                } else {
                    release_key(conn, &principal, &key)
                }
            })
            .await;
            if let Err(e) = outcome {
                log::warn!("idempotency record not updated: {e}");
            }
            Ok(ServiceResponse::new(http_req, head.set_body(bytes).map_into_boxed_body()))
        }
    }
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

type StoredRow = (String, DateTime<Utc>, Option<i16>, Option<Value>, Option<Vec<u8>>);

fn claim_key(conn: &mut PgConnection, principal: &str, key: &str, hash: &str, now: DateTime<Utc>) -> ApiResult<Claim> {
    conn.transaction(|conn| {
        let inserted = diesel::insert_into(ik::table)
            .values((ik::principal.eq(principal), ik::key.eq(key), ik::request_hash.eq(hash), ik::created_at.eq(now)))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if inserted == 1 {
            return Ok(Claim::Proceed);
        }
        let (stored_hash, created_at, status, headers, body): StoredRow = ik::table
            .find((principal, key))
            .select((ik::request_hash, ik::created_at, ik::status, ik::response_headers, ik::response_body))
            .for_update()
            .first(conn)?;
        let expired = created_at < now - Duration::hours(RETENTION_HOURS);
        let abandoned = status.is_none() && created_at < now - Duration::seconds(ABANDONED_AFTER_SECONDS);
        if expired || abandoned {
            diesel::update(ik::table.find((principal, key)))
                .set((
                    ik::request_hash.eq(hash),
                    ik::created_at.eq(now),
                    ik::status.eq(None::<i16>),
                    ik::completed_at.eq(None::<DateTime<Utc>>),
                    ik::response_headers.eq(None::<Value>),
                    ik::response_body.eq(None::<Vec<u8>>),
                ))
                .execute(conn)?;
            return Ok(Claim::Proceed);
        }
        if stored_hash != hash {
            return Err(ApiError::unprocessable(
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request",
            ));
        }
        match status {
            None => Err(ApiError::conflict(
                "idempotency_request_in_progress",
                "a request with this Idempotency-Key is still being processed; retry shortly",
            )),
            Some(status) => Ok(Claim::Replay {
                status: status as u16,
                headers: match headers {
                    Some(Value::Object(map)) => map,
                    _ => Map::new(),
                },
                body: body.unwrap_or_default(),
            }),
        }
    })
}

fn complete_key(
    conn: &mut PgConnection,
    principal: &str,
    key: &str,
    status: u16,
    headers: Map<String, Value>,
    body: &[u8],
    now: DateTime<Utc>,
) -> ApiResult<()> {
    diesel::update(ik::table.find((principal, key)))
        .set((
            ik::status.eq(Some(status as i16)),
            ik::completed_at.eq(Some(now)),
            ik::response_headers.eq(Some(Value::Object(headers))),
            ik::response_body.eq(Some(body.to_vec())),
        ))
        .execute(conn)?;
    Ok(())
}

fn release_key(conn: &mut PgConnection, principal: &str, key: &str) -> ApiResult<()> {
    diesel::delete(ik::table.find((principal, key))).execute(conn)?;
    Ok(())
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
