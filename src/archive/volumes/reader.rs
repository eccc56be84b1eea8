//! The reading side: one `Read` over the data volumes in order, which
//! checks each volume's size and sha256 as it ends, so a damaged, swapped
//! or foreign volume is named as such (not as whatever blob it broke), and
//! the check of one volume on its own (`verify --volume`).

use super::index::VolumeId;
use super::set::{bad, VolumeSet};
use crate::archive::stream_hash::BackgroundHashes;
use crate::error::{Error, IoContext};
use crate::model::progress::Progress;
use crate::model::Digest;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Reads the archive across the data volumes of a checked set.
pub struct VolumeReader<'a> {
    set: &'a VolumeSet,
    /// 0-based index of the volume being read.
    current: usize,
    file: Option<File>,
    remaining: u64,
    /// Each volume's sha256 on a thread of its own, so the reading thread
    /// only reads and the archive reader's layer hashing runs beside it.
    /// `None`: sizes only (see [`VolumeReader::sizes_only`]).
    hasher: Option<BackgroundHashes>,
    /// How many volumes' digests have come back and been compared.
    checked: usize,
    problem: Option<Error>,
}

impl<'a> VolumeReader<'a> {
    pub fn new(set: &'a VolumeSet) -> Self {
        VolumeReader {
            hasher: Some(BackgroundHashes::new(1)),
            ..VolumeReader::sizes_only(set)
        }
    }

    /// A reader that checks each volume's size but not its sha256: for
    /// unpack's second pass over a set that was just verified, which
    /// re-hashes every blob it copies.
    pub fn sizes_only(set: &'a VolumeSet) -> Self {
        VolumeReader {
            set,
            current: 0,
            file: None,
            remaining: 0,
            hasher: None,
            checked: 0,
            problem: None,
        }
    }

    /// The volume problem that stopped reading, if one did.
    pub fn take_problem(&mut self) -> Option<Error> {
        self.problem.take()
    }

    /// After the archive reader failed: was it because a volume is
    /// damaged? Reads the current volume to its end and waits for every
    /// volume's digest, so a flipped byte is reported as a damaged volume
    /// rather than as the blob it happened to hit.
    pub fn diagnose(&mut self) -> Option<Error> {
        if self.problem.is_none() && self.file.is_some() {
            let mut buf = vec![0u8; 1 << 16];
            while self.file.is_some() && self.problem.is_none() {
                if self.read_volume(&mut buf).is_err() {
                    break;
                }
            }
        }
        if self.problem.is_none() {
            let _ = self.check_digests(true);
        }
        self.take_problem()
    }

    /// Whether every data volume was read to its end and matched.
    pub fn complete(&self) -> bool {
        self.current == self.set.index.volumes.len()
            && self.problem.is_none()
            && self.hasher.as_ref().is_none_or(|h| h.pending(0) == 0)
    }

    fn fail(&mut self, name: String, what: String) -> io::Error {
        let hint = self.set.repair_hint(1);
        let e = bad(&name, format!("{what}; {hint}"));
        let msg = e.to_string();
        self.problem = Some(e);
        self.file = None;
        io::Error::new(io::ErrorKind::InvalidData, msg)
    }

    /// Compare the digests that came back (all outstanding ones with
    /// `wait`) with the index; the first mismatch stops reading.
    fn check_digests(&mut self, wait: bool) -> io::Result<()> {
        let Some(h) = self.hasher.as_mut() else {
            return Ok(());
        };
        let first = self.checked;
        let digests = h.take(0, wait)?;
        self.checked += digests.len();
        for (i, actual) in (first..).zip(digests) {
            let expected = self.set.index.volumes.get(i).map(|r| r.sha256);
            if expected != Some(actual) {
                let id = VolumeId::Data(i + 1);
                let what = mismatch_text(self.set, id, actual);
                return Err(self.fail(self.set.name(id), what));
            }
        }
        Ok(())
    }

    /// Read from the current volume (opening it first); at its end hand it
    /// to the hasher and move on.
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
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n])?;
        }
        self.remaining -= n as u64;
        if self.remaining == 0 {
            if let Some(h) = self.hasher.as_mut() {
                h.end(0)?;
            }
            self.file = None;
            self.current += 1;
        }
        Ok(n)
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
        self.check_digests(false)?;
        if self.current >= self.set.index.volumes.len() {
            // The end: every volume's digest must be in and right.
            self.check_digests(true)?;
            return Ok(0);
        }
        self.read_volume(buf)
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
    let (n, actual) = super::work::hash_file(&file, rec.size).at("read", path)?;
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

/// Check every data volume's sha256 against the index, several at once,
/// before a set is read by offset (where no volume "ends as it is read").
/// The first bad one is named, with how many are bad and whether parity
/// can rebuild them. `progress` counts each volume once checked, ahead of
/// the reading that follows, so its total becomes twice the archive's size.
pub fn check_data(set: &VolumeSet, progress: &dyn Progress) -> Result<(), Error> {
    progress.set_total(set.index.archive.size.saturating_mul(2));
    let ids: Vec<VolumeId> = (1..=set.index.volumes.len()).map(VolumeId::Data).collect();
    let found = super::work::map(&ids, super::work::cores(), |&id| {
        let checked = check_one(set, &set.path(id));
        if let Ok(v) = &checked {
            progress.inc(v.size);
        }
        checked.err()
    });
    let mut bad_ones = found.into_iter().flatten();
    let Some(first) = bad_ones.next() else {
        return Ok(());
    };
    let lost = 1 + bad_ones.count();
    Err(match first {
        Error::Integrity(crate::error::IntegrityError::BadVolume { name, problem }) => {
            bad(&name, format!("{problem}; {}", set.repair_hint(lost)))
        }
        other => other,
    })
}

/// Every volume of the set (data, then parity) with what is wrong with it,
/// if anything: each present file is hashed in full, several at once.
pub fn survey(set: &VolumeSet) -> Vec<(VolumeId, Option<String>)> {
    let ids: Vec<VolumeId> = set.all().into_iter().map(|(id, _)| id).collect();
    super::work::map(&ids, super::work::cores(), |&id| {
        let path = set.path(id);
        let problem = if !path.exists() {
            Some("is missing".to_string())
        } else {
            match check_one(set, &path) {
                Ok(_) => None,
                Err(Error::Integrity(crate::error::IntegrityError::BadVolume {
                    problem, ..
                })) => Some(problem),
                Err(e) => Some(e.to_string()),
            }
        };
        (id, problem)
    })
}
