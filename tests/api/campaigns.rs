//! SPEC §9 campaigns: the seeds' three automations end to end, the contact policy's every reason,
//! quiet hours, the control group, exactly-once across two instances, and the report on a data set
//! whose numbers the test works out itself. The `Clock` drives time; nothing sleeps.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::orders::TILL;
use crate::support::TestApp;

mod trust;

/// 10:00 in Shanghai on 15 June 2026: outside quiet hours.
pub(crate) fn morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 15, 2, 0, 0).single().expect("a valid instant")
}

async fn app_at(at: DateTime<Utc>) -> TestApp {
    let app = TestApp::new().await;
    app.state.clock.set(at);
    app
}

async fn template(app: &TestApp, body: Value) -> Uuid {
    let mut body = body;
    body["status"] = json!("active");
    body["valid_days_after_issue"] = json!(30);
    body["per_customer_limit"] = json!(10);
    let res = app.post("/v1/coupon-templates").token(&app.admin_token()).json(&body).send().await;
    res.assert_status(201);
    res.uuid("id")
}

pub(crate) async fn segment(app: &TestApp, definition: Value) -> Uuid {
    let body = json!({"name": format!("seg-{}", Uuid::now_v7()), "definition": definition});
    let res = app.post("/v1/segments").token(&app.admin_token()).json(&body).send().await;
    res.assert_status(201);
    res.uuid("id")
}

/// Creates and activates a campaign.
pub(crate) async fn campaign(app: &TestApp, body: Value) -> Uuid {
    let admin = app.admin_token();
    let res = app.post("/v1/campaigns").token(&admin).json(&body).send().await;
    res.assert_status(201);
    let id = res.uuid("id");
    app.post(&format!("/v1/campaigns/{id}/activate")).token(&admin).send().await.assert_status(200);
    id
}

pub(crate) async fn tick(app: &TestApp) {
    app.post("/v1/sweeps/campaigns/run").token(&app.admin_token()).send().await.assert_status(200);
}

/// (customer, outcome, reason, coupon) of every decision of a campaign, by customer.
fn decisions(app: &TestApp, campaign: Uuid) -> Vec<(Uuid, String, Option<String>, Option<String>)> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        customer_id: Uuid,
        #[diesel(sql_type = diesel::sql_types::Text)]
        outcome: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        reason: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        coupon_code: Option<String>,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT customer_id, outcome, reason, coupon_code FROM campaign_recipients WHERE campaign_id = $1
         ORDER BY customer_id, occurrence",
    )
    .bind::<diesel::sql_types::Uuid, _>(campaign)
    .load(&mut app.conn())
    .expect("recipients");
    rows.into_iter().map(|r| (r.customer_id, r.outcome, r.reason, r.coupon_code)).collect()
}

fn outcome_of(rows: &[(Uuid, String, Option<String>, Option<String>)], who: Uuid) -> Vec<(String, Option<String>)> {
    rows.iter().filter(|r| r.0 == who).map(|r| (r.1.clone(), r.2.clone())).collect()
}

