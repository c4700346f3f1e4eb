//! The API's conventions, built once: auth and access, limits, pagination, idempotency, ETags,
//! request ids, generated credentials. Its errors are `crate::error`'s.

pub mod auth;
pub mod idempotency;
pub mod json;
pub use json::Json;
pub mod middleware;
pub mod pagination;
pub mod patch;
pub mod secrets;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::{header, Method};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::error::{ApiError, FieldError};

/// The request's id: the caller's `X-Request-Id` when it is sane, otherwise a fresh UUID. Set by
/// `middleware::observe`, read by whoever logs about the request.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// JSON bodies: size-limited, `application/json` only, and every decoding failure as a problem.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .content_type_required(true)
        .content_type(|mime| mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
        .error_handler(|err, _req| json_error(err).into())
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { limit, .. } | JsonPayloadError::Overflow { limit } => {
            ApiError::PayloadTooLarge { limit }
        }
        JsonPayloadError::ContentType => {
            ApiError::UnsupportedMediaType("the request body must be application/json".into())
        }
        JsonPayloadError::Deserialize(e) => body_error(&e.to_string()),
        other => ApiError::bad_request("invalid_body", other.to_string()),
    }
}

/// Turns serde's message into a problem naming the field when serde names one.
pub fn body_error(message: &str) -> ApiError {
    let field = ["unknown field `", "missing field `", "duplicate field `"].iter().find_map(|marker| {
        let start = message.find(marker)? + marker.len();
        let end = message[start..].find('`')?;
        Some(message[start..start + end].to_string())
    });
    let code = if message.starts_with("unknown field") { "unknown_field" } else { "invalid_body" };
    let errors = field.map(|f| vec![FieldError::new(f, message)]).unwrap_or_default();
    ApiError::BadRequest { code, detail: format!("the request body is not valid: {message}"), errors }
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, req| {
        // `PATCH /v1/customers/lookup` reaches the `{id}` route, whose id then fails to parse; but the
        // path is a literal route of its own that does not take this method: that is 405, not 400.
        if let Some(not_allowed) = method_not_allowed(req) {
            return not_allowed.into();
        }
        ApiError::bad_request("invalid_path_parameter", format!("a path parameter is not valid: {err}")).into()
    })
}

/// 405 with the allowed methods when the documented route that best fits the path lacks this method.
fn method_not_allowed(req: &HttpRequest) -> Option<ApiError> {
    let routes = req.app_data::<web::Data<RouteTable>>()?;
    let mut methods = routes.allowed(req.path())?;
    if methods.is_empty() || methods.contains(req.method()) {
        return None;
    }
    methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    methods.dedup();
    Some(ApiError::MethodNotAllowed { allow: methods.iter().map(|m| m.to_string()).collect() })
}

/// For integer fields: JSON Schema counts `307.0` as an integer, so it is accepted as 307.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    if let Some(n) = number.as_i64() {
        return i32::try_from(n).map(Some).map_err(|_| D::Error::custom(format!("{n} is out of range")));
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= f64::from(i32::MIN) && f <= f64::from(i32::MAX) => Ok(Some(f as i32)),
        _ => Err(D::Error::custom(format!("invalid type: {number}, expected a whole number"))),
    }
}

/// Like `whole_number`, for 64-bit counts (points).
pub fn whole_number_i64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    if let Some(n) = number.as_i64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        _ => Err(D::Error::custom(format!("invalid type: {number}, expected a whole number"))),
    }
}

/// A nested object, never its fields as a list: serde's derive would also take `[a, b]` for a
/// struct, which the document does not allow. Null or absent is `None`.
pub fn object_only<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error;
    match Option::<serde_json::Value>::deserialize(d)? {
        None => Ok(None),
        Some(v @ serde_json::Value::Object(_)) => serde_json::from_value(v).map(Some).map_err(D::Error::custom),
        Some(other) => Err(D::Error::custom(format!("invalid type: {other}, expected an object"))),
    }
}

/// Like `object_only`, for a nested object that must be there.
pub fn object_required<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    object_only(d)?.ok_or_else(|| serde::de::Error::custom("invalid type: null, expected an object"))
}

/// `whole_number_i64` for a value already parsed (`3` and `3.0` alike); anything else is `None`.
pub fn whole_number_in(value: &serde_json::Value) -> Option<i64> {
    whole_number_i64(value.clone()).ok().flatten()
}

/// Trimmed text; blank counts as absent.
pub fn clean(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

/// A list of whole numbers (`[1, 2.0]`); null or absent is `None`.
pub fn whole_numbers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<i32>>, D::Error> {
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole_number_required")] i32);
    Ok(Option::<Vec<Whole>>::deserialize(d)?.map(|v| v.into_iter().map(|Whole(n)| n).collect()))
}

/// A required whole number (`3` or `3.0`, as JSON Schema's integer allows).
pub fn whole_number_required<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    whole_number(d)?.ok_or_else(|| serde::de::Error::custom("invalid type: null, expected a whole number"))
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _| query_problem(err).into())
}

