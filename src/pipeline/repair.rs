//! `airlock repair`: find which volumes of a set are missing or damaged
//! (every file is hashed against the index), rebuild them from the good
//! ones and the parity volumes, check each rebuilt volume against the
//! index, and only then rename it over the bad one. More bad volumes than
//! parity volumes: nothing is written.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::{outputs, public_file};
use crate::archive::volumes::index::VolumeId;
use crate::archive::volumes::parity::{self, Stripes};
use crate::archive::volumes::set::bad;
use crate::archive::volumes::{self, VolumeSet, WrittenVolume};
use crate::error::{Error, IoContext};
use crate::model::timings;

/// What repair did.
#[derive(Debug, Clone)]
pub struct Repaired {
    pub index_path: PathBuf,
    /// Each rebuilt volume's name and what was wrong with it.
    pub rebuilt: Vec<(String, String)>,
    pub data_volumes: usize,
    pub parity_volumes: usize,
}

pub fn repair(path: &Path) -> Result<Repaired, Error> {
    let Some(index_path) = volumes::locate(path) else {
        return Err(Error::Usage(format!(
            "{} is not part of a volume set (give NAME.volumes.json, or a volume with its index beside it)",
            path.display()
        )));
    };
    let set = VolumeSet::open(&index_path)?;
    let survey = timings::time("check", || volumes::survey(&set));
    let lost: Vec<(VolumeId, String)> = survey
        .into_iter()
        .filter_map(|(id, p)| p.map(|p| (id, p)))
        .collect();
    let parity_count = set.index.parity_count();
    let mut report = Repaired {
        index_path: index_path.clone(),
        rebuilt: Vec::new(),
        data_volumes: set.index.volumes.len(),
        parity_volumes: parity_count,
    };
    let Some((first, first_problem)) = lost.first() else {
        return Ok(report);
    };
    if lost.len() > parity_count {
        let names: Vec<String> = lost.iter().map(|(id, _)| set.name(*id)).collect();
        return Err(bad(
            &set.name(*first),
            format!(
                "{first_problem}; {} volume(s) are lost or damaged ({}), but {parity_count} parity volume(s) can rebuild at most {parity_count}: nothing was changed",
                lost.len(),
                names.join(", ")
            ),
        ));
    }
    let is_lost = |id: VolumeId| lost.iter().any(|(l, _)| *l == id);
    let open = |id: VolumeId| -> Result<Option<File>, Error> {
        if is_lost(id) {
            return Ok(None);
        }
        let p = set.path(id);
        File::open(&p).at("open", &p).map(Some)
    };
    let data = (1..=set.index.volumes.len())
        .map(|i| open(VolumeId::Data(i)))
        .collect::<Result<Vec<_>, _>>()?;
    let par = (1..=parity_count)
        .map(|i| open(VolumeId::Parity(i)))
        .collect::<Result<Vec<_>, _>>()?;
    let sizes: Vec<u64> = set.index.volumes.iter().map(|v| v.size).collect();
    let geo = Stripes {
        sizes: &sizes,
        parity: parity_count,
        shard_bytes: set.index.parity.as_ref().map_or(64, |p| p.shard_bytes),
    };
    let dir = match set.base.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    crate::scratch::sweep(&dir, "repair");
    let mut guards = Vec::new();
    let rebuilt = timings::time("rebuild", || {
        parity::rebuild(&geo, &data, &par, |_, _| {
            let (t, guard) = outputs::create(|| {
                tempfile::Builder::new()
                    .prefix(&crate::scratch::prefix("repair"))
                    .permissions(public_file())
                    .tempfile_in(&dir)
            })?;
            guards.push(guard);
            Ok(t)
        })
    });
    let (rebuilt_data, rebuilt_parity) =
        rebuilt.map_err(|e| Error::io(format!("rebuilding volumes in {}", dir.display()), e))?;
    let rebuilt: Vec<(VolumeId, WrittenVolume)> = rebuilt_data
        .into_iter()
        .map(|(i, v)| (VolumeId::Data(i), v))
        .chain(
            rebuilt_parity
                .into_iter()
                .map(|(i, v)| (VolumeId::Parity(i), v)),
        )
        .collect();
    // Every rebuilt volume must be the one the index describes before any
    // bad file is replaced.
    for (id, v) in &rebuilt {
        let rec = set.index.record(*id);
        if rec.map(|r| (r.size, r.sha256)) != Some((v.size, v.sha256)) {
            return Err(bad(
                &set.name(*id),
                format!(
                    "the rebuilt volume ({} bytes, {}) does not match the index: the index was edited, or a volume that hashed right is not this set's; nothing was changed",
                    v.size, v.sha256
                ),
            ));
        }
    }
    for (id, v) in rebuilt {
        let to = set.path(id);
        v.file
            .persist(&to)
            .map_err(|e| Error::io_path("rename into", &to, e.error))?;
        let what = lost
            .iter()
            .find(|(l, _)| *l == id)
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        report.rebuilt.push((set.name(id), what));
    }
    drop(guards);
    Ok(report)
}
