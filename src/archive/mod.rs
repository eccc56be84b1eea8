//! The archive: a tar of an OCI image layout plus `airlock.json`, optionally
//! zstd-compressed. `docs/format.md` is the specification.

mod check;
pub mod compress;
pub mod graph;
mod hashing;
pub mod hashpool;
mod input;
pub mod layer_tree;
pub mod layout_files;
mod manifest_check;
pub mod names;
pub mod positional;
pub mod reader;
pub mod stream_hash;
pub mod trust_material;
pub mod volumes;
pub mod writer;

pub use reader::{
    read_archive, read_archive_at, read_archive_copying_tar, read_archive_file, ReadOptions,
    ReadOutcome,
};
pub use writer::{write_archive, WriteOptions, WriteOutcome};
