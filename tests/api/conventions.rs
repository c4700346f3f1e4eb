//! SPEC §2: the conventions every endpoint shares — problems, methods, bodies, parameters,
//! request ids, pagination, ETags, idempotency — and the operational endpoints.

use std::collections::HashSet;

use futures::future::join_all;
use serde_json::{json, Value};

use crate::support::TestApp;

fn allow_set(header: Option<&str>) -> HashSet<String> {
    header.unwrap_or("").split(',').map(|m| m.trim().to_string()).filter(|m| !m.is_empty()).collect()
}

fn set(items: &[&str]) -> HashSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn store_count(app: &TestApp) -> usize {
    app.collect_pages("/v1/stores", &app.admin_token(), 200).await.len()
}

#[actix_web::test]
async fn unknown_route_is_a_404_problem() {
    let app = TestApp::new().await;
    let res = app.get("/v1/no-such-thing").token(&app.admin_token()).send().await;
    res.assert_problem(404, "route_not_found");
    assert!(res.body["detail"].as_str().is_some_and(|d| d.contains("/v1/no-such-thing")), "{}", res.text);

    // Unknown routes are 404 whether or not the caller has a token.
    app.get("/nothing/here").send().await.assert_problem(404, "route_not_found");
    app.post("/v1/stores/x/y/z").send().await.assert_problem(404, "route_not_found");
}

#[actix_web::test]
async fn wrong_method_is_405_with_allow() {
    let app = TestApp::new().await;
    let admin = app.admin_token();

    let res = app.put("/v1/stores").token(&admin).json(&json!({})).send().await;
    res.assert_problem(405, "method_not_allowed");
    assert_eq!(allow_set(res.header("allow")), set(&["GET", "POST"]), "Allow: {:?}", res.header("allow"));

    let store = app.create_store("ALLOW-1").await;
    let res = app.post(&format!("/v1/stores/{}", store["id"].as_str().unwrap_or(""))).token(&admin).send().await;
    res.assert_problem(405, "method_not_allowed");
    // A store is only ever deactivated (PATCH `active`): there is no DELETE to allow.
    assert_eq!(allow_set(res.header("allow")), set(&["GET", "PATCH"]));

    // The token endpoint only takes POST.
    let res = app.get("/v1/auth/token").send().await;
    res.assert_problem(405, "method_not_allowed");
    assert_eq!(allow_set(res.header("allow")), set(&["POST"]));
}

