//! Backups of the embedded cluster (SPEC §16): `retail-crm backup DIR` and `retail-crm restore DIR`.
//!
//! A backup is PostgreSQL's own base backup, taken by `pg_basebackup` over the cluster's socket
//! while it serves: a copy of the data directory made consistent by the WAL streamed beside it
//! (`-X stream`), with a manifest of every file's checksum (`pg_verifybackup` checks it when the
//! machine has it). DIR holds `pg/` (what `pg_basebackup` wrote) and `backup.json` (what it is).
//!
//! A restore copies `pg/` into an empty data directory and starts the cluster once, so that it
//! replays the WAL to the backup's end (crash recovery) — or, given the WAL archive that
//! `CRM_WAL_ARCHIVE_DIR` keeps, on through the archive to its end or to a moment (`--until`,
//! point-in-time recovery) — and stops it again.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::{
    absolute, chown_to_server_user, find_bin_dir, io_err, last_lines, output_tail, shell_quote, tool_at, EmbeddedError,
    LocalPostgres, LocalPostgresOptions, SERVER_USER,
};
use crate::progress::{Report, Unit};

/// The description beside the backup's data.
const DESCRIPTION: &str = "backup.json";
/// The backup's data directory inside DIR.
const DATA: &str = "pg";
/// `pg_basebackup`'s list of the backup's files; it describes the backup, not a cluster, so it stays
/// in DIR (a cluster that has one would carry it into its own next backup).
const MANIFEST: &str = "backup_manifest";

/// What a backup is, written to `DIR/backup.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Description {
    pub label: String,
    pub server_version: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The size of `pg/`.
    pub bytes: u64,
    /// `pg_verifybackup` checked every file against the manifest and the WAL it needs; `false` when
    /// the machine has no `pg_verifybackup`.
    pub verified: bool,
    pub made_by: String,
}

/// Where a point-in-time restore reads WAL from, and where it stops.
#[derive(Debug, Clone)]
pub struct Recovery {
    pub wal_archive: PathBuf,
    /// None: replay the whole archive.
    pub until: Option<DateTime<Utc>>,
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub description: Option<Description>,
    pub bytes: u64,
    pub seconds: f64,
    /// The commit time of the last transaction the recovery replayed, as PostgreSQL reports it.
    pub last_replayed: Option<String>,
}

/// The archive command: a finished segment copied under a temporary name, flushed and renamed, so
/// the archive never holds half a segment; an existing file is never overwritten — the same
/// segment archived again (after a crash) counts as done, a different one fails loudly.
pub fn archive_settings(dir: &Path) -> Vec<(String, String)> {
    // `%` starts a placeholder in archive_command; a literal one is doubled.
    let d = shell_quote(dir.as_os_str()).replace('%', "%%");
    let command = format!(
        "{{ test ! -f {d}/%f && cp %p {d}/%f.part && sync {d}/%f.part && mv {d}/%f.part {d}/%f && sync {d}; }} \
         || cmp -s %p {d}/%f"
    );
    vec![
        ("archive_mode".into(), "on".into()),
        ("archive_command".into(), command),
        // A quiet till still has its last five minutes archived.
        ("archive_timeout".into(), "300".into()),
    ]
}

/// `--until`: RFC 3339, or a local time in the business time zone (`2026-12-07 15:30:00`).
pub fn parse_until(text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
            return tz
                .from_local_datetime(&local)
                .earliest()
                .map(|at| at.with_timezone(&Utc))
                .ok_or_else(|| format!("{text} does not exist in {} (a clock change)", tz.name()));
        }
    }
    Err(format!("--until {text}: give RFC 3339 (2026-12-07T15:30:00+08:00) or a local time (2026-12-07 15:30:00)"))
}

