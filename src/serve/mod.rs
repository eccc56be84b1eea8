//! `airlock serve`'s registry: the pull side of the OCI Distribution API
//! over a verified archive, answered straight from the archive's tar (or,
//! for a compressed archive, from the private spool of its tar made while
//! verifying). Only an [`Index`] built from a [`crate::gate::VerifiedArchive`]
//! can be served.
//!
//! [`index`] is what is served, [`routes`] the API paths, [`respond`] one
//! request → one response, [`server`] the hyper/rustls server around them.

pub mod index;
pub mod respond;
pub mod routes;
pub mod server;

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

pub use index::Index;
pub use server::{Server, Settings, Tls};

/// A file's size and modification time: what "unchanged" means here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub len: u64,
    pub modified: Option<SystemTime>,
}

impl Stamp {
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

/// What the server answers from.
pub struct Served {
    pub index: Index,
    /// The tar the blob offsets point into (the archive, or its spool).
    pub file: File,
    /// The archive as named on the command line, and its stamp when verified.
    pub archive: PathBuf,
    pub archive_stamp: Stamp,
    /// The stamp of `file` when verified.
    pub file_stamp: Stamp,
    /// Set once the archive changed: every later request gets 503.
    pub stale: AtomicBool,
}

impl Served {
    /// Whether the archive (by name and by the open file) still has the
    /// size and mtime it had when verified; once not, it never is again.
    pub fn check_unchanged(&self) -> Result<(), String> {
        const CHANGED: &str = "the archive changed on disk since airlock verified it; nothing more is served (restart airlock serve to verify it again)";
        if self.stale.load(Ordering::SeqCst) {
            return Err(CHANGED.into());
        }
        let by_name = std::fs::metadata(&self.archive).map(|m| Stamp::of(&m));
        let open = self.file.metadata().map(|m| Stamp::of(&m));
        let same = matches!(by_name, Ok(s) if s == self.archive_stamp)
            && matches!(open, Ok(s) if s == self.file_stamp);
        if same {
            Ok(())
        } else {
            self.stale.store(true, Ordering::SeqCst);
            Err(CHANGED.into())
        }
    }
}
