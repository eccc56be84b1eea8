//! The writing side: a `Write` that cuts the archive byte stream into
//! volumes of a fixed size (a blob may span two), hashing each volume and
//! the whole stream as they pass (on threads of their own). The files come
//! from the caller (temporary files it lists for removal on interrupt) and
//! are only handed back; the caller renames them into place once
//! everything, parity included, is written.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use tempfile::NamedTempFile;

use crate::archive::stream_hash::BackgroundHashes;
use crate::model::Digest;

/// One finished volume, still under its temporary name.
pub struct WrittenVolume {
    pub file: NamedTempFile,
    pub size: u64,
    pub sha256: Digest,
}

struct Open {
    file: NamedTempFile,
    out: BufWriter<File>,
    size: u64,
}

/// Which of the background digests is which.
const WHOLE: usize = 0;
const VOLUME: usize = 1;

/// `F` makes the temporary file of volume `n` (1-based).
pub struct VolumeWriter<F> {
    volume_size: u64,
    new_file: F,
    open: Option<Open>,
    done: Vec<(NamedTempFile, u64)>,
    hashing: BackgroundHashes,
}

impl<F: FnMut(usize) -> io::Result<NamedTempFile>> VolumeWriter<F> {
    pub fn new(volume_size: u64, new_file: F) -> Self {
        VolumeWriter {
            volume_size,
            new_file,
            open: None,
            done: Vec::new(),
            hashing: BackgroundHashes::new(2),
        }
    }

    fn close_current(&mut self) -> io::Result<()> {
        let Some(mut v) = self.open.take() else {
            return Ok(());
        };
        // Synced in `finish`, all together: a sync here would stall the
        // writer while the kernel writes this volume out.
        v.out.flush()?;
        self.hashing.end(VOLUME)?;
        self.done.push((v.file, v.size));
        Ok(())
    }

    /// Close the last volume; returns the volumes in order, the archive's
    /// size and sha256. An empty stream makes no volume.
    pub fn finish(mut self) -> io::Result<(Vec<WrittenVolume>, u64, Digest)> {
        self.close_current()?;
        for (file, _) in &self.done {
            file.as_file().sync_all()?;
        }
        self.hashing.end(WHOLE)?;
        let mut spans = self.hashing.finish()?;
        let digests = std::mem::take(&mut spans[VOLUME]);
        let whole = spans[WHOLE].first().copied();
        let Some(whole) = whole.filter(|_| digests.len() == self.done.len()) else {
            return Err(io::Error::other("a hashing thread failed"));
        };
        let total = self.done.iter().map(|(_, size)| size).sum();
        let volumes = self
            .done
            .into_iter()
            .zip(digests)
            .map(|((file, size), sha256)| WrittenVolume { file, size, sha256 })
            .collect();
        Ok((volumes, total, whole))
    }
}

impl<F: FnMut(usize) -> io::Result<NamedTempFile>> Write for VolumeWriter<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self
            .open
            .as_ref()
            .is_some_and(|v| v.size == self.volume_size)
        {
            self.close_current()?;
        }
        if self.open.is_none() {
            let file = (self.new_file)(self.done.len() + 1)?;
            let out = BufWriter::with_capacity(1 << 20, file.as_file().try_clone()?);
            self.open = Some(Open { file, out, size: 0 });
        }
        let Some(v) = self.open.as_mut() else {
            return Err(io::Error::other("no open volume"));
        };
        let room = self.volume_size - v.size;
        let take = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = v.out.write(&buf[..take])?;
        v.size += n as u64;
        self.hashing.update(&buf[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.open.as_mut() {
            Some(v) => v.out.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_cut_at_fixed_sizes_and_joins_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = VolumeWriter::new(1000, |_| NamedTempFile::new_in(dir.path()));
        let data: Vec<u8> = (0..2500u32).map(|i| (i % 251) as u8).collect();
        for chunk in data.chunks(333) {
            w.write_all(chunk).unwrap();
        }
        let (vols, total, whole) = w.finish().unwrap();
        assert_eq!(total, 2500);
        assert_eq!(whole, Digest::of(&data));
        let sizes: Vec<u64> = vols.iter().map(|v| v.size).collect();
        assert_eq!(sizes, [1000, 1000, 500]);
        let mut joined = Vec::new();
        for v in &vols {
            let bytes = std::fs::read(v.file.path()).unwrap();
            assert_eq!(Digest::of(&bytes), v.sha256);
            joined.extend(bytes);
        }
        assert_eq!(joined, data);
    }

    #[test]
    fn an_exact_multiple_makes_no_empty_volume() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = VolumeWriter::new(100, |_| NamedTempFile::new_in(dir.path()));
        w.write_all(&[7u8; 200]).unwrap();
        let (vols, _, _) = w.finish().unwrap();
        assert_eq!(vols.len(), 2);
    }
}
