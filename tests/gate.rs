//! The archive gate end to end: an OCI layout built with the testkit, cosign
//! `.sig` evidence forged in the exact cosign format (simple-signing payload,
//! signature annotation, legacy Rekor bundle with a SET from a test Rekor key
//! placed in a test trusted root), packed, then `airlock verify` / `airlock
//! pack` with policy flags, judged by exit code and report.

mod common;

use std::path::{Path, PathBuf};

use airlock_testkit::{ImageSpec, Layout, Platform};
use common::cli::{self, assert_code, assert_refused, run, s, Run};
use common::forge::{self, add_sig_manifest, sig_layer, SigLayer};
use p256::ecdsa::SigningKey;

const REF: &str = "registry.example.org/team/app:1.0";
const T0: i64 = 1_700_000_000;

struct World {
    dir: tempfile::TempDir,
    signer: SigningKey,
    rekor: SigningKey,
    root: PathBuf,
    key: PathBuf,
    state: PathBuf,
}

/// The `.sig` manifests to add to a layout, by subject digest.
type Sigs = Vec<(String, Vec<SigLayer>)>;

/// One `.sig` manifest, for `subject`.
fn on(subject: &str, layers: Vec<SigLayer>) -> Sigs {
    vec![(subject.to_string(), layers)]
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let signer = forge::key();
        let rekor = forge::key();
        let root = cli::put(
            dir.path(),
            "trusted_root.json",
            forge::trust_root_json(&rekor),
        );
        let key = cli::put(dir.path(), "cosign.pub", forge::pem(&signer));
        let state = dir.path().join("state");
        World {
            dir,
            signer,
            rekor,
            root,
            key,
            state,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn key_file(&self, name: &str, k: &SigningKey) -> PathBuf {
        cli::put(self.dir.path(), name, forge::pem(k))
    }

    /// A public key file of a key that signed nothing.
    fn other_key(&self) -> PathBuf {
        self.key_file("other.pub", &forge::key())
    }

    /// A `.sig` layer by the world's signer over `digest` naming
    /// `reference`, logged at `log` (None: no Rekor bundle).
    fn sig(&self, digest: &str, reference: &str, log: Option<(i64, i64)>) -> SigLayer {
        sig_layer(&self.signer, &self.rekor, digest, reference, log)
    }

    /// A layout with one amd64 image named `REF` (under an index when
    /// `with_index`); `sign(manifest_digest, index_digest)` returns the
    /// `.sig` manifests to add, by subject digest.
    fn layout(
        &self,
        name: &str,
        with_index: bool,
        sign: impl FnOnce(&str, Option<&str>) -> Sigs,
    ) -> PathBuf {
        let mut l = Layout::create(self.path(name)).unwrap();
        let layer = l.add_random_layer(50_000, 7).unwrap();
        let m = l
            .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
            .unwrap();
        let index = if with_index {
            let i = l
                .add_index(&[(m.clone(), Platform::linux("amd64"))])
                .unwrap();
            l.tag(REF, &i);
            Some(i)
        } else {
            l.tag(REF, &m);
            None
        };
        for (subject, layers) in sign(&m.digest, index.as_ref().map(|i| i.digest.as_str())) {
            add_sig_manifest(&mut l, &subject, &layers);
        }
        l.finish().unwrap()
    }

    /// `airlock pack --no-rekor` of `layout` into `out` with `extra` flags.
    fn pack(&self, layout: &Path, out: &Path, extra: &[&str]) -> Run {
        cli::pack(layout, out, &["--no-rekor"]).args(extra).run()
    }

    /// The same, checked at pack time under `--key` and the test root.
    fn pack_with_key(&self, layout: &Path, out: &Path, extra: &[&str]) -> Run {
        let policy = ["--key", s(&self.key), "--trusted-root", s(&self.root)];
        cli::pack(layout, out, &["--no-rekor"])
            .args(policy)
            .args(extra)
            .run()
    }

    /// The layout packed without a policy (integrity only).
    fn archive(
        &self,
        name: &str,
        with_index: bool,
        sign: impl FnOnce(&str, Option<&str>) -> Sigs,
    ) -> PathBuf {
        let layout = self.layout(name, with_index, sign);
        let out = self.path(&format!("{name}.tar"));
        assert_code(&self.pack(&layout, &out, &[]), 0);
        out
    }

    /// One correctly signed and logged signature over the manifest.
    fn signed_archive(&self, name: &str, log_index: i64, time: i64) -> PathBuf {
        self.archive(name, false, |m, _| {
            on(m, vec![self.sig(m, REF, Some((log_index, time)))])
        })
    }

    fn verify(&self, archive: &Path, extra: &[&str]) -> Run {
        let mut args = vec![
            "verify",
            s(archive),
            "--trusted-root",
            s(&self.root),
            "--state-dir",
            s(&self.state),
        ];
        args.extend_from_slice(extra);
        run(&args)
    }

    fn verify_key(&self, archive: &Path, extra: &[&str]) -> Run {
        let mut args = vec!["--key", s(&self.key)];
        args.extend_from_slice(extra);
        self.verify(archive, &args)
    }

    /// `verify --key … --output json` with `extra` flags.
    fn verify_key_json(&self, archive: &Path, extra: &[&str]) -> Run {
        let mut args = extra.to_vec();
        args.extend_from_slice(&["--output", "json"]);
        self.verify_key(archive, &args)
    }

    /// Every state file and its bytes.
    fn state_snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = self.state.join("rollback");
        let mut out: Vec<(PathBuf, Vec<u8>)> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .map(|e| {
                    let p = e.unwrap().path();
                    let b = std::fs::read(&p).unwrap();
                    (p, b)
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        out.sort();
        out
    }
}

#[test]
fn signed_archive_verifies_with_key() {
    let w = World::new();
    let a = w.signed_archive("ok", 10, T0);
    let r = w.verify_key(&a, &["--record"]);
    assert_code(&r, 0);
    assert!(r.stdout.starts_with("OK archive"), "{}", r.stdout);
    assert!(r.stdout.contains("✓ signatures"), "{}", r.stdout);
    assert!(r.stdout.contains("✓ rollback"), "{}", r.stdout);
    assert_eq!(w.state_snapshot().len(), 1, "the accepted mark is recorded");
}

#[test]
fn json_report_lists_each_check() {
    let w = World::new();
    let a = w.signed_archive("json", 10, T0);
    let r = w.verify_key_json(&a, &[]);
    assert_code(&r, 0);
    let v = r.json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["trust"]["ok"], true);
    let checks = v["trust"]["images"][0]["checks"].as_array().unwrap();
    let status = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status("signatures").as_deref(), Some("pass"));
    assert_eq!(status("transparency-log").as_deref(), Some("pass"));
    assert_eq!(status("rollback").as_deref(), Some("pass"));
}

