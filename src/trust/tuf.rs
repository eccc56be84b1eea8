//! TUF chaining of a trust root carried in an archive: from a TUF root the
//! host already trusts (the anchor), through the archive's newer root
//! versions, then timestamp → snapshot → targets, and finally the length and
//! hashes of the `trusted_root.json` target. Every TUF rule (signature
//! thresholds, root version +1 steps signed by both the old and the new
//! root, version pins, expiry) is enforced by `sigstore-tuf`'s
//! [`TrustedMetadataSet`], a state machine without I/O; this module only
//! feeds it bytes in the workflow's order and checks the target file, which
//! that crate leaves to its (networked) client. Bytes in, verdict out: no
//! file system, no sockets.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256, Sha512};
use sigstore_tuf::{Metadata, Root, TrustedMetadataSet};

/// The Sigstore public-good TUF root (version 16, expires 2027-04-22),
/// vendored verbatim from the `sigstore-trust-root` 0.15.1 crate
/// (`repository/tuf_root.json`, sha256
/// 27aea7e372aa7864065174f0661784fcf8b0e28b1dbfebeada31a0f1fb19167f): that
/// crate only exposes it behind its `tuf` feature, which pulls in an HTTP
/// client. It is the host's default anchor for archive-carried roots.
pub const SIGSTORE_TUF_ROOT: &[u8] = include_bytes!("sigstore_tuf_root.json");

/// The target name Sigstore publishes its trusted root under.
pub const TRUSTED_ROOT_TARGET: &str = "trusted_root.json";

/// Largest TUF metadata file accepted (Sigstore's are a few KiB).
pub const MAX_TUF_METADATA: usize = 1024 * 1024;

/// Most root versions one chain may step through.
pub const MAX_ROOT_VERSIONS: usize = 1024;

/// The TUF metadata an archive carries, as bytes.
#[derive(Debug, Clone, Copy)]
pub struct TufFiles<'a> {
    /// Root versions, in any order (those not newer than the anchor are skipped).
    pub roots: &'a [&'a [u8]],
    pub timestamp: &'a [u8],
    pub snapshot: &'a [u8],
    pub targets: &'a [u8],
}

/// What a successful chain established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chained {
    /// Version of the host's anchor root.
    pub anchor_version: u64,
    /// Version of the root the chain ended at (signs timestamp/snapshot/targets).
    pub root_version: u64,
    pub timestamp_version: u64,
    pub snapshot_version: u64,
    pub targets_version: u64,
    /// The earliest expiry among the final root, timestamp, snapshot and targets.
    pub expires: jiff::Timestamp,
}

/// Why a chain was refused. The text is for humans.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TufError {
    #[error("the host's TUF root is unusable: {0}")]
    Anchor(String),
    #[error("{what} is larger than {limit} bytes")]
    TooLarge { what: String, limit: usize },
    #[error("more than {MAX_ROOT_VERSIONS} root versions")]
    TooManyRoots,
    #[error("a root version does not parse: {0}")]
    MalformedRoot(String),
    #[error("root version {0} is carried twice with different content")]
    DuplicateRoot(u64),
    #[error("root version {version} does not chain from version {from}: {reason}")]
    RootChain {
        from: u64,
        version: u64,
        reason: String,
    },
    #[error("{role} metadata expired at {expires}")]
    Expired { role: String, expires: String },
    #[error("{role}: {reason}")]
    Role { role: &'static str, reason: String },
    #[error("targets v{targets_version} does not list {name}")]
    TargetNotListed { name: String, targets_version: u64 },
    #[error("{name} does not match targets v{targets_version}: {reason}")]
    TargetMismatch {
        name: String,
        targets_version: u64,
        reason: String,
    },
}

impl TufError {
    /// Whether the refusal is (only) about expiry.
    pub fn is_expiry(&self) -> bool {
        matches!(self, TufError::Expired { .. })
    }
}

