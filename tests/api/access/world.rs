//! Store B's world for the access matrix: every kind of record a store-A principal must not reach,
//! built by a chain-wide administrator and by store B's own till.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{TestApp, TestResponse};

/// One dress at `price`, as an order's lines.
pub fn line(price: &str) -> Value {
    json!([{"sku": "W-DRESS-001", "name": "连衣裙", "category": "女装", "quantity": 1, "unit_price": price}])
}

/// Store B's world, built by a chain-wide administrator and by store B's own till.
pub struct World {
    pub a: Uuid,
    pub b: Uuid,
    pub spare_store: Uuid,
    pub customer: Uuid,
    pub unenrolled: Uuid,
    pub erasable: Uuid,
    pub merge_target: Uuid,
    pub merge_source: Uuid,
    pub staff_b: Uuid,
    pub spare_staff_b: Uuid,
    pub order_b: Uuid,
    pub reservation_b: Uuid,
    pub template: Uuid,
    pub code_view: String,
    pub code_redeem: String,
    pub code_redeemed_at_b: String,
    pub code_void: String,
    pub reward: Uuid,
    pub lead_new: Uuid,
    pub lead_assigned: Uuid,
    pub lead_contacted: Uuid,
    pub lead_qualified: Uuid,
    pub lead_to_close: Uuid,
    pub lead_rule: Uuid,
    pub ticket_b: Uuid,
    pub ticket_resolved_b: Uuid,
    pub routing_rule: Uuid,
    pub spare_client: Uuid,
    pub segment: Uuid,
    pub spare_segment: Uuid,
    /// Campaigns by status: a draft, one to activate, an active one, one to complete.
    pub campaigns: [Uuid; 4],
    pub message: Uuid,
    pub webhook: Uuid,
    pub spare_webhook: Uuid,
    pub delivery: Uuid,
    pub now: String,
}

impl World {
    /// Store B's own records: a store-A response must never contain them. (A member's points
    /// entries may name the order they came from, at any store: the order itself stays 404.)
    pub fn private_ids(&self) -> Vec<String> {
        let receipt = "B-SALE-1".to_string();
        [
            self.staff_b,
            self.spare_staff_b,
            self.reservation_b,
            self.lead_new,
            self.lead_assigned,
            self.lead_contacted,
            self.lead_qualified,
            self.lead_to_close,
            self.ticket_b,
            self.ticket_resolved_b,
        ]
        .iter()
        .map(Uuid::to_string)
        .chain([receipt])
        .collect()
    }
}

pub async fn created(res: TestResponse) -> Uuid {
    assert!((200..300).contains(&res.status), "fixture: {} {}", res.status, res.text);
    res.uuid("id")
}

