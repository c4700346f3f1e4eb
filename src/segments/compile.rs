//! A segment definition as one SQL boolean expression over `customer_facts c` — each live
//! customer's profile fields and order activity in one row, kept by the outbox follower
//! (`customers::activity`) — so the whole audience is one scan of one table, never a loop over
//! customers in Rust.
//!
//! Every condition is total: a customer without the value (no birthday, no orders, no membership)
//! does not match it, and `not` of a condition is exactly the customers who do not match it.
//! `ne` and `not_in` are `not` of `eq` and `in`.
//!
//! A customer without orders has no activity in their row and counts as zero orders, a prospect.
//! Points come from the ledger's lots; where the condition also holds for a customer without
//! points (`points_available lt 100`), the query keeps everyone except those whose lots fail it.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::definition::{Condition, Field, Node, Op, Operand};
use crate::customers::activity::{orders_between_sql, spend_between_sql, stage_of_sql};

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Texts(Vec<String>),
    Integer(i64),
    Money(Decimal),
    Date(NaiveDate),
    Instant(DateTime<Utc>),
    Id(Uuid),
    Ids(Vec<Uuid>),
    Flag(bool),
}

/// SQL text with its placeholders' values, `$1` first.
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    pub text: String,
    pub params: Vec<Param>,
}

/// Where a definition is evaluated: the business day and zone, and the instant (points that have
/// become available by then).
#[derive(Debug, Clone, Copy)]
pub struct Evaluation {
    pub today: NaiveDate,
    pub now: DateTime<Utc>,
    pub zone: chrono_tz::Tz,
}

/// What a statement over the audience selects from: one row per live customer.
pub const FACTS: &str = "customer_facts c";

const TODAY: &str = "$1::date";
const ZONE: &str = "$2::text";
const NOW: &str = "$3::timestamptz";

/// Compiles definitions against one evaluation; the placeholders of every expression it returns
/// share one parameter list.
pub struct Compiler {
    params: Vec<Param>,
    today: NaiveDate,
    /// The placeholder of the id a statement reads after (`c.id > after`), if any.
    after: Option<String>,
}

impl Compiler {
    pub fn new(at: Evaluation) -> Compiler {
        Compiler {
            params: vec![Param::Date(at.today), Param::Text(at.zone.name().to_string()), Param::Instant(at.now)],
            today: at.today,
            after: None,
        }
    }

    /// Adds a value of the caller's own (a cursor, a limit) and returns its placeholder.
    pub fn bind(&mut self, param: Param) -> String {
        let cast = match &param {
            Param::Text(_) => "text",
            Param::Texts(_) => "text[]",
            Param::Integer(_) => "bigint",
            Param::Money(_) => "numeric",
            Param::Date(_) => "date",
            Param::Instant(_) => "timestamptz",
            Param::Id(_) => "uuid",
            Param::Ids(_) => "uuid[]",
            Param::Flag(_) => "boolean",
        };
        self.params.push(param);
        format!("${}::{cast}", self.params.len())
    }

    /// Binds the id a statement walks on from (`c.id > after`, returned) before its conditions
    /// are compiled: their subqueries then start there too. PostgreSQL does not carry a range on
    /// `c.id` over to the `customer_id` of a subquery, so a batch deep into a campaign would
    /// otherwise merge its tags from the first customer on, every batch.
    pub fn start_after(&mut self, id: Uuid) -> String {
        let placeholder = self.bind(Param::Id(id));
        self.after = Some(placeholder.clone());
        placeholder
    }

    /// `AND column > after` when the statement reads after an id.
    fn past_cursor(&self, column: &str) -> String {
        self.after.as_ref().map(|after| format!(" AND {column} > {after}")).unwrap_or_default()
    }

    /// Finishes a statement whose text uses the placeholders handed out so far.
    pub fn finish(self, text: String) -> Sql {
        Sql { text, params: self.params }
    }

