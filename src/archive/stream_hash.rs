//! SHA-256 of the bytes an archive writer emits, on threads of their own,
//! so the writing thread only copies and writes. Bytes are gathered into
//! 1 MiB pieces shared by every hashing thread; each thread's channel
//! holds at most 4 pieces, so memory stays flat whatever the archive.

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use sha2::{Digest as _, Sha256};

use crate::model::Digest;

const PIECE: usize = 1 << 20;
/// Pieces queued per hashing thread: enough to ride out a slow write,
/// little enough to keep pack within its memory bound.
const DEPTH: usize = 4;

enum Msg {
    Data(Arc<Vec<u8>>),
    /// Close one digest: the bytes since the previous `End`.
    End,
}

struct HashThread {
    tx: SyncSender<Msg>,
    handle: JoinHandle<Vec<Digest>>,
}

impl HashThread {
    fn new() -> HashThread {
        let (tx, rx) = sync_channel::<Msg>(DEPTH);
        let handle = std::thread::spawn(move || {
            let mut h = Sha256::new();
            let mut done = Vec::new();
            for m in rx {
                match m {
                    Msg::Data(piece) => h.update(&piece[..]),
                    Msg::End => done.push(Digest::from_bytes(h.finalize_reset().into())),
                }
            }
            done
        });
        HashThread { tx, handle }
    }

    fn send(&self, m: Msg) -> io::Result<()> {
        self.tx
            .send(m)
            .map_err(|_| io::Error::other("a hashing thread stopped"))
    }
}

/// `n` running digests over the same bytes, each closed on its own (the
/// whole archive, and each volume as it ends).
pub struct BackgroundHashes {
    threads: Vec<HashThread>,
    piece: Vec<u8>,
}

impl BackgroundHashes {
    pub fn new(n: usize) -> BackgroundHashes {
        BackgroundHashes {
            threads: (0..n).map(|_| HashThread::new()).collect(),
            piece: Vec::with_capacity(PIECE),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.piece.is_empty() {
            return Ok(());
        }
        let piece = Arc::new(std::mem::replace(
            &mut self.piece,
            Vec::with_capacity(PIECE),
        ));
        for t in &self.threads {
            t.send(Msg::Data(piece.clone()))?;
        }
        Ok(())
    }

    pub fn update(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.piece.extend_from_slice(bytes);
        if self.piece.len() >= PIECE {
            self.flush()?;
        }
        Ok(())
    }

    /// Close digest `t`'s current span.
    pub fn end(&mut self, t: usize) -> io::Result<()> {
        self.flush()?;
        match self.threads.get(t) {
            Some(thread) => thread.send(Msg::End),
            None => Err(io::Error::other("no such hashing thread")),
        }
    }

    /// Every closed span of every digest, in order.
    pub fn finish(mut self) -> io::Result<Vec<Vec<Digest>>> {
        self.flush()?;
        self.threads
            .into_iter()
            .map(|t| {
                drop(t.tx);
                t.handle
                    .join()
                    .map_err(|_| io::Error::other("a hashing thread failed"))
            })
            .collect()
    }
}

/// A `Write` that passes everything to `inner` and hashes it beside.
pub struct HashingWriter<W> {
    inner: W,
    hashes: BackgroundHashes,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hashes: BackgroundHashes::new(1),
            written: 0,
        }
    }

    /// Flush, and return the writer, how many bytes went through and
    /// their sha256.
    pub fn finish(mut self) -> io::Result<(W, u64, Digest)> {
        self.inner.flush()?;
        self.hashes.end(0)?;
        let digest = self.hashes.finish()?.into_iter().flatten().next();
        let digest = digest.ok_or_else(|| io::Error::other("a hashing thread failed"))?;
        Ok((self.inner, self.written, digest))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hashes.update(&buf[..n])?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_the_whole_are_hashed_beside_the_writer() {
        let data: Vec<u8> = (0..3_000_001u32).map(|i| (i % 251) as u8).collect();
        let mut h = BackgroundHashes::new(2);
        h.update(&data[..1_500_000]).unwrap();
        h.end(1).unwrap();
        h.update(&data[1_500_000..]).unwrap();
        h.end(1).unwrap();
        h.end(0).unwrap();
        let got = h.finish().unwrap();
        assert_eq!(got[0], [Digest::of(&data)]);
        assert_eq!(
            got[1],
            [
                Digest::of(&data[..1_500_000]),
                Digest::of(&data[1_500_000..])
            ]
        );
        let mut w = HashingWriter::new(Vec::new());
        for chunk in data.chunks(77_777) {
            w.write_all(chunk).unwrap();
        }
        let (out, n, d) = w.finish().unwrap();
        assert_eq!(
            (out.len() as u64, n, d),
            (data.len() as u64, data.len() as u64, Digest::of(&data))
        );
    }
}
