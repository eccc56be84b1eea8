//! `airlock inventory FROM… -o inventory.json`: flags →
//! [`pipeline::inventory`] → report.

use std::io::Write as _;

use serde_json::json;

use super::args::InventoryArgs;
use super::emit;
use crate::error::Error;
use crate::pipeline::inventory::{self, InventorySource};

pub fn run(a: InventoryArgs, json: bool) -> Result<(), Error> {
    let sources = a
        .from
        .iter()
        .map(|s| InventorySource::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let access = a.access.resolve()?;
    let inv = inventory::collect(&sources, &access)?;
    let bytes: u64 = inv.blobs.iter().map(|b| b.size).sum();
    if crate::pipeline::is_stdout(&a.out) {
        return std::io::stdout()
            .lock()
            .write_all(&inv.to_bytes())
            .map_err(|e| Error::io("writing inventory to stdout", e));
    }
    super::interrupt::remove_outputs_and_exit("inventory");
    inventory::write(&inv, &a.out, a.force)?;
    emit(
        json,
        json!({
            "mediaType": super::report::REPORT_MEDIA_TYPE,
            "command": "inventory",
            "ok": true,
            "output": a.out,
            "blobs": inv.blobs.len(),
            "blobBytes": bytes,
            "manifests": inv.manifests.len(),
            "warnings": [],
        }),
        format!(
            "wrote {} ({} blobs, {}, {} manifests)\n",
            a.out.display(),
            inv.blobs.len(),
            super::report::human(bytes),
            inv.manifests.len()
        ),
    )
}
