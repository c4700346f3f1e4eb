//! `retail-crm import customers FILE.csv` and `retail-crm import orders FILE.csv` (SPEC §14): the
//! first migration of millions of rows (数据整合: 去重, 补全).
//!
//! The file is read a batch at a time (5,000 rows by default; an order's rows never straddle two
//! batches). Each batch is decided in memory over one read of what the database holds and written
//! with a few set-based statements (`customers::bulk_store`, `orders::bulk_store`), in one
//! transaction that also moves the run's checkpoint (`runs`) — so a run killed at any point and
//! started again continues after its last committed batch, with the same counts and rejects file as
//! one uninterrupted run. A batch that meets a concurrent writer (a `serve` on the same database)
//! is planned again. Rejected rows go to `FILE.rejects.csv` with their line number and reason.

pub mod customers;
pub mod orders;
mod rejects;
pub mod runs;
mod source;
pub mod values;

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use uuid::Uuid;

use crate::clock::Clock;
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::http::auth::Principal;
use crate::progress::{Report, Unit};
use runs::{Counts, Run};
use source::{Record, Source};

pub const DEFAULT_BATCH_ROWS: usize = 5000;
/// Attempts at one batch that keeps meeting concurrent writers before the import gives up.
const MAX_ATTEMPTS: u32 = 10;
/// The exit status of a run stopped by `--stop-after-batches` (tests).
pub const STOPPED_EXIT_CODE: i32 = 75;

crate::vocabulary! {
    /// What a file imports; a run's `kind`.
    #[schema(example = "customers")]
    pub enum Kind { Customers = "customers", Orders = "orders" }
}

pub struct Options {
    pub kind: Kind,
    pub file: PathBuf,
    /// Orders: earn points through the ledger's rules, as a sale at the till does.
    pub earn_points: bool,
    pub batch_rows: usize,
    /// Tests: die (as if killed) in the middle of the batch after this many committed ones.
    pub stop_after_batches: Option<u64>,
}

/// What one row came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    /// `code: detail`.
    Rejected(String),
}

impl Outcome {
    pub fn rejected(code: &str, detail: impl std::fmt::Display) -> Outcome {
        Outcome::Rejected(format!("{code}: {detail}"))
    }

    /// An error of the API's rules as a reject: its code, then what it says (each field when
    /// validation failed).
    pub fn from_error(e: &ApiError) -> Outcome {
        match e {
            ApiError::Validation(errors) => {
                let fields: Vec<String> = errors.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
                Outcome::rejected(e.code(), fields.join("; "))
            }
            other => Outcome::rejected(other.code(), other),
        }
    }
}

/// One batch's outcome per row, and for orders the orders' counts.
pub struct BatchResult {
    pub outcomes: Vec<Outcome>,
    pub units: Counts,
}

/// One kind of import: how to read its rows and write a batch of them.
trait Importer {
    /// True when `next` starts a new unit after `previous` (an order's rows stay together).
    fn starts_unit(&self, previous: &Record, next: &Record) -> bool;
    /// Imports `records` in the caller's transaction; one outcome per record.
    fn import_batch(
        &mut self, conn: &mut PgConnection, records: &[Record], now: DateTime<Utc>,
    ) -> ApiResult<BatchResult>;
}

/// Stores by code or id, read once: rows name their store either way.
pub struct StoreDirectory {
    by_code: HashMap<String, Uuid>,
    ids: std::collections::HashSet<Uuid>,
}

impl StoreDirectory {
    pub fn load(conn: &mut PgConnection) -> ApiResult<StoreDirectory> {
        let stores = crate::stores::store::list(conn, None, None, i64::MAX)?;
        Ok(StoreDirectory {
            by_code: stores.iter().map(|s| (s.code.clone(), s.id)).collect(),
            ids: stores.iter().map(|s| s.id).collect(),
        })
    }

    pub fn resolve(&self, cell: &str) -> Result<Uuid, String> {
        if let Some(id) = self.by_code.get(cell) {
            return Ok(*id);
        }
        match cell.parse::<Uuid>() {
            Ok(id) if self.ids.contains(&id) => Ok(id),
            _ => Err(format!("no store with the code or id '{cell}'")),
        }
    }
}