/// `sha256:<hex>` of a key's DER SubjectPublicKeyInfo, as messages name it.
fn fingerprint(k: &SigningKey) -> String {
    use sha2::Digest as _;
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(forge::spki(k)))
    )
}

#[test]
fn wrong_key_is_refused() {
    let w = World::new();
    let a = w.signed_archive("wrong-key", 10, T0);
    let other = forge::key();
    let r = w.verify(&a, &["--key", s(&w.key_file("other.pub", &other))]);
    assert_code(&r, 4);
    assert!(r.stdout.starts_with("REFUSED"), "{}", r.stdout);
    assert!(r.stdout.contains("✗ signatures"), "{}", r.stdout);
    assert!(w.state_snapshot().is_empty(), "no state after a failure");
    // Not "signature does not verify": whose it is (the Rekor entry names
    // the key, and the signature verifies under it) and what was expected.
    let want = format!(
        "signed by a key not in the policy: {}; the policy expects {}",
        fingerprint(&w.signer),
        fingerprint(&other)
    );
    assert!(r.stdout.contains(&want), "{}", r.stdout);
    assert!(r.stderr.contains(&want), "{}", r.stderr);
    assert!(
        !r.stdout.contains("signature does not verify"),
        "{}",
        r.stdout
    );
}

#[test]
fn wrong_key_json_report_carries_the_error_once() {
    let w = World::new();
    let a = w.signed_archive("wrong-key-json", 10, T0);
    let other = forge::key();
    let key = w.key_file("other.pub", &other);
    let r = w.verify(&a, &["--key", s(&key), "--output", "json"]);
    assert_code(&r, 4);
    // One JSON document: the report with the error inside it.
    let v = r.json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["exitCode"], 4);
    // The kind automation keys on is unchanged.
    assert_eq!(v["error"]["kind"], "signature-invalid");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains(&fingerprint(&other)), "{message}");
    let sig = &v["trust"]["images"][0]["checks"][0];
    assert_eq!(sig["name"], "signatures");
    assert_eq!(sig["status"], "fail");
    assert_eq!(sig["kind"], "signature-invalid");
}

