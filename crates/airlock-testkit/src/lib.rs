//! Deterministic OCI image layout builder for tests, the demo and the benchmark.
//!
//! Same inputs give byte-identical blobs and `index.json`: tar headers carry
//! mtime 0, uid/gid 0 and no user names, entries are sorted, and every JSON
//! document is serialised from structs (fixed field order, no maps whose order
//! could change with serde_json features). Layers are uncompressed tars, so a
//! layer's digest is also its diff_id.
//!
//! Blobs are streamed to `blobs/sha256/` through a hashing writer and renamed
//! into place, so a multi-GiB random layer never sits in memory.

pub mod cosign;
pub mod many;
pub mod publish;
pub mod rekor_server;
pub mod signed;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use airlock::model::media::REF_NAME as ANNOTATION_REF_NAME;
use airlock::model::media::{OCI_CONFIG as MEDIA_TYPE_CONFIG, OCI_INDEX as MEDIA_TYPE_INDEX};
use airlock::model::media::{OCI_LAYER as MEDIA_TYPE_LAYER, OCI_MANIFEST as MEDIA_TYPE_MANIFEST};

pub use airlock::model::media::HELM_CONFIG;
/// The media type of a Helm chart's `.tgz` layer.
pub const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// The path of one of this crate's binaries (`airlock-mkimage`,
/// `airlock-test-rekor`) built beside the running test: cargo puts test
/// executables in `target/<profile>/deps/` and binaries in
/// `target/<profile>/`. `cargo test --workspace` builds them; a missing one
/// panics with the command that builds it, since a test cannot go on.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built; run `cargo build -p airlock-testkit --bins` (make test does)",
        path.display()
    );
    path
}

/// Where a file's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    Bytes(Vec<u8>),
    /// Streamed from the host file at build time.
    File(PathBuf),
}

/// One regular file to put in a layer.
#[derive(Debug, Clone)]
pub struct FileEntry {
    /// Path inside the image; a leading `/` is ignored.
    pub path: String,
    pub source: Source,
    pub mode: u32,
}

impl FileEntry {
    pub fn bytes(path: &str, data: impl Into<Vec<u8>>, mode: u32) -> Self {
        let source = Source::Bytes(data.into());
        FileEntry {
            path: path.to_string(),
            source,
            mode,
        }
    }

    pub fn file(path: &str, host: impl Into<PathBuf>, mode: u32) -> Self {
        let source = Source::File(host.into());
        FileEntry {
            path: path.to_string(),
            source,
            mode,
        }
    }
}

/// An OCI content descriptor, serialised in the spec's field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    pub size: u64,
}

impl Descriptor {
    /// The hex part of the digest, i.e. the blob's file name.
    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }
}

/// A layer blob; uncompressed, so its digest doubles as the diff_id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub descriptor: Descriptor,
    pub diff_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `arch[/variant]` (e.g. `amd64`, `arm64/v8`) for `linux`.
    pub fn linux(spec: &str) -> Self {
        let (arch, variant) = match spec.split_once('/') {
            Some((a, v)) => (a, Some(v.to_string())),
            None => (spec, None),
        };
        Platform {
            architecture: arch.to_string(),
            os: "linux".into(),
            variant,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(v) => write!(f, "/{v}"),
            None => Ok(()),
        }
    }
}

/// What goes into an image config besides the layers.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub platform: Platform,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
}

impl ImageSpec {
    pub fn new(platform: Platform) -> Self {
        ImageSpec {
            platform,
            entrypoint: None,
            cmd: None,
        }
    }
}

/// An OCI image layout under construction. Call [`Layout::finish`] to write
/// `index.json`; until then the directory holds only blobs and `oci-layout`.
#[derive(Debug)]
pub struct Layout {
    dir: PathBuf,
    /// (reference, descriptor of the manifest or index it names).
    refs: BTreeSet<(String, DescriptorKey)>,
    /// File mtime in layers and the config's `created` (a rebuild of the
    /// same content at another time; see [`Layout::set_build_time`]).
    mtime: u64,
    created: String,
}

/// Sortable copy of a descriptor so `index.json` order never depends on call order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct DescriptorKey {
    digest: String,
    media_type: String,
    size: u64,
}

impl Layout {
    /// Creates `dir` (and parents), `blobs/sha256/` and `oci-layout`.
    pub fn create(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(dir.join("blobs").join("sha256"))?;
        fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        Ok(Layout {
            dir,
            refs: BTreeSet::new(),
            mtime: 0,
            created: "1970-01-01T00:00:00Z".into(),
        })
    }

