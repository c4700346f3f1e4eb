//! A unit's leads and tickets, planned: when a lead came in and how far it got, when a ticket was
//! opened, answered, resolved, scored and closed. Pure.

use crate::stores::SalesChannel;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::Rng;
use rust_decimal::Decimal;

use super::catalogue as cat;
use super::people::{Person, Profile};
use super::plan::{pick, OrderPlan, Step, What, Window};
use crate::leads::model::LeadKind;
use crate::tickets::model::{TicketPriority, TicketStatus, TicketType};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeadMove {
    Contact,
    Qualify,
    Lost(&'static str),
    /// Won: linked to the unit's customer (created from the contact when there is none) and,
    /// when the step names one, the order that won it.
    Convert,
}

/// A cart's lines: `(index into catalogue::SKUS, quantity)`.
pub type Cart = Vec<(usize, i32)>;

#[derive(Clone, Debug, PartialEq)]
pub struct LeadPlan {
    pub at: DateTime<Utc>,
    pub source: SalesChannel,
    pub kind: LeadKind,
    pub contact_name: String,
    pub city: &'static str,
    pub district: &'static str,
    pub category: &'static str,
    pub items: Cart,
    pub estimated_value: Decimal,
    pub notes: Option<&'static str>,
    pub moves: Vec<(DateTime<Utc>, LeadMove)>,
    /// A won cart: when it was ordered, and what.
    pub won_order: Option<(DateTime<Utc>, Cart)>,
    /// Won with the customer's first order (a lead that brought a customer in).
    pub links_first_order: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LeadStep {
    Open(usize),
    /// `order`: the unit's order (by number) a conversion links.
    Move {
        lead: usize,
        action: LeadMove,
        order: Option<usize>,
    },
}

#[derive(Default)]
pub struct Leads {
    pub plans: Vec<LeadPlan>,
}

impl Leads {
    pub fn push(&mut self, plan: LeadPlan) {
        self.plans.push(plan);
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TicketPlan {
    pub at: DateTime<Utc>,
    pub ticket_type: TicketType,
    pub category: &'static str,
    pub channel: SalesChannel,
    pub priority: TicketPriority,
    pub subject: &'static str,
    pub description: &'static str,
    /// The unit's order (by number) it is about.
    pub order: usize,
    pub steps: Vec<(DateTime<Utc>, TicketStep)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TicketStep {
    Open(usize),
    Reply { ticket: usize, body: &'static str },
    Status { ticket: usize, status: TicketStatus },
    Score { ticket: usize, score: i32, comment: Option<&'static str> },
}

#[derive(Default)]
pub struct Tickets {
    pub plans: Vec<TicketPlan>,
}

impl Tickets {
    pub fn push(&mut self, plan: TicketPlan) {
        self.plans.push(plan);
    }

    pub fn steps(&self) -> Vec<Step> {
        let mut out = Vec::new();
        for (n, t) in self.plans.iter().enumerate() {
            out.push(Step { at: t.at, what: What::Ticket(TicketStep::Open(n)) });
            for (at, step) in &t.steps {
                let step = match step.clone() {
                    TicketStep::Open(_) => TicketStep::Open(n),
                    TicketStep::Reply { body, .. } => TicketStep::Reply { ticket: n, body },
                    TicketStep::Status { status, .. } => TicketStep::Status { ticket: n, status },
                    TicketStep::Score { score, comment, .. } => TicketStep::Score { ticket: n, score, comment },
                };
                out.push(Step { at: *at, what: What::Ticket(step) });
            }
        }
        out
    }
}

fn minutes(rng: &mut StdRng, lo: i64, hi: i64) -> Duration {
    Duration::minutes(rng.gen_range(lo..=hi))
}

fn category_for(rng: &mut StdRng, person: &Person) -> &'static str {
    let weights: Vec<f64> = cat::CATEGORIES
        .iter()
        .map(|c| match *c {
            "女装" if person.gender != "male" => 5.0,
            "男装" if person.gender == "male" => 5.0,
            "童装" if person.parent => 3.0,
            _ => 1.0,
        })
        .collect();
    cat::CATEGORIES[pick(rng, &weights)]
}

fn note_for(category: &str) -> &'static str {
    match category {
        "女装" => "想看新款连衣裙，问有没有S码",
        "男装" => "咨询商务衬衫的尺码和面料",
        "童装" => "给孩子买羽绒服，身高120",
        "鞋靴" => "想到店试穿运动鞋",
        _ => "送礼，想选一条真丝围巾",
    }
}

fn value_of(lines: &[(usize, i32)]) -> Decimal {
    lines.iter().map(|(sku, qty)| Decimal::from(cat::SKUS[*sku].price * i64::from(*qty))).sum()
}

fn lead(person: &Person, at: DateTime<Utc>, source: SalesChannel, kind: LeadKind, category: &'static str) -> LeadPlan {
    LeadPlan {
        at,
        source,
        kind,
        contact_name: person.name.clone(),
        city: person.city,
        district: person.district,
        category,
        items: Vec::new(),
        estimated_value: Decimal::ZERO,
        notes: Some(note_for(category)),
        moves: Vec::new(),
        won_order: None,
        links_first_order: false,
    }
}

/// The inquiry, walk-in or referral a store customer came through: created up to three days
/// before they registered, answered, qualified, and won with their first order.
pub fn lead_before_registration(
    rng: &mut StdRng, person: &Person, first_order: Option<(DateTime<Utc>, usize)>, orders: &[OrderPlan], _w: &Window,
) -> LeadPlan {
    let registered = person.registered_at;
    let at = registered - minutes(rng, 120, 72 * 60);
    let (kind, source) = [
        (LeadKind::WalkIn, SalesChannel::StoreStaff),
        (LeadKind::Inquiry, SalesChannel::WechatOfficialAccount),
        (LeadKind::Inquiry, SalesChannel::WechatMiniProgram),
        (LeadKind::Referral, SalesChannel::StoreStaff),
    ][pick(rng, &[40.0, 25.0, 15.0, 20.0])];
    let category = orders
        .first()
        .and_then(|o| o.lines.first())
        .map_or_else(|| category_for(rng, person), |(sku, _)| cat::SKUS[*sku].category);
    let mut plan = lead(person, at, source, kind, category);
    plan.estimated_value = orders.first().map_or(Decimal::from(300), |o| o.list_total());
    let contacted = at + minutes(rng, 3, 40);
    let span = (registered - at).num_minutes();
    let qualified = at + Duration::minutes(span * rng.gen_range(50..90) / 100);
    plan.moves.push((contacted, LeadMove::Contact));
    plan.moves.push((qualified.max(contacted + Duration::minutes(1)), LeadMove::Qualify));
    let won = first_order.map_or(registered, |(order_at, _)| order_at) + Duration::minutes(5);
    plan.moves.push((won, LeadMove::Convert));
    plan.links_first_order = first_order.is_some();
    plan
}

/// A cart left in the mini-program: the online clerks follow it up; some carts are then ordered.
pub fn cart_lead(rng: &mut StdRng, person: &Person, w: &Window) -> LeadPlan {
    let first = w.local_day(person.registered_at).max(w.from());
    let span = (w.until - first).num_days().max(0);
    let day = first + Duration::days(rng.gen_range(0..=span));
    let at = w.at(day, rng.gen_range(9 * 60..23 * 60));
    let category = category_for(rng, person);
    let mut items: Vec<(usize, i32)> = Vec::new();
    let in_category: Vec<usize> = (0..cat::SKUS.len()).filter(|i| cat::SKUS[*i].category == category).collect();
    for _ in 0..rng.gen_range(1..=2) {
        let sku = in_category[rng.gen_range(0..in_category.len())];
        if !items.iter().any(|(s, _)| *s == sku) {
            items.push((sku, 1));
        }
    }
    let mut plan = lead(person, at, SalesChannel::WechatMiniProgram, LeadKind::CartAbandoned, category);
    plan.notes = None;
    plan.estimated_value = value_of(&items);
    let contacted = at + minutes(rng, 5, 90);
    plan.moves.push((contacted, LeadMove::Contact));
    if rng.gen_bool(0.45) {
        let qualified = contacted + minutes(rng, 30, 600);
        let ordered = qualified + minutes(rng, 60, 48 * 60);
        plan.moves.push((qualified, LeadMove::Qualify));
        plan.moves.push((ordered + Duration::minutes(10), LeadMove::Convert));
        plan.won_order = Some((ordered, items.clone()));
    } else {
        let reason = ["价格原因", "暂无需求"][rng.gen_range(0..2)];
        plan.moves.push((contacted + minutes(rng, 60, 72 * 60), LeadMove::Lost(reason)));
    }
    plan.items = items;
    plan
}

/// A prospect's lead: an inquiry that was answered (or not), qualified, lost — or won, which
/// makes the prospect a customer.
pub fn prospect_lead(rng: &mut StdRng, person: &Person, w: &Window) -> LeadPlan {
    let day = w.from() + Duration::days(rng.gen_range(0..Window::DAYS));
    let at = w.at(day, rng.gen_range(9 * 60..22 * 60));
    let (kind, source) = [
        (LeadKind::Inquiry, SalesChannel::WechatOfficialAccount),
        (LeadKind::Inquiry, SalesChannel::WechatMiniProgram),
        (LeadKind::Inquiry, SalesChannel::Douyin),
        (LeadKind::Inquiry, SalesChannel::Phone),
        (LeadKind::WalkIn, SalesChannel::StoreStaff),
        (LeadKind::Referral, SalesChannel::StoreStaff),
    ][pick(rng, &[25.0, 20.0, 15.0, 10.0, 20.0, 10.0])];
    let category = category_for(rng, person);
    let mut plan = lead(person, at, source, kind, category);
    if person.profile != Profile::Store && rng.gen_bool(0.3) {
        plan.contact_name = format!(
            "{}{}",
            person.name.chars().next().unwrap_or('王'),
            if person.gender == "male" { "先生" } else { "女士" }
        );
    }
    plan.estimated_value = Decimal::from([299, 459, 799, 1299][rng.gen_range(0..4)]);
    if !rng.gen_bool(0.8) {
        return plan;
    }
    let contacted = at + minutes(rng, 4, 90);
    plan.moves.push((contacted, LeadMove::Contact));
    if rng.gen_bool(0.5) {
        let qualified = contacted + minutes(rng, 60, 72 * 60);
        plan.moves.push((qualified, LeadMove::Qualify));
        if rng.gen_bool(0.3) {
            plan.moves.push((qualified + minutes(rng, 24 * 60, 7 * 24 * 60), LeadMove::Convert));
        } else if rng.gen_bool(0.6) {
            let reason = cat::LOST_REASONS[rng.gen_range(0..cat::LOST_REASONS.len())];
            plan.moves.push((qualified + minutes(rng, 24 * 60, 10 * 24 * 60), LeadMove::Lost(reason)));
        }
    } else if rng.gen_bool(0.6) {
        let reason = cat::LOST_REASONS[rng.gen_range(0..cat::LOST_REASONS.len())];
        plan.moves.push((contacted + minutes(rng, 24 * 60, 5 * 24 * 60), LeadMove::Lost(reason)));
    }
    plan
}

pub fn lead_steps(n: usize, lead: &LeadPlan, order: Option<usize>) -> Vec<Step> {
    let mut out = vec![Step { at: lead.at, what: What::Lead(LeadStep::Open(n)) }];
    for (at, action) in &lead.moves {
        let order = if *action == LeadMove::Convert { order } else { None };
        out.push(Step { at: *at, what: What::Lead(LeadStep::Move { lead: n, action: *action, order }) });
    }
    out
}

/// Answered, perhaps waiting on the customer for a while, resolved (`resolve_at`, or some hours
/// later), scored by most customers, closed a few days later. Of the last days' tickets, half are
/// still in the queue (unanswered, in progress or waiting on the customer).
fn lifecycle(
    rng: &mut StdRng, opened: DateTime<Utc>, resolve_at: Option<DateTime<Utc>>, w: &Window,
) -> Vec<(DateTime<Utc>, TicketStep)> {
    let mut steps = Vec::new();
    let queued = resolve_at.is_none() && w.end() - opened < Duration::days(10) && rng.gen_bool(0.5);
    if queued && w.end() - opened < Duration::days(2) && rng.gen_bool(0.5) {
        return steps;
    }
    let mut t = opened + minutes(rng, 5, 240);
    if let Some(r) = resolve_at {
        t = t.min(r - Duration::minutes(1)).max(opened + Duration::minutes(1));
    }
    steps.push((t, TicketStep::Reply { ticket: 0, body: "您好，已收到您的反馈，我们正在为您处理。" }));
    if resolve_at.is_none() && rng.gen_bool(0.3) {
        t += minutes(rng, 30, 360);
        steps.push((t, TicketStep::Status { ticket: 0, status: TicketStatus::PendingCustomer }));
        if queued && rng.gen_bool(0.5) {
            return steps;
        }
        t += minutes(rng, 120, 48 * 60);
        steps.push((t, TicketStep::Status { ticket: 0, status: TicketStatus::InProgress }));
    }
    if queued {
        return steps;
    }
    let resolved = resolve_at.unwrap_or_else(|| t + minutes(rng, 60, 24 * 60));
    steps.push((resolved, TicketStep::Status { ticket: 0, status: TicketStatus::Resolved }));
    if rng.gen_bool(0.6) {
        let score = [5, 5, 5, 5, 5, 4, 4, 4, 3, 2, 1][rng.gen_range(0..11)];
        let comment = match score {
            5 => Some("处理很快，满意"),
            4 => Some("还不错"),
            1 | 2 => Some("等了太久"),
            _ => None,
        };
        steps.push((resolved + minutes(rng, 60, 24 * 60), TicketStep::Score { ticket: 0, score, comment }));
    }
    if rng.gen_bool(0.5) {
        steps.push((resolved + Duration::days(3), TicketStep::Status { ticket: 0, status: TicketStatus::Closed }));
    }
    steps
}

/// A return request before the refund: resolved when the refund goes through.
pub fn return_ticket(
    rng: &mut StdRng, n: usize, order: &OrderPlan, refund_at: DateTime<Utc>, w: &Window,
) -> TicketPlan {
    let opened = (refund_at - minutes(rng, 120, 48 * 60)).max(order.at + Duration::minutes(60));
    let (category, subject, description) = if rng.gen_bool(0.6) {
        ("size_mismatch", "尺码不合适，申请退货", "买的M码偏小，想退货")
    } else {
        ("quality", "质量问题，申请退货", "收到后发现有开线")
    };
    TicketPlan {
        at: opened,
        ticket_type: TicketType::Return,
        category,
        channel: order.channel,
        priority: TicketPriority::Normal,
        subject,
        description,
        order: n,
        steps: lifecycle(rng, opened, Some(refund_at + Duration::minutes(10)), w),
    }
}

/// A complaint, a question or an after-sales request about an order.
pub fn service_ticket(rng: &mut StdRng, n: usize, order: &OrderPlan, w: &Window) -> TicketPlan {
    let day = w.local_day(order.at) + Duration::days(rng.gen_range(1..=6));
    let opened = w.at(day, rng.gen_range(9 * 60..21 * 60));
    let (ticket_type, category, priority, subject, description) = [
        (TicketType::Complaint, "quality", TicketPriority::High, "衣服洗后起球", "穿了两次就起球了，要求处理"),
        (TicketType::Inquiry, "delivery", TicketPriority::Low, "物流进度查询", "下单三天还没发货"),
        (TicketType::Inquiry, "size", TicketPriority::Low, "尺码咨询", "身高165体重55穿什么码"),
        (TicketType::AfterSales, "alteration", TicketPriority::Normal, "裤长修改", "想把裤长改短3厘米"),
    ][pick(rng, &[35.0, 20.0, 20.0, 25.0])];
    let channel = if order.channel == SalesChannel::Pos {
        [SalesChannel::Phone, SalesChannel::WechatMiniProgram][rng.gen_range(0..2)]
    } else {
        order.channel
    };
    TicketPlan {
        at: opened,
        ticket_type,
        category,
        channel,
        priority,
        subject,
        description,
        order: n,
        steps: lifecycle(rng, opened, None, w),
    }
}
