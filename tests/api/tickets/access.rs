//! Issue 9 in tickets (SPEC §3.1, §12): routing rules and SLA policies are the chain's, a store acts on
//! its own tickets only, an assignee must see the ticket, stats windows are bounded, and events carry
//! ids and statuses, never the customer's words.

use super::*;

async fn agent(app: &TestApp, name: &str, store: Option<Uuid>) -> String {
    id(&app.create_staff(json!({"name": name, "roles": ["service"], "team": "after_sales", "store_id": store})).await)
}

#[actix_web::test]
async fn a_store_bound_agent_cannot_read_or_change_routing_rules_or_sla_policies() {
    let app = TestApp::new().await;
    let bound = app.store_token(&["admin"], Some(app.store_id("RR").await));
    let chain = app.token(RW);
    let r = id(&rule(&app, json!({"name": "any", "priority": 10, "team": "general"})).await);
    let path = format!("/v1/ticket-routing-rules/{r}");
    let policy = json!({"first_response_minutes": 1, "resolution_minutes": 2});
    for res in [
        app.post("/v1/ticket-routing-rules")
            .token(&bound)
            .json(&json!({"name": "mine first", "priority": 0, "team": "my_store"}))
            .send()
            .await,
        app.get("/v1/ticket-routing-rules").token(&bound).send().await,
        app.get(&path).token(&bound).send().await,
        app.patch(&path).token(&bound).json(&json!({"team": "my_store"})).send().await,
        app.delete(&path).token(&bound).send().await,
        app.get("/v1/sla-policies").token(&bound).send().await,
        app.put("/v1/sla-policies/urgent").token(&bound).json(&policy).send().await,
    ] {
        res.assert_problem(403, "store_bound_principal");
    }
    // Nothing changed; the chain-wide principal reads and changes them.
    let rules = app.collect_pages("/v1/ticket-routing-rules", &chain, 50).await;
    assert_eq!((rules.len(), rules[0]["team"].as_str()), (1, Some("general")));
    let policies = app.get("/v1/sla-policies").token(&chain).send().await;
    policies.assert_status(200);
    let urgent = policies.body.as_array().and_then(|p| p.iter().find(|p| p["priority"] == "urgent").cloned());
    assert_eq!(urgent.map(|p| p["resolution_minutes"].clone()), Some(json!(240)));
    app.patch(&path).token(&chain).json(&json!({"team": "front"})).send().await.assert_status(200);
    app.put("/v1/sla-policies/urgent").token(&chain).json(&policy).send().await.assert_status(200);
}

#[actix_web::test]
async fn a_ticket_is_never_assigned_to_staff_who_cannot_see_it() {
    let app = TestApp::new().await;
    let (a, b) = (app.store_id("TA").await, app.store_id("TB").await);
    let agent_a = agent(&app, "A店客服", Some(a)).await;
    let agent_b = agent(&app, "B店客服", Some(b)).await;
    let hq = agent(&app, "总部", None).await;
    rule(&app, json!({"name": "returns", "priority": 1, "match_type": "return", "team": "after_sales"})).await;
    let till_a = app.store_token(RW, Some(a));

    // Round robin within the team skips agents who could not see the ticket: a store-A ticket
    // goes to A's agent or head office, never to B's; a chain ticket goes to head office only.
    let mut got = Vec::new();
    for _ in 0..4 {
        let res = open(&app, &till_a, json!({"type": "return", "subject": "退货"})).await;
        res.assert_status(201);
        got.push(res.str("assignee_staff_id").to_string());
    }
    assert!(got.iter().all(|s| *s == agent_a || *s == hq), "{got:?}");
    assert!(got.contains(&agent_a) && got.contains(&hq), "{got:?}");
    let chain_ticket = ticket(&app, json!({"type": "return", "subject": "线上退货"})).await;
    assert_eq!(chain_ticket["assignee_staff_id"].as_str(), Some(hq.as_str()));

    let t = open(&app, &till_a, json!({"type": "inquiry", "subject": "咨询"})).await;
    let path = format!("/v1/tickets/{}", id(&t.body));
    let assign =
        |token: &str, staff: &str| app.patch(&path).token(token).json(&json!({"assignee_staff_id": staff})).send();
    // Store A's till: B's agent is "no staff member", like an unknown id; head office is beyond its scope too.
    for other in [&agent_b, &hq, &Uuid::now_v7().to_string()] {
        let res = assign(&till_a, other).await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), ["assignee_staff_id"]);
    }
    // The chain-wide principal cannot hand a store-A ticket to B's agent either: B could not see it.
    let res = assign(&app.token(RW), &agent_b).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["assignee_staff_id"]);
    let res = assign(&till_a, &agent_a).await;
    res.assert_status(200);
    assert_eq!(res.str("assignee_staff_id"), agent_a);
    let res = assign(&app.token(RW), &hq).await;
    res.assert_status(200);
    assert_eq!(res.str("assignee_staff_id"), hq);
}

