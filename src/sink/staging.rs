//! Private staging for blobs before a sink commits them: a directory shaped
//! like an OCI layout's `blobs/sha256/`, removed on drop unless kept.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext};
use crate::model::{BlobRecord, Digest};

pub struct Staging {
    dir: tempfile::TempDir,
}

impl Staging {
    /// In the system temp dir (`TMPDIR`), mode 0700.
    pub fn private() -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("airlock-stage-")
            .tempdir()
            .map_err(|e| Error::io("create a staging directory", e))?;
        Self::init(dir)
    }

    /// Beside `target`, so the final rename stays on one file system.
    pub fn beside(target: &Path) -> Result<Self, Error> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dir = tempfile::Builder::new()
            .prefix(".airlock-unpack-")
            .tempdir_in(&parent)
            .at("create a staging directory in", &parent)?;
        Self::init(dir)
    }

    fn init(dir: tempfile::TempDir) -> Result<Self, Error> {
        let blobs = dir.path().join("blobs/sha256");
        fs::create_dir_all(&blobs).at("create", &blobs)?;
        Ok(Staging { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.dir.path().join(d.blob_path())
    }

    /// Copy a blob in; `data` is the pipeline's checking reader.
    pub fn put(&self, rec: &BlobRecord, data: &mut dyn Read) -> Result<(), Error> {
        let path = self.blob_path(&rec.digest);
        let file = File::create(&path).at("create", &path)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        io::copy(data, &mut out).at("stage", &path)?;
        out.flush().at("write", &path)?;
        Ok(())
    }

    pub fn open(&self, d: &Digest) -> Result<File, Error> {
        let p = self.blob_path(d);
        File::open(&p).at("open", &p)
    }

    /// Write a small file at the layout root.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        let p = self.dir.path().join(name);
        fs::write(&p, bytes).at("write", &p)
    }

    /// Stop auto-removal and return the path (after a successful rename).
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }
}