    /// The node as a boolean expression over `c`.
    pub fn node(&mut self, node: &Node) -> String {
        match node {
            Node::All(children) => self.join(children, " AND "),
            Node::Any(children) => self.join(children, " OR "),
            Node::Not(inner) => format!("NOT ({})", self.node(inner)),
            Node::Condition(condition) => self.condition(condition),
        }
    }

    fn join(&mut self, children: &[Node], with: &str) -> String {
        let parts: Vec<String> = children.iter().map(|c| format!("({})", self.node(c))).collect();
        parts.join(with)
    }

    fn condition(&mut self, condition: &Condition) -> String {
        let positive = match condition.op {
            Op::Ne => Op::Eq,
            Op::NotIn => Op::In,
            other => other,
        };
        let expression = self.positive(&Condition { op: positive, ..condition.clone() });
        if positive == condition.op {
            expression
        } else {
            format!("NOT ({expression})")
        }
    }

    /// A condition whose operator is neither `ne` nor `not_in`.
    fn positive(&mut self, c: &Condition) -> String {
        match c.field {
            Field::City => self.column("c.city", c),
            Field::District => self.column("c.district", c),
            Field::Gender => self.column("c.gender", c),
            Field::SourceChannel => self.column("c.source_channel", c),
            Field::HomeStoreId => self.column("c.home_store_id", c),
            Field::Tier => self.related("SELECT customer_id FROM memberships", "tier_code", c),
            Field::Tags => self.related("SELECT customer_id FROM customer_tags", "tag", c),
            Field::Age => self.age(c),
            Field::BirthdayInDays => self.compare(&birthday_in_days_sql("c.birthday", TODAY), c),
            Field::RegisteredAt => self.compare(&format!("(c.created_at AT TIME ZONE {ZONE})::date"), c),
            Field::Consent(kind) => {
                let wanted = matches!(c.value, Operand::Flag(true));
                format!("c.consent_{} = {wanted}", kind.as_str())
            }
            Field::DaysSinceLastOrder => self.compare(&format!("({TODAY} - c.last_order_on)::bigint"), c),
            Field::OrderCount | Field::Spend => {
                let count = c.field == Field::OrderCount;
                let value = match (c.window_days, count) {
                    (None, true) => "c.orders::bigint".to_string(),
                    (None, false) => "c.spend".to_string(),
                    (Some(days), true) => {
                        format!("{}::bigint", orders_between_sql("c", &format!("({TODAY} - {days})"), TODAY))
                    }
                    (Some(days), false) => spend_between_sql("c", &format!("({TODAY} - {days})"), TODAY),
                };
                // A customer without orders has none in any window.
                self.compare(&format!("coalesce({value}, 0)"), c)
            }
            Field::PointsAvailable => {
                let source = format!(
                    "SELECT pa.customer_id, greatest(coalesce(l.live, 0) - pa.debt, 0)::numeric AS v
                     FROM points_accounts pa
                     LEFT JOIN (SELECT customer_id, sum(remaining) AS live FROM points_lots
                                WHERE remaining > 0 AND available_at <= {NOW} AND expires_at > {NOW}
                                GROUP BY customer_id) l ON l.customer_id = pa.customer_id"
                );
                self.aggregate(&source, c, &Operand::Integer(0))
            }
            Field::LifecycleStage => self.compare(&stage_of_sql("c", TODAY), c),
            Field::RfmR => self.compare("c.rfm_r", c),
            Field::RfmF => self.compare("c.rfm_f", c),
            Field::RfmM => self.compare("c.rfm_m", c),
            Field::RfmSegment => self.column("c.rfm_segment", c),
            Field::BoughtCategory => {
                let window = c.window_days.map(|d| format!(" AND last_bought_on > {TODAY} - {d}")).unwrap_or_default();
                let categories = self.list(&c.value);
                let after = self.past_cursor("customer_id");
                format!(
                    "c.id IN (SELECT customer_id FROM customer_categories WHERE category = ANY({categories}){window}{after})"
                )
            }
        }
    }

