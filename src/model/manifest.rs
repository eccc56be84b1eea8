//! airlock's archive manifest (`airlock.json`): the one document that names
//! every image, every piece of evidence and every blob in an archive, so its
//! digest identifies the whole archive. Schema: `schema/archive-manifest.schema.json`.

use serde::{Deserialize, Serialize};

use super::media;
use super::Digest;

/// The only format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// File name of the archive manifest inside the tar.
pub const FILE_NAME: &str = "airlock.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArchiveManifest {
    pub media_type: String,
    pub format_version: u32,
    /// RFC 3339 UTC; from SOURCE_DATE_EPOCH, else the Unix epoch, so output
    /// stays byte-identical across runs.
    pub created: String,
    pub tool: ToolRecord,
    /// Digests of the layout files that are not blobs, so the archive
    /// manifest's digest covers them too.
    pub layout: LayoutRecord,
    pub images: Vec<ImageRecord>,
    /// Every blob in `blobs/sha256/`, sorted by digest.
    pub blobs: Vec<BlobRecord>,
    /// Whether Rekor inclusion proofs were fetched at pack time for the
    /// signatures that carry only a SET (absent in archives packed without
    /// that step, e.g. by the library's `pipeline::pack` alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transparency: Option<TransparencyRecord>,
    /// Evidence about the whole archive rather than one image: the Sigstore
    /// trusted root pack used, and the TUF metadata that may vouch for it.
    /// Each is a JSON blob listed in `blobs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<ArchiveEvidenceRecord>,
    /// A delta archive's bases: what the site already had when it was
    /// packed (absent in a full archive, so full archives keep their bytes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bases: Vec<BaseRecord>,
    /// Image layers left out because a base holds them, sorted by digest;
    /// never also in `blobs`. Listed here so this manifest's digest still
    /// names every byte the full archive holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external: Vec<ExternalBlobRecord>,
}

/// What a delta was packed against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BaseRecord {
    pub kind: BaseKind,
    /// An archive's manifest digest (sha256 of its `airlock.json`), or the
    /// sha256 of an inventory file.
    pub digest: Digest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaseKind {
    Archive,
    Inventory,
}

impl BaseRecord {
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            BaseKind::Archive => "archive",
            BaseKind::Inventory => "inventory",
        }
    }
}

/// A blob the archive does not carry: a base named it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalBlobRecord {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    /// Index into `bases` of the first base that named it.
    pub base: usize,
}

impl ExternalBlobRecord {
    /// The record the full archive lists for this blob.
    pub fn blob_record(&self) -> BlobRecord {
        BlobRecord {
            digest: self.digest,
            size: self.size,
            media_type: self.media_type.clone(),
        }
    }
}

/// What pack did about transparency-log inclusion proofs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransparencyRecord {
    pub rekor_proofs: RekorProofs,
    /// The Rekor instance the proofs were fetched from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekor_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RekorProofs {
    /// Every signature with only a SET has a `rekor-proof` evidence document.
    Fetched,
    /// `--no-rekor`: proofs were deliberately left out.
    Omitted,
    /// No signature needed one (none found, or all carried their proof).
    NoneNeeded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolRecord {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LayoutRecord {
    /// `index.json`.
    pub index: FileRecord,
    /// The docker-compatible `manifest.json`.
    pub docker_manifest: FileRecord,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileRecord {
    pub digest: Digest,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageRecord {
    /// The reference the image was packed from (e.g. `registry.example/app:1.2`).
    pub reference: String,
    /// Where it came from (`oci-layout:DIR`, later `registry`).
    pub source: String,
    /// The image index the manifest was selected from, when there was one;
    /// signatures may be made over either digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<Digest>,
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    pub manifest_size: u64,
    pub config_digest: Digest,
    /// What the manifest is; absent for a runnable image, so archives of
    /// images alone are the same bytes as before artifacts existed.
    #[serde(default, skip_serializing_if = "EntryKind::is_image")]
    pub kind: EntryKind,
    /// For an artifact: its `artifactType`, else its config media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// An image's platform (from its config). An artifact has one only when
    /// its index descriptor names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformRecord>,
    /// Sum of manifest, config and layer sizes.
    pub size: u64,
    /// Signatures, attestations, SBOMs, referrers, bundles, log proofs.
    #[serde(default)]
    pub evidence: Vec<EvidenceRecord>,
}

/// What an entry of the archive is, derived from its manifest
/// (`model::oci::entry_kind`) and checked against it when read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// A runnable container image (OCI or Docker image config).
    #[default]
    Image,
    /// A Helm chart (`application/vnd.cncf.helm.config.v1+json`).
    HelmChart,
    /// Files in the ORAS convention: every layer titled with its file name.
    Files,
    /// Any other artifact type (WASM module, policy bundle, ...).
    Artifact,
}

impl EntryKind {
    pub fn is_image(&self) -> bool {
        *self == EntryKind::Image
    }

    /// The name used in airlock.json and reports.
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Image => "image",
            EntryKind::HelmChart => "helm-chart",
            EntryKind::Files => "files",
            EntryKind::Artifact => "artifact",
        }
    }
}

