//! The HTTP server: hyper's HTTP/1.1 connection driver on a private tokio
//! runtime, TLS through rustls (aws-lc-rs provider) when asked, a bounded
//! number of connections, header and handshake timeouts, and a graceful
//! stop once the `stop` flag is set (SIGINT/SIGTERM): no new connection is
//! accepted, requests in flight get a grace period to finish.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::respond::respond;
use super::Served;
use crate::error::{Error, IoContext};

/// One line per request, for `--log-requests` (the caller prints it).
pub type RequestLog = Arc<dyn Fn(&str) + Send + Sync>;

/// PEM files of the server certificate chain and its private key.
#[derive(Debug, Clone)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub tls: Option<Tls>,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Time a client has to send a request's headers (also between
    /// requests on a kept-alive connection) and to finish a TLS handshake.
    pub header_timeout: Duration,
    /// How long requests in flight may run on after a stop.
    pub grace: Duration,
    pub log: Option<RequestLog>,
}

impl Settings {
    pub fn new(listen: SocketAddr) -> Settings {
        Settings {
            listen,
            tls: None,
            max_connections: 64,
            header_timeout: Duration::from_secs(30),
            grace: Duration::from_secs(10),
            log: None,
        }
    }
}

/// Largest request head (request line and headers) read.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// A bound, not yet serving, server.
pub struct Server {
    listener: StdListener,
    tls: Option<TlsAcceptor>,
    settings: Settings,
}

fn tls_config(tls: &Tls) -> Result<rustls::ServerConfig, Error> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |flag: &str, path: &PathBuf, why: String| {
        Error::Usage(format!("{flag} {}: {why}", path.display()))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad("--tls-cert", &tls.cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("--tls-cert", &tls.cert, "no certificate in it".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| bad("--tls-key", &tls.key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Usage(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("--tls-key", &tls.key, e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

impl Server {
    /// Load the TLS material and bind the address (port 0 picks a free one).
    pub fn bind(settings: Settings) -> Result<Server, Error> {
        let tls = match &settings.tls {
            Some(t) => Some(TlsAcceptor::from(Arc::new(tls_config(t)?))),
            None => None,
        };
        let listener = StdListener::bind(settings.listen)
            .map_err(|e| Error::io(format!("listen on {}", settings.listen), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("listen", e))?;
        Ok(Server {
            listener,
            tls,
            settings,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.listener
            .local_addr()
            .map_err(|e| Error::io("listen", e))
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serve until `stop` is set; then stop gracefully.
    pub fn run(self, served: Arc<Served>, stop: Arc<AtomicBool>) -> Result<(), Error> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(self.settings.max_connections.max(4))
            .thread_name("airlock-serve")
            .enable_all()
            .build()
            .at("start the server runtime for", &served.archive)?;
        let r = rt.block_on(self.accept_loop(served, stop));
        // Downloads still running past the grace period are cut here.
        rt.shutdown_timeout(Duration::from_secs(1));
        r
    }

    async fn accept_loop(self, served: Arc<Served>, stop: Arc<AtomicBool>) -> Result<(), Error> {
        let listener = TcpListener::from_std(self.listener).map_err(|e| Error::io("listen", e))?;
        let slots = Arc::new(Semaphore::new(self.settings.max_connections.max(1)));
        let graceful = GracefulShutdown::new();
        let settings = Arc::new(self.settings);
        let poll = Duration::from_millis(100);
        while !stop.load(Ordering::SeqCst) {
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
                _ = tokio::time::sleep(poll) => continue,
            };
            let (tcp, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    // Out of descriptors and the like: wait, try again.
                    Err(_) => { tokio::time::sleep(poll).await; continue }
                },
                _ = tokio::time::sleep(poll) => continue,
            };
            let _ = tcp.set_nodelay(true);
            let st = served.clone();
            let set = settings.clone();
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let st = st.clone();
                let set = set.clone();
                async move {
                    let started = Instant::now();
                    let resp = respond(req.method(), req.uri(), req.headers(), &st);
                    if let Some(log) = &set.log {
                        log(&log_line(&req, &resp, peer, started));
                    }
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(settings.header_timeout)
                .max_buf_size(MAX_HEAD_BYTES)
                .keep_alive(true);
            match &self.tls {
                None => {
                    let conn = graceful.watch(http.serve_connection(TokioIo::new(tcp), service));
                    tokio::spawn(async move {
                        let _ = conn.await;
                        drop(permit);
                    });
                }
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    let timeout = settings.header_timeout;
                    // The handshake runs in its own task so a slow client
                    // cannot hold up the accept loop.
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    tokio::spawn(async move {
                        let tls = tokio::time::timeout(timeout, acceptor.accept(tcp)).await;
                        let _ = tx.send(match tls {
                            Ok(Ok(s)) => Some(s),
                            _ => None,
                        });
                    });
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        if let Ok(Some(stream)) = rx.await {
                            let conn = http.serve_connection(TokioIo::new(stream), service);
                            let _ = watcher.watch(conn).await;
                        }
                        drop(permit);
                    });
                }
            }
        }
        drop(listener);
        let _ = tokio::time::timeout(settings.grace, graceful.shutdown()).await;
        Ok(())
    }
}

fn log_line<B>(
    req: &hyper::Request<B>,
    resp: &hyper::Response<super::respond::Body>,
    peer: SocketAddr,
    started: Instant,
) -> String {
    let len = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    format!(
        "{peer} \"{} {}\" {} {len} {}ms",
        req.method(),
        req.uri(),
        resp.status().as_u16(),
        started.elapsed().as_millis()
    )
}