#[actix_web::test]
async fn a_store_bound_caller_acts_on_its_own_stores_tickets_only() {
    let app = TestApp::new().await;
    let (a, b) = (app.store_id("OA").await, app.store_id("OB").await);
    let till_a = app.store_token(&["admin"], Some(a));
    let theirs = id(&ticket(&app, json!({"type": "return", "subject": "B店", "store_id": b})).await);
    set_status(&app, &theirs, "resolved").await;
    let missing = Uuid::now_v7().to_string();
    for t in [&theirs, &missing] {
        app.get(&format!("/v1/tickets/{t}/comments"))
            .token(&till_a)
            .send()
            .await
            .assert_problem(404, "ticket_not_found");
        app.post(&format!("/v1/tickets/{t}/satisfaction"))
            .token(&till_a)
            .json(&json!({"score": 1}))
            .send()
            .await
            .assert_problem(404, "ticket_not_found");
    }
    let res = app
        .post(&format!("/v1/tickets/{theirs}/satisfaction"))
        .token(&app.token(RW))
        .json(&json!({"score": 5}))
        .send()
        .await;
    res.assert_status(200);
    assert_eq!(res.body["satisfaction_score"], 5);
}

#[actix_web::test]
async fn ticket_stats_default_to_the_last_30_days_span_at_most_366_and_follow_the_callers_store() {
    let app = TestApp::new().await;
    let now = sh(2026, 11, 30, 12, 0);
    let (a, b) = (app.store_id("SA").await, app.store_id("SB").await);
    app.state.clock.set(now - Duration::days(31));
    ticket(&app, json!({"type": "inquiry", "subject": "上个月", "store_id": a})).await;
    app.state.clock.set(now - Duration::days(29));
    ticket(&app, json!({"type": "inquiry", "subject": "本月", "store_id": a})).await;
    ticket(&app, json!({"type": "return", "subject": "B店", "store_id": b})).await;
    ticket(&app, json!({"type": "return", "subject": "总部"})).await;
    app.state.clock.set(now);

    let chain = app.token(&["tickets:read"]);
    let app = &app;
    let stats = |token: String, query: String| async move {
        app.get(&format!("/v1/tickets/stats{query}")).token(&token).send().await
    };
    // No window: the last 30 days, [now - 30 d, now).
    let res = stats(chain.clone(), String::new()).await;
    res.assert_status(200);
    assert_eq!(res.body["tickets"], 3);
    assert_eq!(time(&res.body["from"]), now - Duration::days(30));
    assert_eq!(time(&res.body["to"]), now);
    // A store-bound caller counts its own store's tickets only.
    let res = stats(app.store_token(&["tickets:read"], Some(a)), String::new()).await;
    assert_eq!(
        (res.body["tickets"].as_i64(), res.body["by_type"].clone()),
        (Some(1), json!([{"key": "inquiry", "count": 1}]))
    );
    // 366 days is the longest window; a second more is 422 naming `to`.
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let longest = format!("?from={}&to={}", fmt(now - Duration::days(366)), fmt(now));
    let res = stats(chain.clone(), longest).await;
    res.assert_status(200);
    assert_eq!(res.body["tickets"], 4);
    let too_long = format!("?from={}&to={}", fmt(now - Duration::days(366) - Duration::seconds(1)), fmt(now));
    let res = stats(chain.clone(), too_long).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["to"]);
}

#[actix_web::test]
async fn ticket_events_carry_ids_and_statuses_never_the_customers_words() {
    let app = TestApp::new().await;
    let store = app.store_id("EV").await;
    let cust = app.customer().name("王芳").create().await;
    app.create_staff(json!({"name": "客服", "roles": ["service"], "team": "after_sales", "store_id": store})).await;
    rule(&app, json!({"name": "all", "priority": 1, "team": "after_sales"})).await;
    let mut till = app.store_token(RW, Some(store));
    let words = [
        "尺码不合适13812345678",
        "买的M码偏小，微信wx_wang",
        "内部备注：顾客王芳",
        "公开回复：已安排退货",
        "很满意谢谢",
    ];
    let t =
        open(&app, &till, json!({"customer_id": cust, "type": "return", "subject": words[0], "description": words[1]}))
            .await;
    t.assert_status(201);
    let tid = id(&t.body);
    let say = |visibility: &'static str, body: &'static str| {
        app.post(&format!("/v1/tickets/{tid}/comments"))
            .token(&till)
            .json(&json!({"visibility": visibility, "body": body}))
            .send()
    };
    say("internal", words[2]).await.assert_status(201);
    say("public", words[3]).await.assert_status(201);
    // Resolved three days later: past the 48-hour resolution target (ticket.sla_breached).
    app.state.clock.advance(Duration::days(3));
    till = app.store_token(RW, Some(store));
    app.patch(&format!("/v1/tickets/{tid}"))
        .token(&till)
        .json(&json!({"status": "resolved"}))
        .send()
        .await
        .assert_status(200);
    app.post(&format!("/v1/tickets/{tid}/satisfaction"))
        .token(&till)
        .json(&json!({"score": 5, "comment": words[4]}))
        .send()
        .await
        .assert_status(200);
    let reopened =
        app.patch(&format!("/v1/tickets/{tid}")).token(&till).json(&json!({"status": "in_progress"})).send().await;
    reopened.assert_status(200);

    let kinds = [
        "ticket.created",
        "ticket.assigned",
        "ticket.commented",
        "ticket.updated",
        "ticket.resolved",
        "ticket.survey_requested",
        "ticket.satisfaction_recorded",
        "ticket.sla_breached",
    ];
    for (kind, data) in app.assert_events_carry_ids_not_words("ticket.", &kinds, &words, &store.to_string()) {
        assert_eq!(data["ticket_id"].as_str(), Some(tid.as_str()), "{kind}: {data}");
    }
}
