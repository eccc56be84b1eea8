//! Rollback state: per (image repository, platform, trust identity), the
//! highest accepted Rekor log index and integrated time.
//!
//! Layout: `<state-dir>/rollback/<sha256 hex of "repo\nplatform\nidentity">.json`
//! holding `{"version":1,"image":…,"platform":…,"identity":…,"logIndex":N,"integratedTime":T}`.
//! The file name is a hash so no input reaches a path; the fields repeat the
//! key so an operator can read the file. A file that exists but cannot be
//! read or parsed stops the command (treating it as "first seen" would let
//! an attacker reset the mark by corrupting it).
//!
//! Marks are compared only against what was stored before this command
//! (several tags of one repository in one archive are each compared with the
//! stored mark), and written by [`commit`], each atomically (temp file in the
//! same directory, fsync, rename), only when the whole command succeeded.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Check, ImageVerdict, RollbackOptions, Status};
use crate::error::{Error, IoContext as _};
use crate::model::Digest;
use crate::trust::{check_rollback, next_high_water, HighWater, RollbackDecision};

/// Largest state file read.
const MAX_STATE_FILE: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StateFile {
    version: u32,
    image: String,
    platform: String,
    identity: String,
    log_index: u64,
    integrated_time: i64,
}

/// Docker Content Trust: per GUN, the highest verified targets version,
/// at `<state-dir>/notary/<sha256 hex of GUN>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TargetsStateFile {
    version: u32,
    gun: String,
    targets_version: u64,
}

#[derive(Debug, Clone)]
enum Mark {
    Log(StateFile),
    Targets(TargetsStateFile),
}

/// A mark to write once the whole command succeeded.
#[derive(Debug, Clone)]
pub struct PendingMark {
    path: PathBuf,
    file: Mark,
}

impl PendingMark {
    /// Where it will be written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The repository name rollback is keyed on: tag and digest dropped, so an
/// older version under another tag is still older.
pub fn image_name(reference: &str) -> String {
    crate::trust::normalize_repository(reference).unwrap_or_else(|_| reference.to_string())
}

fn state_path(dir: &Path, image: &str, platform: &str, identity: &str) -> PathBuf {
    let key = Digest::of(format!("{image}\n{platform}\n{identity}").as_bytes());
    dir.join("rollback").join(format!("{}.json", key.hex()))
}

fn read_state<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, Error> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io_path("open rollback state", path, e)),
    };
    let mut buf = Vec::new();
    f.take(MAX_STATE_FILE + 1)
        .read_to_end(&mut buf)
        .at("read rollback state", path)?;
    if buf.len() as u64 > MAX_STATE_FILE {
        return Err(Error::Usage(format!(
            "rollback state {} is larger than {MAX_STATE_FILE} bytes; refusing to guess",
            path.display()
        )));
    }
    serde_json::from_slice(&buf).map(Some).map_err(|e| {
        Error::Usage(format!(
            "rollback state {} is unreadable ({e}); refusing to guess (repair or remove it deliberately)",
            path.display()
        ))
    })
}

/// Compare each image's verified mark with the stored one and append a
/// `rollback` check. Returns the marks to write and whether any image was
/// refused. Call only when every image passed its cryptographic checks.
pub fn check(
    verdicts: &mut [ImageVerdict],
    opts: &RollbackOptions,
    warnings: &mut Vec<String>,
) -> Result<(Vec<PendingMark>, bool), Error> {
    let mut pending: Vec<PendingMark> = Vec::new();
    let mut refused = false;
    for v in verdicts.iter_mut() {
        let Some(new) = v.high_water else {
            v.checks.push(super::Check::skip(
                "rollback",
                "not checked: no verified transparency-log entry to compare",
            ));
            continue;
        };
        let identity = v.trust_identity.clone();
        let identity = identity.as_str();
        let image = image_name(&v.reference);
        let path = state_path(&opts.state_dir, &image, &v.platform, identity);
        let stored: Option<StateFile> = read_state(&path)?;
        if let Some(s) = &stored {
            if s.image != image || s.platform != v.platform || s.identity != identity {
                return Err(Error::Usage(format!(
                    "rollback state {} names another image or identity; refusing to guess",
                    path.display()
                )));
            }
        }
        let previous = stored.map(|s| HighWater {
            log_index: s.log_index,
            integrated_time: s.integrated_time,
        });
        match check_rollback(previous, new, opts.allow_downgrade) {
            Ok(decision) => {
                let detail = match decision {
                    RollbackDecision::FirstSeen => format!(
                        "first seen on this host (log index {}, integrated time {})",
                        new.log_index, new.integrated_time
                    ),
                    RollbackDecision::NotOlder => format!(
                        "log index {} ≥ {} accepted before",
                        new.log_index,
                        previous.map_or(0, |p| p.log_index)
                    ),
                    RollbackDecision::DowngradeForced { previous } => {
                        let msg = format!(
                            "DOWNGRADE accepted by --allow-downgrade for {}: log index {} at {} < {} at {} accepted before",
                            v.label(),
                            new.log_index,
                            new.integrated_time,
                            previous.log_index,
                            previous.integrated_time
                        );
                        warnings.push(msg.clone());
                        msg
                    }
                };
                v.checks.push(super::Check::pass("rollback", detail));
                // Several images may share one key (tags of one repository):
                // keep the newest of what this command accepted.
                let base = match pending.iter().find(|p| p.path == path) {
                    Some(PendingMark {
                        file: Mark::Log(f), ..
                    }) => Some(HighWater {
                        log_index: f.log_index,
                        integrated_time: f.integrated_time,
                    }),
                    _ => previous,
                };
                let mark = next_high_water(base, new);
                pending.retain(|p| p.path != path);
                pending.push(PendingMark {
                    path,
                    file: Mark::Log(StateFile {
                        version: 1,
                        image,
                        platform: v.platform.clone(),
                        identity: identity.to_string(),
                        log_index: mark.log_index,
                        integrated_time: mark.integrated_time,
                    }),
                });
            }
            Err(downgrade) => {
                refused = true;
                v.checks.push(Check {
                    name: "rollback".into(),
                    status: Status::Fail,
                    detail: downgrade.to_string(),
                    kind: Some("rollback"),
                });
            }
        }
    }
    check_targets(verdicts, opts, warnings, &mut pending, &mut refused)?;
    Ok((pending, refused))
}

