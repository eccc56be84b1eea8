//! Stream plumbing under the archive reader: wrappers that tell input errors
//! from decoder errors and count tar bytes, the mapping of I/O errors to
//! integrity errors, bounded reads of small entries, and the end-of-archive
//! padding check.

use std::cell::Cell;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::rc::Rc;

use crate::error::{Error, IntegrityError};
use crate::model::limits;

/// Shared between the wrappers around the raw input and the tar stream.
#[derive(Default)]
pub(super) struct StreamState {
    pub(super) tar_pos: Cell<u64>,
    raw_error: Cell<bool>,
}

/// Marks errors that come from the input itself (not the decoder).
pub(super) struct RawInput<R> {
    pub(super) inner: R,
    pub(super) state: Rc<StreamState>,
}

impl<R: Read> Read for RawInput<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read(buf)
            .inspect_err(|_| self.state.raw_error.set(true))
    }
}

/// Counts tar bytes so the end-of-archive marker can be located.
pub(super) struct TarStream<R> {
    pub(super) inner: R,
    pub(super) state: Rc<StreamState>,
}

impl<R: Read> Read for TarStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.state.tar_pos.set(self.state.tar_pos.get() + n as u64);
        Ok(n)
    }
}

impl<R: Seek> Seek for TarStream<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let p = self.inner.seek(pos)?;
        self.state.tar_pos.set(p);
        Ok(p)
    }
}

/// Copies the tar stream, as read, to an optional writer (the serve spool
/// of a compressed archive). A write failure is marked as an input error.
pub(super) struct TarCopy<'w, R> {
    inner: R,
    out: Option<&'w mut dyn Write>,
    state: Rc<StreamState>,
}

impl<'w, R> TarCopy<'w, R> {
    pub(super) fn new(inner: R, out: Option<&'w mut dyn Write>, state: Rc<StreamState>) -> Self {
        TarCopy { inner, out, state }
    }
}

impl<R: Read> Read for TarCopy<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(out) = self.out.as_mut() {
            out.write_all(&buf[..n])
                .inspect_err(|_| self.state.raw_error.set(true))?;
        }
        Ok(n)
    }
}

/// An I/O error while reading the tar stream: a failing input stays an I/O
/// error; the decoder's complaints become truncation, limit or corruption.
pub(super) fn stream_error(e: io::Error, state: &StreamState, entry: Option<&str>) -> Error {
    if state.raw_error.get() {
        return Error::io("reading archive", e);
    }
    let msg = e.to_string();
    if e.kind() == io::ErrorKind::UnexpectedEof
        || msg.contains("incomplete frame")
        || msg.contains("entire block")
    {
        IntegrityError::Truncated {
            entry: entry.map(str::to_string),
        }
        .into()
    } else if msg.contains("memory") || msg.contains("window") {
        IntegrityError::DecompressionLimit(msg).into()
    } else {
        IntegrityError::Corrupt(msg).into()
    }
}

/// Read exactly `size` bytes of an entry whose size is already bounded.
pub(super) fn read_small<R: Read>(
    r: &mut R,
    size: u64,
    name: &str,
    state: &StreamState,
) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    r.take(size)
        .read_to_end(&mut buf)
        .map_err(|e| stream_error(e, state, Some(name)))?;
    if (buf.len() as u64) < size {
        return Err(IntegrityError::Truncated {
            entry: Some(name.to_string()),
        }
        .into());
    }
    Ok(buf)
}

pub(super) fn bounded(name: &str, size: u64, limit: u64) -> Result<(), IntegrityError> {
    if size > limit {
        return Err(IntegrityError::TooLarge {
            name: name.to_string(),
            size,
            limit,
        });
    }
    Ok(())
}

