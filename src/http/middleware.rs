//! Request id, access log, request metrics and the stop's drain: one wrapper around every request.
//! The request is served inside a `request` span that carries its id, so every line logged while
//! serving it (in the handler, and in the database work it hands to the blocking pool) names the request.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use tracing::Instrument;

use crate::error::ApiError;
use crate::http::RequestId;
use crate::state::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

fn acceptable_request_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

pub async fn observe(
    req: ServiceRequest, next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_request_id(v))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().to_string();
    let state = req.app_data::<web::Data<AppState>>().cloned();

    let span = tracing::info_span!(crate::logging::REQUEST_SPAN, request_id = %request_id);
    let in_flight = state.as_ref().map(|s| s.drain.enter());
    let keyed = req.headers().contains_key(super::idempotency::HEADER);
    let mut res = match in_flight {
        Some(None) => req.error_response(ApiError::ShuttingDown).map_into_right_body(),
        _ => {
            // Entered while the inner services build their future too: some work starts right there.
            let res = span.in_scope(|| next.call(req)).instrument(span.clone()).await?;
            let delay = crate::lifecycle::answer_delay();
            if keyed && !delay.is_zero() {
                actix_web::rt::time::sleep(delay).await;
            }
            res.map_into_left_body()
        }
    };

    // The route pattern, never the raw path: paths and queries can carry phone numbers.
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_string());
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    if let Some(state) = &state {
        state.metrics.observe_request(&method, &route, status, elapsed.as_secs_f64());
    }
    let latency_ms = (elapsed.as_secs_f64() * 100_000.0).round() / 100.0;
    span.in_scope(|| tracing::info!(target: "access", %method, %route, status, latency_ms, "request"));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::acceptable_request_id;

    #[test]
    fn request_ids_are_bounded_and_plain() {
        assert!(acceptable_request_id("pos-17:till-3.0001"));
        assert!(!acceptable_request_id(""));
        assert!(!acceptable_request_id("has space"));
        assert!(!acceptable_request_id(&"x".repeat(129)));
    }
}
