//! Files this program writes: an import's rejects, the data directory's generated secrets, the
//! embedded cluster's access rules, a backup's description and the files of a restored one — and,
//! in `csv_safe`, the CSV that the rejects and the reports are written as. Foundation: it knows no
//! domain.
//!
//! Every file is opened with `O_NOFOLLOW`. Whoever can write the directory a file goes into (a
//! colleague sharing the folder an import file sits in; the database's own OS user inside its data
//! directory when the service runs as root) could plant a symbolic link where the file goes, and a
//! plain `File::create` would then overwrite whatever the link points to, with this process's
//! rights — or, for a secret, read one the planter chose. A link there is refused with a message
//! naming it; nothing is written. (Only the last component is guarded: the directories above are the
//! operator's.) The files hold personal data or secrets, so a file created here is private (0600).

pub mod csv_safe;

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Owner read and write: a created file holds personal data or a secret.
const PRIVATE: u32 = 0o600;

fn no_follow() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.custom_flags(libc::O_NOFOLLOW);
    options
}

/// Why `path` could not be used; a symbolic link is named as what it is, so the operator knows the
/// refusal is deliberate and what to remove.
fn failure(path: &Path, doing: &str, e: std::io::Error) -> String {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if is_link {
        format!(
            "refusing to {doing} {}: it is a symbolic link, and this program never follows one there (it could \
             point at any file); remove the link and run again",
            path.display()
        )
    } else {
        format!("cannot {doing} {}: {e}", path.display())
    }
}

/// `path` emptied for writing, created private when missing; never through a link.
pub fn create_private(path: &Path) -> Result<File, String> {
    no_follow().write(true).create(true).truncate(true).mode(PRIVATE).open(path).map_err(|e| failure(path, "write", e))
}

/// `path` as it is, to write into (a run that continues its own file); `None` when it is missing.
pub fn open_existing(path: &Path) -> Result<Option<File>, String> {
    match no_follow().write(true).open(path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(failure(path, "write", e)),
    }
}

/// Replaces `path`'s content with `contents` (created private when missing).
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), String> {
    create_private(path)?.write_all(contents).map_err(|e| failure(path, "write", e))
}

/// A copy of `from` at `to`, which must not exist yet — never written through a link, never over a
/// file — with permissions `mode` (a restored cluster's files are private too); the bytes copied.
pub fn copy_new(from: &Path, to: &Path, mode: u32) -> Result<u64, String> {
    let mut source = no_follow().read(true).open(from).map_err(|e| failure(from, "read", e))?;
    let mut target =
        no_follow().write(true).create_new(true).mode(mode).open(to).map_err(|e| failure(to, "write", e))?;
    std::io::copy(&mut source, &mut target).map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))
}

/// A lock on `path` (created private when missing) held for as long as the returned file is open —
/// the operating system lets go when the process ends, however it ends. `None` when another process
/// holds it.
pub fn try_lock(path: &Path) -> Result<Option<File>, String> {
    let file = no_follow()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(PRIVATE)
        .open(path)
        .map_err(|e| failure(path, "lock", e))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(failure(path, "lock", e)),
    }
}

/// `path`'s text, `None` when it is missing; a link is refused, not read (a planted one would hand
/// this program a secret of the planter's choosing).
pub fn read_to_string(path: &Path) -> Result<Option<String>, String> {
    let mut file = match no_follow().read(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failure(path, "read", e)),
    };
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| failure(path, "read", e))?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::path::PathBuf;

    /// A directory of the test's own, with a victim file and links to it and to nowhere.
    struct Place {
        dir: PathBuf,
    }

    impl Place {
        fn new() -> Place {
            let dir = std::env::temp_dir().join(format!("rcrm-files-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("victim"), "precious").unwrap();
            symlink(dir.join("victim"), dir.join("link")).unwrap();
            symlink(dir.join("nowhere"), dir.join("dangling")).unwrap();
            std::fs::write(dir.join("plain"), "old").unwrap();
            Place { dir }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.join(name)
        }

        /// The victim is untouched and the dangling link created nothing.
        fn assert_untouched(&self) {
            assert_eq!(std::fs::read_to_string(self.path("victim")).unwrap(), "precious");
            assert!(!self.path("nowhere").exists());
        }
    }

    impl Drop for Place {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    type Use = fn(&Path) -> Result<(), String>;

    const USES: [(&str, Use); 5] = [
        ("create_private", |p| create_private(p).map(drop)),
        ("open_existing", |p| open_existing(p).map(drop)),
        ("write_private", |p| write_private(p, b"new")),
        ("read_to_string", |p| read_to_string(p).map(drop)),
        ("copy_new", |p| copy_new(&p.with_file_name("plain"), p, 0o600).map(drop)),
    ];

    #[test]
    fn a_link_is_refused_by_name_and_its_target_left_alone() {
        let place = Place::new();
        for (what, use_it) in USES {
            for link in ["link", "dangling"] {
                let path = place.path(link);
                let error = use_it(&path).expect_err(what);
                assert!(
                    error.contains("symbolic link") && error.contains(&path.display().to_string()),
                    "{what}: {error}"
                );
                place.assert_untouched();
            }
        }
    }

    #[test]
    fn plain_files_are_written_and_read_and_created_private() {
        let place = Place::new();
        write_private(&place.path("plain"), b"new").unwrap();
        assert_eq!(read_to_string(&place.path("plain")).unwrap().as_deref(), Some("new"));
        write_private(&place.path("fresh"), b"secret").unwrap();
        let mode = std::fs::metadata(place.path("fresh")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read_to_string(&place.path("missing")).unwrap(), None);
        assert!(open_existing(&place.path("missing")).unwrap().is_none());
        assert!(open_existing(&place.path("plain")).unwrap().is_some());
        assert_eq!(copy_new(&place.path("plain"), &place.path("copy"), 0o600).unwrap(), 3);
        assert_eq!(read_to_string(&place.path("copy")).unwrap().as_deref(), Some("new"));
        let again = copy_new(&place.path("plain"), &place.path("copy"), 0o600).expect_err("never over a file");
        assert!(again.contains("cannot write"), "{again}");
    }
}
