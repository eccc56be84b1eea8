//! How a sink that loads straight from the archive (docker, podman) gets its
//! bytes, instead of a staging copy: a [`BlobFeed`] the pipeline supplies,
//! which re-reads the verified archive and re-hashes every blob on the way,
//! and, when the loader may read the archive file itself, the
//! [`VerifiedFile`] that names it with the identity it had when verified.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IntegrityError, IoContext};
use crate::model::{BlobRecord, Digest};

/// Streams blobs of the verified archive again, each through a reader that
/// yields exactly `rec.size` bytes and fails at the end when their digest
/// is not the verified one.
pub trait BlobFeed {
    /// Hand every blob of `blobs` to `each`, in archive order (read each to
    /// the end); a missing one is an error.
    fn for_each(
        &self,
        blobs: &[BlobRecord],
        each: &mut dyn FnMut(&BlobRecord, &mut dyn Read) -> Result<(), Error>,
    ) -> Result<(), Error>;

    /// The verified archive as one uncompressed regular file the loader can
    /// be given whole (`podman load -i`), when the plan is the whole archive.
    fn whole_file(&self) -> Option<&VerifiedFile>;

    /// Where a blob's bytes lie when the archive is one uncompressed file
    /// (the file, the offset of its first byte): a reader there must still
    /// re-hash what it takes. `None` for zstd and volume sets.
    fn locate(&self, d: &Digest) -> Option<(&Path, u64)>;

    /// Whether [`locate`](Self::locate) can answer at all.
    fn is_plain_file(&self) -> bool;
}

/// What identifies a file's content without reading it: the inode and its
/// size, modification and change times. Any write to the file, a rename
/// over its name or a `touch` back to the old mtime changes at least the
/// change time, which only the kernel sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    fn of(path: &Path) -> Result<Identity, Error> {
        let m = std::fs::metadata(path).at("inspect", path)?;
        Ok(Identity {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// An archive file as it was when verification began: loading it whole is
/// only allowed while [`VerifiedFile::check_unchanged`] passes, before and
/// after the loader read it.
#[derive(Debug, Clone)]
pub struct VerifiedFile {
    path: PathBuf,
    identity: Identity,
}

impl VerifiedFile {
    /// Record `path`'s identity; call it before the verifying read starts,
    /// and [`check_unchanged`](Self::check_unchanged) once it ended.
    pub fn capture(path: &Path) -> Result<VerifiedFile, Error> {
        let m = std::fs::metadata(path).at("inspect", path)?;
        if !m.is_file() {
            return Err(Error::Usage(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        Ok(VerifiedFile {
            path: path.to_path_buf(),
            identity: Identity::of(path)?,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fails (integrity) when the file named by the path is not the one
    /// verified, byte for byte as far as the kernel can tell.
    pub fn check_unchanged(&self) -> Result<(), Error> {
        let now = Identity::of(&self.path).ok();
        if now == Some(self.identity) {
            return Ok(());
        }
        Err(IntegrityError::Changed {
            name: self.path.display().to_string(),
        }
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrite_or_a_rename_over_the_file_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.tar");
        std::fs::write(&p, b"one").unwrap();
        let v = VerifiedFile::capture(&p).unwrap();
        v.check_unchanged().unwrap();
        // Same length, same content even: the change time moves.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&p, b"one").unwrap();
        assert!(v.check_unchanged().is_err());

        let v = VerifiedFile::capture(&p).unwrap();
        let q = dir.path().join("b.tar");
        std::fs::write(&q, b"one").unwrap();
        std::fs::rename(&q, &p).unwrap();
        assert!(v.check_unchanged().is_err());
    }
}
