//! Runs a private PostgreSQL cluster from the machine's own server binaries.
//!
//! This exists so the service (and its test suite) can run on a machine that has
//! PostgreSQL installed but no database configured: no Docker, no network, no
//! shared state. The cluster listens only on a unix socket (TCP is disabled) and
//! is owned by the `postgres` system user when we run as root, because PostgreSQL
//! refuses to run with root privileges. Only the service's own operating-system
//! user may connect (SPEC §3.1): the socket and its directory are mode 0700 and
//! `pg_hba.conf` admits that user alone, by peer authentication.

pub mod backup;
pub mod supervise;
mod system;

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use system::*;
pub use system::{find_bin_dir, percent_encode};

/// Longest path the kernel accepts for a unix socket (`sun_path` is 108 bytes
/// including the terminating NUL), so PostgreSQL cannot bind anything longer.
const MAX_SOCKET_PATH: usize = 107;

/// How long we are prepared to wait for the server to start or stop; a cold
/// start on a loaded CI machine can take several seconds, more than that means
/// something is wrong and the log will say what.
const SERVER_TIMEOUT: Duration = Duration::from_secs(60);

/// How many lines of the server log to quote in errors: enough to show the
/// FATAL line and its context without drowning the caller.
const LOG_TAIL_LINES: usize = 20;

/// System account that owns the cluster when we run as root, because the
/// server binaries refuse to run with root privileges.
const SERVER_USER: &str = "postgres";

/// Why a local cluster could not be provided, phrased so the operator knows
/// what to fix without reading this code.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// Separate from other failures so callers can fall back to (or ask for)
    /// an external `DATABASE_URL` instead of treating it as a crash.
    #[error("no PostgreSQL server binaries found (looked for initdb/pg_ctl on PATH and in /usr/lib/postgresql/*/bin): install PostgreSQL or set DATABASE_URL")]
    BinariesNotFound,
    /// Carries the failed step plus the command's stderr or the server log tail,
    /// since that output is the only useful diagnosis of a failed start.
    #[error("{0}")]
    Io(String),
    /// The postmaster ended while we waited for it to accept connections.
    #[error("PostgreSQL at {0} stopped while starting{1}")]
    StoppedWhileStarting(String, String),
}

/// Everything that varies between a developer's persistent cluster and a
/// throw-away test cluster, so one code path serves both.
#[derive(Debug, Clone)]
pub struct LocalPostgresOptions {
    /// Kept across runs so data survives restarts; initialised on first use.
    pub data_dir: PathBuf,
    /// Where the server puts its socket; kept short because of the kernel's
    /// socket path limit.
    pub socket_dir: PathBuf,
    /// Only names the socket file (`.s.PGSQL.<port>`), letting several clusters
    /// share a socket directory; nothing listens on TCP.
    pub port: u16,
    /// Trades crash safety for speed, which only makes sense for disposable
    /// test clusters.
    pub fast_unsafe: bool,
    /// Must cover the connection pools of everything sharing the cluster
    /// (e.g. many parallel tests).
    pub max_connections: u32,
    /// `CRM_WAL_ARCHIVE_DIR`: every finished WAL segment is copied there, which with a base backup
    /// allows a restore to any moment since (`backup`).
    pub wal_archive_dir: Option<PathBuf>,
    /// More server settings for this start only (a restore's recovery target), passed like the
    /// others so nothing of them stays in the cluster's configuration.
    pub settings: Vec<(String, String)>,
}

/// Handle to a running cluster; dropping it stops the server so a crashed or
/// finished caller does not leave postmasters behind.
#[derive(Debug)]
pub struct LocalPostgres {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    log_path: PathBuf,
    as_root: bool,
    running: bool,
    /// The server was already up when `start` was called (another process of ours started it).
    adopted: bool,
    /// How it was started, to start it again the same way (`supervise`).
    opts: LocalPostgresOptions,
}

