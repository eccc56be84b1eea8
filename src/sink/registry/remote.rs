//! The registry requests the sink makes, each with retries (network errors,
//! 5xx, 429) and each answer checked: a blob is streamed from its staging
//! file and re-hashed on the way (the upload fails before it is committed
//! when the bytes are not the verified ones), and every digest the registry
//! reports back (`Location` of a blob or manifest, a tag's digest) must be
//! ours.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::stream;
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::error::{Error, IntegrityError};
use crate::model::{media, Digest};
use crate::registry_client::fail;

/// Media types asked for when reading a manifest back.
const ACCEPT: &[&str] = &[
    media::OCI_MANIFEST,
    media::OCI_INDEX,
    media::DOCKER_MANIFEST,
    media::DOCKER_MANIFEST_LIST,
];

/// Read size from the archive or staging file into the one streamed upload
/// request: only about this much of a layer is in memory at a time.
const CHUNK: usize = 1 << 20;

pub struct Remote {
    pub client: Client,
    pub auth: RegistryAuth,
    pub host: String,
    pub retries: u32,
    pub stop: Arc<AtomicBool>,
}

/// A manifest as it stands in the registry before airlock writes a tag.
#[derive(Debug, Clone)]
pub struct Existing {
    pub digest: Digest,
    pub bytes: Vec<u8>,
    pub media_type: String,
}

/// The registry's errors are the target's: exit 6, not "source" (1).
pub fn sink_error(e: Error) -> Error {
    match e {
        Error::Source(m) => Error::Sink(m),
        other => other,
    }
}

/// The digest at the end of a `Location` (`…/blobs/sha256:…`), if any.
fn location_digest(location: &str) -> Option<Digest> {
    let last = location.split(['?', '#']).next()?.rsplit('/').next()?;
    last.parse().ok()
}

fn check_location(what: &str, location: &str, want: &Digest) -> Result<(), Error> {
    match location_digest(location) {
        Some(d) if d != *want => Err(Error::Sink(format!(
            "{what}: the registry stored it as {d}, not {want} (refused)"
        ))),
        _ => Ok(()),
    }
}

impl Remote {
    pub fn reference(&self, repo: &str, tag: &str) -> Reference {
        Reference::with_tag(self.host.clone(), repo.to_string(), tag.to_string())
    }

    pub fn by_digest(&self, repo: &str, d: &Digest) -> Reference {
        Reference::with_digest(self.host.clone(), repo.to_string(), d.to_string())
    }

