//! The OpenAPI document: collected from the handlers, then given the conventions every operation shares.

use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use crate::error::{FieldError, Problem};

/// Fixed so the committed document changes only when the API does.
pub const API_VERSION: &str = "1.0.0";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "retail-crm",
        version = "1.0.0",
        description = "Headless retail CRM: one profile per customer across channels, memberships and points, \
                       coupons, campaigns, leads and service tickets. Errors are RFC 9457 problem+json with a stable \
                       `code`; lists use cursor pagination; POSTs accept `Idempotency-Key`; money is a decimal string. \
                       Text anywhere (body, query, path) must not contain U+0000: PostgreSQL cannot store it, and \
                       it is answered with 400 `invalid_text`."
    ),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "auth", description = "Tokens and API clients"),
        (name = "stores", description = "Stores and channels"),
        (name = "staff", description = "Store clerks, service agents and managers"),
        (name = "customers", description = "One profile per customer across channels"),
        (name = "memberships", description = "Tiers and memberships"),
        (name = "loyalty", description = "The points program, ledger, rewards and audit"),
        (name = "orders", description = "Sales and refunds from every channel"),
        (name = "coupons", description = "Coupon templates, codes issued to customers, and redemption (核销)"),
        (name = "checkout", description = "The checkout quote and reservations that hold coupons and points"),
        (name = "leads", description = "Sales leads and opportunities, assigned to the right clerk in time"),
        (name = "tickets", description = "Service tickets: routing, SLAs, comments and the customer's verdict"),
        (name = "campaigns", description = "Campaigns and automation: messages, coupons and points under one contact policy, with a control group and ROI"),
        (name = "segments", description = "Audiences defined by profile, consent and order history, and rule tags"),
        (name = "events", description = "The event feed (transactional outbox)"),
        (name = "webhooks", description = "Signed webhooks (Standard Webhooks): subscriptions, deliveries, replay and secret rotation"),
        (name = "analytics", description = "Reports: the dashboard, sales, lifecycle and RFM, from summary tables that follow the sales"),
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
    // Relative: the document is served by the API it describes, wherever that is deployed.
    doc["servers"] = json!([{"url": "/", "description": "The service that serves this document"}]);
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
    refine_schemas(&mut doc);
    crate::events::contract::document(&mut doc);
    for (name, schema) in crate::segments::definition::json_schemas("#/components/schemas/") {
        doc["components"]["schemas"][name] = schema;
    }
    for merged in distribute_all_of_over_unions(&mut doc["components"]["schemas"]) {
        // A union that only served as a part of others is now written out in them.
        let reference = json!(format!("#/components/schemas/{merged}"));
        if !mentions(&doc, &reference) {
            if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
                schemas.remove(&merged);
            }
        }
    }
    expand_formats(&mut doc);
    doc
}

/// A flattened untagged enum (`PointsEarned` = `points` + `EarnSource`) shows as `allOf` over a
/// `oneOf`, which client generators cannot take (`allOf` of a non-object). It is the same set of
/// instances as a `oneOf` of each branch merged with the other parts, so it is written that way:
/// every branch a plain object with all its members.
/// Returns the names of the unions so written out.
fn distribute_all_of_over_unions(schemas: &mut Value) -> Vec<String> {
    let Some(all) = schemas.as_object().cloned() else { return Vec::new() };
    let mut distributed = Vec::new();
    for (name, schema) in &all {
        let Some(parts) = schema.get("allOf").and_then(Value::as_array) else { continue };
        let union = |part: &Value| {
            let target = part.get("$ref")?.as_str()?.strip_prefix("#/components/schemas/")?;
            all.get(target)?.get("oneOf")?.as_array().cloned()
        };
        let unions: Vec<Vec<Value>> = parts.iter().filter_map(union).collect();
        let [branches] = unions.as_slice() else { continue };
        let Some(target) = parts.iter().find(|p| union(p).is_some()).and_then(|p| p.get("$ref")) else { continue };
        let rest: Vec<&Value> = parts.iter().filter(|p| union(p).is_none()).collect();
        // Only plain open objects merge exactly: a `$ref` or a closed object among the rest stays as it is.
        let mergeable = |p: &Value| {
            p.get("$ref").is_none() && p.get("additionalProperties").is_none() && p.get("properties").is_some()
        };
        if !rest.iter().all(|p| mergeable(p)) || !branches.iter().all(mergeable) {
            continue;
        }
        let merged: Vec<Value> = branches
            .iter()
            .map(|branch| {
                let mut object = branch.clone();
                for part in &rest {
                    for (key, value) in part.get("properties").and_then(Value::as_object).into_iter().flatten() {
                        object["properties"][key] = value.clone();
                    }
                    let mut required: Vec<Value> =
                        part.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
                    required.extend(object.get("required").and_then(Value::as_array).cloned().unwrap_or_default());
                    object["required"] = Value::Array(required);
                }
                object
            })
            .collect();
        let mut replaced = schema.clone();
        if let Some(map) = replaced.as_object_mut() {
            map.remove("allOf");
            map.insert("oneOf".into(), Value::Array(merged));
            let target = target.as_str().and_then(|t| t.strip_prefix("#/components/schemas/"));
            if let Some(description) = target.and_then(|t| all.get(t)).and_then(|u| u.get("description")) {
                map.entry("description").or_insert_with(|| description.clone());
            }
        }
        schemas[name] = replaced;
        if let Some(target) = target.as_str().and_then(|t| t.strip_prefix("#/components/schemas/")) {
            if !distributed.iter().any(|d| d == target) {
                distributed.push(target.to_string());
            }
        }
    }
    distributed
}

