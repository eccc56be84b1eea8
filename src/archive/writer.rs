//! Deterministic archive writer: fixed entry order (preamble, then small JSON
//! blobs, then layers, each group sorted by digest), fixed headers (ustar,
//! uid/gid 0, mode 0644/0755, one mtime), no host data. Every blob is hashed
//! while it is copied, so a source that changed under us aborts the write.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use crate::model::progress::Progress;
use sha2::{Digest as _, Sha256};

use super::{compress, layout_files, names};
use crate::error::Error;
use crate::model::image_set::{BlobOrigin, ImageSet, PlannedBlob};
use crate::model::manifest::{self, LayoutRecord, ToolRecord};
use crate::model::{media, oci, ArchiveManifest, BlobRecord, Digest};

#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub zstd: bool,
    /// mtime of every entry (SOURCE_DATE_EPOCH or 0).
    pub mtime: u64,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            zstd: false,
            mtime: manifest::source_date_epoch(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct WriteOutcome {
    pub manifest: ArchiveManifest,
    /// sha256 of `airlock.json`: the identity of everything in the archive.
    pub manifest_digest: Digest,
    /// Uncompressed tar bytes written.
    pub tar_bytes: u64,
}

/// Everything one archive holds, decided before a byte is written: its
/// manifest, the two layout files and the blobs it carries. Pack plans it
/// from an `ImageSet` (then may leave blobs to a base); merge from a delta
/// and its bases. Writing a plan is the same either way, so the bytes are.
#[derive(Debug, Clone)]
pub struct Plan {
    pub manifest: ArchiveManifest,
    pub index: Vec<u8>,
    pub docker: Vec<u8>,
    /// Exactly the blobs `manifest.blobs` lists.
    pub blobs: BTreeMap<Digest, PlannedBlob>,
}

/// Build the archive manifest and layout files for `set` (no I/O).
pub fn plan(set: &ImageSet) -> Result<Plan, Error> {
    let all = set.all_blobs();
    let (manifest, index, docker) = plan_with(set, &all)?;
    Ok(Plan {
        manifest,
        index,
        docker,
        blobs: all,
    })
}

fn plan_with(
    set: &ImageSet,
    all: &BTreeMap<Digest, PlannedBlob>,
) -> Result<(ArchiveManifest, Vec<u8>, Vec<u8>), Error> {
    let blobs: Vec<BlobRecord> = all.values().map(|b| b.record.clone()).collect();
    let index = layout_files::build_index(&set.images);
    let layers_of = |d: &Digest| -> Option<Vec<Digest>> {
        let blob = set.blobs.get(d)?;
        let BlobOrigin::Memory(bytes) = &blob.origin else {
            return None;
        };
        let m = oci::parse_manifest(bytes).ok()?;
        Some(m.layers.iter().map(|l| l.digest).collect())
    };
    let docker = layout_files::build_docker_manifest(&set.images, &layers_of)
        .ok_or_else(|| Error::Source("an image manifest is not held in memory".into()))?;
    let manifest = ArchiveManifest {
        media_type: media::ARCHIVE_MANIFEST.to_string(),
        format_version: manifest::FORMAT_VERSION,
        created: manifest::creation_time(),
        tool: ToolRecord {
            name: "airlock".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        layout: LayoutRecord {
            index: manifest::FileRecord {
                digest: Digest::of(&index),
                size: index.len() as u64,
            },
            docker_manifest: manifest::FileRecord {
                digest: Digest::of(&docker),
                size: docker.len() as u64,
            },
        },
        images: set.images.clone(),
        blobs,
        transparency: set.transparency.clone(),
        evidence: set.trust.as_ref().map(|t| t.records()).unwrap_or_default(),
        bases: Vec::new(),
        external: Vec::new(),
    };
    Ok((manifest, index, docker))
}

fn header(name: &str, size: u64, dir: bool, mtime: u64) -> Result<tar::Header, Error> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)
        .map_err(|e| Error::io(format!("tar name {name}"), e))?;
    h.set_size(size);
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_cksum();
    Ok(h)
}

/// Counts and hashes what passes through, so a short or altered source is caught.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let start = std::time::Instant::now();
        self.hasher.update(&buf[..n]);
        crate::model::timings::add("hash", start.elapsed());
        self.count += n as u64;
        Ok(n)
    }
}

/// How many blobs ahead of the one being written to start fetching: the
/// look-ahead of the first remote blob, or none when no blob is remote.
fn lookahead(order: &[&PlannedBlob]) -> Option<usize> {
    order.iter().find_map(|b| match &b.origin {
        BlobOrigin::Remote(r) => Some(r.lookahead().max(1)),
        _ => None,
    })
}

