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
//! When the input is a regular uncompressed file holding exactly the one
//! image to load, podman is given that file (`podman load -i ARCHIVE`, an
//! oci-archive): no staging copy; the file's identity is checked before
//! and after, and the digests after (docs/unpack.md, "Loading the archive
//! file itself"). Otherwise the selected blobs are staged from the archive.
//!
//! Roll back: an image this run created is removed (`podman rmi`), a tag it
//! moved is put back, and the transient staging name is removed from every
//! image on every path. An image that already existed is never removed.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::command::{Started, Tool};
use super::feed::{BlobFeed, VerifiedFile};
use super::load::{load_all, loaded_names, Undo};
use super::staging::{Staged, Staging};
use super::stream;
use super::{Loaded, LoadedImage, Sink, SinkOptions};
use crate::error::Error;
use crate::gate::{Plan, SelectedImage, VerifiedArchive};
use crate::model::BlobRecord;

pub struct PodmanSink {
    tool: Tool,
    /// `podman version` and the list of every name, started at open and
    /// read once the archive is verified (each podman call costs ~0.15 s).
    early: std::sync::Mutex<Early>,
    staging: Staged,
    /// Set by `load_from`: blobs come from the archive at `finish`.
    feed: Option<Box<dyn BlobFeed>>,
    stop: Arc<AtomicBool>,
}

#[derive(Default)]
struct Early {
    version: Option<Started>,
    names: Option<Started>,
}

const VERSION: [&str; 3] = ["version", "--format", "{{.Client.Version}}"];
const ALL_NAMES: [&str; 5] = [
    "images",
    "--all",
    "--no-trunc",
    "--format",
    "{{.Id}} {{.Repository}}:{{.Tag}}",
];

impl PodmanSink {
    /// Fails (exit 6) when podman does not run.
    pub fn new(opts: &SinkOptions) -> Result<Self, Error> {
        let sink = Self::open(opts, false)?;
        sink.check_version()?;
        Ok(sink)
    }

    /// [`PodmanSink::new`] for unpack: the check is read in `begin`, so
    /// podman starts while the archive is verified, and lists what it holds
    /// meanwhile for the first load.
    pub fn start_new(opts: &SinkOptions) -> Result<Self, Error> {
        Self::open(opts, true)
    }

    fn open(opts: &SinkOptions, list_early: bool) -> Result<Self, Error> {
        let program = std::env::var_os("AIRLOCK_PODMAN").unwrap_or_else(|| "podman".into());
        let tool = Tool {
            program,
            global_args: opts.podman_args.clone(),
            name: "podman",
        };
        let early = Early {
            version: Some(tool.start(&VERSION)?),
            names: match list_early {
                true => Some(tool.start(&ALL_NAMES)?),
                false => None,
            },
        };
        Ok(PodmanSink {
            tool,
            early: std::sync::Mutex::new(early),
            staging: Staged::default(),
            feed: None,
            stop: opts.stop.clone(),
        })
    }

