//! Streaming archive reader: one pass, flat memory. It learns every expected
//! digest and size from `airlock.json` (the first entries) before any blob,
//! checks each tar header before reading its data, hashes layers on worker
//! threads, and finally checks that the manifests reference exactly the
//! blobs present. Nothing is written anywhere.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::rc::Rc;
use std::sync::Arc;

use indicatif::ProgressBar;

use super::compress::{self, Compression};
use super::graph::Doc;
use super::hashpool::{HashPool, RegionHasher, RegionResult, CHUNK};
use super::layout_files;
use super::names::{self, EntryName, PREAMBLE};
use crate::error::{Error, IntegrityError};
use crate::model::manifest::{BlobClass, FORMAT_VERSION};
use crate::model::oci;
use crate::model::{limits, media, ArchiveManifest, BlobRecord, Digest};

#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Threads hashing layers in parallel.
    pub hash_workers: usize,
    /// Stop after `airlock.json` (for `inspect`); nothing else is checked.
    pub manifest_only: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        ReadOptions {
            hash_workers: cores.clamp(1, 4),
            manifest_only: false,
        }
    }
}

/// A fully checked archive: its manifest and its small JSON documents.
#[derive(Debug)]
pub struct ReadOutcome {
    pub manifest: ArchiveManifest,
    pub manifest_digest: Digest,
    pub compression: Compression,
    /// Manifests, configs and JSON evidence, by digest.
    pub metadata: BTreeMap<Digest, Vec<u8>>,
    pub tar_bytes: u64,
    pub blob_bytes: u64,
}

/// Shared between the wrappers around the raw input and the tar stream.
#[derive(Default)]
struct StreamState {
    tar_pos: Cell<u64>,
    raw_error: Cell<bool>,
}

/// Marks errors that come from the input itself (not the decoder).
struct RawInput<R> {
    inner: R,
    state: Rc<StreamState>,
}

impl<R: Read> Read for RawInput<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read(buf)
            .inspect_err(|_| self.state.raw_error.set(true))
    }
}

/// Counts tar bytes so the end-of-archive marker can be located.
struct TarStream<R> {
    inner: R,
    state: Rc<StreamState>,
}

impl<R: Read> Read for TarStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.state.tar_pos.set(self.state.tar_pos.get() + n as u64);
        Ok(n)
    }
}

impl<R: Seek> Seek for TarStream<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let p = self.inner.seek(pos)?;
        self.state.tar_pos.set(p);
        Ok(p)
    }
}

fn stream_error(e: io::Error, state: &StreamState, entry: Option<&str>) -> Error {
    if state.raw_error.get() {
        return Error::io("reading archive", e);
    }
    let msg = e.to_string();
    if e.kind() == io::ErrorKind::UnexpectedEof
        || msg.contains("incomplete frame")
        || msg.contains("entire block")
    {
        IntegrityError::Truncated {
            entry: entry.map(str::to_string),
        }
        .into()
    } else if msg.contains("memory") || msg.contains("window") {
        IntegrityError::DecompressionLimit(msg).into()
    } else {
        IntegrityError::Corrupt(msg).into()
    }
}

/// Read and check a whole archive from a stream (stdin, a pipe, bytes).
pub fn read_archive<R: Read>(
    input: R,
    opts: &ReadOptions,
    progress: &ProgressBar,
) -> Result<ReadOutcome, Error> {
    read_stream(input, opts, progress)
}

/// Read and check an archive file. An uncompressed file is hashed with
/// positional reads on several cores; a compressed one is streamed.
pub fn read_archive_file(
    mut file: File,
    opts: &ReadOptions,
    progress: &ProgressBar,
) -> Result<ReadOutcome, Error> {
    let io_err = |e| Error::io("reading archive", e);
    let mut head = [0u8; 4];
    let n = file.read(&mut head).map_err(io_err)?;
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let plain_tar = n == head.len()
        && !head.starts_with(&compress::ZSTD_MAGIC)
        && !head.starts_with(&[0x1f, 0x8b]);
    if !plain_tar || opts.manifest_only {
        return read_stream(file, opts, progress);
    }
    let state = Rc::new(StreamState::default());
    let regions = Arc::new(file.try_clone().map_err(io_err)?);
    let mut archive = tar::Archive::new(TarStream {
        inner: file,
        state: state.clone(),
    });
    let mut checker = Checker::new(opts, Compression::None);
    checker.hashing = Hashing::Regions(RegionHasher::new(
        opts.hash_workers,
        regions,
        progress.clone(),
    ));
    let entries = archive
        .entries_with_seek()
        .map_err(|e| stream_error(e, &state, None))?;
    check_entries(entries, &mut checker, &state, progress)?;
    let rest = archive.into_inner();
    checker.end_of_stream(rest, &state)?;
    checker.into_outcome()
}

