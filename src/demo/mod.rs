//! `retail-crm seed-demo`: a demo retailer to explore and to benchmark with (SPEC §14).
//!
//! A fashion chain (stores in ten cities, Tmall / JD / Douyin shops and a WeChat mini-program)
//! with a year of history, written through the domains' own paths so the ledger, coupons, tiers,
//! leads and tickets are exactly what the live service would have made of it. Everything comes
//! from the seed: unit `i` (a customer, or a prospect's lead) is planned by `plan::unit(seed, i,
//! window)` alone, and is written in one transaction keyed by its phone, so a run that finds the
//! phone skips the unit — a second run changes nothing, an interrupted one resumes, a larger
//! `--customers` adds the missing units.
//!
//! The history is the 365 days up to the day before the first run (`--until` pins it); the date
//! is kept in `job_runs` and every later run uses it, so a re-run on another day still finds
//! exactly what the first made (the history ages; seed an empty database for a fresh one).

pub mod catalogue;
pub mod people;
pub mod plan;
pub mod service_plan;
pub mod setup;
pub mod store;
pub mod write;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use serde_json::json;

use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::progress::{Report, Unit};
use plan::Window;
use write::Written;

pub struct Options {
    pub customers: u32,
    pub seed: u64,
    /// The last day of the history; default: yesterday (on the first run).
    pub until: Option<NaiveDate>,
    /// Units written at once, each on its own connection.
    pub jobs: usize,
}

/// What a run did, for the summary.
pub struct Outcome {
    pub seed: u64,
    pub window: Window,
    pub made: setup::Made,
    pub written: Written,
    pub units_written: u32,
    pub units_found: u32,
    pub seconds: f64,
    pub counts: Vec<store::Count>,
    pub automations: Vec<(String, String)>,
}

fn fail(e: ApiError) -> String {
    e.to_string()
}

/// The history window: kept from the first run; else `--until` or yesterday.
fn window(conn: &mut PgConnection, opts: &Options, config: &Config, today: NaiveDate) -> Result<(Window, u32), String> {
    let tz = config.timezone;
    if let Some((until, record)) = store::run_record(conn).map_err(fail)? {
        let seed = record["seed"].as_u64();
        if seed != Some(opts.seed) {
            return Err(format!(
                "this database holds the demo of seed {}: run seed-demo --seed {0} again, or seed an empty database",
                seed.map_or_else(|| "?".to_string(), |s| s.to_string())
            ));
        }
        if opts.until.is_some_and(|u| u != until) {
            return Err(format!("this database's demo history ends on {until}: give that --until or none"));
        }
        let before = record["customers"].as_u64().unwrap_or(0).min(u64::from(u32::MAX)) as u32;
        return Ok((Window { until, tz }, before));
    }
    let until = opts.until.unwrap_or(today - chrono::Duration::days(1));
    if until >= today {
        return Err(format!("--until must be before today ({today}): the history never reaches into the future"));
    }
    Ok((Window { until, tz }, 0))
}

