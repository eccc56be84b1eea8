//! The archive reader on raw bytes: plain tar or zstd (sniffed by magic).
//! Invariant: an accepted archive has had every listed blob read and every
//! kept JSON document hashed to the digest it is filed under.

use airlock::archive::compress::{Compression, ZSTD_MAGIC};
use airlock::archive::reader::{read_archive, ReadOptions};
use airlock::model::progress::NoProgress;
use airlock::model::Digest;

pub fn check(data: &[u8]) {
    let opts = ReadOptions {
        hash_workers: 1,
        manifest_only: false,
    };
    let Ok(outcome) = read_archive(data, &opts, &NoProgress) else {
        return;
    };
    if data.starts_with(&ZSTD_MAGIC) {
        assert_eq!(outcome.compression, Compression::Zstd);
    }
    let listed: u64 = outcome.manifest.blobs.iter().map(|b| b.size).sum();
    assert_eq!(outcome.blob_bytes, listed, "accepted without every blob");
    for (digest, bytes) in &outcome.metadata {
        assert_eq!(&Digest::of(bytes), digest, "kept a document unhashed");
        let record = outcome
            .manifest
            .blob(digest)
            .expect("kept a document the manifest does not list");
        assert_eq!(record.size, bytes.len() as u64);
    }
}
