//! The BOLA matrix (SPEC §3.1), generated from the route table: every operation of the OpenAPI
//! document must have a decided access below. For each, a token bound to store A that holds every
//! scope is sent at store B's objects (or acts for store B) and must get 404 (another store's
//! object, exactly as a missing one) or 403 `store_bound_principal` (a chain-wide-only act or an
//! act for another store) — or, where a store-bound principal may act (a member shops at any
//! store), succeed without showing any of store B's own records. Then a chain-wide token sends
//! the same request and succeeds. A new route without a decision here fails the test.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{TestApp, TestResponse};

mod world;
use world::{created, line, world, World};

/// What a store-A principal with every scope gets.
#[derive(Clone, Copy, Debug, PartialEq)]
enum ForStoreA {
    /// Another store's object: 404, with the same `*_not_found` code a missing one has.
    NotFound,
    /// A chain-wide-only act, or an act for another store: 403 `store_bound_principal`.
    StoreBound,
    /// Allowed (customers are the chain's): 2xx, and nothing of store B's own records in it.
    Allowed,
    /// A bulk call, decided row by row: 200, every row 403 `store_bound_principal` (it acts for
    /// store B), and nothing of store B's own records in it.
    RowsStoreBound,
}

struct Case {
    path: String,
    body: Option<Value>,
    for_a: ForStoreA,
}

fn case(path: String, body: Option<Value>, for_a: ForStoreA) -> Option<Case> {
    Some(Case { path, body, for_a })
}

/// A birthday campaign for store B's customers.
fn birthday_campaign(w: &World, n: &str) -> Value {
    json!({"name": format!("生日-{n}"), "kind": "triggered", "trigger": {"type": "birthday", "offset_days": -3},
           "audience": {"segment_id": w.segment}, "actions": [{"type": "award_points", "points": 10}]})
}

/// Store B's customers.
fn segment_b(w: &World) -> Value {
    json!({"field": "home_store_id", "op": "eq", "value": w.b})
}

