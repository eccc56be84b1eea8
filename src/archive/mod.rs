//! The archive: a tar of an OCI image layout plus `airlock.json`, optionally
//! zstd-compressed. `docs/format.md` is the specification.

pub mod compress;
pub mod graph;
pub mod hashpool;
pub mod layout_files;
pub mod names;
pub mod reader;
pub mod trust_material;
pub mod writer;

pub use reader::{read_archive, read_archive_file, ReadOptions, ReadOutcome};
pub use writer::{write_archive, WriteOptions, WriteOutcome};
