//! One error type for the whole API, rendered as RFC 9457 problem+json with a stable `code`. A
//! foundation module below `db` and `http`: both map their failures into it.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

// Problem responses several operations name.
crate::problem_response!(pub AdminChainWideOnly = 403, "`forbidden` without `admin`; `store_bound_principal` for a store-bound principal");
crate::problem_response!(pub BulkRateLimited = 429, "`too_many_requests`: every row counts against the client's rate limit, and at most 2 bulk calls per client run at once; wait `Retry-After`");
crate::problem_response!(pub BulkRowsRefused = 422, "`validation_failed` (no rows), `too_many_rows` (more than 500, or more than the client's rate limit admits at once, with `max_rows`)");

pub type ApiResult<T> = Result<T, ApiError>;

/// Marks a response that is no final answer although its status may look like one (a 409 "retry
/// later", a bulk call with such rows): the idempotency layer releases the key instead of storing
/// it, so a retry with it runs afresh. Put in the response's extensions (`ApiError` does it for its own).
pub struct NotFinal;

/// One offending field of a request, as a cashier UI or an integrator would show it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({"field": "phone", "message": "not a valid mobile number"}))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

/// RFC 9457 problem details.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:retail-crm:problem:validation_failed",
    "title": "Unprocessable Entity",
    "status": 422,
    "detail": "the request has invalid fields",
    "code": "validation_failed",
    "errors": [{"field": "phone", "message": "not a valid mobile number"}]
}))]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code to switch on.
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra members that some codes carry (e.g. `owner_customer_id` for `identity_taken`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String, errors: Vec<FieldError> },
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// A chain-wide-only act asked by a principal bound to one store (SPEC §3.1).
    #[error("{0}")]
    StoreBound(String),
    #[error("{detail}")]
    NotFound { code: &'static str, detail: String },
    #[error("method not allowed")]
    MethodNotAllowed { allow: Vec<String> },
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String, extra: Map<String, Value> },
    /// 409 for now, not for good: what the request needs has not happened yet (a refund whose order
    /// has not arrived). Never stored as an `Idempotency-Key`'s answer, so a retry runs afresh.
    #[error("{detail}")]
    RetryLater { code: &'static str, detail: String },
    #[error("the resource has changed since it was read (version {current})")]
    PreconditionFailed { current: i32 },
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String, extra: Map<String, Value> },
    #[error("the service is busy, retry shortly")]
    Unavailable { retry_after_seconds: u32 },
    /// The database is down or restarting (SPEC §16): the service heals it; retry shortly.
    #[error("the database is unavailable, retry shortly")]
    DatabaseUnavailable,
    /// The service is stopping (SIGTERM): another instance, or this one restarted, answers.
    #[error("the service is stopping, retry shortly")]
    ShuttingDown,
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after_seconds: u64 },
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::BadRequest { code, detail: detail.into(), errors: vec![] }
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::NotFound { code, detail: detail.into() }
    }
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Conflict { code, detail: detail.into(), extra: Map::new() }
    }
    pub fn retry_later(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::RetryLater { code, detail: detail.into() }
    }
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Unprocessable { code, detail: detail.into(), extra: Map::new() }
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::Forbidden(detail.into())
    }
    pub fn store_bound(detail: impl Into<String>) -> Self {
        ApiError::StoreBound(detail.into())
    }
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        ApiError::Internal(detail.to_string())
    }
    /// Adds an extra member to the problem body (conflict and unprocessable errors only).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let ApiError::Conflict { extra, .. } | ApiError::Unprocessable { extra, .. } = &mut self {
            extra.insert(key.to_string(), value.into());
        }
        self
    }

    pub fn code(&self) -> &str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::RetryLater { code, .. }
            | ApiError::Unprocessable { code, .. } => code,
            ApiError::Validation(_) => "validation_failed",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::StoreBound(_) => "store_bound_principal",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PreconditionFailed { .. } => "precondition_failed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unavailable { .. } => "service_unavailable",
            ApiError::DatabaseUnavailable => "database_unavailable",
            ApiError::ShuttingDown => "shutting_down",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// Whether the same request could be answered otherwise later without anything changing on the
    /// caller's side: a busy service, a rate limit, a fault of ours, an order not arrived yet. Such
    /// answers are not final, so an `Idempotency-Key` never pins them.
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            ApiError::RetryLater { .. }
                | ApiError::Unavailable { .. }
                | ApiError::DatabaseUnavailable
                | ApiError::ShuttingDown
                | ApiError::TooManyRequests { .. }
                | ApiError::Internal(_)
        )
    }

    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let (errors, extra) = match self {
            ApiError::Validation(errors) | ApiError::BadRequest { errors, .. } => (errors.clone(), Map::new()),
            ApiError::Conflict { extra, .. } | ApiError::Unprocessable { extra, .. } => (vec![], extra.clone()),
            ApiError::PreconditionFailed { current } => {
                let mut m = Map::new();
                m.insert("current_version".into(), (*current).into());
                (vec![], m)
            }
            _ => (vec![], Map::new()),
        };
        let detail = match self {
            // Never leak internals: the cause is logged, not sent.
            ApiError::Internal(_) => "an unexpected error occurred; it has been logged".to_string(),
            other => other.to_string(),
        };
        Problem {
            type_uri: format!("urn:retail-crm:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
            code: self.code().to_string(),
            errors,
            extra,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) | ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::StoreBound(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } | ApiError::RetryLater { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable { .. } | ApiError::DatabaseUnavailable | ApiError::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            log::error!("internal error: {cause}");
        }
        let mut builder = HttpResponse::build(self.status_code());
        builder.content_type("application/problem+json");
        match self {
            ApiError::Unauthorized(_) => {
                builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::MethodNotAllowed { allow } => {
                builder.insert_header((header::ALLOW, allow.join(", ")));
            }
            ApiError::Unavailable { retry_after_seconds } => {
                builder.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
            }
            ApiError::DatabaseUnavailable => {
                builder.insert_header((header::RETRY_AFTER, DATABASE_RETRY_AFTER_SECONDS.to_string()));
            }
            ApiError::ShuttingDown => {
                builder.insert_header((header::RETRY_AFTER, "1"));
                // A keep-alive connection would bring the client's next request back here.
                builder.insert_header((header::CONNECTION, "close"));
            }
            ApiError::TooManyRequests { retry_after_seconds, .. } => {
                builder.insert_header((header::RETRY_AFTER, retry_after_seconds.max(&1).to_string()));
            }
            _ => {}
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = builder.body(body);
        if !self.is_final() {
            response.extensions_mut().insert(NotFinal);
        }
        response
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::NotFound => ApiError::not_found("not_found", "the resource does not exist"),
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                ApiError::Unavailable { retry_after_seconds: 1 }
            }
            // PostgreSQL chose this transaction to end a lock cycle: the same request succeeds when
            // retried (the lock order that should make cycles impossible is in the domains' stores).
            Error::DatabaseError(_, info) if info.message().contains("deadlock detected") => {
                log::warn!("deadlock: {}", info.details().unwrap_or_default());
                ApiError::Unavailable { retry_after_seconds: 1 }
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _)
            | Error::BrokenTransactionManager => ApiError::DatabaseUnavailable,
            Error::DatabaseError(_, info) if database_gone(info.message()) => ApiError::DatabaseUnavailable,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => ApiError::conflict(
                "already_exists",
                format!("a record with the same {} already exists", info.constraint_name().unwrap_or("key")),
            ),
            // PostgreSQL text cannot hold U+0000: the caller sent it, so it is their 400, not our 500.
            Error::DatabaseError(_, info)
                if info.message().contains("invalid byte sequence")
                    || info.message().contains("unsupported Unicode escape sequence") =>
            {
                ApiError::bad_request("invalid_text", "text must not contain the NUL character (U+0000)")
            }
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => ApiError::unprocessable(
                "reference_not_found",
                format!("a referenced record does not exist ({})", info.constraint_name().unwrap_or("reference")),
            ),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Seconds a client is asked to wait while the database restarts.
pub const DATABASE_RETRY_AFTER_SECONDS: u32 = 2;

/// Whether a database message says the server went away or is not taking work yet (its crash,
/// a restart, a shutdown), rather than anything about the request.
pub fn database_gone(message: &str) -> bool {
    const GONE: &[&str] = &[
        "terminating connection",
        "server closed the connection",
        "no connection to the server",
        "the database system is",
        "could not connect to server",
        "connection to server",
        "Connection refused",
        "could not receive data from server",
        "could not send data to server",
    ];
    GONE.iter().any(|g| message.contains(g))
}

impl From<r2d2_error::PoolTimeout> for ApiError {
    fn from(_: r2d2_error::PoolTimeout) -> Self {
        ApiError::Unavailable { retry_after_seconds: 1 }
    }
}

/// Marker for a pool checkout that timed out; kept separate so `?` maps it to 503.
pub mod r2d2_error {
    #[derive(Debug)]
    pub struct PoolTimeout;
}

/// Collects field errors so validation reports every bad field at once.
#[derive(Default)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }
    pub fn check(&mut self, ok: bool, field: &str, message: &str) {
        if !ok {
            self.add(field, message);
        }
    }
    /// Text as the schema states it: at most `max` characters as sent, and not only white space.
    pub fn text(&mut self, field: &str, text: &str, max: usize) {
        self.check(
            !text.trim().is_empty() && text.chars().count() <= max,
            field,
            &format!("must be 1-{max} characters"),
        );
    }
    /// A vocabulary's word, when given: the word, or a violation naming the field (and `None`).
    pub fn word<W: crate::vocabulary::Word>(&mut self, field: &str, value: Option<&str>) -> Option<W> {
        let text = value?;
        let word = W::parse(text);
        self.check(word.is_some(), field, &format!("must be one of {}", W::NAMES.join(", ")));
        word
    }
    /// A required word of a vocabulary; `None`, with `message` on `field`, when `text` is not one.
    pub fn known<W: crate::vocabulary::Word>(&mut self, field: &str, text: &str, message: &str) -> Option<W> {
        let word = W::parse(text);
        self.check(word.is_some(), field, message);
        word
    }
    /// A value, when given, from a closed list.
    pub fn one_of(&mut self, field: &str, value: Option<&str>, allowed: &[&str]) {
        if let Some(x) = value {
            self.check(allowed.contains(&x), field, &format!("must be one of {}", allowed.join(", ")));
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn into_result(self) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

/// Declares a problem response that several operations share, for their `responses(...)`:
/// `problem_response!(pub CustomerNotFound = 404, "`customer_not_found`")`, then
/// `responses((status = 200, …), CustomerNotFound)`. The description says which `code`s it carries.
#[macro_export]
macro_rules! problem_response {
    ($(#[$meta:meta])* $vis:vis $name:ident = $status:literal, $description:literal) => {
        $(#[$meta])*
        #[derive(utoipa::IntoResponses)]
        #[response(status = $status, description = $description, content_type = "application/problem+json")]
        $vis struct $name(#[allow(dead_code)] $crate::error::Problem);
    };
}

problem_response!(
    /// An `If-Match` that no longer matches.
    pub PreconditionFailed = 412, "Changed since read (`precondition_failed`)"
);
problem_response!(pub ValidationFailed = 422, "`validation_failed`");
problem_response!(
    /// For what is the chain's, not a store's.
    pub ChainWideOnly = 403,
    "`forbidden` without the scope; `store_bound_principal`: only a chain-wide principal may do this (SPEC §3.1)"
);
problem_response!(
    pub OtherStoreForbidden = 403,
    "`forbidden` without the scope; `store_bound_principal`: a store-bound caller naming another store"
);
