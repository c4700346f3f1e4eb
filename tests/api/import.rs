//! `retail-crm import customers|orders FILE.csv` (SPEC §14), driven through the real binary against
//! the test's database: duplicates in the file and against the API's customers become one profile,
//! rejects name their line and reason, a re-run changes nothing, and a run killed mid-file and
//! started again ends exactly where an uninterrupted one does.

use std::path::{Path, PathBuf};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::TestApp;

mod orders;
mod rejects_file;

const PII: &[&str] = &["customers:read", "customers:pii"];

/// A directory of this test's own for CSV files.
pub fn workdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rcrm-import-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path.display().to_string()
}

/// The rows of a rejects file: (line, reason, the row's own cells).
pub fn rejects(file: &str) -> Vec<(u64, String, Vec<String>)> {
    let path = format!("{file}.rejects.csv");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "the rejects file starts with a BOM (Excel shows Chinese)");
    let mut reader = csv::Reader::from_reader(&bytes[..]);
    let header: Vec<String> = reader.headers().unwrap_or_else(|e| panic!("{e}")).iter().map(str::to_string).collect();
    assert_eq!(header[..2], ["line", "reason"]);
    reader
        .records()
        .map(|r| {
            let r = r.unwrap_or_else(|e| panic!("{e}"));
            let line = r[0].parse().unwrap_or_else(|e| panic!("line {:?}: {e}", &r[0]));
            (line, r[1].to_string(), r.iter().skip(2).map(str::to_string).collect())
        })
        .collect()
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

pub fn count(app: &TestApp, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(&mut app.conn()).unwrap_or_else(|e| panic!("{sql}: {e}")).n
}

async fn customer_by_phone(app: &TestApp, phone: &str) -> Value {
    let res = app.get(&format!("/v1/customers?q={phone}")).token(&app.token(PII)).send().await;
    res.assert_status(200);
    let items = res.items();
    assert_eq!(items.len(), 1, "one profile has {phone}: {items:?}");
    items[0].clone()
}

/// With a BOM and Windows line endings; a quoted address spans two lines, so later line numbers
/// count the line break inside it.
const CUSTOMERS: &str =
    "\u{feff}phone,email,external:old_crm,name,gender,birthday,city,address,marketing_sms,tags,home_store\r\n\
13800000001,api@example.com,C001,张三,男,1990/5/12,北京,,1,vip,\r\n\
13900000002,,C002,李四,女,19880101,上海,,,,BJ01\r\n\
139-0000-0002,lisi@example.com,,Li Si,,,,,,老客户,\r\n\
12345,,C003,王五,,,,,,,\r\n\
,,C002,,,,,,,,\r\n\
13900000002,,C001,,,,,,,,\r\n\
,,,孤儿,,,,,,,\r\n\
13600000009,,,赵六,,1990-13-45,,,,,\r\n\
+86 136 0000 0004,,,欧阳娜娜,F,,北京,\"朝阳区建国路88号,\r\n3单元\",否,,\r\n\
abc,,,坏电话,,,,,,,\r\n";

