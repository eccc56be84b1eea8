//! Which images of a verified archive to unpack: by name (`--image`), by
//! platform (the host's by default, `--platform` to choose), and under which
//! name (`--tag`). Produces the [`Plan`] the gate and the sinks work from.

use std::collections::BTreeSet;

use crate::archive::ReadOutcome;
use crate::error::Error;
use crate::model::oci::{self, normalize_arch};
use crate::model::{media, Digest, EntryKind, ImageRecord, PlatformRecord};

use crate::gate::{Plan, SelectedImage};

/// What the operator asked for.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// References to unpack; empty means every reference in the archive.
    pub images: Vec<String>,
    /// `os/arch[/variant]`; None means the host's platform.
    pub platform: Option<String>,
    /// New name for the (single) selected reference.
    pub tag: Option<String>,
    /// The target stores images rather than running them (a registry): with
    /// no `platform`, a reference packed with its complete image index is
    /// taken whole (every platform plus the index, so the index digest the
    /// reference had is preserved), and a reference with a single image is
    /// taken whatever its platform. Otherwise the host's platform decides.
    pub whole_index: bool,
}

/// The platform this binary runs on, in OCI spelling.
pub fn host_platform() -> PlatformRecord {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        other => other,
    };
    PlatformRecord {
        os: std::env::consts::OS.to_string(),
        architecture: arch.to_string(),
        variant: None,
    }
}

/// Parse `os/arch[/variant]`.
pub fn parse_platform(s: &str) -> Result<PlatformRecord, Error> {
    let parts: Vec<&str> = s.split('/').collect();
    let bad = || Error::Usage(format!("--platform {s:?}: expected os/arch[/variant]"));
    if parts.iter().any(|p| p.is_empty()) {
        return Err(bad());
    }
    match parts.as_slice() {
        [os, arch] => Ok(PlatformRecord {
            os: os.to_string(),
            architecture: normalize_arch(arch).to_string(),
            variant: None,
        }),
        [os, arch, variant] => Ok(PlatformRecord {
            os: os.to_string(),
            architecture: normalize_arch(arch).to_string(),
            variant: Some(variant.to_string()),
        }),
        _ => Err(bad()),
    }
}

/// Whether an image of platform `have` satisfies the request `want`
/// (a missing variant on either side matches, except that an explicit
/// variant must match an explicit one).
fn platform_matches(want: &PlatformRecord, have: &PlatformRecord) -> bool {
    want.os == have.os
        && normalize_arch(&want.architecture) == normalize_arch(&have.architecture)
        && match (&want.variant, &have.variant) {
            (Some(w), Some(h)) => w == h,
            (Some(w), None) => w == "v8" && have.architecture == "arm64",
            (None, _) => true,
        }
}

/// Choose the images and compute every blob they need.
pub fn plan(outcome: &ReadOutcome, sel: &Selection) -> Result<Plan, Error> {
    let m = &outcome.manifest;
    let mut names: Vec<&str> = Vec::new();
    for img in &m.images {
        if !names.contains(&img.reference.as_str()) {
            names.push(&img.reference);
        }
    }
    for want in &sel.images {
        if !names.contains(&want.as_str()) {
            return Err(Error::Usage(format!(
                "--image {want:?} is not in the archive (it holds: {})",
                names.join(", ")
            )));
        }
    }
    let chosen: Vec<&str> = if sel.images.is_empty() {
        names
    } else {
        names
            .into_iter()
            .filter(|n| sel.images.iter().any(|w| w == n))
            .collect()
    };
    let (want, explicit) = match &sel.platform {
        Some(p) => (parse_platform(p)?, true),
        None => (host_platform(), false),
    };

    let mut images = Vec::new();
    for name in chosen {
        let candidates: Vec<&ImageRecord> =
            m.images.iter().filter(|i| i.reference == name).collect();
        if sel.whole_index && sel.platform.is_none() {
            if let Some(ix) = complete_index(outcome, &candidates) {
                for img in &candidates {
                    let mut one = select_one(outcome, img)?;
                    one.image_blobs.push(ix);
                    images.push(one);
                }
                continue;
            }
            if let [one] = candidates.as_slice() {
                images.push(select_one(outcome, one)?);
                continue;
            }
        }
        // An artifact without a platform runs nowhere, so it suits any host:
        // every one is taken; the platform chooses among the others.
        let (anywhere, candidates): (Vec<&ImageRecord>, Vec<&ImageRecord>) =
            candidates.into_iter().partition(|i| i.platform.is_none());
        for one in &anywhere {
            images.push(select_one(outcome, one)?);
        }
        if candidates.is_empty() {
            continue;
        }
        let matching: Vec<&ImageRecord> = candidates
            .iter()
            .copied()
            .filter(|i| {
                i.platform
                    .as_ref()
                    .is_some_and(|p| platform_matches(&want, p))
            })
            .collect();
        let img = match matching.as_slice() {
            [one] => *one,
            [] => {
                let have: Vec<String> = candidates.iter().map(|i| i.platform_label()).collect();
                let hint = if explicit {
                    String::new()
                } else {
                    "; this host cannot run the others, pass --platform to load one anyway".into()
                };
                return Err(Error::Usage(format!(
                    "{name}: no image for platform {want} (the archive has {}){hint}",
                    have.join(", ")
                )));
            }
            many => {
                let have: Vec<String> = many.iter().map(|i| i.platform_label()).collect();
                return Err(Error::Usage(format!(
                    "{name}: several images match {want} ({}); name the variant with --platform os/arch/variant",
                    have.join(", ")
                )));
            }
        };
        images.push(select_one(outcome, img)?);
    }
    if images.is_empty() {
        return Err(Error::Usage("the archive holds no images".into()));
    }
    if let Some(tag) = &sel.tag {
        let names: BTreeSet<&str> = images.iter().map(|i| i.record.reference.as_str()).collect();
        if names.len() != 1 {
            return Err(Error::Usage(format!(
                "--tag names one image but {} are selected; add --image NAME",
                names.len()
            )));
        }
        for img in &mut images {
            img.tag = tag.clone();
        }
    }

    plan_of(outcome, images)
}

