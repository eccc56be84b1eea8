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
