//! Keyless (Fulcio certificate) cosign signatures, forged with test keys
//! (tests/common/fulcio.rs): a Fulcio-like CA and CT log in a test trusted
//! root, leaf certificates in the Fulcio profile with an embedded SCT, a
//! hashedrekord body naming the certificate and its SET by a test Rekor key.
//!
//! First the trust core (`verify_cosign_signature`): the certificate must be
//! valid at the SET's integrated time, chain to the root's CA and carry an
//! SCT from the root's CT log. Then the gate end to end: an archive packed
//! with `airlock pack --no-rekor`, judged by `airlock verify` and `airlock
//! unpack --into dir:` under identity/issuer policies.

mod common;

use std::path::{Path, PathBuf};

use airlock::trust::{
    verify_cosign_signature, CosignSignature, IdentityPolicy, SignaturePolicy, Signer, TrustError,
    TrustRoot,
};
use airlock_testkit::{ImageSpec, Layout, Platform};
use common::cli::{self, assert_code, assert_refused, run, s, Run};
use common::forge;
use common::fulcio::{add_keyless_sig_manifest, keyless_layer, Fulcio, KeylessLayer, Leaf};
use p256::ecdsa::SigningKey;

const REF: &str = "registry.example.org/team/app:1.0";
const REPO: &str = "registry.example.org/team/app";
const IMAGE: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const IDENTITY: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The leaf is valid for ten minutes from T0, as Fulcio issues them.
const T0: i64 = 1_700_000_000;
const NOT_AFTER: i64 = T0 + 600;
const INSIDE: i64 = T0 + 60;

fn leaf() -> Leaf<'static> {
    Leaf {
        identity: IDENTITY,
        issuer: ISSUER,
        not_before: T0,
        not_after: NOT_AFTER,
    }
}

fn identity_policy(identity: &str, issuer: &str) -> SignaturePolicy {
    SignaturePolicy::new(Signer::Identity(
        IdentityPolicy::new(identity, issuer).unwrap(),
    ))
}

// ---- the trust core -------------------------------------------------------

struct Core {
    fulcio: Fulcio,
    signer: SigningKey,
    rekor: SigningKey,
    root: TrustRoot,
}

impl Core {
    fn new() -> Self {
        let fulcio = Fulcio::new();
        let rekor = forge::key();
        let root = TrustRoot::from_json(fulcio.trust_root_json(&rekor).as_bytes()).unwrap();
        Core {
            fulcio,
            signer: forge::key(),
            rekor,
            root,
        }
    }

    /// A keyless signature over IMAGE whose certificate `fulcio` issued,
    /// logged at `integrated_time`.
    fn signature(&self, fulcio: &Fulcio, integrated_time: i64) -> CosignSignature {
        let l = keyless_layer(
            fulcio,
            &self.signer,
            &leaf(),
            &self.rekor,
            (IMAGE, REPO),
            (7, integrated_time),
        );
        to_signature(&l)
    }

    fn verify(
        &self,
        sig: &CosignSignature,
    ) -> Result<airlock::trust::VerifiedSignature, TrustError> {
        verify_cosign_signature(
            sig,
            IMAGE,
            Some(REPO),
            &identity_policy(IDENTITY, ISSUER),
            &self.root,
        )
    }
}

fn to_signature(l: &KeylessLayer) -> CosignSignature {
    CosignSignature::new(
        l.payload.clone(),
        l.signature.clone(),
        Some(l.certificate.clone()),
        Some(l.chain.clone()),
        Some(l.bundle.as_bytes()),
    )
    .unwrap()
}

#[test]
fn certificate_valid_at_integrated_time_is_accepted() {
    let c = Core::new();
    let v = c.verify(&c.signature(&c.fulcio, INSIDE)).unwrap();
    assert_eq!(v.identity(), Some(IDENTITY));
    assert_eq!(v.issuer(), Some(ISSUER));
    assert_eq!(v.integrated_time(), Some(INSIDE));
    assert_eq!(v.log_index(), Some(7));
    assert_eq!(v.image_digest(), IMAGE);
}

#[test]
fn keyless_signature_under_a_key_policy_names_the_certificate_identity() {
    use sha2::Digest as _;
    let c = Core::new();
    let other = forge::key();
    let policy = SignaturePolicy::new(forge::key_signer(&other));
    let sig = c.signature(&c.fulcio, INSIDE);
    let err = verify_cosign_signature(&sig, IMAGE, Some(REPO), &policy, &c.root).unwrap_err();
    let fp = |k: &SigningKey| {
        format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(forge::spki(k)))
        )
    };
    assert_eq!(
        err.to_string(),
        format!(
            "signed by a key not in the policy: {} (certificate identity {IDENTITY:?}); \
             the policy expects {}",
            fp(&c.signer),
            fp(&other)
        )
    );
    assert_eq!(err.kind(), "signature-invalid");
}

