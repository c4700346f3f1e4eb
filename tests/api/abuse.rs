//! SPEC §3.1 abuse limits and token hygiene: failed-login lock-out, token requests per address,
//! a bucket per principal, staff changes ending earlier tokens, replays and secrets, 401 bodies.

use chrono::Duration;
use serde_json::{json, Value};

use crate::support::{TestApp, TestResponse};

async fn client_token_request(app: &TestApp, client_id: &str, secret: &str) -> TestResponse {
    app.post("/v1/auth/token")
        .json(&json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}))
        .send()
        .await
}

async fn password_request(app: &TestApp, username: &str, password: &str) -> TestResponse {
    app.post("/v1/auth/token")
        .json(&json!({"grant_type": "password", "username": username, "password": password}))
        .send()
        .await
}

fn retry_after(res: &TestResponse) -> i64 {
    res.header("retry-after").and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no Retry-After: {res:?}"))
}

#[actix_web::test]
async fn ten_failed_logins_lock_a_client_id_for_five_minutes_even_with_the_right_secret() {
    let app = TestApp::new().await;
    app.state.clock.set(app.now());
    let client = app.create_api_client(&["customers:read"], None).await;
    let other = app.create_api_client(&["customers:read"], None).await;

    for attempt in 1..=10 {
        let res = client_token_request(&app, &client.client_id, "sk_guess").await;
        res.assert_problem(401, "unauthorized");
        assert!(res.body.get("access_token").is_none(), "attempt {attempt}");
        app.state.clock.advance(Duration::seconds(10));
    }
    // The 11th attempt, with the right secret, is refused until the window has passed.
    let res = client_token_request(&app, &client.client_id, &client.client_secret).await;
    res.assert_problem(429, "too_many_requests");
    assert!(res.body.get("access_token").is_none());
    // The first failure was 100 s ago: it leaves the 5-minute window in 200 s.
    assert_eq!(retry_after(&res), 200);
    // Another client is not affected.
    client_token_request(&app, &other.client_id, &other.client_secret).await.assert_status(200);

    app.state.clock.advance(Duration::seconds(199));
    client_token_request(&app, &client.client_id, &client.client_secret).await.assert_problem(429, "too_many_requests");
    app.state.clock.advance(Duration::seconds(1));
    client_token_request(&app, &client.client_id, &client.client_secret).await.assert_status(200);
}

#[actix_web::test]
async fn ten_failed_passwords_lock_a_username_and_nine_do_not() {
    let app = TestApp::new().await;
    app.state.clock.set(app.now());
    app.create_staff(json!({"name": "王芳", "roles": ["sales"], "username": "wangfang", "password": "correct horse"}))
        .await;
    for _ in 0..9 {
        password_request(&app, "wangfang", "wrong horse").await.assert_problem(401, "unauthorized");
    }
    password_request(&app, "wangfang", "correct horse").await.assert_status(200);
    password_request(&app, "wangfang", "wrong horse").await.assert_problem(401, "unauthorized");
    password_request(&app, "wangfang", "correct horse").await.assert_problem(429, "too_many_requests");
    // Unknown usernames are counted too (guessing names costs the same).
    for _ in 0..10 {
        password_request(&app, "nobody", "x1234567").await.assert_problem(401, "unauthorized");
    }
    password_request(&app, "nobody", "x1234567").await.assert_problem(429, "too_many_requests");
    app.state.clock.advance(Duration::minutes(5));
    password_request(&app, "wangfang", "correct horse").await.assert_status(200);
}

#[actix_web::test]
async fn token_requests_are_limited_per_source_address() {
    let app = TestApp::builder().config(|c| c.token_rate_per_address = 3).build().await;
    app.state.clock.set(app.now());
    let client = app.create_api_client(&["customers:read"], None).await;
    let ask = |peer: &'static str| {
        let app = &app;
        let body = json!({"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": client.client_secret});
        async move { app.post("/v1/auth/token").peer(peer).json(&body).send().await }
    };
    for _ in 0..3 {
        ask("10.1.0.1:40000").await.assert_status(200);
    }
    let res = ask("10.1.0.1:40001").await;
    res.assert_problem(429, "too_many_requests");
    assert!(retry_after(&res) >= 1);
    // Tills behind another address are never locked out by this one; a second later the first
    // address has its budget back.
    ask("10.1.0.2:40000").await.assert_status(200);
    app.state.clock.advance(Duration::seconds(1));
    ask("10.1.0.1:40002").await.assert_status(200);
}

