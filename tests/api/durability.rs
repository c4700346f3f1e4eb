//! Issue 23 (SPEC §2, §16): an idempotent answer commits with its effect, or neither does; a key
//! whose holder died is free at once.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{TestApp, TestResponse};

const LOYALTY: &[&str] = &["loyalty:read", "loyalty:write"];

async fn adjust(app: &TestApp, token: &str, id: Uuid, key: &str, points: i64) -> TestResponse {
    app.post(&format!("/v1/customers/{id}/points/adjustments"))
        .token(token)
        .header("idempotency-key", key)
        .json(&json!({"points": points, "reason": "补偿"}))
        .send()
        .await
}

fn balance(app: &TestApp, id: Uuid) -> i64 {
    use retail_crm::schema::points_accounts as pa;
    pa::table.find(id).select(pa::balance).first(&mut app.conn()).optional().expect("the account").unwrap_or(0)
}

fn stored_answers(app: &TestApp, key: &str) -> i64 {
    use retail_crm::schema::idempotency_keys as ik;
    ik::table.filter(ik::key.eq(key)).count().get_result(&mut app.conn()).expect("the keys")
}

/// The crash between a commit and its stored answer, made deterministic: storing the answer fails
/// (a trigger refuses it). The adjustment must not stand without its answer — the caller gets 503
/// and nothing moved — and the retry with the same key then adjusts once, and only once.
#[actix_web::test]
async fn the_answer_and_the_effect_commit_together_or_not_at_all() {
    let app = TestApp::new().await;
    let id = app.member().create().await;
    let token = app.token(LOYALTY);
    app.conn()
        .batch_execute(
            "CREATE FUNCTION refuse_answer() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN RAISE EXCEPTION 'the answer cannot be stored'; END $$;
             CREATE TRIGGER refuse_answer BEFORE INSERT OR UPDATE ON idempotency_keys
                 FOR EACH ROW WHEN (NEW.key = 'adj-1') EXECUTE FUNCTION refuse_answer();",
        )
        .expect("the fault");
    let res = adjust(&app, &token, id, "adj-1", 500).await;
    res.assert_problem(503, "service_unavailable");
    assert_eq!((balance(&app, id), stored_answers(&app, "adj-1")), (0, 0), "neither the effect nor its answer");

    app.conn().batch_execute("DROP TRIGGER refuse_answer ON idempotency_keys").expect("the fault removed");
    let first = adjust(&app, &token, id, "adj-1", 500).await;
    first.assert_status(201);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = adjust(&app, &token, id, "adj-1", 500).await;
    again.assert_status(201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!((balance(&app, id), stored_answers(&app, "adj-1")), (500, 1), "adjusted once");
    crate::orders::assert_audit_clean(&app).await;
}

/// A request holds its key through its transaction: while it runs, a retry is 409 (and that 409 is
/// no answer to replay); once its holder is gone — a killed process's connection ends with it — the
/// key is free at once, not after a lease.
#[actix_web::test]
async fn a_key_whose_holder_died_is_free_at_once() {
    let app = TestApp::new().await;
    let id = app.member().create().await;
    let sub = format!("client:{}", Uuid::now_v7());
    let token = app.token_for(&sub, LOYALTY, None);
    // Another instance's request holding the key, on its own connection.
    let mut holder = app.connect();
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('{sub}' || E'\\n' || 'adj-2', 22));"
        ))
        .expect("the holder");
    let res = adjust(&app, &token, id, "adj-2", 300).await;
    res.assert_problem(409, "idempotency_request_in_progress");
    assert_eq!((balance(&app, id), stored_answers(&app, "adj-2")), (0, 0));

    // The holder's process dies: its session is ended (and waited for, as PostgreSQL notices a
    // dropped client only when it next reads from it).
    let holder_pid: i32 = diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("pg_backend_pid()"))
        .get_result(&mut holder)
        .expect("the holder's session");
    app.connect()
        .batch_execute(&format!("SELECT pg_terminate_backend({holder_pid}, 10000)"))
        .expect("the holder's session ended");
    drop(holder);
    let res = adjust(&app, &token, id, "adj-2", 300).await;
    res.assert_status(201);
    assert_eq!(res.header("idempotent-replayed"), None);
    let again: Value = adjust(&app, &token, id, "adj-2", 300).await.body;
    assert_eq!(again, res.body);
    assert_eq!(balance(&app, id), 300);
}