fn query_problem(err: QueryPayloadError) -> ApiError {
    ApiError::bad_request("invalid_query_parameter", format!("a query parameter is not valid: {err}"))
}

/// Which methods each documented path accepts, to tell 405 from 404.
pub struct RouteTable(Vec<(Vec<String>, Vec<Method>)>);

impl RouteTable {
    pub fn from_openapi(doc: &serde_json::Value) -> RouteTable {
        let mut routes = Vec::new();
        if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
            for (path, item) in paths {
                let methods = item
                    .as_object()
                    .map(|ops| ops.keys().filter_map(|m| m.to_uppercase().parse::<Method>().ok()).collect())
                    .unwrap_or_default();
                routes.push((split(path), methods));
            }
        }
        RouteTable(routes)
    }

    /// Methods of the best-matching documented paths (most literal segments win, as in routing).
    fn allowed(&self, path: &str) -> Option<Vec<Method>> {
        let segments = split(path);
        let mut best: Option<(usize, Vec<Method>)> = None;
        for (pattern, methods) in &self.0 {
            let fits = pattern.len() == segments.len()
                && pattern.iter().zip(&segments).all(|(p, s)| p.starts_with('{') || p == s);
            if !fits {
                continue;
            }
            let literal = pattern.iter().filter(|p| !p.starts_with('{')).count();
            match &mut best {
                Some((score, found)) if *score == literal => found.extend(methods.iter().cloned()),
                Some((score, _)) if *score > literal => {}
                _ => best = Some((literal, methods.clone())),
            }
        }
        best.map(|(_, methods)| methods)
    }
}

fn split(path: &str) -> Vec<String> {
    path.trim_matches('/').split('/').map(str::to_string).collect()
}

/// Anything no route took: 405 with `Allow` when the path exists, else 404.
pub async fn fallback(req: HttpRequest, routes: web::Data<RouteTable>) -> Result<HttpResponse, ApiError> {
    match routes.allowed(req.path()) {
        Some(mut methods) if !methods.is_empty() => {
            methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            methods.dedup();
            Err(ApiError::MethodNotAllowed { allow: methods.iter().map(|m| m.to_string()).collect() })
        }
        _ => Err(ApiError::not_found("route_not_found", format!("no route for {}", req.path()))),
    }
}

/// Entity tag for a record's version.
/// A versioned record's response: its `ETag`, and for 201 the `Location` it was created at.
pub fn versioned(
    status: actix_web::http::StatusCode, version: i32, location: String, body: &impl serde::Serialize,
) -> actix_web::HttpResponse {
    let mut builder = actix_web::HttpResponse::build(status);
    builder.insert_header(etag(version));
    if status == actix_web::http::StatusCode::CREATED {
        builder.insert_header((header::LOCATION, location));
    }
    builder.json(body)
}

pub fn etag(version: i32) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

/// The version an `If-Match` header demands, if any (`None`: no header, or `*`). A tag that is not
/// one of ours matches nothing. An extractor, so an audited PATCH takes it as an argument.
pub struct IfMatch(pub Option<i32>);

impl IfMatch {
    fn of(req: &HttpRequest) -> IfMatch {
        let Some(value) = req.headers().get(header::IF_MATCH) else { return IfMatch(None) };
        let raw = value.to_str().unwrap_or("\"-1\"").trim();
        if raw == "*" {
            return IfMatch(None);
        }
        let tag = raw.trim_start_matches("W/").trim_matches('"');
        IfMatch(Some(tag.parse().unwrap_or(-1)))
    }
}

/// Documents itself: `params(("id" = …), IfMatch)` in an operation's `utoipa::path`.
impl utoipa::IntoParams for IfMatch {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::{path, schema, Required};
        let string = schema::ObjectBuilder::new().schema_type(schema::Type::String);
        vec![path::ParameterBuilder::new()
            .name("If-Match")
            .parameter_in(path::ParameterIn::Header)
            .description(Some("ETag from a previous read"))
            .required(Required::False)
            .schema(Some(string))
            .build()]
    }
}

impl actix_web::FromRequest for IfMatch {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<IfMatch, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Ok(IfMatch::of(req)))
    }
}

