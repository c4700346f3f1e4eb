//! The CSV file being imported: its header, its records with their line numbers, a fingerprint of
//! its content, and seeking to where an interrupted run stopped.
//!
//! UTF-8 with or without a BOM, `\n` or `\r\n` line endings, quoted fields (which may hold commas
//! and line breaks). A record that is not UTF-8 or has the wrong number of fields becomes a reject,
//! not the end of the import.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::files::csv_safe;

pub struct Source {
    reader: csv::Reader<BufReader<File>>,
    lines: LineCounter,
    /// The header as written (for the rejects file).
    pub header: csv::ByteRecord,
    /// Column names, trimmed and in lower case.
    pub columns: Vec<String>,
    /// Bytes in the file (the progress bar's length).
    pub size: u64,
}

/// One record: the line it is on (1-based, as an editor shows it), its cells, the record as read
/// (for the rejects file), and where it starts (to continue there).
#[derive(Debug, Clone)]
pub struct Record {
    pub line: u64,
    pub start: csv::Position,
    pub raw: csv::ByteRecord,
    /// The cells, or why the record cannot be read.
    pub cells: Result<Vec<String>, String>,
}

impl Record {
    /// The cell of column `index`, trimmed; `None` when blank. A `'` that kept a spreadsheet from
    /// running the value as a formula (our rejects file writes one, so does a careful user) is not
    /// part of the value: `'=1+2` reads `=1+2`, `'+86 138 1234 5678` a phone.
    pub fn cell(&self, index: Option<usize>) -> Option<&str> {
        let cells = self.cells.as_ref().ok()?;
        index.and_then(|i| cells.get(i)).map(|c| csv_safe::restore(c.trim()).trim()).filter(|c| !c.is_empty())
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
        let lines = LineCounter::new(File::open(path).map_err(|e| open_error(path, e))?);
        Ok(Source { reader, lines, header, columns, size })
    }

    /// Where the next record starts, with its line number (`Position::line`) as ours counts it.
    pub fn position(&mut self) -> Result<csv::Position, String> {
        let mut at = self.reader.position().clone();
        let line = self.lines.line_at(at.byte()).map_err(|e| format!("reading the file: {e}"))?;
        at.set_line(line);
        Ok(at)
    }

    /// Continues at a position an earlier run recorded (from `position` or a record's `start`).
    pub fn seek(&mut self, at: csv::Position) -> Result<(), String> {
        let fail = |e: &dyn std::fmt::Display| format!("cannot continue the interrupted run: {e}");
        self.lines.reset(at.byte(), at.line()).map_err(|e| fail(&e))?;
        self.reader.seek(at).map_err(|e| fail(&e))
    }

    pub fn next_record(&mut self) -> Result<Option<Record>, String> {
        let mut raw = csv::ByteRecord::new();
        let more = self.reader.read_byte_record(&mut raw).map_err(|e| format!("reading the file: {e}"))?;
        if !more {
            return Ok(None);
        }
        let mut start = raw.position().cloned().unwrap_or_else(csv::Position::new);
        let (start_line, line) = self.lines.record_lines(start.byte()).map_err(|e| format!("reading the file: {e}"))?;
        start.set_line(start_line);
        let cells = if raw.len() != self.columns.len() {
            Err(format!("{} fields where the header has {}", raw.len(), self.columns.len()))
        } else {
            raw.iter()
                .map(|cell| std::str::from_utf8(cell).map(str::to_string))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| "not UTF-8: save the file as UTF-8 (e.g. `iconv -f GBK -t UTF-8`)".to_string())
        };
        Ok(Some(Record { line, start, raw, cells }))
    }
}

/// Line numbers as an editor shows them. The CSV reader's own count lags a line behind after a
/// `\r\n` (it ends a record at the `\r` and counts the `\n` with the next record), so lines are
/// counted here: a second, sequential read of the file that counts `\n` up to each record.
struct LineCounter {
    file: BufReader<File>,
    /// Bytes read, and the `\n` among them.
    offset: u64,
    newlines: u64,
}

impl LineCounter {
    fn new(file: File) -> LineCounter {
        LineCounter { file: BufReader::with_capacity(1 << 20, file), offset: 0, newlines: 0 }
    }

    /// Continues at `byte`, which is on `line`.
    fn reset(&mut self, byte: u64, line: u64) -> std::io::Result<()> {
        self.file.seek(SeekFrom::Start(byte))?;
        self.offset = byte;
        self.newlines = line.saturating_sub(1);
        Ok(())
    }

    /// The line `byte` is on (`byte` at or after the last one asked about).
    fn line_at(&mut self, byte: u64) -> std::io::Result<u64> {
        while self.offset < byte {
            let buf = self.file.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let take = buf.len().min((byte - self.offset) as usize);
            self.newlines += buf[..take].iter().filter(|b| **b == b'\n').count() as u64;
            self.file.consume(take);
            self.offset += take as u64;
        }
        Ok(self.newlines + 1)
    }

    /// The line a record starting at `byte` starts on, and the line its first cell is on (line
    /// breaks before it, such as the `\n` of a `\r\n`, belong to the lines before).
    fn record_lines(&mut self, byte: u64) -> std::io::Result<(u64, u64)> {
        let start = self.line_at(byte)?;
        loop {
            let buf = self.file.fill_buf()?;
            let Some(&first) = buf.first() else { break };
            if first != b'\n' && first != b'\r' {
                break;
            }
            self.newlines += (first == b'\n') as u64;
            self.file.consume(1);
            self.offset += 1;
        }
        Ok((start, self.newlines + 1))
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
