//! Pack time only: the Rekor log entries fetched earlier, kept beside the
//! blob cache so that packing the same inputs again writes the same bytes.
//!
//! A log signs a fresh Signed Entry Timestamp and checkpoint on every
//! request (randomised ECDSA nonces, and a public log's tree keeps growing),
//! so two fetches of the same entry differ. An entry is stored once, keyed by
//! the log's URL and the entry's index, and reused while it still matches the
//! signature's SET and its inclusion proof still leads to its checkpoint's
//! root (`rekor::attach_rekor_proofs` checks both before using it; the
//! checkpoint's signature is checked against the trust root by the gate and
//! by every `verify`). `--refresh-proofs` fetches anew and replaces it.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::rekor::FetchedEntry;
use crate::error::{Error, IoContext};

/// Largest stored entry read back (the same bound as a Rekor response).
const MAX_ENTRY_BYTES: u64 = 4 * 1024 * 1024;

/// `<cache dir>/rekor/<sha256(log URL), 16 hex>/<log index>.json`.
#[derive(Debug, Clone)]
pub struct ProofCache {
    root: PathBuf,
}

impl ProofCache {
    /// The entries of the log at `url`, under the pack cache `dir`.
    pub fn new(dir: &Path, url: &str) -> Self {
        let log = hex::encode(Sha256::digest(url.trim_end_matches('/').as_bytes()));
        ProofCache {
            root: dir.join("rekor").join(&log[..16]),
        }
    }

    fn path(&self, index: i64) -> PathBuf {
        self.root.join(format!("{index}.json"))
    }

    /// The stored entry `index`, if there is a readable one. A missing,
    /// oversized or malformed file is no entry (it is fetched again).
    pub fn load(&self, index: i64) -> Option<FetchedEntry> {
        let f = std::fs::File::open(self.path(index)).ok()?;
        let mut buf = Vec::new();
        f.take(MAX_ENTRY_BYTES + 1).read_to_end(&mut buf).ok()?;
        if buf.len() as u64 > MAX_ENTRY_BYTES {
            return None;
        }
        serde_json::from_slice(&buf).ok()
    }

    /// Keep `entry` as entry `index` (written whole, then renamed into
    /// place, so a reader never sees half a file).
    pub fn store(&self, index: i64, entry: &FetchedEntry) -> Result<(), Error> {
        std::fs::create_dir_all(&self.root).at("create proof cache", &self.root)?;
        let bytes = serde_json::to_vec(entry)
            .map_err(|e| Error::Source(format!("serialising Rekor entry {index}: {e}")))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.root)
            .at("create a file in the proof cache", &self.root)?;
        tmp.write_all(&bytes)
            .at("write the proof cache", tmp.path())?;
        let dest = self.path(index);
        tmp.persist(&dest)
            .map_err(|e| e.error)
            .at("write the proof cache", &dest)?;
        Ok(())
    }
}
