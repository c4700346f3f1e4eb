//! SPEC §3: tokens, scopes, API clients, staff passwords, revocation and the audit log.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use retail_crm::http::auth::{Claims, TokenKeys};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{TestApp, JWT_SECRET};

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn claims(app: &TestApp, scope: &str) -> Claims {
    let now = app.now().timestamp();
    Claims {
        sub: format!("client:{}", Uuid::new_v4()),
        scope: scope.to_string(),
        store_id: None,
        iat: now,
        exp: now + 600,
        jti: Uuid::new_v4().to_string(),
    }
}

#[actix_web::test]
async fn requests_without_a_valid_token_are_401() {
    let app = TestApp::new().await;
    let mut bad_tokens: Vec<(&str, String)> = Vec::new();

    bad_tokens.push(("garbage", "not-a-jwt".to_string()));
    bad_tokens.push(("three garbage parts", "aaa.bbb.ccc".to_string()));

    let other = TokenKeys::new(b"another-secret-another-secret-another!", 3600, app.state.clock.clone());
    let token = other.issue(&format!("client:{}", Uuid::new_v4()), &["admin".to_string()], None);
    bad_tokens.push(("signed with another key", token.unwrap_or_default()));

    let expired = TokenKeys::new(JWT_SECRET, -120, app.state.clock.clone());
    let token = expired.issue(&format!("client:{}", Uuid::new_v4()), &["admin".to_string()], None);
    bad_tokens.push(("expired", token.unwrap_or_default()));

    let payload = serde_json::to_vec(&claims(&app, "admin")).unwrap_or_default();
    let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(&payload));
    bad_tokens.push(("alg none", none));

    // Our secret, but another algorithm.
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims(&app, "admin"),
        &EncodingKey::from_secret(JWT_SECRET),
    );
    bad_tokens.push(("HS512", hs512.unwrap_or_default()));

    // A valid token whose payload was edited to grant more.
    let valid = app.token(&["customers:read"]);
    let parts: Vec<&str> = valid.split('.').collect();
    let forged =
        format!("{}.{}.{}", parts[0], b64(&serde_json::to_vec(&claims(&app, "admin")).unwrap_or_default()), parts[2]);
    bad_tokens.push(("payload edited", forged));

    for (what, token) in &bad_tokens {
        assert!(!token.is_empty(), "{what}: could not build the token");
        let res = app.get("/v1/stores").token(token).send().await;
        res.assert_problem(401, "unauthorized");
        assert_eq!(res.header("www-authenticate"), Some("Bearer"), "{what}");
    }

    let res = app.get("/v1/stores").send().await;
    res.assert_problem(401, "unauthorized");
    assert_eq!(res.header("www-authenticate"), Some("Bearer"));
    let res = app.get("/v1/stores").header("Authorization", "Basic YWRtaW46YWRtaW4=").send().await;
    res.assert_problem(401, "unauthorized");
    // A write without a token is refused before its body is looked at.
    let res = app.post("/v1/stores").json(&json!({"code": "X", "name": "x"})).send().await;
    res.assert_problem(401, "unauthorized");

    // The untouched token works; the scheme name is case-insensitive.
    app.get("/v1/customers").token(&valid).send().await.assert_status(200);
    app.get("/v1/customers").header("Authorization", &format!("bearer {valid}")).send().await.assert_status(200);
}

#[actix_web::test]
async fn a_missing_scope_is_403() {
    let app = TestApp::new().await;
    let reader = app.token(&["customers:read"]);
    let res = app.post("/v1/stores").token(&reader).json(&json!({"code": "S1", "name": "x"})).send().await;
    res.assert_problem(403, "forbidden");
    assert!(res.body["detail"].as_str().is_some_and(|d| d.contains("admin")), "{}", res.text);

    app.get("/v1/api-clients").token(&reader).send().await.assert_problem(403, "forbidden");
    app.get("/v1/audit-log").token(&reader).send().await.assert_problem(403, "forbidden");
    app.get("/v1/events").token(&app.token(&["leads:read"])).send().await.assert_problem(403, "forbidden");
    app.post("/v1/staff")
        .token(&app.token(&["customers:write", "customers:pii"]))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .assert_problem(403, "forbidden");

    // `admin` implies every scope; listing stores needs only a valid token.
    app.get("/v1/events").token(&app.admin_token()).send().await.assert_status(200);
    app.get("/v1/stores").token(&app.token(&[])).send().await.assert_status(200);
}