/// Ends every session the app holds, as a crash or a restart of PostgreSQL does.
fn drop_sessions(app: &TestApp) {
    app.connect()
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .expect("terminating the app's sessions");
}

/// A database that went away answers 503 `database_unavailable` with `Retry-After` — never 500 —
/// and `/readyz` says the database is unavailable, not that migrations are pending; the next
/// request finds a new session.
#[actix_web::test]
async fn a_lost_database_is_503_database_unavailable_and_readyz_says_so() {
    let app = TestApp::builder().pool_size(1).build().await;
    let admin = app.admin_token();
    app.get("/v1/stores").token(&admin).send().await.assert_status(200);
    drop_sessions(&app);
    let res = app.get("/v1/stores").token(&admin).send().await;
    res.assert_problem(503, "database_unavailable");
    assert_eq!(res.header("retry-after"), Some("2"));
    app.get("/v1/stores").token(&admin).send().await.assert_status(200);

    drop_sessions(&app);
    let ready = app.get("/readyz").send().await;
    assert_eq!((ready.status, ready.body["status"].clone()), (503, json!("database_unavailable")));
    let ready = app.get("/readyz").send().await;
    assert_eq!((ready.status, ready.body["status"].clone()), (200, json!("ready")));
}

/// `serve` heals its own cluster: the postmaster killed outright, the supervisor starts it again
/// (crash recovery) without an operator, and what was committed before is there.
#[test]
fn a_killed_embedded_postgres_is_started_again_by_its_supervisor() {
    use retail_crm::db::embedded::supervise::Supervisor;
    use retail_crm::db::embedded::{LocalPostgres, LocalPostgresOptions};
    let dir = std::path::PathBuf::from(format!("/tmp/rcrm-heal-{}", std::process::id()));
    let pg = LocalPostgres::start(LocalPostgresOptions {
        data_dir: dir.join("data"),
        socket_dir: dir.join("sock"),
        port: 5433,
        fast_unsafe: false,
        max_connections: 10,
        wal_archive_dir: None,
        settings: Vec::new(),
    })
    .expect("a cluster of its own");
    // Stopped and removed when this test process ends, whatever happens below.
    pg.stop_when_process_exits(std::process::id(), Some(&dir)).expect("the watchdog");
    let url = pg.url("postgres");
    let mut conn = PgConnection::establish(&url).expect("connecting");
    conn.batch_execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42);").expect("a committed row");
    drop(conn);
    let supervisor = Supervisor::start(pg);

    let pid = std::fs::read_to_string(dir.join("data/postmaster.pid")).expect("the postmaster's pid");
    let pid = pid.lines().next().unwrap_or_default().trim().to_string();
    let killed = std::process::Command::new("kill").args(["-9", &pid]).status().expect("kill");
    assert!(killed.success());

    // Polled, not timed: the figure is the closing note's, from a run of the real service.
    let back = (0..600).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        PgConnection::establish(&url).ok()
    });
    let mut conn = back.expect("the cluster was started again");
    #[derive(QueryableByName)]
    struct Kept {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        n: i32,
    }
    let kept: Kept = diesel::sql_query("SELECT n FROM kept").get_result(&mut conn).expect("the row");
    assert_eq!(kept.n, 42, "crash recovery kept what was committed");
    drop(conn);
    drop(supervisor);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A killed import's claim on its file does not outlive it: a session still holding the lock for
/// a process of this machine that no longer exists is ended and the lock taken; a live run's lock
/// is respected.
#[test]
fn a_killed_imports_claim_is_free_for_the_next_one_and_a_live_ones_is_not() {
    use retail_crm::import::runs::{lock, Identity};
    let (_, url) = crate::support::fresh_database();
    let run =
        Identity { kind: retail_crm::import::Kind::Customers, file_name: "big.csv", sha256: "abc", options: json!({}) };
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("the host name");
    let holder = |pid: u32| {
        let mut conn = PgConnection::establish(&url).expect("the holder");
        conn.batch_execute(&format!(
            "SET application_name = 'retail-crm import {} {pid}';
             SELECT pg_advisory_lock(20261203, hashtext('customers:abc'));",
            host.trim()
        ))
        .expect("the holder's lock");
        conn
    };
    // A process id no process has: the run that held the lock was killed.
    let dead = holder(u32::MAX / 2);
    let mut next = PgConnection::establish(&url).expect("the next import");
    assert!(lock(&mut next, &run).expect("the lock"), "the dead run's lock is taken over");
    drop((dead, next));

    // The holder is this very test process: alive, so the next import is refused.
    let _live = holder(std::process::id());
    let mut next = PgConnection::establish(&url).expect("the next import");
    assert!(!lock(&mut next, &run).expect("the lock"), "a live run keeps its file");
}