impl LocalPostgres {
    /// Gives callers a ready-to-connect server in one call, initialising the
    /// cluster on first use and reusing it afterwards (including one that is
    /// already running on the same data directory, which we then adopt and
    /// stop on drop like one we started).
    pub fn start(opts: LocalPostgresOptions) -> Result<LocalPostgres, EmbeddedError> {
        let bin_dir = find_bin_dir().ok_or(EmbeddedError::BinariesNotFound)?;
        let data_dir = absolute(&opts.data_dir, "data directory")?;
        let socket_dir = absolute(&opts.socket_dir, "socket directory")?;

        check_socket_path(&socket_dir, opts.port)?;
        // pg_ctl embeds these paths in a double-quoted shell command line.
        for (what, path) in [("data directory", &data_dir), ("socket directory", &socket_dir)] {
            check_shell_safe(what, path)?;
        }

        let as_root = running_as_root()?;
        if as_root {
            ensure_server_user()?;
        }

        let log_path = data_dir.join("server.log");
        let mut pg = LocalPostgres {
            bin_dir,
            data_dir,
            socket_dir,
            port: opts.port,
            log_path,
            as_root,
            running: false,
            adopted: false,
            opts: opts.clone(),
        };

        pg.prepare_data_dir()?;
        pg.prepare_socket_dir()?;

        if !pg.data_dir.join("PG_VERSION").is_file() {
            pg.initdb()?;
        }
        // Rewritten at every start, so a cluster made by an older version loses its `trust`.
        pg.write_access_rules()?;
        let version = fs::read_to_string(pg.data_dir.join("PG_VERSION"))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|_| "?".to_string());

        if let Some(archive) = &opts.wal_archive_dir {
            pg.prepare_archive_dir(archive)?;
        }
        if pg.is_running()? {
            log::info!("PostgreSQL is already running on {}; adopting it", pg.data_dir.display());
            pg.adopted = true;
            // The access rules just written may be newer than the running server's (replication
            // for `backup` came later): have it read them.
            let mut reload = pg.server_cmd("pg_ctl");
            reload.arg("reload").arg("-D").arg(&pg.data_dir);
            run_checked(reload, "reloading the access rules (pg_ctl reload)")?;
        } else {
            pg.pg_ctl_start(&opts)?;
        }
        // From here on the server is ours: an error below drops `pg`, stopping it.
        pg.running = true;
        match pg.wait_until_ready() {
            // Killed while we adopted it (the previous process was killed with it, say): start it
            // — crash recovery — rather than wait for a server that is gone.
            Err(EmbeddedError::StoppedWhileStarting(..)) if pg.adopted => {
                log::warn!("the PostgreSQL being adopted has stopped; starting it (crash recovery)");
                pg.adopted = false;
                pg.pg_ctl_start(&opts)?;
                pg.wait_until_ready()?;
            }
            other => other?,
        }

