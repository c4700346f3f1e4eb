//! A real `serve` process on a data directory of its own, with its embedded cluster: for what
//! only the whole process shows (signals, its cluster's life, crashes).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

pub struct Served {
    pub dir: PathBuf,
    pub base: String,
    child: Child,
    /// The data directory outlives this process (`restart`).
    keep_dir: bool,
}

/// An answer: status, `Retry-After`, body.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Value,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

impl Served {
    /// Starts `serve` on `dir` (created if missing) with `env` added, and waits until it is ready.
    pub async fn start(dir: &Path, env: &[(&str, &str)]) -> Served {
        std::fs::create_dir_all(dir).expect("the data directory");
        // The embedded cluster runs as the postgres user when the tests run as root.
        let _ = Command::new("chmod").args(["755", &dir.display().to_string()]).status();
        let port = free_port();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("serve.log")).expect("the log");
        let child = Command::new(env!("CARGO_BIN_EXE_retail-crm"))
            .arg("serve")
            .env_remove("DATABASE_URL")
            .env("CRM_DATA_DIR", dir)
            .env("CRM_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting retail-crm serve");
        let served =
            Served { dir: dir.to_path_buf(), base: format!("http://127.0.0.1:{port}"), child, keep_dir: false };
        served.wait_ready().await;
        served
    }

    /// This process ended (killed if it still runs), a new `serve` on the same data directory.
    pub async fn restart(mut self, env: &[(&str, &str)]) -> Served {
        self.keep_dir = true;
        let dir = self.dir.clone();
        drop(self);
        Served::start(&dir, env).await
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }

    async fn wait_ready(&self) {
        for _ in 0..600 {
            if self.get("/readyz", None).await.is_some_and(|a| a.status == 200) {
                return;
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("serve was not ready within 60 s:\n{}", self.log());
    }

    /// A token for the admin client `serve` generated on its fresh data directory.
    pub async fn admin_token(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("admin-client.json")).expect("the generated admin client");
        let client: Value = serde_json::from_str(&text).expect("its JSON");
        let body = json!({"grant_type": "client_credentials", "client_id": client["client_id"],
                          "client_secret": client["client_secret"]});
        let answer = self.post("/v1/auth/token", None, None, &body).await.expect("an answer");
        answer.body["access_token"].as_str().expect("a token").to_string()
    }

    async fn send(&self, request: awc::ClientRequest, body: Option<&Value>) -> Option<Answer> {
        let sent = match body {
            Some(body) => request.send_json(body).await,
            None => request.send().await,
        };
        let mut response = sent.ok()?;
        let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = response.body().limit(16 * 1024 * 1024).await.ok()?;
        Some(Answer {
            status: response.status().as_u16(),
            retry_after,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        })
    }

    fn client() -> awc::Client {
        awc::Client::builder().timeout(Duration::from_secs(60)).finish()
    }

    /// `None` when nothing answered (refused, reset).
    pub async fn get(&self, path: &str, token: Option<&str>) -> Option<Answer> {
        let mut request = Self::client().get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, key: Option<&str>, body: &Value) -> Option<Answer> {
        let mut request = Self::client().post(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.insert_header(("idempotency-key", key));
        }
        self.send(request, Some(body)).await
    }

    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill").args([&format!("-{name}"), &self.pid().to_string()]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -{name}");
    }

    /// Waits for the process to end by itself, up to `limit`.
    pub async fn ended(&mut self, limit: Duration) -> Option<ExitStatus> {
        let polls = limit.as_millis() / 50;
        for _ in 0..polls {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Whether the embedded cluster of the data directory is running.
    pub fn cluster_running(&self) -> bool {
        self.dir.join("pg/postmaster.pid").exists()
    }
}

impl Drop for Served {
    /// Kills a process still running, then lets a command adopt and stop the cluster it left
    /// (commands stop a cluster no `serve` uses), and removes the data directory.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if self.cluster_running() && !self.keep_dir {
            let _ = Command::new(env!("CARGO_BIN_EXE_retail-crm"))
                .arg("migrate")
                .env_remove("DATABASE_URL")
                .env("CRM_DATA_DIR", &self.dir)
                .env("RUST_LOG", "warn")
                .output();
        }
        if !self.keep_dir && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