/// The identity columns both files share: a customer file's identities, an order file's buyer.
pub const IDENTITY_COLUMNS: &[&str] =
    &["phone", "email", "member_card", "wechat_openid", "wechat_unionid", "tmall_ouid", "jd_pin"];

/// Finds each named column once; `external:<system>` columns are identities too.
pub struct Header<'a> {
    columns: &'a [String],
    used: Vec<bool>,
}

impl<'a> Header<'a> {
    pub fn new(columns: &'a [String]) -> Header<'a> {
        Header { columns, used: vec![false; columns.len()] }
    }

    pub fn find(&mut self, name: &str) -> Option<usize> {
        let i = self.columns.iter().position(|c| c == name)?;
        self.used[i] = true;
        Some(i)
    }

    pub fn require(&mut self, name: &str) -> Result<usize, String> {
        self.find(name).ok_or_else(|| format!("the file has no '{name}' column"))
    }

    /// Columns named `<prefix><rest>`, as `(rest, index)`.
    pub fn prefixed(&mut self, prefix: &str) -> Vec<(String, usize)> {
        let mut found = Vec::new();
        for (i, c) in self.columns.iter().enumerate() {
            if let Some(rest) = c.strip_prefix(prefix) {
                self.used[i] = true;
                found.push((rest.to_string(), i));
            }
        }
        found
    }

    /// The identity columns: `(kind, index)`; an `external:<system>` column must name a system as
    /// an identity kind does.
    pub fn identities(&mut self) -> Result<Vec<(String, usize)>, String> {
        let mut found: Vec<(String, usize)> =
            IDENTITY_COLUMNS.iter().filter_map(|k| self.find(k).map(|i| (k.to_string(), i))).collect();
        for (system, i) in self.prefixed("external:") {
            let kind = format!("external:{system}");
            crate::customers::rules::normalize_identity(&kind, "x").map_err(|m| format!("the column '{kind}': {m}"))?;
            found.push((kind, i));
        }
        Ok(found)
    }

    /// Every column must be known (a misspelt one would silently import nothing), and named once.
    /// Columns without a name (a spreadsheet's trailing empty ones) are left alone.
    pub fn finish(self, known: &str) -> Result<(), String> {
        for (i, name) in self.columns.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            if self.columns[..i].contains(name) {
                return Err(format!("the column '{name}' appears twice"));
            }
            if !self.used[i] {
                return Err(format!("unknown column '{name}': the columns are {known} (see --help)"));
            }
        }
        Ok(())
    }
}

fn os_user() -> String {
    std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into())
}

/// Retried: another writer changed what the batch read (a serialization failure, a deadlock, an
/// identity claimed or a profile changed meanwhile).
fn retryable(e: &ApiError) -> bool {
    match e {
        ApiError::Unavailable { .. } => true,
        ApiError::Internal(cause) => cause.contains("deadlock detected") || cause.contains("could not serialize"),
        _ => false,
    }
}

pub struct Summary {
    pub kind: Kind,
    pub counts: Counts,
    /// Where the rejected rows are (none: no file).
    pub rejects: Option<PathBuf>,
    pub seconds: f64,
    /// Rows an interrupted run had done when this invocation continued it.
    pub resumed_after_rows: Option<u64>,
}

impl Summary {
    /// Said last when the run left a rejects file: it copies people's data out of the database, where
    /// an erasure cannot reach it.
    pub fn rejects_notice(&self) -> Option<String> {
        let path = self.rejects.as_ref()?;
        let rows = match self.counts.rejected {
            1 => "1 row".to_string(),
            n => format!("{n} rows"),
        };
        Some(format!(
            "{rows} rejected: see {} — it holds customers' personal data; delete it once fixed, an erasure does \
             not reach it",
            path.display()
        ))
    }
}

