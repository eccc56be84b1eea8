//! The reading side: one `Read` over the data volumes in order, which
//! checks each volume's size and sha256 as it ends, so a damaged, swapped
//! or foreign volume is named as such (not as whatever blob it broke), and
//! the check of one volume on its own (`verify --volume`).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::index::VolumeId;
use super::set::{bad, VolumeSet};
use crate::error::{Error, IoContext};
use crate::model::Digest;

/// Reads the archive across the data volumes of a checked set.
pub struct VolumeReader<'a> {
    set: &'a VolumeSet,
    /// 0-based index of the volume being read.
    current: usize,
    file: Option<File>,
    remaining: u64,
    hasher: Sha256,
    problem: Option<Error>,
    /// Hash each volume (off only for a second pass over a set that was
    /// just verified, whose every blob is re-hashed anyway).
    check_hashes: bool,
}

impl<'a> VolumeReader<'a> {
    pub fn new(set: &'a VolumeSet) -> Self {
        VolumeReader {
            set,
            current: 0,
            file: None,
            remaining: 0,
            hasher: Sha256::new(),
            problem: None,
            check_hashes: true,
        }
    }

    /// A reader that checks each volume's size but not its sha256: for
    /// unpack's second pass, which re-hashes every blob it copies.
    pub fn sizes_only(set: &'a VolumeSet) -> Self {
        VolumeReader {
            check_hashes: false,
            ..VolumeReader::new(set)
        }
    }

    /// The volume problem that stopped reading, if one did.
    pub fn take_problem(&mut self) -> Option<Error> {
        self.problem.take()
    }

    /// After the archive reader failed: was it because the volume being
    /// read is damaged? Reads that volume to its end and checks it, so a
    /// flipped byte is reported as a damaged volume rather than as the blob
    /// it happened to hit.
    pub fn diagnose(&mut self) -> Option<Error> {
        if self.problem.is_none() && self.file.is_some() {
            let mut buf = vec![0u8; 1 << 16];
            while self.file.is_some() && self.problem.is_none() {
                if self.read_volume(&mut buf).is_err() {
                    break;
                }
            }
        }
        self.take_problem()
    }

    /// Whether every data volume was read to its end and matched.
    pub fn complete(&self) -> bool {
        self.current == self.set.index.volumes.len() && self.problem.is_none()
    }

    fn fail(&mut self, name: String, what: String) -> io::Error {
        let hint = self.set.repair_hint(1);
        let e = bad(&name, format!("{what}; {hint}"));
        let msg = e.to_string();
        self.problem = Some(e);
        self.file = None;
        io::Error::new(io::ErrorKind::InvalidData, msg)
    }