    /// Age in whole years today, as bounds on the birthday (two date comparisons per customer,
    /// not an interval computed for each): `age >= n` is born on or before today n years ago.
    fn age(&mut self, c: &Condition) -> String {
        let today = self.today;
        let mut born_by = |years: i64| {
            let back = chrono::Months::new((years.clamp(0, 150) * 12) as u32);
            self.bind(Param::Date(today.checked_sub_months(back).unwrap_or(today)))
        };
        let test = match (c.op, &c.value) {
            (Op::Eq, Operand::Integer(n)) => {
                format!("c.birthday <= {} AND c.birthday > {}", born_by(*n), born_by(n + 1))
            }
            (Op::Gt, Operand::Integer(n)) => format!("c.birthday <= {}", born_by(n + 1)),
            (Op::Gte, Operand::Integer(n)) => format!("c.birthday <= {}", born_by(*n)),
            (Op::Lt, Operand::Integer(n)) => format!("c.birthday > {}", born_by(*n)),
            (Op::Lte, Operand::Integer(n)) => format!("c.birthday > {}", born_by(n + 1)),
            (Op::Between, Operand::Integers(a, b)) => {
                format!("c.birthday <= {} AND c.birthday > {}", born_by(*a), born_by(b + 1))
            }
            _ => "false".to_string(),
        };
        format!("coalesce({test}, false)")
    }

    /// A column of the customer's own row.
    fn column(&mut self, column: &str, c: &Condition) -> String {
        match (&c.op, &c.value) {
            (Op::Exists, Operand::Present(true)) => format!("{column} IS NOT NULL"),
            (Op::Exists, _) => format!("{column} IS NULL"),
            (Op::In, value) => format!("coalesce({column} = ANY({}), false)", self.list(value)),
            (Op::Contains, Operand::Text(t)) => {
                let pattern = self.bind(Param::Text(crate::customers::rules::like_pattern(t)));
                format!("coalesce({column} ILIKE {pattern}, false)")
            }
            (_, value) => format!("coalesce({column} = {}, false)", self.scalar(value)),
        }
    }

    /// A fact held in another table, one row per (customer, value): tier, tags.
    fn related(&mut self, rows: &str, column: &str, c: &Condition) -> String {
        let after = self.past_cursor("customer_id");
        match (&c.op, &c.value) {
            (Op::Exists, Operand::Present(present)) => {
                let negate = if *present { "" } else { "NOT " };
                format!("{negate}c.id IN ({rows} WHERE true{after})")
            }
            (_, value) => format!("c.id IN ({rows} WHERE {column} = ANY({}){after})", self.list(value)),
        }
    }

    /// A value computed from the customer's row, compared; no value never matches.
    fn compare(&mut self, expression: &str, c: &Condition) -> String {
        format!("coalesce({}, false)", self.comparison(expression, c.op, &c.value))
    }

    /// A value per customer from `source` (`customer_id`, `v`); `missing` is the value of a
    /// customer without a row there.
    fn aggregate(&mut self, source: &str, c: &Condition, missing: &Operand) -> String {
        let test = self.comparison("s.v", c.op, &c.value);
        let after = self.past_cursor("s.customer_id");
        if holds(c.op, &c.value, missing) {
            format!("c.id NOT IN (SELECT s.customer_id FROM ({source}) s WHERE NOT ({test}){after})")
        } else {
            format!("c.id IN (SELECT s.customer_id FROM ({source}) s WHERE {test}{after})")
        }
    }

    fn comparison(&mut self, expression: &str, op: Op, value: &Operand) -> String {
        let sign = match op {
            Op::Eq => "=",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Lt => "<",
            Op::Lte => "<=",
            Op::In => return format!("{expression} = ANY({})", self.list(value)),
            Op::Between => {
                let (low, high) = match value {
                    Operand::Integers(a, b) => (Operand::Integer(*a), Operand::Integer(*b)),
                    Operand::Monies(a, b) => (Operand::Money(*a), Operand::Money(*b)),
                    Operand::Dates(a, b) => (Operand::Date(*a), Operand::Date(*b)),
                    other => (other.clone(), other.clone()),
                };
                return format!("{expression} BETWEEN {} AND {}", self.scalar(&low), self.scalar(&high));
            }
            Op::Ne | Op::NotIn | Op::Contains | Op::Exists => "=",
        };
        format!("{expression} {sign} {}", self.scalar(value))
    }

