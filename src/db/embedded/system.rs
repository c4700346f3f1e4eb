//! What running PostgreSQL's tools needs of the operating system: finding the binaries, the server
//! user when we run as root, paths a shell and a socket accept, and commands whose failure says why.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{EmbeddedError, LOG_TAIL_LINES, MAX_SOCKET_PATH, SERVER_USER};

/// PATH reflects what the operator chose; the versioned Debian directories are
/// the fallback because server binaries are often not on PATH there, and the
/// newest version is the one most likely to be maintained.
pub fn find_bin_dir() -> Option<PathBuf> {
    let has_tools = |dir: &Path| is_executable(&dir.join("initdb")) && is_executable(&dir.join("pg_ctl"));

    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.as_os_str().is_empty() || !has_tools(&dir) {
                continue;
            }
            // Prefer the real directory behind a symlinked initdb: it also holds
            // matching postgres/pg_isready binaries.
            if let Some(real) =
                fs::canonicalize(dir.join("initdb")).ok().and_then(|p| p.parent().map(Path::to_path_buf))
            {
                if has_tools(&real) {
                    return Some(real);
                }
            }
            return Some(fs::canonicalize(&dir).unwrap_or(dir));
        }
    }

    let mut versions: Vec<(Vec<u64>, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let key: Option<Vec<u64>> = name.split('.').map(|p| p.parse().ok()).collect();
            let bin = entry.path().join("bin");
            match key {
                Some(key) if has_tools(&bin) => Some((key, bin)),
                _ => None,
            }
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Relative paths would break once commands run with cwd `/` as another user.
pub(super) fn absolute(path: &Path, what: &str) -> Result<PathBuf, EmbeddedError> {
    std::path::absolute(path).map_err(|e| io_err(format!("resolving the {what} {}", path.display()), e))
}

/// The kernel rejects longer socket paths with an unhelpful error deep inside
/// the server log, so fail early and name the path.
pub(super) fn check_socket_path(socket_dir: &Path, port: u16) -> Result<(), EmbeddedError> {
    let path = socket_dir.join(format!(".s.PGSQL.{port}"));
    let len = path.as_os_str().as_bytes().len();
    if len > MAX_SOCKET_PATH {
        return Err(EmbeddedError::Io(format!(
            "unix socket path {} is {len} bytes, longer than the {MAX_SOCKET_PATH}-byte limit: \
             choose a shorter socket directory",
            path.display()
        )));
    }
    Ok(())
}

/// pg_ctl pastes paths into a double-quoted `sh -c` command, where these
/// characters would be interpreted instead of taken literally.
pub(super) fn check_shell_safe(what: &str, path: &Path) -> Result<(), EmbeddedError> {
    if path.as_os_str().as_bytes().iter().any(|b| matches!(b, b'"' | b'$' | b'`' | b'\\' | b'\n')) {
        return Err(EmbeddedError::Io(format!(
            "the {what} {} contains a character pg_ctl cannot handle (\" $ ` \\ or newline)",
            path.display()
        )));
    }
    Ok(())
}

/// Avoids `unsafe` libc calls: the kernel reports the effective uid in
/// /proc; `id -u` covers systems without procfs.
pub(super) fn running_as_root() -> Result<bool, EmbeddedError> {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        if let Some(euid) =
            status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|rest| rest.split_whitespace().nth(1))
        {
            return Ok(euid == "0");
        }
    }
    let out = run_checked(
        {
            let mut c = Command::new("id");
            c.arg("-u");
            c
        },
        "determining the current user (id -u)",
    )?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The name of the operating-system user this process runs as (`id -un`: no `unsafe`).
pub(super) fn current_user() -> Result<String, EmbeddedError> {
    let mut cmd = Command::new("id");
    cmd.arg("-un");
    let out = run_checked(cmd, "determining the current user name (id -un)")?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        return Err(EmbeddedError::Io(format!("unusable user name '{name}' for pg_ident.conf")));
    }
    Ok(name)
}

/// As root we depend on the server user; a missing account deserves a clear
/// message rather than a runuser failure later.
pub(super) fn ensure_server_user() -> Result<(), EmbeddedError> {
    let mut cmd = Command::new("id");
    cmd.args(["-u", SERVER_USER]);
    run_checked(cmd, "looking up the postgres system user (id -u postgres)").map_err(|e| {
        EmbeddedError::Io(format!("running as root requires a `{SERVER_USER}` system user to own the cluster: {e}"))
    })?;
    Ok(())
}

/// The server user must own what it writes to; chown(1) avoids `unsafe`. Never through a link:
/// root chowning one the server's user swapped in for a file would hand that user its target.
pub(super) fn chown_to_server_user(path: &Path, recursive: bool) -> Result<(), EmbeddedError> {
    let mut cmd = Command::new("chown");
    cmd.args(if recursive { &["--no-dereference", "-R"][..] } else { &["--no-dereference"] });
    cmd.arg(format!("{SERVER_USER}:{SERVER_USER}")).arg(path);
    run_checked(cmd, &format!("changing the owner of {} to {SERVER_USER}", path.display()))?;
    Ok(())
}

/// Spawns a command with captured output, turning a failure to spawn into an
/// error naming the step; the exit status is left to the caller.
pub(super) fn run(mut cmd: Command, step: &str) -> Result<Output, EmbeddedError> {
    cmd.stdin(Stdio::null()).output().map_err(|e| EmbeddedError::Io(format!("{step}: could not run {cmd:?}: {e}")))
}

/// Like [`run`], but a non-zero exit is an error carrying the command output.
pub(super) fn run_checked(cmd: Command, step: &str) -> Result<Output, EmbeddedError> {
    let out = run(cmd, step)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(EmbeddedError::Io(format!("{step} failed ({}): {}", out.status, output_tail(&out))))
    }
}

/// stderr is where the tools explain themselves; stdout is the fallback.
pub(super) fn output_tail(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = if stderr.trim().is_empty() { String::from_utf8_lossy(&out.stdout) } else { stderr };
    let tail = last_lines(&text, LOG_TAIL_LINES);
    if tail.is_empty() {
        "(no output)".to_string()
    } else {
        tail
    }
}

pub(super) fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub(super) fn io_err(step: String, e: io::Error) -> EmbeddedError {
    EmbeddedError::Io(format!("{step}: {e}"))
}

/// `tool` in `bin_dir`, else as PATH finds it (see `tool_path`).
pub(super) fn tool_at(bin_dir: &Path, tool: &str) -> PathBuf {
    let candidate = bin_dir.join(tool);
    if is_executable(&candidate) {
        candidate
    } else {
        PathBuf::from(tool)
    }
}

pub(super) fn is_executable(path: &Path) -> bool {
    fs::metadata(path).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// The `-o` options string is re-parsed by `sh`, so arbitrary paths must be
/// single-quoted.
pub(super) fn shell_quote(s: &OsStr) -> String {
    format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"))
}

/// URL components must not contain `/`, `?`, `&` etc. literally; encoding
/// everything but unreserved characters is always valid.
pub fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