#[actix_web::test]
async fn malformed_json_is_400_invalid_body() {
    let app = TestApp::new().await;
    let res = app
        .post("/v1/stores")
        .token(&app.admin_token())
        .raw("application/json", r#"{"code": "BJ-01", "name": "#)
        .send()
        .await;
    res.assert_problem(400, "invalid_body");

    let res = app.post("/v1/stores").token(&app.admin_token()).raw("application/json", "[1, 2").send().await;
    res.assert_problem(400, "invalid_body");

    // A JSON value of the wrong shape is also the caller's mistake, not a crash.
    let res = app.post("/v1/stores").token(&app.admin_token()).json(&json!(["not", "an", "object"])).send().await;
    res.assert_problem(400, "invalid_body");
    assert_eq!(store_count(&app).await, 0);
}

#[actix_web::test]
async fn unknown_field_is_400_naming_the_field() {
    let app = TestApp::new().await;
    let res = app
        .post("/v1/stores")
        .token(&app.admin_token())
        .json(&json!({"code": "BJ-01", "name": "朝阳店", "colour": "red"}))
        .send()
        .await;
    res.assert_problem(400, "unknown_field");
    assert_eq!(res.body["errors"][0]["field"], json!("colour"), "{}", res.text);
    assert!(res.body["errors"][0]["message"].is_string(), "{}", res.text);
    assert_eq!(store_count(&app).await, 0);
}

#[actix_web::test]
async fn non_json_content_type_is_415() {
    let app = TestApp::new().await;
    let res = app
        .post("/v1/stores")
        .token(&app.admin_token())
        .raw("text/plain", r#"{"code": "BJ-01", "name": "朝阳店"}"#)
        .send()
        .await;
    res.assert_problem(415, "unsupported_media_type");

    let res = app
        .post("/v1/stores")
        .token(&app.admin_token())
        .raw("application/x-www-form-urlencoded", "code=BJ-01&name=x")
        .send()
        .await;
    res.assert_problem(415, "unsupported_media_type");

    let res =
        app.post("/v1/stores").token(&app.admin_token()).payload(r#"{"code": "BJ-01", "name": "x"}"#).send().await;
    res.assert_problem(415, "unsupported_media_type");
    assert_eq!(store_count(&app).await, 0);

    // `application/problem+json`-style suffixes are JSON too.
    let res = app
        .post("/v1/stores")
        .token(&app.admin_token())
        .raw("application/merge-patch+json", r#"{"code": "BJ-01", "name": "朝阳店"}"#)
        .send()
        .await;
    res.assert_status(201);
}

fn oversized_store_body() -> String {
    let body = json!({"code": "BIG-1", "name": "x".repeat(4096 - 26)}).to_string();
    assert_eq!(body.len(), 4096);
    body
}

#[actix_web::test]
async fn oversized_body_is_413() {
    let app = TestApp::builder().body_limit(2048).build().await;
    let admin = app.admin_token();
    let res = app.post("/v1/stores").token(&admin).raw("application/json", oversized_store_body()).send().await;
    res.assert_problem(413, "payload_too_large");

    // The limit refuses only what is over it.
    let res = app.post("/v1/stores").token(&admin).json(&json!({"code": "SMALL-1", "name": "ok"})).send().await;
    res.assert_status(201);
    assert_eq!(store_count(&app).await, 1);
}

#[actix_web::test]
async fn oversized_body_with_idempotency_key_is_413_and_the_key_stays_free() {
    let app = TestApp::builder().body_limit(2048).build().await;
    let admin = app.admin_token();
    let res = app
        .post("/v1/stores")
        .token(&admin)
        .header("Idempotency-Key", "big-1")
        .raw("application/json", oversized_store_body())
        .send()
        .await;
    res.assert_problem(413, "payload_too_large");

    // The refused request did not take the key: a proper request with it goes through.
    let res = app
        .post("/v1/stores")
        .token(&admin)
        .header("Idempotency-Key", "big-1")
        .json(&json!({"code": "SMALL-1", "name": "ok"}))
        .send()
        .await;
    res.assert_status(201);
    assert_eq!(res.header("idempotent-replayed"), None);
}

#[actix_web::test]
async fn bad_path_and_query_parameters_are_4xx_problems() {
    let app = TestApp::new().await;
    let admin = app.admin_token();

    app.get("/v1/stores/not-a-uuid").token(&admin).send().await.assert_problem(400, "invalid_path_parameter");
    app.get("/v1/staff/12345").token(&admin).send().await.assert_problem(400, "invalid_path_parameter");

    for limit in ["0", "500", "-1", "201"] {
        let res = app.get(&format!("/v1/stores?limit={limit}")).token(&admin).send().await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), vec!["limit".to_string()], "limit={limit}: {}", res.text);
    }
    app.get("/v1/stores?limit=200").token(&admin).send().await.assert_status(200);
    app.get("/v1/stores?limit=1").token(&admin).send().await.assert_status(200);
    app.get("/v1/stores?limit=ten").token(&admin).send().await.assert_problem(400, "invalid_query_parameter");

    // Not base64, and base64 of something that is not a key of this list.
    for cursor in ["!!!", "aGVsbG8", "%20"] {
        let res = app.get(&format!("/v1/stores?cursor={cursor}")).token(&admin).send().await;
        res.assert_problem(400, "invalid_cursor");
    }
}

#[actix_web::test]
async fn every_response_carries_a_request_id_and_a_sane_one_is_echoed() {
    let app = TestApp::new().await;
    let admin = app.admin_token();
    let responses = vec![
        app.get("/healthz").send().await,
        app.get("/v1/stores").token(&admin).send().await,
        app.get("/v1/stores").send().await,
        app.get("/v1/nothing").send().await,
        app.post("/v1/stores").token(&admin).json(&json!({"code": "RID-1", "name": "x"})).send().await,
        app.post("/v1/stores").token(&admin).raw("application/json", "{").send().await,
    ];
    let mut ids = HashSet::new();
    for res in &responses {
        let id = res.header("x-request-id").unwrap_or_else(|| panic!("no x-request-id ({}): {}", res.status, res.text));
        assert!(!id.is_empty());
        ids.insert(id.to_string());
    }
    assert_eq!(ids.len(), responses.len(), "request ids must be unique: {ids:?}");

    let res = app.get("/v1/stores").token(&admin).header("X-Request-Id", "pos-17:till-3.0001").send().await;
    res.assert_status(200);
    assert_eq!(res.header("x-request-id"), Some("pos-17:till-3.0001"));

    // Also on errors.
    let res = app.get("/v1/stores").header("X-Request-Id", "till-9_retry.2").send().await;
    res.assert_problem(401, "unauthorized");
    assert_eq!(res.header("x-request-id"), Some("till-9_retry.2"));

    // An id that is not sane (spaces, too long) is replaced, not echoed.
    for bad in ["has spaces in it", &"x".repeat(300)] {
        let res = app.get("/healthz").header("X-Request-Id", bad).send().await;
        let id = res.header("x-request-id").unwrap_or("");
        assert!(!id.is_empty() && id != bad, "insane request id echoed: {id:?}");
    }
}

#[actix_web::test]
async fn cursor_pagination_walks_every_store_once() {
    let app = TestApp::new().await;
    let admin = app.admin_token();
    let mut created = HashSet::new();
    for i in 0..5 {
        let store = app.create_store(&format!("PAGE-{i}")).await;
        created.insert(store["id"].as_str().unwrap_or_default().to_string());
    }

    let mut seen: Vec<String> = Vec::new();
    let mut page_sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/v1/stores?limit=2&cursor={c}"),
            None => "/v1/stores?limit=2".to_string(),
        };
        let res = app.get(&url).token(&admin).send().await;
        res.assert_status(200);
        let items = res.items();
        page_sizes.push(items.len());
        seen.extend(items.iter().map(|s| s["id"].as_str().unwrap_or_default().to_string()));
        match &res.body["next_cursor"] {
            Value::String(c) => cursor = Some(c.clone()),
            Value::Null => break,
            other => panic!("next_cursor must be a string or null, got {other}"),
        }
        assert!(page_sizes.len() < 10, "pagination does not end");
    }
    assert_eq!(page_sizes, vec![2, 2, 1]);
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "duplicates across pages: {seen:?}");
    assert_eq!(unique, created);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "stable order by id");

    // Exactly a page's worth left: the last full page still ends with null.
    let res = app.get("/v1/stores?limit=5").token(&admin).send().await;
    assert_eq!(res.items().len(), 5);
    assert_eq!(res.body["next_cursor"], Value::Null);
    let res = app.get("/v1/stores").token(&admin).send().await;
    assert_eq!(res.items().len(), 5, "default limit is 50");
}

