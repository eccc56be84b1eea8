//! airlock: move signed container images into air-gapped sites and prove,
//! offline, that what arrives is exactly what the publisher signed.
//!
//! Data path, one module per arrow (docs/architecture.md):
//! `source` (registry, OCI layout) → `archive::writer` → tar/zstd →
//! `archive::reader` → `gate` (with `trust`) → `sink`. `pipeline` composes
//! them into the commands; `cli` parses and reports. Modules import only
//! the layers below them: `model` → `trust` → `error` → `archive` →
//! `registry_client` → `source` → `gate` → `sink` → `serve` → `pipeline` →
//! `cli`.
#![forbid(unsafe_code)]

pub mod archive;
pub mod cli;
pub mod error;
pub mod gate;
pub mod model;
pub mod pipeline;
pub mod registry_client;
pub mod scratch;
pub mod serve;
pub mod sink;
pub mod source;
pub mod trust;

pub use error::{Error, IntegrityError};
