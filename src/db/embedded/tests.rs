//! The embedded cluster started, reached, closed to others and stopped.

use super::*;

/// Removes the scratch directory even when an assertion fails.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn percent_encodes_socket_dir() {
    assert_eq!(percent_encode(b"/tmp/a b"), "%2Ftmp%2Fa%20b");
    assert_eq!(percent_encode(b"app_test-1"), "app_test-1");
}

#[test]
fn starts_answers_and_stops() {
    let nanos: u32 = rand::random();
    // Short path: the socket path limit is only 107 bytes.
    let root = PathBuf::from(format!("/tmp/pgemb-{}-{}", std::process::id(), nanos % 100_000));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap_or_else(|e| panic!("creating {}: {e}", root.display()));
    let _cleanup = RemoveOnDrop(root.clone());
    let port = 20_000 + (nanos % 40_000) as u16;

    let opts = LocalPostgresOptions {
        data_dir: root.join("data"),
        socket_dir: root.join("sock"),
        port,
        fast_unsafe: true,
        max_connections: 20,
        wal_archive_dir: None,
        settings: Vec::new(),
    };
    let mut pg = match LocalPostgres::start(opts.clone()) {
        Ok(pg) => pg,
        Err(EmbeddedError::BinariesNotFound) => {
            eprintln!("skipping: no PostgreSQL server binaries on this machine");
            return;
        }
        Err(e) => panic!("starting local PostgreSQL failed: {e}"),
    };
    // Safety net in case this test process dies before stop().
    pg.stop_when_process_exits(std::process::id(), Some(&root)).unwrap_or_else(|e| panic!("watchdog: {e}"));

    let expected_host = percent_encode(root.join("sock").as_os_str().as_bytes());
    assert_eq!(pg.url("app"), format!("postgres://postgres@localhost/app?host={expected_host}&port={port}"));
    assert!(pg.url("app").contains("?host=%2Ftmp%2Fpgemb-"));

    let psql = if Path::new("/usr/bin/psql").exists() {
        PathBuf::from("/usr/bin/psql")
    } else {
        find_bin_dir().map(|d| d.join("psql")).unwrap_or_else(|| PathBuf::from("psql"))
    };
    let select_one = || {
        let out = Command::new(&psql)
            .arg(pg.url("postgres"))
            .arg("-Atc")
            .arg("select 1")
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", psql.display()));
        assert!(out.status.success(), "psql failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    };
    select_one();

    // A second handle adopts the running cluster; left running, it stops nothing.
    let command = LocalPostgres::start(opts).unwrap_or_else(|e| panic!("adopting the running cluster: {e}"));
    assert!(command.adopted);
    command.leave_running();
    select_one();

    // SPEC §3.1: nobody else may connect — the socket and its directory are 0700 and
    // pg_hba.conf trusts no one.
    let mode = |p: &Path| fs::metadata(p).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
    assert_eq!(mode(&pg.socket_path()), 0o700, "socket mode");
    assert_eq!(mode(&root.join("sock")), 0o700, "socket directory mode");
    let hba = fs::read_to_string(root.join("data").join("pg_hba.conf")).unwrap_or_default();
    assert!(hba.lines().filter(|l| !l.starts_with('#')).all(|l| !l.contains("trust")), "{hba}");
    if running_as_root().unwrap_or(false) {
        // Another account on the host, even one that can reach the socket, is refused.
        let _ = fs::set_permissions(&root, fs::Permissions::from_mode(0o755));
        let out = Command::new("runuser")
            .args(["-u", "nobody", "--"])
            .arg(&psql)
            .arg(pg.url("postgres"))
            .arg("-Atc")
            .arg("select 1")
            .env("PGCONNECT_TIMEOUT", "10")
            .current_dir("/")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running psql as nobody: {e}"));
        assert!(!out.status.success(), "another OS user connected: {}", String::from_utf8_lossy(&out.stdout));
    }

    pg.stop().unwrap_or_else(|e| panic!("stopping: {e}"));
    assert!(!pg.socket_path().exists(), "socket still present after stop");
    pg.stop().unwrap_or_else(|e| panic!("second stop should be a no-op: {e}"));
}
