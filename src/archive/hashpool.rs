//! SHA-256 on several cores: each layer goes whole to one worker (a digest
//! is sequential), consecutive layers to different workers. Chunks travel
//! through bounded queues and are recycled, so memory stays flat.

use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use sha2::{Digest as _, Sha256};

use super::positional::ReadAt;
use crate::model::progress::Progress;
use crate::model::Digest;

pub const CHUNK: usize = 1 << 20;
const QUEUE_DEPTH: usize = 4;

enum Msg {
    Data(Vec<u8>),
    End(Digest),
}

/// (expected, actual) for one finished blob.
pub type HashResult = (Digest, Digest);

pub struct HashPool {
    workers: Vec<(SyncSender<Msg>, JoinHandle<()>)>,
    results: Receiver<HashResult>,
    free: Receiver<Vec<u8>>,
    free_tx: Sender<Vec<u8>>,
    allocated: usize,
    max_buffers: usize,
    next: usize,
    pending: usize,
}

impl HashPool {
    pub fn new(workers: usize) -> Self {
        let workers = workers.max(1);
        let (res_tx, results) = channel();
        let (free_tx, free) = channel::<Vec<u8>>();
        let workers = (0..workers)
            .map(|_| {
                let (tx, rx) = sync_channel::<Msg>(QUEUE_DEPTH);
                let res_tx = res_tx.clone();
                let free_tx = free_tx.clone();
                let handle = std::thread::spawn(move || {
                    let mut hasher = Sha256::new();
                    for msg in rx {
                        match msg {
                            Msg::Data(buf) => {
                                let start = std::time::Instant::now();
                                hasher.update(&buf);
                                crate::model::timings::add("hash", start.elapsed());
                                let _ = free_tx.send(buf);
                            }
                            Msg::End(expected) => {
                                let actual = Digest::from_bytes(hasher.finalize_reset().into());
                                let _ = res_tx.send((expected, actual));
                            }
                        }
                    }
                });
                (tx, handle)
            })
            .collect::<Vec<_>>();
        let max_buffers = workers.len() * (QUEUE_DEPTH + 2);
        HashPool {
            workers,
            results,
            free,
            free_tx,
            allocated: 0,
            max_buffers,
            next: 0,
            pending: 0,
        }
    }

    /// An empty buffer of capacity `CHUNK`, reused when one is free.
    pub fn buffer(&mut self) -> Vec<u8> {
        if let Ok(mut b) = self.free.try_recv() {
            b.clear();
            return b;
        }
        if self.allocated < self.max_buffers {
            self.allocated += 1;
            return Vec::with_capacity(CHUNK);
        }
        match self.free.recv() {
            Ok(mut b) => {
                b.clear();
                b
            }
            // Unreachable while we hold free_tx; allocate rather than panic.
            Err(_) => Vec::with_capacity(CHUNK),
        }
    }

    /// Start a blob: returns the worker that will hash it.
    pub fn begin(&mut self) -> usize {
        let w = self.next % self.workers.len();
        self.next += 1;
        w
    }

    /// Returns false if the worker is gone (it never panics on input).
    pub fn send(&self, worker: usize, buf: Vec<u8>) -> bool {
        self.workers
            .get(worker)
            .is_some_and(|(tx, _)| tx.send(Msg::Data(buf)).is_ok())
    }

    pub fn end(&mut self, worker: usize, expected: Digest) -> bool {
        self.pending += 1;
        self.workers
            .get(worker)
            .is_some_and(|(tx, _)| tx.send(Msg::End(expected)).is_ok())
    }

    /// Results that are ready now, without waiting.
    pub fn ready(&mut self) -> Vec<HashResult> {
        let out: Vec<_> = self.results.try_iter().collect();
        self.pending -= out.len().min(self.pending);
        out
    }

    /// Wait for every blob handed in so far.
    pub fn finish(mut self) -> Vec<HashResult> {
        let mut out = Vec::with_capacity(self.pending);
        let workers = std::mem::take(&mut self.workers);
        let handles: Vec<_> = workers
            .into_iter()
            .map(|(tx, h)| {
                drop(tx);
                h
            })
            .collect();
        for h in handles {
            let _ = h.join();
        }
        drop(self.free_tx);
        out.extend(self.results.try_iter());
        out
    }
}

/// Hashing straight from a file (or joined volumes): workers read their
/// blob's byte range with positional reads while the main thread only parses headers,
/// so separate layers are hashed on separate cores with no buffering.
pub struct RegionHasher {
    jobs: Option<SyncSender<Region>>,
    results: Receiver<RegionResult>,
    handles: Vec<JoinHandle<()>>,
}

struct Region {
    offset: u64,
    size: u64,
    expected: Digest,
}

/// (expected, actual digest or the I/O error kind that stopped the read).
pub type RegionResult = (Digest, Result<Digest, std::io::ErrorKind>);

impl RegionHasher {
    pub fn new(
        workers: usize,
        file: std::sync::Arc<dyn ReadAt>,
        progress: std::sync::Arc<dyn Progress>,
    ) -> Self {
        let (job_tx, job_rx) = sync_channel::<Region>(64);
        let job_rx = std::sync::Arc::new(std::sync::Mutex::new(job_rx));
        let (res_tx, results) = channel();
        let handles = (0..workers.max(1))
            .map(|_| {
                let job_rx = job_rx.clone();
                let res_tx = res_tx.clone();
                let file = file.clone();
                let progress = progress.clone();
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; CHUNK];
                    loop {
                        let job = match job_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        let r = hash_region(&*file, job.offset, job.size, &mut buf, &*progress)
                            .and_then(|(n, d)| match n == job.size {
                                true => Ok(d),
                                false => Err(std::io::ErrorKind::UnexpectedEof.into()),
                            });
                        let _ = res_tx.send((job.expected, r.map_err(|e| e.kind())));
                    }
                })
            })
            .collect();
        RegionHasher {
            jobs: Some(job_tx),
            results,
            handles,
        }
    }

    pub fn submit(&self, offset: u64, size: u64, expected: Digest) -> bool {
        self.jobs.as_ref().is_some_and(|j| {
            j.send(Region {
                offset,
                size,
                expected,
            })
            .is_ok()
        })
    }

    pub fn ready(&self) -> Vec<RegionResult> {
        self.results.try_iter().collect()
    }

    pub fn finish(mut self) -> Vec<RegionResult> {
        self.jobs = None;
        for h in std::mem::take(&mut self.handles) {
            let _ = h.join();
        }
        self.results.try_iter().collect()
    }
}

/// The sha256 of `size` bytes of `file` from `offset` (fewer if the file
/// ends first), and how many bytes that was.
pub fn hash_region(
    file: &dyn ReadAt,
    offset: u64,
    size: u64,
    buf: &mut [u8],
    progress: &dyn Progress,
) -> std::io::Result<(u64, Digest)> {
    let mut hasher = Sha256::new();
    let mut pos = offset;
    let end = offset.saturating_add(size);
    while pos < end {
        let want = usize::try_from((end - pos).min(buf.len() as u64)).unwrap_or(buf.len());
        let got = file.read_at(&mut buf[..want], pos)?;
        if got == 0 {
            break;
        }
        let start = std::time::Instant::now();
        hasher.update(&buf[..got]);
        crate::model::timings::add("hash", start.elapsed());
        progress.inc(got as u64);
        pos += got as u64;
    }
    Ok((pos - offset, Digest::from_bytes(hasher.finalize().into())))
}
