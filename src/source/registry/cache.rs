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

use futures_util::StreamExt;
use oci_client::client::BlobResponse;
use oci_client::manifest::OciDescriptor;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, IoContext};
use crate::model::oci::DescriptorInfo;
use crate::model::progress::Progress;
use crate::model::Digest;
use crate::registry_client::fail::{self, Failure};

/// The bytes of one blob received so far, kept across retries.
struct Partial {
    tmp: tempfile::NamedTempFile,
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
        let what = format!("blob {} of {}", desc.digest, repo.whole());
        if self.has(&desc.digest, desc.size) {
            progress.iter().for_each(|p| p.inc(desc.size));
            return Ok(self.path(&desc.digest));
        }
        let mut attempt = 0;
        let mut partial = None;
        loop {
            attempt += 1;
            match self
                .try_fetch(client, repo, desc, progress, &mut partial)
                .await
            {
                Ok(p) => return Ok(p),
                // A kept partial stays counted: the retry resumes after it.
                Err(Failure::Retry(_)) if attempt <= retries => {
                    tokio::time::sleep(fail::backoff(attempt)).await;
                }
                Err(f) => {
                    let got = partial.as_ref().map_or(0, |p: &Partial| p.got);
                    progress.iter().for_each(|p| p.dec(got));
                    return Err(fail::into_error(&what, f, attempt));
                }
            }
        }
    }

    /// One attempt: the whole blob, or the rest of `partial` by Range.
    async fn try_fetch(
        &self,
        client: &Client,
        repo: &Reference,
        desc: &DescriptorInfo,
        progress: &[&dyn Progress],
        partial: &mut Option<Partial>,
    ) -> Result<PathBuf, Failure> {
        let what = format!("blob {} of {}", desc.digest, repo.whole());
        let fatal = |m: String| Failure::Fatal(Error::Source(format!("{what}: {m}")));
        let oci_desc = OciDescriptor {
            media_type: desc.media_type.clone(),
            digest: desc.digest.to_string(),
            size: i64::try_from(desc.size).map_err(|_| fatal("size out of range".into()))?,
            ..OciDescriptor::default()
        };
        let resume_at = partial.as_ref().map_or(0, |p| p.got);
        let (mut stream, resumed) = if resume_at > 0 {
            match client
                .pull_blob_stream_partial(repo, &oci_desc, resume_at, None)
                .await
                .map_err(|e| fail::classify(&what, e))?
            {
                BlobResponse::Partial(s) => (s, true),
                BlobResponse::Full(s) => (s, false),
            }
        } else {
            let s = client
                .pull_blob_stream(repo, &oci_desc)
                .await
                .map_err(|e| fail::classify(&what, e))?;
            (s, false)
        };
        if !resumed {
            // From zero: forget what an earlier attempt kept.
            progress.iter().for_each(|p| p.dec(resume_at));
            let tmp_dir = self.root.join("tmp");
            let tmp = tempfile::NamedTempFile::new_in(&tmp_dir)
                .map_err(|e| Failure::Fatal(Error::io_path("create a file in", &tmp_dir, e)))?;
            *partial = Some(Partial {
                tmp,
                hasher: Sha256::new(),
                got: 0,
            });
        }
        let Some(part) = partial.as_mut() else {
            return Err(fatal("no download state".into()));
        };
        let expected = desc.size - part.got;
        if let Some(len) = stream.content_length {
            if len != expected {
                return Err(fatal(format!(
                    "the registry sends {len} bytes, {expected} were expected"
                )));
            }
        }
        let tmp_path = part.tmp.path().to_path_buf();
        let io_fatal = |e: std::io::Error| Failure::Fatal(Error::io_path("write", &tmp_path, e));
        let mut file = tokio::fs::OpenOptions::new()
            .append(true)
            .open(&tmp_path)
            .await
            .map_err(io_fatal)?;
        let mut stream_err = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    if part.got + bytes.len() as u64 > desc.size {
                        return Err(fatal(format!(
                            "the registry sent more than the {} bytes the descriptor says",
                            desc.size
                        )));
                    }
                    // Written before it counts, so a kept partial is on disk.
                    file.write_all(&bytes).await.map_err(io_fatal)?;
                    let start = std::time::Instant::now();
                    part.hasher.update(&bytes);
                    crate::model::timings::add("hash", start.elapsed());
                    part.got += bytes.len() as u64;
                    progress.iter().for_each(|p| p.inc(bytes.len() as u64));
                }
                Err(e) => {
                    stream_err = Some(e);
                    break;
                }
            }
        }
        file.flush().await.map_err(io_fatal)?;
        if part.got != desc.size {
            return Err(Failure::Retry(match stream_err {
                Some(e) => format!(
                    "download broke after {} of {} bytes: {}",
                    part.got,
                    desc.size,
                    fail::chain(&e)
                ),
                None => format!("connection ended after {} of {} bytes", part.got, desc.size),
            }));
        }
        // Every byte arrived: a digest mismatch is wrong content, which no
        // retry will fix.
        let Some(done) = partial.take() else {
            return Err(fatal("no download state".into()));
        };
        let actual = Digest::from_bytes(done.hasher.finalize().into());
        if actual != desc.digest {
            return Err(fatal(format!(
                "content has {actual}, not the digest it is stored under (refused)"
            )));
        }
        if let Some(e) = stream_err {
            return Err(Failure::Retry(fail::chain(&e)));
        }
        // No fsync: the cache is a hint, not a record. The archive writer
        // re-hashes every cached blob, so one torn by a crash is refused there
        // (naming the file to delete), never packed.
        drop(file);
        let dest = self.path(&desc.digest);
        done.tmp
            .persist(&dest)
            .map_err(|e| Failure::Fatal(Error::io_path("rename into", &dest, e.error)))?;
        Ok(dest)
    }
}