/// The Notary targets version per GUN: never older than one accepted before.
fn check_targets(
    verdicts: &mut [ImageVerdict],
    opts: &RollbackOptions,
    warnings: &mut Vec<String>,
    pending: &mut Vec<PendingMark>,
    refused: &mut bool,
) -> Result<(), Error> {
    for v in verdicts.iter_mut() {
        let Some(t) = v.targets.clone() else {
            continue;
        };
        let key = Digest::of(t.gun.as_bytes());
        let path = opts
            .state_dir
            .join("notary")
            .join(format!("{}.json", key.hex()));
        let stored: Option<TargetsStateFile> = read_state(&path)?;
        if stored.as_ref().is_some_and(|s| s.gun != t.gun) {
            return Err(Error::Usage(format!(
                "rollback state {} names another repository; refusing to guess",
                path.display()
            )));
        }
        let floor = stored.map(|s| s.targets_version);
        let name = "content-trust rollback";
        match floor {
            Some(f) if t.targets_version < f && !opts.allow_downgrade => {
                *refused = true;
                v.checks.push(Check {
                    name: name.into(),
                    status: Status::Fail,
                    detail: format!(
                        "{}: targets version {} is older than version {f} accepted before",
                        t.gun, t.targets_version
                    ),
                    kind: Some("rollback"),
                });
                continue;
            }
            Some(f) if t.targets_version < f => {
                let msg = format!(
                    "DOWNGRADE accepted by --allow-downgrade for {}: Notary targets version {} < {f} accepted before",
                    t.gun, t.targets_version
                );
                warnings.push(msg.clone());
                v.checks.push(Check::pass(name, msg));
            }
            Some(f) => v.checks.push(Check::pass(
                name,
                format!(
                    "{}: targets version {} ≥ {f} accepted before",
                    t.gun, t.targets_version
                ),
            )),
            None => v.checks.push(Check::pass(
                name,
                format!(
                    "{}: targets version {} first seen on this host",
                    t.gun, t.targets_version
                ),
            )),
        }
        let before = pending.iter().find_map(|p| match &p.file {
            Mark::Targets(f) if p.path == path => Some(f.targets_version),
            _ => None,
        });
        let mark = [floor, before, Some(t.targets_version)]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(t.targets_version);
        pending.retain(|p| p.path != path);
        pending.push(PendingMark {
            path,
            file: Mark::Targets(TargetsStateFile {
                version: 1,
                gun: t.gun,
                targets_version: mark,
            }),
        });
    }
    Ok(())
}

/// Write the marks (each atomically). Call only when the whole command
/// succeeded.
pub fn commit(marks: &[PendingMark]) -> Result<(), Error> {
    for m in marks {
        let dir = m.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).at("create state directory", dir)?;
        crate::scratch::sweep(dir, "state");
        let mut tmp = tempfile::Builder::new()
            .prefix(&crate::scratch::prefix("state"))
            .tempfile_in(dir)
            .at("create a temporary file in", dir)?;
        let bytes = match &m.file {
            Mark::Log(f) => serde_json::to_vec_pretty(f),
            Mark::Targets(f) => serde_json::to_vec_pretty(f),
        }
        .map_err(|e| Error::io("encode rollback state", std::io::Error::other(e)))?;
        tmp.write_all(&bytes).at("write", tmp.path())?;
        tmp.as_file().sync_all().at("sync", tmp.path())?;
        tmp.persist(&m.path)
            .map_err(|e| Error::io_path("rename into", &m.path, e.error))?;
    }
    Ok(())
}