#[test]
fn bare_key_signature_by_another_key_names_the_expected_keys_only() {
    let w = World::new();
    let a = w.archive("no-tlog-other", false, |m, _| {
        on(m, vec![w.sig(m, REF, None)])
    });
    let (k1, k2) = (forge::key(), forge::key());
    let r = w.verify(
        &a,
        &[
            "--key",
            s(&w.key_file("k1.pub", &k1)),
            "--key",
            s(&w.key_file("k2.pub", &k2)),
            "--insecure-ignore-tlog",
        ],
    );
    assert_code(&r, 4);
    // Nothing names the signer of a bare signature, and a wrong key looks
    // like an altered payload: the wording holds for both.
    let want = format!(
        "signature does not verify under any key in the policy (expected {}, {})",
        fingerprint(&k1),
        fingerprint(&k2)
    );
    assert!(r.stderr.contains(&want), "{}", r.stderr);
    assert!(!r.stderr.contains("signed by"), "{}", r.stderr);
}

#[test]
fn signature_over_another_digest_is_refused() {
    let w = World::new();
    let other = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    let a = w.archive("other-digest", false, |m, _| {
        on(m, vec![w.sig(other, REF, Some((10, T0)))])
    });
    let r = w.verify_key_json(&a, &[]);
    assert_refused(&r, 4, "image-digest-mismatch");
}

#[test]
fn docker_reference_mismatch_is_refused_unless_ignored() {
    let w = World::new();
    let other = "registry.example.org/team/other:1.0";
    let a = w.archive("other-ref", false, |m, _| {
        on(m, vec![w.sig(m, other, Some((10, T0)))])
    });
    let r = w.verify_key_json(&a, &[]);
    assert_refused(&r, 4, "reference-mismatch");

    let r = w.verify_key(&a, &["--ignore-reference"]);
    assert_code(&r, 0);
    assert!(r.stderr.contains("--ignore-reference"), "{}", r.stderr);
}

#[test]
fn unsigned_archive_is_refused_under_a_policy() {
    let w = World::new();
    let a = w.archive("unsigned", false, |_, _| vec![]);
    let r = w.verify_key_json(&a, &[]);
    assert_refused(&r, 4, "no-signatures");
    // Without a policy the same archive passes integrity only.
    let r = run(&["verify", s(&a)]);
    assert_code(&r, 0);
    assert!(r.stdout.contains("integrity only"), "{}", r.stdout);
}

#[test]
fn key_signature_without_tlog_needs_insecure_ignore_tlog() {
    let w = World::new();
    let a = w.archive("no-tlog", false, |m, _| on(m, vec![w.sig(m, REF, None)]));
    let r = w.verify_key_json(&a, &[]);
    assert_refused(&r, 4, "missing-tlog-entry");

    let r = w.verify_key(&a, &["--insecure-ignore-tlog"]);
    assert_code(&r, 0);
    assert!(
        r.stderr.contains("INSECURE"),
        "loudly reported: {}",
        r.stderr
    );
    assert!(r.stdout.contains("INSECURE"), "{}", r.stdout);
    assert!(
        w.state_snapshot().is_empty(),
        "nothing to record without a log entry"
    );
}

#[test]
fn threshold_two_with_one_signer_is_refused() {
    let w = World::new();
    let second = w.key_file("second.pub", &forge::key());
    let a = w.signed_archive("threshold", 10, T0);
    let r = w.verify_key_json(&a, &["--key", s(&second), "--threshold", "2"]);
    assert_refused(&r, 4, "threshold-not-met");
}

#[test]
fn duplicate_signatures_by_one_key_do_not_meet_threshold_two() {
    let w = World::new();
    let second = w.key_file("second.pub", &forge::key());
    let a = w.archive("dup", false, |m, _| {
        on(
            m,
            vec![
                w.sig(m, REF, Some((10, T0))),
                w.sig(m, REF, Some((11, T0 + 1))),
            ],
        )
    });
    let r = w.verify_key(&a, &["--key", s(&second), "--threshold", "2"]);
    assert_code(&r, 4);
}

