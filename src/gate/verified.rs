//! The gate between "the archive was read" and "a target may load it".
//!
//! [`Gate`] is the single hook the trust layer plugs into: it sees the fully
//! integrity-checked [`ReadOutcome`] and the images about to be unpacked, and
//! either admits them or returns the refusal (`Error::Trust`,
//! `Error::Rollback`, …). [`VerifiedArchive`] is the proof that it ran: its
//! constructor is private to this module, and [`crate::sink::Sink::finish`]
//! takes one, so no sink can commit anything that did not pass the gate.

use crate::archive::ReadOutcome;
use crate::error::Error;
use crate::model::{BlobRecord, Digest, ImageRecord};

/// One image chosen for unpacking, with the name the target should give it.
#[derive(Debug, Clone)]
pub struct SelectedImage {
    pub record: ImageRecord,
    /// The reference to tag in the target (the packed one, or `--tag`).
    pub tag: String,
    /// Blobs the image itself needs: manifest, config, layers.
    pub image_blobs: Vec<Digest>,
    /// Evidence documents and the blobs they reference.
    pub evidence_blobs: Vec<Digest>,
}

/// What an unpack will hand to the sink: the chosen images and every blob
/// they need, each listed once, in archive order.
#[derive(Debug, Clone)]
pub struct Plan {
    pub images: Vec<SelectedImage>,
    pub blobs: Vec<BlobRecord>,
}

/// The trust decision, made once per unpack after integrity passed and before
/// any blob is handed to a sink.
pub trait Gate {
    /// Admit (Ok) or refuse (the error is reported and unpack stops with
    /// nothing loaded). Must not write state: see [`Gate::committed`].
    fn admit(&self, outcome: &ReadOutcome, plan: &Plan) -> Result<(), Error>;

    /// Called once the sink committed successfully; the place for state that
    /// must only change on success (rollback high-water marks).
    fn committed(&self, _outcome: &ReadOutcome, _plan: &Plan) -> Result<(), Error> {
        Ok(())
    }

    /// Short description for reports, e.g. "integrity only".
    fn describe(&self) -> String;
}

/// Today's gate: the archive reader already checked every digest, size and
/// reference; no signature policy is applied.
#[derive(Debug, Default, Clone, Copy)]
pub struct IntegrityOnly;

impl Gate for IntegrityOnly {
    fn admit(&self, _outcome: &ReadOutcome, _plan: &Plan) -> Result<(), Error> {
        Ok(())
    }

    fn describe(&self) -> String {
        "integrity only (no signature policy given)".into()
    }
}

/// Proof that integrity and the gate passed for this plan. Only
/// [`pass_gate`] makes one.
///
/// ```compile_fail
/// use airlock::gate::VerifiedArchive;
/// let v = VerifiedArchive { outcome: todo!(), plan: todo!() };
/// ```
#[derive(Debug)]
pub struct VerifiedArchive<'a> {
    outcome: &'a ReadOutcome,
    plan: &'a Plan,
}

impl<'a> VerifiedArchive<'a> {
    pub fn outcome(&self) -> &'a ReadOutcome {
        self.outcome
    }

    pub fn plan(&self) -> &'a Plan {
        self.plan
    }

    /// The bytes of a JSON document (manifest, config, evidence) checked by
    /// the archive reader.
    pub fn metadata(&self, d: &Digest) -> Option<&'a [u8]> {
        self.outcome.metadata.get(d).map(Vec::as_slice)
    }
}

/// Run the gate; on success, return the proof the sinks need.
pub fn pass_gate<'a>(
    gate: &dyn Gate,
    outcome: &'a ReadOutcome,
    plan: &'a Plan,
) -> Result<VerifiedArchive<'a>, Error> {
    gate.admit(outcome, plan)?;
    Ok(VerifiedArchive { outcome, plan })
}
