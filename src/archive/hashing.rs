//! How the reader hashes layer data: streamed in chunks to a worker pool,
//! or, for a plain tar file, as byte ranges the workers read themselves.
//! Results arrive out of order; each is compared with the expected digest.

use std::io::{self, Read};

use crate::model::progress::Progress;

use super::hashpool::{HashPool, RegionHasher, RegionResult, CHUNK};
use super::input::{stream_error, StreamState};
use crate::error::{Error, IntegrityError};
use crate::model::Digest;

pub(super) enum Hashing {
    /// No layer yet (a stream pool starts with the first one).
    None,
    Stream(HashPool),
    Regions(RegionHasher),
}

impl Hashing {
    /// Hash one layer of `size` bytes whose data starts at `offset` in the
    /// tar (regions) or is the rest of `entry` (stream). Mismatches found
    /// so far are reported now; the rest by [`Hashing::finish`].
    #[allow(clippy::too_many_arguments)]
    pub(super) fn layer<R: Read>(
        &mut self,
        workers: usize,
        digest: Digest,
        name: &str,
        size: u64,
        offset: u64,
        entry: &mut R,
        state: &StreamState,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        if let Hashing::Regions(r) = self {
            if !r.submit(offset, size, digest) {
                return Err(Error::io(
                    "hashing",
                    io::Error::other("hash worker stopped"),
                ));
            }
            for result in r.ready() {
                region_result(result, name)?;
            }
            return Ok(());
        }
        if matches!(self, Hashing::None) {
            *self = Hashing::Stream(HashPool::new(workers));
        }
        let Hashing::Stream(pool) = self else {
            return Err(Error::io("hashing", io::Error::other("hash pool missing")));
        };
        let worker = pool.begin();
        let mut remaining = size;
        while remaining > 0 {
            let mut buf = pool.buffer();
            let want = remaining.min(CHUNK as u64);
            let got = entry
                .take(want)
                .read_to_end(&mut buf)
                .map_err(|e| stream_error(e, state, Some(name)))?;
            if got == 0 {
                return Err(IntegrityError::Truncated {
                    entry: Some(name.into()),
                }
                .into());
            }
            remaining -= got as u64;
            progress.inc(got as u64);
            if !pool.send(worker, buf) {
                return Err(Error::io(
                    "hashing",
                    io::Error::other("hash worker stopped"),
                ));
            }
        }
        pool.end(worker, digest);
        for (expected, actual) in pool.ready() {
            mismatch(expected, actual)?;
        }
        Ok(())
    }

    /// Wait for every layer handed in; the first mismatch (by digest) wins.
    pub(super) fn finish(self) -> Result<(), Error> {
        match self {
            Hashing::None => {}
            Hashing::Stream(pool) => {
                let mut results = pool.finish();
                results.sort();
                for (expected, actual) in results {
                    mismatch(expected, actual)?;
                }
            }
            Hashing::Regions(r) => {
                let mut results = r.finish();
                results.sort_by_key(|(d, _)| *d);
                for result in results {
                    region_result(result, "")?;
                }
            }
        }
        Ok(())
    }
}

/// `name` is the entry being read, or empty after the last one (the blob
/// path is named then).
fn region_result((expected, actual): RegionResult, name: &str) -> Result<(), Error> {
    match actual {
        Ok(actual) => Ok(mismatch(expected, actual)?),
        Err(io::ErrorKind::UnexpectedEof) => Err(IntegrityError::Truncated {
            entry: Some(if name.is_empty() {
                expected.blob_path()
            } else {
                name.to_string()
            }),
        }
        .into()),
        Err(kind) => Err(Error::io(
            format!("reading blob {expected}"),
            io::Error::from(kind),
        )),
    }
}

pub(super) fn mismatch(expected: Digest, actual: Digest) -> Result<(), IntegrityError> {
    if expected != actual {
        return Err(IntegrityError::DigestMismatch {
            expected: expected.to_string(),
            actual: actual.hex(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::progress::NoProgress;
    use std::io::Write;
    use std::sync::Arc;

    fn stream(data: &[u8], expected: Digest, size: u64) -> Result<(), Error> {
        let mut h = Hashing::None;
        let state = StreamState::default();
        h.layer(
            2,
            expected,
            "blobs/sha256/x",
            size,
            0,
            &mut &data[..],
            &state,
            &NoProgress,
        )?;
        h.finish()
    }

    #[test]
    fn a_streamed_layer_with_its_digest_passes() {
        let data = vec![5u8; CHUNK + 100];
        assert!(stream(&data, Digest::of(&data), data.len() as u64).is_ok());
    }

    #[test]
    fn a_streamed_layer_with_another_digest_is_refused() {
        let data = vec![5u8; 1000];
        let e = stream(&data, Digest::of(b"other"), 1000).unwrap_err();
        assert!(
            matches!(e, Error::Integrity(IntegrityError::DigestMismatch { .. })),
            "{e:?}"
        );
    }

    #[test]
    fn a_short_streamed_layer_is_truncated() {
        let data = vec![5u8; 1000];
        let e = stream(&data, Digest::of(&data), 2000).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Integrity(IntegrityError::Truncated { entry: Some(_) })
            ),
            "{e:?}"
        );
    }

    fn regions(file_data: &[u8], jobs: &[(u64, u64, Digest)]) -> Result<(), Error> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(file_data).unwrap();
        let mut h = Hashing::Regions(RegionHasher::new(2, Arc::new(f), NoProgress.share()));
        let state = StreamState::default();
        for &(offset, size, digest) in jobs {
            h.layer(
                1,
                digest,
                "",
                size,
                offset,
                &mut io::empty(),
                &state,
                &NoProgress,
            )?;
        }
        h.finish()
    }

    #[test]
    fn file_regions_are_hashed_in_place() {
        let data: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        let a = Digest::of(&data[..1000]);
        let b = Digest::of(&data[1000..]);
        assert!(regions(&data, &[(0, 1000, a), (1000, 3096, b)]).is_ok());
        let e = regions(&data, &[(0, 1000, b)]).unwrap_err();
        assert!(
            matches!(e, Error::Integrity(IntegrityError::DigestMismatch { .. })),
            "{e:?}"
        );
    }

    #[test]
    fn a_region_past_the_end_of_the_file_names_the_blob() {
        let d = Digest::of(b"never");
        let e = regions(&[0u8; 100], &[(50, 100, d)]).unwrap_err();
        match e {
            Error::Integrity(IntegrityError::Truncated { entry: Some(n) }) => {
                assert_eq!(n, d.blob_path())
            }
            other => panic!("{other:?}"),
        }
    }
}
