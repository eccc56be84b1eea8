//! `airlock verify-local IMAGE --in TARGET`: re-verify an installed image
//! offline against the evidence that admitted it. The target says which
//! image the name points at now; the state directory says what `unpack`
//! admitted under that name (every stored document re-hashed); the policy
//! the host has now is applied to that evidence again.

use std::path::PathBuf;

use crate::error::Error;
use crate::gate::admitted::{self, Admission};
use crate::gate::{self, GateConfig, GateReport};
use crate::sink::installed::{self, Installed};
use crate::sink::{SinkOptions, Target};
use crate::trust::TrustError;

#[derive(Debug)]
pub struct VerifyLocalRequest {
    /// The name in the target (as `unpack` reported it).
    pub name: String,
    pub target: Target,
    pub state_dir: Option<PathBuf>,
    pub sink: SinkOptions,
}

#[derive(Debug)]
pub struct VerifiedLocal {
    pub installed: Installed,
    pub admission: Admission,
    pub gate: GateReport,
}

pub fn verify_local(req: &VerifyLocalRequest, mut cfg: GateConfig) -> Result<VerifiedLocal, Error> {
    let state = req.state_dir.as_ref().ok_or_else(|| {
        Error::Usage("no state directory: give --state-dir or set AIRLOCK_STATE_DIR".into())
    })?;
    let installed = installed::lookup(&req.target, &req.name, &req.sink)?;
    let (target, now) = match &installed {
        Installed::Config { target, digest } | Installed::Manifest { target, digest } => {
            (target.clone(), *digest)
        }
    };
    let admission = admitted::load(state, &target, &req.name)?;
    let image = admission
        .image()
        .ok_or_else(|| Error::Source("the admission record holds no image".into()))?;
    let (admitted_digest, what) = match installed {
        Installed::Config { .. } => (image.config_digest, "image ID (config digest)"),
        Installed::Manifest { .. } => (image.manifest_digest, "manifest digest"),
    };
    // A registry tag may name the image index the image was admitted with.
    let via_index =
        matches!(installed, Installed::Manifest { .. }) && image.index_digest == Some(now);
    if now != admitted_digest && !via_index {
        return Err(TrustError::MaterialMismatch(format!(
            "{} in {target} now has {what} {now}, but airlock unpack admitted {admitted_digest} under that name at {}: it was retagged or replaced",
            req.name, admission.recorded_at
        ))
        .into());
    }
    // The rollback marks moved on with later loads; this check is about the
    // installed image and its own evidence.
    cfg.rollback = None;
    let gate = gate::run(
        &admission.outcome.manifest.images,
        &admission.outcome.metadata,
        &admission.outcome.manifest.evidence,
        &cfg,
    )?;
    Ok(VerifiedLocal {
        installed,
        admission,
        gate,
    })
}
