//! The till (SPEC §5, §7, issue 10): the lookup's card and the sale's round trips, counted
//! statement by statement on a pool of one connection.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use diesel::Connection;
use retail_crm::loyalty::ledger::{self, Posting};
use serde_json::{json, Value};

use retail_crm::error::ApiError;

use crate::coupons::{at, codes_of, coupon, issue_one, mark_redeemed, pin, sql, time, void};
use crate::orders::{assert_audit_clean, grant, line, post, sale, TILL};
use crate::support::TestApp;

/// A coupon as the till's lookup should list it, read back through `GET /v1/coupons/{code}`.
async fn as_till_coupon(app: &TestApp, code: &str) -> Value {
    let c = coupon(app, code).await.body;
    json!({"code": c["code"], "template_id": c["template_id"], "name": c["template_name"], "kind": c["kind"],
        "expires_at": c["expires_at"]})
}

#[actix_web::test]
async fn the_till_lookup_shows_the_card_with_points_in_every_state_and_coupons_usable_now() {
    // One connection, so the statement log below sees every statement of a lookup.
    let app = TestApp::builder().pool_size(1).build().await;
    let now = pin(&app);
    let c = app
        .customer()
        .with(json!({"name": "王芳", "phone": "13800000123", "tags": ["童装", "vip"],
            "identities": [{"kind": "wechat_unionid", "value": "uWANGFANG"}]}))
        .create()
        .await;
    let write = app.token(&["customers:write"]);
    app.post(&format!("/v1/customers/{c}/membership")).token(&write).json(&json!({})).send().await.assert_status(201);
    // A tier set a fraction of a second past the minute: its validity must come back to the microsecond.
    app.state.clock.set(now + Duration::microseconds(123_456));
    let tier = app
        .put(&format!("/v1/customers/{c}/membership/tier"))
        .token(&app.admin_token())
        .json(&json!({"tier": "silver", "reason": "门店补录"}))
        .send()
        .await;
    tier.assert_status(200);
    app.state.clock.set(now);

    // Lots in every state, as (points, available from, expires at).
    let day = |n: i64| now + Duration::days(n);
    let spendable = (500, day(-10), day(200));
    let expiring_soon = (120, day(-300), day(10));
    let expiring_on_the_30th_day = (30, day(-300), day(30));
    let a_microsecond_later = (7, day(-300), day(30) + Duration::microseconds(1));
    let pending = (300, day(5), day(370));
    // Past its expiry, not yet written off by the daily job: still in the balance, not spendable.
    let expired = (70, day(-400), day(-1));
    let debt = 40;
    let lots = [spendable, expiring_soon, expiring_on_the_30th_day, a_microsecond_later, pending, expired];
    app.conn()
        .transaction::<_, ApiError, _>(|conn| {
            let mut account = ledger::lock_account(conn, c)?;
            for (points, available_at, expires_at) in lots {
                ledger::credit(
                    conn,
                    &mut account,
                    points,
                    &Posting::new(retail_crm::loyalty::rules::EntryKind::Adjust, "test", now),
                    available_at,
                    expires_at,
                )?;
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // A sound ledger never holds debt beside live lots (earnings pay it first); set by hand so the
    // test sees the lookup subtract it.
    app.expect_ledger_violations();
    sql(
        &app,
        &format!("UPDATE points_accounts SET debt = {debt}, balance = balance - {debt} WHERE customer_id = '{c}'"),
    );

    let soon = app
        .coupon_template()
        .with(json!({"name": "无门槛10元", "kind": "cash", "threshold": null, "discount": "10.00",
        "valid_days_after_issue": 3}))
        .create()
        .await;
    let later = app.coupon_template().create().await;
    let not_yet = app.coupon_template().with(json!({"valid_from": "2027-01-01T00:00:00Z"})).create().await;
    let later_code = issue_one(&app, later, c).await;
    let soon_code = issue_one(&app, soon, c).await;
    issue_one(&app, not_yet, c).await;
    let voided = issue_one(&app, later, c).await;
    void(&app, &voided, "作废").await.assert_status(200);
    let used = issue_one(&app, soon, c).await;
    mark_redeemed(&app, &used);

    // Tokens are minted at the app's clock, so a fresh one for each read as the clock moves.
    let masked = || app.token(&["customers:read"]);
    let statements = app.record_statements();
    let lookup = || app.get("/v1/customers/lookup?phone=13800000123").token(&masked()).send();
    let res = lookup().await;
    res.assert_status(200);
    let ran = statements.take();
    assert_eq!(ran.len(), 1, "the masked lookup is one statement, no transaction around it: {ran:#?}");

    let profile = app.get(&format!("/v1/customers/{c}")).token(&masked()).send().await;
    assert_eq!(res.body["customer"], profile.body, "the profile as GET /v1/customers/{{id}} shows it");
    assert_eq!(res.body["customer"]["phone"], "138****0123");
    let tags: BTreeSet<&str> =
        res.body["customer"]["tags"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    assert_eq!(tags, BTreeSet::from(["vip", "童装"]));
    let kinds: Vec<&str> = res.body["customer"]["identities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["member_card", "phone", "wechat_unionid"]);

    let t = &tier.body;
    assert_eq!(
        res.body["membership"],
        json!({"tier_code": "silver", "tier_name": t["tier"]["name"], "discount_rate": "0.95",
            "member_card": t["member_card"], "member_since": t["member_since"], "tier_valid_until": t["tier_valid_until"]})
    );
    assert_eq!(time(&t["tier_valid_until"]).timestamp_subsec_micros(), 123_456);

    let points = |lots: &[(i64, DateTime<Utc>, DateTime<Utc>)]| lots.iter().map(|l| l.0).sum::<i64>();
    let spendable_now = points(&[spendable, expiring_soon, expiring_on_the_30th_day, a_microsecond_later]);
    assert_eq!(
        res.body["points"],
        json!({"available": spendable_now - debt, "pending": pending.0, "debt": debt,
            "expiring_within_30_days": points(&[expiring_soon, expiring_on_the_30th_day])}),
        "{}",
        res.text
    );
    assert_eq!(
        res.body["coupons"],
        json!([as_till_coupon(&app, &soon_code).await, as_till_coupon(&app, &later_code).await]),
        "soonest expiry first; not the used, voided or not-yet-valid ones"
    );
    assert_eq!(time(&res.body["coupons"][0]["expires_at"]), at(2026, 11, 26, 16, 0));

    // Reading unmasked adds its audit entry, and nothing else.
    let unmasked = app.token(&["customers:read", "customers:pii"]);
    statements.take();
    let res = app.get("/v1/customers/lookup?phone=13800000123").token(&unmasked).send().await;
    res.assert_status(200);
    let ran = statements.take();
    assert_eq!(ran.len(), 2, "the audit entry and the lookup: {ran:#?}");
    assert!(ran[1].starts_with("INSERT INTO \"audit_log\""), "{ran:#?}");
    assert_eq!(res.body["customer"]["phone"], "+8613800000123");
    let audit = app
        .get(&format!("/v1/audit-log?resource=customer&resource_id={c}&action=customer.read_pii"))
        .token(&app.admin_token())
        .send()
        .await;
    assert_eq!(audit.items().len(), 1, "{}", audit.text);

    // Five days on: the pending lot is spendable, the window reaches the lot a microsecond past
    // day 30, and the 3-day coupon is gone.
    app.state.clock.set(now + Duration::days(5));
    let res = lookup().await;
    assert_eq!(
        res.body["points"],
        json!({"available": spendable_now + pending.0 - debt, "pending": 0, "debt": debt,
            "expiring_within_30_days": points(&[expiring_soon, expiring_on_the_30th_day, a_microsecond_later])})
    );
    assert_eq!(codes_of(res.body["coupons"].as_array().map(Vec::as_slice).unwrap_or_default()), [later_code]);

    // No one holds this identity: 404, in that one statement too.
    statements.take();
    app.get("/v1/customers/lookup?phone=13900000000")
        .token(&masked())
        .send()
        .await
        .assert_problem(404, "customer_not_found");
    assert_eq!(statements.take().len(), 1);
}

/// What a sale sends, statement by statement: its transaction, the lock, the read of what the
/// lock guards, and one write of the order with its lines, events and ledger entries.
#[actix_web::test]
async fn a_members_sale_is_five_statements_redeeming_or_not_and_a_repost_reads_only() {
    let app = TestApp::builder().pool_size(1).build().await;
    let c = app.member().name("会员").phone("13800000301").create().await;
    grant(&app, c, 1000);
    // The first sale after start reads the program and tiers once; later ones keep them.
    post(&app, &sale(&app, "T-0", Some(c), json!([line("A", "10.00", 1)]))).await.assert_status(201);
    let log = app.record_statements();

    post(&app, &sale(&app, "T-1", Some(c), json!([line("A", "100.00", 1)]))).await.assert_status(201);
    let ran = log.take();
    assert_eq!(ran.len(), 5, "BEGIN, lock, needs, the sale, COMMIT: {ran:#?}");
    for table in ["orders", "order_lines", "events", "points_entries", "points_lots"] {
        assert!(ran[3].contains(&format!("INSERT INTO {table}")), "{table}: {ran:#?}");
    }

    let mut redeeming = sale(&app, "T-2", Some(c), json!([line("A", "300.00", 1)]));
    redeeming["points_to_redeem"] = json!(100);
    let first = post(&app, &redeeming).await;
    first.assert_status(201);
    let ran = log.take();
    assert_eq!(ran.len(), 5, "the redemption is written with the sale too: {ran:#?}");

    // A re-post answers from what is stored: nothing is priced or written.
    let again = post(&app, &redeeming).await;
    again.assert_status(200);
    assert_eq!(again.body, first.body);
    let ran = log.take();
    assert_eq!(ran.len(), 6, "BEGIN, lock, needs, the order, its lines, COMMIT: {ran:#?}");
    assert!(!ran.iter().any(|q| q.contains("INSERT")), "{ran:#?}");

    post(&app, &sale(&app, "T-3", None, json!([line("A", "50.00", 1)]))).await.assert_status(201);
    let ran = log.take();
    assert_eq!(ran.len(), 4, "a guest: BEGIN, needs, order, COMMIT: {ran:#?}");

    // The balance the order shows is the ledger's: 1000 granted, +10, +100, then 100 used (¥10.00
    // off at the default 100 points = ¥10) and 290 earned on the ¥290.00 paid.
    assert_eq!(first.body["paid_amount"], "290.00");
    assert_eq!(first.body["points_balance"], 1000 + 10 + 100 - 100 + 290);
    assert_audit_clean(&app).await;
}

/// Program and tiers are kept in memory, and a change to either reaches the very next sale.
#[actix_web::test]
async fn a_tier_or_program_change_reaches_the_next_sale_at_once() {
    let app = TestApp::builder().pool_size(1).build().await;
    let c = app.member().name("会员").phone("13800000302").create().await;
    let admin = app.admin_token();
    let first = post(&app, &sale(&app, "C-1", Some(c), json!([line("A", "100.00", 1)]))).await;
    first.assert_status(201);
    assert_eq!((first.body["tier"].clone(), first.body["paid_amount"].clone()), (json!("normal"), json!("100.00")));

    let tier = app.get("/v1/tiers/normal").token(&admin).send().await;
    let etag = tier.header("etag").map(str::to_string).unwrap_or_default();
    app.patch("/v1/tiers/normal")
        .token(&admin)
        .header("if-match", &etag)
        .json(&json!({"discount_rate": "0.90", "points_multiplier": "2"}))
        .send()
        .await
        .assert_status(200);
    let log = app.record_statements();
    let second = post(&app, &sale(&app, "C-2", Some(c), json!([line("A", "100.00", 1)]))).await;
    second.assert_status(201);
    assert_eq!(
        (second.body["paid_amount"].clone(), second.body["points_earned"].clone()),
        (json!("90.00"), json!(180))
    );
    let ran = log.take();
    assert_eq!(ran.len(), 6, "one more statement: the catalogue, re-read once: {ran:#?}");

    let program = app.get("/v1/loyalty/program").token(&admin).send().await;
    let etag = program.header("etag").map(str::to_string).unwrap_or_default();
    app.put("/v1/loyalty/program")
        .token(&admin)
        .header("if-match", &etag)
        .json(&json!({"earn_rate": "0.5"}))
        .send()
        .await
        .assert_status(200);
    log.take();
    let third = post(&app, &sale(&app, "C-3", Some(c), json!([line("A", "100.00", 1)]))).await;
    // 90.00 paid × 0.5 per yuan × 2 for the tier.
    assert_eq!(third.body["points_earned"], 90);
    assert_eq!(log.take().len(), 6);
    let fourth = post(&app, &sale(&app, "C-4", Some(c), json!([line("A", "100.00", 1)]))).await;
    assert_eq!(fourth.body["points_earned"], 90);
    assert_eq!(log.take().len(), 5, "unchanged since: no re-read");
}

/// The sale checks its store itself (no foreign key locks the store's row on every sale).
#[actix_web::test]
async fn a_sale_at_a_store_that_does_not_exist_is_refused_and_writes_nothing() {
    let app = TestApp::new().await;
    let mut body = sale(&app, "S-1", None, json!([line("A", "10.00", 1)]));
    body["store_id"] = json!(uuid::Uuid::now_v7());
    let res = post(&app, &body).await;
    res.assert_problem(422, "validation_failed");
    assert!(res.text.contains("store_id"), "{}", res.text);
    body["store_id"] = json!(app.store_id("BJ-CY-01").await);
    post(&app, &body).await.assert_status(201);
    let found = app.get("/v1/orders?external_id=S-1&channel=pos").token(&app.admin_token()).send().await;
    assert_eq!(found.items().len(), 1);
}

/// Short statements must not pay for JIT compilation or re-planning (see `db::OltpSession`).
#[actix_web::test]
async fn pooled_sessions_run_without_jit_and_on_generic_plans() {
    use diesel::RunQueryDsl;
    let app = TestApp::new().await;
    let setting = |name: &str| -> String {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(&format!("current_setting('{name}')")))
            .get_result(&mut app.conn())
            .unwrap_or_else(|e| panic!("current_setting: {e}"))
    };
    assert_eq!(setting("jit"), "off");
    assert_eq!(setting("plan_cache_mode"), "force_generic_plan");
}

/// The quote reads what the sale reads, the same way: who (with membership and account), then
/// lots, holds, spend, the catalogue version and the store; no transaction when it only reads.
#[actix_web::test]
async fn a_members_quote_is_two_statements_and_reserving_adds_the_locks_and_the_hold() {
    let app = TestApp::builder().pool_size(1).build().await;
    let c = app.member().name("会员").phone("13800000303").create().await;
    grant(&app, c, 1000);
    post(&app, &sale(&app, "Q-0", Some(c), json!([line("A", "10.00", 1)]))).await.assert_status(201);
    let log = app.record_statements();
    let body = json!({"customer_id": c, "channel": "pos", "lines": [line("A", "300.00", 1)], "points_to_redeem": 100});
    let res = app.post("/v1/checkout/quote").token(&app.token(TILL)).json(&body).send().await;
    res.assert_status(200);
    assert_eq!(res.body["points_available"], 1000 + 10);
    let ran = log.take();
    assert_eq!(ran.len(), 2, "who, then what they have: {ran:#?}");

    let mut reserving = body.clone();
    reserving["reserve"] = json!(true);
    let res = app.post("/v1/checkout/quote").token(&app.token(TILL)).json(&reserving).send().await;
    res.assert_status(200);
    let ran = log.take();
    assert_eq!(ran.len(), 5, "BEGIN, who (locked), what they have, the hold, COMMIT: {ran:#?}");
    assert!(ran[1].contains("FOR UPDATE"), "{ran:#?}");
}