impl LocalPostgres {
    /// The archive directory, writable by the server (its own user when we are root) and closed
    /// to everyone else when we made it.
    pub(super) fn prepare_archive_dir(&self, dir: &Path) -> Result<(), EmbeddedError> {
        let created = !dir.exists();
        if created {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| io_err(format!("creating the WAL archive {}", dir.display()), e))?;
        }
        if self.as_root {
            if created || !self.server_user_can_write(dir) {
                chown_to_server_user(dir, false)?;
            }
            self.check_server_user_access(dir, "WAL archive (CRM_WAL_ARCHIVE_DIR)")?;
        }
        Ok(())
    }

    /// A base backup into `dir` (new or empty), while the cluster serves.
    pub fn base_backup(&self, dir: &Path, label: &str, report: Report) -> Result<Description, EmbeddedError> {
        let started_at = crate::clock::Clock::default().now();
        // The tools run from `/`: a relative DIR would land there.
        let dir = &absolute(dir, "backup directory")?;
        new_or_empty(dir)?;
        let server_version = self.server_version()?;
        let target = dir.join(DATA);
        let mut cmd = Command::new(self.tool_path("pg_basebackup"));
        cmd.arg("-D")
            .arg(&target)
            .arg("-h")
            .arg(&self.socket_dir)
            .args(["-p", &self.port.to_string(), "-U", SERVER_USER])
            .args(["--wal-method=stream", "--checkpoint=fast", "--format=plain", "--progress", "--label", label])
            .env("PGAPPNAME", "retail-crm backup")
            .current_dir("/");
        let bar = report.bar("backup", Unit::Bytes, 0);
        run_with_progress(cmd, "taking the base backup (pg_basebackup)", &mut |done, total| {
            bar.set_total(total);
            bar.set(done);
        })?;
        bar.finish();

        let verified = verify(&self.bin_dir, &target, report)?;
        let description = Description {
            label: label.to_string(),
            server_version,
            started_at,
            finished_at: crate::clock::Clock::default().now(),
            bytes: tree_size(&target)?,
            verified,
            made_by: "retail-crm backup (pg_basebackup --wal-method=stream --checkpoint=fast)".into(),
        };
        let text = serde_json::to_string_pretty(&description).map_err(|e| EmbeddedError::Io(e.to_string()))?;
        crate::files::write_private(&dir.join(DESCRIPTION), text.as_bytes()).map_err(EmbeddedError::Io)?;
        Ok(description)
    }

    fn server_version(&self) -> Result<String, EmbeddedError> {
        #[derive(QueryableByName)]
        struct Version {
            #[diesel(sql_type = diesel::sql_types::Text)]
            server_version: String,
        }
        let mut conn = crate::db::connect(&self.url("postgres")).map_err(EmbeddedError::Io)?;
        let version: Version = diesel::sql_query("SHOW server_version")
            .get_result(&mut conn)
            .map_err(|e| EmbeddedError::Io(format!("asking the server's version: {e}")))?;
        Ok(version.server_version)
    }

    /// Polls until the server has left recovery (a point-in-time restore replays the archive after
    /// the server already accepts read-only connections); the last replayed commit's time.
    fn wait_for_promotion(&self) -> Result<Option<String>, EmbeddedError> {
        #[derive(QueryableByName)]
        struct State {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            recovering: bool,
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            last: Option<String>,
        }
        loop {
            let state = crate::db::connect(&self.url("postgres")).and_then(|mut conn| {
                diesel::sql_query(
                    "SELECT pg_is_in_recovery() AS recovering, pg_last_xact_replay_timestamp()::text AS last",
                )
                .get_result::<State>(&mut conn)
                .map_err(|e| e.to_string())
            });
            match state {
                Ok(state) if !state.recovering => return Ok(state.last),
                Ok(_) => {}
                // Recovery that cannot reach its target stops the server: the log says why.
                Err(e) if !self.is_running()? => {
                    return Err(EmbeddedError::Io(format!(
                        "the recovery stopped the server ({e}){}",
                        self.log_tail_section()
                    )))
                }
                Err(_) => {}
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Restores the backup in `backup` into the empty data directory of `opts`, recovers it (to the
/// end of `recovery`'s archive or its moment, when given) and stops it.
pub fn restore(
    backup: &Path, opts: LocalPostgresOptions, recovery: Option<Recovery>, report: Report,
) -> Result<Restored, EmbeddedError> {
    let started = Instant::now();
    let source = absolute(&backup.join(DATA), "backup")?;
    if !source.join("backup_label").is_file() || !source.join("PG_VERSION").is_file() {
        return Err(EmbeddedError::Io(format!(
            "{} is not a backup made by `retail-crm backup` (no {DATA}/backup_label)",
            backup.display()
        )));
    }
    let description = crate::files::read_to_string(&backup.join(DESCRIPTION))
        .map_err(EmbeddedError::Io)?
        .and_then(|text| serde_json::from_str::<Description>(&text).ok());
    let data_dir = absolute(&opts.data_dir, "data directory")?;
    let occupied = fs::read_dir(&data_dir).map(|mut entries| entries.next().is_some()).unwrap_or(false);
    if occupied {
        return Err(EmbeddedError::Io(format!(
            "{} already holds a cluster: a restore goes into an empty data directory — move it aside first \
             (e.g. mv {0} {0}.before-restore) or restore with another CRM_DATA_DIR",
            data_dir.display()
        )));
    }
    let bin_dir = find_bin_dir().ok_or(EmbeddedError::BinariesNotFound)?;
    verify(&bin_dir, &source, report)?;
    if let Some(r) = &recovery {
        if !r.wal_archive.is_dir() {
            return Err(EmbeddedError::Io(format!("the WAL archive {} is not a directory", r.wal_archive.display())));
        }
    }

    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&data_dir)
        .map_err(|e| io_err(format!("creating the data directory {}", data_dir.display()), e))?;
    // From here on a failure leaves files behind, which the next restore would refuse: say so.
    let left = |e: EmbeddedError| {
        EmbeddedError::Io(format!(
            "{e}\n(the partly restored {} is left as it is, for its server.log: remove it before restoring again)",
            data_dir.display()
        ))
    };
    let (bytes, last_replayed) = copy_and_recover(&source, &data_dir, opts, recovery, report).map_err(left)?;
    Ok(Restored { description, bytes, seconds: started.elapsed().as_secs_f64(), last_replayed })
}

/// The backup's files into the new data directory, then the recovery: bytes copied, last replayed commit.
fn copy_and_recover(
    source: &Path, data_dir: &Path, mut opts: LocalPostgresOptions, recovery: Option<Recovery>, report: Report,
) -> Result<(u64, Option<String>), EmbeddedError> {
    let bar = report.bar("restore: copying", Unit::Bytes, tree_size(source)?);
    let bytes = copy_tree(source, data_dir, &bar, true)?;
    bar.finish();

    if let Some(r) = &recovery {
        // Archive recovery instead of crash recovery: replay the backup's WAL, then the archive's.
        crate::files::write_private(&data_dir.join("recovery.signal"), b"").map_err(EmbeddedError::Io)?;
        let archive = shell_quote(absolute(&r.wal_archive, "WAL archive")?.as_os_str()).replace('%', "%%");
        opts.settings.push(("restore_command".into(), format!("cp {archive}/%f %p")));
        if let Some(until) = r.until {
            opts.settings.push(("recovery_target_time".into(), until.to_rfc3339()));
            opts.settings.push(("recovery_target_action".into(), "promote".into()));
        }
    }
    // Started once, so that it replays the WAL now rather than at the next serve; `start` also
    // hands the files to the server's user and 0700 when we are root.
    let step = report.step("restore: recovering (replaying the WAL)");
    let mut pg = LocalPostgres::start(opts)?;
    let last_replayed = pg.wait_for_promotion()?;
    pg.stop()?;
    step.done();
    Ok((bytes, last_replayed))
}

/// A backup goes into a directory of its own: a new one, or an empty one (made, and closed to
/// others, here). Checked before anything starts, and again by `base_backup`.
pub fn new_or_empty(dir: &Path) -> Result<(), EmbeddedError> {
    match fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
        Ok(false) => Err(EmbeddedError::Io(format!(
            "{} is not empty: a backup goes into a new or empty directory",
            dir.display()
        ))),
        Ok(true) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io_err(format!("creating the backup directory {}", dir.display()), e)),
        Err(e) => Err(io_err(format!("reading the backup directory {}", dir.display()), e)),
    }
    .and_then(|()| {
        // The backup holds every customer's data.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| io_err(format!("closing the backup directory {}", dir.display()), e))
    })
}

/// `pg_verifybackup` on a backup's data: every file against the manifest, and the WAL it needs.
/// `false` when the machine lacks the tool; an error when the backup is damaged.
fn verify(bin_dir: &Path, data: &Path, report: Report) -> Result<bool, EmbeddedError> {
    let step = report.step("checking the backup (pg_verifybackup)");
    let mut cmd = Command::new(tool_at(bin_dir, "pg_verifybackup"));
    cmd.arg("--quiet").arg(data).current_dir("/");
    let out = match cmd.stdin(Stdio::null()).output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            log::warn!("no pg_verifybackup on this machine: the backup is not verified");
            return Ok(false);
        }
        out => out.map_err(|e| EmbeddedError::Io(format!("running pg_verifybackup: {e}")))?,
    };
    if !out.status.success() {
        return Err(EmbeddedError::Io(format!(
            "the backup in {} is damaged or incomplete (pg_verifybackup {}): {}",
            data.display(),
            out.status,
            output_tail(&out)
        )));
    }
    step.done();
    Ok(true)
}

