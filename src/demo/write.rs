//! Writes one unit's plan through the domains' own paths, step by step at the step's time: the
//! customer's registration, enrolment and coupons, each sale through the till's posting (tier
//! discount, coupons, points, earning, qualifying spend, upgrades — judged as of `occurred_at`),
//! each refund through the refund path, leads through assignment and their stages, tickets through
//! routing, replies, the SLA clock and satisfaction. The caller gives the transaction.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::PgConnection;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::catalogue::{self as cat, TemplateKey};
use super::people::Person;
use super::plan::{OrderPlan, Step, Unit, What};
use super::service_plan::{LeadMove, LeadStep, TicketStep};
use super::setup::Chain;
use crate::coupons::model::Coupon;
use crate::customers::service::CustomerRef;
use crate::error::{ApiError, ApiResult};
use crate::http::auth::StoreScope;
use crate::leads::rules::Action;
use crate::orders::rules::BasketLine;
use crate::orders::store::Order;

/// Who the ledger, the coupons and the leads name as having acted.
pub const ACTOR: &str = "seed-demo";

pub struct Context<'a> {
    pub chain: &'a Chain,
    pub catalogue: &'a crate::loyalty::program::CatalogueCache,
    pub tz: Tz,
    pub lead_response_minutes: i64,
}

/// What one unit wrote.
#[derive(Default, Debug, Clone, Copy)]
pub struct Written {
    pub customers: u64,
    pub orders: u64,
    pub refunds: u64,
    pub coupons: u64,
    pub leads: u64,
    pub tickets: u64,
}

impl std::ops::AddAssign for Written {
    fn add_assign(&mut self, o: Written) {
        self.customers += o.customers;
        self.orders += o.orders;
        self.refunds += o.refunds;
        self.coupons += o.coupons;
        self.leads += o.leads;
        self.tickets += o.tickets;
    }
}

/// The unit's state while its steps are written (cloned before each transaction, so a retried
/// one starts from what the last committed one left).
#[derive(Clone, Default)]
pub struct Progress {
    customer: Option<Uuid>,
    member: bool,
    orders: Vec<Order>,
    /// Coupons held, and whether already used.
    wallet: Vec<(Coupon, bool)>,
    leads: Vec<Option<crate::leads::model::Lead>>,
    tickets: Vec<Option<crate::tickets::model::Ticket>>,
    pub written: Written,
}

impl Progress {
    /// A unit whose registration and coupons were written by a run that stopped before the rest.
    pub fn resumed(customer: Uuid, wallet: Vec<Coupon>) -> Progress {
        Progress {
            customer: Some(customer),
            wallet: wallet.into_iter().map(|c| (c, false)).collect(),
            ..Default::default()
        }
    }
}

fn customer_input(person: &Person, home_store: Option<Uuid>) -> crate::customers::model::CustomerInput {
    let mut consents = Map::new();
    consents.insert("marketing_sms".into(), Value::Bool(person.consents.sms));
    if person.email.is_some() {
        consents.insert("marketing_email".into(), Value::Bool(person.consents.email));
    }
    if person.identities.iter().any(|(k, _)| *k == "wechat_openid") {
        consents.insert("marketing_wechat".into(), Value::Bool(person.consents.wechat));
    }
    crate::customers::model::CustomerInput {
        name: Some(Some(person.name.clone())),
        gender: Some(person.gender.to_string()),
        birthday: Some(Some(person.birthday)),
        phone: Some(Some(person.phone.clone())),
        email: Some(person.email.clone()),
        city: Some(Some(person.city.to_string())),
        district: Some(Some(person.district.to_string())),
        address: Some(person.address.clone()),
        source_channel: Some(Some(person.source_channel.to_string())),
        home_store_id: Some(home_store),
        consents: Some(consents),
        attributes: None,
        tags: Some(person.tags.iter().map(|t| t.to_string()).collect()),
        identities: Some(
            person
                .identities
                .iter()
                .map(|(kind, value)| crate::customers::model::IdentityInput {
                    kind: kind.to_string(),
                    value: value.clone(),
                })
                .collect(),
        ),
    }
}

