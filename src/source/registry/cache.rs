//! Local content-addressed blob cache: `<dir>/blobs/sha256/<hex>`.
//!
//! A blob is streamed into a temp file under `<dir>/tmp/`, its size capped at
//! the descriptor's and its sha256 computed on the way, and renamed into place
//! only when both match; so a file under `blobs/` is always complete and
//! correct, a finished blob is never downloaded again, and an interrupted one
//! restarts from zero. (The archive writer hashes every blob again anyway.)

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use indicatif::ProgressBar;
use oci_client::manifest::OciDescriptor;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, IoContext};
use crate::model::oci::DescriptorInfo;
use crate::model::Digest;
use crate::registry_client::fail::{self, Failure};

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
        progress: &[&ProgressBar],
    ) -> Result<PathBuf, Error> {
        let what = format!("blob {} of {}", desc.digest, repo.whole());
        if self.has(&desc.digest, desc.size) {
            progress.iter().for_each(|p| p.inc(desc.size));
            return Ok(self.path(&desc.digest));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut got = 0u64;
            match self.try_fetch(client, repo, desc, progress, &mut got).await {
                Ok(p) => return Ok(p),
                Err(f) => {
                    for p in progress {
                        p.set_position(p.position().saturating_sub(got));
                    }
                    match f {
                        Failure::Retry(_) if attempt <= retries => {
                            tokio::time::sleep(fail::backoff(attempt)).await;
                        }
                        f => return Err(fail::into_error(&what, f, attempt)),
                    }
                }
            }
        }
    }

    async fn try_fetch(
        &self,
        client: &Client,
        repo: &Reference,
        desc: &DescriptorInfo,
        progress: &[&ProgressBar],
        got: &mut u64,
    ) -> Result<PathBuf, Failure> {
        let what = format!("blob {} of {}", desc.digest, repo.whole());
        let fatal = |m: String| Failure::Fatal(Error::Source(format!("{what}: {m}")));
        let oci_desc = OciDescriptor {
            media_type: desc.media_type.clone(),
            digest: desc.digest.to_string(),
            size: i64::try_from(desc.size).map_err(|_| fatal("size out of range".into()))?,
            ..OciDescriptor::default()
        };
        let mut stream = client
            .pull_blob_stream(repo, &oci_desc)
            .await
            .map_err(|e| fail::classify(&what, e))?;
        if let Some(len) = stream.content_length {
            if len != desc.size {
                return Err(fatal(format!(
                    "the registry sends {len} bytes, the descriptor says {}",
                    desc.size
                )));
            }
        }
        let tmp_dir = self.root.join("tmp");
        let tmp = tempfile::NamedTempFile::new_in(&tmp_dir)
            .map_err(|e| Failure::Fatal(Error::io_path("create a file in", &tmp_dir, e)))?;
        let io_fatal = |e: std::io::Error| Failure::Fatal(Error::io_path("write", tmp.path(), e));
        let mut file = tokio::fs::File::from_std(tmp.reopen().map_err(io_fatal)?);
        let mut hasher = Sha256::new();
        let mut stream_err = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    *got += bytes.len() as u64;
                    if *got > desc.size {
                        return Err(fatal(format!(
                            "the registry sent more than the {} bytes the descriptor says",
                            desc.size
                        )));
                    }
                    hasher.update(&bytes);
                    file.write_all(&bytes).await.map_err(io_fatal)?;
                    progress.iter().for_each(|p| p.inc(bytes.len() as u64));
                }
                Err(e) => {
                    stream_err = Some(e);
                    break;
                }
            }
        }
        if *got == desc.size {
            // Every byte arrived: a digest mismatch is wrong content, which no
            // retry will fix (the client's own verifier also errors here).
            let actual = Digest::from_bytes(hasher.finalize().into());
            if actual != desc.digest {
                return Err(fatal(format!(
                    "content has {actual}, not the digest it is stored under (refused)"
                )));
            }
        } else {
            return Err(Failure::Retry(match stream_err {
                Some(e) => format!(
                    "download broke after {} of {} bytes: {}",
                    got,
                    desc.size,
                    fail::chain(&e)
                ),
                None => format!("connection ended after {} of {} bytes", got, desc.size),
            }));
        }
        if let Some(e) = stream_err {
            return Err(Failure::Retry(fail::chain(&e)));
        }
        file.flush().await.map_err(io_fatal)?;
        file.sync_all().await.map_err(io_fatal)?;
        drop(file);
        let dest = self.path(&desc.digest);
        tmp.persist(&dest)
            .map_err(|e| Failure::Fatal(Error::io_path("rename into", &dest, e.error)))?;
        Ok(dest)
    }
}
