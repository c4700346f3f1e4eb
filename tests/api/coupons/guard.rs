//! Coupon issue against a merge or an erasure in flight (SPEC §5, §8): the customer's guard (an
//! advisory lock, not a row lock) makes the issue wait, and the coupon never lands on a profile that
//! was folded away or forgotten meanwhile.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use retail_crm::error::ApiError;

use super::*;

/// Runs `change` in a transaction on its own connection and holds it open until another session
/// waits on an advisory lock (or 30 s pass), then commits. Returns once `change` has run.
fn hold_until_someone_waits(
    app: &TestApp, change: impl FnOnce(&mut PgConnection) -> Result<(), ApiError> + Send + 'static,
) -> std::thread::JoinHandle<bool> {
    let url = app.db_url.clone();
    let (ran, has_run) = mpsc::channel();
    let holder = std::thread::spawn(move || {
        let mut conn = PgConnection::establish(&url).unwrap_or_else(|e| panic!("{e}"));
        let mut watcher = PgConnection::establish(&url).unwrap_or_else(|e| panic!("{e}"));
        let mut someone_waited = false;
        conn.transaction::<_, ApiError, _>(|c| {
            change(c)?;
            let _ = ran.send(());
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                #[derive(QueryableByName)]
                struct Waiting {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    n: i64,
                }
                let w: Waiting = diesel::sql_query(
                    "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'",
                )
                .get_result(&mut watcher)?;
                if w.n > 0 {
                    someone_waited = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("holding the change: {e}"));
        someone_waited
    });
    has_run.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|e| panic!("the change never ran: {e}"));
    holder
}

#[actix_web::test]
async fn a_coupon_issued_during_a_merge_waits_and_never_lands_on_the_merged_profile() {
    let app = TestApp::new().await;
    let id = app.coupon_template().create().await;
    let (target, source) = (app.customer().name("李娜").create().await, app.customer().name("李娜").create().await);
    let now = app.now();
    let merge = hold_until_someone_waits(&app, move |c| {
        retail_crm::customer_flows::merge::merge(c, target, source, "test", now).map(|_| ())
    });
    // Listed by the id being merged away: the issue waits for the merge, then sees it.
    let res = issue(&app, id, json!({"customer_ids": [source]})).await;
    assert!(merge.join().unwrap_or(false), "the issue never waited for the merge");
    res.assert_status(200);
    assert_eq!(res.body["issued"], json!([]), "{}", res.text);
    assert_eq!(res.body["skipped"], json!([{"customer_id": source, "reason": "customer_not_active"}]));
    let list = app.get(&format!("/v1/customers/{target}/coupons")).token(&app.token(WRITE)).send().await;
    assert_eq!(list.items().len(), 0);
    // The same call now reaches the survivor.
    let res = issue(&app, id, json!({"customer_ids": [source]})).await;
    assert_eq!(res.body["issued"][0]["issued_to"], json!(target), "{}", res.text);
}

#[actix_web::test]
async fn a_claim_during_an_erasure_waits_and_is_refused() {
    let app = TestApp::new().await;
    let id = app.coupon_template().create().await;
    let c = app.customer().name("李娜").create().await;
    let now = app.now();
    let erasure = hold_until_someone_waits(&app, move |conn| {
        retail_crm::customer_flows::erasure::erase(conn, c, now).map(|_| ())
    });
    let res = claim(&app, c, id).await;
    assert!(erasure.join().unwrap_or(false), "the claim never waited for the erasure");
    res.assert_problem(409, "customer_erased");
    let held: i64 = {
        use retail_crm::schema::coupons::dsl as k;
        k::coupons.filter(k::customer_id.eq(c)).count().get_result(&mut app.connect()).unwrap_or(-1)
    };
    assert_eq!(held, 0);
}

/// A campaign batch issues 500 coupons in one transaction: it must not keep those customers' rows
/// locked (their profiles stay editable, their pages unwritten), only their guards.
#[actix_web::test]
async fn issuing_holds_no_customer_row_lock_until_it_commits() {
    let app = TestApp::new().await;
    let id = app.coupon_template().create().await;
    let c = app.customer().name("李娜").create().await;
    let now = app.now();
    let mut issuer = app.connect();
    let mut editor = app.connect();
    issuer
        .transaction::<_, ApiError, _>(|conn| {
            let source = retail_crm::coupons::store::Source {
                kind: retail_crm::coupons::model::CouponSource::Manual,
                reference: None,
            };
            let report = retail_crm::coupons::store::issue(conn, id, &[c], source, now, chrono_tz::Asia::Shanghai)?;
            assert_eq!(report.issued.len(), 1);
            // Still inside the issuing transaction: the profile can be locked for an edit at once.
            let edit = diesel::sql_query("SELECT id FROM customers WHERE id = $1 FOR UPDATE NOWAIT")
                .bind::<diesel::sql_types::Uuid, _>(c)
                .execute(&mut editor);
            assert!(edit.is_ok(), "the issue holds the customer's row: {edit:?}");
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
