//! A report list as CSV (UTF-8 with a BOM, so Excel shows Chinese; cells neutralised by
//! `files::csv_safe`) or as an .xlsx workbook (text cells are strings there, never formulas), with
//! the same columns as the JSON rows (SPEC §13: "报表导出格式支持 Excel"). Numbers stay numbers in
//! the workbook; money and rates are the JSON's decimal strings, written as numbers.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use rust_xlsxwriter::Workbook;

use crate::error::{ApiError, ApiResult};
use crate::files::csv_safe;

pub const CSV: &str = "text/csv";
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// One cell of a row.
pub enum Cell {
    Text(String),
    Integer(i64),
    /// A decimal string (money, a rate): a number in the workbook, as written in the CSV.
    Decimal(String),
    Empty,
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

impl From<i64> for Cell {
    fn from(n: i64) -> Cell {
        Cell::Integer(n)
    }
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(value: Option<T>) -> Cell {
        value.map_or(Cell::Empty, Into::into)
    }
}

/// A row of a list report: its columns are the JSON item's fields, in order.
pub trait Row {
    const COLUMNS: &'static [&'static str];
    fn cells(&self) -> Vec<Cell>;
}

/// What the caller asked for in `Accept`: JSON unless CSV or the workbook is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Xlsx,
}

pub fn format_of(req: &HttpRequest) -> Format {
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if accept.contains(XLSX) {
        Format::Xlsx
    } else if accept.contains(CSV) {
        Format::Csv
    } else {
        Format::Json
    }
}

/// The rows as the file `format` names (`name` is the download's file name without extension);
/// `None` for JSON, which the handler answers itself.
pub fn file<R: Row>(format: Format, name: &str, rows: &[R]) -> ApiResult<Option<HttpResponse>> {
    let (body, content_type, extension) = match format {
        Format::Json => return Ok(None),
        Format::Csv => (csv(rows)?, "text/csv; charset=utf-8", "csv"),
        Format::Xlsx => (xlsx(rows)?, XLSX, "xlsx"),
    };
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}.{extension}\""))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Some(
        HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, content_type))
            .insert_header((header::CONTENT_DISPOSITION, disposition))
            .body(body),
    ))
}

fn text(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) | Cell::Decimal(s) => s.clone(),
        Cell::Integer(n) => n.to_string(),
        Cell::Empty => String::new(),
    }
}

/// Through `csv_safe`: a customer's name or a category that starts like a formula is quoted, so
/// the manager opening the file does not run it.
fn csv<R: Row>(rows: &[R]) -> ApiResult<Vec<u8>> {
    let mut out = csv_safe::Writer::with_bom();
    out.write(R::COLUMNS).map_err(ApiError::Internal)?;
    for row in rows {
        out.write(row.cells().iter().map(text)).map_err(ApiError::Internal)?;
    }
    out.into_bytes().map_err(ApiError::Internal)
}

fn xlsx<R: Row>(rows: &[R]) -> ApiResult<Vec<u8>> {
    let internal = |e: rust_xlsxwriter::XlsxError| ApiError::Internal(e.to_string());
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    for (col, name) in R::COLUMNS.iter().enumerate() {
        sheet.write_string(0, col as u16, *name).map_err(internal)?;
    }
    for (i, row) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        for (col, cell) in row.cells().iter().enumerate() {
            let col = col as u16;
            match cell {
                Cell::Text(s) => sheet.write_string(r, col, s).map(|_| ()),
                Cell::Integer(n) => sheet.write_number(r, col, *n as f64).map(|_| ()),
                Cell::Decimal(s) => match s.parse::<f64>() {
                    Ok(n) => sheet.write_number(r, col, n).map(|_| ()),
                    Err(_) => sheet.write_string(r, col, s).map(|_| ()),
                },
                Cell::Empty => Ok(()),
            }
            .map_err(internal)?;
        }
    }
    workbook.save_to_buffer().map_err(internal)
}