/// A source's own failure carried through the tar writer's `io::Error`
/// (a registry that gave up), so it is reported as itself.
fn source_error(e: io::Error) -> Result<Error, io::Error> {
    if !e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        return Err(e);
    }
    match e.into_inner().map(|inner| inner.downcast::<Error>()) {
        Some(Ok(err)) => Ok(*err),
        _ => Err(io::Error::other("a source failed")),
    }
}

/// Write the archive for `set` into `out`; returns `out` for the caller to sync.
pub fn write_archive<W: Write>(
    set: &ImageSet,
    out: W,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<(WriteOutcome, W), Error> {
    write_plan(&plan(set)?, out, opts, progress)
}

/// Write a planned archive into `out`; returns `out` for the caller to sync.
pub fn write_plan<W: Write>(
    plan: &Plan,
    out: W,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<(WriteOutcome, W), Error> {
    let manifest_bytes = serde_json::to_vec_pretty(&plan.manifest)
        .map_err(|e| Error::Source(format!("serialising airlock.json: {e}")))?;
    let manifest_digest = Digest::of(&manifest_bytes);
    let io_err = |e: io::Error| Error::io("writing archive", e);
    let (index, docker, all) = (&plan.index, &plan.docker, &plan.blobs);

    let (tar_bytes, out) = if opts.zstd {
        let enc = compress::encoder(out).map_err(io_err)?;
        let (n, enc) = write_tar(all, enc, opts, progress, &manifest_bytes, index, docker)?;
        (n, enc.finish().map_err(io_err)?)
    } else {
        write_tar(all, out, opts, progress, &manifest_bytes, index, docker)?
    };
    Ok((
        WriteOutcome {
            manifest: plan.manifest.clone(),
            manifest_digest,
            tar_bytes,
        },
        out,
    ))
}

struct Counting<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn write_tar<W: Write>(
    blobs: &BTreeMap<Digest, PlannedBlob>,
    out: W,
    opts: &WriteOptions,
    progress: &dyn Progress,
    manifest_bytes: &[u8],
    index: &[u8],
    docker: &[u8],
) -> Result<(u64, W), Error> {
    let io_err = |e: io::Error| Error::io("writing archive", e);
    let mut tar = tar::Builder::new(Counting { inner: out, n: 0 });
    let files: [(&str, &[u8]); 4] = [
        (names::OCI_LAYOUT, names::OCI_LAYOUT_CONTENT),
        (names::ARCHIVE_MANIFEST, manifest_bytes),
        (names::INDEX, index),
        (names::DOCKER_MANIFEST, docker),
    ];
    for (name, data) in files {
        tar.append(&header(name, data.len() as u64, false, opts.mtime)?, data)
            .map_err(io_err)?;
    }
    for dir in [names::BLOBS_DIR, names::SHA256_DIR] {
        tar.append(&header(dir, 0, true, opts.mtime)?, io::empty())
            .map_err(io_err)?;
    }
    let mut order: Vec<_> = blobs.values().collect();
    order.sort_by_key(|b| b.record.order_key());
    let ahead = lookahead(&order);
    for (i, blob) in order.iter().enumerate() {
        // Downloads of the next remote blobs overlap writing this one.
        for next in order.iter().skip(i).take(ahead.unwrap_or(0)) {
            if let BlobOrigin::Remote(r) = &next.origin {
                r.prefetch();
            }
        }
        let rec = &blob.record;
        let reader = blob.origin.open(rec.size).map_err(|e| {
            source_error(e).unwrap_or_else(|e| Error::io(format!("open blob {}", rec.digest), e))
        })?;
        // Read one byte past the size so a grown source is noticed too.
        let mut hashing = HashingReader {
            inner: reader.take(rec.size + 1),
            hasher: Sha256::new(),
            count: 0,
        };
        tar.append(
            &header(&rec.digest.blob_path(), rec.size, false, opts.mtime)?,
            &mut hashing,
        )
        .map_err(|e| source_error(e).unwrap_or_else(io_err))?;
        let actual = Digest::from_bytes(hashing.hasher.finalize().into());
        if hashing.count != rec.size || actual != rec.digest {
            return Err(Error::Source(match &blob.origin {
                BlobOrigin::Remote(r) if hashing.count == rec.size => format!(
                    "{}: content has {actual}, not the digest it is stored under (refused)",
                    r.describe()
                ),
                BlobOrigin::Remote(r) => format!(
                    "{}: {} bytes arrived, {} were expected (refused)",
                    r.describe(),
                    hashing.count,
                    rec.size
                ),
                _ => format!(
                    "source blob {} changed or is corrupt: read {} bytes with {actual}, expected {} bytes",
                    rec.digest, hashing.count, rec.size
                ),
            }));
        }
        progress.inc(rec.size);
    }
    tar.finish().map_err(io_err)?;
    let counting = tar.into_inner().map_err(io_err)?;
    Ok((counting.n, counting.inner))
}