fn read_stream<R: Read>(
    input: R,
    opts: &ReadOptions,
    progress: &ProgressBar,
) -> Result<ReadOutcome, Error> {
    let state = Rc::new(StreamState::default());
    let raw = RawInput {
        inner: input,
        state: state.clone(),
    };
    let (kind, raw) = compress::sniff(raw).map_err(|e| Error::io("reading archive", e))?;
    match kind {
        Compression::Gzip => Err(IntegrityError::NotAnArchive(
            "input is gzip-compressed; airlock archives are .tar or .tar.zst".into(),
        )
        .into()),
        Compression::Zstd => {
            let dec = compress::decoder(BufReader::with_capacity(CHUNK, raw))
                .map_err(|e| IntegrityError::Corrupt(e.to_string()))?;
            read_tar(
                TarStream {
                    inner: dec,
                    state: state.clone(),
                },
                &state,
                kind,
                opts,
                progress,
            )
        }
        Compression::None => read_tar(
            TarStream {
                inner: raw,
                state: state.clone(),
            },
            &state,
            kind,
            opts,
            progress,
        ),
    }
}

fn read_tar<R: Read>(
    stream: R,
    state: &StreamState,
    compression: Compression,
    opts: &ReadOptions,
    progress: &ProgressBar,
) -> Result<ReadOutcome, Error> {
    let mut archive = tar::Archive::new(stream);
    let mut checker = Checker::new(opts, compression);
    let entries = archive
        .entries()
        .map_err(|e| stream_error(e, state, None))?;
    if check_entries(entries, &mut checker, state, progress)? == Flow::Stop {
        return checker.into_outcome();
    }
    let rest = archive.into_inner();
    checker.end_of_stream(rest, state)?;
    checker.into_outcome()
}

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

fn check_entries<R: Read>(
    entries: tar::Entries<'_, R>,
    checker: &mut Checker,
    state: &StreamState,
    progress: &ProgressBar,
) -> Result<Flow, Error> {
    for entry in entries {
        let mut entry = entry.map_err(|e| stream_error(e, state, checker.last_name.as_deref()))?;
        let raw_name = entry.path_bytes().into_owned();
        let name = names::check_safe(&raw_name)?.to_string();
        check_type(&name, entry.header().entry_type())?;
        let place = names::classify(&name)?;
        let size = entry.size();
        let data_start = entry.raw_file_position();
        checker.last_name = Some(name.clone());
        match place {
            EntryName::Preamble(i) => checker.preamble(i, &name, size, &mut entry, state)?,
            EntryName::Blob(d) => {
                checker.blob(d, &name, size, data_start, &mut entry, state, progress)?
            }
        }
        checker.end_of_last = data_start + size.div_ceil(512) * 512;
        if checker.manifest_only && checker.next_preamble > 1 {
            return Ok(Flow::Stop);
        }
    }
    Ok(Flow::Continue)
}

fn check_type(name: &str, et: tar::EntryType) -> Result<(), IntegrityError> {
    let kind = match et {
        tar::EntryType::Regular if !name.ends_with('/') => return Ok(()),
        tar::EntryType::Directory if name == names::BLOBS_DIR || name == names::SHA256_DIR => {
            return Ok(())
        }
        tar::EntryType::Regular | tar::EntryType::Directory => "misplaced file or directory",
        tar::EntryType::Symlink => "symbolic link",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "fifo",
        tar::EntryType::Continuous => "contiguous file",
        tar::EntryType::GNUSparse => "sparse file",
        tar::EntryType::XGlobalHeader => "global pax header",
        _ => "special entry",
    };
    Err(IntegrityError::ForbiddenEntryType {
        name: name.to_string(),
        kind,
    })
}

