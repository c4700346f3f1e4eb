//! PIPL erasure leaves nothing (SPEC §5): a customer with a life across every domain is erased, then
//! every text, varchar, jsonb, bytea and array column of every table is searched for the person.
//! And `customer.*` events carry ids, field names and statuses only, never the person's data.

use diesel::prelude::*;
use diesel::sql_types::{Array, Text};
use serde_json::{json, Value};

use crate::support::{TestApp, TestResponse};

const NAME: &str = "欧阳锋华";
const PHONE: &str = "13912345678";
const PHONE_E164: &str = "+8613912345678";
const EMAIL: &str = "oyfh@example.com";
const OTHER_EMAIL: &str = "oyfh.alt@example.com";
const OPENID: &str = "wxpipl:oPIPLopenid42";
const UNIONID: &str = "uPIPLunion42";
const TMALL: &str = "tPIPLouid42";
const JD: &str = "jdPIPLoyfh";
const WECHAT_CONTACT: &str = "wx_oyfh_pipl";
const ADDRESS: &str = "北京市海淀区中关村PIPL路1号";
const BIRTHDAY: &str = "1987-03-21";

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Text)]
    needle: String,
}

/// Every `table.column: needle` where a text-like column of any table holds one of `needles`.
fn scan(app: &TestApp, needles: &[String]) -> Vec<String> {
    let mut conn = app.connect();
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name, data_type::text AS data_type
         FROM information_schema.columns
         WHERE table_schema = 'public'
           AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea', 'ARRAY')
         ORDER BY table_name, column_name",
    )
    .load(&mut conn)
    .unwrap_or_else(|e| panic!("listing columns: {e}"));
    assert!(columns.len() > 50, "the scan must see the whole schema, saw {} columns", columns.len());
    let mut hits = Vec::new();
    for c in &columns {
        let (table, column) = (&c.table_name, &c.column_name);
        let contains = if c.data_type == "bytea" {
            format!("position(convert_to(n.needle, 'UTF8') IN x.\"{column}\") > 0")
        } else {
            format!("strpos(x.\"{column}\"::text, n.needle) > 0")
        };
        let sql = format!(
            "SELECT n.needle FROM unnest($1::text[]) AS n(needle)
             WHERE EXISTS (SELECT 1 FROM \"{table}\" x WHERE {contains})"
        );
        let found: Vec<Found> = diesel::sql_query(&sql)
            .bind::<Array<Text>, _>(needles)
            .load(&mut conn)
            .unwrap_or_else(|e| panic!("scanning {table}.{column}: {e}"));
        hits.extend(found.into_iter().map(|f| format!("{table}.{column}: {}", f.needle)));
    }
    hits
}

/// A POST with an Idempotency-Key (so its response is stored) by the admin; asserts the status.
async fn post(app: &TestApp, path: &str, key: &str, body: Value, status: u16) -> TestResponse {
    let res = app.post(path).token(&app.admin_token()).header("idempotency-key", key).json(&body).send().await;
    res.assert_status(status);
    res
}