/// Runs an import against the database at `url` (migrated here if needed).
pub fn run(config: &Config, url: &str, options: Options) -> Result<Summary, String> {
    let err = |e: ApiError| match e {
        ApiError::Internal(cause) => cause,
        other => other.to_string(),
    };
    let mut source = Source::open(&options.file)?;
    let sha256 = source::fingerprint(&options.file)?;
    let mut conn = crate::db::connect(url)?;
    crate::db::run_migrations(&mut conn)?;
    // As the pool's sessions: no JIT for the batch's many short statements. A long GIN pending
    // list: the name search index takes the import's rows cheaply and is merged in bulk (by
    // autovacuum, on another core, or when the list fills) instead of entry by entry.
    conn.batch_execute("SET jit = off; SET gin_pending_list_limit = '64MB'").map_err(|e| e.to_string())?;
    let clock = Clock::default();
    let tz = config.timezone;
    let who =
        Principal { sub: format!("cli:{}", os_user()), scopes: vec![], store_id: None, request_id: String::new() };
    let mut importer: Box<dyn Importer> = match options.kind {
        Kind::Customers => Box::new(customers::CustomersImport::new(&mut conn, &source.columns, tz)?),
        Kind::Orders => {
            Box::new(orders::OrdersImport::new(&mut conn, &source.columns, tz, options.earn_points, &who.sub)?)
        }
    };
    let kind = options.kind;
    let file_name = options.file.display().to_string();
    let identity = runs::Identity {
        kind,
        file_name: &file_name,
        sha256: &sha256,
        options: serde_json::json!({"earn_points": options.earn_points}),
    };
    if !runs::lock(&mut conn, &identity).map_err(err)? {
        return Err(format!("another import of {file_name} is running"));
    }
    let rejects_path = rejects::path_for(&options.file);
    let (mut run, mut rejects, resumed_after_rows) = match runs::unfinished(&mut conn, &identity).map_err(err)? {
        Some(run) => {
            source.seek(run.next.clone())?;
            let rejects = rejects::Rejects::resume(rejects_path, &source.header, run.rejects_bytes)?;
            let done = run.counts.read;
            eprintln!("import {kind}: continuing the interrupted run of {file_name} after its first {done} rows");
            (run, rejects, Some(done))
        }
        None => {
            let rejects = rejects::Rejects::create(rejects_path, &source.header)?;
            let run =
                runs::start(&mut conn, &identity, &who, source.position()?, rejects.len(), clock.now()).map_err(err)?;
            (run, rejects, None)
        }
    };
    let follower = FollowAlong::start(url, tz)?;
    let progress = Report::Stderr.bar(format!("import {kind}"), Unit::Bytes, source.size).starting_at(run.next.byte());
    // This invocation's own speed: a resumed run does not count the rows an earlier one read.
    let start_rows = run.counts.read;
    let mut ahead: Option<Record> = None;
    loop {
        let (batch, next) = read_batch(&mut source, &mut ahead, importer.as_ref(), options.batch_rows.max(1))?;
        if batch.is_empty() {
            break;
        }
        run = commit_batch(&mut conn, importer.as_mut(), &run, &batch, next, &mut rejects, &clock, &options)
            .map_err(err)?;
        let rows = run.counts.read;
        progress.set_with(run.next.byte(), |seconds| {
            format!("{rows} rows, {:.0} rows/s", rows.saturating_sub(start_rows) as f64 / seconds.max(0.001))
        });
    }
    // Segments read `customer_facts`, which follows the events this run wrote: bring it (and each
    // customer's order activity) up to date before saying the import is done.
    let mut seconds = progress.finish();
    let catching_up = Report::Stderr.step(format!("import {kind}: bringing segment facts and activity up to date"));
    follower.finish()?;
    crate::customers::activity::follow(&mut conn, tz).map_err(err)?;
    seconds += catching_up.done();
    runs::finish(&mut conn, &identity, &run, &who, clock.now()).map_err(err)?;
    let rejects_file = if run.counts.rejected > 0 {
        Some(rejects.path().to_path_buf())
    } else {
        rejects.remove()?;
        None
    };
    Ok(Summary { kind: options.kind, counts: run.counts, rejects: rejects_file, seconds, resumed_after_rows })
}

/// Follows the outbox on a second connection while the batches commit, so the segment facts keep
/// up on the other core instead of being caught up after the last batch.
struct FollowAlong {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Result<(), String>>,
}

