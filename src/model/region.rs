//! A blob inside a larger file, read by position.

use std::io::{self, Read};

/// A blob inside a larger file (an archive's tar): `len` bytes from
/// `offset`, by positional reads, so many blobs share one open file.
pub struct Region {
    file: std::sync::Arc<std::fs::File>,
    pos: u64,
    left: u64,
}

impl Region {
    pub fn new(file: std::sync::Arc<std::fs::File>, offset: u64, len: u64) -> Self {
        Region {
            file,
            pos: offset,
            left: len,
        }
    }
}

impl Read for Region {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt as _;
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}
