//! `retail-crm seed-demo` (SPEC §14), through the real binary against a test database: what it
//! seeds, that a second run changes nothing, that the ledger it writes passes the audit, and that
//! the seed alone decides the data.

use std::collections::BTreeMap;
use std::process::Command;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::Value;

use crate::support::TestApp;

/// The last day of the seeded history: pinned, so the data does not follow the calendar.
const UNTIL: &str = "2026-06-30";

/// Runs `retail-crm seed-demo` on the app's database with two workers; returns its summary.
fn seed_demo(app: &TestApp, seed: u64, customers: u32) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_retail-crm"))
        .args(["seed-demo", "--customers", &customers.to_string(), "--seed", &seed.to_string()])
        .args(["--until", UNTIL, "--jobs", "2"])
        .env("DATABASE_URL", &app.db_url)
        .env("RUST_LOG", "warn")
        .env_remove("CRM_BOOTSTRAP_CLIENT_ID")
        .env_remove("CRM_BOOTSTRAP_CLIENT_SECRET")
        .output()
        .unwrap_or_else(|e| panic!("running retail-crm seed-demo: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "seed-demo failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Word {
    #[diesel(sql_type = Text)]
    t: String,
}

fn number(app: &TestApp, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Number>(&mut app.connect()).unwrap_or_else(|e| panic!("{sql}: {e}")).n
}

fn text(app: &TestApp, sql: &str) -> String {
    diesel::sql_query(sql).get_result::<Word>(&mut app.connect()).unwrap_or_else(|e| panic!("{sql}: {e}")).t
}

/// Rows in every table of the schema.
fn table_counts(app: &TestApp) -> BTreeMap<String, i64> {
    let tables: Vec<Word> = diesel::sql_query(
        "SELECT table_name::text AS t FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .load(&mut app.connect())
    .unwrap_or_else(|e| panic!("listing tables: {e}"));
    assert!(tables.len() > 30, "the schema's tables");
    tables.into_iter().map(|w| (w.t.clone(), number(app, &format!("SELECT count(*) AS n FROM \"{}\"", w.t)))).collect()
}

/// Every ledger entry and account, in a fingerprint.
fn ledger(app: &TestApp) -> String {
    text(
        app,
        "SELECT md5(coalesce((SELECT string_agg(concat_ws('/', id, customer_id, kind, delta, balance_after, occurred_at, lots), ',' ORDER BY id) FROM points_entries), '') \
         || coalesce((SELECT string_agg(concat_ws('/', customer_id, balance, debt), ',' ORDER BY customer_id) FROM points_accounts), '') \
         || coalesce((SELECT string_agg(concat_ws('/', id, remaining, expires_at), ',' ORDER BY id) FROM points_lots), '')) AS t",
    )
}

/// What the seed decides: who the customers are and what they bought, paid and got back.
fn digest(app: &TestApp) -> String {
    text(
        app,
        "SELECT md5(coalesce((SELECT string_agg(concat_ws('/', phone, name, birthday), ',' ORDER BY phone) FROM customers), '') \
         || coalesce((SELECT string_agg(concat_ws('/', external_id, occurred_at, total_amount, paid_amount, points_earned), ',' ORDER BY external_id) FROM orders), '') \
         || coalesce((SELECT string_agg(concat_ws('/', external_id, amount), ',' ORDER BY external_id) FROM refunds), '')) AS t",
    )
}

#[actix_web::test]
async fn seed_demo_builds_the_chain_and_a_second_run_changes_nothing() {
    let app = TestApp::new().await;
    let first = seed_demo(&app, 7, 60);
    assert!(first.contains("this run: "), "{first}");
    let (counts, entries) = (table_counts(&app), ledger(&app));
    let again = seed_demo(&app, 7, 60);
    assert!(again.contains("nothing to do: all 60 customers were seeded before"), "{again}");
    assert_eq!(table_counts(&app), counts, "a second run adds or removes rows");
    assert_eq!(ledger(&app), entries, "a second run moves points");

    // Orders and refunds went through the sale and the refund: the ledger audit is clean.
    let admin = app.admin_token();
    let audit = app.get("/v1/loyalty/audit").token(&admin).send().await;
    audit.assert_status(200);
    assert_eq!(audit.body["violations"], serde_json::json!([]), "{}", audit.text);
    assert_eq!(audit.body["accounts_checked"].as_i64(), Some(counts["points_accounts"]));
    assert!(counts["points_accounts"] > 20, "{counts:?}");

    // Stores and online shops, each with a daily target.
    let stores = app.collect_pages("/v1/stores", &admin, 50).await;
    let kind = |k: &str| stores.iter().filter(|s| s["kind"] == k).count();
    assert_eq!((kind("store"), kind("online")), (10, 4));
    assert!(stores.iter().all(|s| s["daily_sales_target"].is_string()), "{stores:?}");
    // Staff with skills and capacities, and the service teams tickets are routed to.
    let staff = app.collect_pages("/v1/staff", &admin, 200).await;
    let wang = staff.iter().find(|s| s["name"] == "王芳").unwrap_or_else(|| panic!("王芳: {staff:?}"));
    assert_eq!(
        (wang["skills"].clone(), wang["capacity"].clone()),
        (serde_json::json!(["女装"]), serde_json::json!(20))
    );
    assert!(staff.iter().filter(|s| s["team"] == "after_sales").count() >= 2);
    // Tiers, and members in more than the base one.
    let tiers = app.get("/v1/tiers").token(&admin).send().await;
    assert_eq!(tiers.items().len(), 3, "{}", tiers.text);
    assert!(number(&app, "SELECT count(*) AS n FROM memberships WHERE tier_code <> 'normal'") > 0);
    // Customers with identities beyond the phone, and consents.
    for kind in ["phone", "member_card", "wechat_openid", "wechat_unionid"] {
        let n = number(&app, &format!("SELECT count(*) AS n FROM customer_identities WHERE kind = '{kind}'"));
        assert!(n > 0, "no {kind} identities");
    }
    assert!(
        number(&app, "SELECT count(*) AS n FROM customers WHERE consents->'marketing_sms'->>'granted' = 'true'") > 0
    );
    // A year of orders from stores and platforms, refunds, points earned and spent, coupons used.
    let days = |sql: &str| text(&app, &format!("SELECT ({sql})::text AS t"));
    assert_eq!(days("SELECT max((occurred_at AT TIME ZONE 'Asia/Shanghai')::date) FROM orders"), UNTIL);
    let first_day = days("SELECT min((occurred_at AT TIME ZONE 'Asia/Shanghai')::date) FROM orders");
    assert!(first_day.as_str() >= "2025-07-01" && first_day.as_str() <= "2025-09-01", "history starts {first_day}");
    assert!(number(&app, "SELECT count(DISTINCT channel) AS n FROM orders") >= 4);
    assert!(number(&app, "SELECT count(*) AS n FROM orders WHERE pricing = 'external'") > 0);
    assert!(counts["refunds"] > 0, "{counts:?}");
    for kind in ["earn", "redeem", "refund_clawback"] {
        assert!(number(&app, &format!("SELECT count(*) AS n FROM points_entries WHERE kind = '{kind}'")) > 0, "{kind}");
    }
    assert_eq!(counts["coupon_templates"], 5);
    assert!(number(&app, "SELECT count(*) AS n FROM coupons WHERE status = 'redeemed'") > 0);
    // Lifecycle has something to show: customers active in the last month, and dormant ones.
    assert!(
        number(&app, &format!("SELECT count(*) AS n FROM customer_facts WHERE last_order_on > date '{UNTIL}' - 30"))
            > 0
    );
    assert!(
        number(&app, &format!("SELECT count(*) AS n FROM customer_facts WHERE last_order_on < date '{UNTIL}' - 60"))
            > 0
    );

    // The three automations of SPEC §9, live, each issuing its coupon.
    let campaigns = app.collect_pages("/v1/campaigns", &admin, 50).await;
    let trigger = |name: &str| -> Value {
        let c = campaigns.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{name}: {campaigns:?}"));
        assert_eq!(c["status"], "active", "{c}");
        assert!(c["actions"].as_array().is_some_and(|a| a.iter().any(|x| x["type"] == "issue_coupon")), "{c}");
        c["trigger"].clone()
    };
    assert_eq!(trigger("生日关怀"), serde_json::json!({"type": "birthday", "offset_days": -3}));
    assert_eq!(trigger("入会周年礼"), serde_json::json!({"type": "membership_anniversary"}));
    assert_eq!(trigger("沉睡会员唤醒"), serde_json::json!({"type": "dormant", "days": 90}));

    // Leads, assigned by the rules and taken through their stages; tickets answered and scored.
    assert!(number(&app, "SELECT count(*) AS n FROM leads WHERE status = 'won' AND assignee_staff_id IS NOT NULL") > 0);
    assert!(number(&app, "SELECT count(DISTINCT status) AS n FROM leads") >= 2);
    assert!(
        number(&app, "SELECT count(*) AS n FROM tickets WHERE team IS NOT NULL AND first_responded_at IS NOT NULL") > 0
    );
    assert!(number(&app, "SELECT count(*) AS n FROM tickets WHERE satisfaction_score IS NOT NULL") > 0);

    // More customers later: only the missing ones are written, and the ledger stays clean.
    let more = seed_demo(&app, 7, 70);
    assert!(more.contains("; 60 were there already"), "{more}");
    assert!(number(&app, "SELECT count(*) AS n FROM orders") > counts["orders"]);
    let audit = app.get("/v1/loyalty/audit").token(&admin).send().await;
    assert_eq!(audit.body["violations"], serde_json::json!([]), "{}", audit.text);
}

#[actix_web::test]
async fn the_seed_alone_decides_the_data() {
    let (a, b, c) = (TestApp::new().await, TestApp::new().await, TestApp::new().await);
    seed_demo(&a, 11, 30);
    seed_demo(&b, 11, 30);
    seed_demo(&c, 12, 30);
    assert_eq!(digest(&a), digest(&b), "the same seed, other data");
    assert_ne!(digest(&a), digest(&c), "another seed, the same data");
    assert_eq!(number(&a, "SELECT count(*) AS n FROM orders"), number(&b, "SELECT count(*) AS n FROM orders"));

    // The database remembers its seed and its history's last day: another is refused.
    let out = Command::new(env!("CARGO_BIN_EXE_retail-crm"))
        .args(["seed-demo", "--customers", "30", "--seed", "12", "--until", UNTIL])
        .env("DATABASE_URL", &a.db_url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap_or_else(|e| panic!("running retail-crm seed-demo: {e}"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds the demo of seed 11"), "{out:?}");
}

#[actix_web::test]
async fn a_run_stopped_between_a_customers_two_transactions_is_finished_by_the_next() {
    use retail_crm::demo::{plan, setup, write};
    let (stopped, clean) = (TestApp::new().await, TestApp::new().await);
    let window = plan::Window { until: UNTIL.parse().unwrap(), tz: chrono_tz::Asia::Shanghai };
    let (seed, customers) = (5, 20);
    let index = (0..customers)
        .find(|i| {
            let unit = plan::unit(seed, *i, &window);
            !unit.orders.is_empty() && write::parts(&unit)[0].len() > 1
        })
        .unwrap_or_else(|| panic!("no customer of seed {seed} has coupons and orders"));
    // What a run leaves when it stops after a customer's registration and coupons.
    let mut conn = stopped.connect();
    conn.transaction(|conn| {
        let (chain, _) = setup::ensure(conn, customers, window.start())?;
        let catalogue = retail_crm::loyalty::program::CatalogueCache::default();
        let ctx = write::Context { chain: &chain, catalogue: &catalogue, tz: window.tz, lead_response_minutes: 15 };
        let unit = plan::unit(seed, index, &window);
        let [first, _] = write::parts(&unit);
        write::steps(conn, &ctx, &unit, &first, &mut write::Progress::default())
    })
    .unwrap_or_else(|e| panic!("writing the first part: {e}"));
    assert_eq!(number(&stopped, "SELECT count(*) AS n FROM orders"), 0);

    seed_demo(&stopped, seed, customers);
    seed_demo(&clean, seed, customers);
    assert_eq!(digest(&stopped), digest(&clean), "the stopped customer was not finished as a clean run writes it");
    let audit = stopped.get("/v1/loyalty/audit").token(&stopped.admin_token()).send().await;
    assert_eq!(audit.body["violations"], serde_json::json!([]), "{}", audit.text);
}
