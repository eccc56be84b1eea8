//! The trust material pack writes into the archive: the Sigstore trusted
//! root it used (the embedded public-good root, or `--trusted-root FILE`),
//! and with `--tuf-metadata DIR` the TUF metadata that vouches for the
//! root (`N.root.json` versions, timestamp, snapshot, targets). Pack checks
//! the TUF chain from its anchor (the embedded Sigstore TUF root or
//! `--tuf-root FILE`) before writing, so it never carries metadata that
//! does not chain; the receiving host checks it again from its own anchor.

use crate::error::read_input_file;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sigstore_tuf::{Metadata, Snapshot, Targets, Timestamp};

use crate::error::{Error, IoContext as _};
pub use crate::model::image_set::{TrustItem, TrustMaterial};
use crate::model::manifest::EvidenceRole;
use crate::trust::tuf::{self, TufFiles, MAX_TUF_METADATA, TRUSTED_ROOT_TARGET};
use crate::trust::{TrustError, TrustRoot};

/// Where pack takes its trust material from.
#[derive(Debug, Clone, Default)]
pub struct PackTrust {
    /// `--trusted-root FILE`; `None`: the Sigstore public-good root embedded
    /// in airlock.
    pub trusted_root: Option<PathBuf>,
    /// `--tuf-metadata DIR`: a TUF repository's metadata (and the
    /// `trusted_root.json` target), to carry in the archive.
    pub tuf_metadata: Option<PathBuf>,
    /// `--tuf-root FILE`: the anchor the TUF metadata must chain from;
    /// `None`: the embedded Sigstore public-good TUF root.
    pub tuf_root: Option<PathBuf>,
}

/// Trust material holding only a trusted root.
fn root_only(trusted_root: impl Into<Arc<[u8]>>) -> TrustMaterial {
    TrustMaterial {
        items: vec![TrustItem::new(
            EvidenceRole::TrustRoot,
            TRUSTED_ROOT_TARGET,
            trusted_root,
        )],
    }
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

/// Read the first of `names` that exists in `dir`.
fn read_first(dir: &Path, names: &[String], what: &str) -> Result<(String, Vec<u8>), Error> {
    for name in names {
        let p = dir.join(name);
        if p.is_file() {
            return Ok((
                name.clone(),
                read_input_file(&p, MAX_TUF_METADATA as u64, what)?,
            ));
        }
    }
    Err(usage(format!(
        "--tuf-metadata {}: no {what} (looked for {})",
        dir.display(),
        names.join(", ")
    )))
}

/// A TUF metadata directory, read (not yet checked).
struct TufDir {
    /// `(version, file name, bytes)`, ascending.
    roots: Vec<(u64, String, Vec<u8>)>,
    /// `(file name, bytes)` of each top-level role.
    timestamp: (String, Vec<u8>),
    snapshot: (String, Vec<u8>),
    targets: (String, Vec<u8>),
    /// The `trusted_root.json` target.
    target: Vec<u8>,
}

fn tuf_text(what: &str, e: &sigstore_tuf::Error) -> Error {
    usage(format!("--tuf-metadata: {what} does not parse: {e}"))
}

fn read_tuf_dir(dir: &Path) -> Result<TufDir, Error> {
    let entries = std::fs::read_dir(dir).at("read --tuf-metadata directory", dir)?;
    let mut roots = Vec::new();
    let mut plain_root = false;
    for e in entries {
        let e = e.at("read --tuf-metadata directory", dir)?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "root.json" {
            plain_root = true;
        }
        let Some(n) = name.strip_suffix(".root.json") else {
            continue;
        };
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if roots.len() >= tuf::MAX_ROOT_VERSIONS {
            return Err(usage(format!(
                "--tuf-metadata {}: more than {} root versions",
                dir.display(),
                tuf::MAX_ROOT_VERSIONS
            )));
        }
        let bytes = read_input_file(&e.path(), MAX_TUF_METADATA as u64, "TUF root")?;
        let v = tuf::root_version(&bytes)
            .map_err(|err| usage(format!("--tuf-metadata {name}: {err}")))?;
        if n.parse::<u64>().ok() != Some(v) {
            return Err(usage(format!(
                "--tuf-metadata {name}: the file holds root version {v}"
            )));
        }
        roots.push((v, name, bytes));
    }
    if roots.is_empty() && plain_root {
        let bytes = read_input_file(&dir.join("root.json"), MAX_TUF_METADATA as u64, "TUF root")?;
        let v = tuf::root_version(&bytes)
            .map_err(|err| usage(format!("--tuf-metadata root.json: {err}")))?;
        roots.push((v, "root.json".to_string(), bytes));
    }
    if roots.is_empty() {
        return Err(usage(format!(
            "--tuf-metadata {}: no N.root.json (or root.json)",
            dir.display()
        )));
    }
    roots.sort_by_key(|r| r.0);

    let (timestamp_name, timestamp) =
        read_first(dir, &["timestamp.json".into()], "timestamp.json")?;
    let ts =
        Metadata::<Timestamp>::from_slice(&timestamp).map_err(|e| tuf_text("timestamp", &e))?;
    let snap_v = ts.signed().snapshot_meta().map(|m| m.version);
    // Consistent-snapshot repositories name files `V.snapshot.json`.
    let mut names = Vec::new();
    if let Some(v) = snap_v {
        names.push(format!("{v}.snapshot.json"));
    }
    names.push("snapshot.json".into());
    let (snapshot_name, snapshot) = read_first(dir, &names, "snapshot.json")?;
    let snap = Metadata::<Snapshot>::from_slice(&snapshot).map_err(|e| tuf_text("snapshot", &e))?;
    let mut names = Vec::new();
    if let Some(m) = snap.signed().meta.get("targets.json") {
        names.push(format!("{}.targets.json", m.version));
    }
    names.push("targets.json".into());
    let (targets_name, targets) = read_first(dir, &names, "targets.json")?;
    let t = Metadata::<Targets>::from_slice(&targets).map_err(|e| tuf_text("targets", &e))?;
    let mut names = vec![
        TRUSTED_ROOT_TARGET.to_string(),
        format!("targets/{TRUSTED_ROOT_TARGET}"),
    ];
    if let Some(sha) = t
        .signed()
        .target(TRUSTED_ROOT_TARGET)
        .and_then(|f| f.hashes.get("sha256"))
        .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        names.push(format!("targets/{sha}.{TRUSTED_ROOT_TARGET}"));
    }
    let (_, target) = read_first(dir, &names, TRUSTED_ROOT_TARGET)?;
    Ok(TufDir {
        roots,
        timestamp: (timestamp_name, timestamp),
        snapshot: (snapshot_name, snapshot),
        targets: (targets_name, targets),
        target,
    })
}

