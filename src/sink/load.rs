//! The load loop of the sinks that load image by image (docker, podman):
//! load each selected image in turn, collecting what would undo it, and on
//! the first failure undo everything this run did, newest first, before
//! returning that failure. Images loaded earlier in the same run are rolled
//! back too.

use super::LoadedImage;
use crate::error::Error;
use crate::gate::SelectedImage;

/// What to undo for one image: remove the image unless it `existed`, and put
/// `tag` back on `previous_tag_target` (or remove it if it named nothing).
#[derive(Debug, Clone)]
pub struct Undo {
    pub id: String,
    pub existed: bool,
    pub tag: String,
    pub previous_tag_target: Option<String>,
}

/// The report's note for an image the runtime already held (same ID).
pub fn present_note(tool: &str, img: &LoadedImage) -> String {
    let id = img.image_id.as_deref().unwrap_or("?");
    match img.target_digest.as_deref() {
        Some(d) if d != img.manifest_digest.to_string() => format!(
            "{}: {tool} already held image {id} (the config digest); tagged it, not loaded again. \
             {tool} lists it under its own manifest digest {d}, not the verified {}",
            img.reference, img.manifest_digest
        ),
        _ => format!(
            "{}: {tool} already held image {id} (the config digest); tagged it, not loaded again",
            img.reference
        ),
    }
}

/// Run `load` for every image; `load` records its undo entry before it
/// changes anything. On error, `roll_back` gets every entry recorded.
pub fn load_all(
    images: &[SelectedImage],
    mut load: impl FnMut(&SelectedImage, &mut Vec<Undo>) -> Result<LoadedImage, Error>,
    roll_back: impl FnOnce(&[Undo]),
) -> Result<Vec<LoadedImage>, Error> {
    let mut undo = Vec::new();
    let mut loaded = Vec::with_capacity(images.len());
    for img in images {
        match load(img, &mut undo) {
            Ok(l) => loaded.push(l),
            Err(e) => {
                roll_back(&undo);
                return Err(e);
            }
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Digest, ImageRecord, PlatformRecord};

    fn image(n: u8) -> SelectedImage {
        let d = Digest::of(&[n]);
        SelectedImage {
            record: ImageRecord {
                reference: format!("r/{n}"),
                source: "test".into(),
                index_digest: None,
                manifest_digest: d,
                manifest_media_type: crate::model::media::OCI_MANIFEST.into(),
                manifest_size: 1,
                config_digest: d,
                kind: Default::default(),
                artifact_type: None,
                platform: Some(PlatformRecord {
                    os: "linux".into(),
                    architecture: "amd64".into(),
                    variant: None,
                }),
                size: 1,
                evidence: Vec::new(),
            },
            tag: format!("r/{n}"),
            image_blobs: vec![d],
            evidence_blobs: Vec::new(),
        }
    }

    fn loaded(img: &SelectedImage) -> LoadedImage {
        LoadedImage {
            reference: img.tag.clone(),
            packed_reference: img.record.reference.clone(),
            manifest_digest: img.record.manifest_digest,
            config_digest: img.record.config_digest,
            image_id: None,
            target_digest: None,
            platform: img.record.platform_label(),
            record_file: None,
            evidence: 0,
            already_present: false,
        }
    }

    fn undo_for(img: &SelectedImage) -> Undo {
        Undo {
            id: img.tag.clone(),
            existed: false,
            tag: img.tag.clone(),
            previous_tag_target: None,
        }
    }

    #[test]
    fn the_first_failure_undoes_every_image_of_the_run() {
        let images: Vec<SelectedImage> = (0..3).map(image).collect();
        let mut undone: Option<Vec<String>> = None;
        let r = load_all(
            &images,
            |img, undo| {
                undo.push(undo_for(img));
                if img.tag == "r/1" {
                    Err(Error::Sink("load failed".into()))
                } else {
                    Ok(loaded(img))
                }
            },
            |u| undone = Some(u.iter().map(|x| x.id.clone()).collect()),
        );
        assert!(matches!(r, Err(Error::Sink(m)) if m == "load failed"));
        assert_eq!(undone, Some(vec!["r/0".to_string(), "r/1".to_string()]));
    }

    #[test]
    fn success_loads_all_and_undoes_nothing() {
        let images: Vec<SelectedImage> = (0..3).map(image).collect();
        let mut rolled = false;
        let r = load_all(
            &images,
            |img, undo| {
                undo.push(undo_for(img));
                Ok(loaded(img))
            },
            |_| rolled = true,
        )
        .unwrap();
        assert_eq!(r.len(), 3);
        assert!(!rolled);
    }
}
