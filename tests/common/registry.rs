//! A real OCI registry for tests: Debian's `docker-registry` (CNCF
//! distribution 2.8) on a free loopback port, from a generated config.yml,
//! either plain HTTP or TLS (a throwaway test CA made with openssl) with
//! htpasswd (bcrypt) basic auth. Stopped by pid when dropped.
//!
//! Content is pushed with `oci-client` (the crate airlock pulls with), from
//! testkit OCI layouts or raw bytes, so manifests keep their exact digests.
//! Helpers push cosign-format evidence: a `.sig` with a simple-signing
//! payload, an SBOM, and an OCI 1.1 referrer with `subject` (plus the
//! referrers tag-schema index, since distribution 2.8 has no referrers API).
//!
//! Tests needing the registry call `Registry::plain()` / `Registry::secure()`,
//! which return None (skip) when `docker-registry`, `htpasswd` or `openssl`
//! are missing, and panic instead when `CI` is set.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock::model::Digest;
use airlock_testkit::cosign;
use airlock_testkit::publish::{Publisher, RegistryTarget};
use base64::Engine as _;

pub const USER: &str = "airlock";
pub const PASSWORD: &str = "s3cret-test-pass";

/// Whether `tool` runs; panics under CI when it does not.
pub fn have_tools(tools: &[&str]) -> bool {
    for t in tools {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {t}"))
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            if std::env::var_os("CI").is_some() {
                panic!("{t} is required when CI is set (run scripts/ensure-deps.sh)");
            }
            eprintln!("SKIPPED: {t} not installed");
            return false;
        }
    }
    true
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("registry on port {port} did not come up");
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// Plain HTTP, no auth (pack with `--insecure-registry HOST`).
    pub fn plain() -> Option<Registry> {
        Self::start(false)
    }

    /// TLS with a test CA (`ca_file()`) and htpasswd basic auth (USER/PASSWORD).
    pub fn secure() -> Option<Registry> {
        Self::start(true)
    }

    fn start(tls: bool) -> Option<Registry> {
        let mut tools = vec!["docker-registry"];
        if tls {
            tools.extend(["openssl", "htpasswd"]);
        }
        if !have_tools(&tools) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = free_port();
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            d.join("storage").display()
        );
        if tls {
            make_certs(d);
            let out = Command::new("htpasswd")
                .args(["-Bbn", USER, PASSWORD])
                .output()
                .unwrap();
            assert!(out.status.success());
            std::fs::write(d.join("htpasswd"), out.stdout).unwrap();
            cfg.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: airlock-test\n    path: {}\n",
                d.join("server.crt").display(),
                d.join("server.key").display(),
                d.join("htpasswd").display()
            ));
        }
        std::fs::write(d.join("config.yml"), cfg).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("registry.log")).unwrap())
            .spawn()
            .unwrap();
        wait_for_port(port);
        Some(Registry {
            child,
            dir,
            host: format!("127.0.0.1:{port}"),
            port,
            tls,
        })
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// The registry's storage file for a blob (to corrupt it in tests).
    pub fn blob_data_path(&self, d: &Digest) -> PathBuf {
        let hex = d.hex();
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(&hex)
            .join("data")
    }

    /// Flags that let `airlock pack` reach this registry (no credentials).
    pub fn pack_flags(&self) -> Vec<String> {
        if self.tls {
            vec!["--ca-file".into(), self.ca_file().display().to_string()]
        } else {
            vec!["--insecure-registry".into(), self.host.clone()]
        }
    }

    pub fn pusher(&self) -> Pusher {
        let target = RegistryTarget {
            host: self.host.clone(),
            insecure: !self.tls,
            ca_pem: self.tls.then(|| std::fs::read(self.ca_file()).unwrap()),
            credentials: self.tls.then(|| (USER.to_string(), PASSWORD.to_string())),
        };
        Pusher {
            inner: Publisher::connect(&target).unwrap(),
            host: self.host.clone(),
        }
    }
}

pub fn make_certs(d: &Path) {
    let ossl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(d));
    ossl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "3",
        "-subj",
        "/CN=airlock test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    ossl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    ossl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "3",
        "-extfile",
        "ext.cnf",
    ]);
}

/// The library's publisher, unwrapped for tests.
pub struct Pusher {
    inner: Publisher,
    pub host: String,
}

