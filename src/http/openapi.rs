//! The OpenAPI document: collected from the handlers, then given the conventions every operation shares.

use serde_json::{json, Value};
use utoipa::OpenApi;

use super::error::{FieldError, Problem};

/// Fixed so the committed document changes only when the API does.
pub const API_VERSION: &str = "1.0.0";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "retail-crm",
        version = "1.0.0",
        description = "Headless retail CRM: one profile per customer across channels, memberships and points, \
                       coupons, campaigns, leads and service tickets. Errors are RFC 9457 problem+json with a stable \
                       `code`; lists use cursor pagination; POSTs accept `Idempotency-Key`; money is a decimal string."
    ),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "auth", description = "Tokens and API clients"),
        (name = "stores", description = "Stores and channels"),
        (name = "staff", description = "Store clerks, service agents and managers"),
        (name = "customers", description = "One profile per customer across channels"),
        (name = "events", description = "The event feed (transactional outbox)"),
        (name = "audit", description = "Append-only audit log"),
    )
)]
pub struct ApiDoc;

fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

/// Adds what every operation shares: the bearer scheme, the problem responses a caller can always meet,
/// and the `Idempotency-Key` header on authenticated POSTs.
pub fn finalize(doc: utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    doc["info"]["version"] = json!(API_VERSION);
    doc["components"]["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "A token from POST /v1/auth/token; each operation lists the scope it needs."}
    });
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(ops) = item.as_object_mut() else { continue };
            for (method, op) in ops.iter_mut() {
                decorate_operation(path, method, op);
            }
        }
    }
    doc
}

fn decorate_operation(path: &str, method: &str, op: &mut Value) {
    let secured = op.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
    let has_body = op.get("requestBody").is_some();
    let has_params = path.contains('{') || op.get("parameters").is_some();
    let mut defaults: Vec<(&str, &str)> = vec![("503", "The database is busy; retry after `Retry-After` seconds")];
    if secured {
        defaults.push(("401", "Missing, invalid, expired or revoked token"));
        defaults.push(("403", "The token lacks the scope this operation needs"));
    }
    if has_body || has_params || secured {
        defaults.push(("400", "Malformed request: bad JSON, unknown field, bad parameter"));
        defaults.push(("422", "Well-formed but invalid request (see `errors`)"));
    }
    if has_body {
        defaults.push(("413", "Request body over the size limit"));
        defaults.push(("415", "Request body is not application/json"));
    }
    if path.contains('{') {
        defaults.push(("404", "No such resource"));
    }
    if method == "post" && secured {
        defaults.push(("409", "A request with the same Idempotency-Key is still in progress, or a conflict"));
        let params = op.as_object_mut().map(|o| o.entry("parameters").or_insert_with(|| json!([])));
        if let Some(Value::Array(params)) = params {
            params.push(json!({
                "name": "Idempotency-Key", "in": "header", "required": false,
                "description": "Makes the request safe to retry: the first response is replayed for 24 h.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                "example": "till-7-sale-000123"
            }));
        }
    }
    if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
        for (status, description) in defaults {
            responses.entry(status).or_insert_with(|| problem_response(description));
        }
    }
}