    /// Read from the current volume (opening it first); at its end check it.
    fn read_volume(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let id = VolumeId::Data(self.current + 1);
        let name = self.set.name(id);
        let Some(rec) = self.set.index.volumes.get(self.current) else {
            return Ok(0);
        };
        if self.file.is_none() {
            match File::open(self.set.path(id)) {
                Ok(f) => self.file = Some(f),
                Err(e) => return Err(self.fail(name, format!("cannot be opened: {e}"))),
            }
            self.remaining = rec.size;
            self.hasher = Sha256::new();
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = match self.file.as_mut().map(|f| f.read(&mut buf[..want])) {
            Some(Ok(n)) => n,
            Some(Err(e)) => return Err(e),
            None => return Ok(0),
        };
        if n == 0 && want > 0 {
            let got = rec.size - self.remaining;
            return Err(self.fail(
                name,
                format!("is truncated: ended after {got} of {} bytes", rec.size),
            ));
        }
        if self.check_hashes {
            self.hasher.update(&buf[..n]);
        }
        self.remaining -= n as u64;
        if self.remaining == 0 {
            let actual = Digest::from_bytes(std::mem::take(&mut self.hasher).finalize().into());
            if self.check_hashes && actual != rec.sha256 {
                let what = self.mismatch(id, actual);
                return Err(self.fail(name, what));
            }
            self.file = None;
            self.current += 1;
        }
        Ok(n)
    }

    /// Why volume `id` hashed to `actual`: another volume of this set
    /// (swapped, renamed, duplicated), or nothing the index knows.
    fn mismatch(&self, id: VolumeId, actual: Digest) -> String {
        mismatch_text(self.set, id, actual)
    }
}

pub(crate) fn mismatch_text(set: &VolumeSet, id: VolumeId, actual: Digest) -> String {
    let other = set
        .all()
        .into_iter()
        .find(|(other, r)| *other != id && r.sha256 == actual);
    match other {
        Some((other, _)) => format!(
            "holds the content of {} (volumes swapped, renamed or duplicated)",
            set.name(other)
        ),
        None => format!(
            "its sha256 is {actual}, not the index's: the volume is damaged or from another archive (or the index was edited)"
        ),
    }
}

impl Read for VolumeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(p) = &self.problem {
            return Err(io::Error::new(io::ErrorKind::InvalidData, p.to_string()));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.current >= self.set.index.volumes.len() {
                return Ok(0);
            }
            let n = self.read_volume(buf)?;
            // A volume that just ended yields 0 only when it was empty;
            // move on to the next one.
            if n > 0 || self.current >= self.set.index.volumes.len() {
                return Ok(n);
            }
        }
    }
}

/// What `verify --volume` found for one file.
#[derive(Debug, Clone)]
pub struct OneVolume {
    pub id: VolumeId,
    pub name: String,
    pub size: u64,
    pub sha256: Digest,
    pub data_volumes: usize,
    pub parity_volumes: usize,
}

/// Check one volume (data or parity) on its own against the index: size
/// first, then sha256. The other volumes need not be present.
pub fn check_one(set: &VolumeSet, path: &Path) -> Result<OneVolume, Error> {
    let Some(id) = set.id_of(path) else {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Err(bad(
            &name,
            format!(
                "is not a volume listed in {} (names are NAME.001… and NAME.p01…)",
                set.index_name()
            ),
        ));
    };
    let Some(rec) = set.index.record(id) else {
        return Err(bad(&set.name(id), "is not in the index".into()));
    };
    let name = set.name(id);
    let file = File::open(path).at("open", path)?;
    let len = file.metadata().at("read", path)?.len();
    if len != rec.size {
        return Err(bad(
            &name,
            format!(
                "is {len} bytes; the index says {} ({})",
                rec.size,
                if len < rec.size {
                    "truncated"
                } else {
                    "too long"
                }
            ),
        ));
    }
    let mut hasher = Sha256::new();
    let n = io::copy(&mut file.take(rec.size), &mut hasher).at("read", path)?;
    let actual = Digest::from_bytes(hasher.finalize().into());
    if n != rec.size || actual != rec.sha256 {
        return Err(bad(&name, mismatch_text(set, id, actual)));
    }
    Ok(OneVolume {
        id,
        name,
        size: rec.size,
        sha256: actual,
        data_volumes: set.index.volumes.len(),
        parity_volumes: set.index.parity_count(),
    })
}

/// Every volume of the set (data, then parity) with what is wrong with it,
/// if anything: each present file is hashed in full.
pub fn survey(set: &VolumeSet) -> Vec<(VolumeId, Option<String>)> {
    set.all()
        .into_iter()
        .map(|(id, _)| {
            let path = set.path(id);
            let problem = if !path.exists() {
                Some("is missing".to_string())
            } else {
                match check_one(set, &path) {
                    Ok(_) => None,
                    Err(Error::Integrity(crate::error::IntegrityError::BadVolume {
                        problem,
                        ..
                    })) => Some(problem),
                    Err(e) => Some(e.to_string()),
                }
            };
            (id, problem)
        })
        .collect()
}
