//! A publisher's whole job, for the demo: build a multi-arch busybox image,
//! push it to a registry, sign the index and every platform manifest with a
//! cosign key (as `cosign sign --recursive --key` does), log each signature
//! in a Rekor v1 log, and attach an SBOM and SLSA provenance (`.att`).

use std::io;
use std::path::{Path, PathBuf};

use p256::ecdsa::SigningKey;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};
use serde::Serialize;

use super::cosign::{self, SigLayer};
use super::publish::{Publisher, RegistryTarget};
use super::{FileEntry, ImageSpec, Layout, Platform};
use airlock::model::Digest;

/// What to publish where.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    pub target: RegistryTarget,
    /// Repository path inside the registry, e.g. `demo/busybox`.
    pub repo: String,
    pub tag: String,
    /// A static busybox for the amd64 image (the arm64 image holds a marker
    /// file only: Debian's arm64 busybox is not installable on amd64).
    pub busybox: PathBuf,
    /// Rekor v1 API to log signatures in; `None` leaves them unlogged.
    pub rekor_url: Option<String>,
    /// Scratch directory for the OCI layout built before pushing.
    pub work_dir: PathBuf,
}

/// What was pushed, by digest.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    pub reference: String,
    pub index: Digest,
    /// (`os/arch[/variant]`, manifest digest).
    pub platforms: Vec<(String, Digest)>,
    /// `.sig` manifest digests, index first.
    pub signatures: Vec<Digest>,
    pub sbom: Digest,
    /// The `.att` (SLSA provenance, not logged) of the amd64 manifest.
    pub attestation: Digest,
    /// Whether the signatures carry a Rekor SET.
    pub logged: bool,
}

/// Reads a P-256 private key (PKCS#8 or SEC1 PEM).
pub fn load_key(path: &Path) -> io::Result<SigningKey> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    SigningKey::from_pkcs8_pem(&pem)
        .or_else(|_| p256::SecretKey::from_sec1_pem(&pem).map(SigningKey::from))
        .map_err(|_| {
            io::Error::other(format!(
                "{}: not an ECDSA P-256 private key PEM",
                path.display()
            ))
        })
}

/// Writes a new key pair as `PREFIX.key` (PKCS#8, 0600) and `PREFIX.pub`
/// (SPKI, like `cosign.pub`).
pub fn generate_key(prefix: &Path) -> io::Result<(PathBuf, PathBuf)> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let key = SigningKey::random(&mut rand_core::OsRng);
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| io::Error::other(format!("encode private key: {e}")))?;
    let key_path = prefix.with_extension("key");
    let pub_path = prefix.with_extension("pub");
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&key_path)?
        .write_all(private.as_bytes())?;
    std::fs::write(&pub_path, cosign::public_key_pem(&key)?)?;
    Ok((key_path, pub_path))
}

/// Build, push, sign, log and attach, in that order.
pub fn publish_signed_busybox(req: &PublishRequest, key: &SigningKey) -> io::Result<Published> {
    let mut l = Layout::create(req.work_dir.join("layout"))?;
    let busybox = l.add_layer(&[
        FileEntry::file("/bin/busybox", &req.busybox, 0o755),
        FileEntry::file("/bin/sh", &req.busybox, 0o755),
    ])?;
    let mut manifests = Vec::new();
    let mut amd64 = ImageSpec::new(Platform::linux("amd64"));
    amd64.entrypoint = Some(vec!["/bin/busybox".into()]);
    amd64.cmd = Some(vec!["sh".into()]);
    manifests.push((l.add_image(&amd64, &[busybox])?, amd64.platform));
    let marker = l.add_layer(&[FileEntry::bytes(
        "/etc/airlock-demo",
        "linux/arm64/v8 placeholder\n",
        0o644,
    )])?;
    let arm64 = ImageSpec::new(Platform::linux("arm64/v8"));
    manifests.push((l.add_image(&arm64, &[marker])?, arm64.platform));
    let index = l.add_index(&manifests)?;
    let dir = l.finish()?;

    let p = Publisher::connect(&req.target)?;
    let index_digest = p.push_layout(
        &dir,
        &index.digest,
        &index.media_type,
        &req.repo,
        Some(&req.tag),
    )?;
    let name = format!("{}/{}", req.target.host, req.repo);
    let public_pem = cosign::public_key_pem(key)?;

    let mut subjects = vec![index_digest];
    let mut platforms = Vec::new();
    for (m, platform) in &manifests {
        let d: Digest = m
            .digest
            .parse()
            .map_err(|e| io::Error::other(format!("{}: {e}", m.digest)))?;
        platforms.push((platform.to_string(), d));
        subjects.push(d);
    }
    let mut signatures = Vec::new();
    for subject in &subjects {
        let mut layer = SigLayer::new(key, &subject.to_string(), &name);
        if let Some(url) = &req.rekor_url {
            layer.bundle = Some(cosign::log_in_rekor(url, &layer, &public_pem)?);
        }
        signatures.push(p.cosign_signature(&req.repo, subject, &[layer])?);
    }
    let sbom = p.cosign_sbom(&req.repo, &platforms[0].1)?;
    // Provenance for the amd64 image. Not logged: the test Rekor log takes
    // hashedrekord entries only, so policies must not require attestations.
    let statement = cosign::provenance_statement(
        &name,
        &platforms[0].1.to_string(),
        "https://github.com/airlock-demo/busybox",
        "refs/tags/v1.36",
    );
    let attestation = p.cosign_attestation(
        &req.repo,
        &platforms[0].1,
        &cosign::dsse_envelope(key, &statement),
        cosign::SLSA_PROVENANCE_02,
        None,
    )?;
    Ok(Published {
        reference: format!("{name}:{}", req.tag),
        index: index_digest,
        platforms,
        signatures,
        sbom,
        attestation,
        logged: req.rekor_url.is_some(),
    })
}

/// A second publisher's job, for the demo: a Helm chart pushed to
/// `repo:tag` (plain HTTP when `target.insecure`) and signed with `key`
/// as `cosign sign --key` signs a chart's digest, the signature logged in
/// Rekor when `rekor_url` is given. Returns the chart manifest's digest.
pub fn publish_signed_chart(
    target: &RegistryTarget,
    repo: &str,
    tag: &str,
    key: &SigningKey,
    rekor_url: Option<&str>,
    work_dir: &Path,
) -> io::Result<Digest> {
    let mut l = Layout::create(work_dir.join("layout"))?;
    let name = repo.rsplit('/').next().unwrap_or(repo);
    let chart = l.add_helm_chart(
        name,
        tag,
        format!("{name}-{tag}.tgz (demo chart)\n").as_bytes(),
    )?;
    let dir = l.finish()?;
    let p = Publisher::connect(target)?;
    let digest = p.push_layout(&dir, &chart.digest, &chart.media_type, repo, Some(tag))?;
    let reference = format!("{}/{repo}", target.host);
    let mut layer = SigLayer::new(key, &digest.to_string(), &reference);
    if let Some(url) = rekor_url {
        layer.bundle = Some(cosign::log_in_rekor(
            url,
            &layer,
            &cosign::public_key_pem(key)?,
        )?);
    }
    p.cosign_signature(repo, &digest, &[layer])?;
    Ok(digest)
}
