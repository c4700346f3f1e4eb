//! Reports (issue 13, SPEC §13).

use chrono::Duration;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::orders::at;
use crate::support::TestApp;

mod exports;

const TILL: &[&str] = &["orders:write", "orders:read", "customers:read", "customers:write"];
/// Fixed: the same random history on every run.
const SEED: u64 = 0x0013_5EED;
/// The rebuild reports nothing here: the assertions say what happened.
const SILENT: retail_crm::progress::Report = retail_crm::progress::Report::Silent;
const CATEGORIES: [&str; 4] = ["女装", "童装", "鞋", "玩具"];

/// Brings every follower of the outbox to now, as the minute sweeps would.
fn follow(app: &TestApp) {
    let tz = chrono_tz::Asia::Shanghai;
    let mut conn = app.conn();
    let followed = (|| {
        retail_crm::analytics::summary::follow(&mut conn, tz)?;
        retail_crm::orders::co_purchase::follow(&mut conn)?;
        retail_crm::customers::activity::follow(&mut conn, tz)
    })();
    followed.unwrap_or_else(|e| panic!("following the outbox: {e}"));
}

/// The tables the outbox followers keep.
const DERIVED_TABLES: [&str; 8] = [
    "customer_activity",
    "customer_rfm",
    "customer_categories",
    "customer_facts",
    "sales_daily",
    "category_sales_daily",
    "order_baskets",
    "co_purchases",
];

/// Rows of the summary tables that differ from a recomputation from every order.
fn differences(app: &TestApp) -> i64 {
    let mut conn = app.conn();
    let counted = (|| {
        Ok::<_, retail_crm::error::ApiError>(
            retail_crm::analytics::summary::differences(&mut conn, chrono_tz::Asia::Shanghai)?
                + retail_crm::orders::co_purchase::differences(&mut conn)?,
        )
    })();
    counted.unwrap_or_else(|e| panic!("recomputing the summaries: {e}"))
}

/// The repurchase report reads its medians off a histogram of the gaps: they equal
/// percentile_cont over every gap between a customer's buying days in a category.
fn assert_repurchase_is_the_median_of_every_gap(app: &TestApp) {
    use diesel::RunQueryDsl;
    let mut conn = app.conn();
    let report =
        retail_crm::analytics::store::repurchase(&mut conn, None).unwrap_or_else(|e| panic!("repurchase: {e}"));
    let expected: Vec<retail_crm::analytics::store::Repurchase> = diesel::sql_query(
        "SELECT category, count(DISTINCT customer_id)::bigint AS customers, count(*)::bigint AS intervals,
                round(percentile_cont(0.5) WITHIN GROUP (ORDER BY gap)::numeric, 1) AS median_days
         FROM (SELECT cc.customer_id, cc.category,
                      d - lag(d) OVER (PARTITION BY cc.customer_id, cc.category ORDER BY d) AS gap
               FROM customer_categories cc, unnest(cc.bought_days) d) g
         WHERE gap IS NOT NULL GROUP BY category ORDER BY category",
    )
    .load(&mut conn)
    .unwrap_or_else(|e| panic!("the percentile recomputation: {e}"));
    let rows = |r: &[retail_crm::analytics::store::Repurchase]| {
        r.iter().map(|r| (r.category.clone(), r.customers, r.intervals, r.median_days)).collect::<Vec<_>>()
    };
    assert!(expected.len() >= 2, "the history bought too few categories twice: {expected:?}");
    assert_eq!(rows(&report), rows(&expected));
}

