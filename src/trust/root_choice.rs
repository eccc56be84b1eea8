//! Which trusted root verifies an archive's evidence.
//!
//! - `--trusted-root FILE` on the host always wins; a root the archive
//!   carries is then not considered (noted in the report).
//! - Otherwise an archive's `trusted_root.json` is used only when the TUF
//!   metadata the archive carries chains from the host's TUF anchor (the
//!   embedded Sigstore public-good TUF root, or `--tuf-root FILE`) through
//!   every newer root version, timestamp, snapshot and targets, all
//!   unexpired now, and the targets metadata lists exactly its bytes.
//! - In every other case the host's root (embedded, or `--trusted-root`) is
//!   used; an archive root that was offered with TUF metadata but did not
//!   chain is ignored *with a warning*, never silently.
//!
//! Pure: bytes and a clock reading in, a decision out.

use std::collections::BTreeMap;

use super::root::TrustRoot;
use super::tuf::{self, TufFiles, TRUSTED_ROOT_TARGET};
use crate::model::manifest::{ArchiveEvidenceRecord, EvidenceRole};
use crate::model::Digest;

/// Where the host's own trusted root comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostRoot {
    /// The Sigstore public-good root embedded in airlock.
    Embedded,
    /// `--trusted-root FILE` (the label names the file).
    File(String),
}

/// What the host trusts: its own trusted root and its TUF anchor.
#[derive(Debug)]
pub struct HostTrust {
    root: TrustRoot,
    root_digest: Digest,
    source: HostRoot,
    tuf_anchor: Vec<u8>,
    tuf_anchor_label: String,
}

impl HostTrust {
    /// `root_json`: the host's trusted root document (already read);
    /// `tuf_anchor`: a TUF root.json and a label for reports. Both are
    /// checked here, so a bad one is refused before any archive is read.
    pub fn new(
        root_json: &[u8],
        source: HostRoot,
        tuf_anchor: Vec<u8>,
        tuf_anchor_label: String,
    ) -> Result<Self, super::TrustError> {
        let root = TrustRoot::from_json(root_json)?;
        let version = tuf::check_anchor(&tuf_anchor)
            .map_err(|e| super::TrustError::TufChain(format!("{tuf_anchor_label}: {e}")))?;
        Ok(HostTrust {
            root,
            root_digest: Digest::of(root_json),
            source,
            tuf_anchor,
            tuf_anchor_label: format!("{tuf_anchor_label} (v{version})"),
        })
    }

    /// The embedded Sigstore public-good root and TUF root.
    pub fn public_good() -> Result<Self, super::TrustError> {
        Self::new(
            TrustRoot::production_json(),
            HostRoot::Embedded,
            tuf::SIGSTORE_TUF_ROOT.to_vec(),
            "the Sigstore public-good TUF root".into(),
        )
    }

    /// The host's own root (what is used when the archive's is not).
    pub fn root(&self) -> &TrustRoot {
        &self.root
    }

    fn host_label(&self) -> String {
        match &self.source {
            HostRoot::Embedded => {
                "this host's root (the Sigstore public-good root embedded in airlock)".into()
            }
            HostRoot::File(f) => format!("this host's root (--trusted-root {f})"),
        }
    }