#[actix_web::test]
async fn customers_merge_duplicates_fill_blanks_reject_bad_rows_and_a_rerun_changes_nothing() {
    let app = TestApp::new().await;
    let store = app.store_id("BJ01").await;
    let created = app
        .post("/v1/customers")
        .token(&app.token(&["customers:write"]))
        .json(&json!({"name": "API 客户", "phone": "13800000001"}))
        .send()
        .await;
    created.assert_status(201);
    let api_customer = created.uuid("id");
    let dir = workdir();
    let file = write(&dir, "customers.csv", CUSTOMERS.as_bytes());

    let run = app.cli(&["import", "customers", &file]);
    run.assert_success();
    assert_eq!(
        ["read", "created", "updated", "unchanged", "rejected"].map(|f| run.figure(f)),
        [10, 2, 2, 1, 5],
        "lines 3 and 10 create, 2 (the API's customer) and 4 (line 3 again, its phone written otherwise) \
         fill blanks, 6 finds line 3's profile with nothing new: {}",
        run.stdout
    );

    let rejected = rejects(&file);
    let lines: Vec<(u64, &str)> =
        rejected.iter().map(|(line, reason, _)| (*line, reason.split(':').next().unwrap_or(""))).collect();
    assert_eq!(
        lines,
        [
            (5, "validation_failed"),
            (7, "identity_conflict"),
            (8, "no_identity"),
            (9, "validation_failed"),
            (12, "validation_failed")
        ]
    );
    assert!(rejected[0].1.contains("phone"), "{}", rejected[0].1);
    assert_eq!(rejected[0].2[..4], ["12345", "", "C003", "王五"], "the row's own cells follow");
    assert!(rejected[1].1.contains(&api_customer.to_string()), "names both owners: {}", rejected[1].1);
    assert!(rejected[3].1.contains("birthday"), "{}", rejected[3].1);
    assert_eq!(rejected[4].2[3], "坏电话");

    // The API's customer keeps its name and gains what it lacked.
    let res = app.get(&format!("/v1/customers/{api_customer}")).token(&app.token(PII)).send().await;
    res.assert_status(200);
    let c = &res.body;
    assert_eq!(
        (&c["name"], &c["email"], &c["gender"], &c["birthday"], &c["city"]),
        (&json!("API 客户"), &json!("api@example.com"), &json!("male"), &json!("1990-05-12"), &json!("北京"))
    );
    assert_eq!(c["consents"]["marketing_sms"]["granted"], json!(true));
    assert_eq!(c["tags"], json!(["vip"]));
    let identities: Vec<(String, String)> = c["identities"]
        .as_array()
        .map(|a| a.iter().map(|i| (i["kind"].to_string(), i["value"].to_string())).collect())
        .unwrap_or_default();
    assert!(identities.contains(&("\"external:old_crm\"".into(), "\"C001\"".into())), "{identities:?}");

    let lisi = customer_by_phone(&app, "13900000002").await;
    assert_eq!(
        (&lisi["name"], &lisi["email"], &lisi["gender"], &lisi["birthday"], &lisi["tags"]),
        (&json!("李四"), &json!("lisi@example.com"), &json!("female"), &json!("1988-01-01"), &json!(["老客户"]))
    );
    assert_eq!((&lisi["home_store_id"], &lisi["source_channel"]), (&json!(store), &json!("import")));
    let nana = customer_by_phone(&app, "13600000004").await;
    assert!(nana["address"].as_str().is_some_and(|a| a.starts_with("朝阳区建国路88号,")), "{nana}");
    assert_eq!(nana["consents"]["marketing_sms"]["granted"], json!(false));

    // As the API's paths leave them: events, segment facts, the audit log.
    assert_eq!(count(&app, "SELECT count(*) AS n FROM events WHERE type = 'customer.created'"), 3);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM events WHERE type = 'customer.created' AND data->>'source_channel' = 'import'"
        ),
        2
    );
    let fields = count(
        &app,
        &format!(
            "SELECT count(*) AS n FROM events WHERE type = 'customer.updated' AND subject_id = '{api_customer}' \
             AND data->'fields' = '[\"gender\", \"birthday\", \"email\", \"city\", \"consents\", \"tags\", \"identities\"]'"
        ),
    );
    assert_eq!(fields, 1, "one customer.updated naming the fields it filled");
    assert_eq!(count(&app, "SELECT count(*) AS n FROM customer_facts"), 3);
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM customer_facts WHERE id = '{api_customer}' AND city = '北京' \
                 AND consent_marketing_sms"
            )
        ),
        1,
        "the segment row follows the profile"
    );
    #[derive(QueryableByName)]
    struct Action {
        #[diesel(sql_type = Text)]
        action: String,
        #[diesel(sql_type = Text)]
        actor: String,
    }
    let audit: Vec<Action> =
        diesel::sql_query("SELECT action, actor FROM audit_log WHERE resource = 'import_run' ORDER BY id")
            .load(&mut app.conn())
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(audit.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(), ["import.start", "import.finish"]);
    assert!(audit.iter().all(|a| a.actor.starts_with("cli:")));

    // The same file again: nothing changes, the same rows are rejected for the same reasons.
    let events = count(&app, "SELECT count(*) AS n FROM events");
    let first_rejects = std::fs::read(format!("{file}.rejects.csv")).unwrap_or_default();
    let again = app.cli(&["import", "customers", &file]);
    again.assert_success();
    assert_eq!(["read", "created", "updated", "unchanged", "rejected"].map(|f| again.figure(f)), [10, 0, 0, 5, 5]);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM events"), events, "a re-run writes no event");
    assert_eq!(std::fs::read(format!("{file}.rejects.csv")).unwrap_or_default(), first_rejects);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM customers"), 3);
}