    /// Build what follows "at another time": every file's mtime and the
    /// config's `created` (and nothing else) change, as in a rebuild of
    /// the same sources.
    pub fn set_build_time(&mut self, mtime: u64, created: &str) {
        self.mtime = mtime;
        self.created = created.to_string();
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the blob a descriptor names.
    pub fn blob_path(&self, d: &Descriptor) -> PathBuf {
        self.dir.join("blobs").join("sha256").join(d.hex())
    }

    /// Stores an in-memory blob; storing the same bytes twice is a no-op.
    pub fn add_blob(&mut self, media_type: &str, bytes: &[u8]) -> io::Result<Descriptor> {
        self.write_blob(media_type, |w| w.write_all(bytes))
    }

    /// Streams a blob produced by `fill` to disk while hashing it.
    fn write_blob<F>(&mut self, media_type: &str, fill: F) -> io::Result<Descriptor>
    where
        F: FnOnce(&mut HashingWriter<BufWriter<File>>) -> io::Result<()>,
    {
        let blobs = self.dir.join("blobs").join("sha256");
        let tmp = tempfile::NamedTempFile::new_in(&blobs)?;
        let mut w = HashingWriter::new(BufWriter::with_capacity(1 << 20, tmp.reopen()?));
        fill(&mut w)?;
        let (inner, hex, size) = w.finish();
        // No fsync: layouts are scratch data for tests and benchmarks.
        inner.into_inner().map_err(|e| e.into_error())?;
        // NamedTempFile is 0600; blobs must be readable by podman/skopeo users.
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))?;
        tmp.persist(blobs.join(&hex)).map_err(|e| e.error)?;
        Ok(Descriptor {
            media_type: media_type.into(),
            digest: format!("sha256:{hex}"),
            size,
        })
    }

    /// Writes a layer tar holding `files` plus their parent directories,
    /// sorted by path, with deterministic headers.
    pub fn add_layer(&mut self, files: &[FileEntry]) -> io::Result<Layer> {
        let mut sorted: Vec<&FileEntry> = files.iter().collect();
        sorted.sort_by(|a, b| clean(&a.path).cmp(clean(&b.path)));
        let mut dirs = BTreeSet::new();
        for f in &sorted {
            let p = clean(&f.path);
            if p.is_empty() || p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("bad path {:?}", f.path),
                ));
            }
            let mut parent = Path::new(p).parent();
            while let Some(d) = parent.filter(|d| !d.as_os_str().is_empty()) {
                dirs.insert(format!("{}/", d.display()));
                parent = d.parent();
            }
        }
        // Duplicates or a file that is also a parent dir would make an
        // ambiguous layer; refuse them rather than write one.
        let clash = sorted
            .windows(2)
            .any(|w| clean(&w[0].path) == clean(&w[1].path))
            || sorted
                .iter()
                .any(|f| dirs.contains(&format!("{}/", clean(&f.path))));
        if clash {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "duplicate or conflicting layer paths",
            ));
        }
        let mtime = self.mtime;
        let desc = self.write_blob(MEDIA_TYPE_LAYER, |w| {
            let mut tar = tar::Builder::new(w);
            // Directories first (sorted, so parents precede children), then files.
            for d in &dirs {
                let mut h = header(tar::EntryType::Directory, 0o755, 0, mtime);
                tar.append_data(&mut h, d, io::empty())?;
            }
            for f in &sorted {
                append_file(&mut tar, f, mtime)?;
            }
            tar.into_inner()?;
            Ok(())
        })?;
        Ok(layer(desc))
    }

    /// Writes a layer whose single file `random.bin` holds `size` bytes from
    /// a seeded PRNG; streamed, so any size fits in constant memory.
    pub fn add_random_layer(&mut self, size: u64, seed: u64) -> io::Result<Layer> {
        let mtime = self.mtime;
        let desc = self.write_blob(MEDIA_TYPE_LAYER, |w| {
            let mut tar = tar::Builder::new(w);
            let mut h = header(tar::EntryType::Regular, 0o644, size, mtime);
            tar.append_data(&mut h, "random.bin", Prng::new(seed).take(size))?;
            tar.into_inner()?;
            Ok(())
        })?;
        Ok(layer(desc))
    }

    /// Writes the config and manifest of a single-platform image; returns
    /// the manifest's descriptor.
    pub fn add_image(&mut self, spec: &ImageSpec, layers: &[Layer]) -> io::Result<Descriptor> {
        let config = ConfigJson {
            created: &self.created,
            architecture: &spec.platform.architecture,
            os: &spec.platform.os,
            variant: spec.platform.variant.as_deref(),
            config: RunConfig {
                env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                entrypoint: spec.entrypoint.clone(),
                cmd: spec.cmd.clone(),
            },
            rootfs: RootFs {
                kind: "layers",
                diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
            },
        };
        let config = self.add_blob(MEDIA_TYPE_CONFIG, &serde_json::to_vec(&config)?)?;
        let manifest = ManifestJson {
            schema_version: 2,
            media_type: MEDIA_TYPE_MANIFEST,
            config,
            layers: layers.iter().map(|l| l.descriptor.clone()).collect(),
        };
        self.add_blob(MEDIA_TYPE_MANIFEST, &serde_json::to_vec(&manifest)?)
    }

    /// Writes an artifact manifest (a Helm chart, ORAS files, anything that
    /// is not a runnable image): `config` as (media type, bytes), each layer
    /// as (media type, bytes, optional `org.opencontainers.image.title`),
    /// and the OCI 1.1 `artifactType` when given. Returns its descriptor.
    pub fn add_artifact(
        &mut self,
        artifact_type: Option<&str>,
        config: (&str, &[u8]),
        layers: &[(&str, &[u8], Option<&str>)],
    ) -> io::Result<Descriptor> {
        let config = self.add_blob(config.0, config.1)?;
        let mut described = Vec::with_capacity(layers.len());
        for (media_type, bytes, title) in layers {
            described.push(TitledDescriptor {
                base: self.add_blob(media_type, bytes)?,
                annotations: title.map(|t| TitleAnnotation {
                    title: t.to_string(),
                }),
            });
        }
        let manifest = ArtifactManifestJson {
            schema_version: 2,
            media_type: MEDIA_TYPE_MANIFEST,
            artifact_type: artifact_type.map(str::to_string),
            config,
            layers: described,
        };
        self.add_blob(MEDIA_TYPE_MANIFEST, &serde_json::to_vec(&manifest)?)
    }

    /// A minimal Helm chart: the chart's `Chart.yaml` facts as its config and
    /// one `.tgz` layer holding `chart` bytes.
    pub fn add_helm_chart(
        &mut self,
        name: &str,
        version: &str,
        chart: &[u8],
    ) -> io::Result<Descriptor> {
        let config = format!(r#"{{"apiVersion":"v2","name":"{name}","version":"{version}"}}"#);
        self.add_artifact(
            None,
            (HELM_CONFIG, config.as_bytes()),
            &[(HELM_CHART_LAYER, chart, None)],
        )
    }

    /// Writes an image index over per-platform manifests; returns its descriptor.
    pub fn add_index(&mut self, manifests: &[(Descriptor, Platform)]) -> io::Result<Descriptor> {
        let index = IndexJson {
            schema_version: 2,
            media_type: MEDIA_TYPE_INDEX,
            manifests: manifests
                .iter()
                .map(|(d, p)| PlatformDescriptor {
                    base: d.clone(),
                    platform: Some(p.clone()),
                    annotations: None,
                })
                .collect(),
        };
        self.add_blob(MEDIA_TYPE_INDEX, &serde_json::to_vec(&index)?)
    }

    /// Names a manifest or index in `index.json` (e.g. `localhost/x/busybox:1.36`).
    /// A descriptor may carry several names; each becomes one entry.
    pub fn tag(&mut self, reference: &str, d: &Descriptor) {
        let key = DescriptorKey {
            digest: d.digest.clone(),
            media_type: d.media_type.clone(),
            size: d.size,
        };
        self.refs.insert((reference.to_string(), key));
    }

    /// Writes `index.json` (entries sorted by reference) and returns the layout dir.
    pub fn finish(self) -> io::Result<PathBuf> {
        let manifests = self
            .refs
            .iter()
            .map(|(name, k)| PlatformDescriptor {
                base: Descriptor {
                    media_type: k.media_type.clone(),
                    digest: k.digest.clone(),
                    size: k.size,
                },
                platform: None,
                annotations: Some(RefAnnotation {
                    ref_name: name.clone(),
                }),
            })
            .collect();
        let index = IndexJson {
            schema_version: 2,
            media_type: MEDIA_TYPE_INDEX,
            manifests,
        };
        fs::write(self.dir.join("index.json"), serde_json::to_vec(&index)?)?;
        Ok(self.dir)
    }
}