#[test]
fn threshold_two_met_by_two_keys() {
    let w = World::new();
    let k2 = forge::key();
    let second = w.key_file("second.pub", &k2);
    let a = w.archive("two-keys", false, |m, _| {
        on(
            m,
            vec![
                w.sig(m, REF, Some((10, T0))),
                sig_layer(&k2, &w.rekor, m, REF, Some((11, T0 + 1))),
            ],
        )
    });
    let r = w.verify_key(&a, &["--key", s(&second), "--threshold", "2"]);
    assert_code(&r, 0);
}

#[test]
fn threshold_above_the_number_of_keys_is_a_usage_error() {
    let w = World::new();
    let a = w.signed_archive("threshold-usage", 10, T0);
    let r = w.verify_key(&a, &["--threshold", "2"]);
    assert_code(&r, 2);
}

#[test]
fn signature_on_the_index_digest_is_accepted() {
    let w = World::new();
    let a = w.archive("index", true, |_, index| {
        let ix = index.unwrap();
        on(ix, vec![w.sig(ix, REF, Some((10, T0)))])
    });
    let r = w.verify_key(&a, &[]);
    assert_code(&r, 0);
    assert!(r.stdout.contains("signed the index"), "{}", r.stdout);
}

#[test]
fn signature_naming_the_index_under_the_manifest_tag_is_refused() {
    // The payload must name the digest it is stored for.
    let w = World::new();
    let a = w.archive("index-mixup", true, |m, index| {
        on(m, vec![w.sig(index.unwrap(), REF, Some((10, T0)))])
    });
    let r = w.verify_key(&a, &[]);
    assert_code(&r, 4);
}

#[test]
fn rollback_is_refused_and_forced_with_allow_downgrade() {
    let w = World::new();
    let new = w.signed_archive("new", 10, T0 + 100);
    let old = w.signed_archive("old", 5, T0);
    assert_code(&w.verify_key(&new, &["--record"]), 0);
    let recorded = w.state_snapshot();
    assert_eq!(recorded.len(), 1);

    let r = w.verify_key_json(&old, &["--record"]);
    assert_refused(&r, 5, "rollback");
    assert_eq!(w.state_snapshot(), recorded, "state untouched by a refusal");

    let r = w.verify_key(&old, &["--allow-downgrade", "--record"]);
    assert_code(&r, 0);
    assert!(r.stderr.contains("DOWNGRADE"), "logged: {}", r.stderr);
    assert_eq!(
        w.state_snapshot(),
        recorded,
        "a forced downgrade does not lower the mark"
    );

    // The newer archive still verifies.
    assert_code(&w.verify_key(&new, &[]), 0);
}

#[test]
fn rollback_is_not_checked_before_the_crypto_checks() {
    let w = World::new();
    let new = w.signed_archive("new", 10, T0 + 100);
    assert_code(&w.verify_key(&new, &["--record"]), 0);
    let recorded = w.state_snapshot();
    // An older archive that also fails its signature check: exit 4, not 5.
    let old = w.signed_archive("old", 5, T0);
    let r = w.verify(
        &old,
        &["--key", s(&w.other_key()), "--output", "json", "--record"],
    );
    assert_code(&r, 4);
    assert_eq!(w.state_snapshot(), recorded);
}

#[test]
fn newer_archive_raises_the_mark() {
    let w = World::new();
    let old = w.signed_archive("old", 5, T0);
    let new = w.signed_archive("new", 10, T0 + 100);
    assert_code(&w.verify_key(&old, &["--record"]), 0);
    let before = w.state_snapshot();
    assert_code(&w.verify_key(&new, &["--record"]), 0);
    let after = w.state_snapshot();
    assert_ne!(before, after);
    let v: serde_json::Value = serde_json::from_slice(&after[0].1).unwrap();
    assert_eq!(v["logIndex"], 10);
    assert_eq!(v["integratedTime"], T0 + 100);
    assert_eq!(v["image"], "registry.example.org/team/app");
    assert_code(&w.verify_key(&old, &[]), 5);
}

#[test]
fn corrupt_state_file_is_not_treated_as_first_seen() {
    let w = World::new();
    let new = w.signed_archive("new", 10, T0 + 100);
    assert_code(&w.verify_key(&new, &["--record"]), 0);
    let (path, _) = w.state_snapshot().remove(0);
    std::fs::write(&path, b"{not json").unwrap();
    let r = w.verify_key(&new, &[]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read(&path).unwrap(), b"{not json");
}