/// The plan for `images`: every blob they need, each once, in archive order.
fn plan_of(outcome: &ReadOutcome, images: Vec<SelectedImage>) -> Result<Plan, Error> {
    let m = &outcome.manifest;
    let mut all = BTreeSet::new();
    for i in &images {
        all.extend(i.image_blobs.iter().copied());
        all.extend(i.evidence_blobs.iter().copied());
    }
    let mut blobs = Vec::with_capacity(all.len());
    for d in all {
        // A delta's external layers are planned too; unpack takes them
        // from the base or finds them in the target, never skips them.
        let rec = m.any_blob(&d).ok_or_else(|| {
            Error::Integrity(crate::IntegrityError::MissingBlob {
                digest: d.to_string(),
            })
        })?;
        blobs.push(rec);
    }
    blobs.sort_by_key(|b| b.order_key());
    Ok(Plan { images, blobs })
}

/// For a target that holds only some kinds (docker and podman: images;
/// `files:`: file artifacts): the plan without the other entries, and the
/// entries left out, so the report names each one. Refused when nothing
/// is left.
pub fn only_kinds(
    outcome: &ReadOutcome,
    plan: Plan,
    keep: impl Fn(EntryKind) -> bool,
    target: &str,
) -> Result<(Plan, Vec<SelectedImage>), Error> {
    let (images, skipped): (Vec<_>, Vec<_>) =
        plan.images.into_iter().partition(|i| keep(i.record.kind));
    if images.is_empty() {
        let names: Vec<String> = skipped
            .iter()
            .map(|i| format!("{} ({})", i.record.reference, i.record.kind.name()))
            .collect();
        return Err(Error::Usage(format!(
            "nothing to unpack into {target}: {} {} not {}",
            names.join(", "),
            if names.len() == 1 { "is" } else { "are" },
            target_holds(target)
        )));
    }
    Ok((plan_of(outcome, images)?, skipped))
}

/// What a target holds, for messages.
pub fn target_holds(target: &str) -> &'static str {
    if target.starts_with("files:") {
        "a file artifact; files: writes the files of file artifacts only, use --into dir:PATH or registry:HOST for the rest"
    } else {
        "a container image; docker and podman load images only, use --into dir:PATH, registry:HOST or files:DIR"
    }
}

/// The index all `candidates` (one reference's images) come from, when the
/// archive holds it and every manifest it lists is one of them: only then
/// can a registry accept it (it checks that an index's manifests exist).
fn complete_index(outcome: &ReadOutcome, candidates: &[&ImageRecord]) -> Option<Digest> {
    let ix = candidates.first()?.index_digest?;
    if candidates.iter().any(|c| c.index_digest != Some(ix)) {
        return None;
    }
    let index = oci::parse_index(outcome.metadata.get(&ix)?).ok()?;
    let all_here = !index.manifests.is_empty()
        && index
            .manifests
            .iter()
            .all(|d| candidates.iter().any(|c| c.manifest_digest == d.digest));
    all_here.then_some(ix)
}

fn select_one(outcome: &ReadOutcome, img: &ImageRecord) -> Result<SelectedImage, Error> {
    let mut image_blobs = Vec::new();
    closure(outcome, img.manifest_digest, &mut image_blobs)?;
    let mut evidence_blobs = Vec::new();
    for ev in &img.evidence {
        closure(outcome, ev.digest, &mut evidence_blobs)?;
    }
    Ok(SelectedImage {
        record: img.clone(),
        tag: img.reference.clone(),
        image_blobs,
        evidence_blobs,
    })
}

/// A blob and everything it references (manifests: config and layers;
/// indexes: the manifests the archive holds), each once.
fn closure(outcome: &ReadOutcome, root: Digest, out: &mut Vec<Digest>) -> Result<(), Error> {
    let m = &outcome.manifest;
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        if out.contains(&d) {
            continue;
        }
        out.push(d);
        let Some(rec) = m.blob(&d) else { continue };
        let Some(bytes) = outcome.metadata.get(&d) else {
            continue;
        };
        let malformed = |e: String| {
            Error::Integrity(crate::IntegrityError::MalformedJson {
                name: d.to_string(),
                reason: e,
            })
        };
        if media::is_image_manifest(&rec.media_type) {
            let man = oci::parse_manifest(bytes).map_err(malformed)?;
            stack.push(man.config.digest);
            stack.extend(man.layers.iter().map(|l| l.digest));
        } else if media::is_index(&rec.media_type) {
            let ix = oci::parse_index(bytes).map_err(malformed)?;
            stack.extend(
                ix.manifests
                    .iter()
                    .map(|x| x.digest)
                    .filter(|x| m.blob(x).is_some()),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_parsing_and_matching() {
        let p = parse_platform("linux/arm64/v8").unwrap();
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert!(parse_platform("linux").is_err());
        assert!(parse_platform("linux//v7").is_err());
        let arm64 = PlatformRecord {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: None,
        };
        assert!(platform_matches(&p, &arm64));
        assert!(platform_matches(
            &parse_platform("linux/aarch64").unwrap(),
            &arm64
        ));
        assert!(!platform_matches(
            &parse_platform("linux/amd64").unwrap(),
            &arm64
        ));
    }
}