/// The request for operation `op` (`"GET /v1/..."`); `n` tells the two callers' requests apart
/// where an allowed act would otherwise collide with itself. `None`: access not decided.
fn request(op: &str, w: &World, n: &str) -> Option<Case> {
    use ForStoreA::*;
    let (b, c) = (w.b, w.customer);
    match op {
        // API clients, the audit log, the event feed, jobs and sweeps: the chain's.
        "GET /v1/api-clients" | "GET /v1/audit-log" | "GET /v1/events" => case(path(op), None, StoreBound),
        "POST /v1/api-clients" => case(path(op), Some(json!({"name": "x", "scopes": ["customers:read"]})), StoreBound),
        "GET /v1/api-clients/{id}" | "DELETE /v1/api-clients/{id}" => {
            case(format!("/v1/api-clients/{}", w.spare_client), None, StoreBound)
        }
        "POST /v1/jobs/{job}/run" => case("/v1/jobs/points_expiry/run".into(), None, StoreBound),
        // Webhooks carry every store's events: the chain's.
        "GET /v1/webhook-subscriptions" => case(path(op), None, StoreBound),
        "POST /v1/webhook-subscriptions" => case(
            path(op),
            Some(json!({"url": "https://erp.example.com/h", "event_types": ["order.created"]})),
            StoreBound,
        ),
        "GET /v1/webhook-subscriptions/{id}" | "POST /v1/webhook-subscriptions/{id}/rotate-secret" => {
            case(op_path(op, w.webhook), None, StoreBound)
        }
        "GET /v1/webhook-subscriptions/{id}/deliveries" => case(op_path(op, w.webhook), None, StoreBound),
        "PATCH /v1/webhook-subscriptions/{id}" => {
            case(op_path(op, w.webhook), Some(json!({"description": format!("ERP {n}")})), StoreBound)
        }
        "POST /v1/webhook-subscriptions/{id}/replay" => case(
            op_path(op, w.webhook),
            Some(json!({"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"})),
            StoreBound,
        ),
        "POST /v1/webhook-subscriptions/{id}/deliveries/{delivery_id}/retry" => {
            case(format!("/v1/webhook-subscriptions/{}/deliveries/{}/retry", w.webhook, w.delivery), None, StoreBound)
        }
        "DELETE /v1/webhook-subscriptions/{id}" => case(op_path(op, w.spare_webhook), None, StoreBound),
        "POST /v1/sweeps/{sweep}/run" => case("/v1/sweeps/lead_sla/run".into(), None, StoreBound),
        // Reports: a store reads its own dashboard and sales, never another's; the rest are the chain's.
        "GET /v1/analytics/dashboard" | "GET /v1/analytics/sales" => {
            case(format!("{}?store_id={b}", path(op)), None, StoreBound)
        }
        "GET /v1/analytics/lifecycle"
        | "GET /v1/analytics/rfm"
        | "GET /v1/analytics/churn-risk"
        | "GET /v1/analytics/repurchase-interval"
        | "GET /v1/analytics/members" => case(path(op), None, StoreBound),
        "GET /v1/analytics/forecast" => case(format!("{}?category=x", path(op)), None, StoreBound),
        // A clerk may suggest what goes with what a customer bought (a member shops at any store).
        "GET /v1/customers/{id}/recommendations" => case(format!("/v1/customers/{c}/recommendations"), None, Allowed),

        // Stores and staff.
        "GET /v1/stores" => case(path(op), None, Allowed),
        "GET /v1/stores/{id}" => case(format!("/v1/stores/{b}"), None, NotFound),
        "POST /v1/stores" => case(path(op), Some(json!({"code": format!("NEW-{n}"), "name": "新店"})), StoreBound),
        "PATCH /v1/stores/{id}" => {
            case(format!("/v1/stores/{}", w.spare_store), Some(json!({"name": "x"})), StoreBound)
        }
        "GET /v1/staff" => case(format!("/v1/staff?store_id={b}"), None, StoreBound),
        "POST /v1/staff" => case(path(op), Some(json!({"name": "新员工", "store_id": b})), StoreBound),
        "GET /v1/staff/{id}" => case(format!("/v1/staff/{}", w.staff_b), None, NotFound),
        "PATCH /v1/staff/{id}" => case(format!("/v1/staff/{}", w.staff_b), Some(json!({"capacity": 9})), NotFound),

        // Customers: the chain's, found and served at any store; lists, merge, erase, export are not.
        "GET /v1/customers" => case(format!("/v1/customers?store_id={b}"), None, StoreBound),
        "POST /v1/customers" => case(path(op), Some(json!({"name": format!("新客{n}")})), Allowed),
        "POST /v1/customers/bulk" => case(
            path(op),
            Some(
                json!({"customers": [{"identity": {"kind": "tmall_ouid", "value": format!("t_{n}")}, "name": "李四"}]}),
            ),
            Allowed,
        ),
        "PUT /v1/customers/by-identity/{kind}/{value}" => {
            case(format!("/v1/customers/by-identity/jd_pin/pin_{n}"), Some(json!({"name": "王五"})), Allowed)
        }
        "GET /v1/customers/lookup" => case("/v1/customers/lookup?phone=13800000001".into(), None, Allowed),
        "GET /v1/customers/{id}" | "GET /v1/customers/{id}/identities" | "GET /v1/customers/{id}/coupons" => {
            case(path(op).replace("{id}", &c.to_string()), None, Allowed)
        }
        "GET /v1/customers/{id}/timeline"
        | "GET /v1/customers/{id}/membership"
        | "GET /v1/customers/{id}/membership/history"
        | "GET /v1/customers/{id}/points"
        | "GET /v1/customers/{id}/points/entries" => case(path(op).replace("{id}", &c.to_string()), None, Allowed),
        "PATCH /v1/customers/{id}" => case(format!("/v1/customers/{c}"), Some(json!({"city": "上海"})), Allowed),
        "PUT /v1/customers/{id}/tags" => {
            case(format!("/v1/customers/{c}/tags"), Some(json!({"tags": ["vip"]})), Allowed)
        }
        "POST /v1/customers/{id}/notes" => {
            case(format!("/v1/customers/{c}/notes"), Some(json!({"body": "偏好小码"})), Allowed)
        }
        "POST /v1/customers/{id}/identities" => case(
            format!("/v1/customers/{c}/identities"),
            Some(json!({"kind": "external:erp", "value": format!("ERP-{n}")})),
            Allowed,
        ),
        "DELETE /v1/customers/{id}/identities/{kind}/{value}" => {
            case(format!("/v1/customers/{c}/identities/external:erp/DEL-{n}"), None, Allowed)
        }
        "DELETE /v1/customers/{id}" => case(format!("/v1/customers/{}", w.erasable), None, StoreBound),
        "GET /v1/customers/{id}/export" => case(format!("/v1/customers/{c}/export"), None, StoreBound),
        "POST /v1/customers/{id}/merge" => case(
            format!("/v1/customers/{}/merge", w.merge_target),
            Some(json!({"source_customer_id": w.merge_source})),
            StoreBound,
        ),
        "GET /v1/tags" => case(path(op), None, Allowed),
        "POST /v1/tags" => case(path(op), Some(json!({"name": format!("tag-{n}"), "kind": "manual"})), StoreBound),
        "DELETE /v1/tags/{name}" => case("/v1/tags/retired".into(), None, StoreBound),
        "POST /v1/tags/{name}/evaluate" => case("/v1/tags/rule-b/evaluate".into(), None, StoreBound),

        // Segments: the chain's marketing.
        "GET /v1/segments" => case(path(op), None, StoreBound),
        "POST /v1/segments" => {
            case(path(op), Some(json!({"name": format!("seg-{n}"), "definition": segment_b(w)})), StoreBound)
        }
        "POST /v1/segments/preview" => case(path(op), Some(json!({"definition": segment_b(w)})), StoreBound),
        "GET /v1/segments/{id}" | "PATCH /v1/segments/{id}" => {
            let body = op.starts_with("PATCH").then(|| json!({"name": format!("renamed-{n}")}));
            case(format!("/v1/segments/{}", w.segment), body, StoreBound)
        }
        "GET /v1/segments/{id}/preview" => case(format!("/v1/segments/{}/preview", w.segment), None, StoreBound),
        "GET /v1/segments/{id}/customers" => case(format!("/v1/segments/{}/customers", w.segment), None, StoreBound),
        "DELETE /v1/segments/{id}" => case(format!("/v1/segments/{}", w.spare_segment), None, StoreBound),

        // Campaigns: the chain's marketing.
        "GET /v1/campaigns" | "GET /v1/marketing/settings" | "GET /v1/message-categories" => {
            case(path(op), None, StoreBound)
        }
        "PUT /v1/message-categories/{name}" => case(format!("/v1/message-categories/Kids{n}"), None, StoreBound),
        "DELETE /v1/message-categories/{name}" => case("/v1/message-categories/Retired".into(), None, StoreBound),
        "POST /v1/campaigns" => case(path(op), Some(birthday_campaign(w, n)), StoreBound),
        "PUT /v1/marketing/settings" => case(
            path(op),
            Some(
                json!({"frequency_cap": {"max_messages": 3, "per_days": 7}, "quiet_hours": {"start": "21:00", "end": "09:00"}}),
            ),
            StoreBound,
        ),
        "GET /v1/campaigns/{id}" | "GET /v1/campaigns/{id}/report" | "POST /v1/campaigns/{id}/dry-run" => {
            case(path(op).replace("{id}", &w.campaigns[2].to_string()), None, StoreBound)
        }
        "PATCH /v1/campaigns/{id}" => {
            case(format!("/v1/campaigns/{}", w.campaigns[0]), Some(json!({"name": format!("改-{n}")})), StoreBound)
        }
        "POST /v1/campaigns/{id}/activate" => {
            case(format!("/v1/campaigns/{}/activate", w.campaigns[1]), None, StoreBound)
        }
        "POST /v1/campaigns/{id}/pause" => case(format!("/v1/campaigns/{}/pause", w.campaigns[2]), None, StoreBound),
        "POST /v1/campaigns/{id}/complete" => {
            case(format!("/v1/campaigns/{}/complete", w.campaigns[3]), None, StoreBound)
        }
        "POST /v1/campaign-messages/{id}/status" => case(
            format!("/v1/campaign-messages/{}/status", w.message),
            Some(json!({"status": "delivered"})),
            StoreBound,
        ),

        // Memberships, tiers, the points program and rewards.
        "GET /v1/memberships" => case(format!("/v1/memberships?store_id={b}"), None, StoreBound),
        "POST /v1/customers/{id}/membership" => case(
            format!("/v1/customers/{}/membership", w.unenrolled),
            Some(json!({"channel": "pos", "store_id": b})),
            StoreBound,
        ),
        "PUT /v1/customers/{id}/membership/tier" => case(
            format!("/v1/customers/{c}/membership/tier"),
            Some(json!({"tier": "gold", "reason": "VIP 补偿"})),
            StoreBound,
        ),
        "GET /v1/tiers" | "GET /v1/loyalty/program" | "GET /v1/rewards" => case(path(op), None, Allowed),
        "GET /v1/tiers/{code}" => case("/v1/tiers/gold".into(), None, Allowed),
        "POST /v1/tiers" => case(
            path(op),
            Some(json!({"code": format!("vip{n}"), "name": "黑卡", "rank": 9, "min_annual_spend": "90000.00",
                        "discount_rate": "0.80", "points_multiplier": "1.0"})),
            StoreBound,
        ),
        "PATCH /v1/tiers/{code}" => case("/v1/tiers/gold".into(), Some(json!({"name": "金卡"})), StoreBound),
        "PUT /v1/loyalty/program" => case(path(op), Some(json!({"earn_rate": "1"})), StoreBound),
        "GET /v1/loyalty/audit" => case(path(op), None, StoreBound),
        "POST /v1/rewards" => {
            case(path(op), Some(json!({"name": format!("电炖锅{n}"), "points_cost": 100, "stock": 5})), StoreBound)
        }
        "GET /v1/rewards/{id}" => case(format!("/v1/rewards/{}", w.reward), None, Allowed),
        "PATCH /v1/rewards/{id}" => case(format!("/v1/rewards/{}", w.reward), Some(json!({"stock": 50})), StoreBound),
        "POST /v1/customers/{id}/reward-redemptions" => case(
            format!("/v1/customers/{c}/reward-redemptions"),
            Some(json!({"reward_id": w.reward, "quantity": 1})),
            Allowed,
        ),
        "POST /v1/customers/{id}/points/adjustments" => case(
            format!("/v1/customers/{c}/points/adjustments"),
            Some(json!({"points": 100, "reason": "补偿"})),
            StoreBound,
        ),

        // Orders, refunds, the quote and reservations: for one's own store only.
        "POST /v1/orders" => case(
            path(op),
            Some(json!({"external_id": format!("X-{n}"), "channel": "pos", "store_id": b, "customer_id": c,
                        "occurred_at": w.now, "lines": line("100.00")})),
            StoreBound,
        ),
        "POST /v1/orders/bulk" => case(
            path(op),
            Some(json!({"orders": [{"external_id": format!("X-BULK-{n}"), "channel": "pos", "store_id": b,
                                    "customer_id": c, "occurred_at": w.now, "lines": line("100.00")}]})),
            RowsStoreBound,
        ),
        "POST /v1/refunds/bulk" => case(
            path(op),
            Some(json!({"refunds": [{"order": {"channel": "pos", "store_id": b, "external_id": "B-SALE-1"},
                                     "external_id": format!("RF-BULK-{n}"), "amount": "10.00"}]})),
            RowsStoreBound,
        ),
        "GET /v1/orders" => case(format!("/v1/orders?store_id={b}"), None, StoreBound),
        "GET /v1/orders/{id}" | "GET /v1/orders/{id}/refunds" => {
            case(path(op).replace("{id}", &w.order_b.to_string()), None, NotFound)
        }
        "POST /v1/orders/{id}/refunds" => case(
            format!("/v1/orders/{}/refunds", w.order_b),
            Some(json!({"external_id": "RF-1", "amount": "10.00"})),
            NotFound,
        ),
        // By the channel's number: naming store B is refused before anything is looked up.
        "POST /v1/refunds" => case(
            path(op),
            Some(json!({"order": {"channel": "pos", "store_id": b, "external_id": "B-SALE-1"}, "external_id": "RF-1"})),
            StoreBound,
        ),
        "POST /v1/checkout/quote" => case(
            path(op),
            Some(json!({"customer_id": c, "store_id": b, "channel": "pos", "lines": line("100.00")})),
            StoreBound,
        ),
        "GET /v1/checkout/reservations/{id}" | "DELETE /v1/checkout/reservations/{id}" => {
            case(format!("/v1/checkout/reservations/{}", w.reservation_b), None, NotFound)
        }

        // Coupons: templates, issuing and voiding are the chain's; redeeming is for one's store.
        "GET /v1/coupon-templates" => case(path(op), None, Allowed),
        "GET /v1/coupon-templates/{id}" | "GET /v1/coupon-templates/{id}/stats" => {
            case(path(op).replace("{id}", &w.template.to_string()), None, Allowed)
        }
        "POST /v1/coupon-templates" => case(
            path(op),
            Some(
                json!({"name": format!("无门槛{n}"), "kind": "cash", "discount": "5.00", "valid_days_after_issue": 7}),
            ),
            StoreBound,
        ),
        "PATCH /v1/coupon-templates/{id}" => {
            case(format!("/v1/coupon-templates/{}", w.template), Some(json!({"name": "改名"})), StoreBound)
        }
        "POST /v1/coupon-templates/{id}/issue" => {
            case(format!("/v1/coupon-templates/{}/issue", w.template), Some(json!({"customer_ids": [c]})), StoreBound)
        }
        "POST /v1/customers/{id}/coupons" => {
            case(format!("/v1/customers/{c}/coupons"), Some(json!({"template_id": w.template})), Allowed)
        }
        "GET /v1/coupons/{code}" => case(format!("/v1/coupons/{}", w.code_view), None, Allowed),
        "POST /v1/coupons/{code}/redeem" => case(
            format!("/v1/coupons/{}/redeem", w.code_redeem),
            Some(json!({"customer_id": c, "store_id": b, "order_reference": "R-1", "amount": "100.00"})),
            StoreBound,
        ),
        "POST /v1/coupons/{code}/rollback" => case(
            format!("/v1/coupons/{}/rollback", w.code_redeemed_at_b),
            Some(json!({"reason": "sale cancelled"})),
            NotFound,
        ),
        "POST /v1/coupons/{code}/void" => {
            case(format!("/v1/coupons/{}/void", w.code_void), Some(json!({"reason": "作废"})), StoreBound)
        }

        // Leads: a store's own; the assignment rules route every store's, so they are the chain's.
        "GET /v1/leads" | "GET /v1/leads/funnel" => case(format!("{}?store_id={b}", path(op)), None, StoreBound),
        "POST /v1/leads" => case(
            path(op),
            Some(json!({"source": "pos", "kind": "walk_in", "store_id": b,
                        "contact": {"name": "王女士", "phone": "13800000009"}})),
            StoreBound,
        ),
        "GET /v1/leads/{id}" => case(format!("/v1/leads/{}", w.lead_new), None, NotFound),
        "POST /v1/leads/{id}/assign" => {
            case(format!("/v1/leads/{}/assign", w.lead_new), Some(json!({"staff_id": w.staff_b})), NotFound)
        }
        "POST /v1/leads/{id}/contact" => case(format!("/v1/leads/{}/contact", w.lead_assigned), None, NotFound),
        "POST /v1/leads/{id}/qualify" => case(format!("/v1/leads/{}/qualify", w.lead_contacted), None, NotFound),
        "POST /v1/leads/{id}/convert" => {
            case(format!("/v1/leads/{}/convert", w.lead_qualified), Some(json!({"customer_id": c})), NotFound)
        }
        "POST /v1/leads/{id}/close" => case(
            format!("/v1/leads/{}/close", w.lead_to_close),
            Some(json!({"outcome": "lost", "lost_reason": "已在其他渠道购买"})),
            NotFound,
        ),
        "GET /v1/lead-assignment-rules" => case(path(op), None, StoreBound),
        "POST /v1/lead-assignment-rules" => case(
            path(op),
            Some(json!({"name": format!("rule {n}"), "priority": 0, "target": {"staff_ids": [w.staff_b]},
                        "strategy": "round_robin"})),
            StoreBound,
        ),
        "GET /v1/lead-assignment-rules/{id}" => {
            case(format!("/v1/lead-assignment-rules/{}", w.lead_rule), None, StoreBound)
        }
        "PATCH /v1/lead-assignment-rules/{id}" => {
            case(format!("/v1/lead-assignment-rules/{}", w.lead_rule), Some(json!({"priority": 0})), StoreBound)
        }

        // Tickets: a store's own; routing rules and SLA policies are the chain's.
        "GET /v1/tickets" | "GET /v1/tickets/stats" => case(path(op), None, Allowed),
        "POST /v1/tickets" => case(
            path(op),
            Some(json!({"type": "inquiry", "channel": "pos", "subject": "咨询", "customer_id": c, "store_id": b})),
            StoreBound,
        ),
        "GET /v1/tickets/{id}" | "GET /v1/tickets/{id}/comments" => {
            case(path(op).replace("{id}", &w.ticket_b.to_string()), None, NotFound)
        }
        "PATCH /v1/tickets/{id}" => {
            case(format!("/v1/tickets/{}", w.ticket_b), Some(json!({"priority": "high"})), NotFound)
        }
        "POST /v1/tickets/{id}/comments" => case(
            format!("/v1/tickets/{}/comments", w.ticket_b),
            Some(json!({"visibility": "internal", "body": "已联系"})),
            NotFound,
        ),
        "POST /v1/tickets/{id}/satisfaction" => {
            case(format!("/v1/tickets/{}/satisfaction", w.ticket_resolved_b), Some(json!({"score": 5})), NotFound)
        }
        "GET /v1/ticket-routing-rules" | "GET /v1/sla-policies" => case(path(op), None, StoreBound),
        "POST /v1/ticket-routing-rules" => {
            case(path(op), Some(json!({"name": format!("rule {n}"), "priority": 0, "team": "after_sales"})), StoreBound)
        }
        "GET /v1/ticket-routing-rules/{id}" | "DELETE /v1/ticket-routing-rules/{id}" => {
            case(format!("/v1/ticket-routing-rules/{}", w.routing_rule), None, StoreBound)
        }
        "PATCH /v1/ticket-routing-rules/{id}" => {
            case(format!("/v1/ticket-routing-rules/{}", w.routing_rule), Some(json!({"priority": 0})), StoreBound)
        }
        "PUT /v1/sla-policies/{priority}" => case(
            "/v1/sla-policies/normal".into(),
            Some(json!({"first_response_minutes": 120, "resolution_minutes": 2880})),
            StoreBound,
        ),
        _ => None,
    }
}

