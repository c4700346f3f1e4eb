//! `retail-crm import orders FILE.csv`: historical orders, one row per order line (rows of one
//! order are adjacent and repeat its `external_id`, `channel` and `store`), stored under their
//! natural key `(channel, store, external_id)` as the channel priced them (`pricing: external`).
//!
//! Without `--earn-points` an order earns and redeems nothing and is written set-based
//! (`orders::bulk_store`). With it, each order is posted as a sale at the till is
//! (`sales::sale::post`): points by the ledger's rules, qualifying spend and tier upgrades, so the
//! loyalty audit stays clean. Either way a re-import of the same order changes nothing and another
//! order under a number already used is rejected (`order_conflict`), as `POST /v1/orders` answers.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::source::Record;
use super::{cell, values, BatchResult, Header, Importer, Outcome, StoreDirectory};
use crate::customers::bulk_store::owners;
use crate::customers::service::CustomerRef;
use crate::error::{ApiError, ApiResult, Violations};
use crate::ids::{CustomerId, OrderId, StoreId};
use crate::loyalty::program::CatalogueCache;
use crate::orders::bulk_store::{self, HistoricalOrder};
use crate::orders::rules::PricedLine;
use crate::orders::store::Line;
use crate::sales::api::{validate_lines, LineInput};
use crate::sales::sale::{self, NewOrder};
use crate::stores::SalesChannel;

/// An order's natural key: channel, store, the channel's own number.
type NaturalKey = (SalesChannel, Option<Uuid>, String);

/// For `--help` and the error naming an unknown column.
pub const COLUMNS: &str = "external_id, channel, store, occurred_at, phone, email, member_card, wechat_openid, \
     wechat_unionid, tmall_ouid, jd_pin, external:<system>, sku, product_name, category, quantity, unit_price, \
     amount, total_amount, paid_amount";

/// A sale may carry a till's clock this far ahead of ours (as `POST /v1/orders` allows).
const CLOCK_SKEW_MINUTES: i64 = 10;

struct Columns {
    external_id: usize,
    channel: usize,
    store: Option<usize>,
    occurred_at: usize,
    identities: Vec<(String, usize)>,
    sku: Option<usize>,
    product_name: Option<usize>,
    category: Option<usize>,
    quantity: Option<usize>,
    unit_price: Option<usize>,
    amount: Option<usize>,
    total_amount: Option<usize>,
    paid_amount: Option<usize>,
}

impl Columns {
    fn find(names: &[String]) -> Result<Columns, String> {
        let mut h = Header::new(names);
        let columns = Columns {
            external_id: h.require("external_id")?,
            channel: h.require("channel")?,
            store: h.find("store"),
            occurred_at: h.require("occurred_at")?,
            identities: h.identities()?,
            sku: h.find("sku"),
            product_name: h.find("product_name"),
            category: h.find("category"),
            quantity: h.find("quantity"),
            unit_price: h.find("unit_price"),
            amount: h.find("amount"),
            total_amount: h.find("total_amount"),
            paid_amount: h.find("paid_amount"),
        };
        if columns.sku.is_some() && (columns.quantity.is_none() || columns.unit_price.is_none()) {
            return Err("order lines (the 'sku' column) need 'quantity' and 'unit_price' columns".into());
        }
        if columns.sku.is_none() && columns.paid_amount.is_none() && columns.total_amount.is_none() {
            return Err("orders without lines (no 'sku' column) need a 'paid_amount' or 'total_amount' column".into());
        }
        h.finish(COLUMNS)?;
        Ok(columns)
    }

    /// The cells that make an order's rows one order.
    fn key<'r>(&self, r: &'r Record) -> [Option<&'r str>; 3] {
        [r.cell(Some(self.channel)), r.cell(self.store), r.cell(Some(self.external_id))]
    }

    /// Cells every row of an order repeats (or leaves blank).
    fn order_level(&self) -> Vec<(&'static str, usize)> {
        let mut out = vec![("occurred_at", self.occurred_at)];
        out.extend(self.total_amount.map(|i| ("total_amount", i)));
        out.extend(self.paid_amount.map(|i| ("paid_amount", i)));
        out
    }
}

