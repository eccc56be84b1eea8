//! `airlock inventory FROM… -o inventory.json`: what a site already holds,
//! for `pack --base` on the connected side. Offline sources (an OCI layout,
//! an archive or volume set, the unpack state directory) open no socket; a
//! `registry:` source only reads its catalog, tag lists and manifests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::archive::ReadOptions;
use crate::error::Error;
use crate::model::inventory::{Inventory, InventoryBlob};
use crate::model::progress::NoProgress;
use crate::model::Digest;
use crate::registry_client::AccessOptions;
use crate::source::inventory::{self as found, Found};

use super::input::ArchiveInput;

/// One FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventorySource {
    /// `dir:PATH`, or a directory holding `oci-layout`.
    Layout(PathBuf),
    /// The unpack state directory (`--state-dir`): what unpack admitted.
    State(PathBuf),
    /// An archive file or volume set.
    Archive(PathBuf),
    /// `registry:HOST[/NAMESPACE]`: the repositories its catalog lists.
    Registry {
        host: String,
        namespace: Option<String>,
    },
}

impl InventorySource {
    pub fn parse(s: &str) -> Result<InventorySource, Error> {
        if let Some(p) = s.strip_prefix("dir:") {
            return Ok(InventorySource::Layout(PathBuf::from(p)));
        }
        if let Some(rest) = s.strip_prefix("registry:") {
            let (host, namespace) = match rest.split_once('/') {
                Some((h, ns)) => (h, Some(ns.trim_end_matches('/').to_string())),
                None => (rest, None),
            };
            if host.is_empty() || namespace.as_deref() == Some("") {
                return Err(Error::Usage(format!(
                    "{s}: expected registry:HOST[/NAMESPACE]"
                )));
            }
            return Ok(InventorySource::Registry {
                host: host.to_string(),
                namespace,
            });
        }
        let p = PathBuf::from(s);
        if p.join("oci-layout").is_file() {
            return Ok(InventorySource::Layout(p));
        }
        if p.join("admitted").is_dir() || (p.is_dir() && p.join("rollback").exists()) {
            return Ok(InventorySource::State(p));
        }
        if p.is_dir() {
            return Err(Error::Usage(format!(
                "{s}: a directory that is neither an OCI layout nor an airlock state directory"
            )));
        }
        Ok(InventorySource::Archive(p))
    }
}

fn read(src: &InventorySource, access: &AccessOptions) -> Result<Vec<Found>, Error> {
    match src {
        InventorySource::Registry { host, namespace } => Ok(vec![found::of_registry(
            host,
            namespace.as_deref(),
            access,
        )?]),
        InventorySource::Layout(dir) => Ok(vec![found::of_layout(dir)?]),
        InventorySource::Archive(path) => {
            let opts = ReadOptions {
                manifest_only: true,
                ..ReadOptions::default()
            };
            let out = ArchiveInput::open(path)?.read(&opts, &NoProgress)?;
            Ok(vec![found::of_archive(&out.manifest)])
        }
        InventorySource::State(dir) => crate::gate::admitted::admitted_manifests(dir)?
            .iter()
            .map(|(img, bytes)| found::of_manifest(img.manifest_digest, bytes))
            .collect(),
    }
}

/// The inventory of every source, in the canonical (deterministic) form.
pub fn collect(sources: &[InventorySource], access: &AccessOptions) -> Result<Inventory, Error> {
    let mut blobs: BTreeMap<Digest, u64> = BTreeMap::new();
    let mut manifests = Vec::new();
    for src in sources {
        for f in read(src, access)? {
            for b in f.blobs {
                if let Some(size) = blobs.insert(b.digest, b.size) {
                    if size != b.size {
                        return Err(Error::Source(format!(
                            "{} is listed with {size} and {} bytes: a source is damaged",
                            b.digest, b.size
                        )));
                    }
                }
            }
            manifests.extend(f.manifests);
        }
    }
    Ok(Inventory::new(
        blobs
            .into_iter()
            .map(|(digest, size)| InventoryBlob { digest, size }),
        manifests,
    ))
}

/// Collect and write `inventory.json` to `output` (atomically; `-`: stdout
/// is the caller's).
pub fn write(inv: &Inventory, output: &Path, force: bool) -> Result<(), Error> {
    if output.exists() && !force {
        return Err(Error::Usage(format!(
            "{} exists; give --force to replace it",
            output.display()
        )));
    }
    super::write_atomic(output, &inv.to_bytes())
}
