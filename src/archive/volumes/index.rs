//! `NAME.volumes.json`: what a split archive's volumes must be. Written
//! last by pack, read first by every reader; `docs/format.md` ("Volumes")
//! and `schema/volumes.schema.json` specify it. It is transport metadata,
//! not trust: the archive inside is still checked against its own
//! `airlock.json`, and the index's `manifestDigest` must name that.

use serde::{Deserialize, Serialize};

use crate::error::{Error, IntegrityError};
use crate::model::Digest;

pub const MEDIA_TYPE: &str = "application/vnd.airlock.volumes.v1+json";
pub const FORMAT_VERSION: u32 = 1;
/// The parity code: Leopard-RS (Reed–Solomon over GF(2^16)), as
/// implemented by the `reed-solomon-simd` crate.
pub const PARITY_ALGORITHM: &str = "reed-solomon-leopard-gf16";

/// Smallest `--volume-size` (smaller volumes only multiply files).
pub const MIN_VOLUME_SIZE: u64 = 1 << 20;
/// Most data volumes (three-digit names, `NAME.001`…`NAME.999`).
pub const MAX_DATA_VOLUMES: usize = 999;
/// Most parity volumes (`NAME.p01`…`NAME.p99`).
pub const MAX_PARITY_VOLUMES: usize = 99;
/// Largest parity shard (one stripe of one volume held in memory).
pub const MAX_SHARD_BYTES: u64 = 1 << 20;
/// Largest index file read.
pub const MAX_INDEX_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeIndex {
    pub media_type: String,
    pub format_version: u32,
    pub archive: ArchiveRecord,
    /// The size every data volume has, except a shorter last one.
    pub volume_size: u64,
    /// Data volumes, in order: their concatenation is the archive.
    pub volumes: Vec<VolumeRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parity: Option<ParityRecord>,
}

/// The whole (joined) archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArchiveRecord {
    /// sha256 of its `airlock.json`: which archive this set carries.
    pub manifest_digest: Digest,
    pub size: u64,
    pub sha256: Digest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeRecord {
    /// 1-based; the file name's suffix (`.001`, `.p01`).
    pub index: u32,
    pub size: u64,
    pub sha256: Digest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParityRecord {
    pub algorithm: String,
    /// Stripe width: the data volumes are coded `shardBytes` at a time.
    pub shard_bytes: u64,
    pub volumes: Vec<VolumeRecord>,
}

/// Which file of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeId {
    Data(usize),
    Parity(usize),
}

/// `NAME.001` (three digits) or `NAME.p01` (two).
pub fn volume_suffix(id: VolumeId) -> String {
    match id {
        VolumeId::Data(i) => format!("{i:03}"),
        VolumeId::Parity(i) => format!("p{i:02}"),
    }
}

/// The volume a file-name suffix names, if it is one of ours.
pub fn parse_suffix(suffix: &str) -> Option<VolumeId> {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if digits(suffix, 3) {
        return suffix.parse().ok().map(VolumeId::Data);
    }
    let p = suffix.strip_prefix('p')?;
    digits(p, 2).then(|| p.parse().ok().map(VolumeId::Parity))?
}

/// Length of a parity volume: one stripe per shard of the longest data
/// volume (the first), padded to an even length as the code requires.
pub fn parity_size(first_volume: u64) -> u64 {
    first_volume + (first_volume & 1)
}

/// One stripe of every volume (the volume count rounded up to a power of
/// two, times the shard) stays within this; the codec's work space is
/// about twice it.
pub const MAX_STRIPE_BYTES: u64 = 8 << 20;

/// The stripe width for `data` + `parity` volumes, within
/// [`MAX_STRIPE_BYTES`].
pub fn shard_bytes_for(data: usize, parity: usize) -> u64 {
    let shards = (data + parity).max(1).next_power_of_two() as u64;
    (MAX_STRIPE_BYTES / shards / 64 * 64).clamp(64, MAX_SHARD_BYTES)
}