/// Whether `needle` appears anywhere in `value` as a value (not a key).
fn mentions(value: &Value, needle: &Value) -> bool {
    match value {
        Value::Object(map) => map.values().any(|v| mentions(v, needle)),
        Value::Array(items) => items.iter().any(|v| mentions(v, needle)),
        other => other == needle,
    }
}

/// What `char::is_whitespace` (and so `str::trim`) counts as white space, spelled out so that every
/// regex dialect reading the document (ECMA-262, Python, Rust) agrees with the code: `\s` differs
/// between them.
const WS: &str = r"\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// What `char::is_control` counts as a control character.
const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";

/// Exactly what `customers::rules::normalize_phone` accepts: a mainland mobile (`13812345678`, optionally
/// with `86` or `+86`) or `+<country code><number>` (8-15 digits), with dashes, parentheses and (in
/// profile fields, not in identity values) spaces anywhere.
fn phone_pattern(spaces: bool) -> String {
    let sep = if spaces { "[ ()-]*" } else { "[()-]*" };
    let mobile = format!("1{sep}[3-9]({sep}[0-9]){{9}}");
    let foreign = format!("([1-79]({sep}[0-9]){{7,14}}|8{sep}[0-57-9]({sep}[0-9]){{6,13}})");
    format!(r"^({sep}{mobile}|{sep}8{sep}6{sep}{mobile}|\+{sep}8{sep}6{sep}{mobile}|\+{sep}{foreign}){sep}$")
}

/// A comma-separated list of event types, as `GET /v1/events?types=` splits it.
fn event_types_pattern() -> String {
    let types: Vec<String> = crate::events::EVENT_TYPES.iter().map(|t| t.replace('.', r"\.")).collect();
    let item = format!("[{WS}]*({})?[{WS}]*", types.join("|"));
    format!("^{item}(,{item})*$")
}

fn strings(values: &[&str]) -> Vec<Value> {
    values.iter().map(|v| json!(v)).collect()
}