/// Runs a tool that reports `done/total kB` on stderr (`--progress`), handing each report on; its
/// other lines become the error when it fails.
fn run_with_progress(mut cmd: Command, step: &str, progress: &mut dyn FnMut(u64, u64)) -> Result<(), EmbeddedError> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| EmbeddedError::Io(format!("{step}: could not run {cmd:?}: {e}")))?;
    let mut said = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let mut line = Vec::new();
        let mut buf = [0u8; 4096];
        // The tool ends a report with \r on a terminal and \n otherwise: either ends a line.
        while let Ok(n @ 1..) = stderr.read(&mut buf) {
            for &b in &buf[..n] {
                if b != b'\r' && b != b'\n' {
                    line.push(b);
                    continue;
                }
                let text = String::from_utf8_lossy(&line).to_string();
                match parse_progress(&text) {
                    Some((done, total)) => progress(done, total),
                    None if !text.trim().is_empty() => said.push_str(&format!("{text}\n")),
                    None => {}
                }
                line.clear();
            }
        }
        said.push_str(&String::from_utf8_lossy(&line));
    }
    let status = child.wait().map_err(|e| EmbeddedError::Io(format!("{step}: {e}")))?;
    if status.success() {
        return Ok(());
    }
    Err(EmbeddedError::Io(format!("{step} failed ({status}): {}", last_lines(&said, 20))))
}