/// Read exactly `size` bytes of an entry whose size is already bounded.
fn read_small<R: Read>(
    r: &mut R,
    size: u64,
    name: &str,
    state: &StreamState,
) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    r.take(size)
        .read_to_end(&mut buf)
        .map_err(|e| stream_error(e, state, Some(name)))?;
    if (buf.len() as u64) < size {
        return Err(IntegrityError::Truncated {
            entry: Some(name.to_string()),
        }
        .into());
    }
    Ok(buf)
}

fn bounded(name: &str, size: u64, limit: u64) -> Result<(), IntegrityError> {
    if size > limit {
        return Err(IntegrityError::TooLarge {
            name: name.to_string(),
            size,
            limit,
        });
    }
    Ok(())
}

fn malformed(name: impl Into<String>, reason: impl std::fmt::Display) -> IntegrityError {
    IntegrityError::MalformedJson {
        name: name.into(),
        reason: reason.to_string(),
    }
}

struct Checker {
    manifest_only: bool,
    compression: Compression,
    next_preamble: usize,
    manifest: Option<(ArchiveManifest, Digest)>,
    docker_manifest: Vec<u8>,
    seen: BTreeSet<Digest>,
    last_key: Option<(BlobClass, Digest)>,
    metadata: BTreeMap<Digest, Vec<u8>>,
    docs: BTreeMap<Digest, Doc>,
    hashing: Hashing,
    workers: usize,
    tar_bytes: u64,
    blob_bytes: u64,
    end_of_last: u64,
    last_name: Option<String>,
}

impl Checker {
    fn new(opts: &ReadOptions, compression: Compression) -> Self {
        Checker {
            manifest_only: opts.manifest_only,
            compression,
            next_preamble: 0,
            manifest: None,
            docker_manifest: Vec::new(),
            seen: BTreeSet::new(),
            last_key: None,
            metadata: BTreeMap::new(),
            docs: BTreeMap::new(),
            hashing: Hashing::None,
            workers: opts.hash_workers,
            tar_bytes: 0,
            blob_bytes: 0,
            end_of_last: 0,
            last_name: None,
        }
    }

    fn archive_manifest(&self) -> Result<&ArchiveManifest, IntegrityError> {
        self.manifest
            .as_ref()
            .map(|(m, _)| m)
            .ok_or_else(|| IntegrityError::NotAnArchive("airlock.json missing".into()))
    }