    fn scalar(&mut self, value: &Operand) -> String {
        let param = match value {
            Operand::Text(t) => Param::Text(t.clone()),
            Operand::Integer(n) => Param::Integer(*n),
            Operand::Money(m) => Param::Money(*m),
            Operand::Date(d) => Param::Date(*d),
            Operand::Id(id) => Param::Id(*id),
            Operand::Flag(b) | Operand::Present(b) => Param::Flag(*b),
            Operand::Texts(_) | Operand::Ids(_) | Operand::Integers(..) | Operand::Monies(..) | Operand::Dates(..) => {
                return self.list(value)
            }
        };
        self.bind(param)
    }

    fn list(&mut self, value: &Operand) -> String {
        let param = match value {
            Operand::Texts(items) => Param::Texts(items.clone()),
            Operand::Ids(items) => Param::Ids(items.clone()),
            Operand::Text(t) => Param::Texts(vec![t.clone()]),
            Operand::Id(id) => Param::Ids(vec![*id]),
            other => return self.scalar(other),
        };
        self.bind(param)
    }
}

/// Whether a comparison holds for a value (the value of a customer without history).
fn holds(op: Op, expected: &Operand, actual: &Operand) -> bool {
    let number = |o: &Operand| match o {
        Operand::Integer(n) => Some(Decimal::from(*n)),
        Operand::Money(m) => Some(*m),
        _ => None,
    };
    match (op, expected, actual) {
        (Op::In, Operand::Texts(set), Operand::Text(t)) => set.contains(t),
        (Op::Eq, Operand::Text(e), Operand::Text(t)) => e == t,
        (Op::Between, Operand::Integers(a, b), v) => {
            number(v).is_some_and(|v| Decimal::from(*a) <= v && v <= Decimal::from(*b))
        }
        (Op::Between, Operand::Monies(a, b), v) => number(v).is_some_and(|v| *a <= v && v <= *b),
        (op, e, v) => match (number(e), number(v)) {
            (Some(e), Some(v)) => match op {
                Op::Eq => v == e,
                Op::Gt => v > e,
                Op::Gte => v >= e,
                Op::Lt => v < e,
                Op::Lte => v <= e,
                _ => false,
            },
            _ => false,
        },
    }
}

/// Days from `day` to the next birthday (0 on the day itself); a 29 February birthday falls on
/// 28 February in other years.
pub fn birthday_in_days_sql(birthday: &str, day: &str) -> String {
    let on = |extra: &str| {
        format!("({birthday} + make_interval(years => (date_part('year', {day}) - date_part('year', {birthday}))::int{extra}))::date")
    };
    format!("CASE WHEN {this} >= {day} THEN {this} - {day} ELSE {next} - {day} END", this = on(""), next = on(" + 1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_without_history_is_judged_by_the_value_zero() {
        let zero = Operand::Integer(0);
        assert!(holds(Op::Lt, &Operand::Integer(2), &zero));
        assert!(holds(Op::Eq, &Operand::Integer(0), &zero));
        assert!(holds(Op::Lte, &Operand::Money(Decimal::new(5000, 2)), &zero));
        assert!(holds(Op::Between, &Operand::Integers(0, 3), &zero));
        assert!(!holds(Op::Gte, &Operand::Integer(1), &zero));
        assert!(!holds(Op::Between, &Operand::Monies(Decimal::ONE, Decimal::TEN), &zero));
        let prospect = Operand::Text("prospect".into());
        assert!(holds(Op::In, &Operand::Texts(vec!["new".into(), "prospect".into()]), &prospect));
        assert!(!holds(Op::Eq, &Operand::Text("dormant".into()), &prospect));
    }
}