fn register(conn: &mut PgConnection, ctx: &Context, person: &Person, at: DateTime<Utc>) -> ApiResult<Uuid> {
    let home = person.home_store.and_then(|i| ctx.chain.stores.get(i).copied());
    let today = crate::customers::service::today(at, ctx.tz);
    let input = customer_input(person, home).validate(today, "")?;
    Ok(crate::customers::service::create(conn, input, at, crate::http::auth::StoreScope::Chain)?.id)
}

fn enrol(conn: &mut PgConnection, ctx: &Context, customer: Uuid, person: &Person, at: DateTime<Utc>) -> ApiResult<()> {
    let Some(m) = &person.membership else { return Ok(()) };
    let enrolment = crate::memberships::store::Enrolment {
        channel: Some(m.channel),
        store_id: m.store.and_then(|i| ctx.chain.stores.get(i).copied()),
    };
    crate::memberships::store::enrol(conn, customer, &enrolment, ACTOR, at, ctx.chain.tier_validity_days)?;
    Ok(())
}

fn coupon(
    conn: &mut PgConnection, ctx: &Context, customer: Uuid, key: TemplateKey, claimed: bool, at: DateTime<Utc>,
) -> ApiResult<Option<Coupon>> {
    use crate::coupons::model::CouponSource;
    use crate::coupons::store::{claim, issue, Source};
    let template = ctx.chain.template(key)?.id;
    if claimed {
        return Ok(Some(claim(
            conn,
            customer,
            template,
            Source { kind: CouponSource::Claim, reference: None },
            at,
            ctx.tz,
        )?));
    }
    let source = Source { kind: CouponSource::Manual, reference: Some("大促") };
    let report = issue(conn, template, &[customer], source, at, ctx.tz)?;
    Ok(report.issued.into_iter().next().map(|i| i.coupon))
}

/// A coupon the customer holds that certainly applies to the basket at `at`: valid then, and the
/// basket reaches its threshold even at the deepest tier discount. Its largest discount, too.
fn usable_coupon(p: &Progress, ctx: &Context, order: &OrderPlan) -> ApiResult<Option<(usize, Decimal)>> {
    let list = order.list_total();
    for (i, (c, used)) in p.wallet.iter().enumerate() {
        if *used || c.valid_from > order.at || c.expires_at <= order.at {
            continue;
        }
        let t = ctx.chain.templates.values().find(|t| t.id == c.template_id);
        let Some(t) = t else { continue };
        use crate::coupons::model::CouponTemplateKind as Kind;
        let most_off = match t.kind {
            Kind::AmountOff if t.threshold.is_some_and(|th| list * ctx.chain.lowest_tier_rate >= th) => t.discount,
            Kind::Cash => t.discount,
            Kind::PercentOff => {
                let off = list * (Decimal::ONE - t.discount_rate.unwrap_or(Decimal::ONE));
                Some(t.max_discount.map_or(off, |m| off.min(m)))
            }
            _ => None,
        };
        if let Some(off) = most_off {
            return Ok(Some((i, off)));
        }
    }
    Ok(None)
}

/// Points the customer spends on the order: whole units of what they have, well inside the
/// offset cap (computed on the least the basket can come to after the tier discount and coupon).
fn points_to_spend(
    conn: &mut PgConnection, ctx: &Context, customer: Uuid, order: &OrderPlan, coupon_off: Decimal,
) -> ApiResult<i64> {
    let program = &ctx.chain.program;
    let unit = program.redeem_unit_points.max(1);
    let available = crate::loyalty::ledger::summary(conn, customer, order.at, 0)?.available;
    if available < unit * 3 || program.redeem_unit_value <= Decimal::ZERO {
        return Ok(0);
    }
    let least = order.list_total() * ctx.chain.lowest_tier_rate - coupon_off;
    let cap_value = least * program.max_points_offset_ratio * Decimal::new(9, 1);
    let cap_units: i64 = (cap_value / program.redeem_unit_value).floor().try_into().unwrap_or(0);
    let units = cap_units.min(available / unit).min(20);
    Ok(units.max(0) * unit)
}

