//! A small TUF repository built in test code, with test keys: metadata is
//! signed over TUF canonical JSON (sigstore-tuf's encoder, the bytes its
//! verifier checks) with ECDSA P-256 keys, exactly as sigstore-tuf's own
//! end-to-end tests build theirs. Plus a signed image layout whose cosign
//! signature's SET is by a test Rekor key that only the repository's
//! `trusted_root.json` target knows.

use std::path::{Path, PathBuf};

use airlock_testkit::{ImageSpec, Layout, Platform};
use p256::ecdsa::{signature::Signer as _, DerSignature, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::{cli, forge};

pub const FAR_FUTURE: &str = "2999-01-01T00:00:00Z";
pub const PAST: &str = "2001-01-01T00:00:00Z";
pub const IMAGE_REF: &str = "registry.example.org/team/app:1.0";

/// A TUF signing key with its declared key ID.
pub struct TufKey {
    pub sk: SigningKey,
    pub id: String,
    pub public: Value,
}

impl TufKey {
    pub fn new() -> Self {
        let sk = forge::key();
        let public = json!({
            "keytype": "ecdsa",
            "scheme": "ecdsa-sha2-nistp256",
            "keyval": { "public": forge::pem(&sk) },
        });
        let key: sigstore_tuf::Key = serde_json::from_value(public.clone()).unwrap();
        TufKey {
            id: key.key_id().unwrap(),
            sk,
            public,
        }
    }

    pub fn sign(&self, signed: &Value) -> Value {
        let canonical = sigstore_tuf::canonical_json::to_canonical_bytes(signed).unwrap();
        let sig: DerSignature = self.sk.sign(&canonical);
        json!({ "keyid": self.id, "sig": hex::encode(sig.as_bytes()) })
    }
}

impl Default for TufKey {
    fn default() -> Self {
        Self::new()
    }
}

/// `{"signed": …, "signatures": […]}`, pretty-printed as TUF repositories are.
pub fn envelope(signed: &Value, signers: &[&TufKey]) -> Vec<u8> {
    let sigs: Vec<Value> = signers.iter().map(|k| k.sign(signed)).collect();
    serde_json::to_vec_pretty(&json!({ "signed": signed, "signatures": sigs })).unwrap()
}

/// A root payload: `root_keys` with `threshold` for the root role, `online`
/// alone for timestamp, snapshot and targets.
pub fn root_signed(
    version: u64,
    expires: &str,
    root_keys: &[&TufKey],
    threshold: usize,
    online: &TufKey,
) -> Value {
    let mut keys = serde_json::Map::new();
    for k in root_keys.iter().chain(std::iter::once(&online)) {
        keys.insert(k.id.clone(), k.public.clone());
    }
    let root_ids: Vec<&str> = root_keys.iter().map(|k| k.id.as_str()).collect();
    let online_role = json!({ "keyids": [online.id], "threshold": 1 });
    json!({
        "_type": "root",
        "spec_version": "1.0.31",
        "version": version,
        "expires": expires,
        "consistent_snapshot": false,
        "keys": keys,
        "roles": {
            "root": { "keyids": root_ids, "threshold": threshold },
            "timestamp": online_role,
            "snapshot": online_role,
            "targets": online_role,
        },
    })
}

fn meta(bytes: &[u8], version: u64) -> Value {
    json!({
        "version": version,
        "length": bytes.len(),
        "hashes": { "sha256": hex::encode(Sha256::digest(bytes)) },
    })
}

/// Expiry of each top-level online role.
#[derive(Clone, Copy)]
pub struct Expiry<'a> {
    pub timestamp: &'a str,
    pub snapshot: &'a str,
    pub targets: &'a str,
}

pub const FRESH: Expiry<'static> = Expiry {
    timestamp: FAR_FUTURE,
    snapshot: FAR_FUTURE,
    targets: FAR_FUTURE,
};

/// targets (listing `listed` as trusted_root.json) → snapshot → timestamp,
/// each signed by `online`. Returns (timestamp, snapshot, targets).
pub fn online_roles(
    online: &TufKey,
    listed: &[u8],
    exp: Expiry<'_>,
) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let targets_signed = json!({
        "_type": "targets",
        "spec_version": "1.0.31",
        "version": 3,
        "expires": exp.targets,
        "targets": {
            "trusted_root.json": {
                "length": listed.len(),
                "hashes": { "sha256": hex::encode(Sha256::digest(listed)) },
            }
        },
    });
    let targets = envelope(&targets_signed, &[online]);
    let snapshot_signed = json!({
        "_type": "snapshot",
        "spec_version": "1.0.31",
        "version": 5,
        "expires": exp.snapshot,
        "meta": { "targets.json": meta(&targets, 3) },
    });
    let snapshot = envelope(&snapshot_signed, &[online]);
    let timestamp_signed = json!({
        "_type": "timestamp",
        "spec_version": "1.0.31",
        "version": 7,
        "expires": exp.timestamp,
        "meta": { "snapshot.json": meta(&snapshot, 5) },
    });
    let timestamp = envelope(&timestamp_signed, &[online]);
    (timestamp, snapshot, targets)
}

