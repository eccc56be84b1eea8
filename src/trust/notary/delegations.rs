//! The delegations DCT uses (`targets/releases`, `targets/<signer>`) and
//! the tag lookup in Docker's order.

use std::collections::BTreeMap;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::error::NotaryError;
use super::metadata::{self, check_file, Keyring, Signed, SnapshotDoc, TargetsDoc};
use super::{Clock, NotaryFiles, TargetClaim, DCT_ROLES, MAX_DELEGATIONS};

/// The delegated roles targets names, each verified under its keys.
pub(super) fn verify_delegations(
    targets: &TargetsDoc,
    files: &NotaryFiles<'_>,
    snapshot: &SnapshotDoc,
    clock: &mut Clock,
) -> Result<Vec<(String, TargetsDoc)>, NotaryError> {
    if files.delegations.len() > MAX_DELEGATIONS {
        return Err(NotaryError::malformed(
            "targets",
            format!("more than {MAX_DELEGATIONS} delegations"),
        ));
    }
    let Some(delegations) = &targets.delegations else {
        return Ok(Vec::new());
    };
    let keys = Keyring::new(&delegations.keys, "targets", files.fetched_at)?;
    let mut out = Vec::new();
    for role in &delegations.roles {
        let carried = files.delegations.iter().find(|(n, _)| *n == role.name);
        let Some(meta) = snapshot.0.meta.get(&role.name) else {
            continue; // delegated, never published: signs nothing
        };
        let Some((_, bytes)) = carried else {
            return Err(NotaryError::Inconsistent {
                role: role.name.clone(),
                reason: "recorded by snapshot but not carried".into(),
            });
        };
        check_file(&role.name, "snapshot", meta, bytes)?;
        let doc = Signed::<TargetsDoc>::parse(bytes, &role.name)?;
        doc.check_signed(&role.name, &role.keyids, role.threshold, &keys)?;
        clock.check(&role.name, &doc.doc)?;
        let mut doc = doc.doc;
        // A delegation signs only the paths targets gives it.
        doc.targets.retain(|name, _| path_allowed(role, name));
        out.push((role.name.clone(), doc));
    }
    Ok(out)
}

fn path_allowed(role: &metadata::DelegatedRole, name: &str) -> bool {
    if let Some(paths) = &role.paths {
        if paths.iter().any(|p| name.starts_with(p.as_str())) {
            return true;
        }
    }
    if let Some(prefixes) = &role.path_hash_prefixes {
        let h = hex::encode(Sha256::digest(name.as_bytes()));
        return prefixes.iter().any(|p| h.starts_with(p.as_str()));
    }
    false
}

/// The roles admitting the tag; Docker's choice (releases, then targets)
/// must match the image.
pub(super) fn admitting_roles(
    gun: &str,
    verified: &BTreeMap<&str, &TargetsDoc>,
    claim: &TargetClaim<'_>,
) -> Result<Vec<String>, NotaryError> {
    let chosen = DCT_ROLES
        .iter()
        .find_map(|r| verified.get(r).and_then(|d| d.targets.get(claim.tag)))
        .ok_or_else(|| NotaryError::TagNotSigned {
            gun: gun.to_string(),
            tag: claim.tag.to_string(),
        })?;
    let matches = |m: &metadata::FileMeta| {
        let sha = m
            .hashes
            .get("sha256")
            .and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok());
        m.length == claim.length && sha.as_deref() == Some(&claim.sha256[..])
    };
    if !matches(chosen) {
        let signed = chosen
            .hashes
            .get("sha256")
            .and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok())
            .map_or_else(
                || "no sha256".into(),
                |d| format!("sha256:{}", hex::encode(d)),
            );
        return Err(NotaryError::TargetMismatch {
            tag: claim.tag.to_string(),
            signed: format!("{signed} ({} bytes)", chosen.length),
            actual: format!(
                "sha256:{} ({} bytes)",
                hex::encode(claim.sha256),
                claim.length
            ),
        });
    }
    Ok(verified
        .iter()
        .filter(|(_, d)| d.targets.get(claim.tag).is_some_and(matches))
        .map(|(r, _)| r.to_string())
        .collect())
}