#[actix_web::test]
async fn each_principal_has_a_bucket_of_its_rate_limit_with_twice_the_burst() {
    let app = TestApp::builder().config(|c| c.rate_limit_rps = 3).build().await;
    app.state.clock.set(app.now());
    // An API client with its own limit: 1 request per second, burst 2.
    let res = app
        .post("/v1/api-clients")
        .token(&app.admin_token())
        .json(&json!({"name": "slow connector", "scopes": ["customers:read"], "rate_limit_rps": 1}))
        .send()
        .await;
    res.assert_status(201);
    assert_eq!(res.body["rate_limit_rps"], json!(1));
    let token = app.client_credentials_token(res.str("client_id"), res.str("client_secret")).await;
    app.get("/v1/customers").token(&token).send().await.assert_status(200);
    app.get("/v1/customers").token(&token).send().await.assert_status(200);
    let res = app.get("/v1/customers").token(&token).send().await;
    res.assert_problem(429, "too_many_requests");
    assert_eq!(retry_after(&res), 1);
    app.state.clock.advance(Duration::seconds(1));
    app.get("/v1/customers").token(&token).send().await.assert_status(200);

    // The default (CRM_RATE_LIMIT_RPS, here 3): burst 6 for a principal without its own limit.
    let other = app.token(&["customers:read"]);
    let statuses: Vec<u16> = {
        let mut s = Vec::new();
        for _ in 0..7 {
            s.push(app.get("/v1/customers").token(&other).send().await.status);
        }
        s
    };
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 429]);

    // 0 = unlimited.
    let res = app
        .post("/v1/api-clients")
        .token(&app.admin_token())
        .json(&json!({"name": "bulk importer", "scopes": ["customers:read"], "rate_limit_rps": 0}))
        .send()
        .await;
    let token = app.client_credentials_token(res.str("client_id"), res.str("client_secret")).await;
    for _ in 0..20 {
        app.get("/v1/customers").token(&token).send().await.assert_status(200);
    }
    let res = app
        .post("/v1/api-clients")
        .token(&app.admin_token())
        .json(&json!({"name": "bad", "scopes": ["customers:read"], "rate_limit_rps": -1}))
        .send()
        .await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["rate_limit_rps"]);
}

#[actix_web::test]
async fn a_demoted_manager_loses_customers_pii_at_once() {
    let app = TestApp::new().await;
    app.state.clock.set(app.now());
    let admin = app.admin_token();
    let manager = app
        .create_staff(
            json!({"name": "李经理", "roles": ["manager"], "username": "li.manager", "password": "manager pass"}),
        )
        .await;
    let customer = app
        .post("/v1/customers")
        .token(&admin)
        .json(&json!({"name": "张三", "phone": "13812345678"}))
        .send()
        .await
        .uuid("id");
    let res = password_request(&app, "li.manager", "manager pass").await;
    let token = res.str("access_token").to_string();
    let read = app.get(&format!("/v1/customers/{customer}")).token(&token).send().await;
    assert_eq!(read.body["phone"], json!("+8613812345678"), "{}", read.text);

    app.state.clock.advance(Duration::seconds(30));
    app.patch(&format!("/v1/staff/{}", manager["id"].as_str().unwrap_or_default()))
        .token(&admin)
        .json(&json!({"roles": ["sales"]}))
        .send()
        .await
        .assert_status(200);
    // The token issued before the change no longer works, here or (within a second) elsewhere.
    app.get(&format!("/v1/customers/{customer}")).token(&token).send().await.assert_problem(401, "unauthorized");
    app.state.clock.advance(Duration::seconds(1));
    let res = password_request(&app, "li.manager", "manager pass").await;
    let token = res.str("access_token").to_string();
    let read = app.get(&format!("/v1/customers/{customer}")).token(&token).send().await;
    assert_eq!(read.body["phone"], json!("138****5678"), "{}", read.text);

    // A change that does not touch rights (capacity) leaves tokens alone.
    app.state.clock.advance(Duration::seconds(30));
    app.patch(&format!("/v1/staff/{}", manager["id"].as_str().unwrap_or_default()))
        .token(&admin)
        .json(&json!({"capacity": 5}))
        .send()
        .await
        .assert_status(200);
    app.get(&format!("/v1/customers/{customer}")).token(&token).send().await.assert_status(200);
}

