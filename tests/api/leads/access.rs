//! Issue 9 in leads (SPEC §3.1, §11): assignment rules are the chain's, lists and the funnel follow the
//! caller's store, and events carry ids and statuses, never contact data or free text.

use super::*;

#[actix_web::test]
async fn a_store_bound_clerk_cannot_create_assignment_rules() {
    let app = TestApp::new().await;
    let (store_a, clerk_a, _) = chaoyang(&app, "PA").await;
    let (store_b, clerk_b, _) = chaoyang(&app, "PB").await;
    let chain_rule = chaoyang_rule(&app, store_b, false).await;
    let clerk = app.store_token(RW, Some(store_a));
    // The finding: a priority-0 rule sending every lead to the clerk's own staff.
    let takeover = json!({"name": "all mine", "priority": 0, "target": {"staff_ids": [clerk_a]}});
    let path = format!("/v1/lead-assignment-rules/{chain_rule}");
    for res in [
        app.post("/v1/lead-assignment-rules").token(&clerk).json(&takeover).send().await,
        app.get("/v1/lead-assignment-rules").token(&clerk).send().await,
        app.get(&path).token(&clerk).send().await,
        app.patch(&path).token(&clerk).json(&json!({"target": {"staff_ids": [clerk_a]}})).send().await,
        app.patch(&path).token(&clerk).json(&json!({"active": false})).send().await,
    ] {
        res.assert_problem(403, "store_bound_principal");
    }
    // Even with every scope.
    let admin_of_a = app.store_token(&["admin"], Some(store_a));
    let res = app.post("/v1/lead-assignment-rules").token(&admin_of_a).json(&takeover).send().await;
    res.assert_problem(403, "store_bound_principal");
    // The chain's rule is untouched and still routes: a lead goes to store B's clerk.
    let rules = app.collect_pages("/v1/lead-assignment-rules", &app.token(RW), 50).await;
    assert_eq!(rules.iter().map(|r| uuid(&r["id"])).collect::<Vec<_>>(), [chain_rule]);
    assert_eq!(rules[0]["active"], true);
    assert_eq!(uuid(&lead(&app, inquiry(json!({}))).await["assignee_staff_id"]), clerk_b);
    // The chain-wide principal manages rules.
    let res = app.post("/v1/lead-assignment-rules").token(&app.token(RW)).json(&takeover).send().await;
    res.assert_status(201);
}

#[actix_web::test]
async fn leads_lists_and_the_funnel_follow_the_callers_store() {
    let app = TestApp::new().await;
    app.state.clock.set(at(2026, 11, 23, 8, 0));
    let (store_a, clerk_a, _) = chaoyang(&app, "FA").await;
    let (store_b, clerk_b, _) = chaoyang(&app, "FB").await;
    let token_a = app.store_token(RW, Some(store_a));
    let ours = app.post("/v1/leads").token(&token_a).json(&inquiry(json!({}))).send().await;
    ours.assert_status(201);
    let theirs = lead(&app, inquiry(json!({"store_id": store_b}))).await;
    let queue = lead(&app, inquiry(json!({"category": "男装"}))).await;

    app.get(&format!("/v1/leads?store_id={store_b}"))
        .token(&token_a)
        .send()
        .await
        .assert_problem(403, "store_bound_principal");
    let mine = app.collect_pages(&format!("/v1/leads?store_id={store_a}"), &token_a, 50).await;
    assert_eq!(mine.iter().map(|l| &l["id"]).collect::<Vec<_>>(), [&ours.body["id"]]);
    assert_eq!(app.collect_pages("/v1/leads", &token_a, 50).await.len(), 1, "not B's, not the chain's queue");
    assert_eq!(app.collect_pages("/v1/leads", &app.token(RW), 50).await.len(), 3);

    app.state.clock.advance(Duration::minutes(1));
    let funnel = |token: String| {
        let app = &app;
        async move { app.get("/v1/leads/funnel").token(&token).send().await }
    };
    let own = funnel(token_a.clone()).await;
    own.assert_status(200);
    assert_eq!((own.body["counts"]["created"].as_i64(), own.str("store_id")), (Some(1), store_a.to_string().as_str()));
    assert_eq!(funnel(app.token(RW)).await.body["counts"]["created"], 3);

    // A lead held by store B goes to B's staff only, whoever assigns it; the chain's queue to anyone.
    let (tid, qid) = (uuid(&theirs["id"]), uuid(&queue["id"]));
    let res = action(&app, tid, "assign", json!({"staff_id": clerk_a})).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["staff_id"]);
    assert_eq!(uuid(&step(&app, tid, "assign", json!({"staff_id": clerk_b})).await["store_id"]), store_b);
    assert_eq!(uuid(&step(&app, qid, "assign", json!({"staff_id": clerk_a})).await["store_id"]), store_a);
}

#[actix_web::test]
async fn lead_events_carry_ids_and_statuses_never_contact_data_or_free_text() {
    let app = TestApp::new().await;
    let (store, clerk1, clerk2) = chaoyang(&app, "LE").await;
    chaoyang_rule(&app, store, true).await;
    let till = app.store_token(RW, Some(store));
    let words = ["王女士", "13812345678", "wang_li88", "想看冬季新款大衣", "已在其他渠道购买"];
    let body =
        inquiry(json!({"contact": {"name": words[0], "phone": words[1], "wechat": words[2]}, "notes": words[3]}));
    let won = app.post("/v1/leads").token(&till).json(&body).send().await;
    won.assert_status(201);
    let lost = app.post("/v1/leads").token(&till).json(&body).send().await;
    lost.assert_status(201);
    let (won, lost) = (won.uuid("id"), lost.uuid("id"));
    let act = |id: Uuid, name: &'static str, body: Value| {
        let (app, till) = (&app, till.clone());
        async move {
            let res = app.post(&format!("/v1/leads/{id}/{name}")).token(&till).json(&body).send().await;
            res.assert_status(200);
        }
    };
    act(won, "contact", json!({})).await;
    act(won, "qualify", json!({})).await;
    act(won, "convert", json!({})).await;
    act(lost, "close", json!({"outcome": "lost", "lost_reason": words[4]})).await;
    let third = app.post("/v1/leads").token(&till).json(&body).send().await;
    third.assert_status(201);
    act(
        third.uuid("id"),
        "assign",
        json!({"staff_id": if third.str("assignee_staff_id") == clerk1.to_string() { clerk2 } else { clerk1 }}),
    )
    .await;
    app.state.clock.advance(Duration::minutes(16));
    app.post("/v1/sweeps/lead_sla/run").token(&app.admin_token()).send().await.assert_status(200);

    let kinds = [
        "lead.created",
        "lead.assigned",
        "lead.contacted",
        "lead.qualified",
        "lead.won",
        "lead.lost",
        "lead.sla_breached",
    ];
    app.assert_events_carry_ids_not_words("lead.", &kinds, &words, &store.to_string());
}