impl Pusher {
    pub fn blob(&self, repo: &str, bytes: &[u8]) -> Digest {
        self.inner.blob(repo, bytes).unwrap()
    }

    /// Push a manifest or index under a tag (or by digest with `None`).
    pub fn manifest(
        &self,
        repo: &str,
        tag: Option<&str>,
        bytes: &[u8],
        media_type: &str,
    ) -> Digest {
        self.inner.manifest(repo, tag, bytes, media_type).unwrap()
    }

    /// Push a testkit layout's manifest or index (and everything below it).
    pub fn push_layout(
        &self,
        layout: &Path,
        digest: &str,
        media_type: &str,
        repo: &str,
        tag: Option<&str>,
    ) -> Digest {
        self.inner
            .push_layout(layout, digest, media_type, repo, tag)
            .unwrap()
    }

    /// A cosign `.sig` for `subject` signed with `sign` (raw signature
    /// bytes), under tag `sha256-<hex>.sig`, not logged. Returns its digest.
    pub fn cosign_signature(
        &self,
        repo: &str,
        subject: &Digest,
        sign: &dyn Fn(&[u8]) -> Vec<u8>,
    ) -> Digest {
        let payload =
            cosign::simple_signing_payload(&subject.to_string(), &format!("{}/{repo}", self.host));
        let signature = base64::engine::general_purpose::STANDARD.encode(sign(&payload));
        let layer = cosign::SigLayer {
            payload,
            signature,
            bundle: None,
            certificate: None,
            chain: None,
        };
        self.inner
            .cosign_signature(repo, subject, &[layer])
            .unwrap()
    }

    /// A cosign `.att` for `subject`: SLSA provenance in a DSSE envelope
    /// signed by `key`, not logged.
    pub fn cosign_attestation(
        &self,
        repo: &str,
        subject: &Digest,
        key: &p256::ecdsa::SigningKey,
    ) -> Digest {
        let statement = cosign::provenance_statement(
            &format!("{}/{repo}", self.host),
            &subject.to_string(),
            "https://github.com/example/app",
            "refs/heads/main",
        );
        self.inner
            .cosign_attestation(
                repo,
                subject,
                &cosign::dsse_envelope(key, &statement),
                cosign::SLSA_PROVENANCE_02,
                None,
            )
            .unwrap()
    }

    /// A cosign `.sbom` (SPDX JSON) for `subject`.
    pub fn cosign_sbom(&self, repo: &str, subject: &Digest) -> Digest {
        self.inner.cosign_sbom(repo, subject).unwrap()
    }

    /// An OCI 1.1 referrer of `subject`, listed in the referrers tag-schema
    /// index `sha256-<hex>` (rewritten to hold every referrer in `listed`).
    pub fn referrer(
        &self,
        repo: &str,
        subject: (&Digest, &str, u64),
        artifact_type: &str,
        content: &[u8],
        listed: &mut Vec<serde_json::Value>,
    ) -> Digest {
        self.inner
            .referrer(repo, subject, artifact_type, content, listed)
            .unwrap()
    }
}

/// A TCP relay to `target` that cuts its first connection once it has
/// relayed `cut_after` bytes from the server, once; later connections pass.
pub struct FlakyProxy {
    pub port: u16,
    pub cuts: Arc<AtomicU64>,
    /// Bytes relayed from the server to clients, over all connections.
    pub relayed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copy requests, renaming a `Range` header to one the server ignores
/// (same length, so nothing else moves). Requests are small: a header
/// split across two reads does not happen on loopback.
fn copy_without_range(from: &mut TcpStream, to: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let data = &mut buf[..n];
        for i in 0..data.len().saturating_sub(8) {
            if data[i..i + 8].eq_ignore_ascii_case(b"\r\nrange:") {
                data[i + 2..i + 7].copy_from_slice(b"x-ign");
            }
        }
        to.write_all(data)?;
    }
}

impl FlakyProxy {
    pub fn start(target: u16, cut_after: u64) -> FlakyProxy {
        Self::start_with(target, cut_after, false)
    }

    /// Like [`FlakyProxy::start`], and hides every `Range` request header
    /// from the registry, so a resumed download is answered with the whole
    /// blob (200), as by a registry without Range support.
    pub fn start_without_range(target: u16, cut_after: u64) -> FlakyProxy {
        Self::start_with(target, cut_after, true)
    }

