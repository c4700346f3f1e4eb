//! The test harness: one throwaway PostgreSQL per test process, a migrated template database, a fresh
//! database per test cloned from it, and `TestApp`, which drives the real application in-process.
//!
//! `TEST_DATABASE_URL` (a server where we may create databases) replaces the embedded cluster.

#![allow(dead_code)]

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::Duration;

use actix_web::body::{to_bytes, BoxBody};
use actix_web::dev::Service;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::test::TestRequest;
use actix_web::{web, HttpResponse};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use futures::future::LocalBoxFuture;
use rand::Rng;
use serde_json::{json, Value};
use uuid::Uuid;

use retail_crm::config::Config;
use retail_crm::db::embedded::{LocalPostgres, LocalPostgresOptions};
use retail_crm::state::AppState;

/// The key every `TestApp` signs its tokens with.
pub const JWT_SECRET: &[u8] = b"integration-tests-jwt-secret-0123456789abcdef";
/// The migrated database every test's database is cloned from.
pub const TEMPLATE_DB: &str = "crm_template";

// ---------------------------------------------------------------------------------------------
// The database server and the template
// ---------------------------------------------------------------------------------------------

enum Server {
    /// Our own cluster; kept in a static so it is never dropped (the watchdog stops it at exit).
    Embedded(LocalPostgres),
    /// `TEST_DATABASE_URL`.
    External(String),
}

impl Server {
    fn url(&self, db: &str) -> String {
        match self {
            Server::Embedded(pg) => pg.url(db),
            Server::External(url) => with_database(url, db),
        }
    }

    /// Where to run `CREATE DATABASE`: `postgres` on our cluster, the given database otherwise.
    fn admin_url(&self) -> String {
        match self {
            Server::Embedded(pg) => pg.url("postgres"),
            Server::External(url) => url.clone(),
        }
    }
}

/// Replaces the database name in a `postgres://user@host:port/db?params` URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let server = match std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.trim().is_empty()) {
            Some(url) => Server::External(url),
            None => Server::Embedded(start_embedded()),
        };
        create_template(&server);
        server
    })
}