/// Every command that starts the embedded cluster (`backup` and `restore` too) leaves no PostgreSQL
/// behind; a cluster left by a killed command is adopted by the next one and stopped when it ends;
/// a cluster a `serve` uses is left running for it, and nothing is restored into it.
#[test]
fn commands_leave_no_embedded_postgres_behind_unless_a_serve_uses_it() {
    use retail_crm::db::embedded::LocalPostgres;
    let dir = std::path::PathBuf::from(format!("/tmp/rcrm-cmd-{}", std::process::id()));
    let command = |data: &std::path::Path, args: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_retail-crm"))
            .args(args)
            .env("CRM_DATA_DIR", data)
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .env_remove("CRM_WAL_ARCHIVE_DIR")
            .output()
            .expect("running retail-crm")
    };
    let migrate = || {
        let out = command(&dir, &["migrate".as_ref()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let running_in = |data: &std::path::Path| data.join("pg/postmaster.pid").exists();
    let running = || running_in(&dir);
    // The cluster of CRM_DATA_DIR, as `serve` and the commands start it.
    let config = retail_crm::config::Config { data_dir: dir.clone(), ..Default::default() };
    let as_serve_starts_it = || retail_crm::server::embedded_options(&config).expect("the options");
    migrate();
    assert!(!running(), "a command stops the cluster it started");

    let (backup, restored) = (dir.join("backup"), dir.join("restored"));
    let out = command(&dir, &["backup".as_ref(), backup.as_os_str()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!running(), "backup stops the cluster it started");
    let out = command(&restored, &["restore".as_ref(), backup.as_os_str()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!running_in(&restored), "restore stops the cluster it recovered");

    // As a killed command leaves it: running, with nobody to stop it.
    let left = LocalPostgres::start(as_serve_starts_it()).expect("the cluster");
    left.stop_when_process_exits(std::process::id(), Some(&dir)).expect("the watchdog");
    left.leave_running();
    assert!(running());
    migrate();
    assert!(!running(), "the next command adopted it and stopped it");

    // A serve holds its data directory's lock: its cluster stays up after a command.
    let serving = retail_crm::files::try_lock(&dir.join("serve.lock")).expect("the lock").expect("free");
    let serves = LocalPostgres::start(as_serve_starts_it()).expect("the cluster");
    migrate();
    assert!(running(), "a serve's cluster is left running");
    let refused = command(&restored, &["restore".as_ref(), backup.as_os_str()]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && said.contains("already holds a cluster"), "{said}");
    let refused = command(&dir, &["restore".as_ref(), backup.as_os_str()]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && said.contains("a `serve` is running"), "{said}");
    assert!(running(), "and keeps running");
    drop((serves, serving));
    assert!(!running());
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGTERM drains (SPEC §16): the request in flight finishes and is answered, a new one gets 503
/// `shutting_down` with `Retry-After`, the process ends by itself within the grace, and its
/// cluster is stopped cleanly — the next `serve` finds what was answered.
#[actix_web::test]
async fn a_stop_finishes_requests_in_flight_refuses_new_ones_then_stops_the_cluster() {
    use crate::served::Served;
    let dir = std::path::PathBuf::from(format!("/tmp/rcrm-stop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Every keyed answer waits 3 s after its work, so the stop finds this one in flight.
    let mut served = Served::start(&dir, &[("CRM_TEST_ANSWER_DELAY_MS", "3000")]).await;
    let token = served.admin_token().await;
    let in_flight = {
        let (base, token) = (served.base.clone(), token.clone());
        actix_web::rt::spawn(async move {
            awc::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .finish()
                .post(format!("{base}/v1/customers"))
                .bearer_auth(token)
                .insert_header(("idempotency-key", "in-flight-1"))
                .send_json(&json!({"name": "在途顾客"}))
                .await
                .map(|mut res| (res.status().as_u16(), res.body().limit(1 << 20)))
        })
    };
    actix_web::rt::time::sleep(std::time::Duration::from_millis(1000)).await;
    served.signal("TERM");
    actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;

    let refused = served.get("/readyz", None).await.expect("an answer while draining");
    assert_eq!((refused.status, refused.body["code"].clone()), (503, json!("shutting_down")));
    assert_eq!(refused.retry_after.as_deref(), Some("1"));
    let (status, body) = in_flight.await.expect("the task").expect("the answer in flight");
    assert_eq!(status, 201, "the request in flight was answered");
    let created: Value = serde_json::from_slice(&body.await.expect("its body")).expect("JSON");

    let ended = served.ended(std::time::Duration::from_secs(20)).await;
    assert!(ended.is_some_and(|s| s.success()), "serve ended by itself: {ended:?}\n{}", served.log());
    assert!(!served.cluster_running(), "its cluster was stopped");
    assert!(served.log().contains("stopped"), "{}", served.log());

    let again = served.restart(&[]).await;
    let token = again.admin_token().await;
    let id = created["id"].as_str().expect("an id");
    let found = again.get(&format!("/v1/customers/{id}"), Some(&token)).await.expect("an answer");
    assert_eq!(found.status, 200, "what was answered before the stop is there");
}

/// The profile lock leaves foreign-key checks through: a sale holding a member's points account
/// inserts its order (a key-share lock on the customer) while an adjustment holds the profile and
/// waits for that account. With `FOR UPDATE` the two waited on each other (the crash test found it
/// as deadlocks answered 500).
#[actix_web::test]
async fn a_locked_profile_does_not_block_rows_that_refer_to_it() {
    let app = TestApp::new().await;
    let id = app.member().create().await;
    let mut holder = app.connect();
    holder.batch_execute("BEGIN").expect("a transaction");
    retail_crm::customers::store::lock(&mut holder, id).expect("the profile locked");
    let mut referrer = app.connect();
    referrer
        .batch_execute(&format!("SET lock_timeout = '2s'; SELECT 1 FROM customers WHERE id = '{id}' FOR KEY SHARE"))
        .expect("a foreign-key check passes while the profile is locked");
    let mut writer = app.connect();
    let waited = writer.batch_execute(&format!(
        "SET lock_timeout = '200ms'; SELECT 1 FROM customers WHERE id = '{id}' FOR NO KEY UPDATE"
    ));
    assert!(waited.is_err(), "another writer of the profile still waits for it");
    holder.batch_execute("ROLLBACK").expect("released");
}

/// A one-off campaign activated with an `Idempotency-Key` commits with its answer, after the
/// handler: the runner is woken only then, so it finds the campaign active (woken earlier, it found
/// it still a draft and the campaign waited for the next minute's sweep).
#[actix_web::test]
async fn the_campaign_runner_is_woken_once_the_activation_is_committed() {
    let app = TestApp::new().await;
    let admin = app.admin_token();
    let everyone =
        crate::campaigns::segment(&app, json!({"field": "consent.marketing_sms", "op": "eq", "value": true})).await;
    let body = json!({"name": "群发", "kind": "one_off", "audience": {"segment_id": everyone},
                      "actions": [{"type": "send_message", "channel": "sms", "template": "{{name}}，您好"}]});
    let res = app.post("/v1/campaigns").token(&admin).json(&body).send().await;
    res.assert_status(201);
    let id = res.uuid("id");
    // Storing the answer takes a second, so a runner woken before the commit would see the draft.
    app.conn()
        .batch_execute(
            "CREATE FUNCTION slow_answer() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$;
             CREATE TRIGGER slow_answer BEFORE INSERT ON idempotency_keys
                 FOR EACH ROW WHEN (NEW.key = 'activate-1') EXECUTE FUNCTION slow_answer();",
        )
        .expect("the slow answer");
    // What the runner sees when it is woken, read on a connection of its own.
    let seen = {
        let (wake, url) = (app.runtime.campaign_wake.clone(), app.db_url.clone());
        actix_web::rt::spawn(async move {
            wake.notified().await;
            actix_web::web::block(move || {
                use retail_crm::schema::campaigns as c;
                let mut conn = PgConnection::establish(&url).expect("the runner's connection");
                c::table.find(id).select(c::status).first::<String>(&mut conn).expect("the campaign")
            })
            .await
            .expect("the read")
        })
    };
    let res = app
        .post(&format!("/v1/campaigns/{id}/activate"))
        .token(&admin)
        .header("idempotency-key", "activate-1")
        .send()
        .await;
    res.assert_status(200);
    assert_eq!(seen.await.expect("woken"), "active");
}
