//! Opening a volume set: find `NAME.volumes.json` from any of its files,
//! read and check the index, then check the files against it (present,
//! right size, nothing extra) before a byte of the archive is read.

use std::path::{Path, PathBuf};

use super::index::{self, VolumeId, VolumeIndex, VolumeRecord};
use crate::error::{Error, IntegrityError, IoContext};
use crate::model::limits;

const INDEX_SUFFIX: &str = ".volumes.json";

/// A volume set whose index was read and checked.
#[derive(Debug, Clone)]
pub struct VolumeSet {
    /// `dir/NAME`: volumes are `dir/NAME.001`…, parity `dir/NAME.p01`….
    pub base: PathBuf,
    pub index_path: PathBuf,
    pub index: VolumeIndex,
}

/// One problem with one file of the set.
#[derive(Debug, Clone)]
pub struct Problem {
    pub id: VolumeId,
    pub name: String,
    pub what: String,
}

/// The index file of the set `path` belongs to: `path` itself when it is a
/// `*.volumes.json`, `NAME.volumes.json` beside a `NAME.001`/`NAME.p01`
/// that has one, or beside a `NAME` that does not exist (the unsplit name).
/// `None`: `path` is not part of a volume set.
pub fn locate(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    if name.ends_with(INDEX_SUFFIX) {
        return Some(path.to_path_buf());
    }
    if !path.exists() {
        let index = path.with_file_name(format!("{name}{INDEX_SUFFIX}"));
        if index.is_file() {
            return Some(index);
        }
    }
    let (stem, suffix) = name.rsplit_once('.')?;
    index::parse_suffix(suffix)?;
    let index = path.with_file_name(format!("{stem}{INDEX_SUFFIX}"));
    index.is_file().then_some(index)
}

impl VolumeSet {
    /// Read and check the index at `index_path` (see [`locate`]).
    pub fn open(index_path: &Path) -> Result<VolumeSet, Error> {
        let file_name = index_path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let Some(stem) = file_name.strip_suffix(INDEX_SUFFIX) else {
            return Err(Error::Usage(format!(
                "{} is not a volume index (NAME{INDEX_SUFFIX})",
                index_path.display()
            )));
        };
        let f = std::fs::File::open(index_path).at("open volume index", index_path)?;
        let bytes = limits::read_at_most(f, index::MAX_INDEX_BYTES)
            .at("read volume index", index_path)?
            .ok_or_else(|| bad(file_name, "the volume index is larger than 1 MiB".into()))?;
        let index = VolumeIndex::parse(&bytes, file_name)?;
        Ok(VolumeSet {
            base: index_path.with_file_name(stem),
            index_path: index_path.to_path_buf(),
            index,
        })
    }

    pub fn path(&self, id: VolumeId) -> PathBuf {
        let mut s = self.base.as_os_str().to_owned();
        s.push(".");
        s.push(index::volume_suffix(id));
        PathBuf::from(s)
    }

    /// The file name of a volume, for messages.
    pub fn name(&self, id: VolumeId) -> String {
        self.path(id)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn index_name(&self) -> String {
        self.index_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Every volume with its expected record: data first, then parity.
    pub fn all(&self) -> Vec<(VolumeId, &VolumeRecord)> {
        let data = self
            .index
            .volumes
            .iter()
            .enumerate()
            .map(|(i, r)| (VolumeId::Data(i + 1), r));
        let parity = self
            .index
            .parity
            .iter()
            .flat_map(|p| p.volumes.iter().enumerate())
            .map(|(i, r)| (VolumeId::Parity(i + 1), r));
        data.chain(parity).collect()
    }

    /// Files that are missing or of the wrong size, without reading them.
    pub fn size_problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        for (id, rec) in self.all() {
            let path = self.path(id);
            let what = match std::fs::metadata(&path) {
                Err(_) => "is missing".to_string(),
                Ok(m) if !m.is_file() => "is not a regular file".to_string(),
                Ok(m) if m.len() < rec.size => format!(
                    "is truncated: {} bytes, the index says {}",
                    m.len(),
                    rec.size
                ),
                Ok(m) if m.len() > rec.size => format!(
                    "is too long: {} bytes, the index says {}",
                    m.len(),
                    rec.size
                ),
                Ok(_) => continue,
            };
            out.push(Problem {
                id,
                name: self.name(id),
                what,
            });
        }
        out
    }

    /// Files named like volumes of this set that the index does not list
    /// (a stale or foreign volume, or an index that lost an entry).
    pub fn extra_files(&self) -> Vec<String> {
        let dir = match self.base.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Some(stem) = self.base.file_name().and_then(|n| n.to_str()) else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut extra: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| {
                let Some(suffix) = n.strip_prefix(stem).and_then(|r| r.strip_prefix('.')) else {
                    return false;
                };
                match index::parse_suffix(suffix) {
                    Some(id) => self.index.record(id).is_none(),
                    // Four or more digits also look like a volume.
                    None => suffix.len() > 3 && suffix.bytes().all(|b| b.is_ascii_digit()),
                }
            })
            .collect();
        extra.sort();
        extra
    }

    /// The structure check every reader runs first: every data volume is
    /// there with its size and nothing extra is. Parity volumes are not
    /// needed to read, so their problems are returned as warnings.
    pub fn check_files(&self) -> Result<Vec<String>, Error> {
        if let Some(name) = self.extra_files().into_iter().next() {
            return Err(bad(
                &name,
                format!(
                    "is not listed in {} ({} data volumes{}): an extra or foreign volume, or an edited index",
                    self.index_name(),
                    self.index.volumes.len(),
                    match self.index.parity_count() {
                        0 => String::new(),
                        n => format!(", {n} parity"),
                    }
                ),
            ));
        }
        let problems = self.size_problems();
        let (data, parity): (Vec<&Problem>, Vec<&Problem>) = problems
            .iter()
            .partition(|p| matches!(p.id, VolumeId::Data(_)));
        if let Some(first) = data.first() {
            let more = match data.len() {
                1 => String::new(),
                n => format!(" (and {} more data volume(s))", n - 1),
            };
            return Err(bad(
                &first.name,
                format!("{}{more}; {}", first.what, self.repair_hint(problems.len())),
            ));
        }
        Ok(parity
            .iter()
            .map(|p| {
                format!(
                    "parity volume {} {}; `airlock repair {}` rebuilds it",
                    p.name,
                    p.what,
                    self.index_path.display()
                )
            })
            .collect())
    }

    /// What the operator can do about `lost` bad volumes.
    pub fn repair_hint(&self, lost: usize) -> String {
        let parity = self.index.parity_count();
        if parity == 0 {
            "the set has no parity volumes; get the volume again".to_string()
        } else if lost <= parity {
            format!(
                "repairable with `airlock repair {}` ({parity} parity volume(s))",
                self.index_path.display()
            )
        } else {
            format!(
                "{lost} volumes are lost or damaged, more than the {parity} parity volume(s) can rebuild"
            )
        }
    }

    /// Which volume (data or parity) `path` is, by its name.
    pub fn id_of(&self, path: &Path) -> Option<VolumeId> {
        let name = path.file_name()?.to_str()?;
        let stem = self.base.file_name()?.to_str()?;
        let suffix = name.strip_prefix(stem)?.strip_prefix('.')?;
        let id = index::parse_suffix(suffix)?;
        self.index.record(id).map(|_| id)
    }
}

pub(crate) fn bad(name: &str, problem: String) -> Error {
    IntegrityError::BadVolume {
        name: name.to_string(),
        problem,
    }
    .into()
}
