//! The segment definition language of SPEC §9, parsed and checked into a typed tree.
//!
//! A node is `{"all": [node, ...]}`, `{"any": [node, ...]}`, `{"not": node}` or a condition
//! `{"field", "op", "value"}` (+ `"window_days"` on order-history fields). Every mistake is
//! reported with its path in the tree, e.g. `definition.all[1].op`, so a marketer's tool can point
//! at it. Pure: no I/O.

use crate::customers::rules::ConsentKind;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::customers::lifecycle::LifecycleStage;

mod schema;

pub use schema::json_schemas;

pub const MAX_DEPTH: usize = 8;
pub const MAX_CONDITIONS: usize = 100;
/// Order-history windows reach back at most ten years.
pub const MAX_WINDOW_DAYS: i64 = 3650;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Condition(Condition),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: Field,
    pub op: Op,
    pub value: Operand,
    /// Only on order-history fields: the last N days (today included); absent = all time.
    pub window_days: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Tier,
    Tags,
    City,
    District,
    Gender,
    Age,
    BirthdayInDays,
    RegisteredAt,
    HomeStoreId,
    SourceChannel,
    Consent(ConsentKind),
    DaysSinceLastOrder,
    OrderCount,
    Spend,
    BoughtCategory,
    PointsAvailable,
    LifecycleStage,
    /// The latest RFM snapshot's scores (1–5) and segment (SPEC §13).
    RfmR,
    RfmF,
    RfmM,
    RfmSegment,
}

/// What a field holds, which decides the operators and values it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Free text: city, district.
    Text,
    /// One of a known set (gender, channel, lifecycle stage) or a code (tier).
    Code,
    /// A set of names: tags.
    Set,
    /// Categories bought, over a window.
    Bought,
    Integer,
    Money,
    Date,
    Id,
    Flag,
}

const FIELDS: &[(&str, Field)] = &[
    ("tier", Field::Tier),
    ("tags", Field::Tags),
    ("city", Field::City),
    ("district", Field::District),
    ("gender", Field::Gender),
    ("age", Field::Age),
    ("birthday_in_days", Field::BirthdayInDays),
    ("registered_at", Field::RegisteredAt),
    ("home_store_id", Field::HomeStoreId),
    ("source_channel", Field::SourceChannel),
    ("consent.marketing_sms", Field::Consent(ConsentKind::MarketingSms)),
    ("consent.marketing_email", Field::Consent(ConsentKind::MarketingEmail)),
    ("consent.marketing_wechat", Field::Consent(ConsentKind::MarketingWechat)),
    ("days_since_last_order", Field::DaysSinceLastOrder),
    ("order_count", Field::OrderCount),
    ("spend", Field::Spend),
    ("bought_category", Field::BoughtCategory),
    ("points_available", Field::PointsAvailable),
    ("lifecycle_stage", Field::LifecycleStage),
    ("rfm.r", Field::RfmR),
    ("rfm.f", Field::RfmF),
    ("rfm.m", Field::RfmM),
    ("rfm.segment", Field::RfmSegment),
];

impl Field {
    fn kind(self) -> Kind {
        match self {
            Field::City | Field::District => Kind::Text,
            Field::Tier | Field::Gender | Field::SourceChannel | Field::LifecycleStage | Field::RfmSegment => {
                Kind::Code
            }
            Field::Tags => Kind::Set,
            Field::BoughtCategory => Kind::Bought,
            Field::Age
            | Field::BirthdayInDays
            | Field::DaysSinceLastOrder
            | Field::OrderCount
            | Field::PointsAvailable
            | Field::RfmR
            | Field::RfmF
            | Field::RfmM => Kind::Integer,
            Field::Spend => Kind::Money,
            Field::RegisteredAt => Kind::Date,
            Field::HomeStoreId => Kind::Id,
            Field::Consent(_) => Kind::Flag,
        }
    }

    /// Fields that read the order history take a window.
    pub fn takes_window(self) -> bool {
        matches!(self, Field::OrderCount | Field::Spend | Field::BoughtCategory)
    }

