//! The CSV file being imported: its header, its records with their line numbers, a fingerprint of
//! its content, and seeking to where an interrupted run stopped.
//!
//! UTF-8 with or without a BOM, `\n` or `\r\n` line endings, quoted fields (which may hold commas
//! and line breaks). A record that is not UTF-8 or has the wrong number of fields becomes a reject,
//! not the end of the import.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

pub struct Source {
    reader: csv::Reader<BufReader<File>>,
    /// The header as written (for the rejects file).
    pub header: csv::ByteRecord,
    /// Column names, trimmed and in lower case.
    pub columns: Vec<String>,
    /// Bytes in the file (the progress bar's length).
    pub size: u64,
}

/// One record: where it starts (1-based line, as an editor shows it), its cells, and the record as
/// read (for the rejects file).
#[derive(Debug, Clone)]
pub struct Record {
    pub line: u64,
    pub raw: csv::ByteRecord,
    /// The cells, or why the record cannot be read.
    pub cells: Result<Vec<String>, String>,
}

impl Record {
    /// The cell of column `index`, trimmed; `None` when blank.
    pub fn cell(&self, index: Option<usize>) -> Option<&str> {
        let cells = self.cells.as_ref().ok()?;
        index.and_then(|i| cells.get(i)).map(|c| c.trim()).filter(|c| !c.is_empty())
    }
}

fn open_error(path: &Path, e: impl std::fmt::Display) -> String {
    format!("cannot read {}: {e}", path.display())
}

impl Source {
    pub fn open(path: &Path) -> Result<Source, String> {
        let file = File::open(path).map_err(|e| open_error(path, e))?;
        let size = file.metadata().map_err(|e| open_error(path, e))?.len();
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .buffer_capacity(1 << 20)
            .from_reader(BufReader::with_capacity(1 << 20, file));
        let header = reader.byte_headers().map_err(|e| open_error(path, e))?.clone();
        let mut columns = Vec::with_capacity(header.len());
        for cell in header.iter() {
            let name = std::str::from_utf8(cell).map_err(|_| {
                format!(
                    "{}: the header is not UTF-8; save the file as UTF-8 (e.g. `iconv -f GBK -t UTF-8`)",
                    path.display()
                )
            })?;
            columns.push(name.trim().to_lowercase());
        }
        if columns.iter().all(String::is_empty) {
            return Err(format!("{}: the first line must name the columns", path.display()));
        }
        Ok(Source { reader, header, columns, size })
    }

    /// Where the next record starts.
    pub fn position(&self) -> csv::Position {
        self.reader.position().clone()
    }

    /// Continues at a position an earlier run recorded.
    pub fn seek(&mut self, at: csv::Position) -> Result<(), String> {
        self.reader.seek(at).map_err(|e| format!("cannot continue the interrupted run: {e}"))
    }

    pub fn next_record(&mut self) -> Result<Option<Record>, String> {
        let mut raw = csv::ByteRecord::new();
        let more = self.reader.read_byte_record(&mut raw).map_err(|e| format!("reading the file: {e}"))?;
        if !more {
            return Ok(None);
        }
        let line = raw.position().map_or(0, |p| p.line());
        let cells = if raw.len() != self.columns.len() {
            Err(format!("{} fields where the header has {}", raw.len(), self.columns.len()))
        } else {
            raw.iter()
                .map(|cell| std::str::from_utf8(cell).map(str::to_string))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| "not UTF-8: save the file as UTF-8 (e.g. `iconv -f GBK -t UTF-8`)".to_string())
        };
        Ok(Some(Record { line, raw, cells }))
    }
}

/// SHA-256 of the file's content, hex: the same file resumes its interrupted run, an edited one
/// starts afresh.
pub fn fingerprint(path: &Path) -> Result<String, String> {
    let mut file = File::open(path).map_err(|e| open_error(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| open_error(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
