//! SPEC §9 segments and lifecycle, §5 rule tags and the `lifecycle_stage` filter, §8 coupon issue
//! to a segment — each on a hand-built data set whose answer the test states independently.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::orders::TILL;
use crate::support::TestApp;
use retail_crm::customers::lifecycle::{self, OrderHistory};

/// Noon in Shanghai on 15 June 2026: the business day is 2026-06-15.
fn pinned() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 15, 4, 0, 0).single().expect("a valid instant")
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 15).expect("a valid date")
}

async fn app() -> TestApp {
    let app = TestApp::new().await;
    app.state.clock.set(pinned());
    app
}

async fn refund_whole(app: &TestApp, order: Uuid) {
    let body = json!({"external_id": format!("R-{order}"), "lines": [{"line_no": 1, "quantity": 1}]});
    app.post(&format!("/v1/orders/{order}/refunds"))
        .token(&app.token(TILL))
        .json(&body)
        .send()
        .await
        .assert_status(201);
}

async fn preview(app: &TestApp, definition: Value) -> Value {
    let token = app.token(&["campaigns:read"]);
    let res = app.post("/v1/segments/preview").token(&token).json(&json!({"definition": definition})).send().await;
    res.assert_status(200);
    res.body
}

/// The audience of a definition, as a sorted list.
async fn audience(app: &TestApp, definition: Value) -> Vec<Uuid> {
    let body = preview(app, definition).await;
    let mut ids: Vec<Uuid> = serde_json::from_value(body["customer_ids"].clone()).expect("customer ids");
    assert_eq!(body["customers"], json!(ids.len()), "a small audience is listed whole");
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

#[actix_web::test]
async fn a_bad_definition_is_422_naming_its_path() {
    let app = app().await;
    let token = app.token(&["campaigns:write", "campaigns:read"]);
    let cases = [
        (
            json!({"all": [{"field": "city", "op": "eq", "value": "上海"}, {"field": "age", "op": "contains", "value": 3}]}),
            "definition.all[1].op",
        ),
        (json!({"any": [{"field": "shoe_size", "op": "eq", "value": 42}]}), "definition.any[0].field"),
        (json!({"not": {"field": "order_count", "op": "gte", "value": "many"}}), "definition.not.value"),
        (json!({"field": "city", "op": "eq", "value": "上海", "window_days": 30}), "definition.window_days"),
        (json!({"field": "lifecycle_stage", "op": "eq", "value": "sleepy"}), "definition.value"),
    ];
    for (definition, path) in cases {
        let res =
            app.post("/v1/segments").token(&token).json(&json!({"name": "x", "definition": definition})).send().await;
        res.assert_status(422);
        assert_eq!(res.body["errors"][0]["field"], path, "{}", res.text);
        let res = app.post("/v1/segments/preview").token(&token).json(&json!({"definition": definition})).send().await;
        res.assert_status(422);
        assert_eq!(res.body["errors"][0]["field"], path);
    }
    let mut deep = json!({"field": "city", "op": "eq", "value": "上海"});
    for _ in 0..8 {
        deep = json!({"not": deep});
    }
    let res = app.post("/v1/segments").token(&token).json(&json!({"name": "deep", "definition": deep})).send().await;
    res.assert_status(422);
}

#[actix_web::test]
async fn segments_are_saved_changed_with_if_match_and_deleted() {
    let app = app().await;
    let token = app.token(&["campaigns:write", "campaigns:read"]);
    let definition = json!({"field": "city", "op": "eq", "value": "上海"});
    let res =
        app.post("/v1/segments").token(&token).json(&json!({"name": "上海", "definition": definition})).send().await;
    res.assert_status(201);
    let id = res.uuid("id");
    let again =
        app.post("/v1/segments").token(&token).json(&json!({"name": "上海", "definition": definition})).send().await;
    again.assert_status(409);
    assert_eq!(again.body["code"], "segment_name_taken");

    let stale = app
        .patch(&format!("/v1/segments/{id}"))
        .token(&token)
        .header("If-Match", "\"7\"")
        .json(&json!({"name": "上海会员"}))
        .send()
        .await;
    stale.assert_status(412);
    let changed = app
        .patch(&format!("/v1/segments/{id}"))
        .token(&token)
        .header("If-Match", "\"1\"")
        .json(&json!({"definition": {"field": "city", "op": "in", "value": ["上海", "杭州"]}}))
        .send()
        .await;
    changed.assert_status(200);
    assert_eq!(changed.body["version"], 2);
    assert_eq!(changed.body["definition"]["value"], json!(["上海", "杭州"]));
    let bad = app
        .patch(&format!("/v1/segments/{id}"))
        .token(&token)
        .json(&json!({"definition": {"all": [{"field": "city", "op": "gt", "value": "上海"}]}}))
        .send()
        .await;
    bad.assert_status(422);
    assert_eq!(bad.body["errors"][0]["field"], "definition.all[0].op");

    let list = app.get("/v1/segments").token(&token).send().await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    app.delete(&format!("/v1/segments/{id}")).token(&token).send().await.assert_status(204);
    let gone = app.get(&format!("/v1/segments/{id}")).token(&token).send().await;
    gone.assert_status(404);
    assert_eq!(gone.body["code"], "segment_not_found");
}

/// SPEC §9: the stage of each history on 2026-06-15, days counted back from it (day 0).
#[actix_web::test]
async fn lifecycle_stages_on_profiles_in_search_and_in_segments_agree_with_the_rule() {
    let app = app().await;
    let histories: &[(&[i64], &str)] = &[
        (&[], "prospect"),
        (&[29], "new"),
        (&[30, 5], "active"),
        (&[61, 100], "dormant"),
        (&[60, 100], "occasional"),
        (&[45, 100, 120], "churn_risk"),
        (&[45, 50, 100, 120], "occasional"),
        (&[10, 100, 120], "churn_risk"),
        (&[40, 90, 179], "churn_risk"),
        (&[40, 89, 179], "occasional"),
        (&[40, 90, 180], "occasional"),
    ];
    let mut expected: Vec<(Uuid, &str)> = Vec::new();
    for (days, stage) in histories {
        let id = app.customer().with(json!({"name": format!("历史{days:?}")})).create().await;
        for d in *days {
            app.sale().customer(id).at(pinned() - Duration::days(*d)).item("女装", "100.00").create().await;
        }
        // The rule itself agrees with the stated stage (its own tests cover every boundary).
        let dates: Vec<NaiveDate> = days.iter().map(|d| today() - Duration::days(*d)).collect();
        assert_eq!(lifecycle::stage(&OrderHistory::from_days(&dates, today()), today()).as_str(), *stage);
        expected.push((id, stage));
    }
    // A fully refunded order is no order: this customer's last counted one is 100 days ago.
    let refunded = app.customer().with(json!({"name": "退货"})).create().await;
    app.sale().customer(refunded).at(pinned() - Duration::days(100)).item("女装", "100.00").create().await;
    let returned = app.sale().customer(refunded).at(pinned() - Duration::days(5)).item("女装", "100.00").create().await;
    refund_whole(&app, returned).await;
    expected.push((refunded, "dormant"));

    app.post("/v1/sweeps/customer_activity/run").token(&app.admin_token()).send().await.assert_status(200);
    let reader = app.token(&["customers:read"]);
    for (id, stage) in &expected {
        let res = app.get(&format!("/v1/customers/{id}")).token(&reader).send().await;
        assert_eq!(res.body["lifecycle_stage"], *stage, "profile of {id}");
    }
    for stage in lifecycle::LifecycleStage::ALL.map(|s| s.as_str()) {
        let want = sorted(expected.iter().filter(|(_, s)| *s == stage).map(|(id, _)| *id).collect());
        let found = app.collect_pages(&format!("/v1/customers?lifecycle_stage={stage}"), &reader, 200).await;
        let found = sorted(found.iter().map(|c| c["id"].as_str().unwrap().parse().unwrap()).collect());
        assert_eq!(found, want, "search lifecycle_stage={stage}");
        let segment = audience(&app, json!({"field": "lifecycle_stage", "op": "eq", "value": stage})).await;
        assert_eq!(segment, want, "segment lifecycle_stage eq {stage}");
    }
    let not_dormant =
        audience(&app, json!({"field": "lifecycle_stage", "op": "not_in", "value": ["dormant", "prospect"]})).await;
    let want =
        sorted(expected.iter().filter(|(_, s)| !["dormant", "prospect"].contains(s)).map(|(id, _)| *id).collect());
    assert_eq!(not_dormant, want);
    let bad = app.get("/v1/customers?lifecycle_stage=sleepy").token(&reader).send().await;
    bad.assert_status(422);
}

#[actix_web::test]
async fn order_history_conditions_count_windows_refunds_and_customers_without_orders() {
    let app = app().await;
    let a = app.customer().with(json!({"name": "A"})).create().await;
    for (days, amount) in [(1, "100.00"), (12, "200.00"), (29, "300.00")] {
        app.sale().customer(a).at(pinned() - Duration::days(days)).item("女装", amount).create().await;
    }
    app.sale().customer(a).at(pinned() - Duration::days(10)).item("童装", "50.00").create().await;
    let b = app.customer().with(json!({"name": "B"})).create().await;
    app.sale().customer(b).at(pinned() - Duration::days(200)).item("女装", "1000.00").create().await;
    let c = app.customer().with(json!({"name": "C"})).create().await;
    let d = app.customer().with(json!({"name": "D"})).create().await;
    app.sale().customer(d).at(pinned() - Duration::days(3)).item("鞋", "80.00").create().await;
    let gone = app.sale().customer(d).at(pinned() - Duration::days(4)).item("鞋", "900.00").create().await;
    refund_whole(&app, gone).await;

    let q = |field: &str, op: &str, value: Value, window: Option<i64>| {
        let mut c = json!({"field": field, "op": op, "value": value});
        if let Some(w) = window {
            c["window_days"] = json!(w);
        }
        c
    };
    let cases: Vec<(Value, Vec<Uuid>)> = vec![
        // A: 4 orders in 30 days; D: 1 (the refunded one does not count).
        (q("order_count", "gte", json!(2), Some(30)), vec![a]),
        (q("order_count", "lt", json!(2), Some(30)), vec![b, c, d]),
        (q("order_count", "eq", json!(0), None), vec![c]),
        (q("order_count", "between", json!([1, 1]), None), vec![b, d]),
        // Spend is net of refunds: A 650, B 1000, D 80.
        (q("spend", "gte", json!("500.00"), None), vec![a, b]),
        (q("spend", "gte", json!("500.00"), Some(90)), vec![a]),
        (q("spend", "lt", json!("100"), None), vec![c, d]),
        (q("bought_category", "eq", json!("童装"), Some(30)), vec![a]),
        (q("bought_category", "eq", json!("童装"), Some(9)), vec![]),
        (q("bought_category", "ne", json!("女装"), None), vec![c, d]),
        (q("bought_category", "in", json!(["鞋", "童装"]), None), vec![a, d]),
        (q("days_since_last_order", "gt", json!(90), None), vec![b]),
        (json!({"not": q("days_since_last_order", "lte", json!(90), None)}), vec![b, c]),
        (q("days_since_last_order", "eq", json!(1), None), vec![a]),
    ];
    for (definition, want) in cases {
        assert_eq!(audience(&app, definition.clone()).await, sorted(want), "{definition}");
    }
}

#[actix_web::test]
async fn profile_conditions_and_the_steps_of_a_preview() {
    let app = app().await;
    let store = app.create_store("SH-01").await["id"].as_str().unwrap().parse::<Uuid>().unwrap();
    // 30 years old on 2026-06-15 (born 1996-06-15); birthday in 3 days; and one born on 29 February.
    let ann = app
        .customer()
        .with(json!({"name": "Ann", "city": "上海", "gender": "female", "birthday": "1996-06-15",
        "phone": "13800000001", "home_store_id": store, "consents": {"marketing_sms": true}, "tags": ["vip"]}))
        .create()
        .await;
    let bea = app
        .customer()
        .with(json!({"name": "Bea", "city": "上海", "gender": "female", "birthday": "1990-06-18",
        "consents": {"marketing_sms": true, "marketing_email": true}}))
        .create()
        .await;
    let cat = app
        .customer()
        .with(json!({"name": "Cat", "city": "杭州", "gender": "male", "birthday": "2000-02-29",
        "consents": {"marketing_sms": false}}))
        .create()
        .await;
    let dan = app.customer().with(json!({"name": "Dan", "source_channel": "tmall"})).create().await;
    // Erased and merged customers are never in a segment.
    let erased =
        app.customer().with(json!({"name": "Eve", "city": "上海", "consents": {"marketing_sms": true}})).create().await;
    let admin = app.token(&["admin"]);
    app.delete(&format!("/v1/customers/{erased}")).token(&admin).send().await.assert_status(204);
    let duplicate = app
        .customer()
        .with(json!({"name": "Ann2", "city": "上海", "consents": {"marketing_sms": true}}))
        .create()
        .await;
    app.post(&format!("/v1/customers/{ann}/merge"))
        .token(&admin)
        .json(&json!({"source_customer_id": duplicate}))
        .send()
        .await
        .assert_status(200);
    app.post(&format!("/v1/customers/{ann}/membership")).token(&admin).json(&json!({"channel": "pos"})).send().await;
    app.sale().customer(ann).at(pinned() - Duration::days(2)).item("女装", "300.00").create().await;

    let q = |field: &str, op: &str, value: Value| json!({"field": field, "op": op, "value": value});
    let cases: Vec<(Value, Vec<Uuid>)> = vec![
        (q("city", "eq", json!("上海")), vec![ann, bea]),
        (q("city", "ne", json!("上海")), vec![cat, dan]),
        (q("city", "contains", json!("州")), vec![cat]),
        (json!({"field": "city", "op": "exists", "value": false}), vec![dan]),
        (q("gender", "in", json!(["male"])), vec![cat]),
        (q("age", "eq", json!(30)), vec![ann]),
        (q("age", "between", json!([25, 40])), vec![ann, bea, cat]),
        (q("birthday_in_days", "lte", json!(3)), vec![ann, bea]),
        (q("birthday_in_days", "eq", json!(0)), vec![ann]),
        (q("consent.marketing_sms", "eq", json!(true)), vec![ann, bea]),
        (q("consent.marketing_email", "eq", json!(false)), vec![ann, cat, dan]),
        (q("tags", "contains", json!("vip")), vec![ann]),
        (json!({"field": "tier", "op": "exists"}), vec![ann]),
        (q("home_store_id", "eq", json!(store)), vec![ann]),
        (q("source_channel", "eq", json!("tmall")), vec![dan]),
        (q("registered_at", "gte", json!("2026-06-15")), vec![ann, bea, cat, dan]),
        (q("registered_at", "lt", json!("2026-06-15")), vec![]),
        // Only the member earned points (available at once: no pending days by default).
        (q("points_available", "gt", json!(0)), vec![ann]),
        (q("points_available", "eq", json!(0)), vec![bea, cat, dan]),
    ];
    for (definition, want) in cases {
        assert_eq!(audience(&app, definition.clone()).await, sorted(want), "{definition}");
    }

    // Why the audience is the size it is: the count after each top-level condition in turn.
    let definition = json!({"all": [
        q("consent.marketing_sms", "eq", json!(true)),
        q("city", "eq", json!("上海")),
        {"field": "order_count", "op": "gte", "value": 1, "window_days": 30},
    ]});
    let body = preview(&app, definition).await;
    let steps: Vec<i64> = body["steps"].as_array().unwrap().iter().map(|s| s["customers"].as_i64().unwrap()).collect();
    assert_eq!(steps, vec![2, 2, 1]);
    assert_eq!(body["steps"][2]["path"], "definition.all[2]");
    assert_eq!(body["steps"][1]["condition"]["field"], "city");
    assert_eq!(body["customers"], 1);
    assert_eq!(body["customer_ids"], json!([ann]));
    assert_eq!(body["evaluated_on"], "2026-06-15");
    let widening =
        preview(&app, json!({"any": [q("gender", "eq", json!("male")), q("city", "eq", json!("上海"))]})).await;
    let steps: Vec<i64> =
        widening["steps"].as_array().unwrap().iter().map(|s| s["customers"].as_i64().unwrap()).collect();
    assert_eq!(steps, vec![1, 3]);
    assert_eq!(widening["customers"], 3);
}

#[actix_web::test]
async fn a_segments_customers_are_paged_and_coupons_issue_to_it() {
    let app = app().await;
    let mut shanghai = Vec::new();
    for i in 0..5 {
        shanghai.push(
            app.customer().with(json!({"name": format!("沪{i}"), "city": "上海", "tags": ["vip"]})).create().await,
        );
    }
    let beijing = app.customer().with(json!({"name": "京", "city": "北京", "tags": ["vip"]})).create().await;
    app.customer().with(json!({"name": "无标签", "city": "广州"})).create().await;
    let admin = app.admin_token();
    let res = app
        .post("/v1/segments")
        .token(&admin)
        .json(&json!({"name": "上海", "definition": {"field": "city", "op": "eq", "value": "上海"}}))
        .send()
        .await;
    let segment = res.uuid("id");
    let pages = app.collect_pages(&format!("/v1/segments/{segment}/customers"), &admin, 2).await;
    let ids: Vec<Uuid> = pages.iter().map(|c| c["id"].as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(ids, sorted(shanghai.clone()));
    // Pages after the first start their subqueries at the cursor too: a tag (`IN`) and a
    // condition that also holds without points (`NOT IN`) page to the same audience.
    let res = app
        .post("/v1/segments")
        .token(&admin)
        .json(&json!({"name": "vip", "definition": {"all": [
            {"field": "tags", "op": "contains", "value": "vip"},
            {"field": "points_available", "op": "lt", "value": 100}]}}))
        .send()
        .await;
    let vip = res.uuid("id");
    let pages = app.collect_pages(&format!("/v1/segments/{vip}/customers"), &admin, 2).await;
    let ids: Vec<Uuid> = pages.iter().map(|c| c["id"].as_str().unwrap().parse().unwrap()).collect();
    let mut tagged = shanghai.clone();
    tagged.push(beijing);
    assert_eq!(ids, sorted(tagged));
    let no_customers_scope = app.token(&["campaigns:read"]);
    app.get(&format!("/v1/segments/{segment}/customers")).token(&no_customers_scope).send().await.assert_status(403);

    let template = app
        .post("/v1/coupon-templates")
        .token(&admin)
        .json(&json!({"name": "上海专享", "kind": "cash", "discount": "20.00", "valid_days_after_issue": 30,
                      "per_customer_limit": 1, "status": "active"}))
        .send()
        .await
        .uuid("id");
    let issue = app
        .post(&format!("/v1/coupon-templates/{template}/issue"))
        .token(&admin)
        .json(&json!({"segment_id": segment}))
        .send()
        .await;
    issue.assert_status(200);
    let issued: Vec<Uuid> = issue.body["issued"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["customer_id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(sorted(issued), sorted(shanghai));
    let again = app
        .post(&format!("/v1/coupon-templates/{template}/issue"))
        .token(&admin)
        .json(&json!({"segment_id": segment}))
        .send()
        .await;
    assert_eq!(again.body["issued"], json!([]));
    assert_eq!(again.body["skipped"].as_array().unwrap().len(), 5);
    let missing = app
        .post(&format!("/v1/coupon-templates/{template}/issue"))
        .token(&admin)
        .json(&json!({"segment_id": Uuid::now_v7()}))
        .send()
        .await;
    missing.assert_status(422);
    assert_eq!(missing.body["code"], "segment_not_found");
}

#[actix_web::test]
async fn rule_tags_follow_their_definition_and_cannot_be_set_by_hand() {
    let app = app().await;
    let admin = app.admin_token();
    let big = app.customer().with(json!({"name": "大客户"})).create().await;
    let small = app.customer().with(json!({"name": "小客户"})).create().await;
    app.sale().customer(big).at(pinned() - Duration::days(3)).item("女装", "800.00").create().await;
    app.sale().customer(small).at(pinned() - Duration::days(3)).item("女装", "100.00").create().await;
    let definition = json!({"field": "spend", "op": "gte", "value": "500.00", "window_days": 365});
    let res = app
        .post("/v1/tags")
        .token(&admin)
        .json(&json!({"name": "high-value", "kind": "rule", "definition": definition}))
        .send()
        .await;
    res.assert_status(201);
    assert_eq!(res.body["kind"], "rule");
    let tags_of = |id: Uuid| {
        let (app, admin) = (&app, admin.clone());
        async move { app.get(&format!("/v1/customers/{id}")).token(&admin).send().await.body["tags"].clone() }
    };
    assert_eq!(tags_of(big).await, json!(["high-value"]));
    assert_eq!(tags_of(small).await, json!([]));

    app.sale().customer(small).at(pinned() - Duration::days(1)).item("女装", "450.00").create().await;
    let res = app.post("/v1/tags/high-value/evaluate").token(&admin).send().await;
    res.assert_status(200);
    assert_eq!((res.body["tagged"].as_i64(), res.body["untagged"].as_i64()), (Some(1), Some(0)));
    assert_eq!(tags_of(small).await, json!(["high-value"]));

    // Nobody sets a rule tag by hand; a manual tag is not evaluated; a rule tag needs a definition.
    let by_hand = app
        .put(&format!("/v1/customers/{small}/tags"))
        .token(&admin)
        .json(&json!({"tags": ["high-value"]}))
        .send()
        .await;
    by_hand.assert_status(422);
    app.post("/v1/tags")
        .token(&admin)
        .json(&json!({"name": "by-hand", "kind": "manual"}))
        .send()
        .await
        .assert_status(201);
    let manual = app.post("/v1/tags/by-hand/evaluate").token(&admin).send().await;
    manual.assert_status(409);
    assert_eq!(manual.body["code"], "manual_tag");
    let bare = app.post("/v1/tags").token(&admin).json(&json!({"name": "空", "kind": "rule"})).send().await;
    bare.assert_status(422);
    let bad = app
        .post("/v1/tags")
        .token(&admin)
        .json(&json!({"name": "坏", "kind": "rule", "definition": {"field": "spend", "op": "contains", "value": "1"}}))
        .send()
        .await;
    bad.assert_status(422);
    assert_eq!(bad.body["errors"][0]["field"], "definition.op");

    // The nightly job brings every rule tag up to date.
    let refund_target = app.get(&format!("/v1/orders?customer_id={big}")).token(&admin).send().await;
    let order_id = refund_target.body["items"][0]["id"].as_str().unwrap().parse::<Uuid>().unwrap();
    refund_whole(&app, order_id).await;
    let job = app.post("/v1/jobs/rule_tags/run").token(&admin).send().await;
    job.assert_status(200);
    assert_eq!(tags_of(big).await, json!([]));
}

/// The activity and the segment rows the follower keeps equal a recomputation from scratch after
/// sales, refunds, a merge, a profile change, a consent withdrawn and an erasure.
#[actix_web::test]
async fn the_followed_activity_equals_a_recomputation_from_scratch() {
    use diesel::prelude::*;
    let app = app().await;
    let admin = app.admin_token();
    let mut people = Vec::new();
    for i in 0..4 {
        people.push(app.customer().with(json!({"name": format!("客{i}")})).create().await);
    }
    let mut orders = Vec::new();
    for (i, who) in people.iter().enumerate() {
        for k in 0..3 {
            let category = ["女装", "童装", "鞋"][(i + k) % 3];
            orders.push(
                app.sale()
                    .customer(*who)
                    .at(pinned() - Duration::days((i * 40 + k * 7) as i64))
                    .item(category, &format!("{}.50", 100 + i * 10 + k))
                    .create()
                    .await,
            );
        }
    }
    refund_whole(&app, orders[1]).await;
    refund_whole(&app, orders[7]).await;
    app.post(&format!("/v1/customers/{}/merge", people[0]))
        .token(&admin)
        .json(&json!({"source_customer_id": people[1]}))
        .send()
        .await
        .assert_status(200);
    app.patch(&format!("/v1/customers/{}", people[2]))
        .token(&admin)
        .json(&json!({"city": "杭州", "consents": {"marketing_sms": true}}))
        .send()
        .await
        .assert_status(200);
    app.patch(&format!("/v1/customers/{}", people[2]))
        .token(&admin)
        .json(&json!({"consents": {"marketing_sms": false, "marketing_email": true}}))
        .send()
        .await
        .assert_status(200);
    app.delete(&format!("/v1/customers/{}", people[3])).token(&admin).send().await.assert_status(204);
    app.post("/v1/sweeps/customer_activity/run").token(&admin).send().await.assert_status(200);

    let snapshot = |conn: &mut PgConnection| -> Vec<String> {
        ["customer_activity", "customer_categories", "customer_facts"]
            .iter()
            .flat_map(|table| {
                diesel::sql_query(format!("SELECT row_to_json(t)::text AS row FROM {table} t ORDER BY 1"))
                    .load::<Row>(conn)
                    .unwrap()
                    .into_iter()
                    .map(|r| r.row)
            })
            .collect()
    };
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        row: String,
    }
    let mut conn = app.connect();
    let followed = snapshot(&mut conn);
    assert!(followed.iter().any(|r| r.contains(&people[0].to_string())));
    assert!(!followed.iter().any(|r| r.contains(&people[1].to_string())), "the merged profile's history moved");
    let facts: Vec<&String> = followed.iter().filter(|r| r.contains("consent_marketing_sms")).collect();
    assert_eq!(facts.len(), 2, "the survivor of the merge and the customer who changed: {facts:?}");
    assert!(!facts.iter().any(|r| r.contains(&people[3].to_string())), "an erased customer is in no segment");
    let changed = followed.iter().find(|r| r.contains(&format!("\"id\":\"{}\"", people[2]))).expect("a segment row");
    assert!(changed.contains("\"city\":\"杭州\""), "{changed}");
    assert!(changed.contains("\"consent_marketing_sms\":false,\"consent_marketing_email\":true"), "{changed}");
    diesel::sql_query("TRUNCATE customer_activity, customer_categories, customer_facts").execute(&mut conn).unwrap();
    let all: Vec<Uuid> =
        retail_crm::schema::customers::table.select(retail_crm::schema::customers::id).load(&mut conn).unwrap();
    retail_crm::customers::activity::refresh(&mut conn, &all, chrono_tz::Asia::Shanghai).unwrap();
    assert_eq!(snapshot(&mut conn), followed);
}