/// After the last entry (whose data ends at `end_of_last`): the
/// end-of-archive marker and nothing but a bounded run of zeros. Returns
/// the tar length.
pub(super) fn end_of_archive<R: Read>(
    mut rest: R,
    state: &StreamState,
    end_of_last: u64,
) -> Result<u64, Error> {
    if state.tar_pos.get() < end_of_last + 512 {
        return Err(IntegrityError::Truncated { entry: None }.into());
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut trailing = 0u64;
    loop {
        let n = match rest.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(stream_error(e, state, None)),
        };
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(IntegrityError::TrailingData.into());
        }
        trailing += n as u64;
        if trailing > limits::MAX_TRAILING_ZEROS {
            return Err(IntegrityError::DecompressionLimit(format!(
                "more than {} bytes of padding after the end of the archive",
                limits::MAX_TRAILING_ZEROS
            ))
            .into());
        }
    }
    if trailing < 512 {
        return Err(IntegrityError::Truncated { entry: None }.into());
    }
    Ok(state.tar_pos.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::compress;

    /// A state whose tar stream is at `pos`, with `end_of_last` just before.
    fn at(pos: u64) -> StreamState {
        let s = StreamState::default();
        s.tar_pos.set(pos);
        s
    }

    fn integrity(r: Result<impl std::fmt::Debug, Error>) -> IntegrityError {
        match r {
            Err(Error::Integrity(e)) => e,
            other => panic!("expected an integrity error, got {other:?}"),
        }
    }

    #[test]
    fn end_marker_and_some_padding_pass() {
        let state = at(1024 + 512);
        let tar_len = end_of_archive(&vec![0u8; 10 * 512][..], &state, 1024);
        assert_eq!(tar_len.ok(), Some(1536));
    }

    #[test]
    fn padding_up_to_the_limit_passes_and_one_byte_more_is_refused() {
        let state = at(512);
        let zeros = vec![0u8; limits::MAX_TRAILING_ZEROS as usize + 1];
        let at_limit = &zeros[..limits::MAX_TRAILING_ZEROS as usize];
        assert_eq!(end_of_archive(at_limit, &state, 0).ok(), Some(512));
        assert!(matches!(
            integrity(end_of_archive(&zeros[..], &state, 0)),
            IntegrityError::DecompressionLimit(_)
        ));
    }

    #[test]
    fn non_zero_bytes_after_the_end_are_refused() {
        let state = at(512);
        let mut rest = vec![0u8; 2048];
        rest[1500] = 1;
        assert!(matches!(
            integrity(end_of_archive(&rest[..], &state, 0)),
            IntegrityError::TrailingData
        ));
    }

    #[test]
    fn a_missing_end_marker_is_truncation() {
        // The stream stopped right after the last entry's data.
        assert!(matches!(
            integrity(end_of_archive(&[][..], &at(1024), 1024)),
            IntegrityError::Truncated { entry: None }
        ));
        // One zero block read by tar, but not the second one.
        assert!(matches!(
            integrity(end_of_archive(&[0u8; 100][..], &at(1536), 1024)),
            IntegrityError::Truncated { entry: None }
        ));
    }

    #[test]
    fn small_reads_must_be_complete() {
        let state = StreamState::default();
        let got = read_small(&mut &b"abcdef"[..], 4, "x", &state);
        assert_eq!(got.ok(), Some(b"abcd".to_vec()));
        assert!(matches!(
            integrity(read_small(&mut &b"ab"[..], 4, "x", &state)),
            IntegrityError::Truncated { entry: Some(n) } if n == "x"
        ));
    }

    #[test]
    fn bounded_refuses_only_above_the_limit() {
        assert!(bounded("x", 10, 10).is_ok());
        assert!(matches!(
            bounded("x", 11, 10),
            Err(IntegrityError::TooLarge {
                size: 11,
                limit: 10,
                ..
            })
        ));
    }

    #[test]
    fn input_errors_stay_io_errors() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk gone"))
            }
        }
        let state = Rc::new(StreamState::default());
        let mut raw = RawInput {
            inner: Failing,
            state: state.clone(),
        };
        let e = raw.read(&mut [0u8; 4]).unwrap_err();
        let mapped = stream_error(e, &state, None);
        assert!(matches!(mapped, Error::Io { .. }), "{mapped:?}");
    }

    #[test]
    fn a_zstd_window_above_the_limit_is_a_decompression_limit() {
        // A frame that declares a 2^30 window (no content size, so the
        // header keeps the window) is refused by the bounded decoder.
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        enc.include_contentsize(false).unwrap();
        enc.long_distance_matching(true).unwrap();
        enc.window_log(30).unwrap();
        std::io::Write::write_all(&mut enc, &[7u8; 4096]).unwrap();
        let frame = enc.finish().unwrap();
        let state = Rc::new(StreamState::default());
        let raw = RawInput {
            inner: &frame[..],
            state: state.clone(),
        };
        let mut dec = compress::decoder(std::io::BufReader::new(raw)).unwrap();
        let e = dec.read_to_end(&mut Vec::new()).unwrap_err();
        let mapped = stream_error(e, &state, None);
        assert!(
            matches!(
                &mapped,
                Error::Integrity(IntegrityError::DecompressionLimit(_))
            ),
            "{mapped:?}"
        );
    }
}