impl ImageRecord {
    /// The platform, or for an artifact without one its kind: what reports
    /// print in parentheses after the reference.
    pub fn platform_label(&self) -> String {
        match &self.platform {
            Some(p) => p.to_string(),
            None => self.kind.name().to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlatformRecord {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl std::fmt::Display for PlatformRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// What a piece of evidence is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceRole {
    /// cosign `sha256-<hex>.sig` manifest.
    Signature,
    /// cosign `sha256-<hex>.att` manifest.
    Attestation,
    /// cosign `sha256-<hex>.sbom` manifest, or an SBOM referrer.
    Sbom,
    /// A Sigstore bundle referrer.
    Bundle,
    /// Any other OCI 1.1 referrer.
    Referrer,
    /// A Rekor entry with inclusion proof and checkpoint fetched at pack time.
    RekorProof,
    /// The Sigstore trusted root used at pack time (archive-level).
    TrustRoot,
    /// A TUF `N.root.json` version (archive-level).
    TufRoot,
    /// TUF `timestamp.json` (archive-level).
    TufTimestamp,
    /// TUF `snapshot.json` (archive-level).
    TufSnapshot,
    /// TUF `targets.json` (archive-level).
    TufTargets,
    /// Docker Content Trust: the Notary metadata of the image's repository,
    /// fetched at pack (one document, `model::notary::NotaryDocument`).
    NotaryTrust,
}

impl EvidenceRole {
    /// Whether the role describes the whole archive (top-level `evidence`)
    /// rather than one image.
    pub fn is_archive_level(self) -> bool {
        matches!(
            self,
            EvidenceRole::TrustRoot
                | EvidenceRole::TufRoot
                | EvidenceRole::TufTimestamp
                | EvidenceRole::TufSnapshot
                | EvidenceRole::TufTargets
        )
    }

    /// Whether the role is one of the TUF metadata roles.
    pub fn is_tuf(self) -> bool {
        self.is_archive_level() && self != EvidenceRole::TrustRoot
    }

    /// The kebab-case name used in airlock.json.
    pub fn name(self) -> &'static str {
        match self {
            EvidenceRole::Signature => "signature",
            EvidenceRole::Attestation => "attestation",
            EvidenceRole::Sbom => "sbom",
            EvidenceRole::Bundle => "bundle",
            EvidenceRole::Referrer => "referrer",
            EvidenceRole::RekorProof => "rekor-proof",
            EvidenceRole::TrustRoot => "trust-root",
            EvidenceRole::TufRoot => "tuf-root",
            EvidenceRole::TufTimestamp => "tuf-timestamp",
            EvidenceRole::TufSnapshot => "tuf-snapshot",
            EvidenceRole::TufTargets => "tuf-targets",
            EvidenceRole::NotaryTrust => "notary-trust",
        }
    }
}

/// A piece of archive-level evidence (trust material). Not tied to an
/// image, so it has no `subject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArchiveEvidenceRecord {
    pub role: EvidenceRole,
    pub digest: Digest,
    pub media_type: String,
    /// The file name it was published under (`trusted_root.json`,
    /// `3.root.json`, `timestamp.json`…). Informational: verification reads
    /// versions from the authenticated documents, never from this name.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvidenceRecord {
    pub role: EvidenceRole,
    pub digest: Digest,
    pub media_type: String,
    /// The image digest (manifest or index) this evidence is about.
    pub subject: Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The cosign tag it was found under, e.g. `sha256-<hex>.sig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlobRecord {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

/// Tar order class of a blob: small JSON documents stream before layer data,
/// so a reader has every manifest in hand before the bulk arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BlobClass {
    Metadata,
    Data,
}

impl BlobRecord {
    pub fn class(&self) -> BlobClass {
        if media::is_json(&self.media_type) && self.size <= super::limits::SMALL_BLOB_BYTES {
            BlobClass::Metadata
        } else {
            BlobClass::Data
        }
    }

    /// The key blobs are sorted by in the tar.
    pub fn order_key(&self) -> (BlobClass, Digest) {
        (self.class(), self.digest)
    }
}

impl ArchiveManifest {
    pub fn blob(&self, digest: &Digest) -> Option<&BlobRecord> {
        self.blobs
            .binary_search_by(|b| b.digest.cmp(digest))
            .ok()
            .and_then(|i| self.blobs.get(i))
    }

    /// A blob this (delta) archive leaves to its base.
    pub fn external_blob(&self, digest: &Digest) -> Option<&ExternalBlobRecord> {
        self.external
            .binary_search_by(|b| b.digest.cmp(digest))
            .ok()
            .and_then(|i| self.external.get(i))
    }

    /// Whether the archive is a delta (needs its base for the full images).
    pub fn is_delta(&self) -> bool {
        !self.external.is_empty() || !self.bases.is_empty()
    }

    /// Size and media type of a blob, carried or external.
    pub fn any_blob(&self, digest: &Digest) -> Option<BlobRecord> {
        self.blob(digest)
            .cloned()
            .or_else(|| self.external_blob(digest).map(|e| e.blob_record()))
    }
}

/// The `created` timestamp: SOURCE_DATE_EPOCH when set, else the epoch.
pub fn creation_time() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0);
    format_rfc3339(secs)
}

pub fn source_date_epoch() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0)
}

/// Civil-from-days (Howard Hinnant), to avoid a date crate for one string.
fn format_rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_the_serialised_names() {
        use EvidenceRole::*;
        let all = [
            Signature,
            Attestation,
            Sbom,
            Bundle,
            Referrer,
            RekorProof,
            TrustRoot,
            TufRoot,
            TufTimestamp,
            TufSnapshot,
            TufTargets,
            NotaryTrust,
        ];
        for r in all {
            assert_eq!(serde_json::to_value(r).unwrap(), r.name());
        }
        let archive: Vec<_> = all.iter().filter(|r| r.is_archive_level()).collect();
        assert_eq!(
            archive,
            [
                &TrustRoot,
                &TufRoot,
                &TufTimestamp,
                &TufSnapshot,
                &TufTargets
            ]
        );
        assert!(!TrustRoot.is_tuf() && TufTargets.is_tuf());
    }

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn a_json_blob_is_metadata_up_to_the_small_blob_limit() {
        let rec = |size| BlobRecord {
            digest: crate::model::Digest::of(b"x"),
            size,
            media_type: crate::model::media::OCI_MANIFEST.into(),
        };
        let limit = crate::model::limits::SMALL_BLOB_BYTES;
        assert_eq!(rec(limit).class(), BlobClass::Metadata);
        assert_eq!(rec(limit + 1).class(), BlobClass::Data);
    }
}
