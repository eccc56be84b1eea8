//! Rollback protection as a pure comparison. The pipeline reads the
//! high-water mark for (image name, trust identity) from its state
//! directory, calls [`check_rollback`] only after every cryptographic check
//! passed, and writes the new mark (atomically) only on success.
//!
//! A [`Downgrade`] is not a trust failure: the integrator maps it to
//! `Error::Rollback` (exit code 5).

/// The newest verified transparency-log position accepted for an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HighWater {
    /// Highest verified Rekor log index.
    pub log_index: u64,
    /// Latest verified integrated time (Unix seconds).
    pub integrated_time: i64,
}

/// What [`check_rollback`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackDecision {
    /// Nothing was recorded for this image yet.
    FirstSeen,
    /// The evidence is as new as, or newer than, the recorded mark.
    NotOlder,
    /// Older evidence, accepted because the operator forced it
    /// (`--allow-downgrade`); must be logged.
    DowngradeForced {
        /// The mark that was recorded.
        previous: HighWater,
    },
}

/// Older evidence than already accepted, without `--allow-downgrade`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "evidence is older than what this host already accepted (log index {} at {} < log index {} at {}); use --allow-downgrade to force",
    new.log_index, new.integrated_time, previous.log_index, previous.integrated_time
)]
pub struct Downgrade {
    /// The recorded mark.
    pub previous: HighWater,
    /// The evidence just verified.
    pub new: HighWater,
}

/// Compare verified evidence with the recorded high-water mark. Evidence is
/// older when its log index *or* its integrated time is below the mark's.
pub fn check_rollback(
    previous: Option<HighWater>,
    new: HighWater,
    allow_downgrade: bool,
) -> Result<RollbackDecision, Downgrade> {
    let Some(previous) = previous else {
        return Ok(RollbackDecision::FirstSeen);
    };
    let older =
        new.log_index < previous.log_index || new.integrated_time < previous.integrated_time;
    match (older, allow_downgrade) {
        (false, _) => Ok(RollbackDecision::NotOlder),
        (true, true) => Ok(RollbackDecision::DowngradeForced { previous }),
        (true, false) => Err(Downgrade { previous, new }),
    }
}

/// The mark to record after accepting `new` over `previous`: the newer of
/// the two in each component (a forced downgrade does not lower it).
pub fn next_high_water(previous: Option<HighWater>, new: HighWater) -> HighWater {
    match previous {
        None => new,
        Some(p) => HighWater {
            log_index: p.log_index.max(new.log_index),
            integrated_time: p.integrated_time.max(new.integrated_time),
        },
    }
}