#[actix_web::test]
async fn client_credentials_round_trip_and_revocation() {
    let app = TestApp::new().await;
    let admin = app.admin_token();

    let res = app
        .post("/v1/api-clients")
        .token(&admin)
        .json(&json!({"name": "Chaoyang POS fleet", "scopes": ["customers:read", "orders:write"]}))
        .send()
        .await;
    res.assert_status(201);
    let id = res.uuid("id");
    let client_id = res.str("client_id").to_string();
    let secret = res.str("client_secret").to_string();
    assert!(client_id.starts_with("cli_"), "{client_id}");
    assert!(secret.starts_with("sk_") && secret.len() >= 40, "{secret}");
    assert_eq!(res.body["scopes"], json!(["customers:read", "orders:write"]));
    assert_eq!(res.body["name"], json!("Chaoyang POS fleet"));
    assert_eq!(res.body["store_id"], Value::Null);
    assert_eq!(res.header("location"), Some(format!("/v1/api-clients/{id}").as_str()));

    // The secret is never shown again, hashed or not.
    let res = app.get(&format!("/v1/api-clients/{id}")).token(&admin).send().await;
    res.assert_status(200);
    assert_eq!(res.str("client_id"), client_id);
    assert!(res.body.get("client_secret").is_none() && res.body.get("secret_hash").is_none(), "{}", res.text);
    assert!(!res.text.contains(&secret) && !res.text.contains("argon2"), "{}", res.text);
    assert_eq!(res.body["revoked_at"], Value::Null);
    let list = app.get("/v1/api-clients").token(&admin).send().await;
    list.assert_status(200);
    assert!(list.items().iter().any(|c| c["id"] == json!(id.to_string())));
    assert!(!list.text.contains(&secret) && !list.text.contains("argon2"), "{}", list.text);

    // Exchange the credentials.
    let res = app
        .post("/v1/auth/token")
        .json(&json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}))
        .send()
        .await;
    res.assert_status(200);
    assert_eq!(res.str("token_type"), "Bearer");
    assert_eq!(res.str("scope"), "customers:read orders:write");
    assert_eq!(res.body["expires_in"], json!(3600));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let token = res.str("access_token").to_string();
    let claims = app.state.tokens.verify(&token).unwrap_or_else(|e| panic!("issued token does not verify: {e}"));
    assert_eq!(claims.sub, format!("client:{id}"));
    assert_eq!(claims.scope, "customers:read orders:write");
    assert_eq!(claims.exp - claims.iat, 3600);
    assert!(!claims.jti.is_empty());

    // The token carries exactly those scopes.
    app.get("/v1/customers").token(&token).send().await.assert_status(200);
    app.post("/v1/stores")
        .token(&token)
        .json(&json!({"code": "NOPE", "name": "x"}))
        .send()
        .await
        .assert_problem(403, "forbidden");

    // Wrong secret, unknown client, unknown grant, missing field.
    let res = app
        .post("/v1/auth/token")
        .json(&json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": "sk_wrong"}))
        .send()
        .await;
    res.assert_problem(401, "unauthorized");
    assert!(res.body.get("access_token").is_none());
    let res = app
        .post("/v1/auth/token")
        .json(&json!({"grant_type": "client_credentials", "client_id": "cli_nobody", "client_secret": secret}))
        .send()
        .await;
    res.assert_problem(401, "unauthorized");
    let res =
        app.post("/v1/auth/token").json(&json!({"grant_type": "refresh_token", "refresh_token": "x"})).send().await;
    res.assert_problem(400, "invalid_body");
    let res = app
        .post("/v1/auth/token")
        .json(&json!({"grant_type": "client_credentials", "client_id": client_id}))
        .send()
        .await;
    res.assert_problem(400, "invalid_body");
    assert_eq!(res.error_fields(), vec!["client_secret".to_string()], "{}", res.text);

    // Revoke: the issued token stops working at once and the credentials no longer exchange.
    let res = app.delete(&format!("/v1/api-clients/{id}")).token(&admin).send().await;
    res.assert_status(204);
    assert_eq!(res.text, "");
    app.get("/v1/customers").token(&token).send().await.assert_problem(401, "unauthorized");
    let res = app
        .post("/v1/auth/token")
        .json(&json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}))
        .send()
        .await;
    res.assert_problem(401, "unauthorized");
    // Gone from the API: 404 afterwards, absent from the list, and a second DELETE is 404 too.
    let gone = format!("/v1/api-clients/{id}");
    app.get(&gone).token(&admin).send().await.assert_problem(404, "api_client_not_found");
    app.delete(&gone).token(&admin).send().await.assert_problem(404, "api_client_not_found");
    let listed = app.collect_pages("/v1/api-clients", &admin, 50).await;
    assert!(listed.iter().all(|c| c["id"] != json!(id)), "a revoked client is listed");

    app.get(&format!("/v1/api-clients/{}", Uuid::now_v7()))
        .token(&admin)
        .send()
        .await
        .assert_problem(404, "api_client_not_found");
    app.delete(&format!("/v1/api-clients/{}", Uuid::now_v7()))
        .token(&admin)
        .send()
        .await
        .assert_problem(404, "api_client_not_found");
}

