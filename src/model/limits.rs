//! Bounds on everything sized by untrusted input. A reader checks a declared
//! size against these before it allocates or reads.

/// Largest JSON document (manifest, index, config, evidence) read into memory.
/// The distribution spec lets registries refuse manifests over 4 MiB.
pub const MAX_JSON_BYTES: u64 = 4 << 20;

/// Largest airlock archive manifest: it lists every blob, so it can be big.
pub const MAX_ARCHIVE_MANIFEST_BYTES: u64 = 64 << 20;

/// Largest `oci-layout` marker file.
pub const MAX_OCI_LAYOUT_BYTES: u64 = 1024;

/// Most blobs one archive may list.
pub const MAX_BLOBS: usize = 100_000;

/// Largest zstd window a reader accepts (2^27 = 128 MiB, zstd's own default
/// limit); bigger windows are a memory bomb.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// Zero padding tolerated after the tar end marker (tar records are 10 KiB;
/// some tools pad to larger block sizes).
pub const MAX_TRAILING_ZEROS: u64 = 1 << 20;

/// Blobs up to this size whose media type is JSON are written before layers
/// and parsed while verifying.
pub const SMALL_BLOB_BYTES: u64 = MAX_JSON_BYTES;

/// Total of the small JSON documents a reader keeps in memory.
pub const MAX_METADATA_TOTAL: u64 = 256 << 20;

/// Most entries one image's layers may hold for `airlock diff` (its memory
/// grows with the number of files, a few hundred bytes each).
pub const MAX_DIFF_FILES: usize = 2_000_000;

/// Largest `inventory.json` read (it lists every blob a site holds).
pub const MAX_INVENTORY_BYTES: u64 = 128 << 20;

/// Most blobs (and manifests) one inventory may list.
pub const MAX_INVENTORY_ENTRIES: usize = 1_000_000;

/// Reads all of `r`, or `Ok(None)` when it holds more than `limit` bytes
/// (it never reads more than `limit + 1`).
pub fn read_at_most(r: impl std::io::Read, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let mut buf = Vec::new();
    r.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    Ok((buf.len() as u64 <= limit).then_some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_at_most_takes_exactly_the_limit_and_refuses_one_byte_more() {
        assert_eq!(
            read_at_most(&b"abcd"[..], 4).unwrap(),
            Some(b"abcd".to_vec())
        );
        assert_eq!(read_at_most(&b"abcde"[..], 4).unwrap(), None);
        assert_eq!(read_at_most(&b""[..], 0).unwrap(), Some(Vec::new()));
    }
}
