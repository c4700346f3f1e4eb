use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use retail_crm::auth_clients::{api::validate_scopes, store as clients};
use retail_crm::config::Config;
use retail_crm::http::secrets;
use retail_crm::import::{self, Kind, Options};
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
    Migrate,
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
        Command::Migrate => {
            let (url, _pg) = server::database_for_command(&config)?;
            let applied = retail_crm::db::run_migrations(&mut retail_crm::db::connect(&url)?)?;
            println!("applied {applied} migrations");
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
            let steps = retail_crm::analytics::derived::rebuild_all(&mut conn, now, config.timezone)
                .map_err(|e| format!("rebuilding the reports' tables: {e}"))?;
            for step in steps {
                let rows = step.rows.map(|n| format!(" ({n} customers)")).unwrap_or_default();
                println!("{:<20} {:>8.1} s{rows}", format!("{}:", step.name), step.seconds);
            }
            Ok(())
        }
        Command::Clients { command: ClientsCommand::Create { name, scopes, store } } => {
            let scopes: Vec<String> = scopes.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_string).collect();
            let mut v = retail_crm::http::error::Violations::new();
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