    /// The values a code field accepts; `None` when any code is accepted (tiers are configured).
    fn codes(self) -> Option<Vec<&'static str>> {
        match self {
            Field::Gender => Some(crate::customers::rules::Gender::NAMES.to_vec()),
            Field::SourceChannel => Some(crate::stores::SalesChannel::NAMES.to_vec()),
            Field::LifecycleStage => Some(LifecycleStage::ALL.iter().map(|s| s.as_str()).collect()),
            Field::RfmSegment => Some(crate::customers::rfm::segments().collect()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    In,
    NotIn,
    Gt,
    Gte,
    Lt,
    Lte,
    Between,
    Contains,
    Exists,
}

const OPS: &[(&str, Op)] = &[
    ("eq", Op::Eq),
    ("ne", Op::Ne),
    ("in", Op::In),
    ("not_in", Op::NotIn),
    ("gt", Op::Gt),
    ("gte", Op::Gte),
    ("lt", Op::Lt),
    ("lte", Op::Lte),
    ("between", Op::Between),
    ("contains", Op::Contains),
    ("exists", Op::Exists),
];

/// The operators a field takes: its kind's, except that every customer has a lifecycle stage.
fn field_ops(field: Field) -> Vec<Op> {
    ops_of(field.kind()).iter().copied().filter(|o| !(field == Field::LifecycleStage && *o == Op::Exists)).collect()
}

fn ops_of(kind: Kind) -> &'static [Op] {
    use Op::*;
    match kind {
        Kind::Text => &[Eq, Ne, In, NotIn, Contains, Exists],
        Kind::Code => &[Eq, Ne, In, NotIn, Exists],
        Kind::Set => &[Contains, In, NotIn, Exists],
        Kind::Bought => &[Eq, Ne, In, NotIn],
        Kind::Integer | Kind::Money | Kind::Date => &[Eq, Ne, Gt, Gte, Lt, Lte, Between],
        Kind::Id => &[Eq, Ne, In, NotIn, Exists],
        Kind::Flag => &[Eq],
    }
}

/// A condition's value, typed by its field and operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `exists`: whether the field has a value.
    Present(bool),
    Text(String),
    Texts(Vec<String>),
    Integer(i64),
    Integers(i64, i64),
    Money(Decimal),
    Monies(Decimal, Decimal),
    Date(NaiveDate),
    Dates(NaiveDate, NaiveDate),
    Id(Uuid),
    Ids(Vec<Uuid>),
    Flag(bool),
}

/// A mistake in a definition: where, and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Mistake {
    pub path: String,
    pub message: String,
}

fn mistake(path: &str, message: impl Into<String>) -> Mistake {
    Mistake { path: path.to_string(), message: message.into() }
}

/// Parses and checks a definition; `path` names its root (`definition`).
pub fn parse(value: &Value, path: &str) -> Result<Node, Mistake> {
    let mut conditions = 0;
    parse_node(value, path, 1, &mut conditions)
}

fn parse_node(value: &Value, path: &str, depth: usize, conditions: &mut usize) -> Result<Node, Mistake> {
    if depth > MAX_DEPTH {
        return Err(mistake(path, format!("nested deeper than {MAX_DEPTH} levels")));
    }
    let Some(object) = value.as_object() else {
        return Err(mistake(path, "must be an object: all, any, not or a condition"));
    };
    if object.contains_key("field") {
        *conditions += 1;
        if *conditions > MAX_CONDITIONS {
            return Err(mistake(path, format!("more than {MAX_CONDITIONS} conditions")));
        }
        return parse_condition(object, path).map(Node::Condition);
    }
    let [(key, inner)] = object.iter().collect::<Vec<_>>()[..] else {
        return Err(mistake(path, "a node has exactly one of all, any or not, or is a condition with a field"));
    };
    let inner_path = format!("{path}.{key}");
    match key.as_str() {
        "all" | "any" => {
            let Some(items) = inner.as_array().filter(|items| !items.is_empty()) else {
                return Err(mistake(&inner_path, "must be a non-empty list of nodes"));
            };
            let nodes = items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_node(item, &format!("{inner_path}[{i}]"), depth + 1, conditions))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if key == "all" { Node::All(nodes) } else { Node::Any(nodes) })
        }
        "not" => Ok(Node::Not(Box::new(parse_node(inner, &inner_path, depth + 1, conditions)?))),
        other => Err(mistake(&inner_path, format!("unknown node '{other}': use all, any, not or a condition"))),
    }
}