/// One connection per worker, tuned like the pool's for many short statements; a demo load need
/// not wait for each commit to reach the disk (a crash loses the last units, which the next run
/// writes again: a unit is one transaction).
fn connect(url: &str) -> Result<PgConnection, String> {
    let mut conn = crate::db::connect(url)?;
    conn.batch_execute("SET jit = off; SET plan_cache_mode = force_generic_plan; SET synchronous_commit = off")
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// Two workers can deadlock on shared rows (a template's issue count, the lead assignment lock,
/// a ticket team's cursor): PostgreSQL aborts one, which writes its unit again.
fn retryable(e: &ApiError) -> bool {
    match e {
        ApiError::Unavailable { .. } => true,
        ApiError::Internal(message) => message.contains("deadlock detected"),
        _ => false,
    }
}

/// Runs one transaction of a unit, again when PostgreSQL aborted it for a deadlock, each time from
/// the progress the previous transaction committed.
fn transaction(
    conn: &mut PgConnection, progress: &write::Progress,
    mut work: impl FnMut(&mut PgConnection, &mut write::Progress) -> ApiResult<()>,
) -> ApiResult<write::Progress> {
    let mut attempt = 0;
    loop {
        let mut p = progress.clone();
        match conn.transaction(|conn| work(conn, &mut p)) {
            Ok(()) => return Ok(p),
            Err(e) if retryable(&e) && attempt < 5 => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

/// A unit still to write: all of it, or — when a run stopped between its two transactions — the
/// rest after its customer's registration and coupons.
#[derive(Clone, Copy)]
struct Pending {
    index: u32,
    resume: Option<uuid::Uuid>,
}

fn write_unit(
    conn: &mut PgConnection, ctx: &write::Context, seed: u64, pending: Pending, w: &Window,
) -> ApiResult<Written> {
    let unit = plan::unit(seed, pending.index, w);
    let [first, rest] = write::parts(&unit);
    let (mut progress, parts) = match pending.resume {
        Some(customer) => (write::Progress::resumed(customer, store::coupons_of(conn, customer)?), vec![rest]),
        None => (write::Progress::default(), vec![first, rest]),
    };
    for part in parts.iter().filter(|p| !p.is_empty()) {
        progress = transaction(conn, &progress, |conn, p| write::steps(conn, ctx, &unit, part, p))
            .map_err(|e| ApiError::internal(format!("unit {} ({}): {e}", pending.index, unit.phone)))?;
    }
    Ok(progress.written)
}

/// The units not written yet (or not wholly), by their phones.
fn missing_units(conn: &mut PgConnection, seed: u64, customers: u32, w: &Window) -> Result<Vec<Pending>, String> {
    let mut missing = Vec::new();
    let indexes: Vec<u32> = (0..customers).collect();
    let bar =
        Report::Stderr.bar("seed-demo: looking for customers to write", Unit::Count("customers"), customers.into());
    for chunk in indexes.chunks(5000) {
        let phones: Vec<String> = chunk.iter().map(|i| people::phone(seed, *i)).collect();
        let seeded = store::seeded_phones(conn, &phones).map_err(fail)?;
        for (index, phone) in chunk.iter().zip(&phones) {
            match seeded.get(phone) {
                None => missing.push(Pending { index: *index, resume: None }),
                Some(store::Seeded { customer: Some(customer), ordered: false }) => {
                    if !plan::unit(seed, *index, w).orders.is_empty() {
                        missing.push(Pending { index: *index, resume: Some(*customer) });
                    }
                }
                Some(_) => {}
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish();
    Ok(missing)
}

/// Writes the missing units with `jobs` workers; the first error stops them all.
fn write_units(
    url: &str, ctx: &write::Context, seed: u64, w: &Window, missing: &[Pending], jobs: usize,
) -> Result<Written, String> {
    let next = AtomicU32::new(0);
    let stop = AtomicBool::new(false);
    let total = Mutex::new(Written::default());
    let first_error: Mutex<Option<String>> = Mutex::new(None);
    let bar = Report::Stderr.bar("seed-demo: writing", Unit::Count("customers"), missing.len() as u64);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                let mut written = Written::default();
                let result = connect(url).and_then(|mut conn| {
                    while !stop.load(Ordering::Relaxed) {
                        let n = next.fetch_add(1, Ordering::Relaxed) as usize;
                        let Some(pending) = missing.get(n) else { break };
                        written += write_unit(&mut conn, ctx, seed, *pending, w).map_err(fail)?;
                        bar.inc(1);
                    }
                    Ok(())
                });
                if let Err(e) = result {
                    stop.store(true, Ordering::Relaxed);
                    first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                }
                *total.lock().unwrap_or_else(|p| p.into_inner()) += written;
            });
        }
    });
    bar.finish();
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(total.into_inner().unwrap_or_else(|p| p.into_inner()))
}

pub fn run(url: &str, config: &Config, opts: &Options) -> Result<Outcome, String> {
    let clock = crate::clock::Clock::default();
    let now = clock.now();
    let mut conn = connect(url)?;
    crate::db::run_migrations(&mut conn)?;
    let today = now.with_timezone(&config.timezone).date_naive();
    let (window, before) = window(&mut conn, opts, config, today)?;
    let customers = opts.customers.max(before);
    let preparing = Report::Stderr.step("seed-demo: preparing the chain (stores, staff, tiers, templates)");
    let (chain, made) = conn
        .transaction(|conn| {
            let (chain, made) = setup::ensure(conn, opts.customers, window.start())?;
            if customers != before || made.any() {
                store::save_run_record(conn, window.until, &json!({"seed": opts.seed, "customers": customers}), now)?;
            }
            Ok::<_, ApiError>((chain, made))
        })
        .map_err(fail)?;
    preparing.done();

    let started = Instant::now();
    let missing = missing_units(&mut conn, opts.seed, opts.customers, &window)?;
    let catalogue = crate::loyalty::program::CatalogueCache::default();
    let ctx = write::Context {
        chain: &chain,
        catalogue: &catalogue,
        tz: config.timezone,
        lead_response_minutes: config.lead_response_minutes,
    };
    let written = write_units(url, &ctx, opts.seed, &window, &missing, opts.jobs)?;
    let seconds = started.elapsed().max(Duration::from_millis(1)).as_secs_f64();

    // Segments, profiles, campaigns and reports read what the outbox followers keep: bring them up
    // to date and score RFM for today (the service's daily job may have run before the history
    // existed), then let the automations loose on a complete chain.
    crate::analytics::derived::follow_all(&mut conn, clock.now(), config.timezone, Report::Stderr).map_err(fail)?;
    let activating = Report::Stderr.step("seed-demo: activating the automations");
    conn.transaction(|conn| {
        let activated = setup::activate_automations(conn, &chain.automations, clock.now())?;
        if made.any() || written.customers + written.leads > 0 || activated > 0 {
            let who = crate::http::auth::Principal {
                sub: format!("cli:{}", write::ACTOR),
                scopes: vec!["admin".into()],
                store_id: None,
                request_id: String::new(),
            };
            let detail = json!({"seed": opts.seed, "until": window.until, "customers": written.customers,
                    "orders": written.orders, "leads": written.leads, "tickets": written.tickets});
            crate::audit::record(conn, &who, crate::audit::AuditAction::DemoSeed, None, detail)?;
        }
        Ok::<_, ApiError>(())
    })
    .map_err(fail)?;
    activating.done();
    let counting = Report::Stderr.step("seed-demo: counting what the database holds");
    let counts = store::counts(&mut conn).map_err(fail)?;
    counting.done();
    Ok(Outcome {
        seed: opts.seed,
        window,
        made,
        written,
        units_written: missing.len() as u32,
        units_found: opts.customers - missing.len() as u32,
        seconds,
        counts,
        automations: store::campaign_statuses(&mut conn, &chain.automations).map_err(fail)?,
    })
}

/// The closing summary: what this run made, what the database holds, how to look at it.
pub fn summary(o: &Outcome, config: &Config) -> String {
    let count = |what: &str| o.counts.iter().find(|c| c.what == what).map_or(0, |c| c.n);
    let w = &o.written;
    let mut out = String::new();
    out.push_str(&format!(
        "seed-demo: seed {}, history {} .. {} ({})\n",
        o.seed,
        o.window.from(),
        o.window.until,
        o.window.tz.name()
    ));
    if o.units_written == 0 {
        out.push_str(&format!("  nothing to do: all {} customers were seeded before\n", o.units_found));
    } else {
        out.push_str(&format!(
            "  this run: {} customers, {} orders, {} refunds, {} coupons, {} leads, {} tickets in {:.1} s \
             ({:.0} customers/s, {:.0} orders/s){}\n",
            w.customers,
            w.orders,
            w.refunds,
            w.coupons,
            w.leads,
            w.tickets,
            o.seconds,
            f64::from(o.units_written) / o.seconds,
            w.orders as f64 / o.seconds,
            if o.units_found > 0 { format!("; {} were there already", o.units_found) } else { String::new() }
        ));
    }
    out.push_str(&format!(
        "  the database: {} stores and {} online shops, {} staff, {} customers ({} members: {} silver, {} gold),\n\
         \x20 {} orders, {} refunds, {} points entries, {} coupon templates, {} coupons ({} redeemed),\n\
         \x20 {} leads, {} tickets, {} campaigns\n",
        count("stores"),
        count("online shops"),
        count("staff"),
        count("customers"),
        count("members"),
        count("silver"),
        count("gold"),
        count("orders"),
        count("refunds"),
        count("points entries"),
        count("coupon templates"),
        count("coupons"),
        count("coupons redeemed"),
        count("leads"),
        count("tickets"),
        count("campaigns"),
    ));
    let automations: Vec<String> = o.automations.iter().map(|(name, status)| format!("{name} ({status})")).collect();
    out.push_str(&format!("  automations: {}\n", automations.join(", ")));
    let credentials = match (&config.database_url, &config.bootstrap_client) {
        (_, Some((id, _))) => format!("the bootstrap client '{id}' (CRM_BOOTSTRAP_CLIENT_ID)"),
        (None, None) => format!(
            "the admin client it printed on its first start (also in {})",
            config.data_dir.join("admin-client.json").display()
        ),
        (Some(_), None) => "an API client of yours".to_string(),
    };
    out.push_str(&format!(
        "Explore it: run the service (retail-crm serve) and take a token (POST /v1/auth/token) with\n  \
         {credentials},\n  or a new client: retail-crm clients create --name demo --scopes admin\n"
    ));
    out
}
