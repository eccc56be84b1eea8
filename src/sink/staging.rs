//! Private staging for blobs before a sink commits them: a directory shaped
//! like an OCI layout's `blobs/sha256/`, removed on drop unless kept.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext};
use crate::model::{BlobRecord, Digest};

pub struct Staging {
    dir: PathBuf,
    kept: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.kept {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Whether every component of `path` is a valid lowercase component of an
/// image reference: podman names an image loaded from a layout directory
/// after the directory's path, and refuses the load when it cannot.
fn reference_safe(path: &Path) -> bool {
    let Ok(re) = regex::Regex::new(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$") else {
        return false;
    };
    path.is_absolute()
        && path
            .components()
            .skip(1)
            .all(|c| c.as_os_str().to_str().is_some_and(|s| re.is_match(s)))
}

/// Staging directories in a temp dir are `airlock-stage-<pid>-…`: the pid
/// lets a later run remove what a killed one left (`scratch::sweep_named`).
const STAGE_HEAD: &str = "airlock-stage-";

impl Staging {
    /// In the system temp dir (`TMPDIR`), mode 0700.
    pub fn private() -> Result<Self, Error> {
        crate::scratch::sweep_named(&std::env::temp_dir(), STAGE_HEAD);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{STAGE_HEAD}{}-", std::process::id()))
            .tempdir()
            .map_err(|e| Error::io("create a staging directory", e))?;
        Self::init(dir.keep())
    }

    /// Private (0700), in a directory whose path podman can turn into an
    /// image name: `TMPDIR` when its path is all lowercase, else `/var/tmp`,
    /// else `/tmp`.
    pub fn reference_safe() -> Result<Self, Error> {
        use std::os::unix::fs::DirBuilderExt;
        let candidates = [std::env::temp_dir(), "/var/tmp".into(), "/tmp".into()];
        let parent = candidates
            .iter()
            .find(|p| reference_safe(p) && p.is_dir())
            .ok_or_else(|| {
                Error::Sink(
                    "no temporary directory with a lowercase path for podman staging".into(),
                )
            })?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        crate::scratch::sweep_named(parent, STAGE_HEAD);
        let dir = parent.join(format!("{STAGE_HEAD}{}-{nanos:x}", std::process::id()));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .at("create", &dir)?;
        Self::init(dir)
    }

    /// Beside `target`, so the final rename stays on one file system.
    pub fn beside(target: &Path) -> Result<Self, Error> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        crate::scratch::sweep(&parent, "unpack");
        let dir = tempfile::Builder::new()
            .prefix(&crate::scratch::prefix("unpack"))
            .tempdir_in(&parent)
            .at("create a staging directory in", &parent)?;
        Self::init(dir.keep())
    }

    fn init(dir: PathBuf) -> Result<Self, Error> {
        let staging = Staging { dir, kept: false };
        let blobs = staging.dir.join("blobs/sha256");
        fs::create_dir_all(&blobs).at("create", &blobs)?;
        Ok(staging)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.blob_path())
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
        let p = self.dir.join(name);
        fs::write(&p, bytes).at("write", &p)
    }

    /// Stop auto-removal and return the path (after a successful rename).
    pub fn keep(mut self) -> PathBuf {
        self.kept = true;
        self.dir.clone()
    }
}

/// A sink's staging slot: empty until `begin`, filled by `put_blob`; the
/// `begin`/`put_blob` half every sink shares.
#[derive(Default)]
pub struct Staged(Option<Staging>);

impl Staged {
    /// `Sink::begin`: create the staging directory.
    pub fn begin(&mut self, make: impl FnOnce() -> Result<Staging, Error>) -> Result<(), Error> {
        self.0 = Some(make()?);
        Ok(())
    }

    /// `Sink::put_blob`.
    pub fn put(&self, rec: &BlobRecord, data: &mut dyn Read) -> Result<(), Error> {
        self.get()?.put(rec, data)
    }

    /// The staging directory, once begun.
    pub fn get(&self) -> Result<&Staging, Error> {
        self.0
            .as_ref()
            .ok_or_else(|| Error::Sink("staging used before begin".into()))
    }

    /// Take the staging directory out (to keep or rename it).
    pub fn take(&mut self) -> Result<Staging, Error> {
        self.0
            .take()
            .ok_or_else(|| Error::Sink("staging used before begin".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_safe_paths() {
        assert!(reference_safe(Path::new("/var/tmp/airlock-stage-1-ff")));
        assert!(!reference_safe(Path::new("/tmp/airlock-stage-AbC")));
        assert!(!reference_safe(Path::new("/tmp/.hidden")));
        assert!(!reference_safe(Path::new("tmp/rel")));
    }
}
