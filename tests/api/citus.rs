//! The service's tables on a Citus cluster (SPEC §16). These tests start their own coordinator and
//! two workers with `scripts/citus-cluster` where Citus is installed into the server's PostgreSQL
//! (`scripts/citus-build SRC_DIR`); elsewhere each says why in one line and passes.

use std::path::{Path, PathBuf};
use std::process::Command;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use retail_crm::db::distribution::{self, Placement, ANCHOR, TABLES};

/// A cluster of this test process, stopped and deleted when dropped.
struct Cluster {
    dir: PathBuf,
    url: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/citus-cluster")
}

/// Citus installed into one of the machine's PostgreSQL versions (where `scripts/citus-build` puts it).
fn citus_installed() -> bool {
    let versions = std::fs::read_dir("/usr/lib/postgresql").into_iter().flatten().flatten();
    versions.into_iter().any(|version| version.path().join("lib/citus.so").exists())
}

impl Cluster {
    fn start(name: &str, port_base: u16) -> Option<Cluster> {
        if !citus_installed() {
            eprintln!("skipped: Citus is not installed into this machine's PostgreSQL (scripts/citus-build SRC_DIR)");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("retail-crm-{name}-{}", std::process::id()));
        let out = Command::new(script())
            .arg("start")
            .arg(&dir)
            .env("CITUS_PORT_BASE", port_base.to_string())
            .env("CITUS_DB", "crm")
            .output()
            .expect("running scripts/citus-cluster");
        let mut cluster = Cluster { dir, url: String::new() };
        assert!(out.status.success(), "the cluster did not start: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        cluster.url = stdout.trim().strip_prefix("DATABASE_URL=").expect("the script prints DATABASE_URL=").to_string();
        Some(cluster)
    }

    fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).unwrap_or_else(|e| panic!("connecting to {}: {e}", self.url))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(&self.dir).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(QueryableByName, Debug)]
struct CitusTable {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    column: Option<String>,
    #[diesel(sql_type = BigInt)]
    colocation: i64,
    #[diesel(sql_type = BigInt)]
    shards: i64,
}

fn citus_tables(conn: &mut PgConnection) -> Vec<CitusTable> {
    diesel::sql_query(
        "SELECT table_name::text AS name, citus_table_type AS kind, \
                nullif(distribution_column, '<none>') AS column, colocation_id::int8 AS colocation, \
                shard_count::int8 AS shards \
         FROM citus_tables",
    )
    .load(conn)
    .expect("citus_tables")
}

#[test]
fn migrate_distributed_places_every_table_where_the_classification_says_and_runs_again_as_a_no_op() {
    let Some(cluster) = Cluster::start("placement", 9760) else { return };
    let mut conn = cluster.connect();
    retail_crm::db::run_migrations(&mut conn).expect("the migrations run on the coordinator");
    let report = distribution::distribute(&mut conn, Some(4)).expect("migrate --distributed");
    assert!(report.iter().any(|l| l == "customers: distributed by id, co-located with customers"), "{report:#?}");

    let tables = citus_tables(&mut conn);
    let find = |name: &str| tables.iter().find(|t| t.name == name);
    let anchor = find(ANCHOR).expect("customers is distributed");
    for (table, placement) in TABLES {
        let placed = find(table);
        match placement {
            Placement::ByCustomer(column) => {
                let t = placed.unwrap_or_else(|| panic!("{table} is not distributed"));
                assert_eq!((t.kind.as_str(), t.column.as_deref()), ("distributed", Some(*column)), "{table}");
                assert_eq!(t.colocation, anchor.colocation, "{table} is not co-located with {ANCHOR}");
                assert_eq!(t.shards, 4, "{table}");
            }
            Placement::ByKey(column) => {
                let t = placed.unwrap_or_else(|| panic!("{table} is not distributed"));
                assert_eq!((t.kind.as_str(), t.column.as_deref()), ("distributed", Some(*column)), "{table}");
                assert_ne!(t.colocation, anchor.colocation, "{table} is looked up by its own key");
            }
            Placement::Reference => {
                assert_eq!(placed.map(|t| t.kind.as_str()), Some("reference"), "{table}");
            }
            Placement::Coordinator | Placement::Pending(_) => {
                assert!(placed.is_none_or(|t| t.kind == "local"), "{table} should stay on the coordinator: {placed:?}");
            }
        }
    }

    // The customer's rows keep their keys to the customer (co-located), and the configuration's
    // keys stay too; the pending tables' keys into distributed tables are gone and said so.
    #[derive(QueryableByName)]
    struct Key {
        #[diesel(sql_type = Text)]
        from: String,
        #[diesel(sql_type = Text)]
        to: String,
    }
    let keys: Vec<Key> = diesel::sql_query(
        "SELECT conrelid::regclass::text AS from, confrelid::regclass::text AS to FROM pg_constraint WHERE contype = 'f'",
    )
    .load(&mut conn)
    .expect("foreign keys");
    let has_key = |from: &str, to: &str| keys.iter().any(|k| k.from == from && k.to == to);
    assert!(has_key("points_lots", "customers") && has_key("memberships", "tiers") && has_key("staff", "stores"));
    assert!(!has_key("orders", "customers"));
    assert!(report.iter().any(|l| l.starts_with("orders: foreign key orders_customer_id_fkey to customers dropped")));

    let again = distribution::distribute(&mut conn, Some(4)).expect("a second run");
    assert_eq!(again, ["every table is placed already"]);
}
