//! Local content-addressed blob cache: `<dir>/blobs/sha256/<hex>`.
//!
//! A blob is streamed into a temp file under `<dir>/tmp/`, its size capped at
//! the descriptor's and its sha256 computed on the way, and renamed into place
//! only when both match; so a file under `blobs/` is always complete and
//! correct, and a finished blob is never downloaded again. When a download
//! breaks, the retry asks for the rest with an HTTP Range request and goes on
//! hashing where it stopped; a registry that answers 200 instead of 206
//! restarts the blob from zero. A pack that is killed restarts unfinished
//! blobs from zero. (The archive writer hashes every blob again anyway.)

use std::path::{Path, PathBuf};

use bytes::Bytes;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, IoContext};
use crate::model::oci::DescriptorInfo;
use crate::model::progress::Progress;
use crate::model::Digest;
use crate::registry_client::fail::Failure;

use super::transfer;

/// The bytes of one blob received so far, kept across retries.
struct Partial {
    tmp: tempfile::NamedTempFile,
    /// `tmp`, opened once for appending.
    file: tokio::fs::File,
    hasher: Sha256,
    got: u64,
}

#[derive(Debug, Clone)]
pub struct BlobCache {
    root: PathBuf,
}

/// `$XDG_CACHE_HOME/airlock`, else `~/.cache/airlock`, else a temp dir.
pub fn default_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("airlock");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h).join(".cache").join("airlock");
    }
    std::env::temp_dir().join("airlock-cache")
}

impl BlobCache {
    pub fn open(root: &Path) -> Result<Self, Error> {
        for sub in ["blobs/sha256", "tmp"] {
            let d = root.join(sub);
            std::fs::create_dir_all(&d).at("create cache directory", &d)?;
        }
        Ok(BlobCache {
            root: root.to_path_buf(),
        })
    }

    pub fn path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(d.hex())
    }

    /// A finished blob of the expected size is reused as is.
    pub fn has(&self, d: &Digest, size: u64) -> bool {
        std::fs::metadata(self.path(d)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// Download `desc` from `repo` into the cache unless it is there.
    /// `progress` counts bytes (rolled back when an attempt fails).
    pub async fn fetch(
        &self,
        client: &Client,
        repo: &Reference,
        desc: &DescriptorInfo,
        retries: u32,
        progress: &[&dyn Progress],
    ) -> Result<PathBuf, Error> {
        if self.has(&desc.digest, desc.size) {
            progress.iter().for_each(|p| p.inc(desc.size));
            return Ok(self.path(&desc.digest));
        }
        let mut sink = CacheSink {
            tmp_dir: self.root.join("tmp"),
            partial: None,
        };
        transfer::download(client, repo, desc, retries, progress, &mut sink).await?;
        let what = transfer::describe(repo, desc);
        let Some(mut done) = sink.partial.take() else {
            return Err(Error::Source(format!("{what}: no download state")));
        };
        let tmp_path = done.tmp.path().to_path_buf();
        done.file.flush().await.at("write", &tmp_path)?;
        drop(done.file);
        // Every byte arrived: a digest mismatch is wrong content, which no
        // retry will fix.
        let actual = Digest::from_bytes(done.hasher.finalize().into());
        if actual != desc.digest {
            return Err(Error::Source(format!(
                "{what}: content has {actual}, not the digest it is stored under (refused)"
            )));
        }
        // No fsync: the cache is a hint, not a record. The archive writer
        // re-hashes every cached blob, so one torn by a crash is refused there
        // (naming the file to delete), never packed.
        let dest = self.path(&desc.digest);
        done.tmp
            .persist(&dest)
            .map_err(|e| Error::io_path("rename into", &dest, e.error))?;
        Ok(dest)
    }
}

/// Bytes into a temporary file of the cache, hashed on the way.
struct CacheSink {
    tmp_dir: PathBuf,
    partial: Option<Partial>,
}

impl transfer::BlobSink for CacheSink {
    fn kept(&self) -> u64 {
        self.partial.as_ref().map_or(0, |p| p.got)
    }

    async fn restart(&mut self) -> Result<(), Failure> {
        let tmp = tempfile::NamedTempFile::new_in(&self.tmp_dir)
            .map_err(|e| Failure::Fatal(Error::io_path("create a file in", &self.tmp_dir, e)))?;
        let path = tmp.path().to_path_buf();
        let file = tokio::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .await
            .map_err(|e| Failure::Fatal(Error::io_path("write", &path, e)))?;
        self.partial = Some(Partial {
            tmp,
            file,
            hasher: Sha256::new(),
            got: 0,
        });
        Ok(())
    }

    async fn put(&mut self, _at: u64, bytes: Bytes) -> Result<(), Failure> {
        let Some(part) = self.partial.as_mut() else {
            return Err(Failure::Fatal(Error::Source("no download state".into())));
        };
        // Written before it counts, so a kept partial is in the file.
        part.file
            .write_all(&bytes)
            .await
            .map_err(|e| Failure::Fatal(Error::io_path("write", part.tmp.path(), e)))?;
        let start = std::time::Instant::now();
        part.hasher.update(&bytes);
        crate::model::timings::add("hash", start.elapsed());
        part.got += bytes.len() as u64;
        Ok(())
    }
}