pub struct OrdersImport {
    columns: Columns,
    stores: StoreDirectory,
    tz: Tz,
    earn_points: bool,
    actor: String,
    catalogue: CatalogueCache,
}

/// An order read from its rows, before its customer is known.
struct Parsed {
    new: NewOrder,
    identities: Vec<(String, String)>,
    /// The order's amount before any discount (its lines', or the file's for an order without lines).
    total: Decimal,
}

/// An order's rows: `start..end` of the batch.
struct Group {
    start: usize,
    end: usize,
}

impl OrdersImport {
    pub fn new(
        conn: &mut PgConnection, names: &[String], tz: Tz, earn_points: bool, actor: &str,
    ) -> Result<OrdersImport, String> {
        let columns = Columns::find(names)?;
        let stores = StoreDirectory::load(conn).map_err(|e| e.to_string())?;
        Ok(OrdersImport { columns, stores, tz, earn_points, actor: actor.to_string(), catalogue: Default::default() })
    }

    /// Reads one order from its rows; a reject names the line at fault.
    fn parse(&self, rows: &[Record], now: DateTime<Utc>) -> Result<Parsed, Outcome> {
        let c = &self.columns;
        for r in rows {
            if let Err(why) = &r.cells {
                return Err(Outcome::rejected("unreadable_row", format!("line {}: {why}", r.line)));
            }
        }
        let first = &rows[0];
        for r in &rows[1..] {
            for (name, i) in c.order_level() {
                if let (Some(a), Some(b)) = (first.cell(Some(i)), r.cell(Some(i))) {
                    if a != b {
                        return Err(Outcome::rejected(
                            "validation_failed",
                            format!(
                                "line {} says {name} '{b}' where line {} of the same order says '{a}'",
                                r.line, first.line
                            ),
                        ));
                    }
                }
            }
        }
        let mut errors = Vec::new();
        let mut v = Violations::new();
        let external_id = first.cell(Some(c.external_id)).unwrap_or_default().to_string();
        v.text("external_id", &external_id, 128);
        let channel = first.cell(Some(c.channel)).unwrap_or_default().to_lowercase();
        let known_channel = v.known::<SalesChannel>("channel", &channel, crate::stores::UNKNOWN_CHANNEL);
        let store_id = cell(first, c.store, "store", &mut errors, |s| self.stores.resolve(s));
        let occurred_at = cell(first, Some(c.occurred_at), "occurred_at", &mut errors, |s| values::instant(s, self.tz));
        if occurred_at.is_none() && first.cell(Some(c.occurred_at)).is_none() {
            errors.push("occurred_at: is required".into());
        }
        if occurred_at.is_some_and(|t| t > now + chrono::Duration::minutes(CLOCK_SKEW_MINUTES)) {
            errors.push("occurred_at: must not be in the future".into());
        }
        let find =
            |name: &'static str, i: Option<usize>| rows.iter().find_map(|r| r.cell(i)).map(|s| (name, s.to_string()));
        let total_cell = find("total_amount", c.total_amount);
        let paid_cell = find("paid_amount", c.paid_amount);
        let total_given = total_cell.and_then(|(n, s)| cell_value(n, &s, &mut errors, values::money));
        let paid_given = paid_cell.and_then(|(n, s)| cell_value(n, &s, &mut errors, values::money));
        let mut identities = Vec::new();
        for (kind, i) in &c.identities {
            if let Some(value) = first.cell(Some(*i)) {
                match crate::customers::rules::normalize_identity(kind, value) {
                    Ok(pair) => identities.push(pair),
                    Err(message) => errors.push(format!("{kind}: {message}")),
                }
            }
        }
        let mut inputs = Vec::new();
        let mut line_of = Vec::new();
        for r in rows.iter().filter(|r| r.cell(c.sku).is_some()) {
            let mut line_errors = Vec::new();
            let quantity = cell(r, c.quantity, "quantity", &mut line_errors, values::quantity);
            let unit_price = cell(r, c.unit_price, "unit_price", &mut line_errors, values::money);
            let amount = cell(r, c.amount, "amount", &mut line_errors, values::money);
            if quantity.is_none() && r.cell(c.quantity).is_none() {
                line_errors.push("quantity: is required".into());
            }
            if unit_price.is_none() && r.cell(c.unit_price).is_none() {
                line_errors.push("unit_price: is required".into());
            }
            errors.extend(line_errors.iter().map(|e| format!("line {}: {e}", r.line)));
            let text = |i: Option<usize>| r.cell(i).map(str::to_string);
            inputs.push(LineInput::new(
                text(c.sku).unwrap_or_default(),
                text(c.product_name),
                text(c.category),
                quantity.unwrap_or(1),
                unit_price.unwrap_or_default(),
                amount,
            ));
            line_of.push(r.line);
        }
        let has_lines = !inputs.is_empty();
        let lines = if has_lines { validate_lines(inputs, true, &mut v) } else { Vec::new() };
        let sum: Decimal = lines.iter().map(|l| l.basket.amount).sum();
        let total = if has_lines { sum } else { total_given.or(paid_given).unwrap_or_default() };
        if has_lines && total_given.is_some_and(|t| t != sum) {
            v.add("total_amount", "must equal the sum of the line amounts");
        }
        if !has_lines && total_given.is_none() && paid_given.is_none() {
            v.add("paid_amount", "an order without lines needs its paid_amount or total_amount");
        }
        let paid = paid_given.unwrap_or(total);
        if let Some(problem) = crate::orders::rules::external_paid_error(total, paid) {
            v.add("paid_amount", problem);
        }
        if self.earn_points && !has_lines {
            v.add("sku", "an order that earns points needs its lines (sku, quantity, unit_price)");
        }
        if let Err(ApiError::Validation(fields)) = v.into_result() {
            errors.extend(fields.into_iter().map(|f| format!("{}: {}", line_field(&f.field, &line_of), f.message)));
        }
        if !errors.is_empty() {
            return Err(Outcome::rejected("validation_failed", errors.join("; ")));
        }
        let Some(channel) = known_channel else {
            return Err(Outcome::rejected("validation_failed", "channel: is not a known channel"));
        };
        let new = NewOrder {
            external_id,
            channel,
            store_id: store_id.map(StoreId),
            customer: CustomerRef::Guest,
            occurred_at: occurred_at.unwrap_or(now),
            lines,
            points_to_redeem: Some(0),
            coupon_codes: Some(Vec::new()),
            reservation_id: None,
            paid_amount: Some(paid),
            external_pricing: true,
        };
        Ok(Parsed { new, identities, total })
    }