/// Custom `format`s the request types name (`#[schema(format = "phone")]`), turned here into the
/// exact constraint the handlers enforce, from the same constants the code uses.
fn format_rule(format: &str) -> Option<Value> {
    let enumeration = |values: Vec<Value>| json!({"enum": values});
    let pattern = |p: String| json!({"pattern": p});
    Some(match format {
        "channel" => enumeration(strings(crate::stores::SalesChannel::NAMES)),
        "scope" => enumeration(strings(crate::http::auth::ALL_SCOPES)),
        "lifecycle-stage" => {
            enumeration(crate::customers::lifecycle::LifecycleStage::ALL.iter().map(|s| json!(s.as_str())).collect())
        }
        "consent-changes" => json!({
            "properties": crate::customers::rules::ConsentKind::NAMES.iter()
                .map(|k| (k.to_string(), json!({"type": "boolean"}))).collect::<Map<String, Value>>(),
            "additionalProperties": false,
        }),
        "non-blank" => pattern(format!("[^{WS}]")),
        "phone" => pattern(phone_pattern(true)),
        "identity-phone" => json!({"pattern": phone_pattern(false), "maxLength": 128}),
        "money" => pattern(r"^[0-9]{1,12}(\.[0-9]{1,2})?$".into()),
        "username" => pattern(r"^[A-Za-z0-9._@-]{3,64}$".into()),
        "identity-kind" => pattern(identity_kind_pattern()),
        "category-name" => pattern(crate::campaigns::rules::CATEGORY_NAME_PATTERN.into()),
        "webhook-url" => pattern(crate::webhooks::rules::url_pattern()),
        "identity-value" => pattern(format!("^[^{CONTROL}{WS}]{{1,128}}$")),
        "member-card" => pattern(r"^[0-9]{16}$".into()),
        "wechat-openid" => json!({"pattern": format!("^[^:{CONTROL}{WS}]+:[^{CONTROL}{WS}]+$"), "maxLength": 128}),
        "cursor" => pattern(r"^[A-Za-z0-9_-]*$".into()),
        "event-sequence" => pattern(r"^[0-9]{0,18}$".into()),
        "event-types" => pattern(event_types_pattern()),
        _ => return None,
    })
}

fn identity_kind_pattern() -> String {
    format!("^({}|external:[a-z0-9_-]{{1,32}})$", crate::customers::rules::IdentityKind::NAMES.join("|"))
}

