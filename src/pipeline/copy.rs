//! The second pass: stream the selected blobs out of an archive that already
//! verified, into a sink, re-hashing every byte on the way. The file may have
//! changed since the first pass (or be a spool an attacker could not reach,
//! but we do not rely on that), so a blob is only accepted when its size and
//! SHA-256 match the verified archive manifest again.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::model::progress::Progress;
use sha2::{Digest as _, Sha256};

use crate::archive::compress::{self, Compression};
use crate::error::{Error, IntegrityError, IoContext};
use crate::model::{BlobRecord, Digest};
use crate::sink::Sink;

/// What went wrong inside a [`CheckedReader`], kept so the pipeline can
/// report an integrity failure rather than the sink's I/O error.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ReadState {
    Reading,
    Verified,
    Mismatch(String),
    Short(u64),
    Interrupted,
}

/// Reads exactly `rec.size` bytes and checks their SHA-256 at the end; a
/// mismatch surfaces as an I/O error to the consumer, so a sink never
/// mistakes a bad blob for a complete one.
pub struct CheckedReader<'a, R> {
    inner: R,
    rec: &'a BlobRecord,
    remaining: u64,
    hasher: Sha256,
    state: ReadState,
    stop: &'a AtomicBool,
    progress: &'a dyn Progress,
}

impl<'a, R: Read> CheckedReader<'a, R> {
    pub fn new(
        inner: R,
        rec: &'a BlobRecord,
        stop: &'a AtomicBool,
        progress: &'a dyn Progress,
    ) -> Self {
        CheckedReader {
            inner,
            rec,
            remaining: rec.size,
            hasher: Sha256::new(),
            state: ReadState::Reading,
            stop,
            progress,
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        let actual = Digest::from_bytes(std::mem::take(&mut self.hasher).finalize().into());
        if actual == self.rec.digest {
            self.state = ReadState::Verified;
            Ok(())
        } else {
            self.state = ReadState::Mismatch(actual.hex());
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("blob {} changed since it was verified", self.rec.digest),
            ))
        }
    }

    /// Read whatever the consumer left, so the digest is always checked.
    fn drain(&mut self) -> io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        while self.state == ReadState::Reading {
            if self.read(&mut buf)? == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Turn the outcome into the error to report, if any.
    pub fn verdict(&mut self, sink_result: Result<(), Error>) -> Result<(), Error> {
        if sink_result.is_ok() {
            // A sink that stopped early still gets its blob checked.
            let _ = self.drain();
        }
        match &self.state {
            ReadState::Verified => sink_result,
            ReadState::Mismatch(actual) => Err(IntegrityError::DigestMismatch {
                expected: self.rec.digest.to_string(),
                actual: actual.clone(),
            }
            .into()),
            ReadState::Short(got) => Err(IntegrityError::SizeMismatch {
                digest: self.rec.digest.to_string(),
                expected: self.rec.size,
                actual: *got,
            }
            .into()),
            ReadState::Interrupted => Err(Error::Interrupted),
            ReadState::Reading => sink_result.and(Err(Error::Sink(format!(
                "blob {} was not read to the end",
                self.rec.digest
            )))),
        }
    }
}

impl<R: Read> Read for CheckedReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.state {
            ReadState::Reading => {}
            ReadState::Verified => return Ok(0),
            _ => return Err(io::Error::other("blob check failed")),
        }
        if self.stop.load(Ordering::Relaxed) {
            self.state = ReadState::Interrupted;
            return Err(io::Error::other("interrupted by the operator"));
        }
        if self.remaining == 0 {
            self.finish()?;
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            self.state = ReadState::Short(self.rec.size - self.remaining);
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("blob {} is shorter than recorded", self.rec.digest),
            ));
        }
        let start = std::time::Instant::now();
        self.hasher.update(&buf[..n]);
        crate::model::timings::add("hash", start.elapsed());
        self.remaining -= n as u64;
        self.progress.inc(n as u64);
        if self.remaining == 0 {
            self.finish()?;
        }
        Ok(n)
    }
}