fn layer(descriptor: Descriptor) -> Layer {
    let diff_id = descriptor.digest.clone();
    Layer {
        descriptor,
        diff_id,
    }
}

fn clean(p: &str) -> &str {
    p.trim_start_matches('/')
}

/// A header with nothing host-specific in it.
fn header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append_file<W: Write>(tar: &mut tar::Builder<W>, f: &FileEntry, mtime: u64) -> io::Result<()> {
    let path = clean(&f.path);
    match &f.source {
        Source::Bytes(b) => {
            let mut h = header(tar::EntryType::Regular, f.mode, b.len() as u64, mtime);
            tar.append_data(&mut h, path, b.as_slice())
        }
        Source::File(host) => {
            let file = File::open(host)?;
            let size = file.metadata()?.len();
            let mut h = header(tar::EntryType::Regular, f.mode, size, mtime);
            // tar pads by bytes actually copied; a file that shrinks mid-copy
            // would silently corrupt the archive, so insist on the full size.
            let mut reader = ExactReader {
                inner: file.take(size),
                left: size,
            };
            tar.append_data(&mut h, path, &mut reader)
        }
    }
}

/// Fails with `UnexpectedEof` if the inner reader ends before `left` bytes.
struct ExactReader<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being archived",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Hashes and counts everything written through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.size)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// xorshift64* stream: fast, seedable, and the same on every platform
/// (words are emitted little-endian). Not cryptographic; it only fills layers.
pub struct Prng {
    state: u64,
    /// Unread tail of the last word, so output never depends on read sizes.
    pending: [u8; 8],
    pending_len: usize,
}