/// Applies `format_rule` everywhere in the document. Enumerations replace the format; patterns keep
/// it as a name for the reader. A nullable enumeration lists `null` too, as JSON Schema requires.
fn expand_formats(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("format").and_then(Value::as_str) == Some("segment-definition") {
                let nullable = map.get("type").and_then(Value::as_array).is_some_and(|t| t.contains(&json!("null")));
                let node = json!({"$ref": "#/components/schemas/SegmentNode"});
                map.retain(|k, _| k == "description");
                if nullable {
                    map.insert("anyOf".into(), json!([node, {"type": "null"}]));
                } else {
                    map.extend(node.as_object().cloned().unwrap_or_default());
                }
                return;
            }
            let rule = map.get("format").and_then(Value::as_str).and_then(format_rule);
            if let Some(Value::Object(rule)) = rule {
                let nullable = map.get("type").and_then(Value::as_array).is_some_and(|t| t.contains(&json!("null")));
                if rule.contains_key("enum") || rule.contains_key("properties") {
                    map.remove("format");
                }
                for (key, mut v) in rule {
                    if key == "enum" && nullable {
                        if let Value::Array(values) = &mut v {
                            values.push(Value::Null);
                        }
                    }
                    map.insert(key, v);
                }
            }
            for v in map.values_mut() {
                expand_formats(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(expand_formats),
        _ => {}
    }
}

/// Where one Rust type serves several operations with different rules, or serde attributes say more
/// than utoipa shows, the component schemas are completed here.
fn refine_schemas(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    // `deny_unknown_fields` holds for each variant of the internally tagged token request.
    if let Some(variants) = schemas["TokenRequest"]["oneOf"].as_array_mut() {
        for variant in variants {
            variant["additionalProperties"] = json!(false);
        }
    }
    // The identity value's format depends on the kind (as `rules::normalize_identity` checks it).
    schemas["IdentityInput"]["properties"]["kind"]["format"] = json!("identity-kind");
    schemas["IdentityInput"]["properties"]["value"]["format"] = json!("identity-value");
    schemas["IdentityInput"]["oneOf"] = json!([
        {"properties": {"kind": {"const": "phone"}, "value": {"format": "identity-phone"}}},
        {"properties": {"kind": {"const": "email"}, "value": {"format": "email", "maxLength": 128}}},
        {"properties": {"kind": {"const": "member_card"}, "value": {"format": "member-card"}}},
        {"properties": {"kind": {"const": "wechat_openid"}, "value": {"format": "wechat-openid"}}},
        {"properties": {"kind": {"enum": ["wechat_unionid", "tmall_ouid", "jd_pin"]}}},
        {"properties": {"kind": {"pattern": "^external:[a-z0-9_-]{1,32}$"}}},
    ]);
    // Consent changes are booleans keyed by consent kind (utoipa drops a format on an `Object` value type).
    schemas["CustomerInput"]["properties"]["consents"]["format"] = json!("consent-changes");
    let (trigger, action) = crate::campaigns::model::json_schemas();
    let input = &mut schemas["CampaignInput"]["properties"];
    input["trigger"] = json!({"anyOf": [trigger, {"type": "null"}], "description": "Required for a triggered campaign, and only for one."});
    input["actions"] = json!({"type": ["array", "null"], "minItems": 1, "maxItems": 10, "items": action,
        "description": "1-10 actions: at most one send_message and one issue_coupon (required on create)."});
    variant(
        schemas,
        "CampaignInput",
        "CampaignCreate",
        &["name", "kind", "actions"],
        &[],
        "A new campaign: `name`, `kind` and `actions` are required; the kind decides what else is (see each field).",
    );
    for (schema, required) in
        [("SegmentCreate", true), ("SegmentPatch", false), ("PreviewInput", true), ("NewTag", false)]
    {
        let property = &mut schemas[schema]["properties"]["definition"];
        property["format"] = json!("segment-definition");
        if !required {
            property["type"] = json!(["object", "null"]);
        }
    }
    // Create needs what PATCH may leave out; PATCH cannot add identities.
    variant(
        schemas,
        "StoreInput",
        "StoreCreate",
        &["code", "name"],
        &[],
        "A new store: `code` and `name` are required.",
    );
    variant(schemas, "StaffInput", "StaffCreate", &["name"], &[], "A new staff member: `name` is required.");
    variant(
        schemas,
        "SubscriptionInput",
        "SubscriptionCreate",
        &["url", "event_types"],
        &[],
        "A new subscription: `url` and `event_types` are required.",
    );
    variant(
        schemas,
        "CustomerInput",
        "CustomerPatch",
        &[],
        &["identities"],
        "Changes to a customer: an absent field is left alone and `null` clears it. Identities are added with \
         `POST /v1/customers/{id}/identities`.",
    );
    // A bulk row is an identity plus the profile fields, flat (serde's flatten shows as an unsatisfiable allOf).
    let mut row = schemas["CustomerInput"].clone();
    row["properties"]["identity"] = json!({"$ref": "#/components/schemas/IdentityInput"});
    row["required"] = json!(["identity"]);
    row["description"] = json!("One upsert: the identity that finds (or creates) the customer, plus profile fields.");
    row["example"] = schemas["BulkRow"]["example"].take();
    schemas["BulkRow"] = row;
    // Rows are checked one by one: a row that is not a valid `BulkRow` is reported as `failed` in the
    // results and never rejects the request, so the request itself takes any row.
    schemas["BulkRequest"]["properties"]["customers"]["minItems"] = json!(1);
    schemas["BulkRequest"]["properties"]["customers"]["maxItems"] = json!(crate::customers::api::BULK_MAX_ROWS);
    schemas["BulkRequest"]["properties"]["customers"]["items"] = json!({"anyOf": [
        {"$ref": "#/components/schemas/BulkRow"},
        {"description": "Anything else is answered per row, as `failed` with the problem."}
    ]});
    // A bulk call's answer shows a row posted and a row refused, with the single calls' own examples.
    for (answer, row, body) in
        [("BulkOrdersAnswer", "BulkOrderRow", "OrderView"), ("BulkRefundsAnswer", "BulkRefundRow", "RefundView")]
    {
        let posted = json!({"index": 0, "status": 201, "result": schemas[body]["example"].clone()});
        let refused = json!({"index": 1, "status": 422, "problem": schemas["Problem"]["example"].clone()});
        schemas[row]["example"] = posted.clone();
        schemas[answer]["example"] =
            json!({"created": 1, "already_stored": 0, "failed": 1, "results": [posted, refused]});
    }
    let bodies = [
        ("create_store", "StoreCreate"),
        ("create_staff", "StaffCreate"),
        ("update_customer", "CustomerPatch"),
        ("create_campaign", "CampaignCreate"),
        ("create_webhook_subscription", "SubscriptionCreate"),
    ];
    if let Some(paths) = doc["paths"].as_object_mut() {
        for op in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|ops| ops.values_mut()) {
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            if let Some((_, schema)) = bodies.iter().find(|(op_id, _)| *op_id == id) {
                op["requestBody"]["content"]["application/json"]["schema"] =
                    json!({"$ref": format!("#/components/schemas/{schema}")});
            }
        }
    }
}