#[actix_web::test]
async fn api_client_input_is_validated() {
    let app = TestApp::new().await;
    let admin = app.admin_token();
    let res = app
        .post("/v1/api-clients")
        .token(&admin)
        .json(&json!({"name": "", "scopes": ["customers:read", "root"]}))
        .send()
        .await;
    res.assert_problem(422, "validation_failed");
    let fields = res.error_fields();
    assert!(fields.contains(&"name".to_string()) && fields.contains(&"scopes".to_string()), "{}", res.text);

    let res = app.post("/v1/api-clients").token(&admin).json(&json!({"name": "x", "scopes": []})).send().await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), vec!["scopes".to_string()]);

    let res = app
        .post("/v1/api-clients")
        .token(&admin)
        .json(&json!({"name": "x", "scopes": ["admin"], "store_id": Uuid::now_v7()}))
        .send()
        .await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), vec!["store_id".to_string()]);

    // A client bound to a store gets tokens bound to it.
    let store = app.create_store("BOUND-1").await;
    let store_id: Uuid = store["id"].as_str().unwrap_or_default().parse().unwrap_or_default();
    let client = app.create_api_client(&["customers:read"], Some(store_id)).await;
    assert_eq!(client.body["store_id"], json!(store_id.to_string()));
    let token = app.client_credentials_token(&client.client_id, &client.client_secret).await;
    let claims = app.state.tokens.verify(&token).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(claims.store_id, Some(store_id));
}

