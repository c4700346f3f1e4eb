//! Issue 9 in loyalty (SPEC §3.1): adjustments are chain-wide and bounded per call by the
//! program's `max_adjustment_points`; the catalogue, the program and the audit are chain-wide;
//! redeeming a reward stays open to a store's till.

use super::*;

async fn program(app: &TestApp, body: Value) -> TestResponse {
    app.put("/v1/loyalty/program").token(&app.admin_token()).json(&body).send().await
}

#[actix_web::test]
async fn adjustments_are_chain_wide_and_move_at_most_max_adjustment_points() {
    let app = TestApp::new().await;
    let id = app.member().create().await;
    let settings = app.get("/v1/loyalty/program").token(&app.token(LOYALTY)).send().await;
    assert_eq!(settings.body["max_adjustment_points"], 10_000, "the default");

    adjust(&app, id, json!({"points": 10_000, "reason": "补偿"})).await.assert_status(201);
    for over in [10_001, -10_001] {
        let res = adjust(&app, id, json!({"points": over, "reason": "补偿"})).await;
        res.assert_problem(422, "adjustment_over_limit");
        assert_eq!(res.body["max_adjustment_points"], 10_000, "{over}");
    }
    adjust(&app, id, json!({"points": -10_000, "reason": "冲正"})).await.assert_status(201);
    assert_eq!(points(&app, id).await["balance"], 0);

    // A store's clerk, even with loyalty:write (or admin), cannot adjust anyone.
    let store = app.store_id("A-01").await;
    for scopes in [LOYALTY, &["admin"][..]] {
        app.post(&format!("/v1/customers/{id}/points/adjustments"))
            .token(&app.store_token(scopes, Some(store)))
            .json(&json!({"points": 100, "reason": "x"}))
            .send()
            .await
            .assert_problem(403, "store_bound_principal");
    }

    // A lowered setting holds at once, both ways.
    let res = program(&app, json!({"max_adjustment_points": 500})).await;
    res.assert_status(200);
    assert_eq!(res.body["max_adjustment_points"], 500);
    adjust(&app, id, json!({"points": 501, "reason": "x"})).await.assert_problem(422, "adjustment_over_limit");
    adjust(&app, id, json!({"points": 500, "reason": "x"})).await.assert_status(201);
    adjust(&app, id, json!({"points": -501, "reason": "x"})).await.assert_problem(422, "adjustment_over_limit");
    assert_eq!(points(&app, id).await["balance"], 500);
    for bad in [json!(0), json!(-1), json!(10_000_001)] {
        let res = program(&app, json!({"max_adjustment_points": bad})).await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), ["max_adjustment_points"], "{bad}");
    }
    assert_eq!(
        app.get("/v1/loyalty/program").token(&app.token(LOYALTY)).send().await.body["max_adjustment_points"],
        500
    );
    assert_clean(&audit(&app).await);
}

#[actix_web::test]
async fn the_rewards_catalogue_and_the_audit_are_chain_wide_but_a_store_redeems_rewards() {
    let app = TestApp::new().await;
    let store = app.store_id("A-01").await;
    let clerk = app.store_token(LOYALTY, Some(store));
    let gift = json!({"name": "小熊电炖锅", "points_cost": 2000, "stock": 5});
    app.post("/v1/rewards").token(&clerk).json(&gift).send().await.assert_problem(403, "store_bound_principal");
    let gift_id = create_reward(&app, 2000, 5).await;
    app.patch(&format!("/v1/rewards/{gift_id}"))
        .token(&clerk)
        .json(&json!({"points_cost": 1}))
        .send()
        .await
        .assert_problem(403, "store_bound_principal");
    assert_eq!(reward(&app, gift_id).await["points_cost"], 2000);
    app.get("/v1/loyalty/audit")
        .token(&app.store_token(&["admin"], Some(store)))
        .send()
        .await
        .assert_problem(403, "store_bound_principal");

    // Redeeming for a member at the store stays open to its till.
    let id = member_with(&app, 5000).await;
    let res = app
        .post(&format!("/v1/customers/{id}/reward-redemptions"))
        .token(&clerk)
        .json(&json!({"reward_id": gift_id, "quantity": 1}))
        .send()
        .await;
    res.assert_status(201);
    assert_eq!(res.body["balance_after"], 3000);
    assert_clean(&audit(&app).await);
}