fn parse_condition(object: &Map<String, Value>, path: &str) -> Result<Condition, Mistake> {
    if let Some(unknown) = object.keys().find(|k| !["field", "op", "value", "window_days"].contains(&k.as_str())) {
        return Err(mistake(
            &format!("{path}.{unknown}"),
            "unknown key: a condition has field, op, value, window_days",
        ));
    }
    let field_path = format!("{path}.field");
    let name = object.get("field").and_then(Value::as_str).ok_or_else(|| mistake(&field_path, "must be a string"))?;
    let field = FIELDS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f).ok_or_else(|| {
        let known: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
        mistake(&field_path, format!("unknown field '{name}': use one of {}", known.join(", ")))
    })?;
    let op_path = format!("{path}.op");
    let op_name = object.get("op").and_then(Value::as_str).ok_or_else(|| mistake(&op_path, "must be a string"))?;
    let op = OPS.iter().find(|(n, _)| *n == op_name).map(|(_, o)| *o);
    let allowed = field_ops(field);
    let op = op.filter(|o| allowed.contains(o)).ok_or_else(|| {
        let names: Vec<&str> =
            allowed.iter().filter_map(|o| OPS.iter().find(|(_, x)| x == o).map(|(n, _)| *n)).collect();
        mistake(&op_path, format!("'{op_name}' does not fit field '{name}': use {}", names.join(", ")))
    })?;
    let window_days =
        match object.get("window_days") {
            None | Some(Value::Null) => None,
            Some(w) => {
                let window_path = format!("{path}.window_days");
                if !field.takes_window() {
                    return Err(mistake(&window_path, format!("'{name}' does not take a window")));
                }
                let days = crate::http::whole_number_in(w).filter(|d| (1..=MAX_WINDOW_DAYS).contains(d));
                Some(days.ok_or_else(|| {
                    mistake(&window_path, format!("must be a whole number of days, 1-{MAX_WINDOW_DAYS}"))
                })?)
            }
        };
    let value = parse_value(field, op, object.get("value"), &format!("{path}.value"))?;
    Ok(Condition { field, op, value, window_days })
}

