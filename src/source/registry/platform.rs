//! Choosing manifests from an image index by platform, and checking a
//! single-platform image against the request.

use crate::error::Error;
use crate::model::oci::{DescriptorInfo, IndexInfo};
use crate::model::{media, PlatformRecord};
use crate::source::PlatformFilter;

/// What the filter asks for, for error messages.
pub fn describe(filter: &PlatformFilter) -> String {
    if filter.architectures.is_empty() && filter.os.is_none() && filter.variant.is_none() {
        return "any platform".into();
    }
    let os = filter.os.as_deref().unwrap_or("*");
    let arch = if filter.architectures.is_empty() {
        "*".to_string()
    } else {
        filter.architectures.join("|")
    };
    match &filter.variant {
        Some(v) => format!("{os}/{arch}/{v}"),
        None => format!("{os}/{arch}"),
    }
}

/// The manifests of `index` that match `filter`, each digest once; a child
/// without a platform is an artifact and always chosen (an image among
/// them is checked against its config later). An error naming the
/// platforms that exist when none is chosen.
pub fn select<'a>(
    reference: &str,
    index: &'a IndexInfo,
    filter: &PlatformFilter,
) -> Result<Vec<&'a DescriptorInfo>, Error> {
    let mut chosen: Vec<&DescriptorInfo> = Vec::new();
    for m in &index.manifests {
        if media::is_image_manifest(&m.media_type)
            && m.platform.as_ref().is_none_or(|p| filter.matches(p))
            && !chosen.iter().any(|c| c.digest == m.digest)
        {
            chosen.push(m);
        }
    }
    if chosen.is_empty() {
        let available: Vec<String> = index
            .manifests
            .iter()
            .filter_map(|m| m.platform.as_ref())
            .filter(|p| p.os != "unknown")
            .map(|p| p.to_string())
            .collect();
        return Err(Error::Source(format!(
            "{reference}: no manifest for {}; the image has: {}",
            describe(filter),
            if available.is_empty() {
                "no platforms".to_string()
            } else {
                available.join(", ")
            }
        )));
    }
    Ok(chosen)
}

/// A single-platform image is accepted when its config matches the filter.
pub fn check_single(
    reference: &str,
    platform: &PlatformRecord,
    filter: &PlatformFilter,
) -> Result<(), Error> {
    if filter.matches(platform) {
        Ok(())
    } else {
        Err(Error::Source(format!(
            "{reference}: single-platform image for {platform}, not {}; the image has: {platform}",
            describe(filter)
        )))
    }
}