fn post_order(conn: &mut PgConnection, ctx: &Context, p: &mut Progress, order: &OrderPlan) -> ApiResult<()> {
    let external = order.paid_rate.is_some();
    let (coupon, coupon_off) = match (order.use_coupon && !external, usable_coupon(p, ctx, order)?) {
        (true, Some((i, off))) => (Some(i), off),
        _ => (None, Decimal::ZERO),
    };
    let points = match p.customer {
        Some(c) if p.member && order.use_points && !external => points_to_spend(conn, ctx, c, order, coupon_off)?,
        _ => 0,
    };
    let lines = order
        .lines
        .iter()
        .map(|(sku, qty)| {
            let s = &cat::SKUS[*sku];
            let unit_price = Decimal::from(s.price);
            crate::sales::sale::NewLine {
                basket: BasketLine {
                    sku: s.sku.into(),
                    category: Some(s.category.into()),
                    quantity: *qty,
                    unit_price,
                    amount: unit_price * Decimal::from(*qty),
                },
                name: Some(s.name.into()),
            }
        })
        .collect();
    let new = crate::sales::sale::NewOrder {
        external_id: order.external_id.clone(),
        channel: order.channel,
        store_id: ctx.chain.stores.get(order.store).copied().map(crate::ids::StoreId),
        customer: p.customer.map_or(CustomerRef::Guest, CustomerRef::Id),
        occurred_at: order.at,
        lines,
        points_to_redeem: (points > 0).then_some(points),
        coupon_codes: coupon.map(|i| vec![p.wallet[i].0.code.clone()]),
        reservation_id: None,
        paid_amount: order.paid_rate.map(|rate| crate::money::round(order.list_total() * rate)),
        external_pricing: external,
    };
    // Judged as of the order's own time: the tier, coupons, points and the 365-day spend then.
    let posted = crate::sales::sale::post(conn, ctx.catalogue, new, ACTOR, order.at, ctx.tz)?;
    if let Some(i) = coupon {
        p.wallet[i].1 = true;
    }
    p.written.orders += u64::from(posted.created);
    p.orders.push(posted.order);
    Ok(())
}

fn refund(
    conn: &mut PgConnection, p: &mut Progress, order: usize, external_id: &str, line: Option<(i32, i32)>,
    at: DateTime<Utc>,
) -> ApiResult<()> {
    let Some(o) = p.orders.get(order) else { return Ok(()) };
    let new = crate::sales::refund::NewRefund {
        external_id: external_id.to_string(),
        lines: line
            .map(|(line_no, quantity)| vec![crate::sales::refund::RefundLine { line_no, quantity }])
            .unwrap_or_default(),
        amount: None,
    };
    let (_, created) = crate::sales::refund::refund(conn, o.id, StoreScope::Chain, new, ACTOR, at)?;
    p.written.refunds += u64::from(created);
    Ok(())
}

fn open_lead(
    conn: &mut PgConnection, ctx: &Context, p: &mut Progress, unit: &Unit, n: usize, at: DateTime<Utc>,
) -> ApiResult<()> {
    let Some(plan) = unit.leads.get(n) else { return Ok(()) };
    let items: Vec<Value> = plan
        .items
        .iter()
        .map(|(sku, qty)| {
            let s = &cat::SKUS[*sku];
            json!({"sku": s.sku, "name": s.name, "quantity": qty, "unit_price": crate::money::format(Decimal::from(s.price))})
        })
        .collect();
    let customer = match p.customer {
        Some(c) => Some(c),
        None => crate::leads::service::match_by_phone(conn, Some(&unit.phone))?,
    };
    let new = crate::leads::model::NewLead {
        id: Uuid::now_v7(),
        source: plan.source,
        kind: plan.kind,
        contact_name: Some(plan.contact_name.clone()),
        contact_phone: Some(unit.phone.clone()),
        contact_wechat: None,
        city: Some(plan.city.into()),
        district: Some(plan.district.into()),
        category: Some(plan.category.into()),
        items: Value::Array(items),
        estimated_value: Some(plan.estimated_value),
        notes: plan.notes.map(str::to_string),
        customer_id: customer,
        store_id: None,
        created_at: at,
        updated_at: at,
    };
    let lead = crate::leads::service::create(conn, &new, at, ctx.lead_response_minutes)?;
    p.written.leads += 1;
    if p.leads.len() <= n {
        p.leads.resize(n + 1, None);
    }
    p.leads[n] = Some(lead);
    Ok(())
}

