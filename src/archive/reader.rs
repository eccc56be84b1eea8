//! Streaming archive reader: one pass, flat memory. It learns every expected
//! digest and size from `airlock.json` (the first entries) before any blob,
//! checks each tar header before reading its data, hashes layers on worker
//! threads, and finally checks that the manifests reference exactly the
//! blobs present. Nothing is written anywhere.
//!
//! This file is the public face and sets up the stream; the pieces live
//! beside it: `input` (stream wrappers, error mapping, end padding),
//! `check` (the per-entry state machine), `hashing` (layer digests) and
//! `manifest_check` (`airlock.json` and the layout files).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::rc::Rc;
use std::sync::Arc;

use crate::model::progress::Progress;

use super::check::{check_entries, Checker, Flow};
use super::compress::{self, Compression};
use super::hashing::Hashing;
use super::hashpool::{RegionHasher, CHUNK};
use super::input::{stream_error, RawInput, StreamState, TarCopy, TarStream};
use super::positional::{Cursor, ReadAt};
use crate::error::{Error, IntegrityError};
use crate::model::{ArchiveManifest, Digest};

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
    /// Where each blob's data starts in the (uncompressed) tar stream: a
    /// file offset for a plain archive, an offset in the decompressed tar
    /// for a compressed one (see [`read_archive_copying_tar`]).
    pub blob_offsets: BTreeMap<Digest, u64>,
    pub tar_bytes: u64,
    pub blob_bytes: u64,
}

/// Read and check a whole archive from a stream (stdin, a pipe, bytes).
pub fn read_archive<R: Read>(
    input: R,
    opts: &ReadOptions,
    progress: &dyn Progress,
) -> Result<ReadOutcome, Error> {
    read_stream(input, opts, progress)
}

/// Read and check a whole archive from a stream, writing the tar it holds
/// (decompressed) to `tar_copy` as it goes, so a compressed archive can be
/// served afterwards by [`ReadOutcome::blob_offsets`] from that copy. A
/// failed write is an I/O error, never an integrity verdict.
pub fn read_archive_copying_tar<R: Read>(
    input: R,
    opts: &ReadOptions,
    progress: &dyn Progress,
    tar_copy: &mut dyn Write,
) -> Result<ReadOutcome, Error> {
    read_stream_into(input, opts, progress, Some(tar_copy))
}

/// Read and check an archive file. An uncompressed file is hashed with
/// positional reads on several cores; a compressed one is streamed.
pub fn read_archive_file(
    mut file: File,
    opts: &ReadOptions,
    progress: &dyn Progress,
) -> Result<ReadOutcome, Error> {
    let io_err = |e| Error::io("reading archive", e);
    let mut head = [0u8; 4];
    let n = file.read(&mut head).map_err(io_err)?;
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let plain_tar = compress::is_plain(&head[..n]);
    if !plain_tar || opts.manifest_only {
        return read_stream(file, opts, progress);
    }
    let len = file.metadata().map_err(io_err)?.len();
    read_archive_at(Arc::new(file), len, opts, progress)
}

/// Read and check a plain (uncompressed) tar archive of `len` bytes by
/// offset: headers are parsed with seeks, layers hashed by workers that
/// read their own byte ranges.
pub fn read_archive_at(
    src: Arc<dyn ReadAt>,
    len: u64,
    opts: &ReadOptions,
    progress: &dyn Progress,
) -> Result<ReadOutcome, Error> {
    let state = Rc::new(StreamState::default());
    let mut archive = tar::Archive::new(TarStream {
        inner: Cursor::new(src.clone(), len),
        state: state.clone(),
    });
    let mut checker = Checker::new(opts, Compression::None);
    checker.hashing = Hashing::Regions(RegionHasher::new(opts.hash_workers, src, progress.share()));
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
    progress: &dyn Progress,
) -> Result<ReadOutcome, Error> {
    read_stream_into(input, opts, progress, None)
}

fn read_stream_into<R: Read>(
    input: R,
    opts: &ReadOptions,
    progress: &dyn Progress,
    tar_copy: Option<&mut dyn Write>,
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
                    inner: TarCopy::new(dec, tar_copy, state.clone()),
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
                inner: TarCopy::new(raw, tar_copy, state.clone()),
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
    progress: &dyn Progress,
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

/// Parse and validate `airlock.json` bytes on their own (a `--base` given
/// as the manifest file); returns the manifest and its digest.
pub fn parse_archive_manifest(bytes: &[u8]) -> Result<(ArchiveManifest, Digest), Error> {
    super::manifest_check::read_manifest(bytes)
}