#[actix_web::test]
async fn erasure_leaves_the_person_in_no_column_of_any_table() {
    let app = TestApp::new().await;
    let store = app.create_store("PIPL").await["id"].clone();

    // The person, twice: a duplicate profile from the JD shop, merged into the main one.
    let dup = post(
        &app,
        "/v1/customers",
        "pipl-dup",
        json!({"name": NAME, "email": OTHER_EMAIL, "identities": [{"kind": "jd_pin", "value": JD}]}),
        201,
    )
    .await
    .str("id")
    .to_string();
    let c = post(
        &app,
        "/v1/customers",
        "pipl-create",
        json!({"name": NAME, "phone": PHONE, "email": EMAIL, "birthday": BIRTHDAY, "address": ADDRESS,
               "home_store_id": store, "attributes": {"wechat_nick": NAME},
               "identities": [{"kind": "wechat_openid", "value": OPENID}, {"kind": "wechat_unionid", "value": UNIONID},
                              {"kind": "tmall_ouid", "value": TMALL}]}),
        201,
    )
    .await
    .str("id")
    .to_string();
    let path = format!("/v1/customers/{c}");
    post(&app, &format!("{path}/merge"), "pipl-merge", json!({"source_customer_id": dup}), 200).await;
    app.patch(&path).token(&app.admin_token()).json(&json!({"city": "北京"})).send().await.assert_status(200);

    // A member with orders, points and coupons.
    let card =
        post(&app, &format!("{path}/membership"), "pipl-enrol", json!({"channel": "pos", "store_id": store}), 201)
            .await
            .str("member_card")
            .to_string();
    let order = post(
        &app,
        "/v1/orders",
        "pipl-order",
        json!({"external_id": "PIPL-1", "channel": "pos", "store_id": store,
               "customer_identity": {"kind": "phone", "value": PHONE}, "occurred_at": app.now(),
               "lines": [{"sku": "W-1", "name": "连衣裙", "category": "女装", "quantity": 1, "unit_price": "300.00"}]}),
        201,
    )
    .await
    .str("id")
    .to_string();
    post(&app, &format!("{path}/points/adjustments"), "pipl-adjust", json!({"points": 100, "reason": "goodwill"}), 201)
        .await;
    let template = post(
        &app,
        "/v1/coupon-templates",
        "pipl-template",
        json!({"name": "满300减50", "kind": "amount_off", "threshold": "300.00", "discount": "50.00",
               "valid_days_after_issue": 30, "status": "active"}),
        201,
    )
    .await
    .str("id")
    .to_string();
    post(&app, &format!("/v1/coupon-templates/{template}/issue"), "pipl-issue", json!({"customer_ids": [c]}), 200)
        .await;

    // A lead with their contact and words, found by phone.
    let lead = post(
        &app,
        "/v1/leads",
        "pipl-lead",
        json!({"source": "wechat_mini_program", "kind": "inquiry",
               "contact": {"name": NAME, "phone": "139 1234 5678", "wechat": WECHAT_CONTACT},
               "city": "北京", "district": "海淀区", "category": "女装", "notes": format!("请打{PHONE}找{NAME}")}),
        201,
    )
    .await;
    assert_eq!(lead.str("customer_id"), c, "the lead found its customer by phone");

    // A ticket in their words, a reply to them, an internal note about them, and their rating.
    let ticket = post(
        &app,
        "/v1/tickets",
        "pipl-ticket",
        json!({"customer_id": c, "type": "complaint", "subject": format!("{NAME}投诉"), "store_id": store,
               "description": format!("联系电话{PHONE}，邮箱{EMAIL}")}),
        201,
    )
    .await
    .str("id")
    .to_string();
    let comments = format!("/v1/tickets/{ticket}/comments");
    post(
        &app,
        &comments,
        "pipl-reply",
        json!({"visibility": "public", "body": format!("{NAME}您好，已为您处理")}),
        201,
    )
    .await;
    post(
        &app,
        &comments,
        "pipl-internal",
        json!({"visibility": "internal", "body": format!("客户 {PHONE_E164} 来电，仓库已确认")}),
        201,
    )
    .await;
    app.patch(&format!("/v1/tickets/{ticket}"))
        .token(&app.admin_token())
        .json(&json!({"status": "resolved"}))
        .send()
        .await
        .assert_status(200);
    post(
        &app,
        &format!("/v1/tickets/{ticket}/satisfaction"),
        "pipl-csat",
        json!({"score": 5, "comment": format!("{NAME}很满意")}),
        200,
    )
    .await;
    post(&app, &format!("{path}/notes"), "pipl-note", json!({"body": format!("{NAME}喜欢蓝色，微信 {OPENID}")}), 201)
        .await;

    let needles: Vec<String> = [
        NAME,
        PHONE,
        PHONE_E164,
        EMAIL,
        OTHER_EMAIL,
        OPENID,
        "oPIPLopenid42",
        UNIONID,
        TMALL,
        JD,
        WECHAT_CONTACT,
        ADDRESS,
        BIRTHDAY,
        &card,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    // The scan finds the person everywhere before (so it can fail)...
    let before = scan(&app, &needles);
    for place in [
        "customers.name",
        "customer_identities.value",
        "identity_routes.value",
        "customer_notes.body",
        "leads.contact_phone",
        "leads.notes",
        "tickets.description",
        "ticket_comments.body",
        "memberships.member_card",
        "idempotency_keys.response_body",
    ] {
        assert!(before.iter().any(|h| h.starts_with(&format!("{place}:"))), "{place} not found before: {before:?}");
    }

    app.delete(&path).token(&app.token(&["customers:pii"])).send().await.assert_status(204);

    // ...and nowhere after.
    let after = scan(&app, &needles);
    assert!(after.is_empty(), "the person survived erasure in: {after:#?}");

    // What is kept is kept anonymously: the sale, the ticket and the lead still exist.
    let kept = app.get(&format!("/v1/orders/{order}")).token(&app.admin_token()).send().await;
    kept.assert_status(200);
    assert_eq!(kept.str("customer_id"), c);
    let ticket = app.get(&format!("/v1/tickets/{ticket}")).token(&app.admin_token()).send().await;
    assert_eq!((ticket.str("subject"), ticket.str("description")), ("[erased]", "[erased]"));
    let lead = app.get(&format!("/v1/leads/{}", lead.str("id"))).token(&app.admin_token()).send().await;
    assert_eq!(lead.body["contact"], json!({"name": null, "phone": null, "wechat": null}));
    assert_eq!(lead.body["status"], "new");
}

#[actix_web::test]
async fn customer_events_carry_ids_field_names_and_statuses_only() {
    let app = TestApp::new().await;
    let token = app.token(&["customers:read", "customers:write", "customers:pii"]);
    let home = app.create_store("CE").await["id"].as_str().unwrap_or_default().to_string();
    let pii = ["张三", "13812345678", "z@example.com", "1990-05-12", "朝阳", "oZS", "Zhang"];
    let body = json!({"name": "张三", "phone": "13812345678", "email": "z@example.com", "birthday": "1990-05-12",
        "address": "北京市朝阳区", "source_channel": "pos", "home_store_id": home,
        "identities": [{"kind": "wechat_openid", "value": "wxapp:oZS"}]});
    let c = post(&app, "/v1/customers", "ce-1", body, 201).await.str("id").to_string();
    let path = format!("/v1/customers/{c}");
    let other = post(&app, "/v1/customers", "ce-2", json!({"name": "Zhang San", "email": "zs@example.com"}), 201).await;
    app.patch(&path)
        .token(&token)
        .json(&json!({"name": "张三丰", "phone": "13812345679"}))
        .send()
        .await
        .assert_status(200);
    app.post(&format!("{path}/identities"))
        .token(&token)
        .json(&json!({"kind": "jd_pin", "value": "jdZhang"}))
        .send()
        .await
        .assert_status(201);
    app.put(&format!("{path}/tags")).token(&token).json(&json!({"tags": ["vip"]})).send().await.assert_status(200);
    app.post(&format!("{path}/merge"))
        .token(&token)
        .json(&json!({"source_customer_id": other.body["id"]}))
        .send()
        .await
        .assert_status(200);
    app.delete(&path).token(&token).send().await.assert_status(204);

    let feed = app.get("/v1/events?limit=100").token(&app.token(&["events:read"])).send().await;
    let events = feed.items();
    assert_eq!(events.len(), 7, "{}", feed.text);
    for secret in pii {
        assert!(!feed.text.contains(secret), "{secret} in the feed: {}", feed.text);
    }
    const FIELDS: &[&str] = &[
        "name",
        "gender",
        "birthday",
        "phone",
        "email",
        "city",
        "district",
        "address",
        "source_channel",
        "home_store_id",
        "attributes",
        "consents",
        "tags",
        "identities",
    ];
    for e in &events {
        let data = e["data"].as_object().cloned().unwrap_or_default();
        let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
        keys.sort();
        match e["type"].as_str().unwrap_or("") {
            "customer.created" => {
                assert_eq!(keys, ["home_store_id", "source_channel"]);
                assert!(data.values().all(|v| v.is_null() || v == "pos" || v == &json!(home)), "{e}");
            }
            "customer.updated" => {
                assert_eq!(keys, ["fields"]);
                let fields = data["fields"].as_array().cloned().unwrap_or_default();
                assert!(fields.iter().all(|f| f.as_str().is_some_and(|f| FIELDS.contains(&f))), "{e}");
            }
            "customer.merged" => {
                assert_eq!(keys, ["moved", "source_customer_id"]);
                assert!(data["moved"].as_object().is_some_and(|m| m.values().all(Value::is_i64)), "{e}");
            }
            "customer.erased" => assert!(keys.is_empty(), "{e}"),
            other => panic!("unexpected event {other}: {e}"),
        }
    }
}