impl Prng {
    pub fn new(seed: u64) -> Self {
        // splitmix64 step so seeds 0, 1, 2… give unrelated streams and 0 is valid.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let state = (z ^ (z >> 31)) | 1;
        Prng {
            state,
            pending: [0; 8],
            pending_len: 0,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl Read for Prng {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pending_len > 0 {
            let n = self.pending_len.min(buf.len());
            let start = 8 - self.pending_len;
            buf[..n].copy_from_slice(&self.pending[start..start + n]);
            self.pending_len -= n;
            return Ok(n);
        }
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            self.pending = self.next_u64().to_le_bytes();
            tail.copy_from_slice(&self.pending[..tail.len()]);
            self.pending_len = 8 - tail.len();
        }
        Ok(buf.len())
    }
}

#[derive(Serialize)]
struct ConfigJson<'a> {
    created: &'a str,
    architecture: &'a str,
    os: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    config: RunConfig<'a>,
    rootfs: RootFs,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RunConfig<'a> {
    env: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cmd: Option<Vec<String>>,
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestJson {
    schema_version: u32,
    media_type: &'static str,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexJson {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<PlatformDescriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactManifestJson {
    schema_version: u32,
    media_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    config: Descriptor,
    layers: Vec<TitledDescriptor>,
}

#[derive(Serialize)]
struct TitledDescriptor {
    #[serde(flatten)]
    base: Descriptor,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<TitleAnnotation>,
}

#[derive(Serialize)]
struct TitleAnnotation {
    #[serde(rename = "org.opencontainers.image.title")]
    title: String,
}

#[derive(Serialize)]
struct PlatformDescriptor {
    #[serde(flatten)]
    base: Descriptor,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<Platform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<RefAnnotation>,
}

#[derive(Serialize)]
struct RefAnnotation {
    #[serde(rename = "org.opencontainers.image.ref.name")]
    ref_name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dir: &Path) -> io::Result<(Descriptor, Descriptor)> {
        let mut l = Layout::create(dir)?;
        let shared = l.add_layer(&[FileEntry::bytes("/etc/motd", "hi\n", 0o644)])?;
        let mut images = Vec::new();
        for (arch, data) in [("amd64", "x86"), ("arm64/v8", "arm")] {
            let own = l.add_layer(&[
                FileEntry::bytes("/usr/share/arch", data, 0o644),
                FileEntry::bytes("/bin/tool", "#!/bin/sh\n", 0o755),
            ])?;
            let mut spec = ImageSpec::new(Platform::linux(arch));
            spec.cmd = Some(vec!["sh".into()]);
            let m = l.add_image(&spec, &[shared.clone(), own])?;
            images.push((m, spec.platform));
        }
        let index = l.add_index(&images)?;
        let random = l.add_random_layer(100_003, 7)?;
        let single = l.add_image(&ImageSpec::new(Platform::linux("amd64")), &[random])?;
        l.tag("localhost/t/multi:1", &index);
        l.tag("localhost/t/single:1", &single);
        l.tag("localhost/t/single:latest", &single);
        l.finish()?;
        Ok((index, single))
    }