#[actix_web::test]
async fn etag_and_if_match_protect_updates() {
    let app = TestApp::new().await;
    let admin = app.admin_token();
    let store = app.create_store("ETAG-1").await;
    let id = store["id"].as_str().unwrap_or_default().to_string();
    let path = format!("/v1/stores/{id}");

    let res = app.get(&path).token(&admin).send().await;
    res.assert_status(200);
    let etag = res.header("etag").unwrap_or_else(|| panic!("no ETag: {:?}", res.headers)).to_string();
    assert_eq!(etag, "\"1\"");
    assert_eq!(res.body["version"], json!(1));

    let res =
        app.patch(&path).token(&admin).header("If-Match", "\"0\"").json(&json!({"name": "stale write"})).send().await;
    res.assert_problem(412, "precondition_failed");
    assert_eq!(res.body["current_version"], json!(1), "{}", res.text);

    let res = app.patch(&path).token(&admin).header("If-Match", &etag).json(&json!({"name": "renamed"})).send().await;
    res.assert_status(200);
    assert_eq!(res.body["name"], json!("renamed"));
    assert_eq!(res.body["version"], json!(2));
    let new_etag = res.header("etag").unwrap_or("").to_string();
    assert_eq!(new_etag, "\"2\"");

    // The tag just used is stale now.
    let res = app.patch(&path).token(&admin).header("If-Match", &etag).json(&json!({"name": "lost"})).send().await;
    res.assert_problem(412, "precondition_failed");
    // A tag that is not one of ours matches nothing.
    let res = app.patch(&path).token(&admin).header("If-Match", "garbage").json(&json!({"name": "lost"})).send().await;
    res.assert_problem(412, "precondition_failed");

    let res = app.get(&path).token(&admin).send().await;
    assert_eq!(res.body["name"], json!("renamed"));
    assert_eq!(res.header("etag"), Some(new_etag.as_str()));

    // Without If-Match the write is unconditional.
    let res = app.patch(&path).token(&admin).json(&json!({"name": "again"})).send().await;
    res.assert_status(200);
    assert_eq!(res.header("etag"), Some("\"3\""));
}

