//! `FILE.rejects.csv`: each rejected row with its line number and reason, then its own columns
//! as read, so the file can be fixed and imported again. UTF-8 with a BOM (Excel shows Chinese).
//!
//! A batch's rejects reach the disk before the batch commits, and the run's checkpoint records the
//! file's length with the batch: a run resumed after a kill cuts the file back to that length, so
//! no row is listed twice and none is lost.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const BOM: &[u8] = b"\xEF\xBB\xBF";

pub struct Rejects {
    path: PathBuf,
    file: File,
    /// Bytes written and kept so far.
    len: u64,
}

fn io_error(path: &Path, e: std::io::Error) -> String {
    format!("cannot write {}: {e}", path.display())
}

/// `customers.csv` → `customers.csv.rejects.csv`.
pub fn path_for(source: &Path) -> PathBuf {
    let mut name = source.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".rejects.csv");
    source.with_file_name(name)
}

fn csv_bytes(records: &[Vec<&[u8]>]) -> Result<Vec<u8>, String> {
    let mut writer = csv::WriterBuilder::new().flexible(true).terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    for record in records {
        writer.write_record(record).map_err(|e| e.to_string())?;
    }
    writer.into_inner().map_err(|e| e.to_string())
}

impl Rejects {
    /// A new file with the header: `line`, `reason`, then the source's own columns.
    pub fn create(path: PathBuf, header: &csv::ByteRecord) -> Result<Rejects, String> {
        let mut file = File::create(&path).map_err(|e| io_error(&path, e))?;
        let mut first: Vec<&[u8]> = vec![b"line", b"reason"];
        first.extend(header.iter());
        let mut bytes = BOM.to_vec();
        bytes.extend(csv_bytes(&[first])?);
        file.write_all(&bytes).map_err(|e| io_error(&path, e))?;
        Ok(Rejects { path, file, len: bytes.len() as u64 })
    }

    /// The file of an interrupted run, cut back to what its last committed batch had written.
    pub fn resume(path: PathBuf, header: &csv::ByteRecord, len: u64) -> Result<Rejects, String> {
        let existing = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if existing < len {
            log::warn!(
                "{} is shorter than the interrupted run left it: rejects of its first batches are missing",
                path.display()
            );
            return Rejects::create(path, header);
        }
        let file = OpenOptions::new().write(true).open(&path).map_err(|e| io_error(&path, e))?;
        let mut rejects = Rejects { path, file, len };
        rejects.truncate(len)?;
        Ok(rejects)
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one batch's rejected rows `(line, reason, record)` and makes them durable.
    pub fn append(&mut self, rows: &[(u64, String, &csv::ByteRecord)]) -> Result<(), String> {
        if rows.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = rows.iter().map(|(line, _, _)| line.to_string()).collect();
        let records: Vec<Vec<&[u8]>> = rows
            .iter()
            .zip(&lines)
            .map(|((_, reason, raw), line)| {
                let mut record: Vec<&[u8]> = vec![line.as_bytes(), reason.as_bytes()];
                record.extend(raw.iter());
                record
            })
            .collect();
        let bytes = csv_bytes(&records)?;
        self.file.seek(SeekFrom::Start(self.len)).map_err(|e| io_error(&self.path, e))?;
        self.file.write_all(&bytes).map_err(|e| io_error(&self.path, e))?;
        self.file.sync_data().map_err(|e| io_error(&self.path, e))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Forgets what was written after `len` (a batch that did not commit).
    pub fn truncate(&mut self, len: u64) -> Result<(), String> {
        self.file.set_len(len).map_err(|e| io_error(&self.path, e))?;
        self.len = len;
        Ok(())
    }

    /// Removes the file (a run without rejects leaves none behind).
    pub fn remove(self) -> Result<(), String> {
        let Rejects { path, file, .. } = self;
        drop(file);
        std::fs::remove_file(&path).map_err(|e| io_error(&path, e))
    }
}