#[actix_web::test]
async fn staff_password_grant_carries_role_scopes_and_store() {
    let app = TestApp::new().await;
    app.state.clock.set(app.now());
    let admin = app.admin_token();
    let store = app.create_store("BJ-CY-01").await;
    let store_id = store["id"].as_str().unwrap_or_default().to_string();
    let member = app
        .create_staff(json!({
            "name": "王芳", "phone": "13812345678", "store_id": store_id, "roles": ["sales"],
            "skills": ["女装"], "username": "wangfang", "password": "correct horse battery"
        }))
        .await;
    let staff_id = member["id"].as_str().unwrap_or_default().to_string();
    assert!(member.get("password").is_none() && member.get("password_hash").is_none(), "{member}");
    assert!(!member.to_string().contains("correct horse"), "{member}");

    let res = app
        .post("/v1/auth/token")
        .json(&json!({"grant_type": "password", "username": "wangfang", "password": "correct horse battery"}))
        .send()
        .await;
    res.assert_status(200);
    let scopes: Vec<&str> = res.str("scope").split(' ').collect();
    assert!(scopes.contains(&"leads:write") && scopes.contains(&"customers:read"), "{scopes:?}");
    assert!(!scopes.contains(&"admin") && !scopes.contains(&"customers:pii"), "{scopes:?}");
    let token = res.str("access_token").to_string();
    let claims = app.state.tokens.verify(&token).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(claims.sub, format!("staff:{staff_id}"));
    assert_eq!(claims.store_id.map(|s| s.to_string()), Some(store_id.clone()));

    app.get(&format!("/v1/staff/{staff_id}")).token(&token).send().await.assert_status(200);
    app.post("/v1/stores")
        .token(&token)
        .json(&json!({"code": "X1", "name": "x"}))
        .send()
        .await
        .assert_problem(403, "forbidden");

    for (username, password) in [("wangfang", "wrong password"), ("nobody", "correct horse battery")] {
        let res = app
            .post("/v1/auth/token")
            .json(&json!({"grant_type": "password", "username": username, "password": password}))
            .send()
            .await;
        res.assert_problem(401, "unauthorized");
    }

    // Deactivating the staff member revokes the token at once and stops password login.
    app.deactivate_staff(&staff_id).await;
    app.get(&format!("/v1/staff/{staff_id}")).token(&token).send().await.assert_problem(401, "unauthorized");
    let res = app
        .post("/v1/auth/token")
        .json(&json!({"grant_type": "password", "username": "wangfang", "password": "correct horse battery"}))
        .send()
        .await;
    res.assert_problem(401, "unauthorized");

    // Reactivated, they can log in again with a fresh token (from the next second on: a token
    // of the second of a change may carry the old rights); the old one stays dead.
    app.patch(&format!("/v1/staff/{staff_id}"))
        .token(&admin)
        .json(&json!({"active": true}))
        .send()
        .await
        .assert_status(200);
    app.get(&format!("/v1/staff/{staff_id}")).token(&token).send().await.assert_problem(401, "unauthorized");
    app.state.clock.advance(chrono::Duration::seconds(1));
    let res = app
        .post("/v1/auth/token")
        .json(&json!({"grant_type": "password", "username": "wangfang", "password": "correct horse battery"}))
        .send()
        .await;
    res.assert_status(200);
    app.get(&format!("/v1/staff/{staff_id}")).token(res.str("access_token")).send().await.assert_status(200);
}

#[actix_web::test]
async fn audit_log_records_client_creation_and_revocation() {
    let app = TestApp::new().await;
    let actor = format!("client:{}", Uuid::now_v7());
    let admin = app.token_for(&actor, &["admin"], None);

    let res = app
        .post("/v1/api-clients")
        .token(&admin)
        .header("X-Request-Id", "audit-create-1")
        .json(&json!({"name": "connector", "scopes": ["customers:write"]}))
        .send()
        .await;
    res.assert_status(201);
    let id = res.str("id").to_string();
    app.delete(&format!("/v1/api-clients/{id}"))
        .token(&admin)
        .header("X-Request-Id", "audit-revoke-1")
        .send()
        .await
        .assert_status(204);

    let res = app.get("/v1/audit-log").token(&app.admin_token()).send().await;
    res.assert_status(200);
    let entries: Vec<Value> = res
        .items()
        .into_iter()
        .filter(|e| e["resource"] == json!("api_client") && e["resource_id"] == json!(id))
        .collect();
    let actions: Vec<&str> = entries.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, vec!["api_client.revoke", "api_client.create"], "newest first: {}", res.text);
    for (entry, request_id) in entries.iter().zip(["audit-revoke-1", "audit-create-1"]) {
        assert_eq!(entry["actor"], json!(actor), "{entry}");
        assert_eq!(entry["request_id"], json!(request_id), "{entry}");
        assert!(entry["at"].is_string() && entry["id"].is_i64(), "{entry}");
    }

    let res = app.get("/v1/audit-log?action=api_client.revoke").token(&app.admin_token()).send().await;
    let items = res.items();
    assert_eq!(items.len(), 1, "{}", res.text);
    assert_eq!(items[0]["resource_id"], json!(id));
    let res = app.get(&format!("/v1/audit-log?actor={actor}&limit=1")).token(&app.admin_token()).send().await;
    assert_eq!(res.items().len(), 1);
    let cursor = res.str("next_cursor").to_string();
    let res = app.get(&format!("/v1/audit-log?actor={actor}&cursor={cursor}")).token(&app.admin_token()).send().await;
    assert_eq!(res.items()[0]["action"], json!("api_client.create"), "{}", res.text);
    assert_eq!(res.body["next_cursor"], Value::Null);

    app.get("/v1/audit-log")
        .token(&app.token(&["customers:read", "customers:pii"]))
        .send()
        .await
        .assert_problem(403, "forbidden");
    app.get("/v1/audit-log").send().await.assert_problem(401, "unauthorized");
}

