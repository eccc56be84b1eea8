//! The [`BlobFeed`] unpack hands to sinks that load straight from the
//! archive: the archive file, its spool or its volume set, read again with
//! every blob re-hashed (`copy::for_each_blob`), so no staging copy is made.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::copy;
use crate::archive::volumes::{VolumeReader, VolumeSet};
use crate::error::Error;
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

impl BlobFeed for ArchiveFeed {
    fn for_each(
        &self,
        blobs: &[BlobRecord],
        each: &mut dyn FnMut(&BlobRecord, &mut dyn Read) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let progress = self.progress.as_ref();
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
