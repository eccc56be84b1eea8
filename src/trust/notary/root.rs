//! The root chain: from the operator's pinned root through the newer root
//! versions the archive carries, each signed by the previous root's keys
//! and its own.

use super::error::NotaryError;
use super::metadata::{self, Common, Keyring, RootDoc, Signed};
use super::MAX_ROOT_VERSIONS;

/// From the pinned root through newer carried versions; returns the root in
/// force, which must be the carried current one.
pub(super) fn chain_root(
    pinned: &[u8],
    carried: &[&[u8]],
    at: i64,
) -> Result<Signed<RootDoc>, NotaryError> {
    if carried.is_empty() || carried.len() > MAX_ROOT_VERSIONS {
        return Err(NotaryError::malformed(
            "root",
            format!(
                "{} root versions carried (1 to {MAX_ROOT_VERSIONS})",
                carried.len()
            ),
        ));
    }
    let mut trusted = Signed::<RootDoc>::parse(pinned, "pinned root")?;
    self_signed(&trusted, "pinned root", at)?;
    for (i, bytes) in carried.iter().enumerate() {
        let next = Signed::<RootDoc>::parse(bytes, "root")?;
        let (v, tv) = (next.doc.version(), trusted.doc.version());
        let last = i + 1 == carried.len();
        if v < tv && !last {
            continue; // older than the pin: history the pin already covers
        }
        if v <= tv {
            if v == tv && next.canonical_signed() == trusted.canonical_signed() {
                continue;
            }
            return Err(NotaryError::RootChain(format!(
                "carried root version {v} is not the pinned root (version {tv})"
            )));
        }
        let old_keys = Keyring::new(&trusted.doc.keys, "root", at)?;
        let old_role = role_of(&trusted.doc, "root")?;
        next.check_signed("root", &old_role.keyids, old_role.threshold, &old_keys)
            .map_err(|e| {
                NotaryError::RootChain(format!(
                    "version {v} is not signed by the keys of trusted root version {tv} ({e})"
                ))
            })?;
        self_signed(&next, "root", at)?;
        trusted = next;
    }
    Ok(trusted)
}

pub(super) fn role_of<'a>(
    root: &'a RootDoc,
    name: &str,
) -> Result<&'a metadata::RoleKeys, NotaryError> {
    root.roles
        .get(name)
        .ok_or_else(|| NotaryError::malformed("root", format!("no {name} role")))
}

fn self_signed(root: &Signed<RootDoc>, what: &str, at: i64) -> Result<(), NotaryError> {
    let keys = Keyring::new(&root.doc.keys, what, at)?;
    let role = role_of(&root.doc, "root")?;
    root.check_signed(what, &role.keyids, role.threshold, &keys)
}