    fn snapshot(dir: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
            let e = e?;
            if e.file_type().is_file() {
                let rel = e.path().strip_prefix(dir).map_err(io::Error::other)?;
                out.push((rel.display().to_string(), fs::read(e.path())?));
            }
        }
        Ok(out)
    }

    #[test]
    fn same_inputs_same_bytes() -> io::Result<()> {
        let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
        assert_eq!(sample(a.path())?, sample(b.path())?);
        assert_eq!(snapshot(a.path())?, snapshot(b.path())?);
        Ok(())
    }

    #[test]
    fn blobs_are_named_by_their_digest() -> io::Result<()> {
        let t = tempfile::tempdir()?;
        sample(t.path())?;
        let mut n = 0;
        for e in fs::read_dir(t.path().join("blobs/sha256"))? {
            let e = e?;
            let data = fs::read(e.path())?;
            assert_eq!(
                hex::encode(Sha256::digest(&data)),
                e.file_name().to_string_lossy()
            );
            n += 1;
        }
        // 1 shared + 2 own + 1 random layer, 3 configs, 3 manifests, 1 index.
        assert_eq!(n, 11);
        Ok(())
    }

    #[test]
    fn index_json_parses_with_oci_spec() -> io::Result<()> {
        let t = tempfile::tempdir()?;
        let (index, single) = sample(t.path())?;
        let parsed = oci_spec::image::ImageIndex::from_file(t.path().join("index.json"))
            .map_err(io::Error::other)?;
        let names: Vec<_> = parsed
            .manifests()
            .iter()
            .map(|d| {
                (
                    d.annotations().as_ref().unwrap()[ANNOTATION_REF_NAME].clone(),
                    d.digest().to_string(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("localhost/t/multi:1".to_string(), index.digest.clone()),
                ("localhost/t/single:1".to_string(), single.digest.clone()),
                (
                    "localhost/t/single:latest".to_string(),
                    single.digest.clone()
                ),
            ]
        );
        let nested =
            oci_spec::image::ImageIndex::from_file(t.path().join("blobs/sha256").join(index.hex()))
                .map_err(io::Error::other)?;
        let plats: Vec<_> = nested
            .manifests()
            .iter()
            .map(|d| d.platform().clone().unwrap())
            .collect();
        assert_eq!(plats[1].variant().as_deref(), Some("v8"));
        let m = oci_spec::image::ImageManifest::from_file(
            t.path().join("blobs/sha256").join(single.hex()),
        )
        .map_err(io::Error::other)?;
        let cfg = oci_spec::image::ImageConfiguration::from_file(
            t.path()
                .join("blobs/sha256")
                .join(m.config().digest().digest()),
        )
        .map_err(io::Error::other)?;
        assert_eq!(
            cfg.rootfs().diff_ids(),
            &vec![m.layers()[0].digest().to_string()]
        );
        Ok(())
    }

    #[test]
    fn layer_tar_is_sorted_and_deterministic() -> io::Result<()> {
        let t = tempfile::tempdir()?;
        let mut l = Layout::create(t.path())?;
        let layer = l.add_layer(&[
            FileEntry::bytes("/b/z", "z", 0o600),
            FileEntry::bytes("a", "a", 0o755),
        ])?;
        let mut ar = tar::Archive::new(File::open(l.blob_path(&layer.descriptor))?);
        let mut seen = Vec::new();
        for e in ar.entries()? {
            let e = e?;
            let h = e.header();
            assert_eq!((h.mtime()?, h.uid()?, h.gid()?), (0, 0, 0));
            seen.push((e.path()?.display().to_string(), h.mode()?));
        }
        assert_eq!(
            seen,
            [
                ("b/".into(), 0o755),
                ("a".into(), 0o755),
                ("b/z".into(), 0o600)
            ]
        );
        Ok(())
    }

    #[test]
    fn prng_is_independent_of_read_sizes() -> io::Result<()> {
        let mut whole = vec![0; 1000];
        Prng::new(3).read_exact(&mut whole)?;
        let mut pieces = Vec::new();
        let mut p = Prng::new(3);
        for n in [3, 13, 8, 1, 975] {
            let mut b = vec![0; n];
            p.read_exact(&mut b)?;
            pieces.extend(b);
        }
        assert_eq!(whole, pieces);
        Ok(())
    }

    #[test]
    fn rejects_unsafe_paths() -> io::Result<()> {
        let t = tempfile::tempdir()?;
        let mut l = Layout::create(t.path())?;
        assert!(l
            .add_layer(&[FileEntry::bytes("a/../b", "x", 0o644)])
            .is_err());
        Ok(())
    }
}