/// A copy of schema `from` named `to`, with `required` fields (no longer nullable) and without `drop`.
fn variant(schemas: &mut Value, from: &str, to: &str, required: &[&str], drop: &[&str], description: &str) {
    let mut schema = schemas[from].clone();
    if let Some(props) = schema["properties"].as_object_mut() {
        for name in drop {
            props.remove(*name);
        }
        for name in required {
            if let Some(property) = props.get_mut(*name) {
                not_null(property);
            }
        }
    }
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema["description"] = json!(description);
    schemas[to] = schema;
}

/// A required member of a variant takes no `null`: as `type: [t, "null"]`, or as a `oneOf`/`anyOf`
/// with a null branch (an optional field whose type is a named schema, such as a vocabulary).
fn not_null(property: &mut Value) {
    if let Some(Value::Array(types)) = property.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types[0].clone();
            property["type"] = only;
        }
    }
    for union in ["oneOf", "anyOf"] {
        let Some(Value::Array(branches)) = property.get_mut(union) else { continue };
        branches.retain(|b| b.get("type") != Some(&json!("null")));
        if let [only] = branches.as_slice() {
            let only = only.clone();
            if let (Some(map), Value::Object(branch)) = (property.as_object_mut(), only) {
                map.remove(union);
                for (key, value) in branch {
                    map.entry(key).or_insert(value);
                }
            }
        }
    }
}

/// Reports whose list also answers as CSV and as an Excel workbook (`Accept`, SPEC §13), with the
/// JSON list's columns.
const EXPORTABLE: &[&str] = &[
    "analytics_sales",
    "analytics_lifecycle",
    "analytics_rfm",
    "analytics_churn_risk",
    "analytics_repurchase_interval",
    "analytics_members",
    "analytics_forecast",
];

fn decorate_operation(path: &str, method: &str, op: &mut Value) {
    if EXPORTABLE.contains(&op["operationId"].as_str().unwrap_or_default()) {
        if let Some(content) = op.pointer_mut("/responses/200/content").and_then(Value::as_object_mut) {
            content.insert(
                crate::analytics::export::CSV.into(),
                json!({"schema": {"type": "string", "description": "UTF-8 with a BOM: a header row, then the list's rows"}}),
            );
            content.insert(
                crate::analytics::export::XLSX.into(),
                json!({"schema": {"type": "string", "format": "binary", "description": "One sheet: a header row, then the list's rows"}}),
            );
        }
    }
    let secured = op.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
    if !secured {
        // Said outright, so a linter or a generator does not mistake an open operation for a forgotten one.
        op["security"] = json!([]);
    }
    let has_body = op.get("requestBody").is_some();
    let has_params = path.contains('{') || op.get("parameters").is_some();
    let mut defaults: Vec<(&str, &str)> = vec![("503", "The database is busy; retry after `Retry-After` seconds")];
    if secured {
        defaults.push(("401", "Missing, invalid, expired or revoked token"));
        defaults.push((
            "403",
            "The token lacks the scope this operation needs (`forbidden`), or the act is the chain's and the \
             principal is bound to a store (`store_bound_principal`)",
        ));
        defaults.push(("429", "Over the principal's request rate (`too_many_requests`); retry after `Retry-After`"));
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
    if path.starts_with("/v1/customers/{id}") && method != "get" {
        // Merged and erased customers are final: changing one is a conflict (`customer_merged`, `customer_erased`).
        defaults.push(("409", "The customer was merged into another or erased"));
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
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for param in params {
            // A parameter is absent or a string: "optional" is `required: false`, never a null.
            if let Some(Value::Array(types)) = param.get_mut("schema").and_then(|s| s.get_mut("type")) {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types[0].clone();
                    param["schema"]["type"] = only;
                }
            }
            if param["in"] == "query" && param["name"] == "cursor" {
                param["schema"]["format"] = json!("cursor");
            }
        }
    }
    if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
        for (status, description) in defaults {
            responses.entry(status).or_insert_with(|| problem_response(description));
        }
    }
}
