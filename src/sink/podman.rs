//! `podman`: blobs are staged as an OCI layout in a private directory, then
//! `podman load -i DIR` imports one image at a time (a directory spares
//! podman the copy-to-temp and untar it does for a tar stream), and the
//! result is checked: the loaded image ID must equal the config digest and
//! podman's manifest digest must equal the verified one. podman names a
//! layout directory after its path, so the image is tagged with its
//! reference and that transient path name is removed.
//! Global podman arguments (`--root`, `--runroot`, `--storage-driver`) come
//! from `--podman-arg` / `AIRLOCK_PODMAN_ARGS`; `AIRLOCK_PODMAN` names the
//! binary.
//!
//! Roll back: an image this run created is removed (`podman rmi`), a tag it
//! moved is put back. An image that already existed is never removed.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::command::Tool;
use super::load::{load_all, Undo};
use super::staging::{Staged, Staging};
use super::stream;
use super::{Loaded, LoadedImage, Sink, SinkOptions};
use crate::error::Error;
use crate::gate::{Plan, SelectedImage, VerifiedArchive};
use crate::model::BlobRecord;

pub struct PodmanSink {
    tool: Tool,
    staging: Staged,
    stop: Arc<AtomicBool>,
}

impl PodmanSink {
    pub fn new(opts: &SinkOptions) -> Result<Self, Error> {
        let program = std::env::var_os("AIRLOCK_PODMAN").unwrap_or_else(|| "podman".into());
        let tool = Tool {
            program,
            global_args: opts.podman_args.clone(),
            name: "podman",
        };
        tool.run_ok(&["version", "--format", "{{.Client.Version}}"], "version")?;
        Ok(PodmanSink {
            tool,
            staging: Staged::default(),
            stop: opts.stop.clone(),
        })
    }

    /// The full image ID a name or ID resolves to, if any.
    fn image_id(&self, name: &str) -> Option<String> {
        let out = self
            .tool
            .run(&["image", "inspect", "--format", "{{.Id}}", name])
            .ok()?;
        let id = out.stdout.trim();
        (out.success && !id.is_empty()).then(|| id.trim_start_matches("sha256:").to_string())
    }

    fn load_one(
        &self,
        staging: &Staging,
        img: &SelectedImage,
        undo: &mut Vec<Undo>,
    ) -> Result<LoadedImage, Error> {
        let want_id = img.record.config_digest.hex();
        undo.push(Undo {
            id: want_id.clone(),
            existed: self.image_id(&want_id).is_some(),
            tag: img.tag.clone(),
            previous_tag_target: self.image_id(&img.tag),
        });
        let names_before = self.names(&want_id);
        staging.write_file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        staging.write_file("index.json", &stream::single_index(img))?;
        let dir = staging.path().to_string_lossy().into_owned();
        let out = self.tool.run(&["load", "--input", &dir])?;
        if self.stop.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        if !out.success {
            return Err(Error::Sink(format!(
                "podman load failed: {}",
                out.stderr_line()
            )));
        }
        self.tool.run_ok(&["tag", &want_id, &img.tag], "tag")?;
        for name in self.names(&want_id) {
            if !names_before.contains(&name) && self.image_id(&name) == Some(want_id.clone()) {
                let full_tag = self.names_of_tag(&img.tag);
                if !full_tag.contains(&name) {
                    self.tool.run_ok(&["untag", &want_id, &name], "untag")?;
                }
            }
        }
        let info = self.tool.run_ok(
            &[
                "image",
                "inspect",
                "--format",
                "{{.Id}} {{.Digest}}",
                &img.tag,
            ],
            "image inspect",
        )?;
        let mut fields = info.stdout.split_whitespace();
        let id = fields.next().unwrap_or("").trim_start_matches("sha256:");
        let digest = fields.next().unwrap_or("").to_string();
        if id != want_id {
            return Err(Error::Sink(format!(
                "podman reports image ID {id} for {}, expected the config digest {}",
                img.tag, img.record.config_digest
            )));
        }
        if digest != img.record.manifest_digest.to_string() {
            return Err(Error::Sink(format!(
                "podman reports manifest digest {digest} for {}, expected {}",
                img.tag, img.record.manifest_digest
            )));
        }
        Ok(LoadedImage {
            reference: img.tag.clone(),
            packed_reference: img.record.reference.clone(),
            manifest_digest: img.record.manifest_digest,
            config_digest: img.record.config_digest,
            image_id: Some(format!("sha256:{id}")),
            target_digest: Some(digest),
            platform: img.record.platform.to_string(),
            record_file: None,
            evidence: 0,
        })
    }

    /// The names (RepoTags) an image has.
    fn names(&self, id: &str) -> Vec<String> {
        let Ok(out) = self
            .tool
            .run(&["image", "inspect", "--format", "{{json .RepoTags}}", id])
        else {
            return Vec::new();
        };
        if !out.success {
            return Vec::new();
        }
        serde_json::from_str(out.stdout.trim()).unwrap_or_default()
    }

    /// The fully qualified name(s) podman stores for `tag` (it may add
    /// `localhost/` or `:latest`).
    fn names_of_tag(&self, tag: &str) -> Vec<String> {
        let Some(id) = self.image_id(tag) else {
            return Vec::new();
        };
        let short = tag.split('@').next().unwrap_or(tag);
        self.names(&id)
            .into_iter()
            .filter(|n| {
                n == short
                    || n.ends_with(&format!("/{short}"))
                    || n == &format!("{short}:latest")
                    || n.ends_with(&format!("/{short}:latest"))
            })
            .collect()
    }

    fn roll_back(&self, undo: &[Undo]) {
        for u in undo.iter().rev() {
            if !u.existed && self.image_id(&u.id).is_some() {
                let _ = self.tool.run(&["rmi", "--force", &u.id]);
            }
            let now = self.image_id(&u.tag);
            match &u.previous_tag_target {
                Some(prev) if now.as_deref() != Some(prev) => {
                    let _ = self.tool.run(&["tag", prev, &u.tag]);
                }
                None if now.is_some() => {
                    let _ = self.tool.run(&["untag", &u.id, &u.tag]);
                }
                _ => {}
            }
        }
    }
}

impl Sink for PodmanSink {
    fn begin(&mut self, _plan: &Plan) -> Result<(), Error> {
        self.staging.begin(Staging::reference_safe)
    }

    fn put_blob(&mut self, rec: &BlobRecord, data: &mut dyn Read) -> Result<(), Error> {
        self.staging.put(rec, data)
    }

    fn finish(self: Box<Self>, verified: &VerifiedArchive<'_>) -> Result<Loaded, Error> {
        let staging = self.staging.get()?;
        let images = load_all(
            &verified.plan().images,
            |img, undo| self.load_one(staging, img, undo),
            |undo| self.roll_back(undo),
        )?;
        Ok(Loaded {
            target: "podman".into(),
            images,
            notes: Vec::new(),
        })
    }

    fn abort(self: Box<Self>) {}
}