        log::info!(
            "{} PostgreSQL {} (data {}) on socket {}",
            if pg.adopted { "using" } else { "started" },
            version,
            pg.data_dir.display(),
            pg.socket_path().display()
        );
        Ok(pg)
    }

    /// Hands out a URL that libpq (and therefore Diesel) can use directly; the
    /// socket directory goes in the `host` query parameter because a path
    /// cannot be expressed as a URL host.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{SERVER_USER}@localhost/{}?host={}&port={}",
            percent_encode(db.as_bytes()),
            percent_encode(self.socket_dir.as_os_str().as_bytes()),
            self.port
        )
    }

    /// Leaves the server running when this handle is dropped: a CLI command that found a running
    /// `serve` on its data directory uses that cluster and must not stop it under the service.
    pub fn leave_running(mut self) {
        self.running = false;
    }

    /// Lets callers shut down deterministically (and see errors) instead of
    /// relying on drop; safe to call more than once.
    pub fn stop(&mut self) -> Result<(), EmbeddedError> {
        if !self.running {
            return Ok(());
        }
        let timeout = SERVER_TIMEOUT.as_secs().to_string();
        let mut cmd = self.server_cmd("pg_ctl");
        cmd.arg("stop").arg("-D").arg(&self.data_dir).args(["-m", "fast", "-w", "-t", &timeout]);
        let out = run(cmd, "stopping PostgreSQL (pg_ctl stop)")?;
        if out.status.success() || !self.is_running()? {
            self.running = false;
            log::info!("stopped PostgreSQL at {}", self.data_dir.display());
            return Ok(());
        }
        Err(self.pg_ctl_failed("stopping", &out))
    }

    /// The test harness keeps its cluster in a static that is never dropped, so
    /// a detached watchdog is the only way to avoid leaking a server (and its
    /// directory) once the test process is gone.
    pub fn stop_when_process_exits(&self, pid: u32, remove_dir: Option<&Path>) -> Result<(), EmbeddedError> {
        const SCRIPT: &str = r#"
pid="$1"; pg_ctl="$2"; data="$3"; as_root="$4"; remove="$5"
while kill -0 "$pid" 2>/dev/null || [ -d "/proc/$pid" ]; do sleep 0.5; done
if [ "$as_root" = 1 ]; then
    runuser -u postgres -- "$pg_ctl" stop -D "$data" -m immediate -w >/dev/null 2>&1
else
    "$pg_ctl" stop -D "$data" -m immediate -w >/dev/null 2>&1
fi
if [ -n "$remove" ]; then rm -rf -- "$remove"; fi
"#;
        let remove = match remove_dir {
            Some(dir) => absolute(dir, "directory to remove")?,
            None => PathBuf::new(),
        };
        let mut cmd = Command::new("setsid");
        cmd.arg("-f")
            .arg("sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("retail-crm-pg-watchdog")
            .arg(pid.to_string())
            .arg(self.tool_path("pg_ctl"))
            .arg(&self.data_dir)
            .arg(if self.as_root { "1" } else { "0" })
            .arg(&remove)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // `setsid -f` forks and returns at once, so waiting here reaps it and
        // leaves the watchdog detached in its own session.
        let status = cmd
            .status()
            .map_err(|e| EmbeddedError::Io(format!("starting the PostgreSQL watchdog (setsid) failed: {e}")))?;
        if !status.success() {
            return Err(EmbeddedError::Io(format!("starting the PostgreSQL watchdog (setsid) failed: {status}")));
        }
        Ok(())
    }

    /// Full path of the socket file, used for messages and readiness checks.
    fn socket_path(&self) -> PathBuf {
        self.socket_dir.join(format!(".s.PGSQL.{}", self.port))
    }

    /// Prefers the tool next to initdb so client and server versions match,
    /// falling back to PATH for tools some packages put elsewhere.
    fn tool_path(&self, tool: &str) -> PathBuf {
        tool_at(&self.bin_dir, tool)
    }

    /// Server tools refuse to run as root, so switch to the server user when
    /// needed; cwd is `/` so that user never trips over an unreadable cwd.
    fn server_cmd(&self, tool: &str) -> Command {
        let exe = self.tool_path(tool);
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", SERVER_USER, "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.current_dir("/").env_remove("PGDATA");
        cmd
    }

    /// initdb demands an empty (or missing) directory with mode 0700/0750
    /// owned by the user running the server.
    fn prepare_data_dir(&self) -> Result<(), EmbeddedError> {
        if let Some(parent) = self.data_dir.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| io_err(format!("creating parent directory {}", parent.display()), e))?;
        }
        if !self.data_dir.exists() {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&self.data_dir)
                .map_err(|e| io_err(format!("creating data directory {}", self.data_dir.display()), e))?;
        }
        fs::set_permissions(&self.data_dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| io_err(format!("setting mode 0700 on data directory {}", self.data_dir.display()), e))?;
        if self.as_root {
            chown_to_server_user(&self.data_dir, true)?;
            self.check_server_user_access(&self.data_dir, "data directory")?;
        }
        Ok(())
    }

    /// The server must be able to create its socket and lock file here; we only
    /// take ownership of a directory it cannot already write (never of e.g. /tmp),
    /// and close to everyone else (0700) a directory that is ours.
    fn prepare_socket_dir(&self) -> Result<(), EmbeddedError> {
        let created = !self.socket_dir.exists();
        if created {
            fs::create_dir_all(&self.socket_dir)
                .map_err(|e| io_err(format!("creating socket directory {}", self.socket_dir.display()), e))?;
        }
        let mut ours = created;
        if self.as_root {
            if created || !self.server_user_can_write(&self.socket_dir) {
                chown_to_server_user(&self.socket_dir, false)?;
                ours = true;
            }
            self.check_server_user_access(&self.socket_dir, "socket directory")?;
        }
        if ours {
            fs::set_permissions(&self.socket_dir, fs::Permissions::from_mode(0o700)).map_err(|e| {
                io_err(format!("setting mode 0700 on socket directory {}", self.socket_dir.display()), e)
            })?;
        }
        Ok(())
    }

    /// Peer authentication over the socket, for the operating-system users that are this
    /// service (the current user; as root, also the server's own user) and nobody else.
    fn write_access_rules(&self) -> Result<(), EmbeddedError> {
        let me = current_user()?;
        let mut ident =
            String::from("# Written by retail-crm at every start: the service's own users, and nobody else.\n");
        let server_user = if self.as_root { Some(SERVER_USER) } else { None };
        for os_user in std::iter::once(me.as_str()).chain(server_user) {
            ident.push_str(&format!("retail_crm {os_user} {SERVER_USER}\n"));
        }
        // Replication is a database of its own to pg_hba: `backup` streams the base backup and its WAL.
        let hba = "# Written by retail-crm at every start (SPEC §3.1): no `trust`, no TCP.\n\
                   local all all peer map=retail_crm\n\
                   local replication all peer map=retail_crm\n";
        for (name, text) in [("pg_hba.conf", hba), ("pg_ident.conf", ident.as_str())] {
            let path = self.data_dir.join(name);
            crate::files::write_private(&path, text.as_bytes()).map_err(EmbeddedError::Io)?;
            if self.as_root {
                chown_to_server_user(&path, false)?;
            }
        }
        Ok(())
    }

    /// Probes access the way the server will experience it, which also covers
    /// untraversable parent directories (e.g. under /root).
    fn server_user_can_write(&self, dir: &Path) -> bool {
        Command::new("runuser")
            .args(["-u", SERVER_USER, "--", "test", "-w"])
            .arg(dir)
            .args(["-a", "-x"])
            .arg(dir)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Turns an obscure server-side permission failure into an upfront error
    /// that says which directory to fix.
    fn check_server_user_access(&self, dir: &Path, what: &str) -> Result<(), EmbeddedError> {
        if self.server_user_can_write(dir) {
            Ok(())
        } else {
            Err(EmbeddedError::Io(format!(
                "the {SERVER_USER} user cannot write to the {what} {}: make every parent directory \
                 traversable (chmod o+x) or choose a location such as /tmp",
                dir.display()
            )))
        }
    }

    /// C.UTF-8 gives proper UTF-8 character classification, but not every libc
    /// ships it, so fall back to plain C rather than failing.
    fn initdb(&self) -> Result<(), EmbeddedError> {
        let mut failures = Vec::new();
        for locale in ["C.UTF-8", "C"] {
            // A failed initdb may remove the directory it was given.
            self.prepare_data_dir()?;
            let mut cmd = self.server_cmd("initdb");
            cmd.arg("-D")
                .arg(&self.data_dir)
                .args(["--auth-local=peer", "--auth-host=reject", "-U", SERVER_USER, "--encoding=UTF8"])
                .arg(format!("--locale={locale}"));
            let out = run(cmd, "initialising the cluster (initdb)")?;
            if out.status.success() {
                log::info!("initialised cluster at {} (locale {locale})", self.data_dir.display());
                return Ok(());
            }
            log::warn!("initdb with locale {locale} failed ({}); {}", out.status, output_tail(&out));
            failures.push(format!("with --locale={locale} ({}): {}", out.status, output_tail(&out)));
        }
        Err(EmbeddedError::Io(format!(
            "initialising the cluster at {} (initdb) failed {}",
            self.data_dir.display(),
            failures.join("; ")
        )))
    }

    /// pg_ctl's own status check is authoritative about stale postmaster.pid
    /// files, so we ask it rather than inspecting the pid file ourselves.
    fn is_running(&self) -> Result<bool, EmbeddedError> {
        let mut cmd = self.server_cmd("pg_ctl");
        cmd.arg("status").arg("-D").arg(&self.data_dir);
        let out = run(cmd, "checking PostgreSQL status (pg_ctl status)")?;
        Ok(out.status.success())
    }

    /// All configuration goes on the command line so an existing cluster
    /// picks up the caller's current options without editing postgresql.conf.
    fn pg_ctl_start(&self, opts: &LocalPostgresOptions) -> Result<(), EmbeddedError> {
        let mut server_opts = format!(
            "-k {} -p {} -c listen_addresses='' -c unix_socket_permissions=0700 -c max_connections={}",
            shell_quote(self.socket_dir.as_os_str()),
            self.port,
            opts.max_connections
        );
        // Checkpoints far enough apart that a busy till does not write every page it touches twice
        // (full-page images after each checkpoint: 31 kB of WAL per sale at 1 M members with the
        // defaults, when max_wal_size forced a checkpoint every half minute), and a buffer cache
        // that holds the members' hot rows.
        server_opts.push_str(" -c shared_buffers=512MB -c max_wal_size=4GB -c checkpoint_timeout=15min");
        if opts.fast_unsafe {
            server_opts.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let archive = opts.wal_archive_dir.iter().flat_map(|dir| backup::archive_settings(dir));
        for (name, value) in archive.chain(opts.settings.iter().cloned()) {
            server_opts.push_str(&format!(" -c {}", shell_quote(OsStr::new(&format!("{name}={value}")))));
        }
        let timeout = SERVER_TIMEOUT.as_secs().to_string();
        let mut cmd = self.server_cmd("pg_ctl");
        cmd.arg("start")
            .args(["-w", "-t", &timeout])
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&self.log_path)
            .arg("-o")
            .arg(&server_opts);
        let out = run(cmd, "starting PostgreSQL (pg_ctl start)")?;
        if out.status.success() {
            return Ok(());
        }
        Err(self.pg_ctl_failed("starting", &out))
    }

    /// A failed `pg_ctl` with what it and the server said: the only useful diagnosis.
    fn pg_ctl_failed(&self, doing: &str, out: &Output) -> EmbeddedError {
        EmbeddedError::Io(format!(
            "{doing} PostgreSQL at {} (pg_ctl) failed ({}): {}{}",
            self.data_dir.display(),
            out.status,
            output_tail(out),
            self.log_tail_section()
        ))
    }

    /// `pg_ctl -w` only proves the postmaster came up; pg_isready on the exact
    /// socket proves clients can actually connect where `url()` points.
    fn wait_until_ready(&self) -> Result<(), EmbeddedError> {
        let deadline = Instant::now() + SERVER_TIMEOUT;
        let port = self.port.to_string();
        loop {
            let mut cmd = Command::new(self.tool_path("pg_isready"));
            cmd.arg("-h").arg(&self.socket_dir).args(["-p", &port, "-U", SERVER_USER, "-t", "2"]).stdin(Stdio::null());
            let last = match cmd.output() {
                Ok(out) if out.status.success() => return Ok(()),
                Ok(out) => format!("pg_isready {}: {}", out.status, output_tail(&out)),
                // No pg_isready anywhere: the socket existing is the best signal left.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if self.socket_path().exists() {
                        return Ok(());
                    }
                    format!("socket {} does not exist", self.socket_path().display())
                }
                Err(e) => format!("could not run pg_isready: {e}"),
            };
            if !self.is_running().unwrap_or(true) {
                return Err(EmbeddedError::StoppedWhileStarting(
                    self.data_dir.display().to_string(),
                    self.log_tail_section(),
                ));
            }
            if Instant::now() >= deadline {
                return Err(EmbeddedError::Io(format!(
                    "PostgreSQL at {} did not accept connections on {} within {} s ({last}){}",
                    self.data_dir.display(),
                    self.socket_path().display(),
                    SERVER_TIMEOUT.as_secs(),
                    self.log_tail_section()
                )));
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// The server log usually holds the real reason for a failure, so errors
    /// quote its end.
    fn log_tail_section(&self) -> String {
        match fs::read_to_string(&self.log_path) {
            Ok(text) if !text.trim().is_empty() => {
                format!("\n--- last lines of {} ---\n{}", self.log_path.display(), last_lines(&text, LOG_TAIL_LINES))
            }
            _ => String::new(),
        }
    }
}

impl Drop for LocalPostgres {
    /// Drop cannot report errors, so a failed stop is logged rather than lost.
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            log::warn!("could not stop local PostgreSQL: {e}");
        }
    }
}

#[cfg(test)]
mod tests;
