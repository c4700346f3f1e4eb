//! SPEC §10: the event feed (transactional outbox) — commit order, never skipping an event that
//! commits late, filters, cursors, and many concurrent writers.

use std::collections::HashSet;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use futures::future::join;
use rand::Rng;
use retail_crm::error::ApiError;
use retail_crm::events::EventData;
use serde_json::json;
use uuid::Uuid;

use crate::support::{TestApp, TestResponse};

/// An event of `event_type` with a plausible payload; `n` tells events of one test apart.
fn sample(event_type: &str, n: i64) -> EventData {
    let data = match event_type {
        "customer.created" => json!({"source_channel": "pos", "home_store_id": null}),
        "customer.updated" => json!({"fields": [format!("field{n}")]}),
        "customer.merged" => json!({"source_customer_id": Uuid::now_v7(), "moved": {"orders": n}}),
        "points.earned" => json!({"points": n, "campaign_id": Uuid::now_v7()}),
        other => panic!("no sample for {other}"),
    };
    EventData::read(event_type, &data).unwrap_or_else(|| panic!("sample {event_type}: {data}"))
}

/// Emits events in one committed transaction; returns their ids.
fn emit_committed(conn: &mut PgConnection, event_type: &'static str, n: usize) -> Vec<Uuid> {
    conn.transaction::<_, ApiError, _>(|conn| {
        (0..n).map(|i| retail_crm::events::emit(conn, Some(Uuid::now_v7()), sample(event_type, i as i64))).collect()
    })
    .unwrap_or_else(|e| panic!("emitting events: {e}"))
}

fn event_ids(res: &TestResponse) -> Vec<Uuid> {
    res.items().iter().map(|e| e["id"].as_str().unwrap_or_default().parse().unwrap_or_default()).collect()
}

async fn read_feed(app: &TestApp, token: &str, query: &str) -> TestResponse {
    let res = app.get(&format!("/v1/events{query}")).token(token).send().await;
    res.assert_status(200);
    assert!(res.body["next_cursor"].is_string(), "next_cursor must always be a string: {}", res.text);
    res
}

#[actix_web::test]
async fn the_feed_needs_events_read_and_a_chain_wide_principal() {
    let app = TestApp::new().await;
    let store = app.store_id("EV1").await;
    let c = app.post("/v1/customers").token(&app.admin_token()).json(&json!({"name": "A"})).send().await;
    c.assert_status(201);
    app.get("/v1/events").send().await.assert_problem(401, "unauthorized");
    // `customers:read` no longer opens the feed: it carries every store's orders, tickets and coupon codes.
    for scopes in [&["leads:read", "orders:write"][..], &["customers:read", "customers:write", "customers:pii"]] {
        app.get("/v1/events").token(&app.token(scopes)).send().await.assert_problem(403, "forbidden");
    }
    // A store's till, even with every scope, is not the chain: 403, and no event in the body.
    for scopes in [&["events:read"][..], &["admin"]] {
        let res = app.get("/v1/events").token(&app.store_token(scopes, Some(store))).send().await;
        res.assert_problem(403, "store_bound_principal");
        assert!(!res.text.contains("customer.created"), "{}", res.text);
    }

    let res = read_feed(&app, &app.token(&["events:read"]), "").await;
    assert_eq!(res.items().len(), 1);
    assert_eq!(res.items()[0]["type"], "customer.created");
}

#[actix_web::test]
async fn an_empty_feed_starts_at_zero() {
    let app = TestApp::new().await;
    let res = read_feed(&app, &app.token(&["events:read"]), "").await;
    assert!(res.items().is_empty());
    assert_eq!(res.body["next_cursor"], json!("0"));
}