    fn start_with(target: u16, cut_after: u64, strip_range: bool) -> FlakyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cuts = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let armed = Arc::new(AtomicBool::new(true));
        let relayed = Arc::new(AtomicU64::new(0));
        let (c2, s2, r2) = (cuts.clone(), stop.clone(), relayed.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let (armed, cuts, relayed) = (armed.clone(), c2.clone(), r2.clone());
                let (mut c_r, mut s_w) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    if strip_range {
                        let _ = copy_without_range(&mut c_r, &mut s_w);
                    } else {
                        let _ = std::io::copy(&mut c_r, &mut s_w);
                    }
                    let _ = s_w.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let (mut s_r, mut c_w) = (server, client);
                    let mut buf = [0u8; 16 * 1024];
                    let mut sent = 0u64;
                    loop {
                        let n = match s_r.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if c_w.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        sent += n as u64;
                        relayed.fetch_add(n as u64, Ordering::SeqCst);
                        if sent > cut_after && armed.swap(false, Ordering::SeqCst) {
                            cuts.fetch_add(1, Ordering::SeqCst);
                            let _ = c_w.shutdown(std::net::Shutdown::Both);
                            let _ = s_r.shutdown(std::net::Shutdown::Both);
                            break;
                        }
                    }
                    let _ = c_w.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        FlakyProxy {
            port,
            cuts,
            relayed,
            stop,
        }
    }
}

/// One fault a [`FaultyProxy`] injects: requests whose method is `method`
/// (any when empty) and whose path contains `path_part` are answered with
/// `status` (and `Retry-After: 1`) for the first `times` of them.
#[derive(Clone)]
pub struct Fault {
    pub method: &'static str,
    pub path_part: &'static str,
    pub status: u16,
    pub times: u64,
}

/// An HTTP relay to `target` that injects [`Fault`]s. Every relayed
/// request is sent on with `Connection: close`, so each request comes on a
/// connection of its own and is seen here.
pub struct FaultyProxy {
    pub port: u16,
    /// How many requests were answered with a fault.
    pub injected: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The request head (through the blank line) and any bytes read past it.
fn read_head(c: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Some((String::from_utf8(buf).ok()?, rest));
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = c.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
}

impl FaultyProxy {
    pub fn start(target: u16, faults: Vec<Fault>) -> FaultyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let injected = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let left: Arc<Vec<AtomicU64>> =
            Arc::new(faults.iter().map(|f| AtomicU64::new(f.times)).collect());
        let (inj, st) = (injected.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut client) = conn else { continue };
                let (faults, left, inj) = (faults.clone(), left.clone(), inj.clone());
                std::thread::spawn(move || {
                    let Some((head, rest)) = read_head(&mut client) else {
                        return;
                    };
                    let mut words = head.split_whitespace();
                    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                    let hit = faults.iter().zip(left.iter()).find(|(f, n)| {
                        (f.method.is_empty() || f.method == method)
                            && path.contains(f.path_part)
                            && n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                                v.checked_sub(1)
                            })
                            .is_ok()
                    });
                    if let Some((f, _)) = hit {
                        inj.fetch_add(1, Ordering::SeqCst);
                        let _ = write!(
                            client,
                            "HTTP/1.1 {} Injected\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: 8\r\nConnection: close\r\n\r\ninjected",
                            f.status
                        );
                        let _ = client.shutdown(std::net::Shutdown::Write);
                        // Drain a request body so closing does not reset the answer.
                        let _ = client.set_read_timeout(Some(Duration::from_millis(500)));
                        let _ = std::io::copy(&mut client, &mut std::io::sink());
                        return;
                    }
                    let Ok(mut server) = TcpStream::connect(("127.0.0.1", target)) else {
                        return;
                    };
                    let mut relayed: String = head
                        .trim_end_matches("\r\n")
                        .split("\r\n")
                        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                        .map(|l| format!("{l}\r\n"))
                        .collect();
                    relayed.push_str("Connection: close\r\n\r\n");
                    if server.write_all(relayed.as_bytes()).is_err()
                        || server.write_all(&rest).is_err()
                    {
                        return;
                    }
                    let (mut c_r, mut s_w) =
                        (client.try_clone().unwrap(), server.try_clone().unwrap());
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut c_r, &mut s_w);
                    });
                    let _ = std::io::copy(&mut server, &mut client);
                    let _ = client.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        FaultyProxy {
            port,
            injected,
            stop,
        }
    }
}