#[test]
fn pack_with_key_refuses_an_unsigned_layout_and_writes_nothing() {
    let w = World::new();
    let layout = w.layout("unsigned-pack", false, |_, _| vec![]);
    let out = w.path("refused.tar");
    let r = w.pack_with_key(&layout, &out, &[]);
    assert_code(&r, 4);
    assert!(!out.exists(), "no archive written");
    assert!(!w.path("refused.tar.sha256").exists());
    let leftovers: Vec<_> = std::fs::read_dir(w.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".airlock"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left");

    // --no-verify writes it anyway, with a warning.
    let r = w.pack_with_key(&layout, &out, &["--no-verify"]);
    assert_code(&r, 0);
    assert!(out.exists());
    assert!(r.stderr.contains("--no-verify"), "{}", r.stderr);
}

#[test]
fn pack_with_key_writes_a_signed_layout_that_verifies() {
    let w = World::new();
    let layout = w.layout("signed-pack", false, |m, _| {
        on(m, vec![w.sig(m, REF, Some((10, T0)))])
    });
    let out = w.path("signed.tar");
    let r = w.pack_with_key(&layout, &out, &["--output", "json"]);
    assert_code(&r, 0);
    assert_eq!(r.json()["trust"]["ok"], true);
    assert_code(&w.verify_key(&out, &[]), 0);
}

#[test]
fn pack_refuses_rollback_flags() {
    let w = World::new();
    let layout = w.layout("pack-flags", false, |_, _| vec![]);
    let out = w.path("x.tar");
    let r = w.pack(&layout, &out, &["--key", s(&w.key), "--allow-downgrade"]);
    assert_code(&r, 2);
    assert!(!out.exists());
}

#[test]
fn incoherent_policy_flags_are_refused_before_reading_input() {
    let w = World::new();
    // The archive does not exist: a usage error must come first.
    let missing = w.path("missing.tar");
    let m = s(&missing);
    let k = s(&w.key);
    for args in [
        vec!["verify", m, "--certificate-identity", "a@b.c"],
        vec![
            "verify",
            m,
            "--key",
            k,
            "--certificate-identity-regexp",
            ".*",
        ],
        vec![
            "verify",
            m,
            "--certificate-identity",
            "a@b.c",
            "--certificate-identity-regexp",
            ".*",
            "--certificate-oidc-issuer",
            "https://x",
        ],
        vec![
            "verify",
            m,
            "--certificate-identity",
            "a@b.c",
            "--certificate-oidc-issuer",
            "https://x",
            "--insecure-ignore-tlog",
        ],
        vec![
            "verify",
            m,
            "--key",
            k,
            "--insecure-ignore-tlog",
            "--require-inclusion-proof",
        ],
        vec!["verify", m, "--threshold", "1"],
        vec!["verify", m, "--key", k, "--attestation-type", "nonsense"],
        vec!["verify", m, "--key", k, "--policy", k],
        vec!["verify", m, "--trusted-root", k],
    ] {
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }
}

#[test]
fn malformed_key_file_is_a_usage_error() {
    let w = World::new();
    let a = w.signed_archive("bad-key", 10, T0);
    let bad = cli::put(
        w.dir.path(),
        "bad.pub",
        "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n",
    );
    let r = w.verify(&a, &["--key", s(&bad)]);
    assert_code(&r, 2);
}

#[test]
fn policy_file_applies() {
    let w = World::new();
    let a = w.signed_archive("policy", 10, T0);
    let policy_of = |name: &str, k: &SigningKey| {
        let doc = serde_json::json!({ "version": 1, "keys": [forge::pem(k)] });
        cli::put(w.dir.path(), name, doc.to_string())
    };
    let policy = policy_of("policy.json", &w.signer);
    assert_code(&w.verify(&a, &["--policy", s(&policy)]), 0);
    let other = policy_of("other-policy.json", &forge::key());
    assert_code(&w.verify(&a, &["--policy", s(&other)]), 4);
}

#[test]
fn required_attestation_missing_is_refused() {
    let w = World::new();
    let a = w.signed_archive("no-att", 10, T0);
    let r = w.verify_key_json(&a, &["--attestation-type", "slsaprovenance1"]);
    assert_refused(&r, 4, "missing-attestation");
    let r = w.verify_key(&a, &["--source-repository", "https://github.com/o/r"]);
    assert_code(&r, 4);
}

// ---- Rekor inclusion proofs carried as `rekor-proof` evidence ------------

/// Pack a signed layout, adding a `rekor-proof` evidence blob (as the
/// registry source does at pack time) built by `proof(sig layer digest, body)`.
fn archive_with_proof(
    w: &World,
    name: &str,
    proof: impl FnOnce(&str, &str, &[u8], &serde_json::Value) -> Option<serde_json::Value>,
) -> PathBuf {
    use airlock::model::manifest::{EvidenceRecord, EvidenceRole};
    use airlock::model::{BlobRecord, Digest};
    use airlock::source::BlobOrigin;
    let mut layer = None;
    let layout = w.layout(name, false, |m, _| {
        let l = w.sig(m, REF, Some((10, T0)));
        layer = Some((
            Digest::of(&l.payload).to_string(),
            forge::body_of(l.bundle.as_deref().unwrap()),
            serde_json::from_str::<serde_json::Value>(l.bundle.as_deref().unwrap()).unwrap(),
        ));
        on(m, vec![l])
    });
    let (layer_digest, body, set_json) = layer.unwrap();
    let out = w.path(&format!("{name}.tar"));
    let req = common::pack_request(&layout, &out);
    let mut set = airlock::pipeline::resolve(&req).unwrap();
    let sig_manifest = set.images[0]
        .evidence
        .iter()
        .find(|e| e.role == EvidenceRole::Signature)
        .unwrap()
        .digest
        .to_string();
    if let Some(doc) = proof(&sig_manifest, &layer_digest, &body, &set_json) {
        let bytes = serde_json::to_vec(&doc).unwrap();
        let digest = Digest::of(&bytes);
        let media_type = airlock::trust::evidence::REKOR_PROOF_MEDIA_TYPE.to_string();
        set.add_blob(
            BlobRecord {
                digest,
                size: bytes.len() as u64,
                media_type: media_type.clone(),
            },
            BlobOrigin::Memory(bytes.into()),
        );
        let img = &mut set.images[0];
        img.evidence.push(EvidenceRecord {
            role: EvidenceRole::RekorProof,
            digest,
            media_type,
            subject: img.manifest_digest,
            artifact_type: None,
            tag: None,
        });
    }
    airlock::pipeline::pack(&req, &set, &indicatif::ProgressBar::hidden()).unwrap();
    out
}

/// A proof document as `airlock pack` stores it (see docs/format.md),
/// for the signature whose legacy bundle is `set`, proving `leaf_body`.
fn proof_doc(
    w: &World,
    (manifest, layer, set): (&str, &str, &serde_json::Value),
    log_index: i64,
    leaf_body: &[u8],
) -> serde_json::Value {
    let (sibling, root) = forge::two_leaf_tree(leaf_body);
    serde_json::json!({
        "mediaType": airlock::trust::evidence::REKOR_PROOF_MEDIA_TYPE,
        "signatureManifestDigest": manifest,
        "signatureLayerDigest": layer,
        "logIndex": log_index,
        "logID": set["Payload"]["logID"],
        "body": set["Payload"]["body"],
        "integratedTime": set["Payload"]["integratedTime"],
        "signedEntryTimestamp": set["SignedEntryTimestamp"],
        "inclusionProof": {
            "logIndex": 1,
            "rootHash": hex::encode(&root),
            "treeSize": 2,
            "hashes": [hex::encode(&sibling)],
            "checkpoint": forge::checkpoint(&w.rekor, 2, &root),
        }
    })
}

#[test]
fn carried_inclusion_proof_satisfies_require_inclusion_proof() {
    let w = World::new();
    let a = archive_with_proof(&w, "proof", |m, layer, body, set| {
        Some(proof_doc(&w, (m, layer, set), 10, body))
    });
    assert_code(&w.verify_key(&a, &["--require-inclusion-proof"]), 0);
}

#[test]
fn missing_inclusion_proof_is_refused_when_required() {
    let w = World::new();
    let a = archive_with_proof(&w, "no-proof", |_, _, _, _| None);
    let r = w.verify_key_json(&a, &["--require-inclusion-proof"]);
    assert_refused(&r, 4, "missing-inclusion-proof");
    // Without the requirement the SET alone suffices.
    assert_code(&w.verify_key(&a, &[]), 0);
}

#[test]
fn carried_inclusion_proof_for_another_entry_is_refused() {
    let w = World::new();
    let a = archive_with_proof(&w, "proof-other", |m, layer, _, set| {
        Some(proof_doc(&w, (m, layer, set), 10, b"some other entry body"))
    });
    // Even without --require-inclusion-proof a carried proof must verify.
    let r = w.verify_key_json(&a, &[]);
    assert_refused(&r, 4, "inclusion-proof-invalid");
}

#[test]
fn carried_inclusion_proof_for_another_log_index_is_not_attached() {
    let w = World::new();
    let a = archive_with_proof(&w, "proof-index", |m, layer, body, set| {
        Some(proof_doc(&w, (m, layer, set), 11, body))
    });
    let r = w.verify_key_json(&a, &["--require-inclusion-proof"]);
    assert_refused(&r, 4, "missing-inclusion-proof");
}

// ---- offline: verify with a policy opens no socket -----------------------

#[test]
fn verify_with_policy_opens_no_socket() {
    let w = World::new();
    let a = w.signed_archive("strace", 10, T0);
    if !common::trace::tracing_works(w.dir.path()) {
        return;
    }
    let args = [
        "verify",
        s(&a),
        "--key",
        s(&w.key),
        "--trusted-root",
        s(&w.root),
        "--state-dir",
        s(&w.state),
    ];
    common::trace::assert_offline(&args, 0, &w.path("trace.txt"), "verify");
}

/// The text report: a verdict line, the trust root used, the image with
/// its digest, and one ✓/✗/– line per check, failures explained.
#[test]
fn show_reports() {
    use common::cli::{report_checks, report_marks};
    let w = World::new();
    let a = w.signed_archive("show", 10, T0);
    let trust_root = format!(
        "  trust root: this host's root (--trusted-root {})",
        w.root.display()
    );
    let image = format!("{REF} linux/amd64 sha256:");
    let marks = |v: &[(char, &str)]| -> Vec<(char, String)> {
        v.iter().map(|(c, n)| (*c, n.to_string())).collect()
    };

    // Accepted.
    let r = w.verify_key(&a, &[]);
    assert_code(&r, 0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("OK archive sha256:"), "{}", r.stdout);
    assert!(lines[0].ends_with("integrity ✓, trust ✓"), "{}", r.stdout);
    assert!(lines[1].starts_with(&trust_root), "{}", r.stdout);
    assert!(
        lines[2].starts_with(&format!("  ✓ {image}")),
        "{}",
        r.stdout
    );
    assert_eq!(
        report_marks(&r),
        marks(&[
            ('✓', "signatures"),
            ('✓', "transparency-log"),
            ('✓', "rollback")
        ]),
        "{}",
        r.stdout
    );
    let checks = report_checks(&r);
    assert!(checks[0].2.contains("1 valid signature(s)"), "{checks:?}");
    assert!(checks[1].2.contains("log index 10"), "{checks:?}");
    assert!(
        checks[2]
            .2
            .starts_with("first seen on this host (log index 10"),
        "{checks:?}"
    );

    // Another key: the signature check fails, the rest is not checked.
    let r = w.verify(&a, &["--key", s(&w.other_key())]);
    assert_code(&r, 4);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("REFUSED archive sha256:"),
        "{}",
        r.stdout
    );
    assert!(lines[0].ends_with("integrity ✓, trust ✗"), "{}", r.stdout);
    assert!(lines[1].starts_with(&trust_root), "{}", r.stdout);
    assert!(
        lines[2].starts_with(&format!("  ✗ {image}")),
        "{}",
        r.stdout
    );
    assert_eq!(
        report_marks(&r),
        marks(&[
            ('✗', "signatures"),
            ('–', "transparency-log"),
            ('–', "rollback")
        ]),
        "{}",
        r.stdout
    );
    assert!(
        report_checks(&r)[0]
            .2
            .contains("signed by a key not in the policy"),
        "{}",
        r.stdout
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);

    // A required attestation missing, under --allow-downgrade (warned).
    let r = w.verify_key(&a, &["--allow-downgrade", "--attestation-type", "spdx"]);
    assert_code(&r, 4);
    assert!(
        r.stdout.lines().next().unwrap().ends_with("trust ✗"),
        "{}",
        r.stdout
    );
    assert_eq!(
        report_marks(&r),
        marks(&[
            ('✓', "signatures"),
            ('✓', "transparency-log"),
            ('✗', "attestation https://spdx.dev/Document"),
            ('–', "rollback"),
        ]),
        "{}",
        r.stdout
    );
    assert!(
        report_checks(&r)[2]
            .2
            .contains("required attestation missing"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("  warning: --allow-downgrade:"),
        "{}",
        r.stdout
    );
}

// ---- Sigstore bundle referrers (OCI 1.1, artifact type bundle v0.3) ------

/// A v0.3 bundle: message signature by `signer` over `manifest` (so the
/// signed digest is the manifest digest), hashedrekord entry with SET and an
/// inclusion proof + checkpoint by `rekor`.
fn bundle_v03(w: &World, signer: &SigningKey, manifest: &[u8], log_index: i64) -> Vec<u8> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use sha2::Digest as _;
    let sig = forge::sign(signer, manifest);
    let legacy: serde_json::Value = serde_json::from_str(&forge::rekor_bundle(
        signer, &w.rekor, manifest, &sig, log_index, T0,
    ))
    .unwrap();
    let body_b64 = legacy["Payload"]["body"].as_str().unwrap();
    let body = STANDARD.decode(body_b64).unwrap();
    let (sibling, root) = forge::two_leaf_tree(&body);
    serde_json::to_vec(&serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "publicKey": { "hint": "" },
            "tlogEntries": [{
                "logIndex": log_index.to_string(),
                "logId": { "keyId": STANDARD.encode(forge::log_id(&w.rekor)) },
                "kindVersion": { "kind": "hashedrekord", "version": "0.0.1" },
                "integratedTime": T0.to_string(),
                "inclusionPromise": { "signedEntryTimestamp": legacy["SignedEntryTimestamp"] },
                "inclusionProof": {
                    "logIndex": "1",
                    "rootHash": STANDARD.encode(&root),
                    "treeSize": "2",
                    "hashes": [STANDARD.encode(&sibling)],
                    "checkpoint": { "envelope": forge::checkpoint(&w.rekor, 2, &root) },
                },
                "canonicalizedBody": body_b64,
            }]
        },
        "messageSignature": {
            "messageDigest": { "algorithm": "SHA2_256",
                               "digest": STANDARD.encode(sha2::Sha256::digest(manifest)) },
            "signature": sig,
        }
    }))
    .unwrap()
}

