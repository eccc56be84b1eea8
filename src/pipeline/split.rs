//! `pack --volume-size SIZE [--parity N]`: the archive stream cut into
//! volumes, then the parity volumes computed from the written volumes,
//! then the index. Every file is written under a temporary name (listed
//! for removal on interrupt) and renamed into place only when all of them
//! are complete and synced, the index last; any failure (a full disk)
//! leaves nothing behind.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::{output, outputs, public_file, PackResult};
use crate::archive::volumes::index::{
    self, ArchiveRecord, ParityRecord, VolumeId, VolumeIndex, VolumeRecord,
};
use crate::archive::volumes::parity::{self, Stripes};
use crate::archive::volumes::{VolumeSet, VolumeWriter, WrittenVolume};
use crate::archive::{self, WriteOptions};
use crate::error::{Error, IoContext};
use crate::model::progress::Progress;

/// How to split: `--volume-size` and `--parity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub volume_size: u64,
    pub parity: usize,
}

/// A volume set pack wrote.
#[derive(Debug, Clone)]
pub struct WrittenSet {
    pub index_path: PathBuf,
    pub index: VolumeIndex,
    /// Volume files of an earlier pack under the same name, removed
    /// (`--force`).
    pub removed: Vec<String>,
}

/// The temporary files of one pack, each listed for removal on interrupt
/// while it lives.
struct Temps {
    dir: PathBuf,
    guards: RefCell<Vec<outputs::Pending>>,
}

impl Temps {
    fn make(&self) -> io::Result<NamedTempFile> {
        let (t, guard) = outputs::create(|| {
            tempfile::Builder::new()
                .prefix(&crate::scratch::prefix("volume"))
                .permissions(public_file())
                .tempfile_in(&self.dir)
        })?;
        self.guards.borrow_mut().push(guard);
        Ok(t)
    }
}

fn record(n: usize, v: &WrittenVolume) -> VolumeRecord {
    VolumeRecord {
        index: u32::try_from(n).unwrap_or(u32::MAX),
        size: v.size,
        sha256: v.sha256,
    }
}

