//! SHA-256 of a byte stream on threads of their own, so the thread that
//! writes (pack: the archive and each volume) or reads (a volume set
//! streamed: each volume) only copies. Bytes are gathered into 1 MiB
//! pieces shared by every hashing thread; each thread's channel holds at
//! most 4 pieces, so memory stays flat whatever the archive. A digest is
//! closed with `end`; closed digests can be taken as soon as they are
//! ready (a reader naming a bad volume early) or all at `finish`.

use std::io::{self, Write};
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender, TryRecvError};
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
    handle: JoinHandle<()>,
    /// Each closed span's digest, as soon as it is computed.
    done: Receiver<Digest>,
    /// Spans closed (`End` sent) and digests taken from `done`.
    closed: usize,
    taken: usize,
}

impl HashThread {
    fn new() -> HashThread {
        let (tx, rx) = sync_channel::<Msg>(DEPTH);
        let (done_tx, done) = channel();
        let handle = std::thread::spawn(move || {
            let mut h = Sha256::new();
            for m in rx {
                match m {
                    Msg::Data(piece) => h.update(&piece[..]),
                    Msg::End => {
                        let d = Digest::from_bytes(h.finalize_reset().into());
                        if done_tx.send(d).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        HashThread {
            tx,
            handle,
            done,
            closed: 0,
            taken: 0,
        }
    }

    fn send(&self, m: Msg) -> io::Result<()> {
        self.tx
            .send(m)
            .map_err(|_| io::Error::other("a hashing thread stopped"))
    }

    /// Digests ready now; with `wait`, every closed span's.
    fn take(&mut self, wait: bool) -> io::Result<Vec<Digest>> {
        let mut out = Vec::new();
        while self.taken < self.closed {
            let got = match wait {
                true => self.done.recv().ok(),
                false => match self.done.try_recv() {
                    Ok(d) => Some(d),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => None,
                },
            };
            let d = got.ok_or_else(|| io::Error::other("a hashing thread failed"))?;
            self.taken += 1;
            out.push(d);
        }
        Ok(out)
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

    fn thread(&mut self, t: usize) -> io::Result<&mut HashThread> {
        self.threads
            .get_mut(t)
            .ok_or_else(|| io::Error::other("no such hashing thread"))
    }

    /// Close digest `t`'s current span.
    pub fn end(&mut self, t: usize) -> io::Result<()> {
        self.flush()?;
        let thread = self.thread(t)?;
        thread.send(Msg::End)?;
        thread.closed += 1;
        Ok(())
    }

    /// Spans of digest `t` closed whose digest is not taken yet.
    pub fn pending(&self, t: usize) -> usize {
        self.threads.get(t).map_or(0, |h| h.closed - h.taken)
    }

    /// Digest `t`'s closed spans not taken yet, in order: those ready now,
    /// or with `wait` all of them.
    pub fn take(&mut self, t: usize, wait: bool) -> io::Result<Vec<Digest>> {
        self.thread(t)?.take(wait)
    }

    /// Every closed span of every digest not taken yet, in order.
    pub fn finish(mut self) -> io::Result<Vec<Vec<Digest>>> {
        self.flush()?;
        let spans = self
            .threads
            .iter_mut()
            .map(|t| t.take(true))
            .collect::<io::Result<Vec<_>>>()?;
        for t in self.threads {
            drop(t.tx);
            t.handle
                .join()
                .map_err(|_| io::Error::other("a hashing thread failed"))?;
        }
        Ok(spans)
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
        // Spans can be taken as they close; finish gives the rest.
        let mut h = BackgroundHashes::new(1);
        h.update(&data[..1_500_000]).unwrap();
        h.end(0).unwrap();
        assert_eq!(h.pending(0), 1);
        assert_eq!(h.take(0, true).unwrap(), [Digest::of(&data[..1_500_000])]);
        assert_eq!((h.pending(0), h.take(0, false).unwrap().len()), (0, 0));
        h.update(&data[1_500_000..]).unwrap();
        h.end(0).unwrap();
        assert_eq!(h.finish().unwrap(), [[Digest::of(&data[1_500_000..])]]);
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