/// A stage move, when the lead's stage allows it (a lead nobody was free for stays `new`).
fn move_lead(
    conn: &mut PgConnection, p: &mut Progress, n: usize, action: LeadMove, order: Option<usize>, at: DateTime<Utc>,
) -> ApiResult<()> {
    let Some(Some(lead)) = p.leads.get(n).cloned() else { return Ok(()) };
    let domain_action = match action {
        LeadMove::Contact => Action::Contact,
        LeadMove::Qualify => Action::Qualify,
        LeadMove::Lost(_) => Action::CloseLost,
        LeadMove::Convert => Action::Convert,
    };
    if crate::leads::rules::transition(lead.status, domain_action).is_none() {
        return Ok(());
    }
    let moved = match action {
        LeadMove::Convert => {
            // The order that won it, when it was sold where the lead was assigned.
            let order = order
                .and_then(|k| p.orders.get(k))
                .filter(|o| lead.store_id.is_none() || o.store_id.map(Into::into) == lead.store_id)
                .map(|o| o.id.uuid());
            let (lead, _) = crate::leads::service::convert(conn, &lead, p.customer, order, at)?;
            lead
        }
        LeadMove::Lost(reason) => {
            crate::leads::service::advance(conn, &lead, domain_action, Some(reason.to_string()), at)?
        }
        _ => crate::leads::service::advance(conn, &lead, domain_action, None, at)?,
    };
    p.leads[n] = Some(moved);
    Ok(())
}

fn ticket(
    conn: &mut PgConnection, ctx: &Context, p: &mut Progress, unit: &Unit, step: &TicketStep, at: DateTime<Utc>,
) -> ApiResult<()> {
    use crate::tickets::model::{TicketCommentVisibility, TicketStatus};
    use crate::tickets::service as tickets;
    use crate::tickets::store::{NewComment, NewTicket};
    let (n, current) = match step {
        TicketStep::Open(n) => (*n, None),
        TicketStep::Reply { ticket, .. } | TicketStep::Status { ticket, .. } | TicketStep::Score { ticket, .. } => {
            match p.tickets.get(*ticket).cloned().flatten() {
                Some(t) => (*ticket, Some(t)),
                None => return Ok(()),
            }
        }
    };
    let updated = match (step, current) {
        (TicketStep::Open(_), _) => {
            let Some(plan) = unit.tickets.get(n) else { return Ok(()) };
            let order = p.orders.get(plan.order);
            let new = NewTicket {
                customer_id: p.customer,
                order_id: order.map(|o| o.id.uuid()),
                ticket_type: plan.ticket_type,
                category: Some(plan.category.into()),
                channel: Some(plan.channel),
                priority: plan.priority,
                subject: plan.subject.into(),
                description: Some(plan.description.into()),
                store_id: order.and_then(|o| o.store_id.map(Into::into)),
            };
            p.written.tickets += 1;
            tickets::create(conn, &new, at, ctx.tz)?
        }
        (TicketStep::Reply { body, .. }, Some(t)) => {
            let author = t.assignee_staff_id.map_or_else(|| ACTOR.to_string(), |s| format!("staff:{s}"));
            let comment = NewComment { visibility: TicketCommentVisibility::Public, body, author: &author };
            tickets::comment(conn, StoreScope::Chain, t.id, &comment, at, ctx.tz)?.0
        }
        (TicketStep::Status { status, .. }, Some(t)) if crate::tickets::rules::can_move(t.status, *status) => {
            let changes = tickets::TicketChanges { status: Some(*status), ..Default::default() };
            tickets::update(conn, StoreScope::Chain, t.id, None, &changes, at, ctx.tz)?
        }
        (TicketStep::Score { score, comment, .. }, Some(t))
            if matches!(t.status, TicketStatus::Resolved | TicketStatus::Closed) =>
        {
            tickets::record_satisfaction(conn, StoreScope::Chain, t.id, *score, comment.map(str::to_string), at)?
        }
        _ => return Ok(()),
    };
    if p.tickets.len() <= n {
        p.tickets.resize(n + 1, None);
    }
    p.tickets[n] = Some(updated);
    Ok(())
}