/// Random orders (late ones too, at two stores and online, members and guests), refunds by lines
/// and whole, merges and erasures: after each round the followers' tables equal a recomputation.
#[actix_rt::test]
async fn summary_tables_equal_a_recomputation_after_random_histories() {
    let app = TestApp::new().await;
    let mut rng = StdRng::seed_from_u64(SEED);
    let till = app.token(TILL);
    let admin = app.admin_token();
    let stores = [Some(app.store_id("S001").await), Some(app.store_id("S002").await), None];
    let mut customers: Vec<Uuid> = Vec::new();
    for i in 0..12 {
        let res = app
            .post("/v1/customers")
            .token(&till)
            .json(&json!({"name": format!("顾客{i}"), "phone": format!("1380000{:04}", i)}))
            .send()
            .await;
        res.assert_status(201);
        customers.push(res.uuid("id"));
    }
    let mut orders: Vec<(Uuid, usize)> = Vec::new();
    let mut refunds = 0;
    for round in 0..6 {
        for step in 0..25 {
            let roll = rng.gen_range(0..100);
            if roll < 60 || orders.is_empty() {
                let store = stores[rng.gen_range(0..stores.len())];
                let channel = if store.is_some() { "pos" } else { "tmall" };
                let customer =
                    if rng.gen_bool(0.8) { Some(customers[rng.gen_range(0..customers.len())]) } else { None };
                // Up to 3 days late, across business-day boundaries in Asia/Shanghai.
                let occurred_at = app.now() - Duration::minutes(rng.gen_range(0..3 * 24 * 60));
                let lines: Vec<Value> = (0..rng.gen_range(1..4))
                    .map(|l| {
                        let category = CATEGORIES[rng.gen_range(0..CATEGORIES.len())];
                        json!({"sku": format!("SKU-{}", rng.gen_range(0..6)), "name": format!("item {l}"), "category": category,
                               "quantity": rng.gen_range(1..3), "unit_price": format!("{}.00", rng.gen_range(10..300))})
                    })
                    .collect();
                let count = lines.len();
                let res = app
                    .post("/v1/orders")
                    .token(&till)
                    .json(&json!({"external_id": format!("R{round}-{step}"), "channel": channel, "store_id": store,
                                  "customer_id": customer, "occurred_at": occurred_at, "lines": lines}))
                    .send()
                    .await;
                if res.status == 201 {
                    orders.push((res.uuid("id"), count));
                } else {
                    // A merged or erased buyer: the order is refused, nothing to count.
                    assert!(matches!(res.status, 404 | 409 | 422), "{}", res.text);
                }
            } else if roll < 85 {
                let (order, count) = orders[rng.gen_range(0..orders.len())];
                refunds += 1;
                let body = if rng.gen_bool(0.5) {
                    json!({"external_id": format!("RF-{refunds}"), "lines": [{"line_no": rng.gen_range(1..=count), "quantity": 1}]})
                } else {
                    json!({"external_id": format!("RF-{refunds}")})
                };
                let res = app.post(&format!("/v1/orders/{order}/refunds")).token(&till).json(&body).send().await;
                assert!(matches!(res.status, 201 | 422), "{}", res.text);
            } else if roll < 93 && customers.len() > 2 {
                let source = customers.remove(rng.gen_range(0..customers.len()));
                let target = customers[rng.gen_range(0..customers.len())];
                app.post(&format!("/v1/customers/{target}/merge"))
                    .token(&admin)
                    .json(&json!({"source_customer_id": source}))
                    .send()
                    .await
                    .assert_status(200);
            } else if customers.len() > 2 {
                let gone = customers.remove(rng.gen_range(0..customers.len()));
                app.delete(&format!("/v1/customers/{gone}")).token(&admin).send().await.assert_status(204);
            }
        }
        follow(&app);
        assert_eq!(differences(&app), 0, "round {round}: the summary tables drifted from their recomputation");
    }
    // Every follower's tables (the customers' aggregates too) equal a rebuild from all orders and
    // customers (`retail-crm rebuild-reports`), which leaves each follower at the end of the feed.
    {
        use diesel::RunQueryDsl;
        let mut conn = app.conn();
        // RFM scored as of today too: the segment rows carry the scores.
        retail_crm::analytics::derived::follow_all(&mut conn, app.state.clock.now(), chrono_tz::Asia::Shanghai, SILENT)
            .unwrap_or_else(|e| panic!("following: {e}"));
        for table in DERIVED_TABLES {
            diesel::sql_query(format!("CREATE TEMP TABLE kept_{table} AS SELECT * FROM {table}"))
                .execute(&mut conn)
                .unwrap_or_else(|e| panic!("keeping {table}: {e}"));
        }
        let steps = retail_crm::analytics::derived::rebuild_all(
            &mut conn,
            app.state.clock.now(),
            chrono_tz::Asia::Shanghai,
            SILENT,
        )
        .unwrap_or_else(|e| panic!("rebuilding: {e}"));
        assert_eq!(steps.len(), 4, "{steps:?}");
        for table in DERIVED_TABLES {
            let kept = format!("SELECT * FROM kept_{table}");
            let differing = retail_crm::db::rows_differing(&mut conn, &kept, &format!("SELECT * FROM {table}"))
                .unwrap_or_else(|e| panic!("comparing {table}: {e}"));
            assert_eq!(differing, 0, "{table}: the followed rows differ from the rebuild");
            let empty = retail_crm::db::rows_differing(&mut conn, &kept, &format!("{kept} WHERE false")).unwrap();
            assert!(empty > 0, "{table} is empty: the history exercised nothing of it");
        }
    }
    follow(&app);
    assert_eq!(differences(&app), 0, "following after a rebuild changed the tables");
    assert_repurchase_is_the_median_of_every_gap(&app);
    let counted: i64 = {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query("SELECT coalesce(sum(orders), 0)::bigint AS n FROM sales_daily")
            .get_result::<N>(&mut app.conn())
            .unwrap()
            .n
    };
    assert!(counted > 50 && refunds > 20, "the history exercised too little: {counted} orders, {refunds} refunds");
}

