//! Builders for what tests set up again and again (as crates.io's `CrateBuilder`): a customer, a
//! member, a coupon template and a sale. Each starts from a plain default and a test says only
//! what matters to it: `app.member().phone("13900000001").tier("gold").points(3200).create().await`.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use retail_crm::loyalty::ledger::{self, Posting};
use retail_crm::memberships::store::{enrol, Enrolment};

use crate::support::{TestApp, TestResponse};

/// Writes `fields` over `body`; a null field removes that member.
fn merge(body: &mut Value, fields: Value) {
    let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) else {
        panic!("builders merge JSON objects")
    };
    for (key, value) in fields {
        if value.is_null() {
            body.remove(&key);
        } else {
            body.insert(key, value);
        }
    }
}

impl TestApp {
    /// A customer, created through `POST /v1/customers`.
    pub fn customer(&self) -> CustomerBuilder<'_> {
        CustomerBuilder { app: self, body: json!({"name": "王小明"}) }
    }

    /// A customer enrolled in the program, with a tier and points when asked.
    pub fn member(&self) -> MemberBuilder<'_> {
        MemberBuilder { customer: self.customer(), tier: None, points: 0 }
    }

    /// 满300减50: an active amount-off template, valid 30 days after issue.
    pub fn coupon_template(&self) -> TemplateBuilder<'_> {
        let body = json!({"name": "满300减50", "kind": "amount_off", "threshold": "300.00", "discount": "50.00",
                          "valid_days_after_issue": 30, "status": "active"});
        TemplateBuilder { app: self, body }
    }

    /// A till's sale through `POST /v1/orders`: channel `pos`, a fresh external id, no lines yet.
    pub fn sale(&self) -> SaleBuilder<'_> {
        let body = json!({"external_id": format!("S-{}", Uuid::now_v7()), "channel": "pos", "lines": []});
        SaleBuilder { app: self, body, token: None }
    }
}

pub struct CustomerBuilder<'a> {
    app: &'a TestApp,
    body: Value,
}

impl CustomerBuilder<'_> {
    pub fn name(self, name: &str) -> Self {
        self.with(json!({"name": name}))
    }

    pub fn phone(self, phone: &str) -> Self {
        self.with(json!({"phone": phone}))
    }

    /// Any fields of the create body (a null removes one).
    pub fn with(mut self, fields: Value) -> Self {
        merge(&mut self.body, fields);
        self
    }

    pub async fn post(self) -> TestResponse {
        let token = self.app.token(&["customers:write"]);
        self.app.post("/v1/customers").token(&token).json(&self.body).send().await
    }

    pub async fn create(self) -> Uuid {
        let res = self.post().await;
        res.assert_status(201);
        res.uuid("id")
    }
}

pub struct MemberBuilder<'a> {
    customer: CustomerBuilder<'a>,
    tier: Option<String>,
    points: i64,
}

impl MemberBuilder<'_> {
    pub fn name(mut self, name: &str) -> Self {
        self.customer = self.customer.name(name);
        self
    }

    pub fn phone(mut self, phone: &str) -> Self {
        self.customer = self.customer.phone(phone);
        self
    }

    pub fn tier(mut self, code: &str) -> Self {
        self.tier = Some(code.to_string());
        self
    }

    /// Points granted by an adjustment, available now and for a year.
    pub fn points(mut self, points: i64) -> Self {
        self.points = points;
        self
    }

    pub async fn create(self) -> Uuid {
        use retail_crm::schema::memberships as m;
        let app = self.customer.app;
        let id = self.customer.create().await;
        let now = app.now();
        let mut conn = app.conn();
        conn.transaction(|conn| {
            enrol(conn, id, &Enrolment { channel: None, store_id: None }, "test", now, 365)?;
            if let Some(tier) = &self.tier {
                diesel::update(m::table.find(id)).set(m::tier_code.eq(tier)).execute(conn)?;
            }
            if self.points > 0 {
                let mut account = ledger::lock_account(conn, id)?;
                let posting =
                    Posting::new(retail_crm::loyalty::rules::EntryKind::Adjust, "test", now).reason("test grant");
                ledger::credit(conn, &mut account, self.points, &posting, now, now + Duration::days(365))?;
            }
            Ok::<_, retail_crm::error::ApiError>(())
        })
        .unwrap_or_else(|e| panic!("member {id}: {e}"));
        id
    }
}

pub struct TemplateBuilder<'a> {
    app: &'a TestApp,
    body: Value,
}

impl TemplateBuilder<'_> {
    pub fn name(self, name: &str) -> Self {
        self.with(json!({"name": name}))
    }

    /// Any fields of the create body over the default (a null removes one).
    pub fn with(mut self, fields: Value) -> Self {
        merge(&mut self.body, fields);
        self
    }

    /// The body as built, for a test that sends it itself.
    pub fn body(&self) -> Value {
        self.body.clone()
    }

    pub async fn post(self) -> TestResponse {
        let token = self.app.token(&["coupons:read", "coupons:write"]);
        self.app.post("/v1/coupon-templates").token(&token).json(&self.body).send().await
    }

    pub async fn create(self) -> Uuid {
        let res = self.post().await;
        res.assert_status(201);
        res.uuid("id")
    }
}

pub struct SaleBuilder<'a> {
    app: &'a TestApp,
    body: Value,
    token: Option<String>,
}

impl SaleBuilder<'_> {
    pub fn customer(self, id: Uuid) -> Self {
        self.with(json!({"customer_id": id}))
    }

    pub fn store(self, id: Uuid) -> Self {
        self.with(json!({"store_id": id}))
    }

    pub fn channel(self, channel: &str) -> Self {
        self.with(json!({"channel": channel}))
    }

    pub fn external_id(self, external_id: &str) -> Self {
        self.with(json!({"external_id": external_id}))
    }

    pub fn at(self, occurred_at: DateTime<Utc>) -> Self {
        self.with(json!({"occurred_at": occurred_at}))
    }

    pub fn coupons(self, codes: &[&str]) -> Self {
        self.with(json!({"coupon_codes": codes}))
    }

    /// One of `category` at `unit_price`, SKU `SKU-<category>`.
    pub fn item(self, category: &str, unit_price: &str) -> Self {
        self.line(json!({"sku": format!("SKU-{category}"), "name": category, "category": category,
                         "quantity": 1, "unit_price": unit_price}))
    }

    pub fn line(mut self, line: Value) -> Self {
        if let Some(lines) = self.body["lines"].as_array_mut() {
            lines.push(line);
        }
        self
    }

    /// Any fields of the order body (a null removes one).
    pub fn with(mut self, fields: Value) -> Self {
        merge(&mut self.body, fields);
        self
    }

    /// Posts with this token instead of a till's (`orders:write`, `orders:read`, `customers:read`).
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    pub async fn post(self) -> TestResponse {
        let till = || self.app.token(&["orders:write", "orders:read", "customers:read"]);
        let token = self.token.clone().unwrap_or_else(till);
        self.app.post("/v1/orders").token(&token).json(&self.body).send().await
    }

    pub async fn create(self) -> Uuid {
        let res = self.post().await;
        res.assert_status(201);
        res.uuid("id")
    }
}