/// Load and check what `req` names, at time `now` (TUF expiry).
pub fn load(req: &PackTrust, now: jiff::Timestamp) -> Result<TrustMaterial, Error> {
    let explicit = match &req.trusted_root {
        Some(p) => {
            let bytes = read_input_file(
                p,
                crate::trust::limits::MAX_TRUSTED_ROOT as u64,
                "trusted root",
            )?;
            TrustRoot::from_json(&bytes)
                .map_err(|e| usage(format!("--trusted-root {}: {e}", p.display())))?;
            Some(bytes)
        }
        None => None,
    };
    let Some(dir) = &req.tuf_metadata else {
        if req.tuf_root.is_some() {
            return Err(usage(
                "--tuf-root on pack anchors --tuf-metadata DIR; give both (or neither)",
            ));
        }
        let root = explicit.unwrap_or_else(|| TrustRoot::production_json().to_vec());
        return Ok(root_only(root));
    };
    let anchor = match &req.tuf_root {
        Some(p) => {
            let bytes = read_input_file(p, MAX_TUF_METADATA as u64, "TUF root")?;
            tuf::check_anchor(&bytes)
                .map_err(|e| usage(format!("--tuf-root {}: {e}", p.display())))?;
            bytes
        }
        None => tuf::SIGSTORE_TUF_ROOT.to_vec(),
    };
    let d = read_tuf_dir(dir)?;
    let roots: Vec<&[u8]> = d.roots.iter().map(|r| r.2.as_slice()).collect();
    let files = TufFiles {
        roots: &roots,
        timestamp: &d.timestamp.1,
        snapshot: &d.snapshot.1,
        targets: &d.targets.1,
    };
    let anchor_name = match &req.tuf_root {
        Some(p) => format!("--tuf-root {}", p.display()),
        None => "the Sigstore public-good TUF root".to_string(),
    };
    tuf::verify_target(&anchor, &files, TRUSTED_ROOT_TARGET, &d.target, now).map_err(|e| {
        TrustError::TufChain(format!(
            "--tuf-metadata {} does not chain from {anchor_name}: {e}",
            dir.display()
        ))
    })?;
    TrustRoot::from_json(&d.target).map_err(|e| {
        usage(format!(
            "--tuf-metadata {}: {TRUSTED_ROOT_TARGET}: {e}",
            dir.display()
        ))
    })?;
    if let Some(bytes) = &explicit {
        if *bytes != d.target {
            return Err(usage(
                "--trusted-root is not the trusted_root.json the --tuf-metadata targets list; an archive carries one trust root, so give the same file or leave out --trusted-root",
            ));
        }
    }
    let mut items = vec![TrustItem::new(
        EvidenceRole::TrustRoot,
        TRUSTED_ROOT_TARGET,
        d.target,
    )];
    for (_, name, bytes) in d.roots {
        items.push(TrustItem::new(EvidenceRole::TufRoot, name, bytes));
    }
    for (role, (name, bytes)) in [
        (EvidenceRole::TufTimestamp, d.timestamp),
        (EvidenceRole::TufSnapshot, d.snapshot),
        (EvidenceRole::TufTargets, d.targets),
    ] {
        items.push(TrustItem::new(role, name, bytes));
    }
    Ok(TrustMaterial { items })
}
