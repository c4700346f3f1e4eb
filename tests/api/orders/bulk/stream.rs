//! The acceptance test of issue 12: a shuffled stream of 1,000 orders and refunds from two channels
//! (`pos` at two stores, `tmall` online), posted twice — in bulk and singly, mixed — with refunds
//! that overtake their orders sent again until accepted, ends exactly as the same stream posted once,
//! in order, on a second fresh instance.
//!
//! What arrival order cannot change, and so is compared exactly: every order's priced content
//! (customer, amounts, discounts, points earned and redeemed, lines), each order's refunds (number,
//! amount, lines) and what they took back and returned in total, every member's balance, debt,
//! available points, Σ delta, the ledger summed per (kind, order) and the live lots per expiry,
//! every member's final tier, the count of every event type, and a clean ledger audit.
//!
//! What depends on arrival order by the rules, found and kept out (or held fixed) on purpose:
//! - Which order upgrades a member, and through which tiers (SPEC §6: an upgrade happens when an
//!   *arriving* order takes spend over a threshold). Orders record their tier, `tier_after`,
//!   `tier_changed`; the tier history and `membership.tier_changed` events count the steps (4,000 +
//!   12,000 in that order is one step to gold, the other way two). Not compared.
//! - The final tier itself when refunds arrive between orders: a refund lowers spend on arrival and
//!   never downgrades (SPEC §6), so a member whose orders gross one tier and net another may end at
//!   either. Every climber here grosses and nets the same tier (checked when the stream is built).
//! - Prices of later orders: a `crm`-priced order gets the tier discount (and multiplier) the member
//!   has when it arrives. Climbers' orders are priced `external`; `crm` orders are only for members
//!   whose tier cannot move within the stream (below 5,000 in all, or gold before it starts).
//! - Redemptions need the balance when they arrive (and no debt). Spenders redeem only from a grant
//!   that covers all their redemptions, so none is refused whatever came first.
//! - A refund without `amount` or `lines` takes all that is left: only an order's sole refund.
//! - How an order's clawback and returned points split across its several partial refunds (each
//!   rounds down as it comes), `balance_after` on entries, orders and refunds, entry order and lot
//!   ids. Compared as per-order and per-account sums instead.
//! - Which lots a redemption draws from (the soonest-expiring of those present when it arrives),
//!   and which a clawback draws from once the order's own lot is spent: so how a spender's or a
//!   debtor's live points split by expiry date. Their live total is compared; everyone else's split
//!   by expiry date too (points expire 365 days after the sale's `occurred_at`, not its arrival).
//!
//! Debt is order-independent: a clawback draws the order's own lot, then other lots, and only then
//! makes debt, and every credit pays debt first; so debt is max(0, −balance) and lots max(0, balance)
//! at the end whatever the order. Debtors here spent an order's points before the stream refunds it.

use std::collections::HashMap;

use chrono::{DateTime, Duration};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::*;

/// Fixed: the stream, its shuffles and the call sizes are the same on every run.
const SEED: u64 = 0x0012_5EED;
const ROWS: usize = 1000;
const STORES: [&str; 2] = ["BJ-01", "SH-01"];
/// The seeded tiers' thresholds, in cents.
const SILVER: i64 = 5_000 * 100;
const GOLD: i64 = 15_000 * 100;
/// Points a spender is granted before the stream: more than all their redemptions together.
const GRANT: i64 = 5_000;
/// Points a debtor earns and spends before the stream (which then refunds the earning order).
const SPENT_BEFORE: i64 = 800;