impl VolumeIndex {
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Parse and check the index `name`; every number in it is bounded and
    /// consistent before a volume is opened.
    pub fn parse(bytes: &[u8], name: &str) -> Result<VolumeIndex, Error> {
        let bad = |problem: String| -> Error {
            IntegrityError::BadVolume {
                name: name.to_string(),
                problem,
            }
            .into()
        };
        // The version is read first, so a newer index is "unsupported",
        // not "malformed".
        let head: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("the volume index is not JSON: {e}")))?;
        if head["mediaType"] != MEDIA_TYPE {
            return Err(bad(format!(
                "not an airlock volume index (mediaType is not {MEDIA_TYPE})"
            )));
        }
        if head["formatVersion"]
            .as_u64()
            .is_some_and(|v| v > FORMAT_VERSION.into())
        {
            return Err(Error::Unsupported(format!(
                "{name}: volume index format {} is newer than this airlock understands ({FORMAT_VERSION})",
                head["formatVersion"]
            )));
        }
        let index: VolumeIndex = serde_json::from_value(head)
            .map_err(|e| bad(format!("malformed volume index: {e}")))?;
        index.check().map_err(bad)?;
        Ok(index)
    }

    fn check(&self) -> Result<(), String> {
        let n = self.volumes.len();
        if n == 0 || n > MAX_DATA_VOLUMES {
            return Err(format!(
                "the index lists {n} data volumes (1 to {MAX_DATA_VOLUMES} allowed)"
            ));
        }
        if self.volume_size < MIN_VOLUME_SIZE {
            return Err(format!(
                "volumeSize {} is below the {MIN_VOLUME_SIZE}-byte minimum",
                self.volume_size
            ));
        }
        numbered(&self.volumes, "data")?;
        let mut total = 0u64;
        for (i, v) in self.volumes.iter().enumerate() {
            let last = i + 1 == n;
            if v.size == 0 || v.size > self.volume_size || (!last && v.size != self.volume_size) {
                return Err(format!(
                    "volume {} is listed with {} bytes, but every volume except the last has volumeSize {} bytes and none is empty",
                    v.index, v.size, self.volume_size
                ));
            }
            total = total.saturating_add(v.size);
        }
        if total != self.archive.size {
            return Err(format!(
                "the data volumes add up to {total} bytes, but the archive size is {}",
                self.archive.size
            ));
        }
        if let Some(p) = &self.parity {
            if p.algorithm != PARITY_ALGORITHM {
                return Err(format!(
                    "unknown parity algorithm {:?} (this airlock knows {PARITY_ALGORITHM})",
                    p.algorithm
                ));
            }
            if p.volumes.is_empty() || p.volumes.len() > MAX_PARITY_VOLUMES {
                return Err(format!(
                    "the index lists {} parity volumes (1 to {MAX_PARITY_VOLUMES} allowed)",
                    p.volumes.len()
                ));
            }
            if p.shard_bytes == 0 || p.shard_bytes % 64 != 0 || p.shard_bytes > MAX_SHARD_BYTES {
                return Err(format!(
                    "parity shardBytes {} is not a multiple of 64 up to {MAX_SHARD_BYTES}",
                    p.shard_bytes
                ));
            }
            // Repair holds a stripe of every volume: an index must not
            // make that larger than any pack would.
            let shards = (self.volumes.len() + p.volumes.len()).next_power_of_two() as u64;
            if shards.saturating_mul(p.shard_bytes) > MAX_STRIPE_BYTES.max(64 * shards) {
                return Err(format!(
                    "parity shardBytes {} is too large for {} volumes (a stripe of all of them must fit in {MAX_STRIPE_BYTES} bytes)",
                    p.shard_bytes,
                    self.volumes.len() + p.volumes.len()
                ));
            }
            numbered(&p.volumes, "parity")?;
            let want = parity_size(self.volumes[0].size);
            if let Some(v) = p.volumes.iter().find(|v| v.size != want) {
                return Err(format!(
                    "parity volume {} is listed with {} bytes; parity volumes are {want} bytes",
                    v.index, v.size
                ));
            }
        }
        Ok(())
    }

    pub fn parity_count(&self) -> usize {
        self.parity.as_ref().map_or(0, |p| p.volumes.len())
    }

    /// The expected record of a volume.
    pub fn record(&self, id: VolumeId) -> Option<&VolumeRecord> {
        match id {
            VolumeId::Data(i) => self.volumes.get(i.checked_sub(1)?),
            VolumeId::Parity(i) => self.parity.as_ref()?.volumes.get(i.checked_sub(1)?),
        }
    }
}