fn parse_value(field: Field, op: Op, value: Option<&Value>, path: &str) -> Result<Operand, Mistake> {
    if op == Op::Exists {
        return match value {
            None => Ok(Operand::Present(true)),
            Some(Value::Bool(b)) => Ok(Operand::Present(*b)),
            Some(_) => Err(mistake(path, "exists takes true, false or no value")),
        };
    }
    let value = value.filter(|v| !v.is_null()).ok_or_else(|| mistake(path, "is required"))?;
    let kind = field.kind();
    match op {
        Op::Between => {
            let pair =
                value.as_array().filter(|a| a.len() == 2).ok_or_else(|| mistake(path, "between takes [low, high]"))?;
            let low = scalar(field, kind, &pair[0], &format!("{path}[0]"))?;
            let high = scalar(field, kind, &pair[1], &format!("{path}[1]"))?;
            let range = match (low, high) {
                (Operand::Integer(a), Operand::Integer(b)) if a <= b => Operand::Integers(a, b),
                (Operand::Money(a), Operand::Money(b)) if a <= b => Operand::Monies(a, b),
                (Operand::Date(a), Operand::Date(b)) if a <= b => Operand::Dates(a, b),
                _ => return Err(mistake(path, "low must not be above high")),
            };
            Ok(range)
        }
        Op::In | Op::NotIn => {
            let items = value
                .as_array()
                .filter(|a| !a.is_empty() && a.len() <= 1000)
                .ok_or_else(|| mistake(path, "must be a list of 1-1000 values"))?;
            let parsed = items
                .iter()
                .enumerate()
                .map(|(i, item)| scalar(field, kind, item, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            if kind == Kind::Id {
                let ids = parsed.into_iter().filter_map(|o| if let Operand::Id(id) = o { Some(id) } else { None });
                return Ok(Operand::Ids(ids.collect()));
            }
            let texts = parsed.into_iter().filter_map(|o| if let Operand::Text(t) = o { Some(t) } else { None });
            Ok(Operand::Texts(texts.collect()))
        }
        _ => scalar(field, kind, value, path),
    }
}

fn scalar(field: Field, kind: Kind, value: &Value, path: &str) -> Result<Operand, Mistake> {
    match kind {
        Kind::Text | Kind::Set | Kind::Bought | Kind::Code => {
            let text = value
                .as_str()
                .map(str::trim)
                .filter(|t| !t.is_empty() && t.chars().count() <= 200)
                .ok_or_else(|| mistake(path, "must be a string of 1-200 characters"))?;
            if let Some(codes) = field.codes() {
                if !codes.contains(&text) {
                    return Err(mistake(path, format!("'{text}' is not one of {}", codes.join(", "))));
                }
            }
            Ok(Operand::Text(text.to_string()))
        }
        Kind::Integer => {
            let n = crate::http::whole_number_in(value).filter(|n| (0..=1_000_000_000).contains(n));
            Ok(Operand::Integer(n.ok_or_else(|| mistake(path, "must be a whole number, 0 or more"))?))
        }
        Kind::Money => {
            // Money is a string everywhere in the API (SPEC §2).
            let parsed = value.as_str().and_then(|s| s.parse::<Decimal>().ok());
            let amount = parsed
                .filter(|d| *d >= Decimal::ZERO && d.scale() <= 2 && *d < Decimal::from(1_000_000_000_000i64))
                .ok_or_else(|| mistake(path, "must be an amount such as \"300.00\", 0 or more"))?;
            Ok(Operand::Money(amount))
        }
        Kind::Date => {
            let date = value.as_str().and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
            Ok(Operand::Date(date.ok_or_else(|| mistake(path, "must be a date, YYYY-MM-DD"))?))
        }
        Kind::Id => {
            let id = value.as_str().and_then(|s| Uuid::parse_str(s).ok());
            Ok(Operand::Id(id.ok_or_else(|| mistake(path, "must be a store id (UUID)"))?))
        }
        Kind::Flag => Ok(Operand::Flag(value.as_bool().ok_or_else(|| mistake(path, "must be true or false"))?)),
    }
}

/// The top-level conditions in the order a preview narrows by them: the children of a root `all`
/// or `any`, or the root alone.
pub fn top_level(node: &Node) -> Vec<&Node> {
    match node {
        Node::All(children) | Node::Any(children) => children.iter().collect(),
        other => vec![other],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(definition: Value) -> Mistake {
        parse(&definition, "definition").expect_err("should be refused")
    }

    #[test]
    fn mistakes_name_their_path() {
        let table = [
            (
                json!({"all": [{"field": "city", "op": "eq", "value": "上海"}, {"field": "age", "op": "contains", "value": 3}]}),
                "definition.all[1].op",
            ),
            (json!({"all": [{"field": "colour", "op": "eq", "value": "red"}]}), "definition.all[0].field"),
            (json!({"any": [{"field": "age", "op": "gt", "value": "thirty"}]}), "definition.any[0].value"),
            (json!({"not": {"field": "gender", "op": "eq", "value": "other"}}), "definition.not.value"),
            (json!({"all": []}), "definition.all"),
            (json!({"both": []}), "definition.both"),
            (json!({"field": "city", "op": "eq", "value": "x", "window_days": 30}), "definition.window_days"),
            (json!({"field": "spend", "op": "gte", "value": "300.00", "window_days": 0}), "definition.window_days"),
            (json!({"field": "spend", "op": "gte", "value": "3.001"}), "definition.value"),
            (json!({"field": "age", "op": "between", "value": [40, 30]}), "definition.value"),
            (json!({"field": "age", "op": "between", "value": [30]}), "definition.value"),
            (json!({"field": "home_store_id", "op": "in", "value": ["nope"]}), "definition.value[0]"),
            (json!({"field": "consent.marketing_sms", "op": "eq", "value": "yes"}), "definition.value"),
            (json!({"field": "city", "op": "eq"}), "definition.value"),
            (json!({"field": "city", "op": "exists", "value": 1}), "definition.value"),
            (json!({"field": "city", "op": "eq", "value": "x", "extra": 1}), "definition.extra"),
            (json!([1]), "definition"),
            (json!({"field": "lifecycle_stage", "op": "exists"}), "definition.op"),
        ];
        for (definition, path) in table {
            assert_eq!(err(definition.clone()).path, path, "{definition}");
        }
    }

    #[test]
    fn depth_eight_is_allowed_and_nine_is_not() {
        let mut node = json!({"field": "city", "op": "eq", "value": "上海"});
        for _ in 0..7 {
            node = json!({"not": node});
        }
        assert!(parse(&node, "definition").is_ok(), "8 levels");
        let nine = json!({"not": node});
        assert!(err(nine).message.contains("deeper than 8"));
    }

    #[test]
    fn a_hundred_conditions_are_allowed_and_a_hundred_and_one_are_not() {
        let condition = json!({"field": "age", "op": "gte", "value": 18});
        let hundred = json!({"any": vec![condition.clone(); 100]});
        assert!(parse(&hundred, "definition").is_ok());
        let more = json!({"any": vec![condition; 101]});
        assert_eq!(err(more).path, "definition.any[100]");
    }

    #[test]
    fn values_take_the_type_of_their_field() {
        let node = parse(
            &json!({"all": [
                {"field": "spend", "op": "between", "value": ["300.00", "500"], "window_days": 90},
                {"field": "lifecycle_stage", "op": "in", "value": ["dormant", "churn_risk"]},
                {"field": "tier", "op": "exists"},
                {"field": "registered_at", "op": "lt", "value": "2026-01-01"}
            ]}),
            "definition",
        )
        .unwrap();
        let Node::All(children) = node else { panic!("all") };
        let values: Vec<Operand> =
            children.into_iter().map(|c| if let Node::Condition(c) = c { c.value } else { panic!() }).collect();
        assert_eq!(values[0], Operand::Monies(Decimal::new(30000, 2), Decimal::from(500)));
        assert_eq!(values[1], Operand::Texts(vec!["dormant".into(), "churn_risk".into()]));
        assert_eq!(values[2], Operand::Present(true));
        assert_eq!(values[3], Operand::Date(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()));
    }
}
