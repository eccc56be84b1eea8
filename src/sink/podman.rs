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
//! An image podman already holds with the same ID (config digest) is not
//! loaded again, only tagged, and reported as already present: podman may
//! have stored its own manifest for it (e.g. after `podman load` of the
//! archive itself), so its digest is not compared then.
//!
//! Roll back: an image this run created is removed (`podman rmi`), a tag it
//! moved is put back, and the transient staging name is removed from every
//! image on every path. An image that already existed is never removed.

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
    pub fn image_id(&self, name: &str) -> Option<String> {
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
        let existed = self.image_id(&want_id).is_some();
        undo.push(Undo {
            id: want_id.clone(),
            existed,
            tag: img.tag.clone(),
            previous_tag_target: self.image_id(&img.tag),
        });
        if existed {
            // Same config digest = same image (podman's ID is that digest).
            // Loading it again would not replace podman's manifest, which it
            // may have rewritten (e.g. `podman load` of the archive itself),
            // so the digest check below could never pass: name it instead.
            return self.tag_present(img, &want_id);
        }
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
        self.tag(&want_id, &img.tag)?;
        if let Some(left) = self.remove_staging_names(staging, &[]).first() {
            return Err(Error::Sink(format!(
                "podman untag failed: cannot remove the staging name {left}"
            )));
        }
        let (id, digest) = self.inspect(img, &want_id)?;
        if digest != img.record.manifest_digest.to_string() {
            return Err(Error::Sink(format!(
                "podman reports manifest digest {digest} for {}, expected {}",
                img.tag, img.record.manifest_digest
            )));
        }
        Ok(self.loaded(img, id, digest, false))
    }

    /// Name an image podman already holds (same ID) instead of loading it.
    fn tag_present(&self, img: &SelectedImage, want_id: &str) -> Result<LoadedImage, Error> {
        if self.image_id(&img.tag).as_deref() != Some(want_id) {
            self.tag(want_id, &img.tag)?;
        }
        let (id, digest) = self.inspect(img, want_id)?;
        Ok(self.loaded(img, id, digest, true))
    }

    /// `podman tag`; when it fails, say what holds the name and what to run.
    fn tag(&self, id: &str, name: &str) -> Result<(), Error> {
        let out = self.tool.run(&["tag", id, name])?;
        if out.success {
            return Ok(());
        }
        let holder = match self.image_id(name) {
            Some(other) => format!(
                "; {name} names image sha256:{other}: free the name (podman untag sha256:{other} {name}) or choose another with --tag, then unpack again"
            ),
            None => String::new(),
        };
        Err(Error::Sink(format!(
            "podman tag sha256:{id} {name} failed: {}{holder}",
            out.stderr_line()
        )))
    }

    /// The ID and manifest digest podman reports for `img.tag`; the ID must
    /// be the config digest.
    fn inspect(&self, img: &SelectedImage, want_id: &str) -> Result<(String, String), Error> {
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
        Ok((id.to_string(), digest))
    }

    fn loaded(
        &self,
        img: &SelectedImage,
        id: String,
        digest: String,
        present: bool,
    ) -> LoadedImage {
        LoadedImage {
            reference: img.tag.clone(),
            packed_reference: img.record.reference.clone(),
            manifest_digest: img.record.manifest_digest,
            config_digest: img.record.config_digest,
            image_id: Some(format!("sha256:{id}")),
            target_digest: Some(digest),
            platform: img.record.platform_label(),
            record_file: None,
            evidence: 0,
            already_present: present,
        }
    }

    /// Remove the transient name podman gave the loaded layout directory
    /// (`localhost/<staging path>:latest`) from whatever image holds it. An
    /// image left with no name by that, and not one of `kept` (IDs that
    /// existed before the run), was created by this run: it is removed.
    /// Returns the staging names that could not be removed.
    fn remove_staging_names(&self, staging: &Staging, kept: &[String]) -> Vec<String> {
        let mut left = Vec::new();
        let Some(base) = staging.path().file_name().and_then(|b| b.to_str()) else {
            return left;
        };
        let Ok(out) = self.tool.run(&[
            "images",
            "--all",
            "--no-trunc",
            "--format",
            "{{.Id}} {{.Repository}}:{{.Tag}}",
        ]) else {
            return left;
        };
        for line in out.stdout.lines() {
            let Some((id, name)) = line.split_once(' ') else {
                continue;
            };
            let id = id.trim_start_matches("sha256:");
            if !name.contains(base) {
                continue;
            }
            if !self.tool.run(&["untag", id, name]).is_ok_and(|o| o.success) {
                left.push(name.to_string());
                continue;
            }
            if self.names(id).is_empty() && !kept.iter().any(|k| k == id) {
                let _ = self.tool.run(&["rmi", id]);
            }
        }
        left
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

    fn roll_back(&self, staging: &Staging, undo: &[Undo]) {
        // First, so an image named only by the staging name is found.
        let kept: Vec<String> = undo
            .iter()
            .filter(|u| u.existed)
            .map(|u| u.id.clone())
            .collect();
        let _ = self.remove_staging_names(staging, &kept);
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
            |undo| self.roll_back(staging, undo),
        )?;
        let notes = images
            .iter()
            .filter(|i| i.already_present)
            .map(|i| super::load::present_note("podman", i))
            .collect();
        Ok(Loaded {
            target: "podman".into(),
            images,
            notes,
        })
    }

    fn abort(self: Box<Self>) {}
}
