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

impl Undo {
    /// For `name`, which a load reported and which now names `id`: judged
    /// by the `(ID, name)` list taken before the load.
    pub fn for_loaded_name(name: &str, id: String, before: &[(String, String)]) -> Undo {
        Undo {
            existed: before.iter().any(|(i, _)| *i == id),
            previous_tag_target: before
                .iter()
                .find(|(_, n)| n == name)
                .map(|(i, _)| i.clone()),
            id,
            tag: name.to_string(),
        }
    }
}

/// The names (or IDs) `docker load` / `podman load` report: `Loaded image:
/// NAME` or `Loaded image ID: ID` lines, or one `Loaded image(s): A,B` line.
pub fn loaded_names(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.starts_with("Loaded image"))
        })
        .flat_map(|(_, v)| v.split(','))
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect()
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

    #[test]
    fn load_output_names() {
        assert_eq!(
            loaded_names("Getting image source signatures\nLoaded image: localhost/a:1\n"),
            vec!["localhost/a:1"]
        );
        assert_eq!(
            loaded_names("Loaded image(s): localhost/a:1,localhost/b:2\n"),
            vec!["localhost/a:1", "localhost/b:2"]
        );
        // docker names an untagged load by its ID.
        assert_eq!(
            loaded_names("Loaded image ID: sha256:ab12\n"),
            vec!["sha256:ab12"]
        );
        assert!(loaded_names("Writing manifest to image destination\n").is_empty());
    }

    #[test]
    fn an_undo_for_a_loaded_name_knows_what_was_there_before() {
        let before = vec![("id1".to_string(), "a:1".to_string())];
        let u = Undo::for_loaded_name("a:1", "id2".into(), &before);
        assert!(!u.existed);
        assert_eq!(u.previous_tag_target.as_deref(), Some("id1"));
        let u = Undo::for_loaded_name("b:1", "id1".into(), &before);
        assert!(u.existed && u.previous_tag_target.is_none());
    }
}