fn start_embedded() -> LocalPostgres {
    // Short: the socket path must stay under ~100 bytes.
    let dir = PathBuf::from(format!("/tmp/rcrm-{}-{:08x}", std::process::id(), rand::thread_rng().gen::<u32>()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let pg = LocalPostgres::start(LocalPostgresOptions {
        data_dir: dir.join("data"),
        socket_dir: dir.join("sock"),
        port: 5432,
        fast_unsafe: true,
        max_connections: 500,
        wal_archive_dir: None,
        settings: Vec::new(),
    })
    .unwrap_or_else(|e| panic!("starting the test PostgreSQL (or set TEST_DATABASE_URL): {e}"));
    pg.stop_when_process_exits(std::process::id(), Some(&dir))
        .unwrap_or_else(|e| panic!("starting the PostgreSQL watchdog: {e}"));
    pg
}

fn connect(url: &str) -> PgConnection {
    PgConnection::establish(url).unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
}

fn create_template(server: &Server) {
    let mut admin = connect(&server.admin_url());
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {TEMPLATE_DB}"))
        .unwrap_or_else(|e| panic!("dropping an old {TEMPLATE_DB}: {e}"));
    admin
        .batch_execute(&format!("CREATE DATABASE {TEMPLATE_DB}"))
        .unwrap_or_else(|e| panic!("creating {TEMPLATE_DB}: {e}"));
    {
        let mut conn = connect(&server.url(TEMPLATE_DB));
        retail_crm::db::run_migrations(&mut conn).unwrap_or_else(|e| panic!("migrating {TEMPLATE_DB}: {e}"));
        // Dropping the connection closes it: nobody may be connected to a template while it is cloned.
    }
}

/// A fresh database cloned from the migrated template; returns its name and URL.
pub fn fresh_database() -> (String, String) {
    let server = server();
    let name = format!("t_{}", Uuid::new_v4().simple());
    let mut admin = connect(&server.admin_url());
    let mut attempt = 0;
    loop {
        match admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")) {
            Ok(()) => break,
            // The template's last session may still be exiting; PostgreSQL waits 5 s, we retry a few times.
            Err(e) if attempt < 5 && e.to_string().contains("being accessed by other users") => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("creating test database {name}: {e}"),
        }
    }
    let url = server.url(&name);
    (name, url)
}

// ---------------------------------------------------------------------------------------------
// TestApp
// ---------------------------------------------------------------------------------------------

type CallFn = dyn Fn(actix_http::Request) -> LocalBoxFuture<'static, HttpResponse<BoxBody>>;

/// The real application in-process, on its own fresh database.
///
/// Methods take `&self`, so several requests can be built and awaited together
/// (`futures::future::join_all`): database work runs on the blocking pool, not on the test's task.
pub struct TestApp {
    call: Rc<CallFn>,
    pub state: web::Data<AppState>,
    /// The domains' runtime the app was built with (the campaign runner's wake, the catalogue).
    pub runtime: retail_crm::Runtime,
    pub db_name: String,
    pub db_url: String,
    /// The test breaks the ledger to see the audit find it: no audit when it ends.
    ledger_broken_on_purpose: std::cell::Cell<bool>,
}

pub struct TestAppBuilder {
    config: Config,
    pool_size: u32,
}

impl TestAppBuilder {
    pub fn config(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    pub fn body_limit(self, bytes: usize) -> Self {
        self.config(|c| c.body_limit = bytes)
    }

    pub fn pool_size(mut self, size: u32) -> Self {
        self.pool_size = size;
        self
    }

    pub async fn build(self) -> TestApp {
        let (db_name, db_url) = fresh_database();
        self.build_on(db_name, db_url).await
    }

    async fn build_on(self, db_name: String, db_url: String) -> TestApp {
        let pool = retail_crm::db::build_pool(&db_url, self.pool_size, self.config.pool_timeout)
            .unwrap_or_else(|e| panic!("building the pool for {db_name}: {e}"));
        let mut config = self.config;
        config.database_url = Some(db_url.clone());
        config.jwt_secret = Some(String::from_utf8_lossy(JWT_SECRET).into_owned());
        config.pool_size = self.pool_size;
        let state =
            web::Data::new(AppState::new(pool, config, JWT_SECRET).unwrap_or_else(|e| panic!("app state: {e}")));
        let runtime = retail_crm::Runtime::default();
        let service = Rc::new(actix_web::test::init_service(retail_crm::app(state.clone(), runtime.clone())).await);
        let call: Rc<CallFn> = Rc::new(move |req| {
            let fut = service.call(req);
            Box::pin(async move {
                match fut.await {
                    Ok(res) => res.map_into_boxed_body().into_parts().1,
                    // What a real server would send for an error that escaped every handler.
                    Err(err) => err.error_response(),
                }
            })
        });
        TestApp { call, state, runtime, db_name, db_url, ledger_broken_on_purpose: Default::default() }
    }
}

impl TestApp {
    pub async fn new() -> TestApp {
        TestApp::builder().build().await
    }

    /// Another instance of the service on this test's database — its own pool, clock and
    /// scheduler — as a second server behind a load balancer would be. Its clock starts at this
    /// one's time.
    /// This test corrupts the ledger on purpose (to test the audit): its drop audits nothing.
    pub fn expect_ledger_violations(&self) {
        self.ledger_broken_on_purpose.set(true);
    }

    pub async fn another_instance(&self) -> TestApp {
        let other = TestApp::builder().build_on(self.db_name.clone(), self.db_url.clone()).await;
        other.state.clock.set(self.now());
        other
    }

    /// The default configuration, except that webhook receivers may be on loopback (the tests'
    /// receivers are); a test of the address policy switches that off.
    pub fn builder() -> TestAppBuilder {
        let config = Config { pool_timeout: Duration::from_secs(5), webhook_allow_private: true, ..Config::default() };
        TestAppBuilder { config, pool_size: 8 }
    }

    /// "Now" as the app sees it (its `Clock`): tests never read the wall clock themselves.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.state.clock.now()
    }

    /// The app's "now" as a SQL literal, for fixtures written straight to the database: SQL in a
    /// test never calls `now()`, so a pinned clock and the data agree.
    pub fn sql_now(&self) -> String {
        format!("'{}'::timestamptz", self.now().to_rfc3339())
    }

    /// The stored events whose type starts with `prefix` (e.g. `"lead."`), after checking SPEC §5/§10
    /// on each: every kind in `kinds` was written, none carries any of `words` (free text, contact
    /// data), and each names the store that holds its object.
    #[track_caller]
    pub fn assert_events_carry_ids_not_words(
        &self, prefix: &str, kinds: &[&str], words: &[&str], store: &str,
    ) -> Vec<(String, Value)> {
        use diesel::prelude::*;
        use retail_crm::schema::events;
        let rows: Vec<(String, Value)> = events::table
            .filter(events::event_type.like(format!("{prefix}%")))
            .select((events::event_type, events::data))
            .load(&mut self.conn())
            .unwrap_or_else(|e| panic!("events: {e}"));
        let written: std::collections::BTreeSet<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        for kind in kinds {
            assert!(written.contains(kind), "{kind} missing: {written:?}");
        }
        for (kind, data) in &rows {
            let text = data.to_string();
            for w in words {
                assert!(!text.contains(w), "{kind} carries {w:?}: {text}");
            }
            assert_eq!(data["store_id"].as_str(), Some(store), "{kind} names its store: {text}");
        }
        rows
    }

    /// A new connection to this test's database, outside the app's pool.
    pub fn connect(&self) -> PgConnection {
        connect(&self.db_url)
    }

    /// A pooled connection (the same pool the app uses).
    pub fn conn(&self) -> retail_crm::db::PooledConn {
        self.state.pool.get().unwrap_or_else(|e| panic!("pool checkout: {e}"))
    }

    // --- tokens, minted directly (no argon2, no database) -----------------------------------

    pub fn token_for(&self, sub: &str, scopes: &[&str], store_id: Option<Uuid>) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        self.state.tokens.issue(sub, &scopes, store_id).unwrap_or_else(|e| panic!("issuing a token: {e}"))
    }

    /// A token for a made-up API client with these scopes.
    pub fn token(&self, scopes: &[&str]) -> String {
        self.token_for(&format!("client:{}", Uuid::new_v4()), scopes, None)
    }

    pub fn admin_token(&self) -> String {
        self.token(&["admin"])
    }

    /// A token bound to one store, as a POS client's would be.
    pub fn store_token(&self, scopes: &[&str], store_id: Option<Uuid>) -> String {
        self.token_for(&format!("client:{}", Uuid::new_v4()), scopes, store_id)
    }

    // --- requests ---------------------------------------------------------------------------

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder<'_> {
        RequestBuilder { app: self, req: TestRequest::default().method(method).uri(path) }
    }
    pub fn get(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::GET, path)
    }
    pub fn post(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::POST, path)
    }
    pub fn put(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::PUT, path)
    }
    pub fn patch(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::PATCH, path)
    }
    pub fn delete(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::DELETE, path)
    }

    // --- fixtures through the API -----------------------------------------------------------

    /// Creates a real API client row (`POST /v1/api-clients`), for tests that need revocation
    /// or the client-credentials grant.
    pub async fn create_api_client(&self, scopes: &[&str], store_id: Option<Uuid>) -> ApiClient {
        let res = self
            .post("/v1/api-clients")
            .token(&self.admin_token())
            .json(&json!({"name": "test client", "scopes": scopes, "store_id": store_id}))
            .send()
            .await;
        res.assert_status(201);
        ApiClient {
            id: res.uuid("id"),
            client_id: res.str("client_id").to_string(),
            client_secret: res.str("client_secret").to_string(),
            body: res.body,
        }
    }

    /// `POST /v1/auth/token` with client credentials; panics unless it answers 200.
    pub async fn client_credentials_token(&self, client_id: &str, client_secret: &str) -> String {
        let res = self
            .post("/v1/auth/token")
            .json(&json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}))
            .send()
            .await;
        res.assert_status(200);
        res.str("access_token").to_string()
    }

    /// Creates a store with the admin token and returns its body.
    pub async fn create_store(&self, code: &str) -> Value {
        let res = self
            .post("/v1/stores")
            .token(&self.admin_token())
            .json(&json!({"code": code, "name": format!("Store {code}"), "city": "北京", "district": "朝阳区"}))
            .send()
            .await;
        res.assert_status(201);
        res.body
    }

    /// Creates a store with the admin token and returns its id.
    pub async fn store_id(&self, code: &str) -> Uuid {
        let store = self.create_store(code).await;
        store["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no store id: {store}"))
    }

    /// Creates a staff member with the admin token and returns its body.
    pub async fn create_staff(&self, body: Value) -> Value {
        let res = self.post("/v1/staff").token(&self.admin_token()).json(&body).send().await;
        res.assert_status(201);
        res.body
    }

    /// Deactivates a staff member as an admin does: a PATCH of `active` (staff are never deleted).
    pub async fn deactivate_staff(&self, id: impl std::fmt::Display) {
        let res = self.patch(&format!("/v1/staff/{id}")).token(&self.admin_token()).json(&json!({"active": false}));
        res.send().await.assert_status(200);
    }

    /// Follows `next_cursor` through every page of a list, returning all items.
    pub async fn collect_pages(&self, path: &str, token: &str, limit: u32) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
                None => format!("{path}{sep}limit={limit}"),
            };
            let res = self.get(&url).token(token).send().await;
            res.assert_status(200);
            let page = res.body["items"].as_array().cloned().unwrap_or_default();
            assert!(page.len() <= limit as usize, "page larger than the limit: {}", res.text);
            items.extend(page);
            match res.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return items,
            }
        }
        panic!("pagination of {path} did not end");
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