fn t0() -> DateTime<Utc> {
    at("2026-06-15T12:00:00+08:00")
}

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn tier_of(spend_cents: i64) -> &'static str {
    match spend_cents {
        s if s >= GOLD => "gold",
        s if s >= SILVER => "silver",
        _ => "normal",
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Role {
    /// Below 5,000 in all: normal throughout, `crm` and `external` prices.
    Steady,
    /// Gold before the stream starts: gold throughout.
    Gold,
    /// Redeems points from a grant on `crm`-priced sales.
    Spender,
    /// Spent an order's points before the stream, which refunds that order: debt, paid by earnings.
    Debtor,
    /// Crosses into the tier of this threshold within the stream: `external` prices only.
    Climber(i64),
}

struct Member {
    phone: String,
    role: Role,
}

#[derive(Clone)]
struct Sale {
    channel: &'static str,
    store: Option<&'static str>,
    external_id: String,
    phone: Option<String>,
    at: DateTime<Utc>,
    /// (sku, quantity, unit price in cents)
    lines: Vec<(String, i64, i64)>,
    /// `Some`: priced `external` at this paid amount.
    paid: Option<i64>,
    redeem: i64,
}

impl Sale {
    fn list(&self) -> i64 {
        self.lines.iter().map(|(_, q, p)| q * p).sum()
    }

    fn json(&self, stores: &HashMap<&str, Uuid>) -> Value {
        let lines: Vec<Value> = self
            .lines
            .iter()
            .map(|(sku, q, p)| json!({"sku": sku, "name": sku, "category": "女装", "quantity": q, "unit_price": money(*p)}))
            .collect();
        let mut body = json!({"external_id": self.external_id, "channel": self.channel, "occurred_at": self.at,
                              "lines": lines});
        if let Some(store) = self.store {
            body["store_id"] = json!(stores[store]);
        }
        if let Some(phone) = &self.phone {
            body["customer_identity"] = json!({"kind": "phone", "value": phone});
        }
        if let Some(paid) = self.paid {
            body["pricing"] = json!("external");
            body["paid_amount"] = json!(money(paid));
        }
        if self.redeem > 0 {
            body["points_to_redeem"] = json!(self.redeem);
        }
        body
    }
}

#[derive(Clone)]
struct Refund {
    channel: &'static str,
    store: Option<&'static str>,
    order: String,
    external_id: String,
    at: DateTime<Utc>,
    amount: Option<i64>,
    /// (line_no, quantity)
    lines: Vec<(i64, i64)>,
}

impl Refund {
    fn of(sale: &Sale, n: usize, at: DateTime<Utc>) -> Refund {
        Refund {
            channel: sale.channel,
            store: sale.store,
            order: sale.external_id.clone(),
            external_id: format!("RF-{}-{n}", sale.external_id),
            at,
            amount: None,
            lines: Vec::new(),
        }
    }

    fn json(&self, stores: &HashMap<&str, Uuid>) -> Value {
        let mut order = json!({"channel": self.channel, "external_id": self.order});
        if let Some(store) = self.store {
            order["store_id"] = json!(stores[store]);
        }
        let mut body = json!({"order": order, "external_id": self.external_id});
        if let Some(amount) = self.amount {
            body["amount"] = json!(money(amount));
        }
        if !self.lines.is_empty() {
            body["lines"] =
                json!(self.lines.iter().map(|(n, q)| json!({"line_no": n, "quantity": q})).collect::<Vec<_>>());
        }
        body
    }
}

#[derive(Clone)]
enum Row {
    Sale(Sale),
    Refund(Refund),
}

impl Row {
    fn at(&self) -> DateTime<Utc> {
        match self {
            Row::Sale(s) => s.at,
            Row::Refund(r) => r.at,
        }
    }

    fn store(&self) -> Option<&'static str> {
        match self {
            Row::Sale(s) => s.store,
            Row::Refund(r) => r.store,
        }
    }

    fn key(&self) -> String {
        match self {
            Row::Sale(s) => format!("order {}/{}/{}", s.channel, s.store.unwrap_or("-"), s.external_id),
            Row::Refund(r) => format!("refund {}/{}/{}/{}", r.channel, r.store.unwrap_or("-"), r.order, r.external_id),
        }
    }
}

/// Builds the stream, in the order things happened.
struct Stream {
    rng: StdRng,
    rows: Vec<Row>,
    receipts: HashMap<&'static str, u32>,
    tmall: u32,
}