#[actix_web::test]
async fn events_appear_in_commit_order_with_their_fields() {
    let app = TestApp::new().await;
    let token = app.token(&["events:read"]);
    let mut conn = app.connect();
    let subject = Uuid::now_v7();
    let id = conn
        .transaction::<_, ApiError, _>(|c| retail_crm::events::emit(c, Some(subject), sample("customer.created", 0)))
        .unwrap_or_else(|e| panic!("{e}"));

    let res = read_feed(&app, &token, "").await;
    let items = res.items();
    assert_eq!(items.len(), 1, "{}", res.text);
    let event = &items[0];
    assert_eq!(event["id"], json!(id.to_string()));
    assert_eq!(event["type"], json!("customer.created"));
    assert_eq!(event["subject_id"], json!(subject.to_string()));
    assert_eq!(event["data"], json!({"source_channel": "pos", "home_store_id": null}));
    assert!(event["occurred_at"].is_string());
    let seq = event["seq"].as_i64().unwrap_or_else(|| panic!("sequence: {event}"));
    assert_eq!(res.body["next_cursor"], json!(seq.to_string()));

    // Nothing new: the cursor stays where it is.
    let again = read_feed(&app, &token, &format!("?after={seq}")).await;
    assert!(again.items().is_empty());
    assert_eq!(again.body["next_cursor"], json!(seq.to_string()));

    // A rolled-back transaction leaves no event.
    let rolled_back = conn.transaction::<(), ApiError, _>(|c| {
        retail_crm::events::emit(c, None, sample("customer.updated", 0))?;
        Err(ApiError::internal("roll back"))
    });
    assert!(rolled_back.is_err());
    let again = read_feed(&app, &token, &format!("?after={seq}")).await;
    assert!(again.items().is_empty(), "{}", again.text);

    // Paging with a limit.
    let more = emit_committed(&mut conn, "points.earned", 5);
    let mut seen = Vec::new();
    let mut cursor = seq.to_string();
    for _ in 0..10 {
        let res = read_feed(&app, &token, &format!("?after={cursor}&limit=2")).await;
        assert!(res.items().len() <= 2);
        if res.items().is_empty() {
            break;
        }
        seen.extend(event_ids(&res));
        cursor = res.str("next_cursor").to_string();
    }
    assert_eq!(seen, more, "one transaction's events keep their order");
}

#[actix_web::test]
async fn an_event_committed_late_is_never_skipped() {
    let app = TestApp::new().await;
    let token = app.token(&["events:read"]);
    let mut a = app.connect();
    let mut b = app.connect();

    let before = emit_committed(&mut b, "customer.created", 1);

    // T1 starts first and emits (so its event id is older), but does not commit yet.
    a.batch_execute("BEGIN").unwrap_or_else(|e| panic!("{e}"));
    let late = retail_crm::events::emit(&mut a, None, sample("customer.updated", 1)).unwrap_or_else(|e| panic!("{e}"));
    // T2 emits and commits.
    let early = emit_committed(&mut b, "customer.merged", 1);
    assert!(late < early[0], "T1's event id sorts before T2's");

    let first = read_feed(&app, &token, "").await;
    let ids = event_ids(&first);
    assert_eq!(ids, vec![before[0], early[0]], "the uncommitted event is invisible: {}", first.text);
    let cursor = first.str("next_cursor").to_string();

    a.batch_execute("COMMIT").unwrap_or_else(|e| panic!("{e}"));

    let second = read_feed(&app, &token, &format!("?after={cursor}")).await;
    assert_eq!(event_ids(&second), vec![late], "the late commit appears after the cursor: {}", second.text);
    let seq = |res: &TestResponse, i: usize| res.items()[i]["seq"].as_i64().unwrap_or(-1);
    assert!(seq(&second, 0) > seq(&first, 1));

    // And a full re-read shows each event once, in commit order.
    let all = read_feed(&app, &token, "").await;
    assert_eq!(event_ids(&all), vec![before[0], early[0], late]);
}

#[actix_web::test]
async fn types_filter_and_bad_parameters() {
    let app = TestApp::new().await;
    let token = app.token(&["events:read"]);
    let mut conn = app.connect();
    let created = emit_committed(&mut conn, "customer.created", 2);
    emit_committed(&mut conn, "customer.updated", 2);
    let merged = emit_committed(&mut conn, "customer.merged", 1);

    let res = read_feed(&app, &token, "?types=customer.created").await;
    assert_eq!(event_ids(&res), created);
    assert!(res.items().iter().all(|e| e["type"] == json!("customer.created")));
    // The cursor moves past the 3 filtered-out events too (5 stamped in all), so the next poll
    // does not scan them again.
    assert_eq!(res.body["next_cursor"], json!("5"));

    let res = read_feed(&app, &token, "?types=customer.created,customer.merged").await;
    let mut expected = created.clone();
    expected.extend(&merged);
    assert_eq!(event_ids(&res), expected);

    // A matching event committed after the poll still arrives from the advanced cursor.
    let later = emit_committed(&mut conn, "customer.created", 1);
    let res = read_feed(&app, &token, "?types=customer.created&after=5").await;
    assert_eq!(event_ids(&res), later);

    let res = app.get("/v1/events?types=customer.created,customer.teleported").token(&token).send().await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), vec!["types".to_string()]);

    for after in ["abc", "-1", "1.5"] {
        let res = app.get(&format!("/v1/events?after={after}")).token(&token).send().await;
        res.assert_problem(400, "invalid_cursor");
    }
    for limit in ["0", "1001"] {
        let res = app.get(&format!("/v1/events?limit={limit}")).token(&token).send().await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), vec!["limit".to_string()]);
    }

    // A cursor past the end is not an error: nothing yet, same cursor back.
    let res = read_feed(&app, &token, "?after=999").await;
    assert!(res.items().is_empty());
    assert_eq!(res.body["next_cursor"], json!("999"));
}

