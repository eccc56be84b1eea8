//! What the gate says about each image: one check per step, the verdict,
//! and the result of a whole command.

use super::state;
use crate::model::Digest;
use crate::trust::{HighWater, RootReport, TrustError};

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Not applicable or not checked (the detail says why).
    Skip,
}

/// One line of an image's report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    /// Stable failure name (`TrustError::kind`, or `rollback`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
}

impl Check {
    pub(super) fn pass(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            status: Status::Pass,
            detail: detail.into(),
            kind: None,
        }
    }
    pub(super) fn skip(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            status: Status::Skip,
            detail: detail.into(),
            kind: None,
        }
    }
    pub(super) fn fail(name: impl Into<String>, e: &TrustError) -> Self {
        Check {
            name: name.into(),
            status: Status::Fail,
            detail: e.to_string(),
            kind: Some(e.kind()),
        }
    }
}

/// The verdict on one image.
#[derive(Debug)]
pub struct ImageVerdict {
    pub reference: String,
    pub platform: String,
    pub manifest_digest: Digest,
    pub index_digest: Option<Digest>,
    pub checks: Vec<Check>,
    /// The first trust failure (exit 4), if any.
    pub failure: Option<TrustError>,
    /// The newest verified log position among the accepted signatures.
    pub high_water: Option<HighWater>,
    /// The scoped policy rule that decided this image (version-2 policies).
    pub rule: Option<String>,
    /// The signers of that rule, as the rollback state keys them
    /// ([`super::GatePolicy::trust_identity`]).
    pub trust_identity: String,
    /// The verified Notary targets version of the image's GUN.
    pub targets: Option<super::content_trust::TargetsMark>,
}

impl ImageVerdict {
    /// Whether every check passed (skips allowed).
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }

    /// `reference (platform)`, for messages.
    pub fn label(&self) -> String {
        format!("{} ({})", self.reference, self.platform)
    }
}

/// The gate's result for a whole command.
#[derive(Debug)]
pub struct GateReport {
    /// Which trusted root verified the evidence, and why.
    pub trust_root: RootReport,
    pub images: Vec<ImageVerdict>,
    pub warnings: Vec<String>,
    /// Rollback marks to write when the whole command succeeds.
    pub pending: Vec<state::PendingMark>,
    /// Whether a rollback check refused an image (exit 5).
    pub rolled_back: bool,
}

impl GateReport {
    /// Take the error the command ends with, if any: a trust failure
    /// (exit 4) outranks a rollback (exit 5). The checks keep their text.
    pub fn take_error(&mut self) -> Option<crate::Error> {
        for v in &mut self.images {
            if let Some(e) = v.failure.take() {
                return Some(crate::Error::ImageTrust {
                    image: v.label(),
                    source: e,
                });
            }
        }
        self.images.iter().find_map(|v| {
            v.checks
                .iter()
                .find(|c| c.status == Status::Fail && c.kind == Some("rollback"))
                .map(|c| crate::Error::Rollback(format!("image {}: {}", v.label(), c.detail)))
        })
    }

    /// Whether every image passed every check.
    pub fn ok(&self) -> bool {
        self.images.iter().all(ImageVerdict::ok)
    }
}