impl Drop for TestApp {
    /// Every test that moved value proves the ledger still balances: the loyalty audit (SPEC §7)
    /// runs over the test's database when its app goes, unless the test corrupted the ledger on
    /// purpose (`expect_ledger_violations`). Then, on a shared `TEST_DATABASE_URL` server, the
    /// test's database is dropped so runs do not pile up databases; the embedded cluster is
    /// deleted whole when the process exits.
    fn drop(&mut self) {
        if !self.ledger_broken_on_purpose.get() && !std::thread::panicking() {
            let mut conn = PgConnection::establish(&self.db_url).expect("the test's database for the ledger audit");
            let report = retail_crm::loyalty::audit::run(&mut conn).expect("the ledger audit");
            assert!(
                report.violations.is_empty(),
                "the ledger does not balance after this test: {:?}",
                &report.violations[..report.violations.len().min(5)]
            );
            // An identity is two rows (its route by identity, its owner row by customer): they agree.
            let unmatched: Vec<Count> = diesel::sql_query(
                "SELECT count(*) AS n FROM customer_identities i FULL JOIN identity_routes r \
                 ON r.kind = i.kind AND r.value = i.value AND r.customer_id = i.customer_id \
                 WHERE i.kind IS NULL OR r.kind IS NULL",
            )
            .load(&mut conn)
            .expect("identities against their routes");
            assert_eq!(unmatched[0].n, 0, "identities and their routes disagree after this test");
        }
        if let Server::External(_) = server() {
            if let Ok(mut admin) = PgConnection::establish(&server().admin_url()) {
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db_name));
            }
        }
    }
}