#[actix_web::test]
async fn idempotent_replays_check_the_token_and_never_return_a_secret() {
    let app = TestApp::new().await;
    let admin = app.admin_token();
    let body = json!({"name": "till fleet", "scopes": ["customers:read", "customers:write"]});
    let first = app.post("/v1/api-clients").token(&admin).header("idempotency-key", "mint-1").json(&body).send().await;
    first.assert_status(201);
    assert!(first.str("client_secret").starts_with("sk_"));
    let replay = app.post("/v1/api-clients").token(&admin).header("idempotency-key", "mint-1").json(&body).send().await;
    replay.assert_status(201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body["id"], first.body["id"]);
    assert!(replay.body.get("client_secret").is_none(), "a secret is shown once: {}", replay.text);
    let stored: Vec<u8> = {
        use diesel::prelude::*;
        use retail_crm::schema::idempotency_keys as ik;
        ik::table
            .filter(ik::key.eq("mint-1"))
            .select(ik::response_body)
            .first::<Option<Vec<u8>>>(&mut app.conn())
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_default()
    };
    let secret = first.str("client_secret");
    assert!(!String::from_utf8_lossy(&stored).contains(secret), "the stored response keeps no secret");

    // A revoked client's replay is a 401, like any of its requests.
    let client_id = first.str("client_id");
    let token = app.client_credentials_token(client_id, secret).await;
    let customer = json!({"name": "李四"});
    let created = app.post("/v1/customers").token(&token).header("idempotency-key", "c-1").json(&customer).send().await;
    created.assert_status(201);
    app.delete(&format!("/v1/api-clients/{}", first.str("id"))).token(&admin).send().await.assert_status(204);
    let replay = app.post("/v1/customers").token(&token).header("idempotency-key", "c-1").json(&customer).send().await;
    replay.assert_problem(401, "unauthorized");
    assert!(replay.header("idempotent-replayed").is_none());
}