    /// The batch's orders by their rows.
    fn groups(&self, records: &[Record]) -> Vec<Group> {
        let mut groups: Vec<Group> = Vec::new();
        for (i, r) in records.iter().enumerate() {
            match groups.last_mut() {
                Some(g) if !self.starts_unit(&records[g.start], r) => g.end = i + 1,
                _ => groups.push(Group { start: i, end: i + 1 }),
            }
        }
        groups
    }

    /// Each order's live customer: the one its identities name (none: a guest).
    fn customers(&self, conn: &mut PgConnection, orders: &[&Parsed]) -> ApiResult<Vec<Result<Option<Uuid>, Outcome>>> {
        let mut all: Vec<(String, String)> = orders.iter().flat_map(|o| o.identities.iter().cloned()).collect();
        all.sort();
        all.dedup();
        let owners = owners(conn, &all)?;
        Ok(orders
            .iter()
            .map(|o| {
                let mut found: Vec<Uuid> = o.identities.iter().filter_map(|i| owners.get(i).copied()).collect();
                found.sort();
                found.dedup();
                match (o.identities.is_empty(), found.as_slice()) {
                    (true, _) => Ok(None),
                    (false, [one]) => Ok(Some(*one)),
                    (false, []) => Err(Outcome::rejected(
                        "customer_not_found",
                        "no customer has these identities: import the customers first, or leave them blank for a guest order",
                    )),
                    (false, _) => Err(Outcome::rejected(
                        "identity_conflict",
                        "the order's identities belong to different customers",
                    )),
                }
            })
            .collect())
    }

