//! The [`BlobFeed`] unpack hands to sinks that load straight from the
//! archive: the archive file, its spool or its volume set, read again with
//! every blob re-hashed, so no staging copy is made. An uncompressed file is
//! read at each blob's offset; a zstd archive or a volume set is streamed
//! (`copy::for_each_blob`), which reads it all for every call.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::copy;
use crate::archive::volumes::{VolumeReader, VolumeSet};
use crate::error::{Error, IntegrityError, IoContext};
use crate::model::progress::Progress;
use crate::model::{BlobRecord, Digest};
use crate::sink::feed::{BlobFeed, VerifiedFile};

pub struct ArchiveFeed {
    /// The archive file or the stdin spool (ignored for a volume set).
    pub path: PathBuf,
    pub volumes: Option<VolumeSet>,
    pub whole: Option<VerifiedFile>,
    /// Blob offsets in `path`, when it is an uncompressed archive.
    pub offsets: Option<BTreeMap<Digest, u64>>,
    pub stop: Arc<AtomicBool>,
    pub progress: Arc<dyn Progress>,
}

impl ArchiveFeed {
    /// Read each blob at its offset in the uncompressed file (in file
    /// order), so loading one image of many reads that image's bytes only.
    fn for_each_at(
        &self,
        offsets: &BTreeMap<Digest, u64>,
        blobs: &[BlobRecord],
        each: &mut dyn FnMut(&BlobRecord, &mut dyn Read) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut order: Vec<(u64, &BlobRecord)> = Vec::with_capacity(blobs.len());
        for rec in blobs {
            let at = *offsets.get(&rec.digest).ok_or_else(|| {
                Error::Integrity(IntegrityError::MissingBlob {
                    digest: rec.digest.to_string(),
                })
            })?;
            if !order.iter().any(|(_, r)| r.digest == rec.digest) {
                order.push((at, rec));
            }
        }
        order.sort_by_key(|(at, _)| *at);
        let mut file = File::open(&self.path).at("open", &self.path)?;
        for (at, rec) in order {
            if self.stop.load(Ordering::Relaxed) {
                return Err(Error::Interrupted);
            }
            file.seek(SeekFrom::Start(at)).at("read", &self.path)?;
            let bytes = BufReader::with_capacity(1 << 20, (&file).take(rec.size));
            let mut reader =
                copy::CheckedReader::new(bytes, rec, &self.stop, self.progress.as_ref());
            let result = each(rec, &mut reader);
            reader.verdict(result)?;
        }
        Ok(())
    }
}

impl BlobFeed for ArchiveFeed {
    fn for_each(
        &self,
        blobs: &[BlobRecord],
        each: &mut dyn FnMut(&BlobRecord, &mut dyn Read) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let progress = self.progress.as_ref();
        if let Some(offsets) = &self.offsets {
            return self.for_each_at(offsets, blobs, each);
        }
        match &self.volumes {
            Some(set) => copy::for_each_blob_from(
                VolumeReader::sizes_only(set),
                blobs,
                &self.stop,
                progress,
                each,
            ),
            None => copy::for_each_blob(&self.path, blobs, &self.stop, progress, each),
        }
    }

    fn whole_file(&self) -> Option<&VerifiedFile> {
        self.whole.as_ref()
    }

    fn locate(&self, d: &Digest) -> Option<(&Path, u64)> {
        let at = *self.offsets.as_ref()?.get(d)?;
        Some((self.path.as_path(), at))
    }

    fn is_plain_file(&self) -> bool {
        self.offsets.is_some()
    }
}