#[test]
fn certificate_expired_at_integrated_time_is_refused() {
    let c = Core::new();
    let err = c
        .verify(&c.signature(&c.fulcio, NOT_AFTER + 3600))
        .unwrap_err();
    assert!(
        matches!(err, TrustError::CertificateTime(_)),
        "{:?}: {err}",
        err.kind()
    );
    assert!(err.to_string().contains("expired"), "{err}");
}

#[test]
fn certificate_not_yet_valid_at_integrated_time_is_refused() {
    let c = Core::new();
    let err = c.verify(&c.signature(&c.fulcio, T0 - 3600)).unwrap_err();
    assert!(
        matches!(err, TrustError::CertificateTime(_)),
        "{:?}: {err}",
        err.kind()
    );
    assert!(err.to_string().contains("not yet valid"), "{err}");
}

#[test]
fn certificate_from_a_ca_outside_the_trust_root_is_refused() {
    let c = Core::new();
    let err = c.verify(&c.signature(&Fulcio::new(), INSIDE)).unwrap_err();
    assert_err!(err, TrustError::Certificate(_));
}

#[test]
fn certificate_with_an_sct_from_an_unknown_ct_log_is_refused() {
    let c = Core::new();
    let err = c
        .verify(&c.signature(&c.fulcio.with_other_ct_log(), INSIDE))
        .unwrap_err();
    assert_err!(err, TrustError::Sct(_));
}

// ---- the gate, end to end -------------------------------------------------

struct World {
    dir: tempfile::TempDir,
    fulcio: Fulcio,
    signer: SigningKey,
    rekor: SigningKey,
    root: PathBuf,
    state: PathBuf,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let fulcio = Fulcio::new();
        let rekor = forge::key();
        let root = dir.path().join("trusted_root.json");
        std::fs::write(&root, fulcio.trust_root_json(&rekor)).unwrap();
        let state = dir.path().join("state");
        World {
            dir,
            fulcio,
            signer: forge::key(),
            rekor,
            root,
            state,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A layout with one amd64 image carrying a keyless `.sig` logged at
    /// `integrated_time`, packed with `airlock pack --no-rekor`.
    fn archive(&self, name: &str, integrated_time: i64) -> PathBuf {
        let mut l = Layout::create(self.path(name)).unwrap();
        let layer = l.add_random_layer(50_000, 11).unwrap();
        let m = l
            .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
            .unwrap();
        l.tag(REF, &m);
        let sig = keyless_layer(
            &self.fulcio,
            &self.signer,
            &leaf(),
            &self.rekor,
            (&m.digest, REF),
            (10, integrated_time),
        );
        add_keyless_sig_manifest(&mut l, &m.digest, &[sig]);
        let layout = l.finish().unwrap();
        let out = self.path(&format!("{name}.tar"));
        assert_code(&cli::pack(&layout, &out, &["--no-rekor"]).run(), 0);
        out
    }

    /// `airlock <command> ARCHIVE [target] --trusted-root … policy`.
    fn gate(&self, command: &str, archive: &Path, target: &[&str], policy: &[&str]) -> Run {
        let mut args = vec![command, s(archive)];
        args.extend_from_slice(target);
        args.extend_from_slice(&[
            "--trusted-root",
            s(&self.root),
            "--state-dir",
            s(&self.state),
        ]);
        args.extend_from_slice(policy);
        run(&args)
    }

    fn verify(&self, archive: &Path, policy: &[&str]) -> Run {
        self.gate("verify", archive, &[], policy)
    }

    /// verify under `policy` with a JSON report.
    fn verify_json(&self, archive: &Path, policy: &[&str]) -> Run {
        let mut args = policy.to_vec();
        args.extend_from_slice(&["--output", "json"]);
        self.verify(archive, &args)
    }
}

/// A keyless archive signed while its certificate was valid, verified under
/// `policy` (identity and issuer flags) with a JSON report.
fn verify_under(name: &str, policy: &[&str]) -> Run {
    let w = World::new();
    let a = w.archive(name, INSIDE);
    w.verify_json(&a, policy)
}

/// `--certificate-identity IDENTITY --certificate-oidc-issuer ISSUER`.
fn exact<'a>(identity: &'a str, issuer: &'a str) -> [&'a str; 4] {
    [
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        issuer,
    ]
}

