//! One unit of the demo — a customer's year, or a prospect's lead — planned from the seed alone:
//! pure, no I/O, the same plan for the same `(seed, index, window)`. Who the person is, when they
//! registered and enrolled, what they bought where and when (seasons, 618 and 双11, weekends,
//! parents buying 童装 every two months), what they returned, their leads and tickets.

use crate::stores::SalesChannel;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use super::catalogue::{self as cat, Season, TemplateKey};
use super::people::{self, Person, Profile};
use super::service_plan::{self, LeadPlan, TicketPlan};

/// The year of history: the 365 local days up to and including `until`.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub until: NaiveDate,
    pub tz: Tz,
}

impl Window {
    pub const DAYS: i64 = 365;

    pub fn from(&self) -> NaiveDate {
        self.until - Duration::days(Self::DAYS - 1)
    }

    /// Local `day` at `minute` past midnight, as UTC.
    pub fn at(&self, day: NaiveDate, minute: u32) -> DateTime<Utc> {
        let local = day.and_time(NaiveTime::MIN) + Duration::minutes(i64::from(minute));
        self.tz.from_local_datetime(&local).earliest().map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
    }

    /// Nothing is planned at or after this instant (the end of `until`).
    pub fn end(&self) -> DateTime<Utc> {
        self.at(self.until + Duration::days(1), 0)
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.at(self.from(), 0)
    }