    fn preamble<R: Read>(
        &mut self,
        i: usize,
        name: &str,
        size: u64,
        entry: &mut R,
        state: &StreamState,
    ) -> Result<(), Error> {
        if i < self.next_preamble {
            return Err(IntegrityError::DuplicateEntry { name: name.into() }.into());
        }
        if i > self.next_preamble {
            if self.next_preamble == 0 {
                return Err(IntegrityError::NotAnArchive(format!(
                    "first entry is {name:?}, not oci-layout"
                ))
                .into());
            }
            return Err(IntegrityError::OutOfOrder {
                name: name.into(),
                reason: format!("expected {:?} first", PREAMBLE[self.next_preamble]),
            }
            .into());
        }
        self.next_preamble += 1;
        match i {
            0 => {
                bounded(name, size, limits::MAX_OCI_LAYOUT_BYTES)?;
                if read_small(entry, size, name, state)? != names::OCI_LAYOUT_CONTENT {
                    return Err(IntegrityError::NotAnArchive(
                        "oci-layout is not imageLayoutVersion 1.0.0".into(),
                    )
                    .into());
                }
            }
            1 => {
                bounded(name, size, limits::MAX_ARCHIVE_MANIFEST_BYTES)?;
                let bytes = read_small(entry, size, name, state)?;
                let digest = Digest::of(&bytes);
                let manifest = parse_archive_manifest(&bytes)?;
                validate_archive_manifest(&manifest)?;
                self.manifest = Some((manifest, digest));
            }
            2 => {
                bounded(name, size, limits::MAX_JSON_BYTES)?;
                let bytes = read_small(entry, size, name, state)?;
                let m = self.archive_manifest()?;
                check_layout_file(name, &bytes, &m.layout.index)?;
                layout_files::check_index(&bytes, &m.images)?;
            }
            3 => {
                bounded(name, size, limits::MAX_JSON_BYTES)?;
                let bytes = read_small(entry, size, name, state)?;
                check_layout_file(
                    name,
                    &bytes,
                    &self.archive_manifest()?.layout.docker_manifest,
                )?;
                self.docker_manifest = bytes;
            }
            _ => {
                if size != 0 {
                    return Err(IntegrityError::ForbiddenEntryType {
                        name: name.into(),
                        kind: "directory with data",
                    }
                    .into());
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn blob<R: Read>(
        &mut self,
        digest: Digest,
        name: &str,
        size: u64,
        offset: u64,
        entry: &mut R,
        state: &StreamState,
        progress: &ProgressBar,
    ) -> Result<(), Error> {
        if self.next_preamble < PREAMBLE.len() {
            if self.next_preamble == 0 {
                return Err(IntegrityError::NotAnArchive(
                    "first entry is a blob, not oci-layout".into(),
                )
                .into());
            }
            return Err(IntegrityError::OutOfOrder {
                name: name.into(),
                reason: format!("blobs must follow {:?}", PREAMBLE[self.next_preamble]),
            }
            .into());
        }
        let rec: BlobRecord = self
            .archive_manifest()?
            .blob(&digest)
            .cloned()
            .ok_or_else(|| IntegrityError::ExtraBlob { name: name.into() })?;
        if !self.seen.insert(digest) {
            return Err(IntegrityError::DuplicateEntry { name: name.into() }.into());
        }
        let key = rec.order_key();
        if self.last_key.is_some_and(|last| last >= key) {
            return Err(IntegrityError::OutOfOrder {
                name: name.into(),
                reason:
                    "blobs must be sorted: small JSON documents first, then layers, each by digest"
                        .into(),
            }
            .into());
        }
        self.last_key = Some(key);
        if size != rec.size {
            return Err(IntegrityError::SizeMismatch {
                digest: digest.to_string(),
                expected: rec.size,
                actual: size,
            }
            .into());
        }
        self.blob_bytes += size;
        match rec.class() {
            BlobClass::Metadata => {
                let bytes = read_small(entry, size, name, state)?;
                let actual = Digest::of(&bytes);
                if actual != digest {
                    return Err(IntegrityError::DigestMismatch {
                        expected: digest.to_string(),
                        actual: actual.hex(),
                    }
                    .into());
                }
                if media::is_image_manifest(&rec.media_type) {
                    let m = oci::parse_manifest(&bytes)
                        .map_err(|e| malformed(format!("manifest {digest}"), e))?;
                    check_own_media_type(&digest, m.media_type.as_deref(), &rec.media_type)?;
                    self.docs.insert(digest, Doc::Manifest(m));
                } else if media::is_index(&rec.media_type) {
                    let ix = oci::parse_index(&bytes)
                        .map_err(|e| malformed(format!("index {digest}"), e))?;
                    check_own_media_type(&digest, ix.media_type.as_deref(), &rec.media_type)?;
                    self.docs.insert(digest, Doc::Index(ix));
                }
                self.metadata.insert(digest, bytes);
                progress.inc(size);
            }
            BlobClass::Data => {
                if let Hashing::Regions(r) = &self.hashing {
                    if !r.submit(offset, size, digest) {
                        return Err(Error::io(
                            "hashing",
                            io::Error::other("hash worker stopped"),
                        ));
                    }
                    for result in r.ready() {
                        region_result(result, name)?;
                    }
                } else {
                    self.stream_blob(digest, name, size, entry, state, progress)?;
                }
            }
        }
        Ok(())
    }

    fn stream_blob<R: Read>(
        &mut self,
        digest: Digest,
        name: &str,
        size: u64,
        entry: &mut R,
        state: &StreamState,
        progress: &ProgressBar,
    ) -> Result<(), Error> {
        if matches!(self.hashing, Hashing::None) {
            self.hashing = Hashing::Stream(HashPool::new(self.workers));
        }
        let Hashing::Stream(pool) = &mut self.hashing else {
            return Err(Error::io("hashing", io::Error::other("hash pool missing")));
        };
        let worker = pool.begin();
        let mut remaining = size;
        while remaining > 0 {
            let mut buf = pool.buffer();
            let want = remaining.min(CHUNK as u64);
            let got = entry
                .take(want)
                .read_to_end(&mut buf)
                .map_err(|e| stream_error(e, state, Some(name)))?;
            if got == 0 {
                return Err(IntegrityError::Truncated {
                    entry: Some(name.into()),
                }
                .into());
            }
            remaining -= got as u64;
            progress.inc(got as u64);
            if !pool.send(worker, buf) {
                return Err(Error::io(
                    "hashing",
                    io::Error::other("hash worker stopped"),
                ));
            }
        }
        pool.end(worker, digest);
        for (expected, actual) in pool.ready() {
            mismatch(expected, actual)?;
        }
        Ok(())
    }

    /// After the last entry: the end-of-archive marker and nothing but zeros.
    fn end_of_stream<R: Read>(&mut self, mut rest: R, state: &StreamState) -> Result<(), Error> {
        if self.next_preamble == 0 {
            return Err(
                IntegrityError::NotAnArchive("empty input or not a tar archive".into()).into(),
            );
        }
        if state.tar_pos.get() < self.end_of_last + 512 {
            return Err(IntegrityError::Truncated { entry: None }.into());
        }
        let mut buf = vec![0u8; 64 * 1024];
        let mut trailing = 0u64;
        loop {
            let n = match rest.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(stream_error(e, state, None)),
            };
            if buf[..n].iter().any(|&b| b != 0) {
                return Err(IntegrityError::TrailingData.into());
            }
            trailing += n as u64;
            if trailing > limits::MAX_TRAILING_ZEROS {
                return Err(IntegrityError::DecompressionLimit(format!(
                    "more than {} bytes of padding after the end of the archive",
                    limits::MAX_TRAILING_ZEROS
                ))
                .into());
            }
        }
        if trailing < 512 {
            return Err(IntegrityError::Truncated { entry: None }.into());
        }
        self.tar_bytes = state.tar_pos.get();
        Ok(())
    }

    fn into_outcome(self) -> Result<ReadOutcome, Error> {
        let (manifest, manifest_digest) = self
            .manifest
            .ok_or_else(|| IntegrityError::NotAnArchive("no airlock.json".into()))?;
        if self.manifest_only {
            return Ok(ReadOutcome {
                manifest,
                manifest_digest,
                compression: self.compression,
                metadata: BTreeMap::new(),
                tar_bytes: 0,
                blob_bytes: 0,
            });
        }
        match self.hashing {
            Hashing::None => {}
            Hashing::Stream(pool) => {
                let mut results = pool.finish();
                results.sort();
                for (expected, actual) in results {
                    mismatch(expected, actual)?;
                }
            }
            Hashing::Regions(r) => {
                let mut results = r.finish();
                results.sort_by_key(|(d, _)| *d);
                for result in results {
                    region_result(result, "")?;
                }
            }
        }
        if let Some(missing) = manifest
            .blobs
            .iter()
            .find(|b| !self.seen.contains(&b.digest))
        {
            return Err(IntegrityError::MissingBlob {
                digest: missing.digest.to_string(),
            }
            .into());
        }
        super::graph::check(&manifest, &self.docs, &self.metadata, &self.docker_manifest)?;
        Ok(ReadOutcome {
            manifest,
            manifest_digest,
            compression: self.compression,
            metadata: self.metadata,
            tar_bytes: self.tar_bytes,
            blob_bytes: self.blob_bytes,
        })
    }
}

/// How layer data is hashed: streamed chunks, or positional file reads.
enum Hashing {
    None,
    Stream(HashPool),
    Regions(RegionHasher),
}

fn region_result((expected, actual): RegionResult, name: &str) -> Result<(), Error> {
    match actual {
        Ok(actual) => Ok(mismatch(expected, actual)?),
        Err(io::ErrorKind::UnexpectedEof) => Err(IntegrityError::Truncated {
            entry: Some(if name.is_empty() {
                expected.blob_path()
            } else {
                name.to_string()
            }),
        }
        .into()),
        Err(kind) => Err(Error::io(
            format!("reading blob {expected}"),
            io::Error::from(kind),
        )),
    }
}

fn mismatch(expected: Digest, actual: Digest) -> Result<(), IntegrityError> {
    if expected != actual {
        return Err(IntegrityError::DigestMismatch {
            expected: expected.to_string(),
            actual: actual.hex(),
        });
    }
    Ok(())
}

fn check_own_media_type(
    digest: &Digest,
    own: Option<&str>,
    listed: &str,
) -> Result<(), IntegrityError> {
    match own {
        Some(own) if own != listed => Err(IntegrityError::Contradiction(format!(
            "{digest} says it is {own} but airlock.json lists it as {listed}"
        ))),
        _ => Ok(()),
    }
}

fn check_layout_file(
    name: &str,
    bytes: &[u8],
    rec: &crate::model::manifest::FileRecord,
) -> Result<(), IntegrityError> {
    let actual = Digest::of(bytes);
    if actual != rec.digest || bytes.len() as u64 != rec.size {
        return Err(IntegrityError::Contradiction(format!(
            "{name} ({actual}, {} bytes) is not the file airlock.json records ({}, {} bytes)",
            bytes.len(),
            rec.digest,
            rec.size
        )));
    }
    Ok(())
}

fn parse_archive_manifest(bytes: &[u8]) -> Result<ArchiveManifest, Error> {
    let name = names::ARCHIVE_MANIFEST;
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| malformed(name, e))?;
    if value.get("mediaType").and_then(|v| v.as_str()) != Some(media::ARCHIVE_MANIFEST) {
        return Err(IntegrityError::NotAnArchive(format!(
            "{name} has no mediaType {}",
            media::ARCHIVE_MANIFEST
        ))
        .into());
    }
    match value.get("formatVersion").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(Error::Unsupported(format!(
                "format version {v}; this airlock reads version {FORMAT_VERSION}"
            )))
        }
        None => return Err(malformed(name, "formatVersion missing or not a number").into()),
    }
    serde_json::from_value(value).map_err(|e| malformed(name, e).into())
}