    fn interrupted(&self) -> Result<(), Error> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        Ok(())
    }

    /// Whether the registry answers at all (`GET /v2/`, and the token flow
    /// when it asks for one), before any work is done.
    pub async fn ping(&self, repo: &str) -> Result<(), Error> {
        let r = self.reference(repo, "latest");
        let what = format!("registry {}", self.host);
        fail::retrying(&what, self.retries, || {
            self.client.auth(&r, &self.auth, RegistryOperation::Pull)
        })
        .await
        .map_err(sink_error)?;
        Ok(())
    }

    /// Log in for pushing to `repo`, and prove the credentials work with a
    /// read (a wrong password fails here, before any upload).
    pub async fn login(&self, repo: &str) -> Result<(), Error> {
        let r = self.reference(repo, "latest");
        let what = format!("push access to {}/{repo}", self.host);
        fail::retrying(&what, self.retries, || {
            self.client.auth(&r, &self.auth, RegistryOperation::Push)
        })
        .await
        .map_err(sink_error)?;
        self.tag_digest(repo, "latest").await?;
        Ok(())
    }

    pub async fn blob_exists(&self, repo: &str, d: &Digest) -> Result<bool, Error> {
        let r = self.by_digest(repo, d);
        let what = format!("blob {d} in {}/{repo}", self.host);
        let ds = d.to_string();
        let found = fail::retrying(&what, self.retries, || self.client.blob_exists(&r, &ds))
            .await
            .map_err(sink_error)?;
        Ok(found.unwrap_or(false))
    }

    /// Upload a staged blob, streamed and re-hashed; retried from the start
    /// of the file on a transient failure.
    /// Upload the `size` bytes at `offset` in the file at `path` (a staged
    /// blob at 0, or the blob inside an uncompressed archive), re-hashed.
    pub async fn push_blob(
        &self,
        repo: &str,
        (path, offset): (&Path, u64),
        d: &Digest,
        size: u64,
    ) -> Result<(), Error> {
        let r = self.by_digest(repo, d);
        let what = format!("upload of blob {d} to {}/{repo}", self.host);
        let ds = d.to_string();
        let changed = Arc::new(Mutex::new(None));
        let pushed = fail::retrying(&what, self.retries, || async {
            let body =
                checked_stream(path, offset, *d, size, self.stop.clone(), changed.clone()).await?;
            self.client
                .push_blob_stream(&r, body, &ds, Some(size))
                .await
        })
        .await;
        // An interrupt breaks the stream on purpose: report it as such.
        self.interrupted()?;
        // So does a blob that changed since verification: an integrity
        // failure of the archive, not of the registry.
        if let Some(actual) = changed.lock().ok().and_then(|c| *c) {
            return Err(IntegrityError::DigestMismatch {
                expected: d.to_string(),
                actual: actual.hex(),
            }
            .into());
        }
        let location = pushed.map_err(sink_error)?;
        let location =
            location.ok_or_else(|| Error::Sink(format!("{what}: the registry answered 404")))?;
        check_location(&what, &location, d)
    }

    /// Push manifest bytes by digest with their exact media type.
    pub async fn push_manifest(
        &self,
        repo: &str,
        d: &Digest,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<(), Error> {
        self.put_manifest(&self.by_digest(repo, d), d, bytes, media_type)
            .await
    }

    /// Point `tag` at manifest bytes (`d` is their digest).
    pub async fn push_tag(
        &self,
        repo: &str,
        tag: &str,
        d: &Digest,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<(), Error> {
        self.put_manifest(&self.reference(repo, tag), d, bytes, media_type)
            .await
    }

    async fn put_manifest(
        &self,
        r: &Reference,
        d: &Digest,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<(), Error> {
        let what = format!("push of manifest {d} as {}", r.whole());
        if Digest::of(bytes) != *d {
            return Err(Error::Sink(format!("{what}: the bytes are not {d}")));
        }
        let ct = media_type.parse().map_err(|_| {
            Error::Sink(format!(
                "{what}: media type {media_type:?} is not a header value"
            ))
        })?;
        let body = bytes::Bytes::copy_from_slice(bytes);
        let location = fail::retrying(&what, self.retries, || {
            // UFCS: the header type is oci-client's (http's), inferred here.
            self.client
                .push_manifest_raw(r, body.clone(), Clone::clone(&ct))
        })
        .await
        .map_err(sink_error)?
        .ok_or_else(|| Error::Sink(format!("{what}: the registry answered 404")))?;
        check_location(&what, &location, d)
    }

    /// The digest `repo:tag` resolves to, if the tag exists.
    pub async fn tag_digest(&self, repo: &str, tag: &str) -> Result<Option<Digest>, Error> {
        let r = self.reference(repo, tag);
        let what = format!("tag {}", r.whole());
        let found = fail::retrying(&what, self.retries, || {
            self.client.fetch_manifest_digest(&r, &self.auth)
        })
        .await
        .map_err(sink_error)?;
        match found {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| Error::Sink(format!("{what}: the registry reports digest {s:?}"))),
        }
    }

    /// What `repo:tag` holds now (to put it back if airlock's run fails).
    pub async fn existing(&self, repo: &str, tag: &str) -> Result<Option<Existing>, Error> {
        let r = self.reference(repo, tag);
        let what = format!("manifest {}", r.whole());
        let found = fail::retrying(&what, self.retries, || {
            self.client.pull_manifest_raw(&r, &self.auth, ACCEPT)
        })
        .await
        .map_err(sink_error)?;
        let Some((bytes, _)) = found else {
            return Ok(None);
        };
        if bytes.len() as u64 > crate::model::limits::MAX_JSON_BYTES {
            return Err(Error::Sink(format!(
                "{what}: too large to keep for roll back"
            )));
        }
        let media_type = sniff_media_type(&bytes)
            .ok_or_else(|| Error::Sink(format!("{what}: not a manifest airlock can restore")))?;
        Ok(Some(Existing {
            digest: Digest::of(&bytes),
            bytes: bytes.to_vec(),
            media_type,
        }))
    }

    /// The referrers the registry lists for `subject` (its referrers API,
    /// else oci-client reads the tag-schema index). Any failure counts as
    /// "none listed": the caller then writes the tag-schema index, which
    /// every client reads.
    pub async fn listed_referrers(&self, repo: &str, subject: &Digest) -> Vec<Digest> {
        let r = self.by_digest(repo, subject);
        match self.client.pull_referrers(&r, None).await {
            Ok(index) => index
                .manifests
                .iter()
                .filter_map(|m| m.digest.parse().ok())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// A manifest's media type: its own `mediaType`, else by shape.
pub fn sniff_media_type(bytes: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if let Some(mt) = v.get("mediaType").and_then(|m| m.as_str()) {
        return Some(mt.to_string());
    }
    if v.get("manifests").is_some() {
        Some(media::OCI_INDEX.to_string())
    } else if v.get("config").is_some() {
        Some(media::OCI_MANIFEST.to_string())
    } else {
        None
    }
}

struct Reading {
    file: tokio::io::Take<tokio::fs::File>,
    hasher: Sha256,
    got: u64,
}

/// `size` bytes at `offset` of the file as upload chunks; yields an error
/// instead of the end when the bytes are not `size` bytes with digest
/// `want`, or the operator interrupted, so the registry never commits them.
async fn checked_stream(
    path: &Path,
    offset: u64,
    want: Digest,
    size: u64,
    stop: Arc<AtomicBool>,
    changed: Arc<Mutex<Option<Digest>>>,
) -> Result<
    impl futures_util::Stream<Item = Result<bytes::Bytes, OciDistributionError>> + Send + 'static,
    OciDistributionError,
> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(OciDistributionError::IoError)?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(OciDistributionError::IoError)?;
    let start = Reading {
        // The archive goes on after the blob: read exactly its bytes.
        file: file.take(size),
        hasher: Sha256::new(),
        got: 0,
    };
    let refuse = |m: String| Some((Err(OciDistributionError::GenericError(Some(m))), None));
    Ok(stream::unfold(Some(start), move |state| {
        let (stop, changed) = (stop.clone(), changed.clone());
        async move {
            let mut s = state?;
            if stop.load(Ordering::Relaxed) {
                return refuse("interrupted by the operator".into());
            }
            let mut buf = vec![0u8; CHUNK];
            let n = match s.file.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => return Some((Err(OciDistributionError::IoError(e)), None)),
            };
            if n > 0 {
                s.got += n as u64;
                if s.got > size {
                    return refuse(format!("blob {want} is larger than {size} bytes"));
                }
                buf.truncate(n);
                s.hasher.update(&buf);
                if s.got < size {
                    return Some((Ok(bytes::Bytes::from(buf)), Some(s)));
                }
            }
            // The last bytes (or a short file's end): judged before they are
            // sent, so a changed blob never reaches the registry whole.
            let actual = Digest::from_bytes(std::mem::take(&mut s.hasher).finalize().into());
            if s.got != size || actual != want {
                if let Ok(mut c) = changed.lock() {
                    *c = Some(actual);
                }
                return refuse(format!(
                    "blob changed since verification: {} bytes with {actual}, expected {size} bytes with {want}",
                    s.got
                ));
            }
            (n > 0).then(|| (Ok(bytes::Bytes::from(buf)), None))
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_digests() {
        let d = Digest::of(b"x");
        let loc = format!("http://r:5000/v2/team/app/blobs/{d}");
        assert_eq!(location_digest(&loc), Some(d));
        assert!(check_location("t", &loc, &d).is_ok());
        assert!(check_location("t", &loc, &Digest::of(b"y")).is_err());
        // No digest in the Location: nothing to compare (tags are read back).
        assert!(check_location("t", "/v2/team/app/manifests/latest", &d).is_ok());
    }

    #[test]
    fn media_types_are_sniffed() {
        assert_eq!(
            sniff_media_type(br#"{"mediaType":"x/y","manifests":[]}"#).as_deref(),
            Some("x/y")
        );
        assert_eq!(
            sniff_media_type(br#"{"manifests":[]}"#).as_deref(),
            Some(media::OCI_INDEX)
        );
        assert_eq!(sniff_media_type(b"[]"), None);
    }
}