/// `  1234/56789 kB (2%), 0/1 tablespace` → bytes done and in all.
fn parse_progress(line: &str) -> Option<(u64, u64)> {
    let (counts, _) = line.trim().split_once(" kB")?;
    let (done, total) = counts.split_once('/')?;
    Some((done.trim().parse::<u64>().ok()? * 1024, total.trim().parse::<u64>().ok()? * 1024))
}

/// Bytes in the files under `dir`.
fn tree_size(dir: &Path) -> Result<u64, EmbeddedError> {
    let mut total = 0;
    for entry in fs::read_dir(dir).map_err(|e| io_err(format!("reading {}", dir.display()), e))? {
        let entry = entry.map_err(|e| io_err(format!("reading {}", dir.display()), e))?;
        let meta = entry.metadata().map_err(|e| io_err(format!("reading {}", entry.path().display()), e))?;
        total += if meta.is_dir() { tree_size(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}

/// The backup's files copied into the new data directory (directories 0700, files 0600, as the
/// server wants them), except the manifest; the bytes copied.
fn copy_tree(from: &Path, to: &Path, bar: &crate::progress::Bar, top: bool) -> Result<u64, EmbeddedError> {
    let mut copied = 0;
    for entry in fs::read_dir(from).map_err(|e| io_err(format!("reading {}", from.display()), e))? {
        let entry = entry.map_err(|e| io_err(format!("reading {}", from.display()), e))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(|e| io_err(format!("reading {}", source.display()), e))?;
        if kind.is_dir() {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&target)
                .map_err(|e| io_err(format!("creating {}", target.display()), e))?;
            copied += copy_tree(&source, &target, bar, false)?;
        } else if kind.is_file() {
            if top && entry.file_name() == MANIFEST {
                bar.inc(entry.metadata().map(|m| m.len()).unwrap_or(0));
                continue;
            }
            let n = crate::files::copy_new(&source, &target, 0o600).map_err(EmbeddedError::Io)?;
            copied += n;
            bar.inc(n);
        } else {
            // pg_basebackup writes plain files and directories; a link (a tablespace) is not ours.
            return Err(EmbeddedError::Io(format!(
                "{} is neither a file nor a directory: not a backup made by `retail-crm backup`",
                source.display()
            )));
        }
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_basebackups_progress_lines_are_read_and_other_lines_are_not() {
        assert_eq!(parse_progress("  1234/56789 kB (2%), 0/1 tablespace"), Some((1234 * 1024, 56789 * 1024)));
        assert_eq!(parse_progress("56789/56789 kB (100%), 1/1 tablespace"), Some((56789 * 1024, 56789 * 1024)));
        assert_eq!(parse_progress("pg_basebackup: error: could not connect"), None);
    }

    #[test]
    fn the_archive_never_overwrites_and_quotes_its_directory() {
        let settings = archive_settings(Path::new("/backups/w a'l%"));
        let command = &settings.iter().find(|(name, _)| name == "archive_command").expect("a command").1;
        assert!(command.contains("test ! -f '/backups/w a'\\''l%%'/%f"), "{command}");
        assert!(command.ends_with("|| cmp -s %p '/backups/w a'\\''l%%'/%f"), "{command}");
        assert!(settings.contains(&("archive_mode".into(), "on".into())));
    }

    #[test]
    fn until_is_rfc3339_or_local_business_time() {
        let tz = chrono_tz::Asia::Shanghai;
        let utc = |s: &str| s.parse::<DateTime<Utc>>().expect("a time");
        assert_eq!(parse_until("2026-12-07T15:30:00+08:00", tz), Ok(utc("2026-12-07T07:30:00Z")));
        assert_eq!(parse_until("2026-12-07 15:30:00", tz), Ok(utc("2026-12-07T07:30:00Z")));
        assert_eq!(parse_until("2026-12-07 15:30", tz), Ok(utc("2026-12-07T07:30:00Z")));
        assert!(parse_until("yesterday", tz).is_err());
    }
}
