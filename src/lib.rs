//! airlock: move signed container images into air-gapped sites and prove,
//! offline, that what arrives is exactly what the publisher signed.
//!
//! Data path, one module per arrow:
//! `source` (OCI layout) → `archive::writer` → tar/zstd → `archive::reader`
//! → `trust` → `sink`. `pipeline` composes them into the commands.
#![forbid(unsafe_code)]

pub mod archive;
pub mod cli;
pub mod error;
pub mod gate;
pub mod model;
pub mod pipeline;
pub mod registry_client;
pub mod sink;
pub mod source;
pub mod trust;

pub use error::{Error, IntegrityError};