/// A layout whose image carries one bundle referrer by `signer`; packed
/// with `--ref` (referrers sit untagged-by-role in index.json).
fn bundle_archive(w: &World, name: &str, signer: &SigningKey) -> PathBuf {
    const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
    let mut l = Layout::create(w.path(name)).unwrap();
    let layer = l.add_random_layer(50_000, 7).unwrap();
    let m = l
        .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
        .unwrap();
    l.tag(REF, &m);
    let manifest = std::fs::read(l.blob_path(&m)).unwrap();
    let b = l
        .add_blob(BUNDLE, &bundle_v03(w, signer, &manifest, 10))
        .unwrap();
    let empty = l
        .add_blob("application/vnd.oci.empty.v1+json", b"{}")
        .unwrap();
    let referrer = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": BUNDLE,
        "config": { "mediaType": empty.media_type, "digest": empty.digest, "size": empty.size },
        "layers": [{ "mediaType": BUNDLE, "digest": b.digest, "size": b.size }],
        "subject": { "mediaType": m.media_type, "digest": m.digest, "size": m.size },
    }))
    .unwrap();
    let r = l
        .add_blob("application/vnd.oci.image.manifest.v1+json", &referrer)
        .unwrap();
    l.tag("bundle-referrer", &r);
    let layout = l.finish().unwrap();
    let out = w.path(&format!("{name}.tar"));
    assert_code(&w.pack(&layout, &out, &["--ref", REF]), 0);
    out
}

#[test]
fn bundle_referrer_signature_verifies() {
    let w = World::new();
    let a = bundle_archive(&w, "bundle", &w.signer);
    let r = w.verify_key(&a, &["--require-inclusion-proof", "--record"]);
    assert_code(&r, 0);
    assert_eq!(w.state_snapshot().len(), 1, "its log index is recorded");
}

#[test]
fn bundle_referrer_by_another_key_is_refused() {
    let w = World::new();
    let other = forge::key();
    let a = bundle_archive(&w, "bundle-other", &other);
    let r = w.verify_key(&a, &[]);
    assert_code(&r, 4);
    // The bundle's hashedrekord entry names the key that signed it.
    let want = format!(
        "signed by a key not in the policy: {}; the policy expects {}",
        fingerprint(&other),
        fingerprint(&w.signer)
    );
    assert!(r.stderr.contains(&want), "{}", r.stderr);
}
