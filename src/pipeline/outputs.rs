//! Files a command is still writing beside its final output (a pack's
//! temporary archive, a checksum about to be renamed into place). Each is
//! listed here while it exists, so an interrupt (SIGINT/SIGTERM) can remove
//! them all before the process exits: a killed writer leaves nothing
//! behind. Every writer (pack today; volumes, merge, inventory later)
//! registers its temporary files the same way.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn pending() -> MutexGuard<'static, Vec<PathBuf>> {
    // A panic while holding the lock must not stop the cleanup.
    PENDING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A temporary file listed for removal on interrupt until dropped.
#[must_use = "the file is only listed while this guard lives"]
pub struct Pending {
    path: PathBuf,
}

/// List `path` until the returned guard is dropped (after the file was
/// renamed into place or removed).
pub fn register(path: &Path) -> Pending {
    pending().push(path.to_path_buf());
    Pending {
        path: path.to_path_buf(),
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut p = pending();
        if let Some(i) = p.iter().position(|q| *q == self.path) {
            p.swap_remove(i);
        }
    }
}

/// Create a temporary file with `make` and list it, as one step with
/// respect to [`remove_all_and_hold`]: a file is either created and listed
/// before the interrupt handler runs, or never created (the handler keeps
/// the list locked until the process exits). For writers that create files
/// while they run (volumes), where an interrupt can land between creating
/// and listing.
pub fn create(
    make: impl FnOnce() -> std::io::Result<tempfile::NamedTempFile>,
) -> std::io::Result<(tempfile::NamedTempFile, Pending)> {
    let mut p = pending();
    let file = make()?;
    let path = file.path().to_path_buf();
    p.push(path.clone());
    Ok((file, Pending { path }))
}

/// The interrupt handler's cleanup: remove every listed file and keep the
/// list locked, so no writer lists (or, through [`create`], creates)
/// another file before the process exits. Returns how many were removed.
pub fn remove_all_and_hold() -> usize {
    let mut p = pending();
    let n = p
        .drain(..)
        .filter(|path| std::fs::remove_file(path).is_ok())
        .count();
    // Held until exit: the handler exits right after this.
    std::mem::forget(p);
    n
}

/// Remove every listed file (the interrupt handler's job); returns how
/// many were removed. A file already renamed into place is no longer at
/// its temporary path, so it is left alone.
pub fn remove_all() -> usize {
    let mut p = pending();
    let n = p
        .drain(..)
        .filter(|path| std::fs::remove_file(path).is_ok())
        .count();
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_files_are_removed_and_dropped_guards_unlist_them() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"x").unwrap();
        std::fs::write(&b, b"y").unwrap();
        let _ga = register(&a);
        drop(register(&b));
        assert_eq!(remove_all(), 1);
        assert!(!a.exists());
        assert!(b.exists(), "a dropped guard no longer lists its file");
    }
}