    /// Stores the orders set-based; the ones whose key was taken are compared with what is stored.
    fn store_history(
        &self, conn: &mut PgConnection, orders: Vec<(usize, Parsed, Option<Uuid>)>,
    ) -> ApiResult<Vec<(usize, Outcome)>> {
        let history: Vec<HistoricalOrder> = orders.iter().map(|(_, p, customer)| historical(p, *customer)).collect();
        let inserted = bulk_store::insert_new(conn, &history)?;
        let taken: Vec<(&str, Option<Uuid>, &str)> = history
            .iter()
            .filter(|h| !inserted.contains(&h.id))
            .map(|h| (h.channel.as_str(), h.store_id, h.external_id.as_str()))
            .collect();
        let stored: HashMap<NaturalKey, (crate::orders::store::Order, Vec<Line>)> =
            bulk_store::by_natural_keys(conn, &taken)?
                .into_iter()
                .map(|(o, lines)| ((o.channel, o.store_id.map(Into::into), o.external_id.clone()), (o, lines)))
                .collect();
        let mut out = Vec::with_capacity(orders.len());
        for ((group, parsed, customer), h) in orders.into_iter().zip(&history) {
            if inserted.contains(&h.id) {
                out.push((group, Outcome::Created));
                continue;
            }
            let outcome = match stored.get(&(h.channel, h.store_id, h.external_id.clone())) {
                Some((order, lines)) => match sale::same_sale(order, lines, &parsed.new, customer.map(CustomerId)) {
                    Ok(()) => Outcome::Unchanged,
                    Err(e) => Outcome::from_error(&e),
                },
                // Taken by a transaction that has not committed yet: plan again.
                None => return Err(ApiError::Unavailable { retry_after_seconds: 0 }),
            };
            out.push((group, outcome));
        }
        Ok(out)
    }

    /// Posts each order as a sale (points, spend, tier), each in its own savepoint.
    fn post_sales(
        &self, conn: &mut PgConnection, orders: Vec<(usize, Parsed, Option<Uuid>)>, now: DateTime<Utc>,
    ) -> ApiResult<Vec<(usize, Outcome)>> {
        let mut out = Vec::with_capacity(orders.len());
        for (group, mut parsed, customer) in orders {
            parsed.new.customer = customer.map_or(CustomerRef::Guest, CustomerRef::Id);
            let posted =
                conn.transaction(|conn| sale::post(conn, &self.catalogue, parsed.new, &self.actor, now, self.tz));
            out.push((
                group,
                match posted {
                    Ok(p) if p.created => Outcome::Created,
                    Ok(_) => Outcome::Unchanged,
                    Err(e @ (ApiError::Internal(_) | ApiError::Unavailable { .. })) => return Err(e),
                    Err(e) => Outcome::from_error(&e),
                },
            ));
        }
        Ok(out)
    }
}

fn cell_value<T>(
    field: &str, raw: &str, errors: &mut Vec<String>, parse: impl FnOnce(&str) -> Result<T, String>,
) -> Option<T> {
    parse(raw).map_err(|m| errors.push(format!("{field}: {m}"))).ok()
}

/// `lines[2].quantity` → `line 14: quantity` (the file's line of the order's third line).
fn line_field(field: &str, line_of: &[u64]) -> String {
    let parsed = field.strip_prefix("lines[").and_then(|rest| rest.split_once("].")).and_then(|(i, name)| {
        let line = line_of.get(i.parse::<usize>().ok()?)?;
        Some(format!("line {line}: {name}"))
    });
    parsed.unwrap_or_else(|| field.to_string())
}

