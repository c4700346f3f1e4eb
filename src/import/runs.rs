//! An import run and its checkpoint (`import_runs`): where the next batch starts, how long the
//! rejects file is, and the counts so far. The checkpoint moves inside each batch's transaction,
//! so what it says is exactly what has been committed.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Jsonb, Text, Timestamptz, Uuid as SqlUuid};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::db::CachedSql;
use crate::error::ApiResult;
use crate::http::auth::Principal;

/// Rows by outcome; for orders also the orders (a row is one line of an order).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub read: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    #[serde(default)]
    pub orders_created: u64,
    #[serde(default)]
    pub orders_unchanged: u64,
    #[serde(default)]
    pub orders_rejected: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.read += o.read;
        self.created += o.created;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.rejected += o.rejected;
        self.orders_created += o.orders_created;
        self.orders_unchanged += o.orders_unchanged;
        self.orders_rejected += o.orders_rejected;
    }
}

#[derive(Debug, Clone)]
pub struct Run {
    pub id: Uuid,
    /// Where the next batch starts in the file.
    pub next: csv::Position,
    pub rejects_bytes: u64,
    pub batches: u64,
    pub counts: Counts,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = BigInt)]
    next_byte: i64,
    #[diesel(sql_type = BigInt)]
    next_line: i64,
    #[diesel(sql_type = BigInt)]
    next_record: i64,
    #[diesel(sql_type = BigInt)]
    rejects_bytes: i64,
    #[diesel(sql_type = BigInt)]
    batches: i64,
    #[diesel(sql_type = Jsonb)]
    counts: Value,
}

fn position(byte: i64, line: i64, record: i64) -> csv::Position {
    let mut p = csv::Position::new();
    p.set_byte(byte.max(0) as u64).set_line(line.max(1) as u64).set_record(record.max(0) as u64);
    p
}

/// What a run is: the kind, the file's content and the options. Another run of the same is the
/// same run continued, until it finishes.
pub struct Identity<'a> {
    pub kind: super::Kind,
    pub file_name: &'a str,
    pub sha256: &'a str,
    pub options: Value,
}

/// Namespace of the advisory lock one run holds on its file for as long as it runs.
const RUN_LOCK: i32 = 20261203;

/// How an import names its session (`application_name`): the machine and the process, so the next
/// import can tell a run that is alive from one that was killed.
fn session_name(host: &str, pid: u32) -> String {
    format!("retail-crm import {host} {pid}")
}