/// A `sigstore-tuf` error with its causes (its `Display` omits them).
fn chain_text(e: &sigstore_tuf::Error) -> String {
    let mut s = e.to_string();
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn role_error(role: &'static str, e: &sigstore_tuf::Error) -> TufError {
    match e {
        sigstore_tuf::Error::Expired { role, expires } => TufError::Expired {
            role: role.clone(),
            expires: expires.to_string(),
        },
        other => TufError::Role {
            role,
            reason: chain_text(other),
        },
    }
}

fn bounded(what: &str, bytes: &[u8]) -> Result<(), TufError> {
    if bytes.len() > MAX_TUF_METADATA {
        return Err(TufError::TooLarge {
            what: what.to_string(),
            limit: MAX_TUF_METADATA,
        });
    }
    Ok(())
}

/// Check that `anchor` is a TUF root that signs itself to threshold (what
/// a host must give as `--tuf-root`). Returns its version.
pub fn check_anchor(anchor: &[u8]) -> Result<u64, TufError> {
    bounded("the TUF root", anchor).map_err(|e| TufError::Anchor(e.to_string()))?;
    let set =
        TrustedMetadataSet::from_root(anchor).map_err(|e| TufError::Anchor(chain_text(&e)))?;
    Ok(set.root().version)
}

/// The version a root document claims (unauthenticated; for ordering and
/// file names only: the chain authenticates it).
pub fn root_version(bytes: &[u8]) -> Result<u64, TufError> {
    bounded("a root version", bytes)?;
    Metadata::<Root>::from_slice(bytes)
        .map(|m| m.signed().version)
        .map_err(|e| TufError::MalformedRoot(chain_text(&e)))
}

/// Chain from `anchor` through `files` at time `now`, then check that
/// `target` (the bytes of `target_name`) is exactly what the trusted targets
/// metadata lists. `Ok` only when every step passed.
pub fn verify_target(
    anchor: &[u8],
    files: &TufFiles<'_>,
    target_name: &str,
    target: &[u8],
    now: jiff::Timestamp,
) -> Result<Chained, TufError> {
    bounded("the TUF root", anchor).map_err(|e| TufError::Anchor(e.to_string()))?;
    let mut set =
        TrustedMetadataSet::from_root(anchor).map_err(|e| TufError::Anchor(chain_text(&e)))?;
    let anchor_version = set.root().version;

    if files.roots.len() > MAX_ROOT_VERSIONS {
        return Err(TufError::TooManyRoots);
    }
    // Newer root versions in order; each must be exactly trusted + 1 and
    // signed to threshold by the trusted root and by itself.
    let mut newer: BTreeMap<u64, &[u8]> = BTreeMap::new();
    for bytes in files.roots {
        let v = root_version(bytes)?;
        if v <= anchor_version {
            continue;
        }
        if let Some(prev) = newer.insert(v, bytes) {
            if prev != *bytes {
                return Err(TufError::DuplicateRoot(v));
            }
        }
    }
    for (version, bytes) in newer {
        let from = set.root().version;
        set.update_root(bytes).map_err(|e| TufError::RootChain {
            from,
            version,
            reason: chain_text(&e),
        })?;
    }
    set.check_root_expired(now)
        .map_err(|e| role_error("root", &e))?;

    bounded("timestamp.json", files.timestamp)?;
    bounded("snapshot.json", files.snapshot)?;
    bounded("targets.json", files.targets)?;
    set.update_timestamp(files.timestamp, now)
        .map_err(|e| role_error("timestamp", &e))?;
    set.update_snapshot(files.snapshot, now)
        .map_err(|e| role_error("snapshot", &e))?;
    set.update_targets(files.targets, now)
        .map_err(|e| role_error("targets", &e))?;
    // Everything that authorises the target must still be fresh now.
    set.check_root_expired(now)
        .map_err(|e| role_error("root", &e))?;
    set.check_timestamp_expired(now)
        .map_err(|e| role_error("timestamp", &e))?;
    set.check_snapshot_expired(now)
        .map_err(|e| role_error("snapshot", &e))?;

    let (Some(ts), Some(snap), Some(targets)) =
        (set.timestamp(), set.snapshot(), set.targets_role("targets"))
    else {
        return Err(TufError::Role {
            role: "targets",
            reason: "the metadata set is incomplete".into(),
        });
    };
    // Only the top-level targets role is consulted: Sigstore lists its
    // trusted root there, and delegations are not followed.
    let Some(file) = targets.target(target_name) else {
        return Err(TufError::TargetNotListed {
            name: target_name.to_string(),
            targets_version: targets.version,
        });
    };
    check_target(target, file.length, &file.hashes).map_err(|reason| TufError::TargetMismatch {
        name: target_name.to_string(),
        targets_version: targets.version,
        reason,
    })?;
    use sigstore_tuf::metadata::Role as _;
    let expires = [
        set.root().expires(),
        ts.expires(),
        snap.expires(),
        targets.expires(),
    ]
    .into_iter()
    .min()
    .unwrap_or(set.root().expires);
    Ok(Chained {
        anchor_version,
        root_version: set.root().version,
        timestamp_version: ts.version,
        snapshot_version: snap.version,
        targets_version: targets.version,
        expires,
    })
}

/// The target's exact length, and every hash of a supported algorithm
/// (at least one must be present).
fn check_target(
    bytes: &[u8],
    length: u64,
    hashes: &BTreeMap<String, String>,
) -> Result<(), String> {
    if bytes.len() as u64 != length {
        return Err(format!("length {} != listed {length}", bytes.len()));
    }
    let mut checked = 0;
    for (algo, want) in hashes {
        let have = match algo.as_str() {
            "sha256" => hex::encode(Sha256::digest(bytes)),
            "sha512" => hex::encode(Sha512::digest(bytes)),
            _ => continue,
        };
        if !have.eq_ignore_ascii_case(want) {
            return Err(format!("{algo} {have} != listed {want}"));
        }
        checked += 1;
    }
    if checked == 0 {
        return Err("no sha256 or sha512 hash is listed".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_anchor_is_the_self_signed_sigstore_root() {
        assert_eq!(check_anchor(SIGSTORE_TUF_ROOT), Ok(16));
    }

    #[test]
    fn anchor_that_is_not_a_root_is_refused() {
        assert!(matches!(check_anchor(b"{}"), Err(TufError::Anchor(_))));
        let mut tampered = String::from_utf8(SIGSTORE_TUF_ROOT.to_vec()).unwrap();
        tampered = tampered.replacen("\"version\": 16", "\"version\": 17", 1);
        assert!(matches!(
            check_anchor(tampered.as_bytes()),
            Err(TufError::Anchor(_))
        ));
    }

    #[test]
    fn target_check_needs_length_and_a_supported_hash() {
        let data = b"abc";
        let sha = hex::encode(Sha256::digest(data));
        let ok: BTreeMap<String, String> = [("sha256".to_string(), sha.clone())].into();
        assert!(check_target(data, 3, &ok).is_ok());
        assert!(check_target(data, 4, &ok).is_err());
        assert!(check_target(b"abd", 3, &ok).is_err());
        let md5_only: BTreeMap<String, String> = [("md5".to_string(), "00".to_string())].into();
        assert!(check_target(data, 3, &md5_only).is_err());
        let bad_512: BTreeMap<String, String> = [
            ("sha256".to_string(), sha),
            ("sha512".to_string(), "00".into()),
        ]
        .into();
        assert!(check_target(data, 3, &bad_512).is_err());
    }
}