/// Records numbered 1, 2, 3… in order.
fn numbered(records: &[VolumeRecord], what: &str) -> Result<(), String> {
    for (i, v) in records.iter().enumerate() {
        if v.index as usize != i + 1 {
            return Err(format!(
                "{what} volume number {} is listed at position {} (the list must be 1, 2, 3…)",
                v.index,
                i + 1
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(index: u32, size: u64) -> VolumeRecord {
        VolumeRecord {
            index,
            size,
            sha256: Digest::of(&[index as u8]),
        }
    }

    fn sample() -> VolumeIndex {
        VolumeIndex {
            media_type: MEDIA_TYPE.into(),
            format_version: FORMAT_VERSION,
            archive: ArchiveRecord {
                manifest_digest: Digest::of(b"m"),
                size: 3 * MIN_VOLUME_SIZE - 5,
                sha256: Digest::of(b"a"),
            },
            volume_size: MIN_VOLUME_SIZE,
            volumes: vec![
                rec(1, MIN_VOLUME_SIZE),
                rec(2, MIN_VOLUME_SIZE),
                rec(3, MIN_VOLUME_SIZE - 5),
            ],
            parity: Some(ParityRecord {
                algorithm: PARITY_ALGORITHM.into(),
                shard_bytes: 4096,
                volumes: vec![rec(1, MIN_VOLUME_SIZE)],
            }),
        }
    }

    #[test]
    fn a_written_index_parses_back() {
        let i = sample();
        assert_eq!(VolumeIndex::parse(&i.to_json(), "x").unwrap(), i);
    }

    #[test]
    fn inconsistent_indexes_are_refused() {
        let mut i = sample();
        i.archive.size += 1;
        assert!(VolumeIndex::parse(&i.to_json(), "x").is_err());
        let mut i = sample();
        i.volumes.swap(0, 1);
        assert!(VolumeIndex::parse(&i.to_json(), "x").is_err());
        let mut i = sample();
        i.volumes[1].size -= 1;
        i.archive.size -= 1;
        assert!(VolumeIndex::parse(&i.to_json(), "x").is_err());
        // 3 + 6 volumes (16 once rounded) of 1 MiB shards: a 16 MiB stripe.
        let mut i = sample();
        if let Some(p) = i.parity.as_mut() {
            p.shard_bytes = MAX_SHARD_BYTES;
            p.volumes = (1..=6).map(|n| rec(n, MIN_VOLUME_SIZE)).collect();
        }
        assert!(VolumeIndex::parse(&i.to_json(), "x")
            .unwrap_err()
            .to_string()
            .contains("too large"));
        let mut i = sample();
        i.format_version = 2;
        assert!(matches!(
            VolumeIndex::parse(&i.to_json(), "x"),
            Err(Error::Unsupported(_))
        ));
    }

    #[test]
    fn suffixes_name_volumes() {
        assert_eq!(volume_suffix(VolumeId::Data(3)), "003");
        assert_eq!(volume_suffix(VolumeId::Parity(1)), "p01");
        assert_eq!(parse_suffix("003"), Some(VolumeId::Data(3)));
        assert_eq!(parse_suffix("p12"), Some(VolumeId::Parity(12)));
        assert_eq!(parse_suffix("zst"), None);
        assert_eq!(parse_suffix("0003"), None);
        assert_eq!(parse_suffix("p1"), None);
    }
}