/// An API client created through the API, with the secret shown at creation.
pub struct ApiClient {
    pub id: Uuid,
    pub client_id: String,
    pub client_secret: String,
    pub body: Value,
}

#[must_use = "a request does nothing until `send().await`"]
pub struct RequestBuilder<'a> {
    app: &'a TestApp,
    req: TestRequest,
}

impl RequestBuilder<'_> {
    pub fn token(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|e| panic!("header name {name}: {e}"));
        let value = HeaderValue::from_str(value).unwrap_or_else(|e| panic!("header value {value:?}: {e}"));
        self.req = self.req.insert_header((name, value));
        self
    }

    /// A JSON body with `Content-Type: application/json`.
    pub fn json(mut self, body: &Value) -> Self {
        self.req = self.req.set_json(body);
        self
    }

    /// Any bytes with the given content type (malformed JSON, text/plain, oversized bodies...).
    pub fn raw(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.req = self.req.insert_header(("content-type", content_type)).set_payload(body.into());
        self
    }

    /// The client's address, as the server would see it on a socket.
    pub fn peer(mut self, address: &str) -> Self {
        let addr = address.parse().unwrap_or_else(|e| panic!("peer address {address}: {e}"));
        self.req = self.req.peer_addr(addr);
        self
    }

    /// Bytes without any content type.
    pub fn payload(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.req = self.req.set_payload(body.into());
        self
    }

    pub async fn send(self) -> TestResponse {
        let fut = (self.app.call)(self.req.to_request());
        let res = fut.await;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = to_bytes(res.into_body()).await.unwrap_or_else(|_| panic!("reading the response body"));
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        TestResponse { status, headers, body, text, bytes: bytes.to_vec() }
    }
}