fn path(op: &str) -> String {
    op.split_once(' ').map(|(_, p)| p.to_string()).unwrap_or_default()
}

/// The operation's path with `{id}` filled in.
fn op_path(op: &str, id: Uuid) -> String {
    path(op).replace("{id}", &id.to_string())
}

/// Operations anyone may call: nothing to decide.
const PUBLIC: &[&str] = &["POST /v1/auth/token"];

/// Every operation of the published document, reads first and removals last (a chain-wide
/// removal must not take away what a later case reads).
fn operations() -> Vec<String> {
    let doc = retail_crm::openapi_document();
    let mut ops: Vec<String> = doc["paths"]
        .as_object()
        .map(|paths| {
            paths
                .iter()
                .flat_map(|(path, item)| {
                    item.as_object()
                        .into_iter()
                        .flat_map(|methods| methods.keys())
                        .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                        .map(move |m| format!("{} {path}", m.to_uppercase()))
                })
                .collect()
        })
        .unwrap_or_default();
    let rank = |op: &String| ["GET", "POST", "PUT", "PATCH", "DELETE"].iter().position(|m| op.starts_with(m));
    ops.sort_by_key(|op| (rank(op), op.clone()));
    ops
}

async fn send(app: &TestApp, op: &str, case: &Case, token: &str) -> TestResponse {
    let method = op.split(' ').next().unwrap_or_default();
    let req = match method {
        "GET" => app.get(&case.path),
        "POST" => app.post(&case.path),
        "PUT" => app.put(&case.path),
        "PATCH" => app.patch(&case.path),
        _ => app.delete(&case.path),
    };
    let req = req.token(token);
    match &case.body {
        Some(body) => req.json(body).send().await,
        None => req.send().await,
    }
}