/// A TUF metadata directory as pack reads it.
pub struct TufFilesOut {
    pub roots: Vec<(u64, Vec<u8>)>,
    pub timestamp: Vec<u8>,
    pub snapshot: Vec<u8>,
    pub targets: Vec<u8>,
    pub trusted_root: Vec<u8>,
}

impl TufFilesOut {
    pub fn write(&self, dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        for (v, b) in &self.roots {
            std::fs::write(dir.join(format!("{v}.root.json")), b).unwrap();
        }
        std::fs::write(dir.join("timestamp.json"), &self.timestamp).unwrap();
        std::fs::write(dir.join("snapshot.json"), &self.snapshot).unwrap();
        std::fs::write(dir.join("targets.json"), &self.targets).unwrap();
        std::fs::write(dir.join("trusted_root.json"), &self.trusted_root).unwrap();
        dir.to_path_buf()
    }

    /// The same files as archive trust material (for archives pack would
    /// refuse to write).
    pub fn material(&self) -> airlock::source::trust::TrustMaterial {
        use airlock::model::manifest::EvidenceRole as R;
        use airlock::source::trust::{TrustItem, TrustMaterial};
        let mut items = vec![TrustItem::new(
            R::TrustRoot,
            "trusted_root.json",
            self.trusted_root.clone(),
        )];
        for (v, b) in &self.roots {
            items.push(TrustItem::new(
                R::TufRoot,
                format!("{v}.root.json"),
                b.clone(),
            ));
        }
        items.push(TrustItem::new(
            R::TufTimestamp,
            "timestamp.json",
            self.timestamp.clone(),
        ));
        items.push(TrustItem::new(
            R::TufSnapshot,
            "snapshot.json",
            self.snapshot.clone(),
        ));
        items.push(TrustItem::new(
            R::TufTargets,
            "targets.json",
            self.targets.clone(),
        ));
        TrustMaterial { items }
    }
}

/// Keys of a two-version repository: root v1 (three keys, threshold 2,
/// online key `online1`) rotated to root v2 (three new keys, threshold 2,
/// online key `online2`: only v2 can vouch for timestamp/snapshot/targets).
pub struct TufRepo {
    pub v1_keys: [TufKey; 3],
    pub v2_keys: [TufKey; 3],
    pub online1: TufKey,
    pub online2: TufKey,
    pub expires_root: String,
}

impl TufRepo {
    pub fn new() -> Self {
        TufRepo {
            v1_keys: [TufKey::new(), TufKey::new(), TufKey::new()],
            v2_keys: [TufKey::new(), TufKey::new(), TufKey::new()],
            online1: TufKey::new(),
            online2: TufKey::new(),
            expires_root: FAR_FUTURE.into(),
        }
    }

    pub fn v1_signed(&self) -> Value {
        let k: Vec<&TufKey> = self.v1_keys.iter().collect();
        root_signed(1, &self.expires_root, &k, 2, &self.online1)
    }

    pub fn v2_signed(&self) -> Value {
        let k: Vec<&TufKey> = self.v2_keys.iter().collect();
        root_signed(2, &self.expires_root, &k, 2, &self.online2)
    }

    /// Root v1, self-signed to threshold: the host's anchor.
    pub fn v1(&self) -> Vec<u8> {
        envelope(&self.v1_signed(), &[&self.v1_keys[0], &self.v1_keys[1]])
    }

    /// Root v2 signed by `signers` (indices into v1 keys, then v2 keys).
    pub fn v2_signed_by(&self, v1: &[usize], v2: &[usize]) -> Vec<u8> {
        let mut s: Vec<&TufKey> = v1.iter().map(|&i| &self.v1_keys[i]).collect();
        s.extend(v2.iter().map(|&i| &self.v2_keys[i]));
        envelope(&self.v2_signed(), &s)
    }

    /// A correct rotation: threshold of v1 keys and of v2 keys.
    pub fn v2(&self) -> Vec<u8> {
        self.v2_signed_by(&[0, 1], &[0, 1])
    }