/// The `campaign.message` events written for a customer: (text, recipient, coupon code).
fn message_events(app: &TestApp, customer: Uuid) -> Vec<(String, String, Option<String>)> {
    use diesel::prelude::*;
    use retail_crm::schema::events;
    let rows: Vec<Value> = events::table
        .filter(events::event_type.eq("campaign.message"))
        .filter(events::subject_id.eq(customer))
        .order(events::id)
        .select(events::data)
        .load(&mut app.conn())
        .expect("events");
    rows.into_iter()
        .map(|d| {
            (
                d["text"].as_str().unwrap_or_default().to_string(),
                d["recipient"].as_str().unwrap_or_default().to_string(),
                d["coupon_code"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[actix_web::test]
async fn birthday_three_days_before_sends_an_sms_with_the_300_minus_50_coupon_once_a_year() {
    let app = app_at(morning()).await;
    let coupon = template(&app, json!({"name": "生日满300减50", "kind": "amount_off", "threshold": "300.00", "discount": "50.00", "unit_cost": "5.00"})).await;
    let ann = app.customer().with(json!({"name": "王芳", "phone": "13800000001", "birthday": "1990-06-18", "consents": {"marketing_sms": true}})).create()
    .await;
    let no_consent =
        app.customer().with(json!({"name": "李雷", "phone": "13800000002", "birthday": "1991-06-18"})).create().await;
    let no_phone = app
        .customer()
        .with(json!({"name": "韩梅", "birthday": "1992-06-18", "consents": {"marketing_sms": true}}))
        .create()
        .await;
    let later = app.customer().with(json!({"name": "赵四", "phone": "13800000004", "birthday": "1993-06-19", "consents": {"marketing_sms": true}})).create()
    .await;
    let id = campaign(&app, json!({"name": "生日关怀", "kind": "triggered", "trigger": {"type": "birthday", "offset_days": -3},
        "actions": [{"type": "issue_coupon", "template_id": coupon},
                    {"type": "send_message", "channel": "sms", "template": "{{name}}，生日快乐！送您{{coupon_name}}，券码{{coupon_code}}"}]}))
    .await;

    let dry = app.post(&format!("/v1/campaigns/{id}/dry-run")).token(&app.admin_token()).send().await;
    dry.assert_status(200);
    assert_eq!(dry.body["candidates"], 3);
    assert_eq!(dry.body["reached"], 1);
    assert_eq!(dry.body["suppressed"], json!({"no_address": 1, "no_consent": 1}));

    tick(&app).await;
    tick(&app).await;
    let rows = decisions(&app, id);
    assert_eq!(rows.len(), 3, "three customers have a birthday in 3 days, each decided once: {rows:?}");
    assert_eq!(outcome_of(&rows, ann), vec![("reached".to_string(), None)]);
    assert_eq!(outcome_of(&rows, no_consent), vec![("suppressed".to_string(), Some("no_consent".to_string()))]);
    assert_eq!(outcome_of(&rows, no_phone), vec![("suppressed".to_string(), Some("no_address".to_string()))]);
    assert!(outcome_of(&rows, later).is_empty());
    let sent = message_events(&app, ann);
    assert_eq!(sent.len(), 1);
    let code = sent[0].2.clone().expect("a coupon code");
    assert_eq!(sent[0].0, format!("王芳，生日快乐！送您生日满300减50，券码{code}"));
    assert_eq!(sent[0].1, "+8613800000001");
    let held = app.get(&format!("/v1/coupons/{code}")).token(&app.admin_token()).send().await;
    assert_eq!(held.body["customer_id"], json!(ann));
    assert!(message_events(&app, no_consent).is_empty());
    // The message is on the customer's timeline.
    let timeline = app.get(&format!("/v1/customers/{ann}/timeline")).token(&app.admin_token()).send().await;
    assert!(timeline.text.contains("campaign.message"), "{}", timeline.text);

    // The next day `later` is due, and nobody twice.
    app.state.clock.set(morning() + Duration::days(1));
    tick(&app).await;
    assert_eq!(outcome_of(&decisions(&app, id), later), vec![("reached".to_string(), None)]);
    assert_eq!(message_events(&app, ann).len(), 1);
    // A year on, Ann's birthday comes round again: once a year, so once more.
    app.state.clock.set(morning() + Duration::days(365));
    tick(&app).await;
    assert_eq!(message_events(&app, ann).len(), 2);
    assert_eq!(outcome_of(&decisions(&app, id), ann).len(), 2);
}

#[actix_web::test]
async fn membership_anniversary_brings_an_exclusive_discount_on_wechat() {
    let app = app_at(morning() - Duration::days(365)).await;
    let member =
        app.customer().with(json!({"name": "周年会员", "consents": {"marketing_wechat": true}})).create().await;
    let admin = app.admin_token();
    app.post(&format!("/v1/customers/{member}/membership"))
        .token(&admin)
        .json(&json!({"channel": "pos"}))
        .send()
        .await
        .assert_status(201);
    app.post(&format!("/v1/customers/{member}/identities"))
        .token(&admin)
        .json(&json!({"kind": "wechat_openid", "value": "wx123:o-abc"}))
        .send()
        .await
        .assert_status(201);
    app.state.clock.set(morning());
    let newer = app.customer().with(json!({"name": "新会员", "consents": {"marketing_wechat": true}})).create().await;
    app.post(&format!("/v1/customers/{newer}/membership"))
        .token(&app.admin_token())
        .json(&json!({"channel": "pos"}))
        .send()
        .await;
    let coupon = template(&app, json!({"name": "周年专享85折", "kind": "percent_off", "discount_rate": "0.85"})).await;
    let id = campaign(&app, json!({"name": "入会周年", "kind": "triggered", "trigger": {"type": "membership_anniversary"},
        "actions": [{"type": "issue_coupon", "template_id": coupon},
                    {"type": "send_message", "channel": "wechat", "template": "{{name}}，入会一周年快乐！{{tier}}专享{{coupon_name}}：{{coupon_code}}"}]}))
    .await;
    tick(&app).await;
    let rows = decisions(&app, id);
    assert_eq!(rows.len(), 1, "joined today is no anniversary: {rows:?}");
    assert_eq!(outcome_of(&rows, member), vec![("reached".to_string(), None)]);
    let sent = message_events(&app, member);
    assert_eq!(sent[0].1, "wx123:o-abc", "a WeChat message goes to the openid");
    assert!(sent[0].0.starts_with("周年会员，入会一周年快乐！"), "{}", sent[0].0);
    assert!(sent[0].0.contains("周年专享85折"));
}

#[actix_web::test]
async fn dormant_90_days_gets_the_20_yuan_welcome_back_gift_naming_their_usual_categories() {
    let app = app_at(morning()).await;
    let gift =
        template(&app, json!({"name": "无门槛20元回归礼", "kind": "cash", "discount": "20.00", "unit_cost": "20.00"}))
            .await;
    let away = app
        .customer()
        .with(json!({"name": "老顾客", "phone": "13800000011", "consents": {"marketing_sms": true}}))
        .create()
        .await;
    for (days, category) in [(120, "童装"), (110, "童装"), (100, "女装")] {
        app.sale().customer(away).at(morning() - Duration::days(days)).item(category, "100.00").create().await;
    }
    let recent = app
        .customer()
        .with(json!({"name": "常客", "phone": "13800000012", "consents": {"marketing_sms": true}}))
        .create()
        .await;
    app.sale().customer(recent).at(morning() - Duration::days(30)).item("女装", "100.00").create().await;
    let never = app
        .customer()
        .with(json!({"name": "未消费", "phone": "13800000013", "consents": {"marketing_sms": true}}))
        .create()
        .await;
    let id = campaign(&app, json!({"name": "沉睡唤醒", "kind": "triggered", "trigger": {"type": "dormant", "days": 90},
        "actions": [{"type": "issue_coupon", "template_id": gift},
                    {"type": "send_message", "channel": "sms", "template": "{{name}}，好久不见！您常买的{{usual_categories}}上新了，送您{{coupon_name}}：{{coupon_code}}"}]}))
    .await;
    trust::catalogue(&app, &["童装", "女装"]).await;
    tick(&app).await;
    let rows = decisions(&app, id);
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![away]);
    let sent = message_events(&app, away);
    assert!(
        sent[0].0.starts_with("老顾客，好久不见！您常买的童装、女装上新了，送您无门槛20元回归礼："),
        "{}",
        sent[0].0
    );
    assert!(message_events(&app, recent).is_empty() && message_events(&app, never).is_empty());

    // Back at the till, then away again: a new spell of dormancy is a new occurrence.
    let coupon = sent[0].2.clone().expect("code");
    app.state.clock.set(morning() + Duration::days(1));
    app.sale()
        .customer(away)
        .at(morning() + Duration::days(1))
        .item("女装", "100.00")
        .coupons(&[&coupon])
        .create()
        .await;
    app.state.clock.set(morning() + Duration::days(92));
    tick(&app).await;
    assert_eq!(message_events(&app, away).len(), 2);
    crate::orders::assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn the_frequency_cap_counts_every_campaign_and_quiet_hours_defer_to_the_morning() {
    let app = app_at(morning()).await;
    let admin = app.admin_token();
    let settings = app.get("/v1/marketing/settings").token(&admin).send().await;
    assert_eq!(
        settings.body,
        json!({"frequency_cap": {"max_messages": 3, "per_days": 7}, "quiet_hours": {"start": "21:00", "end": "09:00"}})
    );
    let who = app
        .customer()
        .with(json!({"name": "频控", "phone": "13800000021", "consents": {"marketing_sms": true}}))
        .create()
        .await;
    let everyone = segment(&app, json!({"field": "consent.marketing_sms", "op": "eq", "value": true})).await;
    let one_off = |n: i32| {
        json!({"name": format!("群发{n}"), "kind": "one_off", "audience": {"segment_id": everyone},
        "actions": [{"type": "send_message", "channel": "sms", "template": format!("{{{{name}}}}，第{n}条")}]})
    };
    let mut ids = Vec::new();
    for n in 1..=4 {
        ids.push(campaign(&app, one_off(n)).await);
        tick(&app).await;
    }
    let outcomes: Vec<_> = ids.iter().map(|id| outcome_of(&decisions(&app, *id), who)).collect();
    assert_eq!(outcomes[2], vec![("reached".to_string(), None)], "the third message of the week goes out");
    assert_eq!(outcomes[3], vec![("suppressed".to_string(), Some("frequency_cap".to_string()))]);
    // A one-off campaign completes when its run is done.
    let done = app.get(&format!("/v1/campaigns/{}", ids[0])).token(&admin).send().await;
    assert_eq!(done.body["status"], "completed");

    // Seven days on the window has passed; at 22:00 local the message waits for 09:00.
    let night = Utc.with_ymd_and_hms(2026, 6, 22, 14, 0, 0).single().expect("22:00 in Shanghai");
    app.state.clock.set(night);
    let late = campaign(&app, one_off(5)).await;
    tick(&app).await;
    assert_eq!(outcome_of(&decisions(&app, late), who), vec![("reached".to_string(), None)]);
    assert_eq!(message_events(&app, who).len(), 3, "decided, not yet sent");
    app.state.clock.set(night + Duration::hours(10) + Duration::minutes(59));
    tick(&app).await;
    assert_eq!(message_events(&app, who).len(), 3, "08:59 is still quiet");
    app.state.clock.set(night + Duration::hours(11));
    tick(&app).await;
    let sent = message_events(&app, who);
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[3].0, "频控，第5条");

    // Quiet hours are a setting: none at all sends at once.
    let admin = app.admin_token();
    let res = app
        .put("/v1/marketing/settings")
        .token(&admin)
        .json(&json!({"frequency_cap": {"max_messages": 10, "per_days": 7}, "quiet_hours": null}))
        .send()
        .await;
    res.assert_status(200);
    app.state.clock.set(night + Duration::days(1));
    campaign(&app, one_off(6)).await;
    tick(&app).await;
    assert_eq!(message_events(&app, who).len(), 5);
    let bad = app
        .put("/v1/marketing/settings")
        .token(&app.admin_token())
        .json(&json!({"frequency_cap": {"max_messages": 3, "per_days": 0}, "quiet_hours": {"start": "25:00", "end": "09:00"}}))
        .send()
        .await;
    bad.assert_status(422);
}

#[actix_web::test]
async fn a_control_group_gets_nothing_erased_customers_are_never_reached_and_points_come_once() {
    let app = app_at(morning()).await;
    let admin = app.admin_token();
    let mut people = Vec::new();
    for i in 0..20 {
        let id = app.customer().with(json!({"name": format!("客{i}"), "city": "杭州"})).create().await;
        app.post(&format!("/v1/customers/{id}/membership")).token(&admin).json(&json!({"channel": "pos"})).send().await;
        people.push(id);
    }
    let gone = app.customer().with(json!({"name": "已注销", "city": "杭州"})).create().await;
    app.delete(&format!("/v1/customers/{gone}")).token(&admin).send().await.assert_status(204);
    let audience = segment(&app, json!({"field": "city", "op": "eq", "value": "杭州"})).await;
    let id = campaign(
        &app,
        json!({"name": "积分回馈", "kind": "one_off", "audience": {"segment_id": audience},
        "holdout_percent": 30, "actions": [{"type": "award_points", "points": 200}]}),
    )
    .await;
    tick(&app).await;
    tick(&app).await;
    let rows = decisions(&app, id);
    assert_eq!(rows.len(), 20, "the erased customer is not in the audience");
    for who in &people {
        let held = retail_crm::campaigns::rules::in_holdout(id, *who, 30);
        let expected = if held { "holdout" } else { "reached" };
        assert_eq!(outcome_of(&rows, *who), vec![(expected.to_string(), None)]);
        let card = app.get(&format!("/v1/customers/{who}/points")).token(&admin).send().await;
        assert_eq!(card.body["balance"], json!(if held { 0 } else { 200 }), "{who}: {}", card.text);
    }
    let held = people.iter().filter(|p| retail_crm::campaigns::rules::in_holdout(id, **p, 30)).count();
    assert!(held > 0 && held < 20, "30% of 20 is held out: {held}");
    crate::orders::assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn campaigns_are_checked_when_saved_and_move_only_along_their_statuses() {
    let app = app_at(morning()).await;
    let admin = app.admin_token();
    let audience = segment(&app, json!({"field": "city", "op": "eq", "value": "上海"})).await;
    let post = |body: Value| {
        let admin = admin.clone();
        let app = &app;
        async move { app.post("/v1/campaigns").token(&admin).json(&body).send().await }
    };
    let cases = [
        (
            json!({"name": "x", "kind": "one_off", "audience": {"segment_id": audience},
                "actions": [{"type": "send_message", "channel": "sms", "template": "{{nickname}}你好"}]}),
            "actions[0].template",
        ),
        (
            json!({"name": "x", "kind": "one_off", "audience": {"segment_id": audience},
                "actions": [{"type": "send_message", "channel": "sms", "template": "券码{{coupon_code}}"}]}),
            "actions[0].template",
        ),
        (
            json!({"name": "x", "kind": "one_off", "actions": [{"type": "award_points", "points": 10}]}),
            "audience.segment_id",
        ),
        (json!({"name": "x", "kind": "triggered", "actions": [{"type": "award_points", "points": 10}]}), "trigger"),
        (
            json!({"name": "x", "kind": "triggered", "trigger": {"type": "dormant"}, "actions": [{"type": "award_points", "points": 10}]}),
            "trigger.days",
        ),
        (
            json!({"name": "x", "kind": "one_off", "audience": {"segment_id": Uuid::now_v7()}, "actions": [{"type": "award_points", "points": 10}]}),
            "audience.segment_id",
        ),
        (
            json!({"name": "x", "kind": "one_off", "audience": {"segment_id": audience},
                "actions": [{"type": "issue_coupon", "template_id": Uuid::now_v7()}]}),
            "actions[0].template_id",
        ),
        (
            json!({"name": "x", "kind": "scheduled", "audience": {"segment_id": audience}, "actions": [{"type": "award_points", "points": 10}]}),
            "schedule.starts_at",
        ),
        (
            json!({"name": "x", "kind": "one_off", "audience": {"segment_id": audience}, "holdout_percent": 51, "actions": [{"type": "award_points", "points": 10}]}),
            "holdout_percent",
        ),
    ];
    for (body, field) in cases {
        let res = post(body.clone()).await;
        res.assert_status(422);
        assert!(
            res.body["errors"].as_array().expect("errors").iter().any(|e| e["field"] == field),
            "{field} in {}",
            res.text
        );
    }
    let res = post(json!({"name": "周末促销", "kind": "scheduled", "audience": {"segment_id": audience},
        "schedule": {"starts_at": morning() + Duration::days(5), "ends_at": morning() + Duration::days(7)},
        "actions": [{"type": "award_points", "points": 10}]}))
    .await;
    res.assert_status(201);
    let id = res.uuid("id");
    let act = |path: &'static str| {
        let admin = admin.clone();
        let app = &app;
        async move { app.post(&format!("/v1/campaigns/{id}/{path}")).token(&admin).send().await }
    };
    let wrong = act("pause").await;
    wrong.assert_status(409);
    assert_eq!(
        (wrong.body["code"].as_str(), wrong.body["campaign_status"].as_str()),
        (Some("invalid_transition"), Some("draft"))
    );
    act("activate").await.assert_status(200);
    let busy = app.patch(&format!("/v1/campaigns/{id}")).token(&admin).json(&json!({"name": "改名"})).send().await;
    busy.assert_status(409);
    assert_eq!(busy.body["code"], "campaign_not_editable");
    act("pause").await.assert_status(200);
    let renamed = app.patch(&format!("/v1/campaigns/{id}")).token(&admin).json(&json!({"name": "改名"})).send().await;
    renamed.assert_status(200);
    act("activate").await.assert_status(200);
    act("complete").await.assert_status(200);
    act("activate").await.assert_status(409);
    // A segment a campaign uses stays.
    let in_use = app.delete(&format!("/v1/segments/{audience}")).token(&admin).send().await;
    in_use.assert_status(409);
    assert_eq!(in_use.body["code"], "segment_in_use");
    // A scheduled campaign runs in its window only.
    let store_bound = app.store_token(&["campaigns:read"], Some(Uuid::now_v7()));
    app.get("/v1/campaigns").token(&store_bound).send().await.assert_status(403);
}

#[actix_web::test]
async fn two_instances_ticking_together_never_send_a_message_twice() {
    let one = app_at(morning()).await;
    let two = one.another_instance().await;
    let mut people = Vec::new();
    for i in 0..1200 {
        people.push(json!({"identity": {"kind": "external:erp", "value": format!("E{i}")}, "name": format!("客{i}"),
                           "phone": format!("139{:08}", i), "consents": {"marketing_sms": true}}));
    }
    for chunk in people.chunks(600) {
        one.post("/v1/customers/bulk")
            .token(&one.admin_token())
            .json(&json!({"customers": chunk}))
            .send()
            .await
            .assert_status(200);
    }
    let everyone = segment(&one, json!({"field": "consent.marketing_sms", "op": "eq", "value": true})).await;
    let coupon = template(&one, json!({"name": "全员券", "kind": "cash", "discount": "5.00"})).await;
    let res = one
        .post("/v1/campaigns")
        .token(&one.admin_token())
        .json(&json!({"name": "全员群发", "kind": "one_off", "audience": {"segment_id": everyone},
            "actions": [{"type": "issue_coupon", "template_id": coupon},
                        {"type": "send_message", "channel": "sms", "template": "{{name}}：{{coupon_code}}"}]}))
        .send()
        .await;
    let id = res.uuid("id");
    // Activated through instance one; both schedulers tick at once, twice each.
    use diesel::prelude::*;
    diesel::sql_query("UPDATE campaigns SET status = 'active', activated_at = $2 WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(id)
        .bind::<diesel::sql_types::Timestamptz, _>(morning())
        .execute(&mut one.conn())
        .expect("activate");
    let now = morning();
    let zone = one.state.config.timezone;
    let sweeps = [one.state.pool.clone(), two.state.pool.clone(), one.state.pool.clone(), two.state.pool.clone()]
        .into_iter()
        .map(|pool| {
            std::thread::spawn(move || {
                let mut conn = pool.get().expect("connection");
                retail_crm::jobs::campaign_sweep(&mut conn, now, zone).expect("sweep")
            })
        })
        .collect::<Vec<_>>();
    let decided: i64 = sweeps.into_iter().map(|s| s.join().expect("thread")).sum();
    assert_eq!(decided, 1200, "between them the instances decided each customer once");
    #[derive(QueryableByName)]
    struct Counts {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        messages: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        recipients: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        coupons: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        events: i64,
    }
    let counts: Counts = diesel::sql_query(
        "SELECT (SELECT count(*) FROM campaign_messages) AS messages,
                (SELECT count(DISTINCT customer_id) FROM campaign_messages) AS recipients,
                (SELECT count(*) FROM coupons WHERE source = 'campaign') AS coupons,
                (SELECT count(*) FROM events WHERE type = 'campaign.message') AS events",
    )
    .get_result(&mut one.conn())
    .expect("counts");
    assert_eq!((counts.messages, counts.recipients, counts.coupons, counts.events), (1200, 1200, 1200, 1200));
}

#[actix_web::test]
async fn the_report_attributes_orders_in_the_window_and_coupon_use_against_the_control_group() {
    let app = app_at(morning()).await;
    let admin = app.admin_token();
    let mut people = Vec::new();
    for i in 0..40 {
        people.push(
            app.customer()
                .with(json!({"name": format!("客{i}"), "phone": format!("1370000{:04}", i), "city": "苏州",
                                  "consents": {"marketing_sms": true}}))
                .create()
                .await,
        );
    }
    let coupon = template(&app, json!({"name": "满100减10", "kind": "amount_off", "threshold": "100.00", "discount": "10.00", "unit_cost": "2.00"})).await;
    let audience = segment(&app, json!({"field": "city", "op": "eq", "value": "苏州"})).await;
    let body = json!({"name": "苏州上新", "kind": "one_off", "audience": {"segment_id": audience}, "holdout_percent": 25,
        "cost_per_message": "0.10", "actions": [{"type": "issue_coupon", "template_id": coupon},
        {"type": "send_message", "channel": "sms", "template": "{{name}}，上新！{{coupon_code}}"}]});
    let res = app.post("/v1/campaigns").token(&admin).json(&body).send().await;
    let id = res.uuid("id");
    app.post(&format!("/v1/campaigns/{id}/activate")).token(&admin).send().await.assert_status(200);
    tick(&app).await;
    let held: Vec<Uuid> =
        people.iter().copied().filter(|p| retail_crm::campaigns::rules::in_holdout(id, *p, 25)).collect();
    let reached: Vec<Uuid> = people.iter().copied().filter(|p| !held.contains(p)).collect();
    assert!(held.len() >= 3 && reached.len() >= 6, "{} held out", held.len());
    let code_of = |who: Uuid| decisions(&app, id).into_iter().find(|r| r.0 == who).and_then(|r| r.3).expect("code");

    // Reached: r0 orders 200 on day 3 (in the window); r1 orders 300 on day 20 (outside); r2 uses
    // the coupon on day 20 (outside the window, but the coupon counts): 150 − 10 = 140 paid; r3
    // orders 500 on day 1 and refunds it whole (converted, no revenue); r4 orders 80 on day 13.
    let day = |d: i64| morning() + Duration::days(d) + Duration::hours(1);
    app.state.clock.set(day(20) + Duration::hours(1));
    app.sale().customer(reached[0]).at(day(3)).item("女装", "200.00").create().await;
    app.sale().customer(reached[1]).at(day(20)).item("女装", "300.00").create().await;
    app.sale().customer(reached[2]).at(day(20)).item("女装", "150.00").coupons(&[&code_of(reached[2])]).create().await;
    let refunded = app.sale().customer(reached[3]).at(day(1)).item("女装", "500.00").create().await;
    let body = json!({"external_id": "R-1", "lines": [{"line_no": 1, "quantity": 1}]});
    app.post(&format!("/v1/orders/{refunded}/refunds"))
        .token(&app.token(TILL))
        .json(&body)
        .send()
        .await
        .assert_status(201);
    app.sale().customer(reached[4]).at(day(13)).item("女装", "80.00").create().await;
    // Held out: h0 orders 100 on day 2; h1 orders 60 on day 15 (outside).
    app.sale().customer(held[0]).at(day(2)).item("女装", "100.00").create().await;
    app.sale().customer(held[1]).at(day(15)).item("女装", "60.00").create().await;

    let admin = app.admin_token();
    let report = app.get(&format!("/v1/campaigns/{id}/report")).token(&admin).send().await;
    report.assert_status(200);
    let r = &report.body;
    let n_reached = reached.len() as i64;
    let n_held = held.len() as i64;
    assert_eq!(r["audience"], 40);
    assert_eq!(r["reached"], n_reached);
    assert_eq!(r["messages"], n_reached);
    assert_eq!(r["coupons_issued"], n_reached);
    assert_eq!(r["coupons_redeemed"], 1);
    // Converted: r0, r2, r3, r4.
    assert_eq!(r["converted"], 4);
    let revenue = Decimal::from(200 + 140 + 80);
    assert_eq!(r["revenue"], json!(format!("{revenue:.2}")));
    // Cost: each reached customer 0.10 for the message + 2.00 for the coupon.
    let cost = Decimal::new(210, 2) * Decimal::from(n_reached);
    assert_eq!(r["cost"], json!(format!("{cost:.2}")));
    let roi = (revenue / cost).round_dp(2);
    assert_eq!(r["roi"], json!(format!("{roi:.2}")));
    assert_eq!(r["roi_ratio"], json!(format!("1:{}", roi.round_dp(1).normalize())));
    let rate = |a: i64, b: i64| ((a as f64 / b as f64) * 10_000.0).round() / 10_000.0;
    assert_eq!(r["conversion_rate"].as_f64(), Some(rate(4, n_reached)));
    assert_eq!(r["control"]["customers"], n_held);
    assert_eq!(r["control"]["converted"], 1);
    assert_eq!(r["control"]["revenue"], "100.00");
    let incremental =
        (revenue / Decimal::from(n_reached) - Decimal::from(100) / Decimal::from(n_held)) * Decimal::from(n_reached);
    assert_eq!(r["control"]["incremental_revenue"], json!(format!("{:.2}", incremental.round_dp(2))));
    assert_eq!(r["by_channel"][0]["channel"], "sms");
    assert_eq!(r["by_channel"][0]["converted"], 4);

    // The gateway reports back.
    let message: Uuid = {
        use diesel::prelude::*;
        use retail_crm::schema::campaign_messages as cm;
        cm::table.filter(cm::customer_id.eq(reached[0])).select(cm::id).first(&mut app.conn()).expect("message")
    };
    let status = |s: &str| json!({"status": s});
    let path = format!("/v1/campaign-messages/{message}/status");
    app.post(&path).token(&admin).json(&status("delivered")).send().await.assert_status(200);
    app.post(&path).token(&admin).json(&status("clicked")).send().await.assert_status(200);
    app.post(&path).token(&admin).json(&status("clicked")).send().await.assert_status(200);
    let back = app.post(&path).token(&admin).json(&status("failed")).send().await;
    back.assert_status(409);
    assert_eq!(back.body["code"], "invalid_transition");
    let report = app.get(&format!("/v1/campaigns/{id}/report")).token(&admin).send().await;
    assert_eq!(report.body["delivered"], 1);
    assert_eq!(report.body["by_channel"][0]["clicked"], 1);
}

#[actix_web::test]
async fn first_orders_tier_upgrades_and_abandoned_carts_trigger_once_each() {
    let app = app_at(morning()).await;
    let admin = app.admin_token();
    let thanks = |trigger: &str| {
        json!({"name": format!("触发-{trigger}"), "kind": "triggered", "trigger": {"type": trigger},
               "actions": [{"type": "award_points", "points": 50}]})
    };
    let first = campaign(&app, thanks("first_order")).await;
    let upgraded = campaign(&app, thanks("tier_upgraded")).await;
    let cart = campaign(&app, thanks("cart_abandoned")).await;

    let buyer = app.customer().with(json!({"name": "首单"})).create().await;
    let member = app.customer().with(json!({"name": "升级"})).create().await;
    let shopper = app.customer().with(json!({"name": "加购"})).create().await;
    let came_back = app.customer().with(json!({"name": "加购后下单"})).create().await;
    for who in [buyer, member] {
        app.post(&format!("/v1/customers/{who}/membership"))
            .token(&admin)
            .json(&json!({"channel": "pos"}))
            .send()
            .await;
    }
    app.sale().customer(buyer).at(morning()).item("女装", "99.00").create().await;
    app.sale().customer(buyer).at(morning()).item("女装", "59.00").create().await;
    app.put(&format!("/v1/customers/{member}/membership/tier"))
        .token(&admin)
        .json(&json!({"tier": "gold", "reason": "manual"}))
        .send()
        .await
        .assert_status(200);
    for who in [shopper, came_back] {
        let body = json!({"source": "tmall", "kind": "cart_abandoned", "customer_id": who,
                          "items": [{"sku": "W-DRESS-001", "name": "连衣裙", "quantity": 1, "unit_price": "299"}]});
        app.post("/v1/leads").token(&admin).json(&body).send().await.assert_status(201);
    }
    app.state.clock.set(morning() + Duration::minutes(5));
    app.sale().customer(came_back).at(morning() + Duration::minutes(5)).item("女装", "299.00").create().await;
    tick(&app).await;
    tick(&app).await;
    let reached = |id: Uuid| decisions(&app, id).into_iter().map(|r| r.0).collect::<Vec<_>>();
    // Two first orders (the one who came back for the cart too), each once however many orders follow.
    assert_eq!(reached(first), vec![buyer, came_back]);
    assert_eq!(reached(upgraded), vec![member]);
    assert_eq!(reached(cart), vec![shopper], "a cart followed by an order is not abandoned");
    crate::orders::assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn the_budget_and_the_coupons_own_limits_suppress_with_their_reasons() {
    let app = app_at(morning()).await;
    let mut people = Vec::new();
    for i in 0..6 {
        people.push(app.customer().with(json!({"name": format!("预算{i}"), "city": "南京"})).create().await);
    }
    people.sort();
    let audience = segment(&app, json!({"field": "city", "op": "eq", "value": "南京"})).await;
    // Each reach costs 3.00 (the coupon's unit cost): a 10.00 budget reaches three customers.
    let coupon =
        template(&app, json!({"name": "限量券", "kind": "cash", "discount": "3.00", "unit_cost": "3.00"})).await;
    let id = campaign(
        &app,
        json!({"name": "预算", "kind": "one_off", "audience": {"segment_id": audience}, "budget": "10.00",
        "actions": [{"type": "issue_coupon", "template_id": coupon}]}),
    )
    .await;
    tick(&app).await;
    let rows = decisions(&app, id);
    let reasons: Vec<Option<String>> = rows.iter().map(|r| r.2.clone()).collect();
    assert_eq!(
        reasons,
        vec![
            None,
            None,
            None,
            Some("budget_exhausted".into()),
            Some("budget_exhausted".into()),
            Some("budget_exhausted".into())
        ]
    );
    let report = app.get(&format!("/v1/campaigns/{id}/report")).token(&app.admin_token()).send().await;
    assert_eq!(report.body["cost"], "9.00");
    assert_eq!(report.body["suppressed"], json!({"budget_exhausted": 3}));

    // A template with 2 coupons left reaches two; the others are told why.
    let scarce = app
        .post("/v1/coupon-templates")
        .token(&app.admin_token())
        .json(&json!({"name": "仅两张", "kind": "cash", "discount": "1.00", "valid_days_after_issue": 30,
                      "total_quantity": 2, "status": "active"}))
        .send()
        .await
        .uuid("id");
    let id = campaign(
        &app,
        json!({"name": "限量", "kind": "one_off", "audience": {"segment_id": audience},
        "actions": [{"type": "issue_coupon", "template_id": scarce}]}),
    )
    .await;
    tick(&app).await;
    let rows = decisions(&app, id);
    assert_eq!(rows.iter().filter(|r| r.1 == "reached" && r.3.is_some()).count(), 2);
    assert_eq!(rows.iter().filter(|r| r.2.as_deref() == Some("coupon_unavailable")).count(), 4);
}

#[actix_web::test]
async fn an_erasure_blanks_the_persons_messages_and_cancels_those_still_waiting() {
    // 22:00 in Shanghai: the message waits for the morning.
    let app = app_at(Utc.with_ymd_and_hms(2026, 6, 15, 14, 0, 0).single().expect("instant")).await;
    let who = app
        .customer()
        .with(json!({"name": "隐私", "phone": "13800000031", "consents": {"marketing_sms": true}}))
        .create()
        .await;
    let other = app
        .customer()
        .with(json!({"name": "旁人", "phone": "13800000032", "consents": {"marketing_sms": true}}))
        .create()
        .await;
    let audience = segment(&app, json!({"field": "consent.marketing_sms", "op": "eq", "value": true})).await;
    let id = campaign(
        &app,
        json!({"name": "夜间", "kind": "one_off", "audience": {"segment_id": audience},
        "actions": [{"type": "send_message", "channel": "sms", "template": "{{name}}您好"}]}),
    )
    .await;
    tick(&app).await;
    app.delete(&format!("/v1/customers/{who}")).token(&app.admin_token()).send().await.assert_status(204);
    app.state.clock.set(Utc.with_ymd_and_hms(2026, 6, 16, 1, 0, 0).single().expect("09:00"));
    tick(&app).await;
    assert!(message_events(&app, who).is_empty(), "never sent to an erased customer");
    assert_eq!(message_events(&app, other)[0].0, "旁人您好");
    use diesel::prelude::*;
    use retail_crm::schema::campaign_messages as cm;
    let rows: Vec<(String, String, String, Option<String>)> = cm::table
        .filter(cm::customer_id.eq(who))
        .select((cm::recipient, cm::body, cm::status, cm::reason))
        .load(&mut app.conn())
        .expect("messages");
    assert_eq!(rows, vec![(String::new(), "[erased]".to_string(), "failed".to_string(), Some("not_live".to_string()))]);
    let report = app.get(&format!("/v1/campaigns/{id}/report")).token(&app.admin_token()).send().await;
    assert_eq!(report.body["by_channel"][0]["failed"], 1);
}