async fn order(
    app: &TestApp, token: &str, id: &str, store: Option<Uuid>, customer: Option<Uuid>, when: &str, price: &str,
) -> Uuid {
    let sale = app.sale().token(token).external_id(id).channel(if store.is_some() { "pos" } else { "tmall" });
    let sale = match store {
        Some(store) => sale.store(store),
        None => sale,
    };
    sale.with(json!({"customer_id": customer, "occurred_at": when}))
        .line(json!({"sku": "D-1", "category": "女装", "quantity": 1, "unit_price": price}))
        .create()
        .await
}

/// The day of Asia/Shanghai: 00:30 local on the 20th counts for the 20th, 00:01 on the 21st does
/// not; refunds lower their order's day; guests count as orders, not member orders; attainment is
/// the targeted stores' sales over their targets; a store-bound principal sees its own store.
#[actix_rt::test]
async fn the_dashboard_adds_up_a_hand_built_day() {
    let app = TestApp::new().await;
    app.state.clock.set(at("2026-11-22T10:00:00+08:00"));
    let admin = app.admin_token();
    let till = app.token(TILL);
    let store = |code: &'static str, target: Option<&'static str>, kind: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let res = app
                .post("/v1/stores")
                .token(&admin)
                .json(&json!({"code": code, "name": code, "kind": kind, "daily_sales_target": target}))
                .send()
                .await;
            res.assert_status(201);
            res.uuid("id")
        }
    };
    let bj = store("BJ", Some("1000.00"), "store").await;
    let sh = store("SH", None, "store").await;
    let tmall = store("TMALL", None, "online").await;
    let member = app
        .post("/v1/customers")
        .token(&till)
        .json(&json!({"name": "王芳", "phone": "13900000001", "source_channel": "pos", "home_store_id": bj}))
        .send()
        .await
        .uuid("id");
    let boundary = order(&app, &till, "A1", Some(bj), Some(member), "2026-11-20T00:30:00+08:00", "300.00").await;
    order(&app, &till, "A2", Some(bj), None, "2026-11-20T23:59:00+08:00", "500.00").await;
    order(&app, &till, "A3", Some(sh), Some(member), "2026-11-20T12:00:00+08:00", "200.00").await;
    order(&app, &till, "A4", Some(tmall), Some(member), "2026-11-20T09:00:00+08:00", "100.00").await;
    order(&app, &till, "A5", None, None, "2026-11-20T10:00:00+08:00", "400.00").await;
    order(&app, &till, "B1", Some(bj), Some(member), "2026-11-21T00:01:00+08:00", "999.00").await;
    order(&app, &till, "B0", Some(bj), Some(member), "2026-11-19T23:59:00+08:00", "888.00").await;
    // Refunded on the 22nd, it lowers the 20th; a whole refund leaves the order uncounted.
    app.post(&format!("/v1/orders/{boundary}/refunds"))
        .token(&till)
        .json(&json!({"external_id": "R1", "amount": "100.00"}))
        .send()
        .await
        .assert_status(201);
    follow(&app);
    let reader = app.token(&["analytics:read"]);
    let day = app.get("/v1/analytics/dashboard?date=2026-11-20").token(&reader).send().await;
    day.assert_status(200);
    let b = &day.body;
    // 300 - 100 + 500 + 200 + 100 + 400
    assert_eq!(b["sales"], "1400.00", "{}", day.text);
    assert_eq!(b["gross_sales"], "1500.00");
    assert_eq!(b["refunded"], "100.00");
    assert_eq!((b["orders"].as_i64(), b["member_orders"].as_i64()), (Some(5), Some(3)));
    // Store sales: BJ 700 + SH 200; online: the Tmall shop and the storeless order.
    assert_eq!((b["store_sales"].as_str(), b["online_sales"].as_str()), (Some("900.00"), Some("500.00")));
    assert_eq!((b["store_orders"].as_i64(), b["online_orders"].as_i64()), (Some(3), Some(2)));
    assert_eq!(b["online_share"], "0.4000");
    // Only BJ has a target: its 700 over 1000.
    assert_eq!((b["target"].as_str(), b["attainment"].as_str()), (Some("1000.00"), Some("0.7000")));
    // The store's own view, for a till bound to it (and 403 for another store).
    let bound = app.store_token(&["analytics:read"], Some(bj));
    let own = app.get("/v1/analytics/dashboard?date=2026-11-20").token(&bound).send().await;
    assert_eq!((own.body["sales"].as_str(), own.body["orders"].as_i64()), (Some("700.00"), Some(2)), "{}", own.text);
    assert_eq!(own.body["store_id"], json!(bj));
    app.get(&format!("/v1/analytics/dashboard?date=2026-11-20&store_id={sh}"))
        .token(&bound)
        .send()
        .await
        .assert_problem(403, "store_bound_principal");
    let next = app.get("/v1/analytics/dashboard?date=2026-11-21").token(&reader).send().await;
    assert_eq!((next.body["sales"].as_str(), next.body["orders"].as_i64()), (Some("999.00"), Some(1)));
    // New customers of the 22nd (the member registered now), by channel.
    let today = app.get("/v1/analytics/dashboard").token(&reader).send().await;
    assert_eq!(today.body["date"], "2026-11-22");
    assert_eq!((today.body["new_customers"].as_i64(), today.body["new_customers_store"].as_i64()), (Some(1), Some(1)));
    // Sales by day and by store over the window.
    let by_day = app.get("/v1/analytics/sales?from=2026-11-19&to=2026-11-21").token(&reader).send().await;
    let rows: Vec<(String, String)> = by_day.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_string(), r["net"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("2026-11-19".into(), "888.00".into()),
            ("2026-11-20".into(), "1400.00".into()),
            ("2026-11-21".into(), "999.00".into())
        ]
    );
    app.get("/v1/analytics/sales?from=2025-01-01&to=2026-11-21")
        .token(&reader)
        .send()
        .await
        .assert_problem(422, "validation_failed");
    app.get("/v1/analytics/lifecycle").token(&bound).send().await.assert_problem(403, "store_bound_principal");
}

