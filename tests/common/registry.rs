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
use base64::Engine as _;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde_json::json;

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

fn wait_for_port(port: u16) {
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
        let mut cfg = ClientConfig {
            protocol: if self.tls {
                ClientProtocol::Https
            } else {
                ClientProtocol::Http
            },
            ..ClientConfig::default()
        };
        if self.tls {
            cfg.extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data: std::fs::read(self.ca_file()).unwrap(),
            });
        }
        let auth = if self.tls {
            RegistryAuth::Basic(USER.into(), PASSWORD.into())
        } else {
            RegistryAuth::Anonymous
        };
        Pusher {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: Client::new(cfg),
            auth,
            host: self.host.clone(),
        }
    }
}

fn make_certs(d: &Path) {
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

/// Pushes raw content with oci-client (blocking wrappers).
pub struct Pusher {
    rt: tokio::runtime::Runtime,
    client: Client,
    auth: RegistryAuth,
    pub host: String,
}

impl Pusher {
    fn reference(&self, repo: &str, tag_or_digest: &str) -> Reference {
        if tag_or_digest.starts_with("sha256:") {
            Reference::with_digest(self.host.clone(), repo.into(), tag_or_digest.into())
        } else {
            Reference::with_tag(self.host.clone(), repo.into(), tag_or_digest.into())
        }
    }

    fn authed(&self, r: &Reference) {
        self.rt
            .block_on(self.client.auth(r, &self.auth, RegistryOperation::Push))
            .unwrap();
    }

    pub fn blob(&self, repo: &str, bytes: &[u8]) -> Digest {
        let d = Digest::of(bytes);
        let r = self.reference(repo, "latest");
        self.authed(&r);
        self.rt
            .block_on(self.client.push_blob(&r, bytes.to_vec(), &d.to_string()))
            .unwrap();
        d
    }

    /// Push a manifest or index under a tag (or by digest with `None`).
    pub fn manifest(
        &self,
        repo: &str,
        tag: Option<&str>,
        bytes: &[u8],
        media_type: &str,
    ) -> Digest {
        let d = Digest::of(bytes);
        let r = self.reference(repo, tag.unwrap_or(&d.to_string()));
        self.authed(&r);
        self.rt
            .block_on(self.client.push_manifest_raw(
                &r,
                bytes.to_vec(),
                media_type.parse().unwrap(),
            ))
            .unwrap();
        d
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
        let blob = |d: &str| {
            std::fs::read(
                layout
                    .join("blobs/sha256")
                    .join(d.trim_start_matches("sha256:")),
            )
            .unwrap()
        };
        let bytes = blob(digest);
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        if let Some(ms) = v["manifests"].as_array() {
            for m in ms {
                self.push_layout(
                    layout,
                    m["digest"].as_str().unwrap(),
                    m["mediaType"].as_str().unwrap(),
                    repo,
                    None,
                );
            }
        } else {
            let mut parts = vec![v["config"].clone()];
            parts.extend(v["layers"].as_array().cloned().unwrap_or_default());
            for p in parts {
                self.blob(repo, &blob(p["digest"].as_str().unwrap()));
            }
        }
        self.manifest(repo, tag, &bytes, media_type)
    }

    /// A cosign `.sig` for `subject`: simple-signing payload layer with the
    /// signature annotation, under tag `sha256-<hex>.sig`. Returns its digest.
    pub fn cosign_signature(
        &self,
        repo: &str,
        subject: &Digest,
        sign: &dyn Fn(&[u8]) -> Vec<u8>,
    ) -> Digest {
        let payload = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{}/{repo}"}},"image":{{"docker-manifest-digest":"{subject}"}},"type":"cosign container image signature"}},"optional":null}}"#,
            self.host
        );
        let sig = base64::engine::general_purpose::STANDARD.encode(sign(payload.as_bytes()));
        self.artifact(
            repo,
            Some(&format!("sha256-{}.sig", subject.hex())),
            None,
            None,
            "application/vnd.dev.cosign.simplesigning.v1+json",
            payload.as_bytes(),
            Some(json!({"dev.cosignproject.cosign/signature": sig})),
        )
    }

    /// A cosign `.sbom` (SPDX JSON) for `subject`.
    pub fn cosign_sbom(&self, repo: &str, subject: &Digest) -> Digest {
        let sbom = json!({"spdxVersion": "SPDX-2.3", "name": subject.to_string()}).to_string();
        self.artifact(
            repo,
            Some(&format!("sha256-{}.sbom", subject.hex())),
            None,
            None,
            "text/spdx+json",
            sbom.as_bytes(),
            None,
        )
    }

    /// An OCI 1.1 referrer of `subject` with `artifact_type`, pushed by
    /// digest, and listed in the referrers tag-schema index `sha256-<hex>`
    /// (rewritten to hold every referrer pushed through here so far).
    pub fn referrer(
        &self,
        repo: &str,
        subject: (&Digest, &str, u64),
        artifact_type: &str,
        content: &[u8],
        listed: &mut Vec<serde_json::Value>,
    ) -> Digest {
        let d = self.artifact(
            repo,
            None,
            Some(subject),
            Some(artifact_type),
            artifact_type,
            content,
            None,
        );
        let bytes = self.manifest_bytes_len(repo, &d);
        listed.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": d.to_string(),
            "size": bytes,
            "artifactType": artifact_type,
        }));
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": listed,
        })
        .to_string();
        self.manifest(
            repo,
            Some(&format!("sha256-{}", subject.0.hex())),
            index.as_bytes(),
            "application/vnd.oci.image.index.v1+json",
        );
        d
    }

    fn manifest_bytes_len(&self, repo: &str, d: &Digest) -> u64 {
        let r = self.reference(repo, &d.to_string());
        let (b, _) = self
            .rt
            .block_on(self.client.pull_manifest_raw(
                &r,
                &self.auth,
                &["application/vnd.oci.image.manifest.v1+json"],
            ))
            .unwrap();
        b.len() as u64
    }

    #[allow(clippy::too_many_arguments)]
    fn artifact(
        &self,
        repo: &str,
        tag: Option<&str>,
        subject: Option<(&Digest, &str, u64)>,
        artifact_type: Option<&str>,
        layer_type: &str,
        content: &[u8],
        annotations: Option<serde_json::Value>,
    ) -> Digest {
        let layer = self.blob(repo, content);
        let (config_type, config) = if artifact_type.is_some() {
            ("application/vnd.oci.empty.v1+json", b"{}".to_vec())
        } else {
            let c = json!({
                "architecture": "", "os": "", "config": {},
                "created": "0001-01-01T00:00:00Z",
                "rootfs": {"type": "layers", "diff_ids": [layer.to_string()]},
            });
            (
                "application/vnd.oci.image.config.v1+json",
                c.to_string().into_bytes(),
            )
        };
        let config_d = self.blob(repo, &config);
        let mut layer_desc =
            json!({"mediaType": layer_type, "digest": layer.to_string(), "size": content.len()});
        if let Some(a) = annotations {
            layer_desc["annotations"] = a;
        }
        let mut m = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": config_type, "digest": config_d.to_string(), "size": config.len()},
            "layers": [layer_desc],
        });
        if let Some(at) = artifact_type {
            m["artifactType"] = json!(at);
        }
        if let Some((d, mt, size)) = subject {
            m["subject"] = json!({"mediaType": mt, "digest": d.to_string(), "size": size});
        }
        self.manifest(
            repo,
            tag,
            m.to_string().as_bytes(),
            "application/vnd.oci.image.manifest.v1+json",
        )
    }
}

/// A TCP relay to `target` that cuts its first connection once it has
/// relayed `cut_after` bytes from the server, once; later connections pass.
pub struct FlakyProxy {
    pub port: u16,
    pub cuts: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl FlakyProxy {
    pub fn start(target: u16, cut_after: u64) -> FlakyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cuts = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let armed = Arc::new(AtomicBool::new(true));
        let (c2, s2) = (cuts.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let (armed, cuts) = (armed.clone(), c2.clone());
                let (mut c_r, mut s_w) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_r, &mut s_w);
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
        FlakyProxy { port, cuts, stop }
    }
}
