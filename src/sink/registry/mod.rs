//! `registry:HOST[/NAMESPACE]`: the site's own registry (distribution,
//! Harbor, Zot…), written through `oci-client` so every digest stays what
//! was verified and in-cluster verifiers (cosign, Kyverno, policy-controller)
//! find the evidence where they look for it.
//!
//! `begin`/`put_blob` only stage privately (like every sink); `open` only
//! checks the registry answers and `begin` that the credentials can push.
//! `finish` writes, per repository, in this order:
//! 1. blobs (configs, layers, evidence layers), streamed and re-hashed,
//!    skipping those the registry has (`HEAD`): straight from the archive
//!    file at each blob's offset when it is uncompressed (no staging copy),
//!    else from staging;
//! 2. manifests by digest with their exact bytes and media type: images,
//!    then an index taken whole, then evidence manifests;
//! 3. tags, last: cosign `sha256-<hex>.sig|.att|.sbom`, the referrers
//!    tag-schema index `sha256-<hex>` for referrers the registry does not
//!    list itself (no referrers API, e.g. distribution 2.8), then the image
//!    tags. Each tag is read back and must resolve to our digest.
//!
//! Roll back: before step 3 nothing is named, so a failure leaves only
//! content-addressed, unreferenced data. A failure in step 3 puts back every
//! tag this run moved (re-pushing the exact manifest it pointed at); a tag
//! this run created cannot be removed through the distribution API (tag
//! deletion is optional and distribution 2.8 refuses it), so it is named in
//! the error. See docs/unpack.md.
//!
//! Naming: [`naming`]. What is written: [`plan`]. Requests: [`remote`].
//! Tag writes and their roll back: `tags`.

pub mod naming;
pub mod plan;
pub mod remote;
mod tags;

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use super::feed::BlobFeed;
use super::staging::{Staged, Staging};
use super::{Loaded, LoadedImage, Sink, SinkOptions};
use crate::error::{Error, IntegrityError};
use crate::gate::{Plan, VerifiedArchive};
use crate::model::{limits, BlobRecord, Digest};
use crate::registry_client;
use naming::RegistryTarget;
use plan::{PushPlan, RepoPlan};
use remote::{sink_error, Remote};

/// Retries per request after the first attempt (as for pack).
const RETRIES: u32 = 4;

pub struct RegistrySink {
    target: RegistryTarget,
    rt: tokio::runtime::Runtime,
    remote: Remote,
    staging: Staged,
    /// Set by `load_from` for an uncompressed archive file: blobs are
    /// pushed from it by offset, nothing is staged.
    feed: Option<Box<dyn BlobFeed>>,
}

/// Where the blobs' bytes are read from at `finish`.
#[derive(Clone, Copy)]
enum Blobs<'a> {
    Staged(&'a Staging),
    Archive(&'a dyn BlobFeed),
}

impl Blobs<'_> {
    /// The file and offset holding `d`'s bytes (read them re-hashing).
    fn location(&self, d: &Digest) -> Result<(PathBuf, u64), Error> {
        match self {
            Blobs::Staged(s) => Ok((s.blob_path(d), 0)),
            Blobs::Archive(f) => {
                f.locate(d)
                    .map(|(p, at)| (p.to_path_buf(), at))
                    .ok_or_else(|| {
                        Error::Integrity(IntegrityError::MissingBlob {
                            digest: d.to_string(),
                        })
                    })
            }
        }
    }
}

impl RegistrySink {
    /// Set up the client and check the registry answers (exit 6 if not).
    pub fn connect(target: &RegistryTarget, opts: &SinkOptions) -> Result<Self, Error> {
        let client = registry_client::push_client(&opts.registry)?;
        let auth =
            registry_client::credentials(&target.host, &opts.registry).map_err(sink_error)?;
        let rt = registry_client::runtime()?;
        let remote = Remote {
            client,
            auth,
            host: target.host.clone(),
            retries: RETRIES,
            stop: opts.stop.clone(),
        };
        let probe = target.namespace.clone().unwrap_or_else(|| "airlock".into());
        rt.block_on(remote.ping(&probe))?;
        Ok(RegistrySink {
            target: target.clone(),
            rt,
            remote,
            staging: Staged::default(),
            feed: None,
        })
    }