/// Copy every blob of `blobs` from the archive file at `path` into `sink`.
/// Stops reading once all were found; any missing one is an error.
pub fn copy_blobs(
    path: &Path,
    blobs: &[BlobRecord],
    sink: &mut dyn Sink,
    stop: &AtomicBool,
    progress: &dyn Progress,
) -> Result<(), Error> {
    let file = File::open(path).at("open", path)?;
    copy_blobs_from(file, blobs, sink, stop, progress)
}

/// [`copy_blobs`] from an archive stream (e.g. across a volume set).
pub fn copy_blobs_from<R: Read>(
    input: R,
    blobs: &[BlobRecord],
    sink: &mut dyn Sink,
    stop: &AtomicBool,
    progress: &dyn Progress,
) -> Result<(), Error> {
    for_each_blob_from(input, blobs, stop, progress, &mut |rec, data| {
        sink.put_blob(rec, data)
    })
}

/// Hand every blob of `blobs`, in archive order, from the archive file at
/// `path` to `each` as a reader that re-checks its size and digest (read it
/// to the end). Stops reading once all were found; a missing one is an error.
pub fn for_each_blob(
    path: &Path,
    blobs: &[BlobRecord],
    stop: &AtomicBool,
    progress: &dyn Progress,
    each: &mut dyn FnMut(&BlobRecord, &mut dyn Read) -> Result<(), Error>,
) -> Result<(), Error> {
    let file = File::open(path).at("open", path)?;
    for_each_blob_from(file, blobs, stop, progress, each)
}

/// [`for_each_blob`] from an archive stream.
pub fn for_each_blob_from<R: Read>(
    input: R,
    blobs: &[BlobRecord],
    stop: &AtomicBool,
    progress: &dyn Progress,
    each: &mut dyn FnMut(&BlobRecord, &mut dyn Read) -> Result<(), Error>,
) -> Result<(), Error> {
    let (kind, raw) = compress::sniff(input).map_err(|e| Error::io("reading archive", e))?;
    let stream: Box<dyn Read> = match kind {
        Compression::None => Box::new(raw),
        Compression::Zstd => compress::decoder(BufReader::with_capacity(1 << 20, raw))
            .map_err(|e| IntegrityError::Corrupt(e.to_string()))?,
        Compression::Gzip => {
            return Err(IntegrityError::NotAnArchive("the archive changed into gzip".into()).into())
        }
    };
    let mut wanted: BTreeMap<Digest, &BlobRecord> = blobs.iter().map(|b| (b.digest, b)).collect();
    let mut archive = tar::Archive::new(stream);
    let entries = archive
        .entries()
        .map_err(|e| IntegrityError::Corrupt(e.to_string()))?;
    for entry in entries {
        if wanted.is_empty() {
            break;
        }
        if stop.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        let mut entry = entry.map_err(|e| IntegrityError::Corrupt(e.to_string()))?;
        let name = entry.path_bytes();
        let Some(hex) = name.strip_prefix(b"blobs/sha256/") else {
            continue;
        };
        let Some(digest) = std::str::from_utf8(hex)
            .ok()
            .and_then(|h| Digest::from_hex(h).ok())
        else {
            continue;
        };
        let Some(rec) = wanted.remove(&digest) else {
            continue;
        };
        if entry.size() != rec.size {
            return Err(IntegrityError::SizeMismatch {
                digest: digest.to_string(),
                expected: rec.size,
                actual: entry.size(),
            }
            .into());
        }
        let mut reader = CheckedReader::new(&mut entry, rec, stop, progress);
        let result = each(rec, &mut reader);
        reader.verdict(result)?;
    }
    if let Some(d) = wanted.keys().next() {
        return Err(IntegrityError::MissingBlob {
            digest: d.to_string(),
        }
        .into());
    }
    Ok(())
}