impl Stream {
    fn when(&mut self) -> DateTime<Utc> {
        t0() - Duration::minutes(self.rng.gen_range(4 * 24 * 60..30 * 24 * 60))
    }

    fn sale(&mut self, phone: Option<&str>, pos: bool, lines: Vec<(String, i64, i64)>) -> Sale {
        let (channel, store, external_id) = if pos {
            let store = STORES[self.rng.gen_range(0..STORES.len())];
            let n = self.receipts.entry(store).or_insert(0);
            *n += 1;
            // Receipt numbers repeat across stores: the store is part of the natural key.
            ("pos", Some(store), format!("R-{n:05}"))
        } else {
            self.tmall += 1;
            ("tmall", None, format!("TM-{:07}", self.tmall))
        };
        let at = self.when();
        Sale { channel, store, external_id, phone: phone.map(str::to_string), at, lines, paid: None, redeem: 0 }
    }

    /// 1-`n` lines of 1-`q` units at `lo`-`hi` yuan.
    fn lines(&mut self, n: usize, q: i64, lo: i64, hi: i64) -> Vec<(String, i64, i64)> {
        let count = self.rng.gen_range(1..=n);
        (0..count)
            .map(|_| {
                let sku = format!("SKU-{:03}", self.rng.gen_range(0..200));
                (sku, self.rng.gen_range(1..=q), self.rng.gen_range(lo * 100..=hi * 100))
            })
            .collect()
    }

    /// The channel's own price: 90-100% of the list.
    fn external_price(&mut self, sale: &mut Sale) {
        sale.paid = Some(sale.list() * self.rng.gen_range(90..=100) / 100);
    }

    fn later(&mut self, sale: &Sale) -> DateTime<Utc> {
        sale.at + Duration::minutes(self.rng.gen_range(1..=72 * 60))
    }

    /// With probability `p`: one whole refund, one or two partial amounts (each ≤ 20% of the list,
    /// so together within what any order here paid), or one or two lines.
    fn maybe_refunds(&mut self, sale: &Sale, p: f64) {
        if !self.rng.gen_bool(p) {
            return;
        }
        let at = self.later(sale);
        match self.rng.gen_range(0..3) {
            0 => self.rows.push(Row::Refund(Refund::of(sale, 1, at))),
            2 if sale.lines.len() >= 2 => {
                for n in 1..=self.rng.gen_range(1..=2) {
                    let at = self.later(sale);
                    self.rows.push(Row::Refund(Refund { lines: vec![(n, 1)], ..Refund::of(sale, n as usize, at) }));
                }
            }
            _ => {
                for n in 1..=self.rng.gen_range(1..=2) {
                    let at = self.later(sale);
                    let amount = self.rng.gen_range(1..=(sale.list() / 5).max(1));
                    self.rows.push(Row::Refund(Refund { amount: Some(amount), ..Refund::of(sale, n, at) }));
                }
            }
        }
    }