    fn check_version(&self) -> Result<(), Error> {
        let asked = self.early.lock().ok().and_then(|mut e| e.version.take());
        let Some(asked) = asked else {
            return Ok(());
        };
        self.tool.ok(asked.wait()?, "version").map(drop)
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
        whole: Option<&VerifiedFile>,
        undo: &mut Vec<Undo>,
    ) -> Result<LoadedImage, Error> {
        let want_id = img.record.config_digest.hex();
        // Loading the file whole needs the list of every name first (to
        // undo whatever it brings); it answers these two questions too.
        let before = whole.map(|_| self.all_names()).transpose()?;
        let (existed, previous_tag_target) = match &before {
            Some(names) => (
                names.iter().any(|(id, _)| *id == want_id),
                names
                    .iter()
                    .find(|(_, n)| *n == img.tag)
                    .map(|(id, _)| id.clone()),
            ),
            None => (self.image_id(&want_id).is_some(), self.image_id(&img.tag)),
        };
        undo.push(Undo {
            id: want_id.clone(),
            existed,
            tag: img.tag.clone(),
            previous_tag_target,
        });
        if existed {
            // Same config digest = same image (podman's ID is that digest).
            // Loading it again would not replace podman's manifest, which it
            // may have rewritten (e.g. `podman load` of the archive itself),
            // so the digest check below could never pass: name it instead.
            return self.tag_present(img, &want_id);
        }
        if let (Some(file), Some(before)) = (whole, &before) {
            return self.load_whole(file, img, &want_id, before, undo);
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

    /// `podman load -i` of the verified archive file itself (it holds this
    /// one image and nothing else to load). The file must have the identity
    /// it had when verified before podman starts and after it is done, and
    /// podman must report the verified manifest digest and the config
    /// digest as ID (docs/unpack.md). Whatever podman says it loaded is
    /// undone if anything fails, even names a swapped file brought along.
    fn load_whole(
        &self,
        file: &VerifiedFile,
        img: &SelectedImage,
        want_id: &str,
        before: &[(String, String)],
        undo: &mut Vec<Undo>,
    ) -> Result<LoadedImage, Error> {
        file.check_unchanged()?;
        let path = file.path().to_string_lossy().into_owned();
        let out = self.tool.run(&["load", "--input", &path])?;
        // What each reported name holds now: recorded for the roll back
        // before anything is judged.
        let mut loaded = Vec::new();
        for name in loaded_names(&out.stdout) {
            let (id, digest) = self.id_and_digest(&name).unwrap_or_default();
            let undo_id = if id.is_empty() {
                name.clone()
            } else {
                id.clone()
            };
            undo.push(Undo::for_loaded_name(&name, undo_id, before));
            loaded.push((name, id, digest));
        }
        file.check_unchanged()?;
        if self.stop.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        if !out.success {
            return Err(Error::Sink(format!(
                "podman load failed: {}",
                out.stderr_line()
            )));
        }
        let manifest = img.record.manifest_digest.to_string();
        if let [(name, id, digest)] = loaded.as_slice() {
            if *name == img.tag && id == want_id && *digest == manifest {
                // podman named it as asked: nothing to re-tag.
                return Ok(self.loaded(img, id.clone(), digest.clone(), false));
            }
        }
        self.tag(want_id, &img.tag)?;
        // podman names it after the archive's annotation; keep only the
        // name asked for (and any the image already had).
        for (name, id, _) in loaded.iter().filter(|(n, _, _)| *n != img.tag) {
            let held_before = before.iter().any(|(_, n)| n == name);
            if !held_before && id == want_id {
                self.tool.run_ok(&["untag", want_id, name], "untag")?;
            }
        }
        let (id, digest) = self.inspect(img, want_id)?;
        if digest != manifest {
            return Err(Error::Sink(format!(
                "podman reports manifest digest {digest} for {}, expected {}",
                img.tag, img.record.manifest_digest
            )));
        }
        Ok(self.loaded(img, id, digest, false))
    }

    /// The image ID and manifest digest a name resolves to, if any.
    fn id_and_digest(&self, name: &str) -> Option<(String, String)> {
        let out = self
            .tool
            .run(&["image", "inspect", "--format", "{{.Id}} {{.Digest}}", name])
            .ok()?;
        let mut f = out.stdout.split_whitespace();
        let id = f.next()?.trim_start_matches("sha256:").to_string();
        Some((id, f.next().unwrap_or("").to_string())).filter(|_| out.success)
    }

    /// Every (image ID, name) podman holds now. Fails rather than answer
    /// "nothing": the roll back would take a present image for a new one.
    /// The list started at open is used once (for the first image loaded;
    /// a whole-file load has only one).
    fn all_names(&self) -> Result<Vec<(String, String)>, Error> {
        let early = self.early.lock().ok().and_then(|mut e| e.names.take());
        let names = self.tool.id_names(early, &ALL_NAMES)?;
        Ok(names
            .into_iter()
            .map(|(id, name)| (id.trim_start_matches("sha256:").to_string(), name))
            .collect())
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
        self.check_version()?;
        self.staging.begin(Staging::reference_safe)
    }

    fn load_from(&mut self, feed: Box<dyn BlobFeed>) -> bool {
        self.feed = Some(feed);
        true
    }

    fn put_blob(&mut self, rec: &BlobRecord, data: &mut dyn Read) -> Result<(), Error> {
        self.staging.put(rec, data)
    }

    fn finish(self: Box<Self>, verified: &VerifiedArchive<'_>) -> Result<Loaded, Error> {
        let staging = self.staging.get()?;
        let plan = verified.plan();
        let mut whole = None;
        if let Some(feed) = &self.feed {
            whole = feed.whole_file().filter(|_| plan.images.len() == 1);
            if whole.is_none() {
                // A part of the archive: staged as a layout directory,
                // which podman reads in place (a stream on stdin would be
                // copied to a file by podman, then unpacked again).
                feed.for_each(&plan.blobs, &mut |rec, data| staging.put(rec, data))?;
            }
        }
        let images = load_all(
            &plan.images,
            |img, undo| self.load_one(staging, img, whole, undo),
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
