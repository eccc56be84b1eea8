//! A set's data volumes read as the one archive they make, by offset, so
//! the archive reader hashes layers on several cores as it does for a
//! single file, even where a layer spans volumes.

use std::fs::File;
use std::io;

use super::index::VolumeId;
use super::set::VolumeSet;
use crate::archive::positional::ReadAt;
use crate::error::{Error, IoContext};

pub struct Joined {
    /// Each data volume with the archive offset it starts at, in order.
    parts: Vec<(u64, u64, File)>,
}

impl Joined {
    pub fn open(set: &VolumeSet) -> Result<Joined, Error> {
        let mut start = 0u64;
        let mut parts = Vec::with_capacity(set.index.volumes.len());
        for (i, rec) in set.index.volumes.iter().enumerate() {
            let path = set.path(VolumeId::Data(i + 1));
            parts.push((start, rec.size, File::open(&path).at("open", &path)?));
            start += rec.size;
        }
        Ok(Joined { parts })
    }
}

impl ReadAt for Joined {
    /// Reads within one volume: a read that reaches a volume's end stops
    /// there, and the caller asks again for the rest.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let i = self.parts.partition_point(|(start, _, _)| *start <= offset);
        let Some((start, size, file)) = i.checked_sub(1).and_then(|i| self.parts.get(i)) else {
            return Ok(0);
        };
        let within = offset - start;
        if within >= *size {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(size - within).unwrap_or(usize::MAX));
        let n = file.read_at(&mut buf[..want], within)?;
        if n == 0 && want > 0 {
            // The index says this volume is longer (checked before reading).
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(n)
    }
}
