//! Where each table lives on a Citus cluster (SPEC §16), and `retail-crm migrate --distributed`,
//! which puts it there. The same migrations build the same tables on one PostgreSQL; on a Citus
//! coordinator this step then hands them to the workers:
//!
//! - **by customer**: hash-distributed by the customer's id and co-located with `customers`, so one
//!   customer's profile, identities, membership, ledger and messages share a shard and a lookup or a
//!   ledger posting runs on one worker;
//! - **by key**: a routing table, distributed by what arrives without a customer (an identity);
//! - **reference**: configuration, copied to every node, so any shard joins it where it is;
//! - **coordinator**: the service's own bookkeeping (migrations, jobs, the outbox's cursors, reports'
//!   snapshots), small or written by background work only;
//! - **pending**: customer-owned tables whose keys do not carry the customer yet. They stay on the
//!   coordinator until they do, and their foreign keys to distributed tables are dropped there
//!   (Citus allows none from a coordinator table to a distributed one).
//!
//! The step is idempotent: a table already placed is left alone, so it runs again after each
//! migration that adds a table.

use std::collections::BTreeSet;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Distributed by this column (the customer's id, or the owner's: the customer, else the row
    /// itself), co-located with `customers`.
    ByCustomer(&'static str),
    /// Distributed by this column, the key it is looked up by.
    ByKey(&'static str),
    Reference,
    Coordinator,
    /// Stays on the coordinator until its keys carry the customer; says what is missing.
    Pending(&'static str),
}

use Placement::*;

/// The anchor of the co-location group: distributed by its own id.
pub const ANCHOR: &str = "customers";

/// Every table the migrations create, and where it goes.
pub const TABLES: &[(&str, Placement)] = &[
    // the customer and what only the customer owns
    ("customers", ByCustomer("id")),
    ("customer_identities", ByCustomer("customer_id")),
    ("customer_notes", ByCustomer("customer_id")),
    ("customer_tags", ByCustomer("customer_id")),
    ("customer_activity", ByCustomer("customer_id")),
    ("customer_categories", ByCustomer("customer_id")),
    ("customer_rfm", ByCustomer("customer_id")),
    ("customer_facts", ByCustomer("id")),
    ("memberships", ByCustomer("customer_id")),
    ("tier_changes", ByCustomer("customer_id")),
    ("points_accounts", ByCustomer("customer_id")),
    ("points_entries", ByCustomer("customer_id")),
    ("points_lots", ByCustomer("customer_id")),
    ("reward_redemptions", ByCustomer("customer_id")),
    ("campaign_recipients", ByCustomer("customer_id")),
    ("campaign_messages", ByCustomer("customer_id")),
    ("checkout_reservations", ByCustomer("customer_id")),
    // opened for a customer, or for nobody yet: placed by `owner_id` (the customer, else itself)
    ("leads", ByCustomer("owner_id")),
    ("tickets", ByCustomer("owner_id")),
    ("ticket_comments", ByCustomer("owner_id")),
    // routing
    ("identity_routes", ByKey("value")),
    // configuration
    ("stores", Reference),
    ("staff", Reference),
    ("api_clients", Reference),
    ("tiers", Reference),
    ("loyalty_program", Reference),
    ("rewards", Reference),
    ("coupon_templates", Reference),
    ("tags", Reference),
    ("segments", Reference),
    ("campaigns", Reference),
    ("message_categories", Reference),
    ("marketing_settings", Reference),
    ("lead_assignment_rules", Reference),
    ("ticket_routing_rules", Reference),
    ("sla_policies", Reference),
    ("webhook_subscriptions", Reference),
    // the service's bookkeeping
    ("__diesel_schema_migrations", Coordinator),
    ("audit_log", Coordinator),
    ("idempotency_keys", Coordinator),
    ("job_runs", Coordinator),
    ("import_runs", Coordinator),
    ("outbox_followers", Coordinator),
    ("event_sequencer", Coordinator),
    ("campaign_runs", Coordinator),
    ("team_cursors", Coordinator),
    ("webhook_deliveries", Coordinator),
    ("webhook_attempts", Coordinator),
    ("rfm_snapshot", Coordinator),
    ("co_purchases", Coordinator),
    ("sales_daily", Coordinator),
    ("category_sales_daily", Coordinator),
    ("order_baskets", Coordinator),
    // not yet keyed by customer
    ("orders", Pending("owner_id is ready; the natural key is chain-wide until it has its route")),
    ("order_lines", Pending("goes with orders, by owner_id")),
    ("refunds", Pending("goes with orders, by owner_id")),
    ("coupons", Pending("keyed by code alone")),
    ("coupon_redemptions", Pending("keyed by id; the live code is unique chain-wide")),
    ("events", Pending("no customer column; seq is stamped chain-wide")),
];

pub fn placement(table: &str) -> Option<Placement> {
    TABLES.iter().find(|(t, _)| *t == table).map(|(_, p)| *p)
}

fn distributed(p: Placement) -> bool {
    matches!(p, ByCustomer(_) | ByKey(_))
}

/// A foreign key as it stood before its tables moved.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct ForeignKey {
    #[diesel(sql_type = Text)]
    pub table: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub references: String,
    #[diesel(sql_type = Text)]
    pub definition: String,
}

/// Whether Citus keeps this foreign key once both tables are placed: no key crosses between a
/// coordinator table and a distributed one (pending tables lose those until they are distributed).
pub fn kept(fk: &ForeignKey) -> bool {
    let on_coordinator = |p: Option<Placement>| matches!(p, Some(Coordinator | Pending(_)) | None);
    let (from, to) = (placement(&fk.table), placement(&fk.references));
    let into_distributed = on_coordinator(from) && to.is_some_and(distributed);
    let out_of_distributed = from.is_some_and(distributed) && on_coordinator(to);
    !(into_distributed || out_of_distributed)
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The tables of the public schema that no entry of `TABLES` places.
pub fn unplaced(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .load(conn)?;
    Ok(tables.into_iter().map(|t| t.name).filter(|t| placement(t).is_none()).collect())
}

/// What `distribute` did, a line per act.
pub type Report = Vec<String>;

/// Places every table that is not placed yet (the migrations must have run). `shard_count`, when
/// given, is the number of shards of the tables distributed now (Citus's own default otherwise).
pub fn distribute(conn: &mut PgConnection, shard_count: Option<u32>) -> Result<Report, String> {
    fn err(what: &'static str) -> impl Fn(diesel::result::Error) -> String {
        move |e| format!("{what}: {e}")
    }
    let citus: Vec<Count> = diesel::sql_query("SELECT count(*) AS n FROM pg_extension WHERE extname = 'citus'")
        .load(conn)
        .map_err(err("reading the extensions"))?;
    if citus.first().map_or(0, |c| c.n) == 0 {
        return Err("this database is not a Citus coordinator: no citus extension (see scripts/citus-cluster)".into());
    }
    let unknown = unplaced(conn).map_err(err("listing the tables"))?;
    if !unknown.is_empty() {
        return Err(format!("tables with no placement in db::distribution::TABLES: {}", unknown.join(", ")));
    }
    // A coordinator table that a key ties to a reference table is in Citus's metadata as `local`:
    // it counts as placed only once it is what it should be.
    let placed: BTreeSet<String> = diesel::sql_query(
        "SELECT table_name::text AS name FROM citus_tables WHERE citus_table_type IN ('distributed', 'reference')",
    )
    .load::<Name>(conn)
    .map_err(err("reading citus_tables"))?
    .into_iter()
    .map(|n| n.name)
    .collect();
    let to_place: Vec<(&str, Placement)> = TABLES
        .iter()
        .copied()
        .filter(|(_, p)| matches!(p, Reference) || distributed(*p))
        .filter(|(t, _)| !placed.contains(*t))
        .collect();
    let mut report = Report::new();
    if to_place.is_empty() {
        report.push("every table is placed already".into());
        return Ok(report);
    }
    conn.transaction(|conn| {
        // One connection per worker for the whole step: reference tables and the keys that point at
        // them cannot be changed in a transaction that already opened parallel connections.
        conn.batch_execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")?;
        if let Some(n) = shard_count {
            conn.batch_execute(&format!("SET LOCAL citus.shard_count = {n}"))?;
        }
        // Citus distributes a table only when no foreign key ties it to a table it is not moving with:
        // drop every key that touches a table moving now, place them all, then add back what Citus keeps.
        let moving: Vec<&str> = to_place.iter().map(|(t, _)| *t).collect();
        let keys: Vec<ForeignKey> = diesel::sql_query(
            "SELECT conrelid::regclass::text AS table, conname::text AS name, \
                    confrelid::regclass::text AS references, pg_get_constraintdef(oid) AS definition \
             FROM pg_constraint WHERE contype = 'f' \
               AND (conrelid::regclass::text = ANY($1) OR confrelid::regclass::text = ANY($1)) \
             ORDER BY 1, 2",
        )
        .bind::<diesel::sql_types::Array<Text>, _>(&moving)
        .load(conn)?;
        for fk in &keys {
            conn.batch_execute(&format!("ALTER TABLE {} DROP CONSTRAINT {}", fk.table, quoted(&fk.name)))?;
        }
        let order = |p: &Placement| match p {
            Reference => 0,
            ByCustomer(_) => 1,
            _ => 2,
        };
        let mut ordered = to_place.clone();
        // The anchor goes first among the customer's tables: the others co-locate with it.
        ordered.sort_by_key(|(t, p)| (order(p), *t != ANCHOR));
        for (table, p) in ordered {
            let (sql, placed) = match p {
                Reference => (format!("SELECT create_reference_table('{table}')"), "reference table".to_string()),
                ByCustomer(col) => {
                    let with = if table == ANCHOR { String::new() } else { format!(", colocate_with => '{ANCHOR}'") };
                    let sql = format!("SELECT create_distributed_table('{table}', '{col}'{with})");
                    (sql, format!("distributed by {col}, co-located with {ANCHOR}"))
                }
                ByKey(col) => (
                    format!("SELECT create_distributed_table('{table}', '{col}', colocate_with => 'none')"),
                    format!("distributed by {col}"),
                ),
                Coordinator | Pending(_) => continue,
            };
            conn.batch_execute(&sql)?;
            report.push(format!("{table}: {placed}"));
        }
        for fk in &keys {
            if kept(fk) {
                conn.batch_execute(&format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} {}",
                    fk.table,
                    quoted(&fk.name),
                    fk.definition
                ))?;
            } else {
                report.push(format!(
                    "{}: foreign key {} to {} dropped ({} stays on the coordinator)",
                    fk.table, fk.name, fk.references, fk.table
                ));
            }
        }
        Ok::<_, diesel::result::Error>(())
    })
    .map_err(err("distributing"))?;
    for (table, p) in TABLES {
        if let Pending(why) = p {
            report.push(format!("{table}: pending, on the coordinator ({why})"));
        }
    }
    Ok(report)
}

/// A merge's move of a customer's rows the way a distributed table allows: every row of `table`
/// whose `customer_id` is `source` is taken away and written again under `target`, its other
/// `columns` unchanged. `customer_id` (the distribution column) is never updated. Returns the rows moved.
pub fn move_customer_rows(
    conn: &mut PgConnection, table: &'static str, columns: &'static str, source: uuid::Uuid, target: uuid::Uuid,
) -> QueryResult<usize> {
    diesel::sql_query(format!(
        "WITH moved AS (DELETE FROM {table} WHERE customer_id = $1 RETURNING {columns}) \
         INSERT INTO {table} (customer_id, {columns}) SELECT $2, {columns} FROM moved"
    ))
    .bind::<diesel::sql_types::Uuid, _>(source)
    .bind::<diesel::sql_types::Uuid, _>(target)
    .execute(conn)
}

fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fk(table: &str, references: &str) -> ForeignKey {
        ForeignKey { table: table.into(), name: "k".into(), references: references.into(), definition: String::new() }
    }

    #[test]
    fn every_table_is_placed_once() {
        let names: BTreeSet<&str> = TABLES.iter().map(|(t, _)| *t).collect();
        assert_eq!(names.len(), TABLES.len(), "a table is placed twice");
        assert_eq!(placement(ANCHOR), Some(ByCustomer("id")));
    }

    #[test]
    fn a_coordinator_table_keeps_no_key_into_a_distributed_one() {
        assert!(kept(&fk("points_lots", "customers")), "co-located tables keep their keys");
        assert!(kept(&fk("memberships", "tiers")), "a distributed table may point at a reference table");
        assert!(kept(&fk("api_clients", "stores")), "reference to reference");
        assert!(kept(&fk("webhook_attempts", "webhook_deliveries")), "coordinator to coordinator");
        assert!(!kept(&fk("orders", "customers")), "pending tables lose their keys into distributed ones");
        assert!(!kept(&fk("audit_log", "customers")));
        assert!(kept(&fk("orders", "stores")), "a coordinator table may point at a reference table");
        assert!(!kept(&fk("points_lots", "orders")), "nor the other way");
    }
}