/// Ten customers with 1..10 orders, the one with more orders also the more recent: the quintile
/// scores are 1,1,2,2,3,3,4,4,5,5 on each measure, and the map names each (R, F) cell.
#[actix_rt::test]
async fn rfm_scores_quintiles_and_names_segments_by_the_v1_map() {
    let app = TestApp::new().await;
    app.state.clock.set(at("2026-11-22T10:00:00+08:00"));
    let till = app.token(TILL);
    let mut customers = Vec::new();
    for i in 1..=10i64 {
        let id = app
            .post("/v1/customers")
            .token(&till)
            .json(&json!({"name": format!("顾客{i}"), "phone": format!("1390000{:04}", i)}))
            .send()
            .await
            .uuid("id");
        for k in 0..i {
            let when = app.now() - Duration::days(10 - i + 20 * k);
            order(&app, &till, &format!("C{i}-{k}"), None, Some(id), &when.to_rfc3339(), "100.00").await;
        }
        customers.push(id);
    }
    // Outside the window: scored by nothing.
    let old = app.post("/v1/customers").token(&till).json(&json!({"phone": "13900009999"})).send().await.uuid("id");
    order(&app, &till, "OLD", None, Some(old), &(app.now() - Duration::days(400)).to_rfc3339(), "100.00").await;
    let reader = app.token(&["analytics:read"]);
    let before = app.get("/v1/analytics/rfm").token(&reader).send().await;
    assert_eq!((before.body["as_of"].clone(), before.body["customers"].as_i64()), (Value::Null, Some(0)));
    let run = app.post("/v1/jobs/rfm/run").token(&app.admin_token()).send().await;
    run.assert_status(200);
    assert_eq!(run.body["members"], 10, "{}", run.text);
    let report = app.get("/v1/analytics/rfm").token(&reader).send().await;
    assert_eq!(report.body["as_of"], "2026-11-22");
    assert_eq!(report.body["rfm_map"], "v1");
    let expected = [
        (1, 1, "hibernating"),
        (1, 1, "hibernating"),
        (2, 2, "hibernating"),
        (2, 2, "hibernating"),
        (3, 3, "need_attention"),
        (3, 3, "need_attention"),
        (4, 4, "loyal"),
        (4, 4, "loyal"),
        (5, 5, "champions"),
        (5, 5, "champions"),
    ];
    for (i, (id, (score, _, segment))) in customers.iter().zip(expected).enumerate() {
        let profile = app.get(&format!("/v1/customers/{id}")).token(&app.token(&["customers:read"])).send().await;
        let rfm = &profile.body["rfm"];
        assert_eq!(
            (rfm["r"].as_i64(), rfm["f"].as_i64(), rfm["m"].as_i64(), rfm["segment"].as_str()),
            (Some(score), Some(score), Some(score), Some(segment)),
            "customer {}: {rfm}",
            i + 1
        );
        assert_eq!((rfm["frequency"].as_i64(), rfm["recency_days"].as_i64()), (Some(i as i64 + 1), Some(9 - i as i64)));
        assert_eq!(rfm["monetary"], format!("{}.00", (i + 1) * 100));
    }
    let old_profile = app.get(&format!("/v1/customers/{old}")).token(&app.token(&["customers:read"])).send().await;
    assert_eq!(old_profile.body["rfm"], Value::Null);
    let segments: Vec<(String, i64)> = report.body["segments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["customers"].as_i64() > Some(0))
        .map(|s| (s["segment"].as_str().unwrap().to_string(), s["customers"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        segments,
        vec![("champions".into(), 2), ("loyal".into(), 2), ("need_attention".into(), 2), ("hibernating".into(), 4)]
    );
    let recency_5 = report.body["bands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["measure"] == "recency_days" && b["score"] == 5)
        .cloned();
    assert_eq!(
        recency_5,
        Some(json!({"measure": "recency_days", "score": 5, "low": "0", "high": "1", "customers": 2}))
    );
    // Segments read the same scores.
    let count = |definition: Value| {
        let app = &app;
        async move {
            let res = app
                .post("/v1/segments/preview")
                .token(&app.token(&["campaigns:read"]))
                .json(&json!({"definition": definition}))
                .send()
                .await;
            res.assert_status(200);
            res.body["customers"].as_i64()
        }
    };
    assert_eq!(count(json!({"field": "rfm.segment", "op": "eq", "value": "champions"})).await, Some(2));
    assert_eq!(count(json!({"field": "rfm.r", "op": "gte", "value": 4})).await, Some(4));
    assert_eq!(count(json!({"field": "rfm.segment", "op": "exists", "value": false})).await, Some(1));
    // The lifecycle counts every live customer once.
    let stages = app.get("/v1/analytics/lifecycle?date=2026-11-22").token(&reader).send().await;
    assert_eq!(stages.body["customers"], 11, "{}", stages.text);
}

/// An order of `lines` (category, sku) for `customer`, `days_ago` days before the pinned now.
async fn basket(app: &TestApp, id: &str, customer: Option<Uuid>, days_ago: i64, lines: &[(&str, &str)]) -> Uuid {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(category, sku)| json!({"sku": sku, "category": category, "quantity": 1, "unit_price": "100.00"}))
        .collect();
    let when = app.now() - Duration::days(days_ago);
    let res = app
        .post("/v1/orders")
        .token(&app.token(TILL))
        .json(&json!({"external_id": id, "channel": "tmall", "customer_id": customer, "occurred_at": when, "lines": lines}))
        .send()
        .await;
    res.assert_status(201);
    res.uuid("id")
}

async fn person(app: &TestApp, name: &str, phone: &str) -> Uuid {
    let res =
        app.post("/v1/customers").token(&app.token(TILL)).json(&json!({"name": name, "phone": phone})).send().await;
    res.assert_status(201);
    res.uuid("id")
}

/// Churn by the two 90-day counts and by the customer's own rhythm, the repurchase interval per
/// category, and recommendations from what was bought together, each on customers built by hand.
#[actix_rt::test]
async fn churn_repurchase_and_recommendations_on_hand_built_customers() {
    let app = TestApp::new().await;
    app.state.clock.set(at("2026-11-22T10:00:00+08:00"));
    // Buys 童装 every 20 days, away 60: overdue for their rhythm (60 > 2 × 20), not halved (2 vs 1).
    let rhythmic = person(&app, "规律", "13700000001").await;
    for (i, days) in [100, 80, 60].into_iter().enumerate() {
        basket(&app, &format!("X{i}"), Some(rhythmic), days, &[("童装", "K-1")]).await;
    }
    // Four orders in the 90 days before the last 90, one since: halved; usual 25 days, away 10.
    let fading = person(&app, "减少", "13700000002").await;
    for (i, days) in [170, 150, 120, 100, 10].into_iter().enumerate() {
        basket(&app, &format!("Y{i}"), Some(fading), days, &[("女装", "W-1")]).await;
    }
    // Every 10 days, last 10 days ago: not at risk.
    let steady = person(&app, "稳定", "13700000003").await;
    for (i, days) in [30, 20, 10].into_iter().enumerate() {
        basket(&app, &format!("Z{i}"), Some(steady), days, &[("童装", "K-1")]).await;
    }
    // Gone for over a year: lost, not at risk.
    let lost = person(&app, "流失", "13700000004").await;
    for (i, days) in [420, 400, 380].into_iter().enumerate() {
        basket(&app, &format!("L{i}"), Some(lost), days, &[("鞋", "S-1")]).await;
    }
    follow(&app);
    let reader = app.token(&["analytics:read"]);
    let page = app.get("/v1/analytics/churn-risk?limit=1").token(&reader).send().await;
    page.assert_status(200);
    let first = &page.items()[0];
    assert_eq!(first["customer_id"], json!(rhythmic), "{}", page.text);
    assert_eq!(first["reasons"], json!(["overdue_for_rhythm"]));
    assert_eq!(
        (first["days_since_last_order"].as_i64(), first["usual_interval_days"].as_str()),
        (Some(60), Some("20.0"))
    );
    assert_eq!((first["orders_last_90"].as_i64(), first["orders_prior_90"].as_i64()), (Some(2), Some(1)));
    let cursor = page.body["next_cursor"].as_str().unwrap().to_string();
    let next = app.get(&format!("/v1/analytics/churn-risk?limit=1&cursor={cursor}")).token(&reader).send().await;
    let second = &next.items()[0];
    assert_eq!(second["customer_id"], json!(fading), "{}", next.text);
    assert_eq!(second["reasons"], json!(["orders_halved"]));
    assert_eq!(second["usual_interval_days"], "25.0");
    assert_eq!(next.body["next_cursor"], Value::Null);
    app.get("/v1/analytics/churn-risk?cursor=bm9wZQ").token(&reader).send().await.assert_problem(400, "invalid_cursor");

    // 童装: gaps 20, 20 (rhythmic) and 10, 10 (steady): median 15 over 2 customers.
    let kids = app.get("/v1/analytics/repurchase-interval?category=%E7%AB%A5%E8%A3%85").token(&reader).send().await;
    assert_eq!(
        kids.body["rows"],
        json!([{"category": "童装", "customers": 2, "intervals": 4, "median_days": "15.0"}]),
        "{}",
        kids.text
    );
    let all = app.get("/v1/analytics/repurchase-interval").token(&reader).send().await;
    let categories: Vec<&str> =
        all.body["rows"].as_array().unwrap().iter().map(|r| r["category"].as_str().unwrap()).collect();
    assert_eq!(categories, vec!["女装", "童装", "鞋"]);

    // Bought together: 童装 with 玩具 in two orders, with 鞋 in one.
    basket(&app, "T1", None, 5, &[("童装", "K-2"), ("玩具", "TOY-1")]).await;
    basket(&app, "T2", None, 4, &[("童装", "K-1"), ("玩具", "TOY-1")]).await;
    basket(&app, "T3", None, 3, &[("童装", "K-1"), ("鞋", "S-9")]).await;
    follow(&app);
    let rec = app.get(&format!("/v1/customers/{rhythmic}/recommendations")).token(&reader).send().await;
    rec.assert_status(200);
    assert_eq!(
        rec.body["categories"],
        json!([{"item": "玩具", "score": 2}, {"item": "鞋", "score": 1}]),
        "{}",
        rec.text
    );
    // Ties by name.
    assert_eq!(rec.body["skus"], json!([{"item": "S-9", "score": 1}, {"item": "TOY-1", "score": 1}]));
    // What they bought in the last 30 days is not recommended again; 童装, last bought 60 days ago,
    // comes back through the toys it goes with.
    basket(&app, "X9", Some(rhythmic), 2, &[("玩具", "TOY-2")]).await;
    follow(&app);
    let rec = app.get(&format!("/v1/customers/{rhythmic}/recommendations?limit=5")).token(&reader).send().await;
    assert_eq!(
        rec.body["categories"],
        json!([{"item": "童装", "score": 2}, {"item": "鞋", "score": 1}]),
        "{}",
        rec.text
    );
    app.get(&format!("/v1/customers/{rhythmic}/recommendations?limit=21"))
        .token(&reader)
        .send()
        .await
        .assert_problem(422, "validation_failed");
    app.get(&format!("/v1/customers/{}/recommendations", Uuid::now_v7()))
        .token(&reader)
        .send()
        .await
        .assert_problem(404, "customer_not_found");
}

/// The seeds' 连衣裙: July sales of 1,000, 1,150 and 1,322.50 in three years grow 15% a year, so
/// next July is 1,322.50 × 1.15; months without a base month forecast nothing.
#[actix_rt::test]
async fn the_forecast_scales_last_years_month_by_the_yearly_trend() {
    let app = TestApp::new().await;
    app.state.clock.set(at("2026-11-22T10:00:00+08:00"));
    for (id, when, price) in [
        ("J24", "2024-07-15T12:00:00+08:00", "1000.00"),
        ("J25", "2025-07-15T12:00:00+08:00", "1150.00"),
        ("J26", "2026-07-15T12:00:00+08:00", "1322.50"),
    ] {
        let res = app
            .post("/v1/orders")
            .token(&app.token(TILL))
            .json(&json!({"external_id": id, "channel": "tmall", "occurred_at": when,
                          "lines": [{"sku": "DRESS", "category": "连衣裙", "quantity": 1, "unit_price": price}]}))
            .send()
            .await;
        res.assert_status(201);
    }
    follow(&app);
    let reader = app.token(&["analytics:read"]);
    let f = app.get("/v1/analytics/forecast?category=%E8%BF%9E%E8%A1%A3%E8%A3%99&months=9").token(&reader).send().await;
    f.assert_status(200);
    assert_eq!(f.body["growth_rate"], "0.1500", "{}", f.text);
    let years: Vec<&str> = f.body["years"].as_array().unwrap().iter().map(|y| y["net"].as_str().unwrap()).collect();
    assert_eq!(years, vec!["1322.50", "1150.00", "1000.00"]);
    let july = &f.body["months"][8];
    assert_eq!(
        july,
        &json!({"month": "2027-07-01", "base_month": "2026-07-01", "base_net": "1322.50", "years_ahead": 1, "forecast": "1520.88"})
    );
    assert_eq!(f.body["months"][0]["forecast"], "0.00");
    app.get("/v1/analytics/forecast?category=%E8%BF%9E%E8%A1%A3%E8%A3%99&months=25")
        .token(&reader)
        .send()
        .await
        .assert_problem(422, "validation_failed");
    app.get("/v1/analytics/forecast?category=%20&months=2")
        .token(&reader)
        .send()
        .await
        .assert_problem(422, "validation_failed");
}

/// Members by tier, enrolments per day, and the repurchase rate: of the members who bought in the
/// window, those who bought twice or more.
#[actix_rt::test]
async fn members_by_tier_growth_and_repurchase_rate() {
    let app = TestApp::new().await;
    app.state.clock.set(at("2026-11-22T10:00:00+08:00"));
    let mut members = Vec::new();
    for (i, phone) in ["13600000001", "13600000002", "13600000003"].into_iter().enumerate() {
        let id = person(&app, &format!("会员{i}"), phone).await;
        app.post(&format!("/v1/customers/{id}/membership"))
            .token(&app.token(&["customers:write"]))
            .json(&json!({}))
            .send()
            .await
            .assert_status(201);
        members.push(id);
    }
    basket(&app, "M1", Some(members[0]), 3, &[("女装", "W-1")]).await;
    basket(&app, "M2", Some(members[0]), 1, &[("女装", "W-1")]).await;
    basket(&app, "M3", Some(members[1]), 2, &[("女装", "W-1")]).await;
    // A guest's and an old order count for nobody.
    basket(&app, "G1", None, 2, &[("女装", "W-1")]).await;
    basket(&app, "M0", Some(members[2]), 40, &[("女装", "W-1")]).await;
    follow(&app);
    let reader = app.token(&["analytics:read"]);
    let report = app.get("/v1/analytics/members?from=2026-11-15&to=2026-11-22").token(&reader).send().await;
    report.assert_status(200);
    let b = &report.body;
    assert_eq!((b["buying_members"].as_i64(), b["repeat_members"].as_i64()), (Some(2), Some(1)), "{}", report.text);
    assert_eq!(b["repurchase_rate"], "0.5000");
    assert_eq!(b["members"], 3);
    assert_eq!(b["by_tier"][0], json!({"key": "normal", "count": 3}));
    assert_eq!(b["growth"], json!([{"key": "2026-11-22", "count": 3}]));
    app.get("/v1/analytics/members?group_by=year").token(&reader).send().await.assert_problem(422, "validation_failed");
}