/// 8 writers commit 25 events each in small random transactions while two readers poll the feed:
/// each reader sees every event exactly once, with strictly increasing sequence numbers.
#[actix_web::test]
async fn concurrent_writers_and_readers_lose_nothing() {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 25;
    let app = TestApp::new().await;
    let token = app.token(&["events:read"]);

    let (tx, rx) = mpsc::channel::<Vec<Uuid>>();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let url = app.db_url.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).unwrap_or_else(|e| panic!("writer {w}: {e}"));
                let mut rng = rand::thread_rng();
                let mut left = PER_WRITER;
                while left > 0 {
                    let n = rng.gen_range(1..=4).min(left);
                    let ids = conn
                        .transaction::<_, ApiError, _>(|c| {
                            let mut ids = Vec::new();
                            for _ in 0..n {
                                ids.push(retail_crm::events::emit(c, None, sample("points.earned", w as i64))?);
                                if rng.gen_bool(0.3) {
                                    std::thread::sleep(Duration::from_millis(rng.gen_range(0..3)));
                                }
                            }
                            Ok(ids)
                        })
                        .unwrap_or_else(|e| panic!("writer {w}: {e}"));
                    left -= n;
                    let _ = tx.send(ids);
                    std::thread::sleep(Duration::from_millis(rng.gen_range(0..4)));
                }
            })
        })
        .collect();
    drop(tx);

    struct Reader {
        cursor: String,
        last_seq: i64,
        seen: Vec<Uuid>,
    }
    let mut readers = [
        Reader { cursor: "0".into(), last_seq: 0, seen: Vec::new() },
        Reader { cursor: "0".into(), last_seq: 0, seen: Vec::new() },
    ];
    let total = WRITERS * PER_WRITER;
    let deadline = Instant::now() + Duration::from_secs(120);
    while readers.iter().any(|r| r.seen.len() < total) {
        assert!(
            Instant::now() < deadline,
            "readers saw only {} and {} of {total} events",
            readers[0].seen.len(),
            readers[1].seen.len()
        );
        let (r0, r1) = join(
            read_feed(&app, &token, &format!("?after={}&limit=37", readers[0].cursor)),
            read_feed(&app, &token, &format!("?after={}&limit=50", readers[1].cursor)),
        )
        .await;
        for (reader, res) in readers.iter_mut().zip([r0, r1]) {
            for event in res.items() {
                let seq = event["seq"].as_i64().unwrap_or_else(|| panic!("{event}"));
                // Every event of this database is in the feed, so sequences have no gaps either.
                assert_eq!(seq, reader.last_seq + 1, "sequence went from {} to {seq}", reader.last_seq);
                reader.last_seq = seq;
                reader.seen.push(event["id"].as_str().unwrap_or_default().parse().unwrap_or_default());
            }
            reader.cursor = res.str("next_cursor").to_string();
            assert_eq!(reader.cursor, reader.last_seq.to_string());
        }
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    for w in writers {
        w.join().unwrap_or_else(|_| panic!("a writer panicked"));
    }
    let emitted: Vec<Uuid> = rx.iter().flatten().collect();
    assert_eq!(emitted.len(), total);
    let emitted_set: HashSet<Uuid> = emitted.iter().copied().collect();
    for (i, reader) in readers.iter().enumerate() {
        let seen_set: HashSet<Uuid> = reader.seen.iter().copied().collect();
        assert_eq!(seen_set.len(), reader.seen.len(), "reader {i} saw an event twice");
        assert_eq!(seen_set, emitted_set, "reader {i} saw a different set of events");
    }
    assert_eq!(readers[0].seen, readers[1].seen, "both readers see one order");

    // Nothing more arrives afterwards.
    let res = read_feed(&app, &token, &format!("?after={}", readers[0].cursor)).await;
    assert!(res.items().is_empty(), "{}", res.text);
}