    fn member(&mut self, m: &Member) {
        let phone = Some(m.phone.as_str());
        match m.role {
            Role::Steady | Role::Gold => {
                let (orders, hi) = if m.role == Role::Gold { (8, 500) } else { (10, 80) };
                for _ in 0..orders {
                    let pos = self.rng.gen_bool(0.6);
                    let lines = self.lines(3, 2, 5, hi);
                    let mut sale = self.sale(phone, pos, lines);
                    if !pos {
                        self.external_price(&mut sale);
                    }
                    self.rows.push(Row::Sale(sale.clone()));
                    self.maybe_refunds(&sale, 0.25);
                }
            }
            Role::Spender => {
                let mut budget = GRANT;
                for _ in 0..8 {
                    let lines = self.lines(3, 2, 30, 80);
                    let mut sale = self.sale(phone, true, lines);
                    // Whole units of 100 points, at most half the order (100 points = ¥10).
                    let units = (sale.list() / 2000).min(budget / 100);
                    if units > 0 && self.rng.gen_bool(0.6) {
                        sale.redeem = 100 * self.rng.gen_range(1..=units);
                        budget -= sale.redeem;
                    }
                    self.rows.push(Row::Sale(sale.clone()));
                    self.maybe_refunds(&sale, 0.25);
                }
            }
            Role::Debtor => {
                let spent = before_the_stream(m).remove(0);
                let at = self.when();
                self.rows.push(Row::Refund(Refund::of(&spent, 1, at)));
                for _ in 0..self.rng.gen_range(1..=5) {
                    let pos = self.rng.gen_bool(0.5);
                    let lines = self.lines(1, 1, 20, 300);
                    let mut sale = self.sale(phone, pos, lines);
                    if !pos {
                        self.external_price(&mut sale);
                    }
                    self.rows.push(Row::Sale(sale.clone()));
                    self.maybe_refunds(&sale, 0.25);
                }
            }
            Role::Climber(threshold) => {
                let (lo, hi, enough) =
                    if threshold == GOLD { (1500, 3000, 17_000 * 100) } else { (800, 1500, 6_500 * 100) };
                let (mut gross, mut refunded) = (0, 0);
                while gross < enough {
                    let pos = self.rng.gen_bool(0.5);
                    let lines = self.lines(1, 1, lo, hi);
                    let mut sale = self.sale(phone, pos, lines);
                    self.external_price(&mut sale);
                    let paid = sale.paid.unwrap_or(0);
                    gross += paid;
                    self.rows.push(Row::Sale(sale.clone()));
                    // Refunds only while the net stays in the tier the gross reaches.
                    let amount = self.rng.gen_range(1..=paid / 4);
                    if self.rng.gen_bool(0.35) && gross - refunded - amount >= threshold + 100 * 100 {
                        refunded += amount;
                        let at = self.later(&sale);
                        self.rows.push(Row::Refund(Refund { amount: Some(amount), ..Refund::of(&sale, 1, at) }));
                    }
                }
                assert_eq!((tier_of(gross), tier_of(gross - refunded)), (tier_of(threshold), tier_of(threshold)));
            }
        }
    }

    /// Guests' sales fill the stream up to exactly `ROWS` rows.
    fn guests(&mut self) {
        while self.rows.len() < ROWS {
            let lines = self.lines(2, 2, 10, 200);
            let sale = self.sale(None, true, lines);
            self.rows.push(Row::Sale(sale.clone()));
            if self.rows.len() < ROWS - 2 {
                self.maybe_refunds(&sale, 0.2);
            }
        }
    }
}

fn members() -> Vec<Member> {
    let roles = std::iter::repeat_n(Role::Steady, 50)
        .chain(std::iter::repeat_n(Role::Gold, 6))
        .chain(std::iter::repeat_n(Role::Spender, 8))
        .chain(std::iter::repeat_n(Role::Debtor, 6))
        .chain(std::iter::repeat_n(Role::Climber(SILVER), 6))
        .chain(std::iter::repeat_n(Role::Climber(GOLD), 4));
    roles.enumerate().map(|(i, role)| Member { phone: format!("1390000{i:04}"), role }).collect()
}

/// The stream in the order things happened (a refund after its sale).
fn stream(members: &[Member]) -> Vec<Row> {
    let mut s = Stream { rng: StdRng::seed_from_u64(SEED), rows: Vec::new(), receipts: HashMap::new(), tmall: 0 };
    for m in members {
        s.member(m);
    }
    s.guests();
    assert_eq!(s.rows.len(), ROWS);
    let mut rows = s.rows;
    rows.sort_by_key(Row::at);
    rows
}