pub fn pack_volumes(
    output: &Path,
    split: Split,
    plan: &crate::archive::writer::Plan,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<PackResult, Error> {
    let dir = output::parent_dir(output);
    crate::scratch::sweep(&dir, "volume");
    let temps = Temps {
        dir: dir.clone(),
        guards: RefCell::new(Vec::new()),
    };
    let io_err = |e| Error::io("writing volumes in", e);
    let new_volume = |n: usize| {
        if n > index::MAX_DATA_VOLUMES {
            return Err(io::Error::other(format!(
                "the archive needs more than {} volumes of {} bytes; choose a larger --volume-size",
                index::MAX_DATA_VOLUMES,
                split.volume_size
            )));
        }
        temps.make()
    };
    let writer = VolumeWriter::new(split.volume_size, new_volume);
    let (written, writer) = archive::writer::write_plan(plan, writer, opts, progress)?;
    let (data, total, whole) = writer.finish().map_err(|e| io_err(e).with_dir(&dir))?;
    let records: Vec<VolumeRecord> = data
        .iter()
        .enumerate()
        .map(|(i, v)| record(i + 1, v))
        .collect();
    let parity_volumes = if split.parity > 0 {
        let files = data
            .iter()
            .map(|v| v.file.reopen())
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| io_err(e).with_dir(&dir))?;
        let sizes: Vec<u64> = data.iter().map(|v| v.size).collect();
        let geo = Stripes {
            sizes: &sizes,
            parity: split.parity,
            shard_bytes: index::shard_bytes_for(data.len(), split.parity),
        };
        let par =
            parity::encode(&geo, &files, |_| temps.make()).map_err(|e| io_err(e).with_dir(&dir))?;
        Some((geo.shard_bytes, par))
    } else {
        None
    };
    let index = VolumeIndex {
        media_type: index::MEDIA_TYPE.into(),
        format_version: index::FORMAT_VERSION,
        archive: ArchiveRecord {
            manifest_digest: written.manifest_digest,
            size: total,
            sha256: whole,
        },
        volume_size: split.volume_size,
        volumes: records,
        parity: parity_volumes.as_ref().map(|(shard, par)| ParityRecord {
            algorithm: index::PARITY_ALGORITHM.into(),
            shard_bytes: *shard,
            volumes: par
                .iter()
                .enumerate()
                .map(|(i, v)| record(i + 1, v))
                .collect(),
        }),
    };
    let index_path = index_path(output);
    let mut index_tmp = temps.make().at("create a temporary file in", &dir)?;
    io::Write::write_all(&mut index_tmp, &index.to_json()).at("write", index_tmp.path())?;
    index_tmp
        .as_file()
        .sync_all()
        .at("sync", index_tmp.path())?;

    // Everything is complete on disk: rename into place, the index last,
    // so a reader never finds an index whose volumes are not there yet.
    let stale = existing_volume_files(output);
    let set_paths = VolumeSet {
        base: output.to_path_buf(),
        index_path: index_path.clone(),
        index: index.clone(),
    };
    // Until the index is in place, an interrupt removes the renamed
    // volumes too: a set without its index is not left behind.
    let finals: Vec<PathBuf> = set_paths
        .all()
        .iter()
        .map(|(id, _)| set_paths.path(*id))
        .collect();
    let final_guards: Vec<_> = finals.iter().map(|p| outputs::register(p)).collect();
    // A set being replaced (--force) loses its index first: from here on no
    // index names volumes that are not its own.
    if index_path.exists() {
        std::fs::remove_file(&index_path).at("remove the old index", &index_path)?;
    }
    let renames = data
        .into_iter()
        .enumerate()
        .map(|(i, v)| (v.file, VolumeId::Data(i + 1)))
        .chain(
            parity_volumes
                .into_iter()
                .flat_map(|(_, p)| p)
                .enumerate()
                .map(|(i, v)| (v.file, VolumeId::Parity(i + 1))),
        );
    let mut renamed = Vec::new();
    for (file, id) in renames {
        let to = set_paths.path(id);
        if let Err(e) = persist(file, &to) {
            // Half a set without its index is worse than none: remove it.
            for p in &renamed {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
        renamed.push(to);
    }
    if let Err(e) = persist(index_tmp, &index_path) {
        for p in &renamed {
            let _ = std::fs::remove_file(p);
        }
        return Err(e);
    }
    drop(final_guards);
    let mut removed = Vec::new();
    for name in stale.iter().filter(|n| !n.ends_with(".volumes.json")) {
        let keep = name
            .rsplit_once('.')
            .and_then(|(_, s)| index::parse_suffix(s))
            .is_some_and(|id| index.record(id).is_some());
        if !keep && std::fs::remove_file(dir.join(name)).is_ok() {
            removed.push(name.clone());
        }
    }
    Ok(PackResult {
        written,
        archive_sha256: whole,
        archive_bytes: total,
        output: output.to_path_buf(),
        checksum_file: None,
        volumes: Some(WrittenSet {
            index_path,
            index,
            removed,
        }),
        delta: None,
    })
}

fn persist(tmp: NamedTempFile, to: &Path) -> Result<(), Error> {
    tmp.persist(to)
        .map(drop)
        .map_err(|e| Error::io_path("rename into", to, e.error))
}

/// `NAME.volumes.json` for the output `NAME`.
pub fn index_path(output: &Path) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(".volumes.json");
    PathBuf::from(s)
}

/// Files beside `output` that a volume set of that name would own:
/// `NAME.NNN`, `NAME.pNN`, `NAME.volumes.json`.
pub fn existing_volume_files(output: &Path) -> Vec<String> {
    let Some(stem) = output.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(output::parent_dir(output)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            n.strip_prefix(stem)
                .and_then(|r| r.strip_prefix('.'))
                .is_some_and(|s| {
                    s == "volumes.json"
                        || index::parse_suffix(s).is_some()
                        || (s.len() > 3 && s.bytes().all(|b| b.is_ascii_digit()))
                })
        })
        .collect();
    names.sort();
    names
}

trait WithDir {
    fn with_dir(self, dir: &Path) -> Error;
}

impl WithDir for Error {
    /// Name the directory the volumes go to in an I/O error.
    fn with_dir(self, dir: &Path) -> Error {
        match self {
            Error::Io { context, source } => Error::Io {
                context: format!("{context} {}", dir.display()),
                source,
            },
            other => other,
        }
    }
}