#[actix_web::test]
async fn every_operation_decides_access_for_store_bound_and_chain_wide_principals() {
    let app = TestApp::new().await;
    let w = world(&app).await;
    let store_a = app.store_token(retail_crm::http::auth::ALL_SCOPES, Some(w.a));
    let chain = app.admin_token();
    let private = w.private_ids();

    let ops = operations();
    let undecided: Vec<&String> =
        ops.iter().filter(|op| !PUBLIC.contains(&op.as_str()) && request(op, &w, "a").is_none()).collect();
    assert!(undecided.is_empty(), "operations whose access for store-bound principals is not decided: {undecided:?}");

    let mut failures = Vec::new();
    for op in ops.iter().filter(|op| !PUBLIC.contains(&op.as_str())) {
        let Some(mine) = request(op, &w, "a") else { continue };
        let res = send(&app, op, &mine, &store_a).await;
        let ok = match mine.for_a {
            ForStoreA::NotFound => res.status == 404 && res.code().ends_with("_not_found"),
            ForStoreA::StoreBound => res.status == 403 && res.code() == "store_bound_principal",
            ForStoreA::Allowed => {
                (200..300).contains(&res.status) && !private.iter().any(|id| res.text.contains(id.as_str()))
            }
            ForStoreA::RowsStoreBound => {
                res.status == 200
                    && !bulk_rows(&res).is_empty()
                    && bulk_rows(&res)
                        .iter()
                        .all(|r| r["status"] == 403 && r["problem"]["code"] == "store_bound_principal")
                    && !private.iter().any(|id| res.text.contains(id.as_str()))
            }
        };
        if !ok {
            failures.push(format!("{op} as store A: expected {:?}, got {} {}", mine.for_a, res.status, res.text));
        }
        let theirs = request(op, &w, "c").unwrap_or(mine);
        let res = send(&app, op, &theirs, &chain).await;
        let refused_row = bulk_rows(&res).into_iter().find(|r| r.get("problem").is_some() || !r["error"].is_null());
        if !(200..300).contains(&res.status) || refused_row.is_some() {
            failures.push(format!("{op} chain-wide: expected success, got {} {}", res.status, res.text));
        }
    }
    assert!(failures.is_empty(), "{} access failures:\n{}", failures.len(), failures.join("\n"));
}

