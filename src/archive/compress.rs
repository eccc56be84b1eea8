//! zstd on both sides. Writing uses a fixed worker count so the compressed
//! bytes do not depend on the machine; reading detects zstd by its magic
//! number and bounds the window so a crafted frame cannot demand gigabytes.

use std::io::{self, BufRead, Read, Write};

use crate::model::limits;

pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// zstd level used when packing; 3 is zstd's default speed/ratio balance.
pub const LEVEL: i32 = 3;

/// Worker threads of the zstd encoder; constant for byte-identical output.
const WORKERS: u32 = 2;

pub fn encoder<W: Write>(w: W) -> io::Result<zstd::stream::write::Encoder<'static, W>> {
    let mut enc = zstd::stream::write::Encoder::new(w, LEVEL)?;
    enc.multithread(WORKERS)?;
    enc.include_checksum(true)?;
    Ok(enc)
}

/// What the first bytes of an input say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Zstd,
    Gzip,
}

/// A reader that yields the sniffed bytes again, then the rest.
pub type Replayed<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

/// Read the first bytes to learn the compression, and hand back a reader
/// that still yields them.
pub fn sniff<R: Read>(mut r: R) -> io::Result<(Compression, Replayed<R>)> {
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let head = &head[..n];
    let kind = if head.starts_with(&ZSTD_MAGIC) {
        Compression::Zstd
    } else if head.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else {
        Compression::None
    };
    Ok((kind, io::Cursor::new(head.to_vec()).chain(r)))
}

/// Whether an archive's first 4 bytes are neither zstd's nor gzip's: a
/// plain tar, which can be read by offset.
pub fn is_plain(head: &[u8]) -> bool {
    head.len() >= 4 && !head.starts_with(&ZSTD_MAGIC) && !head.starts_with(&GZIP_MAGIC)
}

pub fn decoder<'a, R: BufRead + 'a>(r: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut dec = zstd::stream::read::Decoder::with_buffer(r)?;
    dec.window_log_max(limits::ZSTD_WINDOW_LOG_MAX)?;
    Ok(Box::new(dec))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zstd frame of a few bytes whose header asks for a 2^`log` window
    /// (no content size, so the window descriptor is written).
    fn frame_with_window_log(log: u32) -> Vec<u8> {
        let mut enc = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        enc.include_contentsize(false).unwrap();
        enc.window_log(log).unwrap();
        enc.write_all(b"hello, window").unwrap();
        enc.finish().unwrap()
    }

    fn decode(frame: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decoder(frame)?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn a_window_at_the_limit_decodes_and_one_step_over_is_refused() {
        let at = frame_with_window_log(limits::ZSTD_WINDOW_LOG_MAX);
        assert_eq!(decode(&at).unwrap(), b"hello, window");
        let over = frame_with_window_log(limits::ZSTD_WINDOW_LOG_MAX + 1);
        assert!(decode(&over).is_err());
    }
}