/// The machine and process a session name gives, when it is an import's.
fn holder_of(name: &str) -> Option<(&str, u32)> {
    let mut parts = name.strip_prefix("retail-crm import ")?.rsplitn(2, ' ');
    let pid = parts.next()?.parse().ok()?;
    Some((parts.next()?, pid))
}

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// How long a lock held by a killed import's session may take to be let go (its server process
/// ends when it notices its client is gone, or is ended).
const DEAD_HOLDER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Takes the run's lock for this session; false when another import of the same file is running.
/// A lock still held by the session of an import that was killed on this machine is no run: that
/// session is ended and the lock taken (issue 23).
pub fn lock(conn: &mut PgConnection, run: &Identity) -> ApiResult<bool> {
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        locked: bool,
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        holder: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Nullable<Integer>)]
        holder_pid: Option<i32>,
    }
    let host = this_host();
    diesel::sql_query(format!(
        "SET application_name = '{}'",
        session_name(&host, std::process::id()).replace('\'', "")
    ))
    .execute(conn)?;
    let key = format!("{}:{}", run.kind, run.sha256);
    let deadline = std::time::Instant::now() + DEAD_HOLDER_WAIT;
    loop {
        let row: Locked = CachedSql::new(
            "WITH taken AS (SELECT pg_try_advisory_lock(?, hashtext(?)) AS locked)
             SELECT t.locked, a.application_name AS holder, a.pid AS holder_pid
             FROM taken t
             LEFT JOIN pg_locks l ON NOT t.locked AND l.locktype = 'advisory' AND l.granted
                  AND l.classid = ?::oid AND l.objid = hashtext(?)::oid AND l.objsubid = 2
             LEFT JOIN pg_stat_activity a ON a.pid = l.pid
             LIMIT 1",
        )
        .bind::<Integer, _>(RUN_LOCK)
        .bind::<Text, _>(&key)
        .bind::<Integer, _>(RUN_LOCK)
        .bind::<Text, _>(&key)
        .get_result(conn)?;
        if row.locked {
            return Ok(true);
        }
        let dead = row.holder.as_deref().and_then(holder_of).is_some_and(|(holder_host, pid)| {
            holder_host == host && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        });
        if !dead || std::time::Instant::now() >= deadline {
            return Ok(false);
        }
        if let Some(pid) = row.holder_pid {
            log::info!("ending the session of an import that was killed (server process {pid})");
            diesel::sql_query("SELECT pg_terminate_backend($1)").bind::<Integer, _>(pid).execute(conn)?;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The unfinished run of this file, kind and options, if any.
pub fn unfinished(conn: &mut PgConnection, run: &Identity) -> ApiResult<Option<Run>> {
    let row: Option<Row> = CachedSql::new(
        "SELECT id, next_byte, next_line, next_record, rejects_bytes, batches, counts FROM import_runs \
         WHERE file_sha256 = ? AND kind = ? AND options = ? AND finished_at IS NULL \
         ORDER BY started_at DESC LIMIT 1",
    )
    .bind::<Text, _>(run.sha256)
    .bind::<Text, _>(run.kind)
    .bind::<Jsonb, _>(&run.options)
    .get_result(conn)
    .optional()?;
    Ok(row.map(|r| Run {
        id: r.id,
        next: position(r.next_byte, r.next_line, r.next_record),
        rejects_bytes: r.rejects_bytes as u64,
        batches: r.batches as u64,
        counts: serde_json::from_value(r.counts).unwrap_or_default(),
    }))
}

fn audit_detail(run: &Identity, counts: Option<&Counts>) -> Value {
    json!({"kind": run.kind, "file": run.file_name, "sha256": run.sha256, "options": run.options, "counts": counts})
}

/// Records a new run starting at `next` (after the header), and audits it.
pub fn start(
    conn: &mut PgConnection, run: &Identity, who: &Principal, next: csv::Position, rejects_bytes: u64,
    now: DateTime<Utc>,
) -> ApiResult<Run> {
    let id = Uuid::now_v7();
    start_statement(id, run, &who.sub, &next, rejects_bytes, now).execute(conn)?;
    crate::audit::record(
        conn,
        who,
        crate::audit::AuditAction::ImportStart,
        Some(id.to_string()),
        audit_detail(run, None),
    )?;
    Ok(Run { id, next, rejects_bytes, batches: 0, counts: Counts::default() })
}

/// `start_run.sql` with every parameter bound by its name.
fn start_statement<'a>(
    id: Uuid, run: &'a Identity, actor: &'a str, next: &csv::Position, rejects_bytes: u64, now: DateTime<Utc>,
) -> impl RunQueryDsl<PgConnection> + diesel::query_dsl::methods::ExecuteDsl<PgConnection> + crate::db::cached_sql::Binds + 'a
{
    CachedSql::new(include_str!("start_run.sql"))
        .param::<SqlUuid, _>("id", id)
        .param::<Text, _>("kind", run.kind)
        .param::<Text, _>("file_name", run.file_name)
        .param::<Text, _>("file_sha256", run.sha256)
        .param::<Jsonb, _>("options", &run.options)
        .param::<BigInt, _>("next_byte", next.byte() as i64)
        .param::<BigInt, _>("next_line", next.line() as i64)
        .param::<BigInt, _>("next_record", next.record() as i64)
        .param::<BigInt, _>("rejects_bytes", rejects_bytes as i64)
        .param::<Text, _>("actor", actor)
        .param::<Timestamptz, _>("now", now)
}

/// Moves the checkpoint; runs in the batch's transaction.
pub fn advance(conn: &mut PgConnection, run: &Run, now: DateTime<Utc>) -> ApiResult<()> {
    CachedSql::new(
        "UPDATE import_runs SET next_byte = ?, next_line = ?, next_record = ?, rejects_bytes = ?, batches = ?, \
             counts = ?, updated_at = ? WHERE id = ?",
    )
    .bind::<BigInt, _>(run.next.byte() as i64)
    .bind::<BigInt, _>(run.next.line() as i64)
    .bind::<BigInt, _>(run.next.record() as i64)
    .bind::<BigInt, _>(run.rejects_bytes as i64)
    .bind::<BigInt, _>(run.batches as i64)
    .bind::<Jsonb, _>(serde_json::to_value(run.counts).unwrap_or_default())
    .bind::<Timestamptz, _>(now)
    .bind::<SqlUuid, _>(run.id)
    .execute(conn)?;
    Ok(())
}

/// Closes the run (a later import of the same file is a new run) and audits its counts.
pub fn finish(
    conn: &mut PgConnection, identity: &Identity, run: &Run, who: &Principal, now: DateTime<Utc>,
) -> ApiResult<()> {
    CachedSql::new("UPDATE import_runs SET finished_at = ?, updated_at = ? WHERE id = ?")
        .bind::<Timestamptz, _>(now)
        .bind::<Timestamptz, _>(now)
        .bind::<SqlUuid, _>(run.id)
        .execute(conn)?;
    let detail = audit_detail(identity, Some(&run.counts));
    crate::audit::record(conn, who, crate::audit::AuditAction::ImportFinish, Some(run.id.to_string()), detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_name_gives_back_its_machine_and_process() {
        let name = session_name("till-host-01", 4242);
        assert_eq!(holder_of(&name), Some(("till-host-01", 4242)));
        assert_eq!(holder_of("psql"), None);
        assert_eq!(holder_of("retail-crm import host notapid"), None);
    }

    #[test]
    fn a_new_run_binds_each_parameter_by_name() {
        let run =
            Identity { kind: super::super::Kind::Customers, file_name: "c.csv", sha256: "ab", options: json!({}) };
        let query = start_statement(Uuid::now_v7(), &run, "admin", &csv::Position::new(), 0, DateTime::UNIX_EPOCH);
        assert_eq!(crate::db::cached_sql::verify(&query), Ok(()));
    }
}