/// The same with an identity regular expression.
fn regexp<'a>(identity: &'a str, issuer: &'a str) -> [&'a str; 4] {
    [
        "--certificate-identity-regexp",
        identity,
        "--certificate-oidc-issuer",
        issuer,
    ]
}

const EXACT: [&str; 4] = [
    "--certificate-identity",
    IDENTITY,
    "--certificate-oidc-issuer",
    ISSUER,
];

#[test]
fn keyless_archive_verifies_with_identity_and_issuer() {
    let w = World::new();
    let a = w.archive("ok", INSIDE);
    let r = w.verify(&a, &EXACT);
    assert_code(&r, 0);
    assert!(r.stdout.contains("✓ signatures"), "{}", r.stdout);
}

#[test]
fn keyless_archive_signed_after_certificate_expiry_is_refused() {
    let w = World::new();
    let a = w.archive("expired", NOT_AFTER + 3600);
    let r = w.verify(&a, &EXACT);
    assert_code(&r, 4);
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("expired"),
        "the reason names the expiry:\n{}\n{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(w.verify_json(&a, &EXACT).error_kind(), "certificate-time");
}

#[test]
fn keyless_archive_with_wrong_identity_is_refused() {
    let other = "https://github.com/acme/app/.github/workflows/evil.yml@refs/heads/main";
    let r = verify_under("wrong-identity", &exact(other, ISSUER));
    assert_refused(&r, 4, "identity-mismatch");
}

#[test]
fn keyless_archive_with_wrong_issuer_is_refused() {
    let issuer = "https://accounts.google.com";
    let r = verify_under("wrong-issuer", &exact(IDENTITY, issuer));
    assert_refused(&r, 4, "issuer-mismatch");
}

#[test]
fn identity_regexp_matching_only_a_prefix_is_refused() {
    let prefix = r"https://github\.com/acme/app/";
    let r = verify_under("regexp-prefix", &regexp(prefix, ISSUER));
    assert_refused(&r, 4, "identity-mismatch");
}

#[test]
fn identity_regexp_matching_the_whole_identity_is_accepted() {
    let whole = r"https://github\.com/acme/app/\.github/workflows/[a-z]+\.yml@refs/heads/main";
    let r = verify_under("regexp-full", &regexp(whole, ISSUER));
    assert_code(&r, 0);
}

#[test]
fn keyless_unpack_into_dir_loads_under_the_identity_policy() {
    let w = World::new();
    let a = w.archive("unpack", INSIDE);
    let out = w.path("images");
    let target = format!("dir:{}", out.display());
    let r = w.gate("unpack", &a, &["--into", &target], &EXACT);
    assert_code(&r, 0);
    assert!(out.join("index.json").is_file(), "{}", r.stderr);
}

#[test]
fn keyless_unpack_with_wrong_identity_leaves_no_dir() {
    let w = World::new();
    let a = w.archive("unpack-wrong", INSIDE);
    let out = w.path("images");
    let target = format!("dir:{}", out.display());
    let r = w.gate(
        "unpack",
        &a,
        &["--into", &target],
        &exact("someone@example.org", ISSUER),
    );
    assert_code(&r, 4);
    assert!(!out.exists(), "nothing is written on refusal");
}

/// The text report of a refused keyless archive: verdict, trust root, the
/// image, and the signature check failing on the certificate's expiry with
/// the later checks not run.
#[test]
fn show_reports() {
    use common::cli::{report_checks, report_marks};
    let w = World::new();
    let a = w.archive("show", NOT_AFTER + 3600);
    let r = w.verify(&a, &EXACT);
    assert_code(&r, 4);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("REFUSED archive sha256:"),
        "{}",
        r.stdout
    );
    assert!(lines[0].ends_with("integrity ✓, trust ✗"), "{}", r.stdout);
    assert!(
        lines[1].starts_with(&format!(
            "  trust root: this host's root (--trusted-root {})",
            w.root.display()
        )),
        "{}",
        r.stdout
    );
    assert!(
        lines[2].starts_with(&format!("  ✗ {REF} linux/amd64 sha256:")),
        "{}",
        r.stdout
    );
    let expected: Vec<(char, String)> = [
        ('✗', "signatures"),
        ('–', "transparency-log"),
        ('–', "rollback"),
    ]
    .iter()
    .map(|(c, n)| (*c, n.to_string()))
    .collect();
    assert_eq!(report_marks(&r), expected, "{}", r.stdout);
    assert!(
        report_checks(&r)[0]
            .2
            .contains("certificate not valid at signing time: certificate had expired"),
        "{}",
        r.stdout
    );
}