/// 40 rows: the last 15 repeat earlier customers (by phone) with an email each (two of those
/// customers' first rows had bad phones, so their repeats create them); every 7th row has a bad phone. In batches of 4, duplicates meet profiles committed in earlier batches.
fn generated_customers() -> String {
    let mut csv = String::from("phone,name,email,city\n");
    for i in 0..40 {
        let n = if i < 25 { i } else { i - 25 };
        let phone = if i % 7 == 3 { format!("bad{i}") } else { format!("1370000{n:04}") };
        let email = if i >= 25 { format!("c{n}@example.com") } else { String::new() };
        csv.push_str(&format!("{phone},客户{n},{email},城市{}\n", n % 3));
    }
    csv
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Profile {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    phone: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    email: Option<String>,
    #[diesel(sql_type = BigInt)]
    identities: i64,
    #[diesel(sql_type = BigInt)]
    events: i64,
}

fn profiles(app: &TestApp) -> Vec<Profile> {
    diesel::sql_query(
        "SELECT c.phone, c.name, c.email, \
             (SELECT count(*) FROM customer_identities i WHERE i.customer_id = c.id) AS identities, \
             (SELECT count(*) FROM events e WHERE e.subject_id = c.id) AS events \
         FROM customers c ORDER BY c.phone",
    )
    .load(&mut app.conn())
    .unwrap_or_else(|e| panic!("{e}"))
}

#[actix_web::test]
async fn a_run_killed_mid_file_and_started_again_ends_as_an_uninterrupted_run() {
    let dir = workdir();
    let csv = generated_customers();

    let whole = TestApp::new().await;
    let whole_file = write(&dir, "whole.csv", csv.as_bytes());
    let uninterrupted = whole.cli(&["import", "customers", &whole_file, "--batch-rows", "4"]);
    uninterrupted.assert_success();

    let app = TestApp::new().await;
    let file = write(&dir, "killed.csv", csv.as_bytes());
    // Dies in the middle of batch 7 (rows 25-28, the first duplicates): its rejects are written,
    // its transaction never commits.
    let killed = app.cli(&["import", "customers", &file, "--batch-rows", "4", "--stop-after-batches", "6"]);
    assert_eq!(killed.status, Some(retail_crm::import::STOPPED_EXIT_CODE), "{killed:?}");
    assert_eq!(count(&app, "SELECT count(*) AS n FROM customers"), 21, "rows 1-24 committed, less 3 bad phones");
    let resumed = app.cli(&["import", "customers", &file, "--batch-rows", "4"]);
    resumed.assert_success();
    assert_eq!(resumed.figure("resumed"), 24, "continues after the 6 committed batches: {}", resumed.stdout);

    for figure in ["read", "created", "updated", "unchanged", "rejected"] {
        assert_eq!(resumed.figure(figure), uninterrupted.figure(figure), "{figure}");
    }
    assert_eq!(
        ["read", "created", "updated", "unchanged", "rejected"].map(|f| resumed.figure(f)),
        [40, 23, 11, 0, 6],
        "{}",
        resumed.stdout
    );
    let whole_rejects = std::fs::read(format!("{whole_file}.rejects.csv")).unwrap_or_default();
    let resumed_rejects = std::fs::read(format!("{file}.rejects.csv")).unwrap_or_default();
    assert_eq!(
        String::from_utf8_lossy(&resumed_rejects),
        String::from_utf8_lossy(&whole_rejects),
        "each rejected row once, in order"
    );
    assert_eq!(rejects(&file).iter().map(|r| r.0).collect::<Vec<_>>(), [5, 12, 19, 26, 33, 40]);
    assert_eq!(profiles(&app), profiles(&whole), "the same profiles, identities and events");
    assert_eq!(count(&app, "SELECT count(*) AS n FROM import_runs WHERE finished_at IS NOT NULL"), 1);
}

#[actix_web::test]
async fn the_help_documents_the_columns() {
    let app = TestApp::new().await;
    let customers = app.cli(&["import", "customers", "--help"]);
    customers.assert_success();
    for column in ["phone", "member_card", "external:<system>", "birthday", "registered_at", "home_store", "attr:<key>"]
    {
        assert!(customers.stdout.contains(column), "{column} in:\n{}", customers.stdout);
    }
    let orders = app.cli(&["import", "orders", "--help"]);
    orders.assert_success();
    for column in ["external_id", "occurred_at", "sku", "unit_price", "paid_amount", "--earn-points"] {
        assert!(orders.stdout.contains(column), "{column} in:\n{}", orders.stdout);
    }
}

#[actix_web::test]
async fn a_file_with_an_unknown_column_or_without_identities_is_refused_before_any_row() {
    let app = TestApp::new().await;
    let dir = workdir();
    let typo = write(&dir, "typo.csv", "phone,nmae\n13800000001,张三\n".as_bytes());
    let run = app.cli(&["import", "customers", &typo]);
    assert_eq!(run.status, Some(1));
    assert!(run.stderr.contains("unknown column 'nmae'"), "{}", run.stderr);
    let anonymous = write(&dir, "anonymous.csv", "name,city\n张三,北京\n".as_bytes());
    let run = app.cli(&["import", "customers", &anonymous]);
    assert_eq!(run.status, Some(1));
    assert!(run.stderr.contains("no identity column"), "{}", run.stderr);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM customers"), 0);
}

/// Polls `ready` every 100 ms for up to two minutes (a cold cluster start on a busy machine).
pub(crate) fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    for _ in 0..1200 {
        if ready() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{what} did not happen within two minutes");
}

fn http_status(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    reply.split_whitespace().nth(1).map(str::to_string)
}

/// SPEC §14: a command on the data directory of a running `serve` uses its cluster, and leaves it
/// running when it ends (it used to stop the cluster under the service).
#[actix_web::test]
async fn an_import_beside_a_running_serve_uses_its_database_and_leaves_it_up() {
    // Short: the cluster's socket lives under it.
    let dir = PathBuf::from(format!("/tmp/rcrm-s{}", &Uuid::new_v4().simple().to_string()[..8]));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::process::Command::new("chmod").arg("0711").arg(&dir).status();
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
    let port = port.unwrap_or_else(|e| panic!("a free port: {e}"));
    let command = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_retail-crm"));
        c.args(args)
            .env_remove("DATABASE_URL")
            .env("CRM_DATA_DIR", &dir)
            .env("CRM_BIND", format!("127.0.0.1:{port}"))
            .env("CRM_JWT_SECRET", "import-beside-serve-jwt-secret-0123456789")
            .env("RUST_LOG", "warn");
        c
    };
    let mut serve = command(&["serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting serve: {e}"));
    wait_for("serve answering /readyz", || http_status(port, "/readyz").as_deref() == Some("200"));
    let postmaster = || {
        std::fs::read_to_string(dir.join("pg/postmaster.pid")).ok().and_then(|t| t.lines().next().map(str::to_string))
    };
    let before = postmaster().unwrap_or_else(|| panic!("no postmaster.pid"));

    let file = write(&dir, "customers.csv", "phone,name\n13800000001,张三\n".as_bytes());
    let out = command(&["import", "customers", &file]).output().unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("created:   1"), "{stdout}");

    assert_eq!(postmaster(), Some(before), "the service's cluster is still the one running");
    assert_eq!(http_status(port, "/readyz").as_deref(), Some("200"), "and the service still reaches it");
    assert!(serve.try_wait().ok().flatten().is_none(), "serve is still running");
    let _ = std::process::Command::new("kill").arg("-TERM").arg(serve.id().to_string()).status();
    let _ = serve.wait();
    wait_for("the cluster stopping with serve", || postmaster().is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