pub async fn world(app: &TestApp) -> World {
    let admin = app.admin_token();
    let uuid = |v: &Value| v["id"].as_str().unwrap_or_default().parse::<Uuid>().unwrap_or_default();
    let (a, b, spare_store) = (
        uuid(&app.create_store("A-01").await),
        uuid(&app.create_store("B-01").await),
        uuid(&app.create_store("C-01").await),
    );
    let till_b = app.store_token(retail_crm::http::auth::ALL_SCOPES, Some(b));
    let staff_b = uuid(
        &app.create_staff(json!({"name": "B店店员", "store_id": b, "roles": ["sales", "service"], "skills": ["女装"]}))
            .await,
    );
    let spare_staff_b = uuid(&app.create_staff(json!({"name": "B店兼职", "store_id": b, "roles": ["sales"]})).await);
    app.create_staff(json!({"name": "A店店员", "store_id": a, "roles": ["sales"]})).await;

    let customer_at = |name: &str, phone: Option<&str>| {
        let body = json!({"name": name, "phone": phone, "home_store_id": b});
        let admin = admin.clone();
        async move { created(app.post("/v1/customers").token(&admin).json(&body).send().await).await }
    };
    let customer = customer_at("张三", Some("13800000001")).await;
    let unenrolled = customer_at("赵六", None).await;
    let erasable = customer_at("钱七", Some("13800000002")).await;
    let merge_target = customer_at("孙八", None).await;
    let merge_source = customer_at("孙八(重复)", None).await;
    for id in [customer, merge_target] {
        let res = app
            .post(&format!("/v1/customers/{id}/membership"))
            .token(&till_b)
            .json(&json!({"channel": "pos"}))
            .send()
            .await;
        res.assert_status(201);
    }
    for value in ["DEL-a", "DEL-c"] {
        app.post(&format!("/v1/customers/{customer}/identities"))
            .token(&admin)
            .json(&json!({"kind": "external:erp", "value": value}))
            .send()
            .await
            .assert_status(201);
    }
    app.post("/v1/tags").token(&admin).json(&json!({"name": "retired", "kind": "manual"})).send().await;
    app.put("/v1/message-categories/Retired").token(&admin).send().await.assert_status(201);
    app.post(&format!("/v1/customers/{customer}/points/adjustments"))
        .token(&admin)
        .json(&json!({"points": 5000, "reason": "开卡礼"}))
        .send()
        .await
        .assert_status(201);

    let now = app.now().to_rfc3339();
    let order = app
        .post("/v1/orders")
        .token(&till_b)
        .json(&json!({"external_id": "B-SALE-1", "channel": "pos", "customer_id": customer, "occurred_at": now,
                      "lines": line("300.00")}))
        .send()
        .await;
    let order_b = created(order).await;
    let quote = app
        .post("/v1/checkout/quote")
        .token(&till_b)
        .json(&json!({"customer_id": customer, "channel": "pos", "lines": line("300.00"), "points_to_redeem": 100,
                      "reserve": true}))
        .send()
        .await;
    quote.assert_status(200);
    let reservation_b = quote.uuid("reservation_id");

    let template = created(
        app.post("/v1/coupon-templates")
            .token(&admin)
            .json(&json!({"name": "无门槛10", "kind": "cash", "discount": "10.00", "valid_days_after_issue": 30,
                          "per_customer_limit": 50, "status": "active"}))
            .send()
            .await,
    )
    .await;
    let mut codes: Vec<String> = Vec::new();
    for _ in 0..4 {
        let res = app
            .post(&format!("/v1/customers/{customer}/coupons"))
            .token(&admin)
            .json(&json!({"template_id": template}))
            .send()
            .await;
        res.assert_status(201);
        codes.push(res.str("code").to_string());
    }
    app.post(&format!("/v1/coupons/{}/redeem", codes[2]))
        .token(&till_b)
        .json(&json!({"customer_id": customer, "order_reference": "B-R-1", "amount": "100.00"}))
        .send()
        .await
        .assert_status(201);
    let reward = created(
        app.post("/v1/rewards")
            .token(&admin)
            .json(&json!({"name": "小熊电炖锅", "points_cost": 100, "stock": 50}))
            .send()
            .await,
    )
    .await;

    let lead = |stage: &'static [&'static str]| {
        let till_b = till_b.clone();
        async move {
            let id = created(
                app.post("/v1/leads")
                    .token(&till_b)
                    .json(&json!({"source": "pos", "kind": "walk_in", "category": "女装",
                                  "contact": {"name": "王女士", "phone": "13800000008"}}))
                    .send()
                    .await,
            )
            .await;
            for step in stage {
                let body = match *step {
                    "assign" => json!({"staff_id": staff_b}),
                    _ => json!({}),
                };
                let res = app.post(&format!("/v1/leads/{id}/{step}")).token(&till_b).json(&body).send().await;
                assert!(res.status == 200, "lead fixture {step}: {}", res.text);
            }
            id
        }
    };
    let lead_new = lead(&[]).await;
    let lead_assigned = lead(&["assign"]).await;
    let lead_contacted = lead(&["assign", "contact"]).await;
    let lead_qualified = lead(&["assign", "contact", "qualify"]).await;
    let lead_to_close = lead(&["assign"]).await;
    let lead_rule = created(
        app.post("/v1/lead-assignment-rules")
            .token(&admin)
            .json(&json!({"name": "B 女装", "priority": 50, "match": {"category": "童装"},
                          "target": {"staff_ids": [staff_b]}, "strategy": "round_robin"}))
            .send()
            .await,
    )
    .await;

    let ticket = || {
        let till_b = till_b.clone();
        async move {
            created(
                app.post("/v1/tickets")
                    .token(&till_b)
                    .json(
                        &json!({"type": "return", "channel": "pos", "subject": "尺码不合适", "customer_id": customer}),
                    )
                    .send()
                    .await,
            )
            .await
        }
    };
    let ticket_b = ticket().await;
    let ticket_resolved_b = ticket().await;
    app.patch(&format!("/v1/tickets/{ticket_resolved_b}"))
        .token(&till_b)
        .json(&json!({"status": "resolved"}))
        .send()
        .await
        .assert_status(200);
    let routing_rule = created(
        app.post("/v1/ticket-routing-rules")
            .token(&admin)
            .json(&json!({"name": "退货", "priority": 50, "match_type": "inquiry", "team": "after_sales"}))
            .send()
            .await,
    )
    .await;
    let spare_client = app.create_api_client(&["customers:read"], None).await.id;
    let definition = json!({"field": "home_store_id", "op": "eq", "value": b});
    let segment_at = |name: &'static str| {
        let (admin, definition) = (admin.clone(), definition.clone());
        async move {
            created(
                app.post("/v1/segments")
                    .token(&admin)
                    .json(&json!({"name": name, "definition": definition}))
                    .send()
                    .await,
            )
            .await
        }
    };
    let (segment, spare_segment) = (segment_at("B店顾客").await, segment_at("B店顾客(旧)").await);
    let mut campaigns = [Uuid::nil(); 4];
    for (i, moves) in [&[][..], &[], &["activate"], &["activate", "pause"]].iter().enumerate() {
        let body = json!({"name": format!("活动{i}"), "kind": "triggered", "trigger": {"type": "first_order"},
                          "audience": {"segment_id": segment}, "actions": [{"type": "award_points", "points": 10}]});
        campaigns[i] = created(app.post("/v1/campaigns").token(&admin).json(&body).send().await).await;
        for m in *moves {
            app.post(&format!("/v1/campaigns/{}/{m}", campaigns[i])).token(&admin).send().await.assert_status(200);
        }
    }
    // A message as a run writes it (the run itself is tested in campaigns.rs).
    let message = Uuid::now_v7();
    {
        use diesel::prelude::*;
        diesel::sql_query(
            "INSERT INTO campaign_messages (id, campaign_id, customer_id, occurrence, channel, recipient, body,
                                            status, send_at, sent_at, status_at, created_at)
             VALUES ($1, $2, $3, 'first', 'sms', '+8613800000001', '你好', 'sent', $4, $4, $4, $4)",
        )
        .bind::<diesel::sql_types::Uuid, _>(message)
        .bind::<diesel::sql_types::Uuid, _>(campaigns[2])
        .bind::<diesel::sql_types::Uuid, _>(customer)
        .bind::<diesel::sql_types::Timestamptz, _>(app.now())
        .execute(&mut app.conn())
        .expect("a message");
    }
    app.post("/v1/tags")
        .token(&admin)
        .json(&json!({"name": "rule-b", "kind": "rule", "definition": definition}))
        .send()
        .await
        .assert_status(201);
    let hook = json!({"url": "http://127.0.0.1:9/hooks", "event_types": ["customer.created"]});
    let webhook = created(app.post("/v1/webhook-subscriptions").token(&admin).json(&hook).send().await).await;
    let spare_webhook = created(app.post("/v1/webhook-subscriptions").token(&admin).json(&hook).send().await).await;
    let newcomer = json!({"name": "新客", "phone": "13900009999"});
    created(app.post("/v1/customers").token(&admin).json(&newcomer).send().await).await;
    retail_crm::webhooks::store::dispatch(&mut app.conn(), app.now()).expect("dispatching");
    let res = app.get(&format!("/v1/webhook-subscriptions/{webhook}/deliveries")).token(&admin).send().await;
    let delivery = res.items()[0]["id"].as_str().and_then(|d| d.parse().ok()).expect("a delivery");

    World {
        a,
        b,
        spare_store,
        customer,
        unenrolled,
        erasable,
        merge_target,
        merge_source,
        staff_b,
        spare_staff_b,
        order_b,
        reservation_b,
        template,
        code_view: codes[0].clone(),
        code_redeem: codes[1].clone(),
        code_redeemed_at_b: codes[2].clone(),
        code_void: codes[3].clone(),
        reward,
        lead_new,
        lead_assigned,
        lead_contacted,
        lead_qualified,
        lead_to_close,
        lead_rule,
        ticket_b,
        ticket_resolved_b,
        routing_rule,
        spare_client,
        segment,
        spare_segment,
        campaigns,
        message,
        webhook,
        spare_webhook,
        delivery,
        now,
    }
}
