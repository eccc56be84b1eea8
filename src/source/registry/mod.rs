//! Source: a live OCI registry (Docker Hub, ghcr.io, any distribution-spec
//! registry), through `oci-client` with rustls.
//!
//! References resolve to the same [`ImageSet`] the layout source produces:
//! manifests, indexes and configs are kept in memory (≤ 4 MiB each). Image
//! layers are streamed into the archive while it is written ([`stream`]),
//! so each byte is written once; a layer already in the content-addressed
//! cache ([`cache`]) is packed from there, and `--cache-layers` downloads
//! layers into the cache first (a second write, for re-packs and resuming
//! a killed pack). Large evidence blobs always go through the cache: the
//! pack-time checks read them before the archive is written. Evidence
//! (cosign tags, OCI 1.1 referrers) is discovered for the index digest and
//! every selected manifest digest ([`evidence`]).
//!
//! The client is async; a private tokio runtime (2 workers) runs inside this
//! module only, so the rest of airlock stays synchronous.
//!
//! Rekor hook: signatures found here are `EvidenceRecord`s with role
//! `Signature` whose manifest bytes are `BlobOrigin::Memory` and layers are
//! cache files; the pack-time Rekor proof fetch (`source::rekor`) runs over
//! the returned set after [`resolve`], adding `RekorProof` evidence.

pub mod cache;
mod evidence;
pub mod platform;
pub mod stream;
mod transfer;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use oci_client::Reference;

use super::{BlobOrigin, ImageSet, PlatformFilter};
use crate::error::{Error, IoContext};
use crate::model::oci::{self, DescriptorInfo};
use crate::model::progress::{NoProgress, Progress, ProgressGroup};
use crate::model::{limits, media, BlobRecord, Digest, ImageRecord, PlatformRecord};
use crate::registry_client::fail;
use crate::registry_client::{self, AccessOptions};
use cache::BlobCache;

/// The `source` recorded for images packed from a registry.
pub const SOURCE_NAME: &str = "registry";

/// Media types asked for when fetching a manifest.
pub const ACCEPT: &[&str] = &[
    media::OCI_MANIFEST,
    media::OCI_INDEX,
    media::DOCKER_MANIFEST,
    media::DOCKER_MANIFEST_LIST,
];

/// How to reach registries and where to keep downloads.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Transport and credentials (shared with the registry sink).
    pub access: AccessOptions,
    /// Blob cache directory (default: [`cache::default_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// Only referrers of these artifact types (empty: all).
    pub artifact_types: Vec<String>,
    /// Parallel blob downloads (and layers streamed ahead of the writer).
    pub jobs: usize,
    /// Download layers into the cache before packing instead of streaming
    /// them into the archive.
    pub cache_layers: bool,
    /// Retries per request after the first attempt.
    pub retries: u32,
    /// Makes the download progress bars (the CLI hides them when not on a
    /// terminal).
    pub progress: Arc<dyn ProgressGroup>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            access: AccessOptions::default(),
            cache_dir: None,
            artifact_types: Vec::new(),
            jobs: 4,
            cache_layers: false,
            retries: 4,
            progress: Arc::new(NoProgress),
        }
    }
}