#[actix_web::test]
async fn a_store_bound_admin_cannot_mint_clients() {
    let app = TestApp::new().await;
    let store_a = app.create_store("A-01").await;
    let store_b = app.create_store("B-01").await;
    let a: Uuid = store_a["id"].as_str().unwrap_or_default().parse().unwrap_or_default();
    let bound = app.store_token(&["admin"], Some(a));
    for body in [
        json!({"name": "till 2", "scopes": ["admin"]}),
        json!({"name": "till 3", "scopes": ["admin"], "store_id": a}),
        json!({"name": "escape", "scopes": ["admin"], "store_id": store_b["id"]}),
    ] {
        app.post("/v1/api-clients").token(&bound).json(&body).send().await.assert_problem(403, "store_bound_principal");
    }

    // A chain-wide administrator binds a client to a store; its tokens stay bound.
    let res = app
        .post("/v1/api-clients")
        .token(&app.admin_token())
        .json(&json!({"name": "till 2", "scopes": ["admin"], "store_id": a}))
        .send()
        .await;
    res.assert_status(201);
    let token = app.client_credentials_token(res.str("client_id"), res.str("client_secret")).await;
    let claims = app.state.tokens.verify(&token).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(claims.store_id, Some(a), "the minted token stays bound to the store");
}

#[actix_web::test]
async fn a_store_bound_admin_administers_no_clients_stores_or_audit() {
    let app = TestApp::new().await;
    let store_a = app.create_store("A-01").await;
    let store_b = app.create_store("B-01").await;
    let a: Uuid = store_a["id"].as_str().unwrap_or_default().parse().unwrap_or_default();
    let bound = app.store_token(&["admin"], Some(a));
    let own = app.create_api_client(&["customers:read"], Some(a)).await;

    // SPEC §3.1: API clients, stores and the audit log are chain-wide acts, even for its own store.
    app.get("/v1/api-clients").token(&bound).send().await.assert_problem(403, "store_bound_principal");
    for path in [format!("/v1/api-clients/{}", own.id)] {
        app.get(&path).token(&bound).send().await.assert_problem(403, "store_bound_principal");
        app.delete(&path).token(&bound).send().await.assert_problem(403, "store_bound_principal");
    }
    app.client_credentials_token(&own.client_id, &own.client_secret).await;

    app.post("/v1/stores")
        .token(&bound)
        .json(&json!({"code": "C-01", "name": "new"}))
        .send()
        .await
        .assert_problem(403, "store_bound_principal");
    app.get("/v1/audit-log").token(&bound).send().await.assert_problem(403, "store_bound_principal");
    for store in [&store_a, &store_b] {
        app.patch(&format!("/v1/stores/{}", store["id"].as_str().unwrap_or_default()))
            .token(&bound)
            .json(&json!({"name": "hijacked"}))
            .send()
            .await
            .assert_problem(403, "store_bound_principal");
    }
}
