//! Issue 23 (SPEC §16): `retail-crm backup` while `serve` serves and sales keep coming,
//! `retail-crm restore` into an empty data directory, and point-in-time recovery from the WAL
//! archive (`CRM_WAL_ARCHIVE_DIR`, `restore --wal-archive --until`) — all through the real binary,
//! each data directory with its embedded cluster, and no PostgreSQL left running by a command.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::import::wait_for;

/// One HTTP/1.0 exchange with a JSON body; `None` when the service cannot be reached.
fn http(port: u16, method: &str, path: &str, token: Option<&str>, body: &Value) -> Option<(u16, Value)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let body = if body.is_null() { String::new() } else { body.to_string() };
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(format!("{head}{body}").as_bytes()).ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let status = reply.split_whitespace().nth(1)?.parse().ok()?;
    let json = reply.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str(b).ok()).unwrap_or(Value::Null);
    Some((status, json))
}

/// A scratch place with short paths (the clusters' sockets live under it), removed at the end.
struct Place(PathBuf);

impl Place {
    fn new() -> Place {
        let root = PathBuf::from(format!("/tmp/rcrm-b{}", &Uuid::new_v4().simple().to_string()[..8]));
        std::fs::create_dir_all(&root).expect("the scratch directory");
        // The clusters run as the postgres user when the tests run as root.
        let _ = Command::new("chmod").arg("0711").arg(&root).status();
        Place(root)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The binary with `data` as its CRM_DATA_DIR (and the WAL archive, when given).
    fn command(&self, data: &Path, archive: Option<&Path>, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_retail-crm"));
        c.args(args)
            .env_remove("DATABASE_URL")
            .env_remove("CRM_WAL_ARCHIVE_DIR")
            .env("CRM_DATA_DIR", data)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        if let Some(archive) = archive {
            c.env("CRM_WAL_ARCHIVE_DIR", archive);
        }
        c
    }

    /// Runs the binary to a successful end; with nothing serving `data`, no PostgreSQL may be left
    /// running there.
    #[track_caller]
    fn run(&self, data: &Path, archive: Option<&Path>, args: &[&str], serving: bool) -> Output {
        let out = self.command(data, archive, args).output().expect("running retail-crm");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "retail-crm {args:?} failed:\n{text}");
        assert_eq!(running(data), serving, "retail-crm {args:?}: a serve's cluster runs on, no other:\n{text}");
        out
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn running(data: &Path) -> bool {
    data.join("pg/postmaster.pid").exists()
}

/// `serve` on a data directory, stopped (SIGTERM) when dropped.
struct Serve {
    child: Child,
    port: u16,
    data: PathBuf,
}

impl Serve {
    fn start(place: &Place, data: &Path, archive: Option<&Path>) -> Serve {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = place
            .command(data, archive, &["serve"])
            .env("CRM_BIND", format!("127.0.0.1:{port}"))
            .env("CRM_JWT_SECRET", "backup-test-jwt-secret-0123456789abcdef")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting serve");
        wait_for("serve answering /readyz", || {
            http(port, "GET", "/readyz", None, &Value::Null).map(|r| r.0) == Some(200)
        });
        Serve { child, port, data: data.to_path_buf() }
    }

    /// A token for the admin client generated on the first start of `first` (restored with it).
    fn token(&self, first: &Path) -> String {
        let text = std::fs::read_to_string(first.join("admin-client.json")).expect("the admin client");
        let client: Value = serde_json::from_str(&text).expect("its JSON");
        let body = json!({"grant_type": "client_credentials", "client_id": client["client_id"],
                          "client_secret": client["client_secret"]});
        let (status, answer) = http(self.port, "POST", "/v1/auth/token", None, &body).expect("the token endpoint");
        assert_eq!(status, 200, "{answer}");
        answer["access_token"].as_str().expect("a token").to_string()
    }

    fn stop(mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
        wait_for("the cluster stopping with serve", || !running(&self.data));
    }
}

/// A connection to the database of the cluster running on `data`.
fn connect(data: &Path) -> PgConnection {
    let socket = crate::support::percent_encode(&data.join("run").display().to_string());
    PgConnection::establish(&format!("postgres://postgres@localhost/retail_crm?host={socket}&port=5432"))
        .expect("connecting to the cluster")
}

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

fn text(conn: &mut PgConnection, sql: &str) -> String {
    diesel::sql_query(sql).get_result::<Text>(conn).expect(sql).text
}

/// The receipts (external ids) of the sales in the database of the cluster running on `data`.
fn receipts(data: &Path) -> std::collections::BTreeSet<String> {
    let mut conn = connect(data);
    diesel::sql_query("SELECT external_id AS text FROM orders WHERE external_id LIKE 'S-%'")
        .load::<Text>(&mut conn)
        .expect("the orders")
        .into_iter()
        .map(|r| r.text)
        .collect()
}

/// The receipts of a restored data directory, read from its cluster started for the purpose.
fn restored_receipts(data: &Path) -> std::collections::BTreeSet<String> {
    let config = retail_crm::config::Config { data_dir: data.to_path_buf(), ..Default::default() };
    let options = retail_crm::server::embedded_options(&config).expect("the cluster's options");
    let pg = retail_crm::db::embedded::LocalPostgres::start(options).expect("the restored cluster");
    let found = receipts(data);
    drop(pg);
    found
}

fn sale(receipt: &str) -> Value {
    json!({"external_id": receipt, "channel": "tmall", "occurred_at": "2026-01-02T10:00:00+08:00",
           "lines": [{"sku": "BK-1", "quantity": 1, "unit_price": "10.00"}]})
}

/// Sales posted one after another (so each is committed before the next is sent) until stopped;
/// the receipts acknowledged (201), in order.
fn post_until(port: u16, token: String, stop: Arc<AtomicBool>, acked: Arc<Mutex<Vec<String>>>) {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let receipt = format!("S-{n:06}");
        if let Some((201, _)) = http(port, "POST", "/v1/orders", Some(&token), &sale(&receipt)) {
            acked.lock().expect("the list").push(receipt);
        }
    }
}

#[test]
fn a_backup_taken_while_selling_restores_every_sale_it_holds_and_the_archive_restores_to_a_moment() {
    let place = Place::new();
    let (live, archive, first, second) = (place.join("live"), place.join("wal"), place.join("b1"), place.join("b2"));
    let serve = Serve::start(&place, &live, Some(&archive));
    let token = serve.token(&live);

    // Sales keep coming while the backup is taken.
    let (stop, acked) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::new())));
    let poster = std::thread::spawn({
        let (port, token, stop, acked) = (serve.port, token.clone(), stop.clone(), acked.clone());
        move || post_until(port, token, stop, acked)
    });
    let acked_now = || acked.lock().expect("the list").clone();
    wait_for("the first sales", || acked_now().len() >= 20);
    let before_backup = acked_now();
    let out = place.run(&live, Some(&archive), &["backup", first.to_str().expect("a path")], true);
    let before_backup_ended = acked_now();
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(summary.contains("verified:  yes"), "{summary}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("backup: done in"), "progress on stderr");
    let described: Value =
        serde_json::from_str(&std::fs::read_to_string(first.join("backup.json")).expect("the description"))
            .expect("its JSON");
    assert!(described["server_version"].as_str().is_some_and(|v| v.starts_with("15")), "{described}");
    wait_for("sales after the backup", || acked_now().len() >= before_backup_ended.len() + 10);
    stop.store(true, Ordering::SeqCst);
    poster.join().expect("the poster");
    let first_sales = acked_now();

    // A moment between two groups of sales: the point-in-time restore stops there.
    let mut conn = connect(&live);
    let moment = text(
        &mut conn,
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS text",
    );
    let later: Vec<String> = (1..=5).map(|n| format!("S-L{n}")).collect();
    for receipt in &later {
        assert_eq!(http(serve.port, "POST", "/v1/orders", Some(&token), &sale(receipt)).map(|r| r.0), Some(201));
    }
    // The segment holding the later sales finished and archived, as the next one would be anyway.
    let segment = text(&mut conn, "SELECT pg_walfile_name(pg_switch_wal()) AS text");
    wait_for("the WAL archived", || {
        text(&mut conn, "SELECT coalesce(last_archived_wal, '') AS text FROM pg_stat_archiver") >= segment
    });
    drop(conn);
    serve.stop();

    // With nothing serving, `backup` starts the cluster for itself and stops it (`run` checks).
    place.run(&live, None, &["backup", second.to_str().expect("a path")], false);
    // A backup goes into a new or empty directory only.
    let refused = place.command(&live, None, &["backup", second.to_str().expect("a path")]).output().expect("backup");
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("is not empty"));

    // The backup restored into an empty data directory and served: every sale acknowledged before
    // the backup began is there, and those it holds are those acknowledged first — no gaps.
    let restored = place.join("r1");
    let out = place.run(&restored, None, &["restore", first.to_str().expect("a path")], false);
    assert!(String::from_utf8_lossy(&out.stderr).contains("restore: copying: done in"), "progress on stderr");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(restored.join("pg")).expect("pg").permissions());
    assert_eq!(mode & 0o777, 0o700);
    let serve = Serve::start(&place, &restored, None);
    serve.token(&live);
    let held = receipts(&restored);
    serve.stop();
    assert!(held.iter().all(|r| first_sales.contains(r)), "only sales that were posted");
    let prefix = first_sales.iter().take_while(|r| held.contains(*r)).count();
    assert_eq!(prefix, held.len(), "the sales the backup holds are the first acknowledged, without a gap");
    assert!(prefix >= before_backup.len(), "every sale acknowledged before the backup began is there");
    assert!(prefix > before_backup.len(), "sales acknowledged while the backup ran are there too");
    eprintln!(
        "backup under load: {} sales acknowledged before it began, {} by its end, {} in the backup; {} bytes",
        before_backup.len(),
        before_backup_ended.len(),
        held.len(),
        described["bytes"]
    );

    // A second restore into the same data directory is refused.
    let again =
        place.command(&restored, None, &["restore", first.to_str().expect("a path")]).output().expect("restore");
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("already holds a cluster"));

    // Point in time: the backup, then the archive up to the moment — every sale acknowledged before
    // it, none after.
    let until = place.join("r2");
    let args = ["restore", first.to_str().expect("a path"), "--wal-archive", archive.to_str().expect("a path")];
    place.run(&until, None, &[&args[..], &["--until", &moment]].concat(), false);
    let held = restored_receipts(&until);
    assert_eq!(held.len(), first_sales.len(), "every sale acknowledged before the moment");
    assert!(first_sales.iter().all(|r| held.contains(r)) && later.iter().all(|r| !held.contains(r)));
    assert!(!running(&until));

    // The whole archive: the later sales too.
    let all = place.join("r3");
    place.run(&all, None, &args, false);
    let held = restored_receipts(&all);
    assert!(first_sales.iter().chain(&later).all(|r| held.contains(r)), "{} of {}", held.len(), first_sales.len() + 5);
}