/// A bulk call's row answers (none for any other response).
fn bulk_rows(res: &TestResponse) -> Vec<Value> {
    res.body["results"].as_array().cloned().unwrap_or_default()
}

/// A store's ticket or won lead may link only that store's orders: naming another store's order is
/// answered like an unknown id (422 on `order_id`), so it neither attaches nor reveals it.
#[actix_web::test]
async fn a_stores_tickets_and_leads_link_only_its_own_orders() {
    let app = TestApp::new().await;
    let uuid = |v: &Value| v["id"].as_str().unwrap_or_default().parse::<Uuid>().unwrap_or_default();
    let (a, b) = (uuid(&app.create_store("A-01").await), uuid(&app.create_store("B-01").await));
    let till_a = app.store_token(retail_crm::http::auth::ALL_SCOPES, Some(a));
    let till_b = app.store_token(retail_crm::http::auth::ALL_SCOPES, Some(b));
    let sale = |token: &str, receipt: &str| {
        let body = json!({"external_id": receipt, "channel": "pos", "occurred_at": app.now(), "lines": line("99.00")});
        let token = token.to_string();
        let app = &app;
        async move { created(app.post("/v1/orders").token(&token).json(&body).send().await).await }
    };
    let (order_a, order_b) = (sale(&till_a, "R-1").await, sale(&till_b, "R-1").await);

    let ticket = |order: Uuid| json!({"type": "return", "channel": "pos", "subject": "退货", "order_id": order});
    let res = app.post("/v1/tickets").token(&till_a).json(&ticket(order_b)).send().await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["order_id"]);
    let unknown = app.post("/v1/tickets").token(&till_a).json(&ticket(Uuid::now_v7())).send().await;
    assert_eq!(unknown.body["errors"], res.body["errors"], "another store's order reads like an unknown one");
    let res = app.post("/v1/tickets").token(&till_a).json(&ticket(order_a)).send().await;
    res.assert_status(201);
    assert_eq!(res.body["order_id"], json!(order_a));

    let lead = created(
        app.post("/v1/leads")
            .token(&till_a)
            .json(&json!({"source": "pos", "kind": "walk_in", "contact": {"name": "王女士", "phone": "13800000007"}}))
            .send()
            .await,
    )
    .await;
    let staff = app.create_staff(json!({"name": "A店店员", "store_id": a, "roles": ["sales"]})).await;
    for (step, body) in [("assign", json!({"staff_id": staff["id"]})), ("contact", json!({})), ("qualify", json!({}))] {
        app.post(&format!("/v1/leads/{lead}/{step}")).token(&till_a).json(&body).send().await.assert_status(200);
    }
    for (token, order) in [(&till_a, order_b), (&app.admin_token(), order_b)] {
        let res =
            app.post(&format!("/v1/leads/{lead}/convert")).token(token).json(&json!({"order_id": order})).send().await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), ["order_id"]);
    }
    let res =
        app.post(&format!("/v1/leads/{lead}/convert")).token(&till_a).json(&json!({"order_id": order_a})).send().await;
    res.assert_status(200);
    assert_eq!(res.body["order_id"], json!(order_a));
}