/// What a member's history holds before the stream starts: gold's 15,000; a debtor's earning
/// (refunded in the stream) and the sale that spent its points.
fn before_the_stream(m: &Member) -> Vec<Sale> {
    let n = &m.phone[m.phone.len() - 4..];
    let sale = |id: String, list: i64, paid: i64, redeem: i64| Sale {
        channel: "tmall",
        store: None,
        external_id: id,
        phone: Some(m.phone.clone()),
        at: t0() - Duration::days(40),
        lines: vec![("PRE".to_string(), 1, list)],
        paid: Some(paid),
        redeem,
    };
    match m.role {
        Role::Gold => vec![sale(format!("PRE-G-{n}"), GOLD, GOLD, 0)],
        Role::Debtor => {
            let earned = SPENT_BEFORE * 100;
            vec![sale(format!("PRE-P-{n}"), earned, earned, 0), sale(format!("PRE-Q-{n}"), 200 * 100, 0, SPENT_BEFORE)]
        }
        _ => Vec::new(),
    }
}

/// One instance's stores, members and the tokens that post: a chain-wide connector, and each
/// store's own bound till.
struct Fixture {
    stores: HashMap<&'static str, Uuid>,
    chain: String,
    tills: HashMap<&'static str, String>,
}

async fn fixture(app: &TestApp, members: &[Member]) -> Fixture {
    app.state.clock.set(t0());
    let admin = app.admin_token();
    let mut stores = HashMap::new();
    for code in STORES {
        stores.insert(code, app.store_id(code).await);
    }
    let tills = STORES.iter().map(|code| (*code, app.store_token(TILL, Some(stores[code])))).collect();
    let fx = Fixture { stores, chain: app.token(TILL), tills };
    for m in members {
        let res = app.post("/v1/customers").token(&admin).json(&json!({"name": "会员", "phone": m.phone})).send().await;
        res.assert_status(201);
        let id = res.uuid("id");
        let enrol = json!({"channel": "pos"});
        app.post(&format!("/v1/customers/{id}/membership")).token(&admin).json(&enrol).send().await.assert_status(201);
        if m.role == Role::Spender {
            let grant = json!({"points": GRANT, "reason": "开卡礼"});
            let res =
                app.post(&format!("/v1/customers/{id}/points/adjustments")).token(&admin).json(&grant).send().await;
            res.assert_status(201);
        }
        for sale in before_the_stream(m) {
            post(app, &sale.json(&fx.stores)).await.assert_status(201);
        }
    }
    fx
}

/// A row as one instance posts it.
struct Sent {
    key: String,
    refund: bool,
    store: Option<&'static str>,
    body: Value,
}

fn render(rows: &[Row], fx: &Fixture) -> Vec<Sent> {
    rows.iter()
        .map(|row| Sent {
            key: row.key(),
            refund: matches!(row, Row::Refund(_)),
            store: row.store(),
            body: match row {
                Row::Sale(s) => s.json(&fx.stores),
                Row::Refund(r) => r.json(&fx.stores),
            },
        })
        .collect()
}

/// Every answer in the order it came: (row key, status, problem code or "").
type Log = Vec<(String, u64, String)>;

/// Alone: a store's row by that store's own till, an online row by the connector.
async fn single(app: &TestApp, fx: &Fixture, row: &Sent) -> (u64, String) {
    let token = row.store.map_or(&fx.chain, |store| &fx.tills[store]);
    let path = if row.refund { "/v1/refunds" } else { "/v1/orders" };
    let res = app.post(path).token(token).json(&row.body).send().await;
    (u64::from(res.status), res.code().to_string())
}

/// In one bulk call by the connector; refunds that overtook their orders go back to `waiting`.
async fn bulk(app: &TestApp, fx: &Fixture, batch: Vec<Sent>, log: &mut Log, waiting: &mut Vec<Sent>) {
    let Some(first) = batch.first() else { return };
    let (path, field) = if first.refund { ("/v1/refunds/bulk", "refunds") } else { ("/v1/orders/bulk", "orders") };
    let bodies: Vec<&Value> = batch.iter().map(|s| &s.body).collect();
    let res = app.post(path).token(&fx.chain).json(&json!({ field: bodies })).send().await;
    let answers = rows(&res);
    assert_eq!(answers.len(), batch.len());
    for (row, (status, code)) in batch.into_iter().zip(outcomes(&answers)) {
        log.push((row.key.clone(), status, code.clone()));
        if code == "order_not_posted" {
            waiting.push(row);
        }
    }
}