/// Internal consistency of `airlock.json` itself, before any blob is read.
fn validate_archive_manifest(m: &ArchiveManifest) -> Result<(), IntegrityError> {
    if m.blobs.len() > limits::MAX_BLOBS {
        return Err(IntegrityError::TooLarge {
            name: "airlock.json blob list".into(),
            size: m.blobs.len() as u64,
            limit: limits::MAX_BLOBS as u64,
        });
    }
    for pair in m.blobs.windows(2) {
        if pair[0].digest >= pair[1].digest {
            return Err(IntegrityError::Contradiction(format!(
                "airlock.json blob list is not sorted or lists {} twice",
                pair[1].digest
            )));
        }
    }
    let listed = |d: &Digest, what: &str| -> Result<(), IntegrityError> {
        if m.blob(d).is_none() {
            return Err(IntegrityError::Contradiction(format!(
                "airlock.json names {what} {d} but does not list that blob"
            )));
        }
        Ok(())
    };
    for img in &m.images {
        listed(&img.manifest_digest, "manifest")?;
        listed(&img.config_digest, "config")?;
        if let Some(ix) = &img.index_digest {
            listed(ix, "index")?;
        }
        for ev in &img.evidence {
            listed(&ev.digest, "evidence")?;
            if ev.role.is_archive_level() {
                return Err(IntegrityError::Contradiction(format!(
                    "image {} lists {} evidence, which belongs to the whole archive",
                    img.reference,
                    ev.role.name()
                )));
            }
        }
    }
    super::trust_material::validate(m)?;
    let metadata_bytes: u64 = m
        .blobs
        .iter()
        .filter(|b| b.class() == BlobClass::Metadata)
        .map(|b| b.size)
        .sum();
    bounded(
        "JSON documents in total",
        metadata_bytes,
        limits::MAX_METADATA_TOTAL,
    )
}