#[actix_web::test]
async fn idempotency_key_replays_the_first_response() {
    let app = TestApp::new().await;
    let admin = app.admin_token();
    let body = json!({"code": "IDEM-1", "name": "朝阳店", "daily_sales_target": "1000"});

    let first = app.post("/v1/stores").token(&admin).header("Idempotency-Key", "k-1").json(&body).send().await;
    first.assert_status(201);
    assert_eq!(first.header("idempotent-replayed"), None);

    let second = app.post("/v1/stores").token(&admin).header("Idempotency-Key", "k-1").json(&body).send().await;
    second.assert_status(201);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("etag"), first.header("etag"));
    assert_eq!(second.header("content-type"), first.header("content-type"));
    assert_eq!(store_count(&app).await, 1);

    // Same key, another body: refused, nothing created.
    let other = json!({"code": "IDEM-2", "name": "another"});
    let res = app.post("/v1/stores").token(&admin).header("Idempotency-Key", "k-1").json(&other).send().await;
    res.assert_problem(422, "idempotency_key_reused");
    assert_eq!(store_count(&app).await, 1);

    // Keys belong to the caller: another caller's "k-1" is a different request.
    let someone_else = app.admin_token();
    let res = app.post("/v1/stores").token(&someone_else).header("Idempotency-Key", "k-1").json(&other).send().await;
    res.assert_status(201);
    assert_eq!(res.header("idempotent-replayed"), None);
    assert_eq!(store_count(&app).await, 2);

    // A final error answer is stored too: the retry gets the same 422, replayed.
    let invalid = json!({"code": "IDEM-9", "name": "x", "kind": "warehouse"});
    let res = app.post("/v1/stores").token(&admin).header("Idempotency-Key", "k-bad").json(&invalid).send().await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.header("idempotent-replayed"), None);
    let again = app.post("/v1/stores").token(&admin).header("Idempotency-Key", "k-bad").json(&invalid).send().await;
    again.assert_problem(422, "validation_failed");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, res.body);

    let dup = json!({"code": "IDEM-1", "name": "dup"});
    let res = app.post("/v1/stores").token(&admin).header("Idempotency-Key", "k-dup").json(&dup).send().await;
    res.assert_problem(409, "store_code_taken");
    // A domain conflict is final too: the retry replays it rather than running again.
    let again = app.post("/v1/stores").token(&admin).header("Idempotency-Key", "k-dup").json(&dup).send().await;
    again.assert_problem(409, "store_code_taken");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));

    // A key must be 1-255 characters.
    let res = app
        .post("/v1/stores")
        .token(&admin)
        .header("Idempotency-Key", &"k".repeat(256))
        .json(&json!({"code": "IDEM-3", "name": "x"}))
        .send()
        .await;
    res.assert_problem(400, "invalid_idempotency_key");
    assert_eq!(store_count(&app).await, 2);
}