    fn host_choice(&self, detail: String, warning: Option<String>) -> RootChoice<'_> {
        RootChoice {
            root: ChosenRoot::Host(&self.root),
            report: RootReport {
                source: match self.source {
                    HostRoot::Embedded => RootSource::Embedded,
                    HostRoot::File(_) => RootSource::HostFile,
                },
                digest: self.root_digest,
                tuf_root_version: None,
                detail,
            },
            warning,
        }
    }

    /// Decide which root verifies the evidence of an archive whose
    /// archive-level evidence is `evidence` (documents in `metadata`), with
    /// TUF expiry judged at `now`.
    pub fn choose<'h>(
        &'h self,
        evidence: &[ArchiveEvidenceRecord],
        metadata: &BTreeMap<Digest, Vec<u8>>,
        now: jiff::Timestamp,
    ) -> RootChoice<'h> {
        let doc = |r: &ArchiveEvidenceRecord| metadata.get(&r.digest).map(Vec::as_slice);
        let carried = evidence.iter().find(|r| r.role == EvidenceRole::TrustRoot);
        let has_tuf = evidence.iter().any(|r| r.role.is_tuf());
        let host = self.host_label();
        let Some(carried) = carried else {
            return self.host_choice(format!("{host}; the archive carries none"), None);
        };
        if carried.digest == self.root_digest {
            let how = if has_tuf {
                " (its TUF metadata was not needed)"
            } else {
                ""
            };
            return self.host_choice(
                format!("{host}, which is also the one the archive carries{how}"),
                None,
            );
        }
        if !has_tuf {
            return self.host_choice(
                format!(
                    "{host}; the archive's trusted root {} carries no TUF metadata, so it is not used",
                    carried.digest
                ),
                None,
            );
        }
        if let HostRoot::File(f) = &self.source {
            return self.host_choice(
                format!(
                    "{host}; the archive's TUF-vouched trusted root {} is not considered because --trusted-root {f} was given",
                    carried.digest
                ),
                None,
            );
        }
        let ignored = |why: String| {
            let w = format!(
                "the archive's trusted root {} is ignored: {why}; using {host}",
                carried.digest
            );
            self.host_choice(w.clone(), Some(w))
        };
        let mut roots = Vec::new();
        let one = |role: EvidenceRole| -> Option<&[u8]> {
            evidence.iter().find(|r| r.role == role).and_then(doc)
        };
        let (Some(ts), Some(snap), Some(targets), Some(target)) = (
            one(EvidenceRole::TufTimestamp),
            one(EvidenceRole::TufSnapshot),
            one(EvidenceRole::TufTargets),
            doc(carried),
        ) else {
            return ignored("its TUF metadata is incomplete".into());
        };
        for r in evidence.iter().filter(|r| r.role == EvidenceRole::TufRoot) {
            match doc(r) {
                Some(b) => roots.push(b),
                None => return ignored("its TUF metadata is incomplete".into()),
            }
        }
        let files = TufFiles {
            roots: &roots,
            timestamp: ts,
            snapshot: snap,
            targets,
        };
        let chained = match tuf::verify_target(
            &self.tuf_anchor,
            &files,
            TRUSTED_ROOT_TARGET,
            target,
            now,
        ) {
            Ok(c) => c,
            Err(e) => {
                let why = if e.is_expiry() {
                    format!(
                            "its TUF metadata does not chain from {} at the current time: {e} (expired TUF metadata is never accepted)",
                            self.tuf_anchor_label
                        )
                } else {
                    format!(
                        "its TUF metadata does not chain from {}: {e}",
                        self.tuf_anchor_label
                    )
                };
                return ignored(why);
            }
        };
        match TrustRoot::from_json(target) {
            Ok(root) => RootChoice {
                root: ChosenRoot::Archive(Box::new(root)),
                report: RootReport {
                    source: RootSource::ArchiveTuf,
                    digest: carried.digest,
                    tuf_root_version: Some(chained.root_version),
                    detail: format!(
                        "the archive's trusted root {}, chained via TUF from {} to root v{} (timestamp v{}, snapshot v{}, targets v{}; valid until {})",
                        carried.digest,
                        self.tuf_anchor_label,
                        chained.root_version,
                        chained.timestamp_version,
                        chained.snapshot_version,
                        chained.targets_version,
                        chained.expires
                    ),
                },
                warning: None,
            },
            Err(e) => ignored(format!(
                "it chains via TUF (root v{}) but is not a usable trusted root: {e}",
                chained.root_version
            )),
        }
    }
}

/// The root chosen for one archive.
pub enum ChosenRoot<'h> {
    Host(&'h TrustRoot),
    Archive(Box<TrustRoot>),
}

/// The decision and what to report about it.
pub struct RootChoice<'h> {
    pub root: ChosenRoot<'h>,
    pub report: RootReport,
    /// Set when an archive root was offered (with TUF metadata) and refused.
    pub warning: Option<String>,
}

impl RootChoice<'_> {
    pub fn root(&self) -> &TrustRoot {
        match &self.root {
            ChosenRoot::Host(r) => r,
            ChosenRoot::Archive(r) => r,
        }
    }
}

/// Where the root that verified the evidence came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootSource {
    /// The public-good root embedded in airlock.
    Embedded,
    /// The host's `--trusted-root FILE`.
    HostFile,
    /// The archive's root, chained via TUF from the host's anchor.
    ArchiveTuf,
}

/// The `trustRoot` part of a report.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RootReport {
    pub source: RootSource,
    /// sha256 of the trusted_root.json document used.
    pub digest: Digest,
    /// The TUF root version the chain ended at (archive roots only).
    pub tuf_root_version: Option<u64>,
    pub detail: String,
}