/// Posts rows in the given order: every fifth alone, the others in bulk calls of the sizes given
/// in turn; a refund that overtook its order is sent again with the next refunds call, and at the
/// end until accepted.
async fn post_mixed(app: &TestApp, fx: &Fixture, rows: Vec<Sent>, sizes: &[usize]) -> Log {
    let (mut log, mut waiting) = (Vec::new(), Vec::new());
    let (mut orders, mut refunds) = (Vec::new(), Vec::new());
    let mut size = sizes.iter().copied().cycle();
    let mut next = size.next().unwrap_or(100);
    for (i, row) in rows.into_iter().enumerate() {
        if i % 5 == 0 {
            let (status, code) = single(app, fx, &row).await;
            log.push((row.key.clone(), status, code.clone()));
            if code == "order_not_posted" {
                waiting.push(row);
            }
            continue;
        }
        let buffer = if row.refund { &mut refunds } else { &mut orders };
        buffer.push(row);
        if buffer.len() < next {
            continue;
        }
        let mut batch = std::mem::take(buffer);
        if batch[0].refund {
            batch.splice(0..0, waiting.drain(..));
        }
        bulk(app, fx, batch, &mut log, &mut waiting).await;
        next = size.next().unwrap_or(100);
    }
    bulk(app, fx, orders, &mut log, &mut waiting).await;
    refunds.splice(0..0, waiting.drain(..));
    bulk(app, fx, refunds, &mut log, &mut waiting).await;
    for _ in 0..3 {
        let again = std::mem::take(&mut waiting);
        bulk(app, fx, again, &mut log, &mut waiting).await;
    }
    assert!(waiting.is_empty(), "refunds never accepted: {:?}", waiting.iter().map(|w| &w.key).collect::<Vec<_>>());
    log
}

/// The state arrival order cannot change (see the module's comment), as one JSON value.
fn state(app: &TestApp) -> Value {
    #[derive(QueryableByName)]
    struct State {
        #[diesel(sql_type = diesel::sql_types::Jsonb)]
        state: Value,
    }
    let row: State = diesel::sql_query(include_str!("stream_state.sql"))
        .bind::<diesel::sql_types::Timestamptz, _>(app.now())
        .get_result(&mut app.conn())
        .unwrap_or_else(|e| panic!("state: {e}"));
    row.state
}

/// The state without what arrival order may change for members who redeem or owe (see the module's
/// comment): their live points by expiry date become the live total.
fn comparable(mut state: Value, members: &[Member]) -> Value {
    for m in members.iter().filter(|m| matches!(m.role, Role::Spender | Role::Debtor)) {
        let lots = &mut state["accounts"][format!("+86{}", m.phone)]["lots_by_expiry"];
        let total: i64 = lots.as_object().map_or(0, |by_date| by_date.values().filter_map(Value::as_i64).sum());
        *lots = json!(total);
    }
    state
}

/// Where two states first differ, by path.
fn difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                difference(x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null), &format!("{at}/{k}"))
            })
        }
        _ if a == b => None,
        _ => Some(format!("{at}: in order {a}, shuffled {b}")),
    }
}

/// The reference: a fresh instance fed the stream once, in order, one call per row.
async fn post_in_order(app: &TestApp, members: &[Member], in_order: &[Row]) {
    let fx = fixture(app, members).await;
    for row in render(in_order, &fx) {
        let (status, code) = single(app, &fx, &row).await;
        assert_eq!(status, 201, "{} in order: {code}", row.key);
    }
}