/// A finished response: status, headers, the body as JSON (`Null` when empty or not JSON) and as text.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
    /// The body as sent (a CSV or a workbook).
    pub bytes: Vec<u8>,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The problem's `code`, or "" when the body has none.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// A string field of the body; panics (with the body) when absent.
    pub fn str(&self, field: &str) -> &str {
        self.body[field].as_str().unwrap_or_else(|| panic!("response has no string field `{field}`: {}", self.text))
    }

    pub fn uuid(&self, field: &str) -> Uuid {
        self.str(field).parse().unwrap_or_else(|e| panic!("`{field}` is not a UUID ({e}): {}", self.text))
    }

    pub fn items(&self) -> Vec<Value> {
        self.body["items"].as_array().cloned().unwrap_or_else(|| panic!("response has no `items` array: {}", self.text))
    }

    /// The fields named in the problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["field"].as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self
    }

    /// An RFC 9457 problem with this status and `code`.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> &Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "problem content type; body: {}",
            self.text
        );
        assert_eq!(self.code(), code, "unexpected problem code; body: {}", self.text);
        assert_eq!(self.body["status"], json!(status), "problem `status` member; body: {}", self.text);
        assert!(self.body["title"].is_string() && self.body["type"].is_string(), "problem members: {}", self.text);
        self
    }
}

/// Every SQL statement the app's pooled connection runs from the moment it is made (BEGIN and
/// COMMIT included): with a pool of one, that is every statement of the requests that follow.
pub struct StatementLog(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl StatementLog {
    /// The statements since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl TestApp {
    pub fn record_statements(&self) -> StatementLog {
        use diesel::connection::{Connection, InstrumentationEvent};
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&seen);
        let mut conn = self.conn();
        let conn: &mut diesel::PgConnection = &mut conn;
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { query, .. } = event {
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(query.to_string());
            }
        });
        StatementLog(seen)
    }
}

/// A finished run of the real `retail-crm` binary.
#[derive(Debug)]
pub struct CliRun {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl TestApp {
    /// Runs the real binary to its end against this test's database (`DATABASE_URL`).
    pub fn cli(&self, args: &[&str]) -> CliRun {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_retail-crm"))
            .args(args)
            .env("DATABASE_URL", &self.db_url)
            .env("RUST_LOG", "warn")
            .env_remove("CRM_DATA_DIR")
            .output()
            .unwrap_or_else(|e| panic!("running retail-crm {args:?}: {e}"));
        CliRun {
            status: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl CliRun {
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert_eq!(self.status, Some(0), "retail-crm failed:\n{}\n{}", self.stdout, self.stderr);
        self
    }

    /// The number after `name:` in the output (`created:   6`).
    #[track_caller]
    pub fn figure(&self, name: &str) -> u64 {
        let prefix = format!("{name}:");
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no `{name}:` figure in:\n{}\n{}", self.stdout, self.stderr))
    }
}

/// A path segment percent-encoded (UTF-8 names such as `童装` in a URL).
pub fn percent_encode(segment: &str) -> String {
    retail_crm::db::embedded::percent_encode(segment.as_bytes())
}

/// Issue 22's oracle, written apart from `files::csv_safe` on purpose: a spreadsheet runs a cell that
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return, unless it is a plain number.
pub fn spreadsheet_would_run(cell: &str) -> bool {
    static NUMBER: OnceLock<regex::Regex> = OnceLock::new();
    let number =
        NUMBER.get_or_init(|| regex::Regex::new(r"^[+-]?[0-9]+(\.[0-9]+)?$").unwrap_or_else(|e| panic!("{e}")));
    cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && !number.is_match(cell)
}
