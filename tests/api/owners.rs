//! What a cluster places rows by (SPEC §16): `owner_id` is the customer an order was sold to (a
//! lead or ticket opened for), or the row itself when there was none; lines, refunds and comments
//! carry their parent's; a merge moves the customer and never the owner.

use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;
use serde_json::json;
use uuid::Uuid;

use crate::leads::{inquiry, lead, uuid};
use crate::orders::{line, post, sale, TILL};
use crate::support::TestApp;
use crate::tickets::{reply, ticket};

#[derive(QueryableByName, Debug, PartialEq)]
struct Owners {
    #[diesel(sql_type = SqlUuid)]
    owner: Uuid,
    #[diesel(sql_type = diesel::sql_types::Nullable<SqlUuid>)]
    customer: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    lines_elsewhere: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    refunds_elsewhere: i64,
}

fn owners(app: &TestApp, order: Uuid) -> Owners {
    diesel::sql_query(
        "SELECT o.owner_id AS owner, o.customer_id AS customer, \
                (SELECT count(*) FROM order_lines l WHERE l.order_id = o.id AND l.owner_id <> o.owner_id) \
                    AS lines_elsewhere, \
                (SELECT count(*) FROM refunds r WHERE r.order_id = o.id AND r.owner_id <> o.owner_id) \
                    AS refunds_elsewhere \
         FROM orders o WHERE o.id = $1",
    )
    .bind::<SqlUuid, _>(order)
    .get_result(&mut app.connect())
    .unwrap_or_else(|e| panic!("order {order}: {e}"))
}

async fn merge(app: &TestApp, target: Uuid, source: Uuid) {
    app.post(&format!("/v1/customers/{target}/merge"))
        .token(&app.admin_token())
        .json(&json!({"source_customer_id": source}))
        .send()
        .await
        .assert_status(200);
}

async fn refund_one(app: &TestApp, order: Uuid, external_id: &str, line_no: i32) {
    app.post(&format!("/v1/orders/{order}/refunds"))
        .token(&app.token(TILL))
        .json(&json!({"external_id": external_id, "lines": [{"line_no": line_no, "quantity": 1}]}))
        .send()
        .await
        .assert_status(201);
}

#[actix_web::test]
async fn an_order_is_owned_by_its_customer_or_itself_and_a_merge_moves_only_its_customer() {
    let app = TestApp::new().await;
    let (member, other) =
        (app.member().phone("13800000011").create().await, app.member().phone("13800000012").create().await);
    let guest = post(&app, &sale(&app, "OWN-G", None, json!([line("A", "50.00", 1)]))).await.uuid("id");
    let sold = post(&app, &sale(&app, "OWN-M", Some(member), json!([line("A", "80.00", 1), line("B", "20.00", 2)])))
        .await
        .uuid("id");
    refund_one(&app, sold, "OWN-R", 2).await;

    let none_elsewhere = |owner, customer| Owners { owner, customer, lines_elsewhere: 0, refunds_elsewhere: 0 };
    assert_eq!(owners(&app, guest), none_elsewhere(guest, None), "a guest's order is its own owner");
    assert_eq!(owners(&app, sold), none_elsewhere(member, Some(member)), "a member's order is the member's");

    merge(&app, other, member).await;
    assert_eq!(owners(&app, sold), none_elsewhere(member, Some(other)), "the merge moved the customer, not the owner");

    // The merged order is still the survivor's to refund, by its id.
    refund_one(&app, sold, "OWN-R2", 1).await;
    assert_eq!(owners(&app, sold).refunds_elsewhere, 0);
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Row {
    #[diesel(sql_type = SqlUuid)]
    owner: Uuid,
    #[diesel(sql_type = diesel::sql_types::Nullable<SqlUuid>)]
    customer: Option<Uuid>,
}

fn row(app: &TestApp, table: &str, id: Uuid) -> Row {
    diesel::sql_query(format!("SELECT owner_id AS owner, customer_id AS customer FROM {table} WHERE id = $1"))
        .bind::<SqlUuid, _>(id)
        .get_result(&mut app.connect())
        .unwrap_or_else(|e| panic!("{table} {id}: {e}"))
}

/// Comments have no customer column: only the owner.
fn row_owner(app: &TestApp, table: &str, id: Uuid) -> Uuid {
    #[derive(QueryableByName)]
    struct Owner {
        #[diesel(sql_type = SqlUuid)]
        owner_id: Uuid,
    }
    let found: Owner = diesel::sql_query(format!("SELECT owner_id FROM {table} WHERE id = $1"))
        .bind::<SqlUuid, _>(id)
        .get_result(&mut app.connect())
        .unwrap_or_else(|e| panic!("{table} {id}: {e}"));
    found.owner_id
}

#[actix_web::test]
async fn leads_and_tickets_are_owned_by_their_customer_or_themselves_and_comments_by_their_ticket() {
    let app = TestApp::new().await;
    let (member, other) =
        (app.member().phone("13800000021").create().await, app.member().phone("13800000022").create().await);
    let prospect = uuid(&lead(&app, inquiry(json!({}))).await["id"]);
    assert_eq!(row(&app, "leads", prospect), Row { owner: prospect, customer: None }, "a prospect owns itself");
    let known = uuid(&lead(&app, inquiry(json!({"customer_id": member}))).await["id"]);
    assert_eq!(row(&app, "leads", known), Row { owner: member, customer: Some(member) });

    let anonymous = uuid(&ticket(&app, json!({"type": "inquiry", "subject": "营业时间?"})).await["id"]);
    assert_eq!(row(&app, "tickets", anonymous), Row { owner: anonymous, customer: None });
    let complaint =
        uuid(&ticket(&app, json!({"type": "complaint", "subject": "态度差", "customer_id": member})).await["id"]);
    assert_eq!(row(&app, "tickets", complaint), Row { owner: member, customer: Some(member) });
    let comment = reply(&app, &complaint.to_string(), "public", "已联系顾客").await;
    comment.assert_status(201);
    assert_eq!(
        row_owner(&app, "ticket_comments", uuid(&comment.body["comment"]["id"])),
        member,
        "a comment sits with its ticket"
    );

    merge(&app, other, member).await;
    assert_eq!(row(&app, "leads", known), Row { owner: member, customer: Some(other) });
    assert_eq!(row(&app, "tickets", complaint), Row { owner: member, customer: Some(other) });
}
