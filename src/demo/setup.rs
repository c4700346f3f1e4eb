//! The chain the customers shop at: stores and online shops with daily targets, staff with skills,
//! capacities and teams, the coupon templates, lead assignment and ticket routing rules, and the
//! three automations. Each is found by its natural key (store code, name) or made through its
//! domain's own insert, so a second run finds everything and makes nothing.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::catalogue::{self as cat, TemplateKey};
use super::store;
use crate::coupons::model::Template;
use crate::error::{ApiError, ApiResult};

/// What the units need of the chain.
pub struct Chain {
    /// By index into `catalogue::STORES`.
    pub stores: Vec<Uuid>,
    pub templates: HashMap<TemplateKey, Template>,
    pub automations: Vec<Uuid>,
    /// The deepest tier discount: a coupon's threshold is safe when the list amount at this rate
    /// still reaches it.
    pub lowest_tier_rate: Decimal,
    pub tier_validity_days: i32,
    pub program: crate::loyalty::rules::Program,
}

impl Chain {
    pub fn template(&self, key: TemplateKey) -> ApiResult<&Template> {
        self.templates.get(&key).ok_or_else(|| ApiError::internal("a demo coupon template is missing"))
    }
}

/// How many things this run made.
#[derive(Default, Debug)]
pub struct Made {
    pub stores: usize,
    pub staff: usize,
    pub templates: usize,
    pub rules: usize,
    pub campaigns: usize,
}

impl Made {
    pub fn any(&self) -> bool {
        self.stores + self.staff + self.templates + self.rules + self.campaigns > 0
    }
}

/// A store's daily sales target, scaled to the demo's size (about what its share of the
/// customers spends on an average day, a little above it).
fn daily_target(spec: &cat::StoreSpec, customers: u32) -> Decimal {
    let per_customer = if spec.online.is_some() { 4 } else { 6 };
    let yuan = i64::from(customers) * i64::from(spec.weight) * per_customer / 100;
    Decimal::from((yuan / 100).max(1) * 100)
}

fn stores(conn: &mut PgConnection, customers: u32, made: &mut Made) -> ApiResult<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(cat::STORES.len());
    for spec in cat::STORES {
        if let Some(id) = store::store_by_code(conn, spec.code)? {
            ids.push(id);
            continue;
        }
        let new = crate::stores::store::NewStore {
            code: spec.code.into(),
            name: spec.name.into(),
            city: spec.city.map(str::to_string),
            district: spec.district.map(str::to_string),
            kind: if spec.online.is_some() {
                crate::stores::StoreKind::Online
            } else {
                crate::stores::StoreKind::Store
            },
            daily_sales_target: Some(daily_target(spec, customers)),
            active: true,
        };
        ids.push(crate::stores::store::insert(conn, &new)?.id);
        made.stores += 1;
    }
    Ok(ids)
}

fn store_id(stores: &[Uuid], code: &str) -> ApiResult<Uuid> {
    cat::STORES
        .iter()
        .position(|s| s.code == code)
        .and_then(|i| stores.get(i).copied())
        .ok_or_else(|| ApiError::internal(format!("demo store {code} is missing")))
}

fn staff(conn: &mut PgConnection, stores: &[Uuid], made: &mut Made) -> ApiResult<()> {
    for (n, spec) in cat::store_staff().iter().enumerate() {
        let store = spec.store.map(|code| store_id(stores, code)).transpose()?;
        if store::staff_by_name(conn, spec.name, store)?.is_some() {
            continue;
        }
        let new = crate::staff::store::NewStaff {
            name: spec.name.into(),
            phone: Some(format!("+86199{:08}", 10_000_000 + n)),
            store_id: store,
            roles: spec.roles.to_vec(),
            skills: spec.skills.iter().map(|s| s.to_string()).collect(),
            capacity: spec.capacity,
            team: spec.team.map(str::to_string),
            active: true,
            username: None,
            password_hash: None,
        };
        crate::staff::store::insert(conn, &new)?;
        made.staff += 1;
    }
    Ok(())
}

fn templates(
    conn: &mut PgConnection, since: DateTime<Utc>, made: &mut Made,
) -> ApiResult<HashMap<TemplateKey, Template>> {
    let mut out = HashMap::new();
    for key in cat::TEMPLATE_KEYS {
        let body = cat::template(*key);
        let name = body["name"].as_str().unwrap_or_default();
        let template = match store::template_by_name(conn, name)? {
            Some(id) => crate::coupons::store::get_template(conn, id)?,
            None => {
                let input: crate::coupons::api::TemplateCreate =
                    serde_json::from_value(body).map_err(ApiError::internal)?;
                made.templates += 1;
                // Live since the history began: coupons of it are issued all year.
                crate::coupons::store::insert_template(conn, &input.validate(since)?, since)?
            }
        };
        out.insert(*key, template);
    }
    Ok(out)
}

