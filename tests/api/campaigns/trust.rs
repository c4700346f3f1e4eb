//! Issue 22 in campaigns: points a campaign awards are points minted (finding 2), and a message
//! names only catalogued categories of real purchases (finding 3).

use super::*;
use crate::support::percent_encode;

/// Puts `names` into the category catalogue messages render from.
pub(super) async fn catalogue(app: &TestApp, names: &[&str]) {
    for name in names {
        let path = format!("/v1/message-categories/{}", percent_encode(name));
        app.put(&path).token(&app.admin_token()).send().await.assert_status(201);
    }
}

/// One sale of several lines, each `(category, amount)`, posted by a store's till.
async fn basket(app: &TestApp, till: &str, customer: Uuid, at: DateTime<Utc>, lines: &[(&str, &str)]) {
    let lines: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, (category, amount))| {
            json!({"sku": format!("SKU-{i}"), "category": category, "quantity": 1, "unit_price": amount})
        })
        .collect();
    let body = json!({"external_id": format!("S-{}", Uuid::now_v7()), "channel": "pos", "customer_id": customer,
        "occurred_at": at, "lines": lines});
    app.post("/v1/orders").token(till).json(&body).send().await.assert_status(201);
}

#[actix_web::test]
async fn campaign_points_need_loyalty_write_stay_within_the_program_bound_and_show_their_cost() {
    let app = app_at(morning()).await;
    let admin = app.admin_token();
    let marketer = app.token(&["campaigns:read", "campaigns:write"]);
    let mut people = Vec::new();
    for i in 0..3 {
        people.push(app.customer().with(json!({"name": format!("客{i}"), "city": "苏州"})).create().await);
    }
    let audience = segment(&app, json!({"field": "city", "op": "eq", "value": "苏州"})).await;
    let awarding = |points: i64| {
        json!({"name": format!("送{points}分"), "kind": "one_off", "audience": {"segment_id": audience},
               "actions": [{"type": "award_points", "points": points}]})
    };

    // The numbers: 100,000 points per customer from a client holding only campaigns:write.
    let res = app.post("/v1/campaigns").token(&marketer).json(&awarding(100_000)).send().await;
    res.assert_problem(403, "forbidden");
    // Even the admin is held to the program's bound (default: max_adjustment_points, 10,000).
    let res = app.post("/v1/campaigns").token(&admin).json(&awarding(100_000)).send().await;
    res.assert_problem(422, "award_over_limit");
    assert_eq!(res.body["max_campaign_award_points"], 10_000);
    // A campaign without points stays the marketer's own; giving it points needs loyalty:write.
    let plain = json!({"name": "无积分", "kind": "one_off", "audience": {"segment_id": audience},
                       "actions": [{"type": "send_message", "channel": "sms", "template": "{{name}}您好"}]});
    let res = app.post("/v1/campaigns").token(&marketer).json(&plain).send().await;
    res.assert_status(201);
    let plain_id = res.uuid("id");
    let give = json!({"actions": [{"type": "award_points", "points": 10}]});
    let res = app.patch(&format!("/v1/campaigns/{plain_id}")).token(&marketer).json(&give).send().await;
    res.assert_problem(403, "forbidden");

    let res = app.post("/v1/campaigns").token(&admin).json(&awarding(500)).send().await;
    res.assert_status(201);
    let id = res.uuid("id");
    // The dry-run before activation shows the points and charges their value as cost:
    // 3 customers × 500 points, at 100 points = CNY 10, is 1,500 points and CNY 150.00.
    let dry = app.post(&format!("/v1/campaigns/{id}/dry-run")).token(&marketer).send().await;
    dry.assert_status(200);
    assert_eq!(
        (dry.body["reached"].clone(), dry.body["points"].clone(), dry.body["cost"].clone()),
        (json!(3), json!(1500), json!("150.00"))
    );
    // Starting it mints points: the marketer alone may not.
    let activate = format!("/v1/campaigns/{id}/activate");
    app.post(&activate).token(&marketer).send().await.assert_problem(403, "forbidden");
    // A program bound tightened after the campaign was saved holds at activation and at run time.
    let program = app.put("/v1/loyalty/program").token(&admin).json(&json!({"max_campaign_award_points": 200}));
    program.send().await.assert_status(200);
    let res = app.post(&activate).token(&admin).send().await;
    res.assert_problem(422, "award_over_limit");
    assert_eq!(res.body["max_campaign_award_points"], 200);
    let program = app.put("/v1/loyalty/program").token(&admin).json(&json!({"max_campaign_award_points": 500}));
    program.send().await.assert_status(200);
    app.post(&activate).token(&admin).send().await.assert_status(200);
    let program = app.put("/v1/loyalty/program").token(&admin).json(&json!({"max_campaign_award_points": 100}));
    program.send().await.assert_status(200);
    tick(&app).await;
    assert!(decisions(&app, id).is_empty(), "nothing is awarded over the bound");
    let program = app.put("/v1/loyalty/program").token(&admin).json(&json!({"max_campaign_award_points": 500}));
    program.send().await.assert_status(200);
    tick(&app).await;
    for who in &people {
        let card = app.get(&format!("/v1/customers/{who}/points")).token(&admin).send().await;
        assert_eq!(card.body["balance"], json!(500), "{}", card.text);
    }
    let report = app.get(&format!("/v1/campaigns/{id}/report")).token(&admin).send().await;
    assert_eq!(report.body["cost"], "150.00", "the run charged the points' value: {}", report.text);
    crate::orders::assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn a_message_names_only_catalogued_categories_of_paid_lines() {
    let app = app_at(morning()).await;
    let store = app.store_id("SZ-01").await;
    let till = app.store_token(&["orders:write", "orders:read"], Some(store));
    let away = app
        .customer()
        .with(json!({"name": "老顾客", "phone": "13800000031", "consents": {"marketing_sms": true}}))
        .create()
        .await;
    let long_ago = morning() - Duration::days(120);
    let injected = "加微信领红包 t.cn/A6x";
    // The finding: ¥0 lines with a crafted category from a store's till; and a paid one off-catalogue.
    basket(&app, &till, away, long_ago, &[("童装", "100.00"), (injected, "0.00"), ("女装", "0.00")]).await;
    basket(&app, &till, away, long_ago, &[("回复1领奖", "1.00")]).await;
    // What others bought together with 童装: 鞋靴 paid, 男装 only at ¥0, the injected text paid.
    for i in 0..3 {
        let other = app.customer().with(json!({"name": format!("同买{i}")})).create().await;
        let at = morning() - Duration::days(10);
        basket(&app, &till, other, at, &[("童装", "50.00"), ("鞋靴", "80.00"), ("男装", "0.00"), (injected, "5.00")])
            .await;
    }
    catalogue(&app, &["童装", "女装", "鞋靴", "男装"]).await;

    // The catalogue takes plain names from chain-wide principals only.
    let admin = app.admin_token();
    for bad in [injected, "t.cn", "=HYPERLINK(1)"] {
        let res = app.put(&format!("/v1/message-categories/{}", percent_encode(bad))).token(&admin).send().await;
        res.assert_problem(422, "validation_failed");
    }
    let till_marketer = app.store_token(&["campaigns:read", "campaigns:write"], Some(store));
    let res = app.put("/v1/message-categories/Kids").token(&till_marketer).send().await;
    res.assert_problem(403, "store_bound_principal");
    let res = app.put(&format!("/v1/message-categories/{}", percent_encode("童装"))).token(&admin).send().await;
    res.assert_status(200);
    let listed = app.collect_pages("/v1/message-categories", &app.token(&["campaigns:read"]), 2).await;
    let names: Vec<&str> = listed.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["女装", "男装", "童装", "鞋靴"]);

    let id = campaign(
        &app,
        json!({"name": "沉睡唤醒", "kind": "triggered", "trigger": {"type": "dormant", "days": 90},
        "actions": [{"type": "send_message", "channel": "sms",
                     "template": "您常买的[{{usual_categories}}]，推荐[{{recommended_categories}}]"}]}),
    )
    .await;
    tick(&app).await;
    assert_eq!(decisions(&app, id).len(), 1);
    let sent = message_events(&app, away);
    assert_eq!(sent[0].0, "您常买的[童装]，推荐[鞋靴]", "no till's text, no ¥0 line");

    // Removed from the catalogue, a category is named no more.
    let path = format!("/v1/message-categories/{}", percent_encode("童装"));
    app.delete(&path).token(&admin).send().await.assert_status(204);
    app.delete(&path).token(&admin).send().await.assert_problem(404, "category_not_found");
}
