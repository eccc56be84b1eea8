//! Which policy a command applies, and where it came from: the signer
//! flags, else `--policy FILE`, else `AIRLOCK_POLICY`, else the site file
//! [`SITE_POLICY`] when it exists (verify and unpack; pack reads only
//! `--policy`). Also loads a policy file, with keys named by path read
//! relative to the file's own directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::config::For;
use crate::error::{read_input_file, Error};
use crate::trust::{PolicyRules, TrustPolicy};

/// The site-wide policy file, used when no other policy is given. The
/// environment variable `AIRLOCK_SITE_POLICY` names another path (tests,
/// installs under another prefix); it is not a way to *give* a policy.
pub const SITE_POLICY: &str = "/etc/airlock/policy.json";

/// How a policy file was named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOrigin {
    /// `--policy FILE`.
    Flag,
    /// `AIRLOCK_POLICY=FILE`.
    Env,
    /// The site file ([`SITE_POLICY`]).
    Site,
    /// The entries of `pack --set FILE`.
    SetFile,
}

impl FileOrigin {
    pub(super) fn label(self) -> &'static str {
        match self {
            FileOrigin::Flag => "--policy",
            FileOrigin::Env => "AIRLOCK_POLICY",
            FileOrigin::Site => "site policy",
            FileOrigin::SetFile => "--set",
        }
    }
}

/// Where the policy a command applies came from, for its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// Signer flags on the command line (`--key`, `--certificate-*`).
    Flags,
    /// A policy file.
    File(FileOrigin, PathBuf),
    /// No policy: integrity only (`verify`, or `unpack --insecure-no-policy`).
    None,
}

impl PolicySource {
    /// `{"source": "flags"|"--policy"|"AIRLOCK_POLICY"|"site"|"none", "file"}`.
    pub fn json(&self) -> Value {
        match self {
            PolicySource::Flags => json!({ "source": "flags" }),
            PolicySource::File(o, p) => {
                let source = match o {
                    FileOrigin::Site => "site",
                    other => other.label(),
                };
                json!({ "source": source, "file": p.display().to_string() })
            }
            PolicySource::None => json!({ "source": "none" }),
        }
    }

    /// One line for text reports.
    pub fn text(&self) -> String {
        match self {
            PolicySource::Flags => "policy: command-line flags".into(),
            PolicySource::File(o, p) => format!("policy: {} {}", o.label(), p.display()),
            PolicySource::None => "policy: none".into(),
        }
    }
}

fn env_path(key: &str) -> Option<PathBuf> {
    std::env::var_os(key)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The site file's path: [`SITE_POLICY`], or `AIRLOCK_SITE_POLICY`.
pub(super) fn site_policy_path() -> PathBuf {
    env_path("AIRLOCK_SITE_POLICY").unwrap_or_else(|| PathBuf::from(SITE_POLICY))
}

/// The policy file that applies: `--policy`, else (verify and unpack, and
/// only without signer flags) `AIRLOCK_POLICY`, else the site file if it
/// exists. A site path that cannot be checked stops the command: failing
/// open there would load unchecked images on a host that has a policy.
pub(super) fn policy_file(
    flag: Option<&Path>,
    signer_flags: bool,
    cmd: For,
) -> Result<Option<(FileOrigin, PathBuf)>, Error> {
    if let Some(p) = flag {
        return Ok(Some((FileOrigin::Flag, p.to_path_buf())));
    }
    if cmd == For::Pack || signer_flags {
        return Ok(None);
    }
    if let Some(p) = env_path("AIRLOCK_POLICY") {
        return Ok(Some((FileOrigin::Env, p)));
    }
    let site = site_policy_path();
    match std::fs::metadata(&site) {
        Ok(_) => Ok(Some((FileOrigin::Site, site))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io_path("checking the site policy", &site, e)),
    }
}

/// Read and validate a policy file; `{"path": …}` keys are read relative to
/// the file's own directory, so a policy and its keys travel together.
pub(super) fn load_policy_file(
    origin: FileOrigin,
    file: &Path,
    generated: Option<&[u8]>,
) -> Result<PolicyRules, Error> {
    let named = || format!("{} {}", origin.label(), file.display());
    // A set file's policy is built from its entries, not read from `file`.
    let bytes = match generated {
        Some(b) => b.to_vec(),
        None => read_input_file(file, crate::trust::policy_file::MAX_POLICY as u64, "policy")?,
    };
    let invalid = |e: crate::trust::TrustError| Error::Usage(format!("{}: {e}", named()));
    let dir = file.parent().unwrap_or(Path::new(""));
    let mut keys = BTreeMap::new();
    for rel in TrustPolicy::key_paths(&bytes).map_err(invalid)? {
        let pem = read_input_file(
            &dir.join(&rel),
            crate::trust::limits::MAX_PEM as u64,
            "policy key",
        )?;
        keys.insert(rel, pem);
    }
    for rel in TrustPolicy::notary_root_paths(&bytes).map_err(invalid)? {
        let root = read_input_file(
            &dir.join(&rel),
            crate::trust::notary::MAX_NOTARY_METADATA as u64,
            "policy notary root",
        )?;
        keys.insert(rel, root);
    }
    PolicyRules::from_json_with_key_files(&bytes, &keys).map_err(invalid)
}
