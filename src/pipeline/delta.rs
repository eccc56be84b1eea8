//! Delta archives, pack side: what each `--base` holds (an archive or
//! volume set, its `airlock.json`, or an `inventory.json`), and the change
//! to a planned archive that leaves those blobs out. Only image layers are
//! ever left out: manifests, configs and every piece of evidence travel in
//! the delta, so it verifies and is policy-checked on its own.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::archive::writer::Plan;
use crate::archive::ReadOptions;
use crate::error::{Error, IoContext};
use crate::model::image_set::BlobOrigin;
use crate::model::inventory::Inventory;
use crate::model::manifest::{BaseKind, BaseRecord, ExternalBlobRecord};
use crate::model::progress::NoProgress;
use crate::model::{limits, media, oci, Digest};

use super::input::ArchiveInput;

/// One `--base`: its identity and the blobs it holds.
#[derive(Debug, Clone)]
pub struct Base {
    pub path: PathBuf,
    pub record: BaseRecord,
    /// Blobs the base holds, with their sizes.
    pub blobs: BTreeMap<Digest, u64>,
}

/// What leaving blobs to the bases did (for the pack report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeltaStats {
    pub carried_blobs: usize,
    pub carried_bytes: u64,
    pub external_blobs: usize,
    /// What the bases saved: bytes not written.
    pub external_bytes: u64,
}

impl DeltaStats {
    /// Carried vs external of an archive manifest (`inspect`, `verify`).
    pub fn of(m: &crate::model::ArchiveManifest) -> DeltaStats {
        DeltaStats {
            carried_blobs: m.blobs.len(),
            carried_bytes: m.blobs.iter().map(|b| b.size).sum(),
            external_blobs: m.external.len(),
            external_bytes: m.external.iter().map(|b| b.size).sum(),
        }
    }
}

/// Load every `--base`, in order.
pub fn load_bases(paths: &[PathBuf]) -> Result<Vec<Base>, Error> {
    paths.iter().map(|p| load_base(p)).collect()
}

/// Read what `path` names: a volume set or archive (its manifest only; the
/// base is re-hashed wherever its bytes are used), an `airlock.json`, or an
/// `inventory.json`.
pub fn load_base(path: &Path) -> Result<Base, Error> {
    let input = ArchiveInput::open(path)?;
    if let ArchiveInput::File(file) = &input {
        if looks_like_json(file)? {
            return load_json_base(file);
        }
    }
    let opts = ReadOptions {
        manifest_only: true,
        ..ReadOptions::default()
    };
    let outcome = input.read(&opts, &NoProgress)?;
    Ok(Base {
        path: path.to_path_buf(),
        record: BaseRecord {
            kind: BaseKind::Archive,
            digest: outcome.manifest_digest,
        },
        blobs: outcome
            .manifest
            .blobs
            .iter()
            .map(|b| (b.digest, b.size))
            .collect(),
    })
}

fn looks_like_json(path: &Path) -> Result<bool, Error> {
    let mut head = [0u8; 64];
    let mut f = std::fs::File::open(path).at("open base", path)?;
    let n = f.read(&mut head).at("read base", path)?;
    Ok(head[..n]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{'))
}

fn load_json_base(path: &Path) -> Result<Base, Error> {
    let bytes = crate::error::read_input_file(path, limits::MAX_INVENTORY_BYTES, "base")?;
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    let bad = |reason: String| Error::Usage(format!("base {}: {reason}", path.display()));
    let head: Head = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    match head.media_type.as_deref() {
        Some(media::ARCHIVE_MANIFEST) => {
            let (m, digest) = crate::archive::reader::parse_archive_manifest(&bytes)?;
            Ok(Base {
                path: path.to_path_buf(),
                record: BaseRecord {
                    kind: BaseKind::Archive,
                    digest,
                },
                blobs: m.blobs.iter().map(|b| (b.digest, b.size)).collect(),
            })
        }
        Some(media::INVENTORY) => {
            let inv =
                Inventory::parse(&bytes).map_err(|e| bad(format!("not a valid inventory: {e}")))?;
            Ok(Base {
                path: path.to_path_buf(),
                record: BaseRecord {
                    kind: BaseKind::Inventory,
                    digest: Digest::of(&bytes),
                },
                blobs: inv.blobs.iter().map(|b| (b.digest, b.size)).collect(),
            })
        }
        _ => Err(bad(format!(
            "neither an archive, an airlock.json nor an inventory ({})",
            media::INVENTORY
        ))),
    }
}

/// Leave every image layer a base holds (same digest and size) out of
/// `plan`, listing it as external. Nothing external: the plan is unchanged
/// (a full archive).
pub fn leave_out(plan: &mut Plan, bases: &[Base]) -> Result<DeltaStats, Error> {
    // The same base given twice is recorded once.
    let mut unique: Vec<&Base> = Vec::new();
    for b in bases {
        if !unique.iter().any(|u| u.record == b.record) {
            unique.push(b);
        }
    }
    let candidates = image_layers(plan)?;
    let mut external = Vec::new();
    for rec in &plan.manifest.blobs {
        if !candidates.contains(&rec.digest) {
            continue;
        }
        let named = unique
            .iter()
            .position(|b| b.blobs.get(&rec.digest) == Some(&rec.size));
        if let Some(base) = named {
            external.push(ExternalBlobRecord {
                digest: rec.digest,
                size: rec.size,
                media_type: rec.media_type.clone(),
                base,
            });
        }
    }
    if !external.is_empty() {
        let gone: BTreeSet<Digest> = external.iter().map(|e| e.digest).collect();
        plan.manifest.blobs.retain(|b| !gone.contains(&b.digest));
        plan.blobs.retain(|d, _| !gone.contains(d));
        plan.manifest.bases = unique.iter().map(|b| b.record.clone()).collect();
        plan.manifest.external = external;
    }
    Ok(DeltaStats::of(&plan.manifest))
}

/// Layers of the images, less anything evidence also uses.
fn image_layers(plan: &Plan) -> Result<BTreeSet<Digest>, Error> {
    let doc = |d: &Digest| -> Option<oci::ManifestInfo> {
        match &plan.blobs.get(d)?.origin {
            BlobOrigin::Memory(bytes) => oci::parse_manifest(bytes).ok(),
            _ => None,
        }
    };
    let mut layers = BTreeSet::new();
    for img in &plan.manifest.images {
        let man = doc(&img.manifest_digest).ok_or_else(|| {
            Error::Source(format!(
                "image manifest {} is not held in memory",
                img.manifest_digest
            ))
        })?;
        layers.extend(man.layers.iter().map(|l| l.digest));
    }
    // A digest that is also a manifest, index or config is always carried.
    for img in &plan.manifest.images {
        layers.remove(&img.manifest_digest);
        layers.remove(&img.config_digest);
        if let Some(ix) = &img.index_digest {
            layers.remove(ix);
        }
    }
    let evidence = plan
        .manifest
        .images
        .iter()
        .flat_map(|i| i.evidence.iter().map(|e| e.digest))
        .chain(plan.manifest.evidence.iter().map(|e| e.digest));
    for d in evidence {
        layers.remove(&d);
        if let Some(man) = doc(&d) {
            layers.remove(&man.config.digest);
            for l in &man.layers {
                layers.remove(&l.digest);
            }
        }
    }
    Ok(layers)
}
