//! Room held in the state directory across a load. Rollback marks and
//! admission records are written after the sink commits (they must only
//! record what was really loaded); on a full disk that write would fail
//! with the image already loaded. So before the load, `unpack` writes a
//! file of zeros as large as what it will write afterwards, and removes it
//! right before writing: a full state disk refuses the unpack while
//! nothing is loaded yet.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext as _};

/// Room for the small state files (marks, record) besides the documents.
pub const STATE_FILES_BYTES: u64 = 1 << 20;

/// The held room; released (the file removed) when dropped. A state
/// directory it created is removed again unless released for writing, so
/// a refused unpack leaves no trace.
pub struct Reservation {
    file: Option<tempfile::NamedTempFile>,
    created_dir: Option<PathBuf>,
}

impl Reservation {
    /// Release the room for the writes that follow; the state directory
    /// stays.
    pub fn release_for_writing(mut self) {
        self.file = None;
        self.created_dir = None;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.file = None;
        if let Some(d) = &self.created_dir {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Hold `bytes` in `dir` (created when missing).
pub fn reserve(dir: &Path, bytes: u64) -> Result<Reservation, Error> {
    let created_dir = (!dir.exists()).then(|| dir.to_path_buf());
    std::fs::create_dir_all(dir).at("create state directory", dir)?;
    let mut held = Reservation {
        file: None,
        created_dir,
    };
    crate::scratch::sweep(dir, "reserve");
    let mut tmp = tempfile::Builder::new()
        .prefix(&crate::scratch::prefix("reserve"))
        .tempfile_in(dir)
        .at("create a file in", dir)?;
    // Zeros written, not set_len: a sparse file holds no blocks.
    let zeros = vec![0u8; 64 * 1024];
    let mut left = bytes;
    let full = |e| {
        Error::io_path(
            "hold room for the rollback state and admission records in",
            dir,
            e,
        )
    };
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        tmp.write_all(&zeros[..n]).map_err(full)?;
        left -= n as u64;
    }
    tmp.as_file().sync_all().map_err(full)?;
    held.file = Some(tmp);
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_room_is_a_real_file_and_is_gone_when_released() {
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("state");
        let r = reserve(&state, 100_000).unwrap();
        let files: Vec<_> = std::fs::read_dir(&state).unwrap().flatten().collect();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].metadata().unwrap().len(), 100_000);
        r.release_for_writing();
        assert!(state.is_dir());
        assert_eq!(std::fs::read_dir(&state).unwrap().count(), 0);
    }

    #[test]
    fn a_state_directory_created_for_a_refused_unpack_is_removed() {
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("state");
        drop(reserve(&state, 10).unwrap());
        assert!(!state.exists());
    }
}