/// Read an image list: one reference a line, `#` starts a comment.
pub fn read_image_list(path: &Path) -> Result<Vec<String>, Error> {
    let f = std::fs::File::open(path).at("open", path)?;
    let mut buf = String::new();
    f.take(limits::MAX_JSON_BYTES + 1)
        .read_to_string(&mut buf)
        .at("read", path)?;
    if buf.len() as u64 > limits::MAX_JSON_BYTES {
        return Err(Error::Usage(format!("{} is too large", path.display())));
    }
    Ok(buf
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Parse and normalise a reference (`busybox` → `docker.io/library/busybox:latest`).
pub fn parse_reference(s: &str) -> Result<Reference, Error> {
    let r: Reference = s
        .parse()
        .map_err(|e| Error::Usage(format!("invalid image reference {s:?}: {e}")))?;
    if let Some(d) = r.digest() {
        d.parse::<Digest>()
            .map_err(|e| Error::Usage(format!("{s}: {e}")))?;
    }
    Ok(r)
}

/// Resolve `refs` from their registries for the platforms in `filter`,
/// downloading every blob into the cache.
pub fn resolve(
    refs: &[String],
    filter: &PlatformFilter,
    opts: &RegistryOptions,
) -> Result<ImageSet, Error> {
    let parsed: Vec<Reference> = refs
        .iter()
        .map(|r| parse_reference(r))
        .collect::<Result<_, _>>()?;
    let client = registry_client::client(&opts.access)?;
    let cache_dir = opts.cache_dir.clone().unwrap_or_else(cache::default_dir);
    let cache = BlobCache::open(&cache_dir)?;
    let mut auths = BTreeMap::new();
    for r in &parsed {
        let host = r.resolve_registry().to_string();
        if let std::collections::btree_map::Entry::Vacant(e) = auths.entry(host) {
            e.insert(registry_client::credentials(r.registry(), &opts.access)?);
        }
    }
    // The runtime outlives resolve: streamed layers download on it while
    // the archive is written. This `Arc` is held until `block_on` returns,
    // so the runtime is never dropped inside itself.
    let streams = Arc::new(stream::Streams {
        runtime: registry_client::runtime()?,
        client,
        retries: opts.retries,
        jobs: opts.jobs,
    });
    let ctx = Ctx {
        cache,
        opts: opts.clone(),
        filter: filter.clone(),
        streams: Arc::clone(&streams),
    };
    streams.runtime.block_on(async {
        for (host, a) in &auths {
            ctx.streams.client.store_auth_if_needed(host, a).await;
        }
        ctx.run(&parsed).await
    })
}

/// `Pending::image` of an evidence blob (it counts on no image's bar).
const EVIDENCE: usize = usize::MAX;

/// A blob still to download, and which image's progress bar it counts on.
struct Pending {
    repo: Reference,
    desc: DescriptorInfo,
    image: usize,
}

struct Ctx {
    cache: BlobCache,
    opts: RegistryOptions,
    filter: PlatformFilter,
    streams: Arc<stream::Streams>,
}

/// A manifest or index as fetched: the exact bytes and what they are.
struct Fetched {
    bytes: Vec<u8>,
    digest: Digest,
    media_type: String,
}

impl Ctx {
    async fn run(&self, refs: &[Reference]) -> Result<ImageSet, Error> {
        let mut set = ImageSet::default();
        let mut pending: Vec<Pending> = Vec::new();
        for r in refs {
            self.resolve_one(r, &mut set, &mut pending).await?;
        }
        let start = std::time::Instant::now();
        let downloaded = self.download(&mut set, pending).await;
        crate::model::timings::add("download", start.elapsed());
        downloaded?;
        Ok(set)
    }

    /// Fetch a manifest with retries. `Ok(None)` when it does not exist.
    async fn manifest(
        &self,
        r: &Reference,
        expect: Option<&DescriptorInfo>,
    ) -> Result<Option<Fetched>, Error> {
        let what = format!("manifest {}", r.whole());
        let auth = oci_client::secrets::RegistryAuth::Anonymous; // stored per host already
        let found = fail::retrying(&what, self.opts.retries, || {
            self.streams.client.pull_manifest_raw(r, &auth, ACCEPT)
        })
        .await?;
        let Some((bytes, _)) = found else {
            return Ok(None);
        };
        // The client reads the whole body; bound what we keep and parse.
        if bytes.len() as u64 > limits::MAX_JSON_BYTES {
            return Err(Error::Source(format!(
                "{what}: {} bytes is over the {}-byte manifest limit",
                bytes.len(),
                limits::MAX_JSON_BYTES
            )));
        }
        let digest = Digest::of(&bytes);
        if let Some(want) = r.digest() {
            if want != digest.to_string() {
                return Err(Error::Source(format!(
                    "{what}: content has {digest}, not the requested digest (refused)"
                )));
            }
        }
        if let Some(d) = expect {
            if d.digest != digest || d.size != bytes.len() as u64 {
                return Err(Error::Source(format!(
                    "{what}: content does not match its descriptor ({} bytes, {digest})",
                    bytes.len()
                )));
            }
        }
        let media_type = match expect {
            Some(d) => d.media_type.clone(),
            None => sniff_media_type(&bytes)
                .ok_or_else(|| Error::Source(format!("{what}: not a manifest or index")))?,
        };
        Ok(Some(Fetched {
            bytes: bytes.to_vec(),
            digest,
            media_type,
        }))
    }

    async fn resolve_one(
        &self,
        r: &Reference,
        set: &mut ImageSet,
        pending: &mut Vec<Pending>,
    ) -> Result<(), Error> {
        let name = r.whole();
        let top = self
            .manifest(r, None)
            .await?
            .ok_or_else(|| Error::Source(format!("{name}: not found in the registry")))?;
        let repo_of = |d: &Digest| r.clone_with_digest(d.to_string());
        if media::is_index(&top.media_type) {
            let index = oci::parse_index(&top.bytes)
                .map_err(|e| Error::Source(format!("{name}: index {}: {e}", top.digest)))?;
            let chosen = platform::select(&name, &index, &self.filter)?;
            let before = set.images.len();
            for m in chosen {
                let child = self
                    .manifest(&repo_of(&m.digest), Some(m))
                    .await?
                    .ok_or_else(|| {
                        Error::Source(format!("{name}: manifest {} is missing", m.digest))
                    })?;
                let platform = m.platform.clone();
                self.add_image(r, child, Some(top.digest), platform, set, pending)
                    .await?;
            }
            if set.images.len() == before {
                return Err(Error::Source(format!(
                    "{name}: no manifest for {}",
                    platform::describe(&self.filter)
                )));
            }
            set.add_memory(top.digest, &top.media_type, top.bytes);
            let subject = top.digest;
            evidence::discover(self, r, subject, set, pending).await?;
        } else if media::is_image_manifest(&top.media_type) {
            self.add_image(r, top, None, None, set, pending).await?;
        } else {
            return Err(Error::Source(format!(
                "{name}: unsupported media type {}",
                top.media_type
            )));
        }
        Ok(())
    }

    async fn add_image(
        &self,
        r: &Reference,
        m: Fetched,
        index_digest: Option<Digest>,
        descriptor_platform: Option<PlatformRecord>,
        set: &mut ImageSet,
        pending: &mut Vec<Pending>,
    ) -> Result<(), Error> {
        let name = r.whole();
        let manifest = oci::parse_manifest(&m.bytes)
            .map_err(|e| Error::Source(format!("{name}: manifest {}: {e}", m.digest)))?;
        let kind = oci::entry_kind(&manifest);
        let image = set.images.len();
        let platform = if kind.is_image() {
            let config = self.small_blob(r, &manifest.config).await?;
            let platform = oci::config_platform(&config).map_err(|e| {
                Error::Source(format!("{name}: config {}: {e}", manifest.config.digest))
            })?;
            // An index child's descriptor platform was already filtered; a
            // child without one is left out when its config says another.
            if index_digest.is_none() {
                platform::check_single(&name, &platform, &self.filter)?;
            } else if descriptor_platform.is_none() && !self.filter.matches(&platform) {
                return Ok(());
            }
            set.add_blob(
                BlobRecord {
                    digest: manifest.config.digest,
                    size: manifest.config.size,
                    media_type: manifest.config.media_type.clone(),
                },
                BlobOrigin::Memory(config.into()),
            );
            Some(platform)
        } else {
            // An artifact's config is opaque: fetched like a layer, never parsed.
            pending.push(Pending {
                repo: r.clone(),
                desc: manifest.config.clone(),
                image,
            });
            descriptor_platform
        };
        let size = m.bytes.len() as u64
            + manifest.config.size
            + manifest.layers.iter().map(|l| l.size).sum::<u64>();
        for layer in &manifest.layers {
            pending.push(Pending {
                repo: r.clone(),
                desc: layer.clone(),
                image,
            });
        }
        let digest = m.digest;
        let manifest_size = m.bytes.len() as u64;
        set.add_memory(digest, &m.media_type, m.bytes);
        set.images.push(ImageRecord {
            reference: name,
            source: SOURCE_NAME.to_string(),
            index_digest,
            manifest_digest: digest,
            manifest_media_type: m.media_type,
            manifest_size,
            config_digest: manifest.config.digest,
            kind,
            artifact_type: oci::artifact_type(&manifest),
            platform,
            size,
            evidence: Vec::new(),
        });
        evidence::discover(self, r, digest, set, pending).await
    }

    /// A JSON blob (config, evidence document) read into memory, ≤ 4 MiB,
    /// through the cache.
    async fn small_blob(&self, r: &Reference, d: &DescriptorInfo) -> Result<Vec<u8>, Error> {
        if d.size > limits::MAX_JSON_BYTES {
            return Err(Error::Source(format!(
                "{}: blob {} is {} bytes, over the {}-byte limit for JSON documents",
                r.whole(),
                d.digest,
                d.size,
                limits::MAX_JSON_BYTES
            )));
        }
        let path = self
            .cache
            .fetch(&self.streams.client, r, d, self.opts.retries, &[])
            .await?;
        let bytes = std::fs::read(&path).at("read", &path)?;
        if bytes.len() as u64 != d.size || Digest::of(&bytes) != d.digest {
            return Err(Error::Source(format!(
                "cached blob {} does not match its digest; delete {} and retry",
                d.digest,
                path.display()
            )));
        }
        Ok(bytes)
    }

    /// Download every pending blob (each digest once), `jobs` at a time,
    /// except the image layers to stream into the archive.
    async fn download(&self, set: &mut ImageSet, pending: Vec<Pending>) -> Result<(), Error> {
        let mut unique: BTreeMap<Digest, Pending> = BTreeMap::new();
        for p in pending {
            if !set.blobs.contains_key(&p.desc.digest) {
                unique.entry(p.desc.digest).or_insert(p);
            }
        }
        let (streamed, unique): (BTreeMap<_, _>, BTreeMap<_, _>) =
            unique.into_iter().partition(|(d, p)| {
                p.image != EVIDENCE && !self.opts.cache_layers && !self.cache.has(d, p.desc.size)
            });
        for p in streamed.into_values() {
            let record = BlobRecord {
                digest: p.desc.digest,
                size: p.desc.size,
                media_type: p.desc.media_type.clone(),
            };
            let layer = stream::RemoteLayer::new(Arc::clone(&self.streams), p.repo, p.desc);
            set.add_blob(record, BlobOrigin::Remote(Arc::new(layer)));
        }
        if unique.is_empty() {
            return Ok(());
        }
        let mut per_image: BTreeMap<usize, u64> = BTreeMap::new();
        for p in unique.values() {
            *per_image.entry(p.image).or_default() += p.desc.size;
        }
        let bars: BTreeMap<usize, Box<dyn Progress>> = per_image
            .iter()
            .map(|(i, total)| {
                let label = set
                    .images
                    .get(*i)
                    .map(|im| short(&im.reference))
                    .unwrap_or_else(|| "evidence".into());
                (*i, self.opts.progress.bar(*total, &label))
            })
            .collect();
        let total: Arc<dyn Progress> =
            Arc::from(self.opts.progress.bar(per_image.values().sum(), "total"));
        let results: Vec<Result<(BlobRecord, PathBuf), Error>> =
            futures_util::stream::iter(unique.into_values().map(|p| {
                let bar: &dyn Progress = bars.get(&p.image).map_or(&NoProgress, |b| &**b);
                let total = Arc::clone(&total);
                async move {
                    let path = self
                        .cache
                        .fetch(
                            &self.streams.client,
                            &p.repo,
                            &p.desc,
                            self.opts.retries,
                            &[bar, &*total],
                        )
                        .await?;
                    Ok((
                        BlobRecord {
                            digest: p.desc.digest,
                            size: p.desc.size,
                            media_type: p.desc.media_type,
                        },
                        path,
                    ))
                }
            }))
            .buffer_unordered(self.opts.jobs.max(1))
            .collect()
            .await;
        for b in bars.values() {
            b.finish();
        }
        total.finish();
        for r in results {
            let (record, path) = r?;
            set.add_blob(record, BlobOrigin::File(path));
        }
        Ok(())
    }
}

fn short(reference: &str) -> String {
    let s = reference.rsplit('/').next().unwrap_or(reference);
    s.chars().take(24).collect()
}

/// A manifest's media type from its own `mediaType`, else by shape (OCI
/// allows omitting it): `manifests` means an index.
fn sniff_media_type(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Shape {
        #[serde(default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        config: Option<serde_json::Value>,
    }
    let s: Shape = serde_json::from_slice(bytes).ok()?;
    match (s.media_type, s.manifests, s.config) {
        (Some(mt), _, _) => Some(mt),
        (None, Some(_), _) => Some(media::OCI_INDEX.to_string()),
        (None, None, Some(_)) => Some(media::OCI_MANIFEST.to_string()),
        _ => None,
    }
}
