//! Layers streamed from the registry into the archive writer while it
//! writes: no cache copy, so each byte is written once. The writer reads
//! the layers in archive order and asks for the next few ahead of time
//! ([`RemoteBlob::prefetch`]); each download fills a bounded window
//! ([`WINDOW`]) and waits for the writer to drain it, so memory is bounded
//! by the look-ahead (`--jobs`) times the window, whatever the blob sizes.
//! The writer hashes what it reads and refuses a wrong digest or size, so
//! nothing here is trusted.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use oci_client::{Client, Reference};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::transfer::{self, BlobSink};
use crate::error::Error;
use crate::model::image_set::RemoteBlob;
use crate::model::oci::DescriptorInfo;
use crate::registry_client::fail::Failure;

/// Bytes one download may hold that the writer has not read yet.
pub const WINDOW: usize = 2 << 20;

/// What every streamed layer of one pack shares: the client and the
/// runtime its downloads run on (kept alive until the last layer is gone).
pub(super) struct Streams {
    pub runtime: tokio::runtime::Runtime,
    pub client: Client,
    pub retries: u32,
    pub jobs: usize,
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streams").field("jobs", &self.jobs).finish()
    }
}

type Chunk = Result<(Bytes, OwnedSemaphorePermit), io::Error>;

/// One layer of one repository, fetched when the writer gets near it.
#[derive(Debug)]
pub(super) struct RemoteLayer {
    streams: Arc<Streams>,
    repo: Reference,
    desc: DescriptorInfo,
    /// The started download's receiving end, until the writer takes it.
    started: Mutex<Option<mpsc::UnboundedReceiver<Chunk>>>,
}

impl RemoteLayer {
    pub fn new(streams: Arc<Streams>, repo: Reference, desc: DescriptorInfo) -> Self {
        RemoteLayer {
            streams,
            repo,
            desc,
            started: Mutex::new(None),
        }
    }

    fn start(&self) -> mpsc::UnboundedReceiver<Chunk> {
        let (tx, rx) = mpsc::unbounded_channel();
        let client = self.streams.client.clone();
        let retries = self.streams.retries;
        let (repo, desc) = (self.repo.clone(), self.desc.clone());
        self.streams.runtime.spawn(async move {
            let mut sink = ToWriter {
                tx: tx.clone(),
                window: Arc::new(Semaphore::new(WINDOW)),
                sent: 0,
            };
            if let Err(e) = transfer::download(&client, &repo, &desc, retries, &[], &mut sink).await
            {
                // The writer may be gone already (it failed first).
                let _ = tx.send(Err(io::Error::other(e)));
            }
        });
        rx
    }
}

impl RemoteBlob for RemoteLayer {
    fn prefetch(&self) {
        if let Ok(mut started) = self.started.lock() {
            if started.is_none() {
                *started = Some(self.start());
            }
        }
    }

    fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        let taken = self.started.lock().ok().and_then(|mut s| s.take());
        let rx = taken.unwrap_or_else(|| self.start());
        Ok(Box::new(FromDownload { rx, chunk: None }))
    }

    fn lookahead(&self) -> usize {
        self.streams.jobs.max(1)
    }

    fn describe(&self) -> String {
        transfer::describe(&self.repo, &self.desc)
    }
}

/// The download's side: forwards each byte once, in order. After a
/// restart from zero (no Range support) it skips what was already sent;
/// should those bytes differ, the writer's digest check refuses the blob.
struct ToWriter {
    tx: mpsc::UnboundedSender<Chunk>,
    window: Arc<Semaphore>,
    sent: u64,
}

impl BlobSink for ToWriter {
    fn kept(&self) -> u64 {
        self.sent
    }

    async fn restart(&mut self) -> Result<(), Failure> {
        Ok(())
    }

    async fn put(&mut self, at: u64, mut bytes: Bytes) -> Result<(), Failure> {
        let end = at + bytes.len() as u64;
        if end <= self.sent {
            return Ok(());
        }
        if at < self.sent {
            bytes = bytes.slice(usize::try_from(self.sent - at).unwrap_or(0)..);
        }
        let n = u32::try_from(bytes.len().min(WINDOW)).unwrap_or(u32::MAX);
        let permit = Arc::clone(&self.window)
            .acquire_many_owned(n)
            .await
            .map_err(|_| gone())?;
        self.tx.send(Ok((bytes, permit))).map_err(|_| gone())?;
        self.sent = end;
        Ok(())
    }
}

/// The writer stopped reading (it failed elsewhere): stop downloading.
fn gone() -> Failure {
    Failure::Fatal(Error::Source("the archive writer stopped".into()))
}

/// The writer's side: a `Read` over the download's chunks. Time spent
/// waiting for the registry counts as `download` in `--timings`.
struct FromDownload {
    rx: mpsc::UnboundedReceiver<Chunk>,
    chunk: Option<(Bytes, OwnedSemaphorePermit)>,
}

impl Read for FromDownload {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some((bytes, _)) = &mut self.chunk {
                if !bytes.is_empty() {
                    let n = bytes.len().min(buf.len());
                    buf[..n].copy_from_slice(&bytes[..n]);
                    *bytes = bytes.slice(n..);
                    return Ok(n);
                }
            }
            // Dropping the drained chunk returns its room to the window.
            self.chunk = None;
            let waiting = std::time::Instant::now();
            let next = self.rx.blocking_recv();
            crate::model::timings::add("download", waiting.elapsed());
            match next {
                Some(Ok(chunk)) => self.chunk = Some(chunk),
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
    }
}