/// The seeds' example first (a WeChat inquiry from 北京朝阳区 about 女装 goes to the Chaoyang
/// store's womenswear clerk), abandoned carts to the mini-program's clerks, then each store
/// takes its own district's leads and the first store of a city the rest of the city's.
fn lead_rules(conn: &mut PgConnection, stores: &[Uuid], since: DateTime<Utc>, made: &mut Made) -> ApiResult<()> {
    use crate::leads::model::{LeadAssignmentStrategy, LeadKind, RuleChanges};
    let rule =
        |name: String, priority: i32, city: Option<&str>, district: Option<&str>, kind: Option<LeadKind>| RuleChanges {
            name: Some(name),
            priority: Some(priority),
            match_city: Some(city.map(str::to_string)),
            match_district: Some(district.map(str::to_string)),
            match_category: Some(None),
            match_source: Some(None),
            match_kind: Some(kind),
            target_staff_ids: Some(vec![]),
            target_store_id: Some(None),
            target_skill: Some(None),
            strategy: Some(LeadAssignmentStrategy::RoundRobin),
            reassign_on_breach: Some(false),
            active: Some(true),
        };
    let mut rules = Vec::new();
    let mut example = rule("北京朝阳 女装".into(), 5, Some("北京"), Some("朝阳区"), None);
    example.match_category = Some(Some("女装".into()));
    example.target_store_id = Some(Some(store_id(stores, "BJ-CY-01")?));
    example.target_skill = Some(Some("女装".into()));
    rules.push(example);
    let mut carts = rule("小程序加购跟进".into(), 1, None, None, Some(LeadKind::CartAbandoned));
    carts.target_store_id = Some(Some(store_id(stores, "WX-MALL")?));
    rules.push(carts);
    let mut cities_done: Vec<&str> = Vec::new();
    for (i, spec) in cat::STORES.iter().enumerate() {
        let (Some(city), Some(district)) = (spec.city, spec.district) else { continue };
        let mut own = rule(format!("{} 就近分配", spec.name), 10, Some(city), Some(district), None);
        own.target_store_id = Some(stores.get(i).copied());
        rules.push(own);
        if !cities_done.contains(&city) {
            cities_done.push(city);
            let mut rest = rule(format!("{city} 同城分配"), 50, Some(city), None, None);
            rest.target_store_id = Some(stores.get(i).copied());
            rules.push(rest);
        }
    }
    for r in rules {
        if store::lead_rule_by_name(conn, r.name.as_deref().unwrap_or_default())?.is_none() {
            crate::leads::store::insert_rule(conn, &r, since)?;
            made.rules += 1;
        }
    }
    Ok(())
}

fn routing_rules(conn: &mut PgConnection, since: DateTime<Utc>, made: &mut Made) -> ApiResult<()> {
    for (i, (name, ticket_type, team)) in cat::ROUTING.iter().enumerate() {
        if store::routing_rule_by_name(conn, name)?.is_some() {
            continue;
        }
        let fields = crate::tickets::config_store::RuleFields {
            name: name.to_string(),
            priority: 10 * (i as i32 + 1),
            match_type: Some(*ticket_type),
            match_category: None,
            match_channel: None,
            match_priority: None,
            team: team.to_string(),
            active: true,
        };
        crate::tickets::config_store::insert_rule(conn, &fields, since)?;
        made.rules += 1;
    }
    Ok(())
}

/// The automations, made as drafts: they are activated once the customers are in
/// (`activate_automations`), so none fires at a half-seeded chain.
fn automations(
    conn: &mut PgConnection, templates: &HashMap<TemplateKey, Template>, made: &mut Made,
) -> ApiResult<Vec<Uuid>> {
    let mut ids = Vec::new();
    for key in cat::AUTOMATIONS {
        let template = templates.get(key).ok_or_else(|| ApiError::internal("a demo coupon template is missing"))?;
        let body = cat::automation(*key, template.id);
        let name = body["name"].as_str().unwrap_or_default();
        if let Some(id) = store::campaign_by_name(conn, name)? {
            ids.push(id);
            continue;
        }
        let input: crate::campaigns::api::CampaignInput = serde_json::from_value(body).map_err(ApiError::internal)?;
        let fields = input.fields(None)?;
        crate::campaigns::api::check_references(conn, &fields)?;
        ids.push(crate::campaigns::store::insert(conn, &fields)?.id);
        made.campaigns += 1;
    }
    Ok(ids)
}

/// Makes (or finds) the chain, in the caller's transaction.
pub fn ensure(conn: &mut PgConnection, customers: u32, since: DateTime<Utc>) -> ApiResult<(Chain, Made)> {
    let mut made = Made::default();
    let stores = stores(conn, customers, &mut made)?;
    staff(conn, &stores, &mut made)?;
    let templates = templates(conn, since, &mut made)?;
    lead_rules(conn, &stores, since, &mut made)?;
    routing_rules(conn, since, &mut made)?;
    let automations = automations(conn, &templates, &mut made)?;
    // The dormant-customer message names the usual categories: the chain catalogues its own.
    let categories: Vec<String> = cat::CATEGORIES.iter().map(|c| c.to_string()).collect();
    crate::campaigns::categories::insert(conn, &categories, since)?;
    let program = crate::loyalty::program::load(conn)?;
    let chain = Chain {
        stores,
        templates,
        automations,
        lowest_tier_rate: store::lowest_tier_rate(conn)?,
        tier_validity_days: program.tier_validity_days,
        program: program.rules(),
    };
    Ok((chain, made))
}

/// Activates the automations still in draft (a paused one stays paused: someone paused it).
pub fn activate_automations(conn: &mut PgConnection, ids: &[Uuid], now: DateTime<Utc>) -> ApiResult<usize> {
    use crate::campaigns::rules::{transition, CampaignStatus, Move};
    let mut activated = 0;
    for id in ids {
        let current = crate::campaigns::store::lock(conn, *id)?;
        if current.status != CampaignStatus::Draft {
            continue;
        }
        if let Some(to) = transition(CampaignStatus::Draft, Move::Activate) {
            crate::campaigns::store::set_status(conn, &current, to, now)?;
            activated += 1;
        }
    }
    Ok(activated)
}
