//! What a cluster distributes an order by (SPEC §16): `owner_id` is the customer the order was sold
//! to, or the order itself for a guest; its lines and refunds carry the same; a merge moves the
//! order's customer and never its owner.

use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;
use serde_json::json;
use uuid::Uuid;

use super::{line, post, sale, TILL};
use crate::support::TestApp;

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

    app.post(&format!("/v1/customers/{other}/merge"))
        .token(&app.admin_token())
        .json(&json!({"source_customer_id": member}))
        .send()
        .await
        .assert_status(200);
    assert_eq!(owners(&app, sold), none_elsewhere(member, Some(other)), "the merge moved the customer, not the owner");

    // The merged order is still the survivor's to refund, by its id.
    refund_one(&app, sold, "OWN-R2", 1).await;
    assert_eq!(owners(&app, sold).refunds_elsewhere, 0);
}
