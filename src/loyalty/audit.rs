//! The ledger audit (`GET /v1/loyalty/audit`): re-checks the ledger's invariants for every account
//! with a few set-based statements (one pass over each table, never a query per account), inside
//! one read-only REPEATABLE READ transaction so every check sees the same snapshot.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Uuid as SqlUuid};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiResult;

/// At most this many violations are listed per check; `truncated` tells when there were more.
pub const MAX_VIOLATIONS_PER_CHECK: i64 = 1000;

/// One broken invariant of one account.
#[derive(Debug, Clone, PartialEq, QueryableByName, Serialize, ToSchema)]
#[schema(example = json!({"customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "invariant": "balance_equals_sum_of_deltas", "expected": 1200, "actual": 1207, "entry_id": null, "lot_id": null}))]
pub struct LedgerViolation {
    #[diesel(sql_type = SqlUuid)]
    pub customer_id: Uuid,
    /// `balance_equals_sum_of_deltas`, `balance_equals_lots_minus_debt`, `lot_remaining_within_amount`,
    /// `latest_balance_after_equals_balance`, `no_lots_while_in_debt`, `balance_after_chain` or
    /// `debit_lots_match_delta`.
    #[diesel(sql_type = Text)]
    pub invariant: String,
    /// What the invariant says the value should be.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub expected: Option<i64>,
    /// What is stored.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub actual: Option<i64>,
    /// The entry concerned, for entry-level checks.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub entry_id: Option<i64>,
    /// The lot concerned, for lot-level checks.
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub lot_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"accounts_checked": 1523, "violations": [], "truncated": false}))]
pub struct LedgerAuditReport {
    pub accounts_checked: i64,
    pub violations: Vec<LedgerViolation>,
    /// True when a check found more than 1,000 violations and only the first 1,000 are listed.
    pub truncated: bool,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// (1) balance = Σ delta, (2) balance = Σ lots.remaining − debt, (4) the latest entry's
/// balance_after = balance, (5) debt > 0 ⇒ Σ remaining = 0. One aggregate per table, joined on the
/// customer; an entry or lot without an account counts as an account with balance and debt 0.
const ACCOUNT_CHECKS: &str = r#"
WITH e AS (
    SELECT customer_id, SUM(delta) AS total, MAX(id) AS last_id
    FROM points_entries
    GROUP BY customer_id
), l AS (
    SELECT customer_id, SUM(remaining) AS remaining
    FROM points_lots
    GROUP BY customer_id
), acc AS (
    SELECT COALESCE(a.customer_id, e.customer_id, l.customer_id) AS customer_id,
           COALESCE(a.balance, 0)::numeric AS balance,
           COALESCE(a.debt, 0)::numeric AS debt,
           COALESCE(e.total, 0) AS total,
           last.balance_after::numeric AS last_after,
           COALESCE(l.remaining, 0) AS remaining
    FROM points_accounts a
    FULL JOIN e ON e.customer_id = a.customer_id
    FULL JOIN l ON l.customer_id = COALESCE(a.customer_id, e.customer_id)
    LEFT JOIN points_entries last ON last.customer_id = e.customer_id AND last.id = e.last_id
), v AS (
    SELECT acc.customer_id, c.invariant, c.expected, c.actual
    FROM acc
    CROSS JOIN LATERAL (VALUES
        ('balance_equals_sum_of_deltas', acc.total, acc.balance),
        ('balance_equals_lots_minus_debt', acc.remaining - acc.debt, acc.balance),
        ('latest_balance_after_equals_balance', COALESCE(acc.last_after, acc.balance), acc.balance),
        ('no_lots_while_in_debt', 0::numeric, CASE WHEN acc.debt > 0 THEN acc.remaining ELSE 0 END)
    ) AS c (invariant, expected, actual)
    WHERE c.expected <> c.actual
)
SELECT customer_id, invariant,
       CASE WHEN expected BETWEEN -9223372036854775808 AND 9223372036854775807 THEN expected::bigint END AS expected,
       CASE WHEN actual BETWEEN -9223372036854775808 AND 9223372036854775807 THEN actual::bigint END AS actual,
       NULL::bigint AS entry_id, NULL::uuid AS lot_id
FROM v
ORDER BY customer_id, invariant
LIMIT $1
"#;

/// (3) 0 ≤ remaining ≤ amount for every lot (the table's CHECK says so too; checked anyway).
const LOT_CHECKS: &str = r#"
SELECT customer_id, 'lot_remaining_within_amount' AS invariant,
       CASE WHEN remaining < 0 THEN 0 ELSE amount END AS expected, remaining AS actual,
       NULL::bigint AS entry_id, id AS lot_id
FROM points_lots
WHERE remaining < 0 OR remaining > amount
ORDER BY customer_id, id
LIMIT $1
"#;

/// (6) each entry's balance_after = the previous entry's balance_after (0 before the first) + delta,
/// entries in id order per customer (the account lock makes id order the posting order).
const CHAIN_CHECKS: &str = r#"
SELECT customer_id, 'balance_after_chain' AS invariant, expected, actual, entry_id, NULL::uuid AS lot_id
FROM (
    SELECT customer_id, id AS entry_id, balance_after AS actual,
           COALESCE(lag(balance_after) OVER (PARTITION BY customer_id ORDER BY id), 0) + delta AS expected
    FROM points_entries
) chain
WHERE expected <> actual
ORDER BY customer_id, entry_id
LIMIT $1
"#;

/// (7) a debit that draws from lots (redeem, reward, expire, negative adjust) lists draws that add
/// up to exactly what it took.
const DEBIT_CHECKS: &str = r#"
SELECT e.customer_id, 'debit_lots_match_delta' AS invariant, -e.delta AS expected,
       CASE WHEN COALESCE(d.points, 0) BETWEEN -9223372036854775808 AND 9223372036854775807
            THEN COALESCE(d.points, 0)::bigint END AS actual,
       e.id AS entry_id, NULL::uuid AS lot_id
FROM points_entries e
LEFT JOIN LATERAL (
    SELECT SUM(CASE WHEN jsonb_typeof(x -> 'points') = 'number' THEN (x ->> 'points')::numeric END) AS points
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(e.lots) = 'array' THEN e.lots ELSE '[]'::jsonb END) AS x
) d ON true
WHERE (e.kind IN ('redeem', 'reward', 'expire') OR (e.kind = 'adjust' AND e.delta < 0))
  AND COALESCE(d.points, 0) <> -e.delta::numeric
ORDER BY e.customer_id, e.id
LIMIT $1
"#;

/// Runs every check over every account.
pub fn run(conn: &mut PgConnection) -> ApiResult<LedgerAuditReport> {
    conn.build_transaction().repeatable_read().read_only().run(|conn| {
        let accounts: Count = diesel::sql_query("SELECT count(*) AS n FROM points_accounts").get_result(conn)?;
        let mut violations = Vec::new();
        let mut truncated = false;
        for sql in [ACCOUNT_CHECKS, LOT_CHECKS, CHAIN_CHECKS, DEBIT_CHECKS] {
            let mut found: Vec<LedgerViolation> =
                diesel::sql_query(sql).bind::<BigInt, _>(MAX_VIOLATIONS_PER_CHECK + 1).load(conn)?;
            if found.len() as i64 > MAX_VIOLATIONS_PER_CHECK {
                truncated = true;
                found.truncate(MAX_VIOLATIONS_PER_CHECK as usize);
            }
            violations.extend(found);
        }
        violations
            .sort_by(|a, b| (a.customer_id, &a.invariant, a.entry_id).cmp(&(b.customer_id, &b.invariant, b.entry_id)));
        Ok(LedgerAuditReport { accounts_checked: accounts.n, violations, truncated })
    })
}