#[actix_web::test]
async fn concurrent_requests_with_one_idempotency_key_create_once() {
    let app = TestApp::new().await;
    let admin = app.admin_token();
    let body = json!({"code": "RACE-1", "name": "race"});
    let responses = join_all(
        (0..10).map(|_| app.post("/v1/stores").token(&admin).header("Idempotency-Key", "race-key").json(&body).send()),
    )
    .await;

    let mut originals = Vec::new();
    let mut replays = Vec::new();
    for res in &responses {
        match (res.status, res.header("idempotent-replayed")) {
            (201, None) => originals.push(res),
            (201, Some("true")) => replays.push(res),
            (409, _) => {
                res.assert_problem(409, "idempotency_request_in_progress");
            }
            _ => panic!("unexpected answer {}: {}", res.status, res.text),
        }
    }
    assert_eq!(originals.len(), 1, "exactly one request runs: {responses:#?}");
    for replay in replays {
        assert_eq!(replay.body, originals[0].body);
    }
    assert_eq!(store_count(&app).await, 1);

    // Once finished, a retry is a replay.
    let res = app.post("/v1/stores").token(&admin).header("Idempotency-Key", "race-key").json(&body).send().await;
    res.assert_status(201);
    assert_eq!(res.header("idempotent-replayed"), Some("true"));
    assert_eq!(res.body, originals[0].body);
}

#[actix_web::test]
async fn operational_endpoints_answer_without_auth() {
    let app = TestApp::new().await;

    let res = app.get("/healthz").send().await;
    res.assert_status(200);
    assert_eq!(res.body["status"], json!("ok"));

    let res = app.get("/readyz").send().await;
    res.assert_status(200);
    assert_eq!(res.body["status"], json!("ready"));

    let res = app.get("/metrics").send().await;
    res.assert_status(200);
    assert!(res.header("content-type").is_some_and(|c| c.starts_with("text/plain")), "{:?}", res.headers);
    assert!(res.text.contains("http_requests_total"), "{}", res.text);
    assert!(res.text.contains("db_pool_connections"), "{}", res.text);
    // Routes are labelled by pattern, never by the raw path.
    app.get(&format!("/v1/stores/{}", uuid::Uuid::now_v7())).token(&app.admin_token()).send().await;
    let res = app.get("/metrics").send().await;
    assert!(res.text.contains("route=\"/v1/stores/{id}\""), "{}", res.text);
    // Latency histograms by route and status: the 404 above has its own series.
    assert!(
        res.text.lines().any(|l| l.starts_with("http_request_duration_seconds_count")
            && l.contains("route=\"/v1/stores/{id}\"")
            && l.contains("status=\"404\"")),
        "{}",
        res.text
    );

    let res = app.get("/openapi.json").send().await;
    res.assert_status(200);
    assert!(res.body["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", res.body["openapi"]);
    assert!(res.body["paths"]["/v1/stores"].is_object());

    let res = app.get("/docs/").send().await;
    res.assert_status(200);
    assert!(res.header("content-type").is_some_and(|c| c.starts_with("text/html")), "{:?}", res.headers);
    assert!(res.text.to_lowercase().contains("swagger"), "{}", res.text);

    let res = app.get("/docs").send().await;
    assert!([301, 302, 307, 308].contains(&res.status), "{}", res.status);
    assert_eq!(res.header("location"), Some("/docs/"));
}

/// A request that cannot get a database connection in time answers 503 with `Retry-After`; it does not hang.
#[actix_web::test]
async fn pool_exhaustion_is_a_fast_503_with_retry_after() {
    let app = TestApp::builder()
        .pool_size(1)
        .config(|c| c.pool_timeout = std::time::Duration::from_millis(200))
        .build()
        .await;
    let token = app.admin_token();
    let held = app.conn();
    let res = app.get("/v1/stores").token(&token).send().await;
    res.assert_problem(503, "service_unavailable");
    assert_eq!(res.header("retry-after"), Some("1"));
    drop(held);
    app.get("/v1/stores").token(&token).send().await.assert_status(200);
}

/// serde would build a struct from a JSON array; the API only takes objects.
#[actix_web::test]
async fn a_body_that_is_not_a_json_object_is_400() {
    let app = TestApp::new().await;
    for body in ["[null, null]", "[]", "42", "\"text\"", "null"] {
        let res = app.post("/v1/stores").token(&app.admin_token()).raw("application/json", body).send().await;
        res.assert_problem(400, "invalid_body");
    }
}
