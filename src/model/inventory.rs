//! `inventory.json`: what a site already holds (blob digests and sizes, and
//! the image manifests present), written by `airlock inventory` and read by
//! `pack --base`. Digests and sizes only: no names of hosts, users or
//! credentials. Schema: `schema/inventory.schema.json`.

use serde::{Deserialize, Serialize};

use super::{limits, media, Digest};

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inventory {
    pub media_type: String,
    pub format_version: u32,
    /// Every blob present, sorted by digest, once each.
    pub blobs: Vec<InventoryBlob>,
    /// Image manifests (and indexes) present, sorted, once each.
    pub manifests: Vec<Digest>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InventoryBlob {
    pub digest: Digest,
    pub size: u64,
}

impl Inventory {
    /// An inventory of `blobs` and `manifests`, in the canonical order.
    pub fn new(
        blobs: impl IntoIterator<Item = InventoryBlob>,
        manifests: impl IntoIterator<Item = Digest>,
    ) -> Inventory {
        let blobs: std::collections::BTreeMap<Digest, u64> =
            blobs.into_iter().map(|b| (b.digest, b.size)).collect();
        let manifests: std::collections::BTreeSet<Digest> = manifests.into_iter().collect();
        Inventory {
            media_type: media::INVENTORY.into(),
            format_version: FORMAT_VERSION,
            blobs: blobs
                .into_iter()
                .map(|(digest, size)| InventoryBlob { digest, size })
                .collect(),
            manifests: manifests.into_iter().collect(),
        }
    }

    /// Parse and check an inventory file's bytes: known media type and
    /// version, bounded, sorted lists without repeats.
    pub fn parse(bytes: &[u8]) -> Result<Inventory, String> {
        if bytes.len() as u64 > limits::MAX_INVENTORY_BYTES {
            return Err(format!("larger than {} bytes", limits::MAX_INVENTORY_BYTES));
        }
        let inv: Inventory = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if inv.media_type != media::INVENTORY {
            return Err(format!("media type is not {}", media::INVENTORY));
        }
        if inv.format_version != FORMAT_VERSION {
            return Err(format!(
                "format version {} is not {FORMAT_VERSION}",
                inv.format_version
            ));
        }
        if inv.blobs.len() > limits::MAX_INVENTORY_ENTRIES
            || inv.manifests.len() > limits::MAX_INVENTORY_ENTRIES
        {
            return Err(format!(
                "lists more than {} entries",
                limits::MAX_INVENTORY_ENTRIES
            ));
        }
        if inv.blobs.windows(2).any(|p| p[0].digest >= p[1].digest)
            || inv.manifests.windows(2).any(|p| p[0] >= p[1])
        {
            return Err("lists are not sorted by digest or repeat one".into());
        }
        Ok(inv)
    }

    /// The canonical bytes (pretty JSON and a final newline).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_disorder() {
        let a = InventoryBlob {
            digest: Digest::of(b"a"),
            size: 1,
        };
        let b = InventoryBlob {
            digest: Digest::of(b"b"),
            size: 1,
        };
        let inv = Inventory::new([b, a, a], [a.digest]);
        assert_eq!(Inventory::parse(&inv.to_bytes()).unwrap(), inv);
        let mut bad = inv.clone();
        bad.blobs.reverse();
        assert!(Inventory::parse(&serde_json::to_vec(&bad).unwrap()).is_err());
        assert!(Inventory::parse(b"{").is_err());
    }
}