/// The connector's way: shuffled, bulk and singly mixed, late refunds retried; then all again,
/// shuffled anew. Returns both passes' answers.
async fn post_shuffled_twice(app: &TestApp, members: &[Member], in_order: &[Row]) -> (Log, Log) {
    let fx = fixture(app, members).await;
    let mut rng = StdRng::seed_from_u64(SEED + 1);
    let mut shuffled = in_order.to_vec();
    shuffled.shuffle(&mut rng);
    let first = post_mixed(app, &fx, render(&shuffled, &fx), &[137, 250, 61, 500]).await;
    shuffled.shuffle(&mut rng);
    let second = post_mixed(app, &fx, render(&shuffled, &fx), &[500, 33, 260]).await;
    (first, second)
}

#[actix_web::test]
async fn a_shuffled_stream_posted_twice_in_bulk_and_singly_ends_as_the_stream_posted_once_in_order() {
    let members = members();
    let in_order = stream(&members);
    let (reference, app) = (TestApp::new().await, TestApp::new().await);
    // Two instances on two databases: fed at once, as they share nothing.
    let ((), (first, second)) =
        futures::join!(post_in_order(&reference, &members, &in_order), post_shuffled_twice(&app, &members, &in_order));

    // First pass: every sale posted once; every refund accepted once, after being told its order
    // had not arrived as often as it overtook it; nothing else.
    let mut seen: HashMap<&str, Vec<(u64, &str)>> = HashMap::new();
    for (key, status, code) in &first {
        seen.entry(key.as_str()).or_default().push((*status, code.as_str()));
    }
    assert_eq!(seen.len(), ROWS);
    let mut overtaken = 0;
    for (key, answers) in &seen {
        let (last, before) = answers.split_last().unwrap_or_else(|| panic!("{key}: no answer"));
        assert_eq!(*last, (201, ""), "{key}: {answers:?}");
        assert!(before.iter().all(|a| *a == (409, "order_not_posted")), "{key}: {answers:?}");
        overtaken += before.len();
    }
    assert!(overtaken > 20, "the shuffle must make refunds overtake their orders ({overtaken})");
    // Second pass: every row already stored, nothing posted twice.
    assert_eq!(second.len(), ROWS);
    assert!(second.iter().all(|(_, status, _)| *status == 200), "{:?}", second.iter().find(|a| a.1 != 200));

    let (expected, actual) = (comparable(state(&reference), &members), comparable(state(&app), &members));
    assert_eq!(difference(&expected, &actual, ""), None);
    let before: usize = members.iter().map(|m| before_the_stream(m).len()).sum();
    assert_eq!(expected["orders"].as_object().map(|o| o.len()), Some(ROWS - refund_rows(&in_order) + before));
    // The stream does exercise what it claims to.
    let accounts = expected["accounts"].as_object().cloned().unwrap_or_default();
    assert!(accounts.values().filter(|a| a["debt"].as_i64() > Some(0)).count() >= 2, "debtors end in debt");
    let split = |a: &Value| a["lots_by_expiry"].as_object().map_or(0, |by_date| by_date.len());
    assert!(accounts.values().filter(|a| split(a) >= 3).count() >= 20, "points expire by their sale's date");
    let tiers: Vec<&Value> = expected["tiers"].as_object().map(|t| t.values().collect()).unwrap_or_default();
    assert_eq!(tiers.iter().filter(|t| **t == "silver").count(), 6);
    assert_eq!(tiers.iter().filter(|t| **t == "gold").count(), 10);
    let orders: Vec<Value> = expected["orders"].as_object().map(|o| o.values().cloned().collect()).unwrap_or_default();
    assert!(orders.iter().filter(|o| o["points_redeemed"].as_i64() > Some(0)).count() >= 10);
    assert!(orders.iter().filter(|o| o["tier_discount"] != "0.00").count() >= 10, "gold's crm prices");
    for app in [&reference, &app] {
        let audit = app.get("/v1/loyalty/audit").token(&app.admin_token()).send().await;
        assert_eq!(
            (audit.body["accounts_checked"].clone(), audit.body["violations"].clone()),
            (json!(members.len()), json!([]))
        );
    }
}

fn refund_rows(rows: &[Row]) -> usize {
    rows.iter().filter(|r| matches!(r, Row::Refund(_))).count()
}
