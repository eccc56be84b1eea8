//! A small Rekor v1-compatible transparency log for tests and demos
//! (`airlock-test-rekor`). Real parts, not a mock: an RFC 6962 Merkle tree,
//! SETs signed as Rekor signs them (ECDSA P-256 over the RFC 8785 JSON of
//! `{body, integratedTime, logID, logIndex}`), checkpoints in the signed-note
//! format, hashedrekord v0.0.1 entries validated and canonicalised, and the
//! `/api/v1` response shapes of Rekor's OpenAPI description.
//!
//! Not supported: other entry kinds (intoto, dsse…), certificates in
//! hashedrekord entries, persistence, sharding. See docs/rekor.md.

mod http;
pub mod log;
pub mod merkle;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

pub use log::{Log, LogError};

/// A running server; stopped (and its thread joined) on drop.
pub struct RekorServer {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    thread: Option<JoinHandle<()>>,
}

impl RekorServer {
    /// Listen on `listen` (e.g. `127.0.0.1:0`) and serve `log` on a thread.
    pub fn start(listen: &str, log: Log) -> std::io::Result<Self> {
        let server = tiny_http::Server::http(listen).map_err(std::io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("not an IP listener"))?;
        let server = Arc::new(server);
        let log = Arc::new(Mutex::new(log));
        let (s, l) = (Arc::clone(&server), Arc::clone(&log));
        let thread = std::thread::spawn(move || {
            for req in s.incoming_requests() {
                http::handle(&l, req);
            }
        });
        Ok(RekorServer {
            server,
            addr,
            log,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, the base URL clients use.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The log, for test set-up (adding entries directly, fault injection).
    pub fn log(&self) -> MutexGuard<'_, Log> {
        // A poisoned lock only means a test thread panicked; the data is fine.
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Block until the server stops (the binary's main loop).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RekorServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
