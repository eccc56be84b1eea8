//! Volume sets in reports (pack, verify, inspect), `verify --volume` and
//! `airlock repair`.

use serde_json::{json, Value};

use super::args::RepairArgs;
use super::emit;
use super::report::{human, REPORT_MEDIA_TYPE};
use crate::archive::volumes::{self, VolumeId, VolumeIndex, VolumeSet};
use crate::error::Error;
use crate::pipeline;

/// The `volumes` object of a report: the index path and what it lists.
pub fn set_json(index_path: &std::path::Path, index: &VolumeIndex) -> Value {
    let mut v = json!({
        "index": index_path,
        "volumeSize": index.volume_size,
        "archive": index.archive,
        "volumes": index.volumes,
    });
    if let Some(p) = &index.parity {
        v["parity"] = json!(p);
    }
    v
}

/// One line: `5 volumes of 4.0 GiB (+ 1 parity), index NAME.volumes.json`.
pub fn set_text(index_path: &std::path::Path, index: &VolumeIndex) -> String {
    let parity = match index.parity_count() {
        0 => String::new(),
        n => format!(" + {n} parity"),
    };
    format!(
        "  volumes: {}{parity} of {} ({}), index {}\n",
        index.volumes.len(),
        human(index.volume_size),
        index.volume_size,
        index_path.display()
    )
}

fn id_text(v: &volumes::OneVolume) -> String {
    match v.id {
        VolumeId::Data(i) => format!("data volume {i} of {}", v.data_volumes),
        VolumeId::Parity(i) => format!("parity volume {i} of {}", v.parity_volumes),
    }
}

/// `verify --volume FILE`: one volume against the index beside it.
pub fn verify_one(path: &std::path::Path, json: bool) -> Result<(), Error> {
    let Some(index_path) = volumes::locate(path) else {
        return Err(Error::Usage(format!(
            "--volume {}: no volume index (NAME.volumes.json) beside it",
            path.display()
        )));
    };
    let set = VolumeSet::open(&index_path)?;
    let v = volumes::check_one(&set, path)?;
    let doc = json!({
        "mediaType": REPORT_MEDIA_TYPE,
        "command": "verify",
        "ok": true,
        "volume": {
            "name": v.name,
            "kind": if matches!(v.id, VolumeId::Data(_)) { "data" } else { "parity" },
            "index": match v.id { VolumeId::Data(i) | VolumeId::Parity(i) => i },
            "size": v.size,
            "sha256": v.sha256,
            "volumeIndex": index_path,
            "archiveManifestDigest": set.index.archive.manifest_digest,
        },
        "checks": ["volume-size", "volume-sha256"],
        "warnings": [],
    });
    let text = format!(
        "OK volume {} ({}, {}, {}) matches {}\n  archive {} (only this volume was checked; verify the whole set once all volumes are here)\n",
        v.name,
        id_text(&v),
        human(v.size),
        v.sha256,
        index_path.display(),
        set.index.archive.manifest_digest
    );
    emit(json, doc, text)
}

/// `airlock repair`.
pub fn repair(a: RepairArgs, json: bool) -> Result<(), Error> {
    super::interrupt::remove_outputs_and_exit("repair");
    let r = pipeline::repair::repair(&a.volumes)?;
    let mut doc = json!({
        "mediaType": REPORT_MEDIA_TYPE,
        "command": "repair",
        "ok": true,
        "index": r.index_path,
        "rebuilt": r.rebuilt.iter().map(|(name, was)| json!({"name": name, "was": was})).collect::<Vec<_>>(),
        "dataVolumes": r.data_volumes,
        "parityVolumes": r.parity_volumes,
        "warnings": [],
    });
    let mut text = String::new();
    if r.rebuilt.is_empty() {
        text.push_str(&format!(
            "OK nothing to repair: all {} data and {} parity volumes match {}\n",
            r.data_volumes,
            r.parity_volumes,
            r.index_path.display()
        ));
    } else {
        for (name, was) in &r.rebuilt {
            text.push_str(&format!("rebuilt {name} (it {was})\n"));
        }
        text.push_str(&format!(
            "OK all {} data and {} parity volumes now match {}\n",
            r.data_volumes,
            r.parity_volumes,
            r.index_path.display()
        ));
    }
    if a.timings {
        super::report::add_timings(&mut doc, &mut text);
    }
    emit(json, doc, text)
}
