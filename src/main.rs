use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use retail_crm::auth_clients::{api::validate_scopes, store as clients};
use retail_crm::config::Config;
use retail_crm::http::secrets;
use retail_crm::import::{self, Kind, Options};
use retail_crm::progress::Report;
use retail_crm::server;

#[derive(Parser)]
#[command(name = "retail-crm", version, about = "Headless retail CRM API")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate {
        /// On a Citus coordinator: then distribute the customer's tables by customer, copy the
        /// configuration to every node, keep the service's bookkeeping on the coordinator
        /// (README "Running on Citus"). Safe to run again.
        #[arg(long)]
        distributed: bool,
        /// With --distributed: shards per distributed table (Citus's default otherwise).
        #[arg(long, requires = "distributed", value_parser = clap::value_parser!(u32).range(1..=4096))]
        shard_count: Option<u32>,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Manage API clients.
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Load a demo retailer: stores, staff, customers with a year of orders, refunds, points,
    /// coupons, leads, tickets and the three automations. Deterministic for a seed; a second run
    /// changes nothing.
    SeedDemo {
        /// How many customers (and prospects) to seed.
        #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
        customers: u32,
        /// The seed everything is derived from.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The last day of the year of history (YYYY-MM-DD, before today); default yesterday.
        /// Later runs keep the first run's.
        #[arg(long)]
        until: Option<chrono::NaiveDate>,
        /// Customers written at once (default: the number of CPU cores).
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Recompute every table the reports, segments and profiles derive from orders (customer
    /// activity and segment rows, sales summaries, co-purchase, RFM) from scratch: after orders were
    /// loaded with COPY or restored without their events. Safe while the service runs: what it
    /// writes meanwhile is followed afterwards.
    RebuildReports,
    /// Import customers or orders from a CSV file (the first migration of millions of rows).
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Take a base backup of the embedded cluster into DIR (new or empty), while `serve` serves or
    /// not: PostgreSQL's pg_basebackup with the WAL that makes it consistent, verified with
    /// pg_verifybackup, described in DIR/backup.json. Copy DIR off the machine.
    Backup {
        dir: PathBuf,
        /// A name for the backup (default: "retail-crm" and the time).
        #[arg(long)]
        label: Option<String>,
    },
    /// Restore a backup made by `backup` into CRM_DATA_DIR, whose cluster (CRM_DATA_DIR/pg) must be
    /// empty and not served; the cluster replays the WAL once, then stops.
    Restore {
        dir: PathBuf,
        /// Point-in-time recovery: replay the WAL archived there (CRM_WAL_ARCHIVE_DIR) after the backup.
        #[arg(long)]
        wal_archive: Option<PathBuf>,
        /// Stop replaying the archive at this moment (RFC 3339, or local time in CRM_TIMEZONE).
        #[arg(long, requires = "wal_archive")]
        until: Option<String>,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Upsert customers by identity from FILE.csv; rejected rows go to FILE.rejects.csv.
    #[command(after_help = retail_crm::import::customers::HELP)]
    Customers {
        file: PathBuf,
        #[command(flatten)]
        batches: BatchArgs,
    },
    /// Store historical orders from FILE.csv under their natural key; rejected rows go to FILE.rejects.csv.
    #[command(after_help = retail_crm::import::orders::HELP)]
    Orders {
        file: PathBuf,
        /// Earn points on each order by the loyalty program's rules, as a sale at the till does.
        #[arg(long)]
        earn_points: bool,
        #[command(flatten)]
        batches: BatchArgs,
    },
}

#[derive(clap::Args)]
struct BatchArgs {
    /// Rows per transaction (an order's rows stay in one).
    #[arg(long, default_value_t = retail_crm::import::DEFAULT_BATCH_ROWS)]
    batch_rows: usize,
    /// Tests: stop as if killed, in the middle of the batch after this many committed ones.
    #[arg(long, hide = true)]
    stop_after_batches: Option<u64>,
}

#[derive(Subcommand)]
enum ClientsCommand {
    /// Create an API client and print its secret (shown once).
    Create {
        #[arg(long)]
        name: String,
        /// Space- or comma-separated scopes, e.g. "customers:read orders:write".
        #[arg(long)]
        scopes: String,
        /// Bind the client to one store.
        #[arg(long)]
        store: Option<uuid::Uuid>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = Config::from_env().map_err(|e| e.to_string()).and_then(|config| {
        retail_crm::logging::init(config.log_format)?;
        run(cli, config)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("retail-crm: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, config: Config) -> Result<(), String> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => server::serve(config),
        Command::Openapi => {
            let doc = serde_json::to_string_pretty(retail_crm::openapi_document()).map_err(|e| e.to_string())?;
            // A closed pipe (`| head`) is the reader's choice, not an error worth a panic.
            match writeln!(std::io::stdout(), "{doc}") {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.to_string()),
                _ => Ok(()),
            }
        }
        Command::Migrate { distributed, shard_count } => {
            let (url, _pg) = server::database_for_command(&config)?;
            let mut conn = retail_crm::db::connect(&url)?;
            let applied = retail_crm::db::run_migrations(&mut conn)?;
            println!("applied {applied} migrations");
            if distributed {
                for line in retail_crm::db::distribution::distribute(&mut conn, shard_count)? {
                    println!("{line}");
                }
            }
            Ok(())
        }
        Command::SeedDemo { customers, seed, until, jobs } => {
            let (url, _pg) = server::database_for_command(&config)?;
            let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).clamp(1, 64);
            let options = retail_crm::demo::Options { customers, seed, until, jobs };
            let outcome = retail_crm::demo::run(&url, &config, &options)?;
            print!("{}", retail_crm::demo::summary(&outcome, &config));
            Ok(())
        }
        Command::RebuildReports => {
            let (url, _pg) = server::database_for_command(&config)?;
            let mut conn = retail_crm::db::connect(&url)?;
            retail_crm::db::run_migrations(&mut conn)?;
            let now = retail_crm::clock::Clock::default().now();
            let steps = retail_crm::analytics::derived::rebuild_all(&mut conn, now, config.timezone, Report::Stderr)
                .map_err(|e| format!("rebuilding the reports' tables: {e}"))?;
            for step in steps {
                let rows = step.rows.map(|n| format!(" ({n} customers)")).unwrap_or_default();
                println!("{:<20} {:>8.1} s{rows}", format!("{}:", step.name), step.seconds);
            }
            Ok(())
        }
        Command::Backup { dir, label } => backup(&config, &dir, label),
        Command::Restore { dir, wal_archive, until } => restore(&config, &dir, wal_archive, until),
        Command::Clients { command: ClientsCommand::Create { name, scopes, store } } => {
            let scopes: Vec<String> = scopes.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_string).collect();
            let mut v = retail_crm::error::Violations::new();
            validate_scopes(&scopes, &mut v);
            v.into_result()
                .map_err(|_| format!("scopes must be some of: {}", retail_crm::http::auth::ALL_SCOPES.join(" ")))?;
            let (url, _pg) = server::database_for_command(&config)?;
            let mut conn = retail_crm::db::connect(&url)?;
            retail_crm::db::run_migrations(&mut conn)?;
            let secret = secrets::new_client_secret();
            let hash = secrets::hash_secret(&secret).map_err(|e| e.to_string())?;
            let client = clients::insert(&mut conn, &secrets::new_client_id(), &name, &hash, &scopes, store, None)
                .map_err(|e| e.to_string())?;
            println!("client_id:     {}", client.client_id);
            println!("client_secret: {secret}");
            println!("scopes:        {}", client.scopes.join(" "));
            Ok(())
        }
        Command::Import { command } => {
            let (kind, file, earn_points, batches) = match command {
                ImportCommand::Customers { file, batches } => (Kind::Customers, file, false, batches),
                ImportCommand::Orders { file, earn_points, batches } => (Kind::Orders, file, earn_points, batches),
            };
            let (url, _pg) = server::database_for_command(&config)?;
            let options = Options {
                kind,
                file,
                earn_points,
                batch_rows: batches.batch_rows,
                stop_after_batches: batches.stop_after_batches,
            };
            print_summary(&import::run(&config, &url, options)?);
            Ok(())
        }
    }
}

fn backup(config: &Config, dir: &std::path::Path, label: Option<String>) -> Result<(), String> {
    if config.database_url.is_some() {
        return Err(server::EXTERNAL_DATABASE.into());
    }
    let now = retail_crm::clock::Clock::default().now();
    let label = label.unwrap_or_else(|| format!("retail-crm {}", now.format("%Y-%m-%dT%H:%M:%SZ")));
    retail_crm::db::embedded::backup::new_or_empty(dir).map_err(|e| e.to_string())?;
    let (_url, cluster) = server::database_for_command(config)?;
    let pg = cluster.as_ref().and_then(|c| c.cluster()).ok_or("no embedded cluster to back up")?;
    let taken = pg.base_backup(dir, &label, Report::Stderr).map_err(|e| e.to_string())?;
    let seconds = (taken.finished_at - taken.started_at).num_milliseconds() as f64 / 1000.0;
    println!("backup:    {} ({})", dir.display(), taken.label);
    println!("server:    PostgreSQL {}", taken.server_version);
    println!("size:      {} bytes ({})", taken.bytes, indicatif::HumanBytes(taken.bytes));
    println!("took:      {seconds:.1} s");
    println!(
        "verified:  {}",
        if taken.verified { "yes (pg_verifybackup)" } else { "no: pg_verifybackup is not installed" }
    );
    Ok(())
}

fn restore(
    config: &Config, dir: &std::path::Path, wal_archive: Option<PathBuf>, until: Option<String>,
) -> Result<(), String> {
    use retail_crm::db::embedded::backup;
    let _restoring = server::claim_for_restore(config)?;
    let until = until.map(|u| backup::parse_until(&u, config.timezone)).transpose()?;
    let recovery = wal_archive.map(|wal_archive| backup::Recovery { wal_archive, until });
    let options = server::embedded_options(config)?;
    let into = options.data_dir.clone();
    let restored = backup::restore(dir, options, recovery, Report::Stderr).map_err(|e| e.to_string())?;
    if let Some(d) = &restored.description {
        println!("backup:    {} ({}, taken {} .. {})", dir.display(), d.label, d.started_at, d.finished_at);
    }
    println!("restored:  {} ({} bytes)", into.display(), restored.bytes);
    if let Some(last) = &restored.last_replayed {
        println!("replayed:  up to the transaction of {last}");
    }
    println!("took:      {:.1} s", restored.seconds);
    Ok(())
}

fn print_summary(s: &import::Summary) {
    let c = &s.counts;
    if let Some(rows) = s.resumed_after_rows {
        println!("resumed:   {rows} (rows an earlier, interrupted run had done)");
    }
    println!("read:      {}", c.read);
    println!("created:   {}", c.created);
    println!("updated:   {}", c.updated);
    println!("unchanged: {}", c.unchanged);
    match &s.rejects {
        Some(path) => println!("rejected:  {} (see {})", c.rejected, path.display()),
        None => println!("rejected:  {}", c.rejected),
    }
    if s.kind == Kind::Orders {
        println!(
            "orders:    {} created, {} unchanged, {} rejected",
            c.orders_created, c.orders_unchanged, c.orders_rejected
        );
    }
    let rows = c.read as f64;
    println!("took:      {:.1} s ({:.0} rows/s)", s.seconds, if s.seconds > 0.0 { rows / s.seconds } else { rows });
    if let Some(notice) = s.rejects_notice() {
        println!("{notice}");
    }
}