    /// The digest `name` (`HOST/REPOSITORY:TAG`, as unpack names what it
    /// pushed) resolves to in this registry now; `None` when the tag is absent.
    pub fn resolve_name(&self, name: &str) -> Result<Option<Digest>, Error> {
        let rest = name
            .strip_prefix(&format!("{}/", self.target.host))
            .ok_or_else(|| Error::Usage(format!("{name} is not a name in {}", self.target.host)))?;
        let (repo, tag) = match rest.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, t),
            _ => (rest, "latest"),
        };
        self.rt.block_on(self.remote.tag_digest(repo, tag))
    }

    /// A verified document's bytes: from the archive reader, else read
    /// (bounded) from where its blob is, and checked against its digest.
    fn document(
        verified: &VerifiedArchive<'_>,
        blobs: Blobs<'_>,
        d: &Digest,
    ) -> Result<Vec<u8>, Error> {
        if let Some(b) = verified.metadata(d) {
            return Ok(b.to_vec());
        }
        let (path, at) = blobs.location(d)?;
        let mut f = std::fs::File::open(&path).map_err(|e| Error::io_path("open", &path, e))?;
        f.seek(SeekFrom::Start(at))
            .map_err(|e| Error::io_path("read", &path, e))?;
        let size = verified
            .plan()
            .blobs
            .iter()
            .find(|b| b.digest == *d)
            .map_or(limits::MAX_JSON_BYTES + 1, |b| b.size);
        let mut buf = Vec::new();
        f.take(size.min(limits::MAX_JSON_BYTES + 1))
            .read_to_end(&mut buf)
            .map_err(|e| Error::io_path("read", &path, e))?;
        if buf.len() as u64 > limits::MAX_JSON_BYTES || Digest::of(&buf) != *d {
            return Err(Error::Sink(format!(
                "document {d} is too large or changed since verification"
            )));
        }
        Ok(buf)
    }

    fn check_stop(&self) -> Result<(), Error> {
        if self.remote.stop.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        Ok(())
    }

    /// A delta archive does not carry its external layers: each must be in
    /// the repository already (by digest), checked before anything is
    /// pushed, so a wrong inventory or base leaves the registry untouched.
    async fn check_external(
        &self,
        p: &PushPlan,
        verified: &VerifiedArchive<'_>,
    ) -> Result<(), Error> {
        let m = &verified.outcome().manifest;
        let mut missing = Vec::new();
        for repo in &p.repos {
            for b in repo
                .blobs
                .iter()
                .filter(|b| m.external_blob(&b.digest).is_some())
            {
                self.check_stop()?;
                if !self.remote.blob_exists(&repo.repository, &b.digest).await? {
                    missing.push(format!("{}@{}", repo.repository, b.digest));
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::Sink(format!(
            "the registry lacks {} external blob(s) of this delta archive, so nothing was pushed: {}",
            missing.len(),
            missing.join(", ")
        )))
    }

    async fn push_content(
        &self,
        repo: &RepoPlan,
        blobs: Blobs<'_>,
        doc: &dyn Fn(&Digest) -> Result<Vec<u8>, Error>,
    ) -> Result<(), Error> {
        let r = &repo.repository;
        for b in &repo.blobs {
            self.check_stop()?;
            if !self.remote.blob_exists(r, &b.digest).await? {
                let (path, at) = blobs.location(&b.digest)?;
                self.remote
                    .push_blob(r, (&path, at), &b.digest, b.size)
                    .await?;
            }
        }
        for m in &repo.manifests {
            self.check_stop()?;
            self.remote
                .push_manifest(r, &m.digest, &doc(&m.digest)?, &m.media_type)
                .await?;
        }
        Ok(())
    }

    async fn push(
        &self,
        p: &PushPlan,
        blobs: Blobs<'_>,
        doc: &dyn Fn(&Digest) -> Result<Vec<u8>, Error>,
    ) -> Result<Vec<String>, Error> {
        for repo in &p.repos {
            self.push_content(repo, blobs, doc).await?;
        }
        self.check_stop()?;
        let writes = self.tag_writes(p, doc).await?;
        // Last point an interrupt leaves the registry without new names.
        self.check_stop()?;
        self.write_tags(&writes).await?;
        Ok(writes
            .iter()
            .filter_map(|w| {
                w.before.as_ref().map(|b| {
                    format!(
                        "moved {}/{}:{} from {} to {}",
                        self.target.host, w.repository, w.tag.tag, b.digest, w.tag.digest
                    )
                })
            })
            .collect())
    }
}

impl Sink for RegistrySink {
    fn begin(&mut self, plan: &Plan) -> Result<(), Error> {
        let mut repos: Vec<String> = Vec::new();
        for img in &plan.images {
            let n = self.target.name_for(&img.tag)?;
            if !repos.contains(&n.repository) {
                repos.push(n.repository);
            }
        }
        for r in &repos {
            self.rt.block_on(self.remote.login(r))?;
        }
        if self.feed.is_some() {
            return Ok(());
        }
        self.staging.begin(Staging::private)
    }

    fn load_from(&mut self, feed: Box<dyn BlobFeed>) -> bool {
        if !feed.is_plain_file() {
            return false;
        }
        self.feed = Some(feed);
        true
    }

    fn put_blob(&mut self, rec: &BlobRecord, data: &mut dyn Read) -> Result<(), Error> {
        self.staging.put(rec, data)
    }

    fn finish(self: Box<Self>, verified: &VerifiedArchive<'_>) -> Result<Loaded, Error> {
        let blobs = match &self.feed {
            Some(feed) => Blobs::Archive(feed.as_ref()),
            None => Blobs::Staged(self.staging.get()?),
        };
        let doc = |d: &Digest| Self::document(verified, blobs, d);
        let p = plan::build(&self.target, verified, &doc)?;
        self.rt.block_on(self.check_external(&p, verified))?;
        let moved = self.rt.block_on(self.push(&p, blobs, &doc))?;
        let images = verified
            .plan()
            .images
            .iter()
            .zip(&p.images)
            .map(|(img, ip)| LoadedImage {
                reference: match &ip.name.tag {
                    Some(_) => self.target.display_name(&ip.name),
                    None => format!("{}/{}@{}", self.target.host, ip.repository, ip.tagged),
                },
                packed_reference: img.record.reference.clone(),
                manifest_digest: img.record.manifest_digest,
                config_digest: img.record.config_digest,
                image_id: None,
                target_digest: Some(ip.tagged.to_string()),
                platform: img.record.platform_label(),
                record_file: None,
                evidence: ip.evidence,
                already_present: false,
            })
            .collect();
        let mut notes = p.notes;
        notes.extend(moved);
        Ok(Loaded {
            target: format!("registry:{}", self.target),
            images,
            notes,
        })
    }

    fn abort(self: Box<Self>) {
        // Nothing was sent; dropping the staging directory removes it.
    }
}
