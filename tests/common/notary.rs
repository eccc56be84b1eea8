//! A real Notary for tests: Debian's `notary-server` (memory storage, local
//! signing service) with TLS on a free loopback port (a throwaway CA made
//! with openssl, as the TLS registry uses), stopped by pid when dropped; and
//! the `notary` client signing against it, non-interactive through the
//! NOTARY_*_PASSPHRASE variables. `Notary::start()` returns None (skip)
//! when `notary-server`, `notary` or `openssl` are missing, and panics
//! instead when `CI` is set.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::registry::{free_port, have_tools, make_certs, wait_for_port};

pub struct Notary {
    child: Child,
    dir: tempfile::TempDir,
    pub url: String,
}

impl Drop for Notary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PASSPHRASES: [(&str, &str); 4] = [
    ("NOTARY_ROOT_PASSPHRASE", "root-pass"),
    ("NOTARY_TARGETS_PASSPHRASE", "targets-pass"),
    ("NOTARY_SNAPSHOT_PASSPHRASE", "snapshot-pass"),
    ("NOTARY_DELEGATION_PASSPHRASE", "delegation-pass"),
];

impl Notary {
    pub fn start() -> Option<Notary> {
        if !have_tools(&["notary-server", "notary", "openssl"]) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        make_certs(d);
        let port = free_port();
        let cfg = serde_json::json!({
            "server": {"http_addr": format!("127.0.0.1:{port}"),
                       "tls_cert_file": d.join("server.crt"), "tls_key_file": d.join("server.key")},
            "trust_service": {"type": "local", "key_algorithm": "ecdsa"},
            "storage": {"backend": "memory"},
            "logging": {"level": "error"}
        });
        std::fs::write(d.join("server.json"), cfg.to_string()).unwrap();
        let child = Command::new("notary-server")
            .arg("-config")
            .arg(d.join("server.json"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("server.log")).unwrap())
            .spawn()
            .unwrap();
        wait_for_port(port);
        Some(Notary {
            child,
            dir,
            url: format!("https://127.0.0.1:{port}"),
        })
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// The client's trust directory (docker's `~/.docker/trust`).
    pub fn trust_dir(&self) -> PathBuf {
        self.dir.path().join("trust")
    }

    /// Flags that make `airlock pack` fetch from this server.
    pub fn pack_flags(&self) -> Vec<String> {
        vec![
            "--notary-server".into(),
            self.url.clone(),
            "--notary-ca".into(),
            self.ca_file().display().to_string(),
        ]
    }

    /// Run the `notary` client; `stdin` answers its prompts.
    pub fn client(&self, args: &[&str], stdin: &str) -> String {
        let mut cmd = Command::new("notary");
        cmd.arg("-s")
            .arg(&self.url)
            .arg("-d")
            .arg(self.trust_dir())
            .arg("--tlscacert")
            .arg(self.ca_file())
            .args(args)
            .envs(PASSPHRASES)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        {
            use std::io::Write as _;
            let mut i = child.stdin.take().unwrap();
            let _ = i.write_all(stdin.as_bytes());
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "notary {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `notary init` + publish: a new GUN with repository keys.
    pub fn init(&self, gun: &str) {
        self.client(&["init", gun], "");
        self.client(&["publish", gun], "");
    }

    /// Sign `tag` = `bytes` (the manifest's exact bytes), in `role`
    /// (`None`: the repository's targets key), and publish.
    pub fn sign(&self, gun: &str, tag: &str, bytes: &[u8], role: Option<&str>) {
        let f = self.dir.path().join(format!("target-{tag}"));
        std::fs::write(&f, bytes).unwrap();
        let f = f.display().to_string();
        let mut args = vec!["add", gun, tag, &f];
        if let Some(r) = role {
            args.extend(["--roles", r]);
        }
        self.client(&args, "");
        self.client(&["publish", gun], "");
    }

    /// A signer: a P-256 key and self-signed certificate, its key imported
    /// into the client. Returns the certificate path.
    pub fn signer(&self, name: &str) -> PathBuf {
        let d = self.dir.path();
        let key = d.join(format!("{name}.key"));
        let crt = d.join(format!("{name}.crt"));
        let ok = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&crt)
            .args(["-days", "3", "-subj"])
            .arg(format!("/CN={name}"))
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success());
        self.client(
            &["key", "import", &key.display().to_string(), "--role", name],
            "",
        );
        crt
    }

    /// `notary delegation add GUN ROLE CERT --all-paths` + publish.
    pub fn delegate(&self, gun: &str, role: &str, cert: &Path) {
        let c = cert.display().to_string();
        self.client(&["delegation", "add", gun, role, &c, "--all-paths"], "");
        self.client(&["publish", gun], "");
    }

    /// The key IDs `notary delegation list` shows for `role`.
    pub fn delegation_keys(&self, gun: &str, role: &str) -> Vec<String> {
        let out = self.client(&["delegation", "list", gun], "");
        out.lines()
            .filter(|l| l.trim_start().starts_with(role))
            .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .filter(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect()
    }

    /// Revoke a signer: `notary delegation remove GUN ROLE KEYID` + publish.
    pub fn revoke(&self, gun: &str, role: &str, key_id: &str) {
        self.client(&["delegation", "remove", gun, role, key_id], "yes\n");
        self.client(&["publish", gun], "");
    }

    /// `notary key rotate GUN root` (signed by the old and the new root key).
    pub fn rotate_root(&self, gun: &str) {
        self.client(&["key", "rotate", gun, "root"], "yes\n");
    }

    /// The root.json the client pinned for `gun`, as docker keeps it under
    /// `~/.docker/trust/tuf/<GUN>/metadata/`.
    pub fn pinned_root(&self, gun: &str) -> PathBuf {
        self.trust_dir()
            .join("tuf")
            .join(gun)
            .join("metadata/root.json")
    }

    /// A copy of the pinned root now (it changes on rotation).
    pub fn save_root(&self, gun: &str, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::copy(self.pinned_root(gun), &p).unwrap();
        p
    }
}

/// A Notary repository forged with test keys (plain `ecdsa` keys, signed
/// over OLPC canonical JSON as Notary signs), for the bad inputs the
/// `notary` client will not produce: thresholds, unlisted keys, rotations
/// the old root did not sign.
pub mod forged {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine as _;
    use p256::ecdsa::{signature::Signer as _, Signature, SigningKey};
    use p256::pkcs8::EncodePublicKey as _;
    use serde::Serialize as _;
    use serde_json::{json, Value};
    use sha2::{Digest as _, Sha256};

    pub struct Key {
        sk: SigningKey,
        pub id: String,
        json: Value,
    }

    fn canonical(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        let mut ser =
            serde_json::Serializer::with_formatter(&mut out, olpc_cjson::CanonicalFormatter::new());
        v.serialize(&mut ser).unwrap();
        out
    }

    pub fn key() -> Key {
        let sk = SigningKey::random(&mut rand_core::OsRng);
        let der = sk.verifying_key().to_public_key_der().unwrap();
        let json = json!({"keytype": "ecdsa", "keyval": {"private": null, "public": B64.encode(der.as_bytes())}});
        let id = hex::encode(Sha256::digest(canonical(&json)));
        Key { sk, id, json }
    }

    pub fn envelope(signed: Value, signers: &[&Key]) -> Vec<u8> {
        let msg = canonical(&signed);
        let sigs: Vec<Value> = signers
            .iter()
            .map(|k| {
                let s: Signature = k.sk.sign(&msg);
                json!({"keyid": k.id, "method": "ecdsa", "sig": B64.encode(s.to_bytes())})
            })
            .collect();
        serde_json::to_vec(&json!({"signed": signed, "signatures": sigs})).unwrap()
    }

    fn meta(bytes: &[u8]) -> Value {
        json!({"hashes": {"sha256": B64.encode(Sha256::digest(bytes))}, "length": bytes.len()})
    }

    const FAR: &str = "2099-01-01T00:00:00Z";

    pub struct Repo {
        pub root_key: Key,
        pub targets_keys: Vec<Key>,
        pub snapshot: Key,
        pub timestamp: Key,
        /// When targets.json expires (default: 2099).
        pub targets_expires: &'static str,
    }

    impl Repo {
        pub fn new(n_targets: usize) -> Repo {
            Repo {
                root_key: key(),
                targets_keys: (0..n_targets).map(|_| key()).collect(),
                snapshot: key(),
                timestamp: key(),
                targets_expires: FAR,
            }
        }

        /// root.json `version` whose targets role needs `threshold` keys.
        pub fn root(&self, version: u64, threshold: u64, signers: &[&Key]) -> Vec<u8> {
            let mut keys = serde_json::Map::new();
            let all = [&self.root_key, &self.snapshot, &self.timestamp];
            for k in all.into_iter().chain(&self.targets_keys) {
                keys.insert(k.id.clone(), k.json.clone());
            }
            let targets: Vec<&str> = self.targets_keys.iter().map(|k| k.id.as_str()).collect();
            envelope(
                json!({"_type": "Root", "consistent_snapshot": false, "expires": FAR,
                    "version": version, "keys": keys,
                    "roles": {
                        "root": {"keyids": [self.root_key.id], "threshold": 1},
                        "targets": {"keyids": targets, "threshold": threshold},
                        "snapshot": {"keyids": [self.snapshot.id], "threshold": 1},
                        "timestamp": {"keyids": [self.timestamp.id], "threshold": 1}}}),
                signers,
            )
        }

        /// targets, snapshot, timestamp signing `tag` = `content`.
        pub fn rest(
            &self,
            root: &[u8],
            tag: &str,
            content: &[u8],
            signers: &[&Key],
        ) -> [Vec<u8>; 3] {
            let targets = envelope(
                json!({"_type": "Targets", "expires": self.targets_expires, "version": 2,
                    "delegations": {"keys": {}, "roles": []},
                    "targets": {tag: meta(content)}}),
                signers,
            );
            let snapshot = envelope(
                json!({"_type": "Snapshot", "expires": FAR, "version": 2,
                    "meta": {"root": meta(root), "targets": meta(&targets)}}),
                &[&self.snapshot],
            );
            let timestamp = envelope(
                json!({"_type": "Timestamp", "expires": FAR, "version": 2,
                    "meta": {"snapshot": meta(&snapshot)}}),
                &[&self.timestamp],
            );
            [targets, snapshot, timestamp]
        }
    }

    /// Put forged files into a `notary-trust` document.
    pub fn install(doc: &mut Value, roots: &[&[u8]], rest: &[Vec<u8>; 3]) {
        doc["roots"] = roots.iter().map(|r| json!(B64.encode(r))).collect();
        doc["targets"] = json!(B64.encode(&rest[0]));
        doc["snapshot"] = json!(B64.encode(&rest[1]));
        doc["timestamp"] = json!(B64.encode(&rest[2]));
        doc["delegations"] = json!({});
    }
}