/// 412 unless the record is still at the version the caller read.
pub fn check_version(expected: Option<i32>, current: i32) -> Result<(), ApiError> {
    match expected {
        Some(v) if v != current => Err(ApiError::PreconditionFailed { current }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_reads_our_etags_and_matches_nothing_else() {
        let with = |value: &str| {
            IfMatch::of(
                &actix_web::test::TestRequest::default().insert_header((header::IF_MATCH, value)).to_http_request(),
            )
            .0
        };
        assert_eq!(IfMatch::of(&actix_web::test::TestRequest::default().to_http_request()).0, None);
        assert_eq!(with("\"7\""), Some(7));
        assert_eq!(with("W/\"7\""), Some(7));
        assert_eq!(with("*"), None);
        assert_eq!(with("\"someone-else's\""), Some(-1), "a tag not ours matches no version");
    }

    #[test]
    fn route_table_tells_405_from_404() {
        let doc = serde_json::json!({"paths": {
            "/v1/customers/{id}": {"get": {}, "patch": {}, "delete": {}},
            "/v1/customers": {"get": {}, "post": {}}
        }});
        let t = RouteTable::from_openapi(&doc);
        let allowed = t.allowed("/v1/customers/abc").unwrap_or_default();
        assert!(allowed.contains(&Method::PATCH) && !allowed.contains(&Method::POST));
        assert!(t.allowed("/v1/nothing").is_none());
    }

    #[test]
    fn serde_messages_name_the_field() {
        let err = body_error("unknown field `foo`, expected one of `name`, `phone` at line 1 column 7");
        assert_eq!(err.code(), "unknown_field");
        assert_eq!(err.problem().errors[0].field, "foo");
        assert_eq!(body_error("missing field `name`").problem().errors[0].field, "name");
    }

    #[test]
    fn version_check_is_412_on_mismatch_only() {
        assert!(check_version(None, 3).is_ok());
        assert!(check_version(Some(3), 3).is_ok());
        assert!(matches!(check_version(Some(2), 3), Err(ApiError::PreconditionFailed { current: 3 })));
    }
}

/// The longest report window (SPEC §3.1: `from`/`to` span at most 366 days).
pub const MAX_REPORT_DAYS: i64 = 366;
/// The window a report covers when the caller gives none.
pub const DEFAULT_REPORT_DAYS: i64 = 30;

/// A report's `[from, to)`: missing `to` is `now`, missing `from` is 30 days before `to`; `from`
/// must come before `to`, at most 366 days apart (422 naming `to`).
pub fn report_window(
    from: Option<chrono::DateTime<chrono::Utc>>, to: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>), ApiError> {
    let to = to.unwrap_or(now);
    let from = from.unwrap_or(to - chrono::Duration::days(DEFAULT_REPORT_DAYS));
    if from >= to {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    if to - from > chrono::Duration::days(MAX_REPORT_DAYS) {
        return Err(ApiError::invalid("to", format!("a report window spans at most {MAX_REPORT_DAYS} days")));
    }
    Ok((from, to))
}

/// A report's business days `from..=to`: missing `to` is today, missing `from` the 30 days up to
/// `to`; `from` no later than `to`, at most 366 days in all (422 naming `to`).
pub fn day_window(
    from: Option<chrono::NaiveDate>, to: Option<chrono::NaiveDate>, today: chrono::NaiveDate,
) -> Result<(chrono::NaiveDate, chrono::NaiveDate), ApiError> {
    let to = to.unwrap_or(today);
    let from = from.unwrap_or(to - chrono::Duration::days(DEFAULT_REPORT_DAYS - 1));
    if from > to {
        return Err(ApiError::invalid("to", "must not be before from"));
    }
    if (to - from).num_days() + 1 > MAX_REPORT_DAYS {
        return Err(ApiError::invalid("to", format!("a report window spans at most {MAX_REPORT_DAYS} days")));
    }
    Ok((from, to))
}

#[cfg(test)]
mod report_window_tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;

    #[test]
    fn day_windows_default_to_30_days_and_span_at_most_366() {
        let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let today = day(2026, 11, 30);
        assert_eq!(day_window(None, None, today).unwrap(), (day(2026, 11, 1), today));
        assert!(day_window(Some(day(2025, 11, 30)), Some(today), today).is_ok());
        assert!(day_window(Some(day(2025, 11, 29)), Some(today), today).is_err());
        assert!(day_window(Some(today), Some(day(2026, 11, 29)), today).is_err());
        assert_eq!(day_window(Some(today), Some(today), today).unwrap(), (today, today));
    }

    #[test]
    fn windows_default_to_the_last_30_days_and_span_at_most_366() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).single().unwrap_or_default();
        assert_eq!(report_window(None, None, now).ok(), Some((now - Duration::days(30), now)));
        let to = now - Duration::days(5);
        assert_eq!(report_window(None, Some(to), now).ok(), Some((to - Duration::days(30), to)));
        let from = now - Duration::days(366);
        assert_eq!(report_window(Some(from), None, now).ok(), Some((from, now)));
        let too_long = report_window(Some(from - Duration::seconds(1)), None, now).expect_err("367 days");
        assert_eq!(too_long.code(), "validation_failed");
        assert!(report_window(Some(now), Some(now), now).is_err(), "empty window");
        assert!(report_window(Some(now), Some(now - Duration::days(1)), now).is_err(), "backwards");
    }
}