impl FollowAlong {
    const PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

    fn start(url: &str, tz: chrono_tz::Tz) -> Result<FollowAlong, String> {
        let mut conn = crate::db::connect(url)?;
        conn.batch_execute("SET jit = off").map_err(|e| e.to_string())?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::spawn(move || {
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                crate::customers::activity::follow(&mut conn, tz).map_err(|e| e.to_string())?;
                std::thread::sleep(Self::PAUSE);
            }
            Ok(())
        });
        Ok(FollowAlong { stop, handle })
    }

    fn finish(self) -> Result<(), String> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.join().map_err(|_| "the segment facts' follower stopped unexpectedly".to_string())?
    }
}

/// The next batch (at least `rows` rows unless the file ends first, ending where a unit ends) and
/// where the batch after it starts.
fn read_batch(
    source: &mut Source, ahead: &mut Option<Record>, importer: &dyn Importer, rows: usize,
) -> Result<(Vec<Record>, csv::Position), String> {
    let mut batch: Vec<Record> = ahead.take().into_iter().collect();
    loop {
        let Some(record) = source.next_record()? else {
            return Ok((batch, source.position()?));
        };
        let full = batch.len() >= rows;
        if full && batch.last().is_some_and(|last| importer.starts_unit(last, &record)) {
            let next = record.start.clone();
            *ahead = Some(record);
            return Ok((batch, next));
        }
        batch.push(record);
    }
}

/// Imports one batch and moves the checkpoint in one transaction, planning it again when a
/// concurrent writer got in the way; its rejects reach the file first.
#[allow(clippy::too_many_arguments)]
fn commit_batch(
    conn: &mut PgConnection, importer: &mut dyn Importer, run: &Run, batch: &[Record], next: csv::Position,
    rejects: &mut rejects::Rejects, clock: &Clock, options: &Options,
) -> ApiResult<Run> {
    let mut attempt = 0;
    loop {
        let kept = rejects.len();
        let result = conn.transaction(|conn| {
            let now = clock.now();
            let result = importer.import_batch(conn, batch, now)?;
            let mut delta = result.units;
            delta.read = batch.len() as u64;
            let mut rejected = Vec::new();
            for (record, outcome) in batch.iter().zip(result.outcomes) {
                match outcome {
                    Outcome::Created => delta.created += 1,
                    Outcome::Updated => delta.updated += 1,
                    Outcome::Unchanged => delta.unchanged += 1,
                    Outcome::Rejected(reason) => {
                        delta.rejected += 1;
                        rejected.push((record.line, reason, &record.raw));
                    }
                }
            }
            rejects.append(&rejected).map_err(ApiError::Internal)?;
            if options.stop_after_batches == Some(run.batches) {
                // The test hook: as if killed mid-batch, after its rejects were written and before
                // it commits (the connection closes; PostgreSQL rolls the batch back).
                eprintln!("import: stopping in batch {} as asked (--stop-after-batches)", run.batches + 1);
                std::process::exit(STOPPED_EXIT_CODE);
            }
            let mut counts = run.counts;
            counts += delta;
            let advanced = Run {
                next: next.clone(),
                rejects_bytes: rejects.len(),
                batches: run.batches + 1,
                counts,
                ..run.clone()
            };
            runs::advance(conn, &advanced, now)?;
            Ok(advanced)
        });
        match result {
            Ok(advanced) => return Ok(advanced),
            Err(e) => {
                rejects.truncate(kept).map_err(ApiError::Internal)?;
                attempt += 1;
                if !retryable(&e) || attempt >= MAX_ATTEMPTS {
                    return Err(e);
                }
                log::info!("a concurrent change met batch {}: planning it again", run.batches + 1);
            }
        }
    }
}

/// Parses a row's cell with `parse`, collecting `field: message` on failure.
pub fn cell<T>(
    record: &Record, index: Option<usize>, field: &str, errors: &mut Vec<String>,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Option<T> {
    let raw = record.cell(index)?;
    match parse(raw) {
        Ok(v) => Some(v),
        Err(message) => {
            errors.push(format!("{field}: {message}"));
            None
        }
    }
}