    pub fn local_day(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persona {
    /// A lead who never bought (no customer unless the lead is won).
    Prospect,
    /// Registered, never ordered.
    Browser,
    OneTimer,
    Occasional,
    Regular,
    Loyal,
    /// Registered in the last six weeks.
    New,
    /// Bought, then stopped more than three months ago.
    Churned,
    /// Bought often until three months ago, hardly since (churn risk).
    Declining,
}

const PERSONAS: &[(Persona, f64)] = &[
    (Persona::Prospect, 5.0),
    (Persona::Browser, 4.0),
    (Persona::OneTimer, 12.0),
    (Persona::Occasional, 28.0),
    (Persona::Regular, 22.0),
    (Persona::Loyal, 7.0),
    (Persona::New, 9.0),
    (Persona::Churned, 11.0),
    (Persona::Declining, 4.0),
];

#[derive(Clone, Debug, PartialEq)]
pub struct OrderPlan {
    pub at: DateTime<Utc>,
    pub external_id: String,
    pub channel: SalesChannel,
    /// Index into `catalogue::STORES`.
    pub store: usize,
    /// `(index into catalogue::SKUS, quantity)`.
    pub lines: Vec<(usize, i32)>,
    /// External pricing (a platform's order): the share of the list amount the platform charged.
    pub paid_rate: Option<Decimal>,
    /// Use a coupon the customer holds, when one applies.
    pub use_coupon: bool,
    /// Spend points, when the customer has them.
    pub use_points: bool,
}

impl OrderPlan {
    pub fn list_total(&self) -> Decimal {
        self.lines.iter().map(|(sku, qty)| Decimal::from(cat::SKUS[*sku].price * i64::from(*qty))).sum()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum What {
    Register,
    Enrol,
    /// The customer claims a coupon of the template (source `claim`).
    Claim(TemplateKey),
    /// Marketing issues one to the customer (source `manual`).
    Issue(TemplateKey),
    /// The n-th order (in time order).
    Order(usize),
    /// A refund of the n-th order: a line and quantity, or the whole order.
    Refund {
        order: usize,
        external_id: String,
        line: Option<(i32, i32)>,
    },
    Lead(service_plan::LeadStep),
    Ticket(service_plan::TicketStep),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub at: DateTime<Utc>,
    pub what: What,
}

#[derive(Clone, Debug)]
pub struct Unit {
    pub index: u32,
    /// E.164; the unit's natural key (the customer's phone, or the prospect's lead contact).
    pub phone: String,
    pub person: Person,
    /// Whether a customer exists from the start (else only a lead, maybe won into one).
    pub registers: bool,
    pub orders: Vec<OrderPlan>,
    pub leads: Vec<LeadPlan>,
    pub tickets: Vec<TicketPlan>,
    /// In time order.
    pub steps: Vec<Step>,
}

/// A well-mixed 64-bit hash (splitmix64's finaliser).
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

pub fn rng_for(seed: u64, index: u32, stream: u64) -> StdRng {
    StdRng::seed_from_u64(mix(mix(seed) ^ mix(u64::from(index)) ^ stream))
}

/// Index drawn with the given (non-negative) weights; 0 when they are all zero.
pub fn pick(rng: &mut StdRng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return 0;
    }
    let mut x = rng.gen_range(0.0..total);
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// 11.11 and 618: the platforms' big days (the first of the month to the day itself).
pub fn promotion(day: NaiveDate) -> Option<f64> {
    match (day.month(), day.day()) {
        (11, 11) => Some(6.0),
        (11, 1..=10) => Some(2.5),
        (6, 18) => Some(4.0),
        (6, 1..=17) => Some(1.8),
        _ => None,
    }
}

/// How likely an order is on `day` for a customer of `profile`.
fn day_weight(day: NaiveDate, profile: Profile) -> f64 {
    let mut w = 1.0;
    if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && profile != Profile::Online {
        w *= 1.5;
    }
    if let Some(boost) = promotion(day) {
        w *= match profile {
            Profile::Online => boost,
            Profile::Omni => 1.0 + (boost - 1.0) / 2.0,
            Profile::Store => 1.2,
        };
    }
    // New-year shopping before the Spring Festival, and 女神节 (8 March).
    if (day.month() == 1 && day.day() >= 10) || (day.month() == 2 && day.day() <= 5) {
        w *= 1.3;
    }
    if day.month() == 3 && (6..=8).contains(&day.day()) {
        w *= 1.6;
    }
    w
}

/// Some (`count`) days in `[lo, hi]`, drawn with the day weights, in order.
fn order_days(
    rng: &mut StdRng, lo: NaiveDate, hi: NaiveDate, count: std::ops::RangeInclusive<usize>, profile: Profile,
) -> Vec<NaiveDate> {
    let n = rng.gen_range(count);
    if n == 0 || hi < lo {
        return Vec::new();
    }
    let days: Vec<NaiveDate> = lo.iter_days().take_while(|d| *d <= hi).collect();
    let weights: Vec<f64> = days.iter().map(|d| day_weight(*d, profile)).collect();
    let mut out: Vec<NaiveDate> = (0..n).map(|_| days[pick(rng, &weights)]).collect();
    out.sort();
    out
}

fn season_weight(season: Season, month: u32) -> f64 {
    match (season, month) {
        (Season::AllYear, _) => 1.0,
        (Season::Summer, 5..=8) => 2.2,
        (Season::Summer, 4 | 9) => 1.0,
        (Season::Summer, _) => 0.15,
        (Season::Winter, 11 | 12 | 1) => 2.4,
        (Season::Winter, 10 | 2) => 1.2,
        (Season::Winter, _) => 0.1,
    }
}

fn category_weight(person: &Person, category: &str) -> f64 {
    let female = person.gender != "male";
    match category {
        "女装" if female => 5.0,
        "女装" => 0.4,
        "男装" if female => 0.6,
        "男装" => 5.0,
        "童装" if person.parent => 3.0,
        "童装" => 0.2,
        "鞋靴" => 2.0,
        _ => 1.5,
    }
}

/// A basket for `day`: 1-3 distinct SKUs of the season (a 童装 line first for a parent's kids'
/// order), big days fuller.
fn basket(rng: &mut StdRng, person: &Person, day: NaiveDate, kids: bool) -> Vec<(usize, i32)> {
    let mut count = [1, 1, 1, 1, 2, 2, 3][rng.gen_range(0..7)];
    if promotion(day).is_some() && rng.gen_bool(0.5) {
        count += 1;
    }
    let weights: Vec<f64> = cat::SKUS
        .iter()
        .map(|s| {
            season_weight(s.season, day.month()) * category_weight(person, s.category) * person.spend_level(s.price)
        })
        .collect();
    let mut chosen: Vec<usize> = Vec::new();
    if kids {
        let kids_weights: Vec<f64> =
            cat::SKUS.iter().zip(&weights).map(|(s, w)| if s.category == "童装" { *w + 0.01 } else { 0.0 }).collect();
        chosen.push(pick(rng, &kids_weights));
    }
    for _ in 0..count * 3 {
        if chosen.len() >= count {
            break;
        }
        let sku = pick(rng, &weights);
        if !chosen.contains(&sku) {
            chosen.push(sku);
        }
    }
    chosen
        .into_iter()
        .map(|sku| {
            let qty = if cat::SKUS[sku].price < 300 && rng.gen_bool(0.15) { 2 } else { 1 };
            (sku, qty)
        })
        .collect()
}

fn shop_for(channel: SalesChannel) -> usize {
    cat::STORES.iter().position(|s| s.online == Some(channel)).unwrap_or(0)
}

/// A physical store, by the stores' weights.
pub fn any_store(rng: &mut StdRng) -> usize {
    let weights: Vec<f64> =
        cat::STORES.iter().map(|s| if s.online.is_none() { f64::from(s.weight) } else { 0.0 }).collect();
    pick(rng, &weights)
}

const STORE_HOURS: [f64; 12] = [1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 2.0, 2.0, 3.0, 4.0, 4.0, 1.0];
const ONLINE_HOURS: [f64; 24] = [
    2.0, 1.0, 0.5, 0.2, 0.1, 0.1, 0.3, 0.8, 1.2, 1.5, 2.0, 2.5, 3.0, 2.5, 2.0, 2.0, 2.0, 2.5, 3.0, 3.5, 5.0, 6.0, 5.0,
    3.0,
];

/// Minute of the day an order is placed: stores open 10:00-22:00, the platforms all day (evenings).
fn order_minute(rng: &mut StdRng, in_store: bool) -> u32 {
    let hour = if in_store { 10 + pick(rng, &STORE_HOURS) } else { pick(rng, &ONLINE_HOURS) };
    hour as u32 * 60 + rng.gen_range(0..60)
}

/// The channel of one order of a customer of `profile`.
fn order_channel(rng: &mut StdRng, person: &Person, day: NaiveDate) -> SalesChannel {
    let platform = person.platform;
    if promotion(day).is_some() && rng.gen_bool(0.35) {
        return if platform == SalesChannel::WechatMiniProgram { SalesChannel::Tmall } else { platform };
    }
    use SalesChannel::{Jd, Pos, Tmall, WechatMiniProgram};
    // `None`: the shopper's own platform.
    let options: &[(Option<SalesChannel>, f64)] = match person.profile {
        Profile::Store => &[(Some(Pos), 85.0), (Some(WechatMiniProgram), 10.0), (Some(Tmall), 5.0)],
        Profile::Omni => &[(Some(Pos), 50.0), (Some(WechatMiniProgram), 25.0), (Some(Tmall), 15.0), (Some(Jd), 10.0)],
        Profile::Online => &[(None, 75.0), (Some(Tmall), 8.0), (Some(Jd), 7.0), (Some(WechatMiniProgram), 10.0)],
    };
    let weights: Vec<f64> = options.iter().map(|(_, w)| *w).collect();
    options[pick(rng, &weights)].0.unwrap_or(platform)
}

fn plan_order(rng: &mut StdRng, person: &Person, w: &Window, day: NaiveDate, kids: bool) -> OrderPlan {
    let channel = order_channel(rng, person, day);
    let in_store = channel == SalesChannel::Pos;
    let store = if in_store {
        match person.home_store {
            Some(home) if rng.gen_bool(0.85) => home,
            _ => any_store(rng),
        }
    } else {
        shop_for(channel)
    };
    let external = channel.marketplace();
    let paid_rate = external.then(|| {
        let rates: &[i64] = if promotion(day).is_some() { &[75, 80, 85] } else { &[100, 100, 95, 90] };
        Decimal::new(rates[rng.gen_range(0..rates.len())], 2)
    });
    OrderPlan {
        at: w.at(day, order_minute(rng, in_store)),
        external_id: String::new(),
        channel,
        store,
        lines: basket(rng, person, day, kids),
        paid_rate,
        use_coupon: !external && rng.gen_bool(0.8),
        use_points: rng.gen_bool(0.15),
    }
}

/// The days a persona orders on, and the day it registered (the first order's, unless it was a
/// customer before the window).
fn history(rng: &mut StdRng, persona: Persona, w: &Window, profile: Profile) -> (NaiveDate, Vec<NaiveDate>) {
    let (from, until) = (w.from(), w.until);
    let long_time = rng.gen_bool(0.55);
    let joined = if long_time { from } else { from + Duration::days(rng.gen_range(0..200)) };
    let mut days = match persona {
        Persona::Prospect | Persona::Browser => Vec::new(),
        Persona::OneTimer => order_days(rng, joined, until, 1..=1, profile),
        Persona::Occasional => order_days(rng, joined, until, 2..=5, profile),
        Persona::Regular => order_days(rng, joined, until, 6..=12, profile),
        Persona::Loyal => {
            let mut d = order_days(rng, from, until, 14..=26, profile);
            // Loyal customers have bought within the last month.
            d.push(until - Duration::days(rng.gen_range(0..25)));
            d
        }
        Persona::New => {
            let first = until - Duration::days(rng.gen_range(0..=45));
            let mut d = vec![first];
            d.extend(order_days(rng, first, until, 0..=2, profile));
            d
        }
        Persona::Churned => {
            let last = until - Duration::days(rng.gen_range(100..=220));
            let start = if long_time { from } else { from + Duration::days(rng.gen_range(0..=60)) };
            order_days(rng, start, last, 2..=7, profile)
        }
        Persona::Declining => {
            let mut d = order_days(rng, until - Duration::days(180), until - Duration::days(91), 4..=7, profile);
            d.extend(order_days(rng, until - Duration::days(89), until, 0..=1, profile));
            d
        }
    };
    days.sort();
    let registered = match (persona, days.first()) {
        (Persona::New, Some(first)) => *first,
        (Persona::Browser | Persona::Prospect, _) => from + Duration::days(rng.gen_range(0..Window::DAYS)),
        _ if long_time => from - Duration::days(rng.gen_range(1..=900)),
        (_, Some(first)) => *first,
        (_, None) => joined,
    };
    (registered, days)
}

/// A parent's extra kids' orders: one every 45-75 days while they are a customer (the seeds'
/// "童装客户平均 2 个月复购 1 次").
fn kids_days(rng: &mut StdRng, first: NaiveDate, last: NaiveDate) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut day = first + Duration::days(rng.gen_range(20..60));
    while day <= last {
        out.push(day);
        day += Duration::days(rng.gen_range(45..=75));
    }
    out
}

pub fn unit(seed: u64, index: u32, w: &Window) -> Unit {
    let mut rng = rng_for(seed, index, 0);
    let weights: Vec<f64> = PERSONAS.iter().map(|(_, w)| *w).collect();
    let persona = PERSONAS[pick(&mut rng, &weights)].0;
    let mut person = people::person(&mut rng, seed, index, w.until, persona == Persona::Loyal);
    let (registered_day, days) = history(&mut rng, persona, w, person.profile);

    let mut orders: Vec<(OrderPlan, bool)> = Vec::new();
    for day in &days {
        let kids = person.parent && rng.gen_bool(0.3);
        orders.push((plan_order(&mut rng, &person, w, *day, kids), false));
    }
    if person.parent && days.len() >= 2 {
        if let (Some(first), Some(last)) = (days.first(), days.last()) {
            for day in kids_days(&mut rng, *first, *last) {
                orders.push((plan_order(&mut rng, &person, w, day, true), false));
            }
        }
    }
    let registers = persona != Persona::Prospect;
    // Registered ten minutes before the first order of that day (at the till or in the
    // mini-program), or at some hour of the day for those who joined without buying.
    let first_order_at = orders.iter().map(|(o, _)| o.at).min();
    person.registered_at = match first_order_at {
        Some(at) if w.local_day(at) == registered_day => at - Duration::minutes(10),
        _ => w.at(registered_day, order_minute(&mut rng, person.profile == Profile::Store)),
    };

    let mut steps: Vec<Step> = Vec::new();
    let mut leads = service_plan::Leads::default();
    if registers {
        steps.push(Step { at: person.registered_at, what: What::Register });
        if person.membership.is_some() {
            steps.push(Step { at: person.registered_at + Duration::minutes(1), what: What::Enrol });
        }
        if person.registered_at >= w.start() && person.identities.iter().any(|(k, _)| *k == "wechat_openid") {
            steps.push(Step {
                at: person.registered_at + Duration::minutes(2),
                what: What::Claim(TemplateKey::Welcome),
            });
        }
        if person.membership.is_some() && person.consents.sms {
            for promo in promotion_starts(w) {
                if promo > person.registered_at {
                    steps.push(Step { at: promo, what: What::Issue(TemplateKey::Promotion) });
                }
            }
        }
        // A cart left in the mini-program, followed up by the online shop's clerks; won carts
        // become an order.
        if !orders.is_empty() && person.profile != Profile::Store && rng.gen_bool(0.08) {
            let plan = service_plan::cart_lead(&mut rng, &person, w);
            if let Some((at, lines)) = plan.won_order.clone() {
                let mut order = plan_order(&mut rng, &person, w, w.local_day(at), false);
                order.at = at;
                order.channel = SalesChannel::WechatMiniProgram;
                order.store = shop_for(SalesChannel::WechatMiniProgram);
                order.paid_rate = None;
                order.lines = lines;
                orders.push((order, true));
            }
            leads.push(plan);
        }
    }

    // Orders in time order, numbered; external ids as each channel writes them.
    orders.retain(|(o, _)| o.at >= person.registered_at && o.at < w.end());
    orders.sort_by_key(|(o, _)| o.at);
    for (n, (order, _)) in orders.iter_mut().enumerate() {
        order.external_id = external_id(seed, index, n, order, w);
    }
    let cart_order = orders.iter().position(|(_, from_cart)| *from_cart);
    let orders: Vec<OrderPlan> = orders.into_iter().map(|(o, _)| o).collect();
    for (n, order) in orders.iter().enumerate() {
        steps.push(Step { at: order.at, what: What::Order(n) });
    }

    let mut tickets = service_plan::Tickets::default();
    for (n, order) in orders.iter().enumerate() {
        let rate = match order.channel {
            c if c.marketplace() => 0.12,
            SalesChannel::WechatMiniProgram => 0.07,
            _ => 0.03,
        };
        if !rng.gen_bool(rate) {
            continue;
        }
        let day = w.local_day(order.at) + Duration::days(rng.gen_range(1..=10));
        let at = w.at(day, order_minute(&mut rng, order.channel == SalesChannel::Pos));
        if at >= w.end() {
            continue;
        }
        let units: i32 = order.lines.iter().map(|(_, q)| q).sum();
        let line = (units > 1 && rng.gen_bool(0.45)).then(|| {
            let i = rng.gen_range(0..order.lines.len());
            (i as i32 + 1, 1)
        });
        steps
            .push(Step { at, what: What::Refund { order: n, external_id: format!("{}-R1", order.external_id), line } });
        if rng.gen_bool(if order.channel == SalesChannel::Pos { 0.3 } else { 0.5 }) {
            tickets.push(service_plan::return_ticket(&mut rng, n, order, at, w));
        }
    }
    if !orders.is_empty() && rng.gen_bool(0.08) {
        let n = rng.gen_range(0..orders.len());
        tickets.push(service_plan::service_ticket(&mut rng, n, &orders[n], w));
    }
    if persona == Persona::Prospect {
        leads.push(service_plan::prospect_lead(&mut rng, &person, w));
    } else if registers && person.registered_at >= w.start() && person.profile != Profile::Online && rng.gen_bool(0.15)
    {
        let first =
            orders.first().filter(|o| w.local_day(o.at) == w.local_day(person.registered_at)).map(|o| (o.at, 0));
        leads.push(service_plan::lead_before_registration(&mut rng, &person, first, &orders, w));
    }
    for (n, lead) in leads.plans.iter().enumerate() {
        let order = match (&lead.won_order, lead.links_first_order) {
            (Some(_), _) => cart_order,
            (None, true) => Some(0),
            (None, false) => None,
        };
        steps.extend(service_plan::lead_steps(n, lead, order));
    }
    steps.extend(tickets.steps());
    steps.retain(|s| s.at < w.end());
    steps.sort_by_key(|s| s.at);
    Unit {
        index,
        phone: person.phone.clone(),
        person,
        registers,
        orders,
        leads: leads.plans,
        tickets: tickets.plans,
        steps,
    }
}

/// When marketing issued the 大促 coupons within the window: the morning of 1 June (618) and of
/// 1 November (双11), when the promotion's ten days fit before the window ends.
pub fn promotion_starts(w: &Window) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    for year in [w.until.year() - 1, w.until.year()] {
        for month in [6, 11] {
            if let Some(day) = NaiveDate::from_ymd_opt(year, month, 1) {
                if day >= w.from() && day + Duration::days(10) <= w.until {
                    out.push(w.at(day, 9 * 60));
                }
            }
        }
    }
    out
}

/// How each channel numbers its orders: a till's receipt, a platform's order number.
fn external_id(seed: u64, index: u32, n: usize, order: &OrderPlan, w: &Window) -> String {
    let day = w.local_day(order.at).format("%Y%m%d");
    let number = mix(mix(seed) ^ (u64::from(index) << 16) ^ n as u64) % 1_000_000;
    match order.channel {
        SalesChannel::Pos => format!("{}-{day}-{index:06}{n:02}", cat::STORES[order.store].code),
        SalesChannel::Tmall => format!("TM{day}{index:07}{n:02}{number:06}"),
        SalesChannel::Jd => format!("JD{index:08}{n:02}{number:06}"),
        SalesChannel::Douyin => format!("DY{day}{index:07}{n:02}"),
        _ => format!("WX{day}{index:07}{n:02}"),
    }
}