fn historical(p: &Parsed, customer: Option<Uuid>) -> HistoricalOrder {
    let id = Uuid::now_v7();
    let lines = p
        .new
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            // As the channel priced it: no discount of the CRM's.
            let priced = PricedLine {
                amount: l.basket.amount,
                tier_discount: Decimal::ZERO,
                coupon_discount: Decimal::ZERO,
                discounted_amount: l.basket.amount,
            };
            l.stored(OrderId(id), i + 1, &priced)
        })
        .collect();
    HistoricalOrder {
        id,
        external_id: p.new.external_id.clone(),
        channel: p.new.channel,
        store_id: p.new.store_id.map(StoreId::uuid),
        customer_id: customer,
        occurred_at: p.new.occurred_at,
        total_amount: p.total,
        paid_amount: p.new.paid_amount.unwrap_or(p.total),
        lines,
    }
}

impl Importer for OrdersImport {
    fn starts_unit(&self, previous: &Record, next: &Record) -> bool {
        self.columns.key(previous) != self.columns.key(next)
    }

    fn import_batch(
        &mut self, conn: &mut PgConnection, records: &[Record], now: DateTime<Utc>,
    ) -> ApiResult<BatchResult> {
        let groups = self.groups(records);
        let mut outcomes: Vec<Option<Outcome>> = vec![None; groups.len()];
        let mut valid: Vec<(usize, Parsed)> = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            match self.parse(&records[group.start..group.end], now) {
                Ok(parsed) => valid.push((g, parsed)),
                Err(outcome) => outcomes[g] = Some(outcome),
            }
        }
        let customers = self.customers(conn, &valid.iter().map(|(_, p)| p).collect::<Vec<_>>())?;
        let mut ready = Vec::with_capacity(valid.len());
        for ((g, parsed), customer) in valid.into_iter().zip(customers) {
            match customer {
                Ok(customer) => ready.push((g, parsed, customer)),
                Err(outcome) => outcomes[g] = Some(outcome),
            }
        }
        let decided =
            if self.earn_points { self.post_sales(conn, ready, now)? } else { self.store_history(conn, ready)? };
        for (g, outcome) in decided {
            outcomes[g] = Some(outcome);
        }
        let mut units = super::runs::Counts::default();
        let mut rows = Vec::with_capacity(records.len());
        for (group, outcome) in groups.iter().zip(outcomes) {
            let outcome = outcome.unwrap_or_else(|| Outcome::rejected("internal_error", "the order was not decided"));
            match &outcome {
                Outcome::Created => units.orders_created += 1,
                Outcome::Rejected(_) => units.orders_rejected += 1,
                _ => units.orders_unchanged += 1,
            }
            rows.extend(std::iter::repeat_n(outcome, group.end - group.start));
        }
        Ok(BatchResult { outcomes: rows, units })
    }
}

/// `retail-crm import orders --help`, after the options.
pub const HELP: &str = "\
CSV columns (UTF-8, with or without a BOM; a header row). One row per order line: the rows of an order are adjacent
and repeat its external_id, channel and store (order-level cells may be left blank on all but one row):

  external_id         the order (receipt) number; (channel, store, external_id) is the order's natural key
  channel             pos, tmall, jd, pinduoduo, douyin, wechat_mini_program, app, web, ...
  store               a store's code or id (blank: no store)
  occurred_at         local time in CRM_TIMEZONE (2024-03-08 14:30:00, 2024/3/8 14:30) or RFC 3339
The buyer, found by identity (all blank: a guest order):
  phone, email, member_card, wechat_openid, wechat_unionid, tmall_ouid, jd_pin, external:<system>
Lines (optional; without an 'sku' column each order is one row with its amounts):
  sku, product_name, category, quantity, unit_price
  amount              the line's amount after the channel's discounts (default quantity × unit_price)
Amounts (¥1,299.00, 1299 or 1299.00):
  total_amount        the sum of the line amounts (required without lines, unless paid_amount is given)
  paid_amount         what the customer paid (default: total_amount); at most total_amount

Orders are stored as their channel priced them and earn no points; with --earn-points each is posted as a sale
(points by the loyalty program's rules, qualifying spend, tier upgrades). The customer must exist (import customers
first). An order already stored with the same content is unchanged; another order under the same key is rejected
(order_conflict). Rejected rows go to FILE.rejects.csv with their line number and reason.";