fn is_coupon(step: &Step) -> bool {
    matches!(step.what, What::Claim(_) | What::Issue(_))
}

/// The unit's steps as two transactions. A template's row stays locked from a coupon's issue to
/// the commit (SPEC: issuing takes turns on it), and so do the lead assignment lock and a ticket
/// team's cursor: in one long transaction per customer, every worker would queue behind the others
/// on them. So the registration and the coupons commit first (they depend on nothing else), and
/// the rest follows in time order with the leads and then the tickets last, which only refer back
/// to what came before them. Every step keeps its own time.
pub fn parts(unit: &Unit) -> [Vec<&Step>; 2] {
    let split = !unit.orders.is_empty() && unit.steps.iter().any(is_coupon);
    let first: Vec<&Step> =
        unit.steps.iter().filter(|s| split && (is_coupon(s) || matches!(s.what, What::Register))).collect();
    let group = |s: &Step| match s.what {
        What::Lead(_) => 1,
        What::Ticket(_) => 2,
        _ => 0,
    };
    let mut rest: Vec<&Step> = unit.steps.iter().filter(|s| !first.iter().any(|f| std::ptr::eq(*f, *s))).collect();
    rest.sort_by_key(|s| group(s));
    [first, rest]
}

/// Writes some of the unit's steps (a part from `parts`), in the caller's transaction.
pub fn steps(conn: &mut PgConnection, ctx: &Context, unit: &Unit, steps: &[&Step], p: &mut Progress) -> ApiResult<()> {
    for step in steps {
        let at = step.at;
        // Its events say when it happened (the feed, webhooks, the customer's timeline).
        crate::events::happened_at(conn, at)?;
        match &step.what {
            What::Register => {
                p.customer = Some(register(conn, ctx, &unit.person, at)?);
                p.written.customers += 1;
            }
            What::Enrol => {
                let customer = p.customer.ok_or_else(|| ApiError::internal("enrolment before registration"))?;
                enrol(conn, ctx, customer, &unit.person, at)?;
                p.member = true;
            }
            What::Claim(key) | What::Issue(key) => {
                let customer = p.customer.ok_or_else(|| ApiError::internal("a coupon before registration"))?;
                if let Some(c) = coupon(conn, ctx, customer, *key, matches!(step.what, What::Claim(_)), at)? {
                    p.written.coupons += 1;
                    p.wallet.push((c, false));
                }
            }
            What::Order(n) => {
                if let Some(order) = unit.orders.get(*n) {
                    post_order(conn, ctx, p, order)?;
                }
            }
            What::Refund { order, external_id, line } => refund(conn, p, *order, external_id, *line, at)?,
            What::Lead(LeadStep::Open(n)) => open_lead(conn, ctx, p, unit, *n, at)?,
            What::Lead(LeadStep::Move { lead, action, order }) => move_lead(conn, p, *lead, *action, *order, at)?,
            What::Ticket(step) => ticket(conn, ctx, p, unit, step, at)?,
        }
    }
    Ok(())
}