    /// Metadata for an archive: roots v1 and `v2`, online roles signed by
    /// the v2 online key listing `listed`, and `carried` as the trusted root.
    pub fn files(
        &self,
        v2: Vec<u8>,
        listed: &[u8],
        carried: &[u8],
        exp: Expiry<'_>,
    ) -> TufFilesOut {
        let (timestamp, snapshot, targets) = online_roles(&self.online2, listed, exp);
        TufFilesOut {
            roots: vec![(1, self.v1()), (2, v2)],
            timestamp,
            snapshot,
            targets,
            trusted_root: carried.to_vec(),
        }
    }

    /// The good repository: correct rotation, fresh, listing `root`.
    pub fn good(&self, root: &[u8]) -> TufFilesOut {
        self.files(self.v2(), root, root, FRESH)
    }
}

impl Default for TufRepo {
    fn default() -> Self {
        Self::new()
    }
}

/// A layout with one amd64 image `IMAGE_REF`, signed by `signer` and logged
/// by `rekor` (a SET only).
pub fn signed_layout(dir: &Path, signer: &SigningKey, rekor: &SigningKey) -> PathBuf {
    let mut l = Layout::create(dir).unwrap();
    let layer = l.add_random_layer(20_000, 3).unwrap();
    let m = l
        .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
        .unwrap();
    l.tag(IMAGE_REF, &m);
    let sig = forge::sig_layer(
        signer,
        rekor,
        &m.digest,
        IMAGE_REF,
        Some((10, 1_700_000_000)),
    );
    forge::add_sig_manifest(&mut l, &m.digest, &[sig]);
    l.finish().unwrap()
}

/// Pack `layout` with the library, carrying `material` as it is (no
/// checks: pack itself refuses metadata that does not chain).
pub fn pack_with_material(
    layout: &Path,
    out: &Path,
    material: airlock::source::trust::TrustMaterial,
) {
    let req = super::pack_request(layout, out);
    let mut set = airlock::pipeline::resolve(&req).unwrap();
    set.trust = Some(material);
    airlock::pipeline::pack(&req, &set, &indicatif::ProgressBar::hidden()).unwrap();
}

/// A site's TUF setup around one signed image: the signed layout and its
/// public key file, a test TUF repository whose `trusted_root.json` target
/// names only the test Rekor key, and the repository's root v1 written as
/// the site's anchor (`--tuf-root`).
pub struct Site {
    pub dir: tempfile::TempDir,
    pub repo: TufRepo,
    pub layout: PathBuf,
    pub key: PathBuf,
    /// trusted_root.json naming only the test Rekor key.
    pub root_json: Vec<u8>,
    /// Root v1 of the test repository: the site's TUF anchor.
    pub anchor: PathBuf,
}

impl Site {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let signer = forge::key();
        let rekor = forge::key();
        let layout = signed_layout(&dir.path().join("layout"), &signer, &rekor);
        let key = cli::put(dir.path(), "cosign.pub", forge::pem(&signer));
        let repo = TufRepo::new();
        let anchor = cli::put(dir.path(), "tuf-root-v1.json", repo.v1());
        let root_json = forge::trust_root_json(&rekor).into_bytes();
        Site {
            dir,
            repo,
            layout,
            key,
            root_json,
            anchor,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `root_json` written to `name` (for `--trusted-root`).
    pub fn root_file(&self, name: &str) -> PathBuf {
        cli::put(self.dir.path(), name, &self.root_json)
    }

    /// `airlock pack --no-rekor` of the signed layout into `name` with
    /// `extra` flags.
    pub fn pack(&self, name: &str, extra: &[&str]) -> (cli::Run, PathBuf) {
        let out = self.path(name);
        let r = cli::pack(&self.layout, &out, &["--no-rekor"])
            .args(extra)
            .run();
        (r, out)
    }

    /// An archive packed by the CLI carrying the good TUF repository.
    pub fn good_archive(&self, name: &str) -> PathBuf {
        let dir = self
            .repo
            .good(&self.root_json)
            .write(&self.path(&format!("{name}-tuf")));
        let (r, out) = self.pack(
            name,
            &[
                "--tuf-metadata",
                cli::s(&dir),
                "--tuf-root",
                cli::s(&self.anchor),
            ],
        );
        cli::assert_code(&r, 0);
        out
    }

    /// An archive carrying `files` as they are (pack would refuse them).
    pub fn archive_with(&self, name: &str, files: &TufFilesOut) -> PathBuf {
        let out = self.path(name);
        pack_with_material(&self.layout, &out, files.material());
        out
    }
}

impl Default for Site {
    fn default() -> Self {
        Self::new()
    }
}