#[actix_web::test]
async fn a_401_says_only_missing_invalid_or_expired() {
    let app = TestApp::new().await;
    app.state.clock.set(app.now());
    let expiring = app.token(&["customers:read"]);
    app.state.clock.advance(Duration::hours(2));
    let tokens = [None, Some("garbage".to_string()), Some("a.b.c".to_string()), Some(expiring)];
    let mut bodies: Vec<Value> = Vec::new();
    for token in &tokens {
        let req = app.get("/v1/customers");
        let res = match token {
            Some(t) => req.token(t).send().await,
            None => req.send().await,
        };
        res.assert_problem(401, "unauthorized");
        let detail = res.body["detail"].as_str().unwrap_or_default().to_lowercase();
        for leak in ["jwt", "signature", "base64", "json", "invalidtoken", "expiredsignature", "utf"] {
            assert!(!detail.contains(leak), "the 401 names the library's reason ({leak}): {}", res.text);
        }
        bodies.push(res.body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "every 401 reads the same: {bodies:?}");
}

#[actix_web::test]
async fn staff_need_staff_read_and_their_phones_are_masked_without_pii() {
    let app = TestApp::new().await;
    let store = app.create_store("SH-01").await;
    let member = app
        .create_staff(json!({"name": "王芳", "phone": "13812345678", "store_id": store["id"], "roles": ["sales"],
                             "username": "wangfang", "password": "correct horse"}))
        .await;
    let path = format!("/v1/staff/{}", member["id"].as_str().unwrap_or_default());
    for token in [app.token(&["customers:read"]), app.token(&["leads:write", "tickets:write"])] {
        app.get("/v1/staff").token(&token).send().await.assert_problem(403, "forbidden");
        app.get(&path).token(&token).send().await.assert_problem(403, "forbidden");
    }
    let reader = app.token(&["staff:read"]);
    let res = app.get(&path).token(&reader).send().await;
    res.assert_status(200);
    assert_eq!(res.body["phone"], json!("138****5678"));
    assert_eq!(res.body["username"], Value::Null, "login names are for administrators");
    let listed = app.get("/v1/staff").token(&reader).send().await;
    assert_eq!(listed.items()[0]["phone"], json!("138****5678"));
    let res = app.get(&path).token(&app.token(&["staff:read", "customers:pii"])).send().await;
    assert_eq!(res.body["phone"], json!("+8613812345678"));
    let res = app.get(&path).token(&app.admin_token()).send().await;
    assert_eq!(res.body["username"], json!("wangfang"));
}

/// Issue 22: behind a load balancer every request comes from its address; with
/// `CRM_TRUSTED_PROXIES` the limit keys on the caller it forwards, never on what the caller wrote.
#[actix_web::test]
async fn behind_a_trusted_proxy_token_requests_are_limited_per_forwarded_caller() {
    let proxies = retail_crm::proxies::TrustedProxies::parse("10.0.0.0/8").unwrap();
    let app = TestApp::builder()
        .config(|c| {
            c.token_rate_per_address = 3;
            c.trusted_proxies = proxies;
        })
        .build()
        .await;
    app.state.clock.set(app.now());
    let client = app.create_api_client(&["customers:read"], None).await;
    let ask = |peer: &'static str, forwarded: &'static str| {
        let app = &app;
        let body = json!({"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": client.client_secret});
        async move { app.post("/v1/auth/token").peer(peer).header("x-forwarded-for", forwarded).json(&body).send().await }
    };
    for _ in 0..3 {
        ask("10.0.0.5:40000", "198.51.100.1").await.assert_status(200);
    }
    ask("10.0.0.5:40000", "198.51.100.1").await.assert_problem(429, "too_many_requests");
    // Another till behind the same balancer still gets its tokens.
    ask("10.0.0.5:40000", "198.51.100.2").await.assert_status(200);
    // Made-up entries left of the balancer's own do not buy a fresh budget...
    ask("10.0.0.6:40000", "203.0.113.77, 198.51.100.1").await.assert_problem(429, "too_many_requests");
    // ...and a caller that is not a trusted proxy is limited by its own address, whatever it says.
    for _ in 0..3 {
        ask("203.0.113.9:40000", "198.51.100.3").await.assert_status(200);
    }
    ask("203.0.113.9:40000", "198.51.100.4").await.assert_problem(429, "too_many_requests");
}

fn bulk_customers(n: usize) -> Value {
    let rows: Vec<Value> = (0..n)
        .map(|i| json!({"identity": {"kind": "jd_pin", "value": format!("pin-{i}")}, "name": format!("京东{i}")}))
        .collect();
    json!({"customers": rows})
}

/// Issue 22 finding 5: a connector held to 8 requests a second could post 500 rows a call; a row
/// now costs a request, and more rows than its burst (16) is refused whole.
#[actix_web::test]
async fn a_bulk_row_costs_a_request_of_the_rate_limit() {
    let app = TestApp::builder().config(|c| c.rate_limit_rps = 8).build().await;
    app.state.clock.set(app.now());
    let connector = app.token(&["customers:write", "orders:write"]);
    let bulk = |body: Value| app.post("/v1/customers/bulk").token(&connector).json(&body).send();
    let res = bulk(bulk_customers(20)).await;
    res.assert_problem(422, "too_many_rows");
    assert_eq!(res.body["max_rows"], json!(16));
    let res = bulk(bulk_customers(10)).await;
    res.assert_status(200);
    assert_eq!(res.body["created"], json!(10));
    let res = bulk(bulk_customers(10)).await;
    res.assert_problem(429, "too_many_requests");
    assert!(retry_after(&res) >= 1);
    let rows: Vec<Value> = (0..10)
        .map(|i| {
            json!({"external_id": format!("B-{i}"), "channel": "pos", "occurred_at": app.now(),
                        "lines": [{"sku": "A", "quantity": 1, "unit_price": "1.00"}]})
        })
        .collect();
    let orders = json!({ "orders": rows });
    let res = app.post("/v1/orders/bulk").token(&connector).json(&orders).send().await;
    res.assert_problem(429, "too_many_requests");
    // A second later the bucket has 8 more tokens: a call of 8 rows goes through.
    app.state.clock.advance(Duration::seconds(1));
    bulk(bulk_customers(8)).await.assert_status(200);
}

/// Issue 22 finding 5: bulk calls hold at most a quarter of the connections (one of four here),
/// so a till's sale finds a connection while a bulk call runs and another waits.
#[actix_web::test]
async fn bulk_calls_never_take_the_tills_connections() {
    let app = TestApp::builder()
        .pool_size(4)
        .config(|c| c.pool_timeout = std::time::Duration::from_millis(300))
        .build()
        .await;
    assert_eq!(retail_crm::db::bulk_share(4), 1);
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (started, running) = futures::channel::oneshot::channel::<()>();
    let pool = app.state.pool.clone();
    let first = actix_web::rt::spawn(async move {
        retail_crm::db::run_bulk(&pool, move |_conn| {
            let _ = started.send(());
            let _ = held.recv();
            Ok(())
        })
        .await
    });
    running.await.unwrap();
    let second = retail_crm::db::run_bulk(&app.state.pool, |_conn| Ok(())).await;
    assert_eq!(second.err().map(|e| e.code().to_string()), Some("service_unavailable".to_string()));
    let sale = json!({"external_id": "T-1", "channel": "pos", "occurred_at": app.now(),
                      "lines": [{"sku": "A", "quantity": 1, "unit_price": "10.00"}]});
    app.post("/v1/orders").token(&app.token(&["orders:write"])).json(&sale).send().await.assert_status(201);
    release.send(()).unwrap();
    first.await.unwrap().unwrap();
    retail_crm::db::run_bulk(&app.state.pool, |_conn| Ok(())).await.unwrap();
}
