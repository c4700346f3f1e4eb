//! A real HTTP receiver on loopback for webhook tests: it records what it is sent and answers as
//! the test scripts it (a status, a `Retry-After`, or hanging until released).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

use retail_crm::webhooks::worker::{Settings, Worker};

use crate::support::TestApp;

#[derive(Clone)]
pub enum Reply {
    Status(u16),
    /// 429 or 503 with this `Retry-After`.
    RetryAfter(u16, String),
    /// Holds the request until the notify fires, then answers 200.
    Hang(Arc<tokio::sync::Notify>),
}

#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("webhook body is not JSON: {e}"))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or_else(|| panic!("no {name} header: {:?}", self.headers))
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    default: Option<Reply>,
    received: Vec<Received>,
}

pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    server: actix_web::dev::ServerHandle,
}

async fn receive(req: HttpRequest, body: web::Bytes, inner: web::Data<Arc<Mutex<Inner>>>) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let reply = {
        let mut inner = inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.received.push(Received { headers, body: body.to_vec() });
        inner.script.pop_front().or_else(|| inner.default.clone()).unwrap_or(Reply::Status(200))
    };
    match reply {
        Reply::Status(code) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).expect("a status code")).finish()
        }
        Reply::RetryAfter(code, after) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).expect("a status code"))
                .insert_header(("retry-after", after))
                .finish()
        }
        Reply::Hang(release) => {
            release.notified().await;
            HttpResponse::Ok().finish()
        }
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inner: Arc<Mutex<Inner>> = Default::default();
        let data = web::Data::new(inner.clone());
        let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(receive)))
            .workers(1)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .unwrap_or_else(|e| panic!("binding a receiver: {e}"));
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Receiver { url: format!("http://127.0.0.1:{port}/hooks"), inner, server: handle }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The next requests get these answers, in order; then the default (200 unless `always`).
    pub fn reply_next(&self, replies: impl IntoIterator<Item = Reply>) {
        self.with(|i| i.script.extend(replies));
    }

    pub fn always(&self, reply: Reply) {
        self.with(|i| i.default = Some(reply));
    }

    pub fn received(&self) -> Vec<Received> {
        self.with(|i| i.received.clone())
    }

    /// Waits (on the wall clock, never asserting on it) until `n` requests arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..1000 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the receiver got {} requests, expected {n}", self.received().len());
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let server = self.server.clone();
        actix_rt::spawn(async move { server.stop(false).await });
    }
}

/// Whether one of the `webhook-signature` header's signatures verifies with `secret`, as a receiver
/// checks it with the Standard Webhooks libraries: HMAC-SHA256 over `{id}.{timestamp}.{body}` keyed
/// by the base64 after `whsec_`.
pub fn signed_with(secret: &str, r: &Received) -> bool {
    let key = BASE64.decode(secret.trim_start_matches("whsec_")).unwrap_or_else(|e| panic!("secret: {e}"));
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap_or_else(|e| panic!("{e}"));
    mac.update(format!("{}.{}.", r.header("webhook-id"), r.header("webhook-timestamp")).as_bytes());
    mac.update(&r.body);
    let expected = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    r.header("webhook-signature").split(' ').any(|s| s == expected)
}

/// A delivery worker on the app's database and clock, with the app's address policy.
pub fn worker(app: &TestApp, per_subscription: i64) -> Worker {
    let allow_private = app.state.config.webhook_allow_private;
    let settings = Settings { per_subscription, allow_private, ..Settings::default() };
    Worker::new(app.state.pool.clone(), app.state.clock.clone(), settings)
}

pub const HOOKS: &[&str] = &["webhooks:write"];

/// Subscribes `url` to `types`; returns the subscription's id and secret.
pub async fn subscribe(app: &TestApp, url: &str, types: &[&str]) -> (Uuid, String) {
    let res = app
        .post("/v1/webhook-subscriptions")
        .token(&app.token(HOOKS))
        .json(&json!({"url": url, "event_types": types}))
        .send()
        .await;
    res.assert_status(201);
    (res.uuid("id"), res.str("secret").to_string())
}

/// A subscription's deliveries, newest first.
pub async fn deliveries(app: &TestApp, id: Uuid) -> Vec<Value> {
    let res = app.get(&format!("/v1/webhook-subscriptions/{id}/deliveries")).token(&app.token(HOOKS)).send().await;
    res.assert_status(200);
    res.items()
}

/// A secret of the right shape that signed nothing.
pub fn new_test_secret() -> String {
    retail_crm::webhooks::rules::new_secret()
}
