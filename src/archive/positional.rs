//! Archives read by offset: a file, or a volume set's files joined end to
//! end. The tar headers are parsed through a seeking cursor while hashing
//! workers read each layer's byte range themselves, on several cores.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// Bytes readable at any offset from several threads at once.
pub trait ReadAt: Send + Sync {
    /// Like `pread`: may return fewer bytes than asked, 0 at the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl ReadAt for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }
}

/// A `Read + Seek` cursor over a [`ReadAt`] of known length.
pub struct Cursor {
    src: Arc<dyn ReadAt>,
    len: u64,
    pos: u64,
}

impl Cursor {
    pub fn new(src: Arc<dyn ReadAt>, len: u64) -> Cursor {
        Cursor { src, len, pos: 0 }
    }
}

impl Read for Cursor {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.src.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Cursor {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| io::Error::other("seek out of range"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_reads_and_seeks_like_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        let mut c = Cursor::new(Arc::new(File::open(&p).unwrap()), 10);
        let mut b = [0u8; 3];
        c.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"012");
        assert_eq!(c.seek(SeekFrom::Current(4)).unwrap(), 7);
        c.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"789");
        assert_eq!(c.read(&mut b).unwrap(), 0);
        assert_eq!(c.seek(SeekFrom::End(-10)).unwrap(), 0);
        assert!(c.seek(SeekFrom::Current(-1)).is_err());
    }
}
