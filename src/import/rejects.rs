//! `FILE.rejects.csv`: each rejected row with its line number and reason, then its own columns
//! as read, so the file can be fixed and imported again. UTF-8 with a BOM (Excel shows Chinese),
//! written by `files::csv_safe` (a cell a spreadsheet would run as a formula is quoted; the import
//! reads it back as it was) and opened by `files` (never through a planted link; private, as it
//! holds customers' personal data).
//!
//! A batch's rejects reach the disk before the batch commits, and the run's checkpoint records the
//! file's length with the batch: a run resumed after a kill cuts the file back to that length, so
//! no row is listed twice and none is lost.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::files::{self, csv_safe};

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

fn csv_bytes(mut writer: csv_safe::Writer, records: &[Vec<&[u8]>]) -> Result<Vec<u8>, String> {
    for record in records {
        writer.write(record)?;
    }
    writer.into_bytes()
}

impl Rejects {
    /// A new file with the header: `line`, `reason`, then the source's own columns.
    pub fn create(path: PathBuf, header: &csv::ByteRecord) -> Result<Rejects, String> {
        let mut file = files::create_private(&path)?;
        let mut first: Vec<&[u8]> = vec![b"line", b"reason"];
        first.extend(header.iter());
        let bytes = csv_bytes(csv_safe::Writer::with_bom(), &[first])?;
        file.write_all(&bytes).map_err(|e| io_error(&path, e))?;
        Ok(Rejects { path, file, len: bytes.len() as u64 })
    }

    /// The file of an interrupted run, cut back to what its last committed batch had written.
    pub fn resume(path: PathBuf, header: &csv::ByteRecord, len: u64) -> Result<Rejects, String> {
        // The length is the opened file's own: no window for a link to take the path's place.
        let file = files::open_existing(&path)?;
        let existing = match &file {
            Some(file) => file.metadata().map_err(|e| io_error(&path, e))?.len(),
            None => 0,
        };
        match file {
            Some(file) if existing >= len => {
                let mut rejects = Rejects { path, file, len };
                rejects.truncate(len)?;
                Ok(rejects)
            }
            _ => {
                log::warn!(
                    "{} is shorter than the interrupted run left it: rejects of its first batches are missing",
                    path.display()
                );
                Rejects::create(path, header)
            }
        }
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
        let bytes = csv_bytes(csv_safe::Writer::continuing(), &records)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn place() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rcrm-rejects-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn header() -> csv::ByteRecord {
        csv::ByteRecord::from(vec!["phone", "name"])
    }

    #[test]
    fn a_link_at_the_rejects_path_is_refused_by_a_fresh_run_and_by_a_resumed_one() {
        let dir = place();
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = path_for(&dir.join("customers.csv"));
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let fresh = Rejects::create(link.clone(), &header()).err().unwrap();
        let resumed = Rejects::resume(link.clone(), &header(), 12).err().unwrap();
        for refusal in [fresh, resumed] {
            assert!(refusal.contains("symbolic link") && refusal.contains(&link.display().to_string()), "{refusal}");
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn rejected_cells_are_written_neutralised() {
        let dir = place();
        let path = path_for(&dir.join("customers.csv"));
        let mut rejects = Rejects::create(path.clone(), &header()).unwrap();
        let row = csv::ByteRecord::from(vec!["-3", "=HYPERLINK(\"x\")"]);
        rejects.append(&[(2, "validation_failed: phone".into(), &row)]).unwrap();
        let written = std::fs::read(&path).unwrap();
        assert_eq!(
            written,
            b"\xEF\xBB\xBFline,reason,phone,name\r\n2,validation_failed: phone,-3,\"'=HYPERLINK(\"\"x\"\")\"\r\n"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
