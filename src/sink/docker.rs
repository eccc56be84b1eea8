//! `docker`: through the docker CLI (`docker load` on stdin), never the
//! Engine API from this process: airlock's unpack opens no socket itself,
//! and the CLI brings the operator's own context, TLS and `DOCKER_HOST`
//! handling. See docs/unpack.md.
//!
//! Docker < 25 (classic image store) only loads docker-archive streams
//! (`manifest.json` + config + layers); ≥ 25 loads OCI layouts. After the
//! load the image ID must equal the config digest (classic store) or the
//! manifest digest (containerd store). `docker load` keeps no RepoDigests,
//! so the verified manifest digest is printed and written to
//! `STATE_DIR/docker/<config-hex>.json`.
//!
//! An image docker already holds with the same ID (config digest) is not
//! loaded again, only tagged, and reported as already present.
//!
//! The tar stream is built straight from an uncompressed archive (the
//! pipeline's [`BlobFeed`], which re-hashes every blob) into `docker
//! load`'s stdin: no staging copy (a zstd archive or a volume set is staged
//! once, rather than decompressed once per image). A blob that changed
//! since verification fails the stream before its last bytes are written;
//! docker, which reads the whole stream before it commits, then loads
//! nothing, and the load is reported as an integrity error.
//!
//! Roll back: an image this run created is removed, a moved tag is put
//! back; an image that already existed is never removed. Nothing is staged
//! under a transient name in docker (the stream carries the final name).

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;

use super::command::{Output, Started, Tool};
use super::feed::{BlobFeed, VerifiedFile};
use super::load::{load_all, loaded_names, Undo};
use super::staging::{Staged, Staging};
use super::stream;
use super::{Loaded, LoadedImage, Sink, SinkOptions};
use crate::error::{Error, IoContext};
use crate::gate::{Plan, SelectedImage, VerifiedArchive};
use crate::model::{BlobRecord, Digest};

pub struct DockerSink {
    tool: Tool,
    host: String,
    /// `docker version`, started at connect and read in `begin`, so the
    /// CLI's start-up overlaps the verification of the archive.
    asking_version: Option<Started>,
    /// `docker image ls` of every (ID, name), started at connect too: it
    /// answers what the first image's ID and tag held before the load.
    early_names: std::sync::Mutex<Option<Started>>,
    version: String,
    major: u32,
    staging: Staged,
    /// Set by `load_from`: the load streams from the archive, no staging.
    feed: Option<Box<dyn BlobFeed>>,
    state_dir: Option<PathBuf>,
    stop: Arc<AtomicBool>,
}

impl DockerSink {
    /// Find the daemon and its version; fails (exit 6) when none answers.
    pub fn connect(opts: &SinkOptions) -> Result<Self, Error> {
        let mut sink = Self::open(opts, false)?;
        sink.learn_version()?;
        Ok(sink)
    }

    /// [`DockerSink::connect`] for unpack: the answer is read in `begin`,
    /// so the docker CLI starts (≈ 0.15 s) while the archive is verified,
    /// and so does the image list the first load reads.
    pub fn start_connect(opts: &SinkOptions) -> Result<Self, Error> {
        Self::open(opts, true)
    }

    fn open(opts: &SinkOptions, list_early: bool) -> Result<Self, Error> {
        let program = std::env::var_os("AIRLOCK_DOCKER").unwrap_or_else(|| "docker".into());
        let host = opts
            .docker_host
            .clone()
            .or_else(|| std::env::var("DOCKER_HOST").ok())
            .filter(|h| !h.is_empty());
        let tool = Tool {
            program,
            global_args: host
                .iter()
                .flat_map(|h| ["-H".to_string(), h.clone()])
                .collect(),
            name: "docker",
        };
        let host = host.unwrap_or_else(|| "the default docker host".into());
        let asking_version = Some(tool.start(&["version", "--format", "{{.Server.Version}}"])?);
        let early_names = match list_early {
            true => Some(tool.start(&LIST_ALL)?),
            false => None,
        };
        Ok(DockerSink {
            tool,
            host,
            asking_version,
            early_names: std::sync::Mutex::new(early_names),
            version: String::new(),
            major: 0,
            staging: Staged::default(),
            feed: None,
            state_dir: opts.state_dir.clone(),
            stop: opts.stop.clone(),
        })
    }

    /// The daemon's version, once `docker version` has answered; fails
    /// (exit 6) when no daemon answers.
    fn learn_version(&mut self) -> Result<(), Error> {
        let Some(asking) = self.asking_version.take() else {
            return Ok(());
        };
        let out = asking.wait()?;
        let version = out.stdout.trim().to_string();
        if !out.success || version.is_empty() {
            return Err(Error::Sink(format!(
                "no docker daemon answers at {}: {}",
                self.host,
                out.stderr_line()
            )));
        }
        self.major = version
            .split(['.', '+', '-'])
            .next()
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| Error::Sink(format!("cannot read docker version {version:?}")))?;
        self.version = version;
        Ok(())
    }

    pub fn image_id(&self, name: &str) -> Option<String> {
        let out = self
            .tool
            .run(&["image", "inspect", "--format", "{{.Id}}", name])
            .ok()?;
        let id = out.stdout.trim();
        (out.success && !id.is_empty()).then(|| id.to_string())
    }

    /// What the config digest and the tag name now, and every `(ID, name)`
    /// docker holds (a whole-file load may bring names of its own). The
    /// first image reads the list started at connect; later ones ask anew.
    fn before_load(&self, config_id: &str, tag: &str) -> Result<BeforeLoad, Error> {
        let early = self.early_names.lock().ok().and_then(|mut e| e.take());
        let names = self.tool.id_names(early, &LIST_ALL)?;
        let by_id = names.iter().any(|(id, _)| id == config_id);
        let by_tag = names
            .iter()
            .find(|(_, n)| n == tag)
            .map(|(id, _)| id.clone());
        Ok((by_id, by_tag, names))
    }

    /// The verified archive file, when `docker load -i` of it loads exactly
    /// `img` under `tag`: the whole archive is selected (the feed offers the
    /// file only then), it holds one image, and the name its `manifest.json`
    /// and `index.json` give is `tag`.
    fn whole_file<'f>(
        &'f self,
        verified: &VerifiedArchive<'_>,
        img: &SelectedImage,
        tag: &str,
    ) -> Option<&'f VerifiedFile> {
        let file = self.feed.as_ref()?.whole_file()?;
        let named = crate::archive::layout_files::docker_repo_tag(&img.record.reference);
        (verified.plan().images.len() == 1 && named.as_deref() == Some(tag)).then_some(file)
    }

    /// `docker load -i` of the verified archive file itself: no stream to
    /// build and no second hash. The file must have the identity it had
    /// when verified before docker starts and after it is done, and the
    /// image ID is checked against the config digest afterwards (as for a
    /// stream). Any name docker reports besides `tag` (a swapped file's) is
    /// recorded for the roll back first.
    fn load_whole(
        &self,
        file: &VerifiedFile,
        tag: &str,
        before: &[(String, String)],
        undo: &mut Vec<Undo>,
    ) -> Result<Output, Error> {
        file.check_unchanged()?;
        let path = file.path().to_string_lossy().into_owned();
        let out = self.tool.run(&["load", "--input", &path])?;
        for name in loaded_names(&out.stdout).into_iter().filter(|n| n != tag) {
            let id = self.image_id(&name).unwrap_or_else(|| name.clone());
            undo.push(Undo::for_loaded_name(&name, id, before));
        }
        file.check_unchanged()?;
        Ok(out)
    }

    fn record(
        &self,
        img: &SelectedImage,
        verified: &VerifiedArchive<'_>,
    ) -> Result<Option<PathBuf>, Error> {
        let Some(state) = &self.state_dir else {
            return Ok(None);
        };
        let dir = state.join("docker");
        std::fs::create_dir_all(&dir).at("create", &dir)?;
        let path = dir.join(format!("{}.json", img.record.config_digest.hex()));
        let doc = json!({
            "reference": img.tag,
            "packedReference": img.record.reference,
            "manifestDigest": img.record.manifest_digest.to_string(),
            "configDigest": img.record.config_digest.to_string(),
            "indexDigest": img.record.index_digest.map(|d| d.to_string()),
            "platform": img.record.platform_label(),
            "archiveManifestDigest": verified.outcome().manifest_digest.to_string(),
        });
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).at("create a file in", &dir)?;
        serde_json::to_writer_pretty(&mut tmp, &doc)
            .map_err(|e| Error::io("write record", std::io::Error::other(e)))?;
        tmp.persist(&path)
            .map_err(|e| Error::io_path("rename into", &path, e.error))?;
        Ok(Some(path))
    }

    fn load_one(
        &self,
        img: &SelectedImage,
        verified: &VerifiedArchive<'_>,
        undo: &mut Vec<Undo>,
    ) -> Result<LoadedImage, Error> {
        let config_id = img.record.config_digest.to_string();
        let manifest_id = img.record.manifest_digest.to_string();
        let tag = stream::docker_tag(&img.tag);
        let whole = self.whole_file(verified, img, &tag);
        // One list answers both questions (each docker CLI call costs
        // ~0.1 s), taken while the archive was verified.
        let (existed, by_tag, before) = self.before_load(&config_id, &tag)?;
        undo.push(Undo {
            id: config_id.clone(),
            existed,
            tag: tag.clone(),
            previous_tag_target: by_tag,
        });
        if existed {
            // Same config digest = same image (the classic store's ID):
            // name it rather than stream every layer in again.
            return self.tag_present(img, verified, &config_id, &tag);
        }
        let (out, fed) = match whole {
            Some(file) => (self.load_whole(file, &tag, &before, undo)?, Ok(())),
            None => {
                let layers = stream::layers(verified, img)?;
                self.stream_load(verified, img, &layers)?
            }
        };
        if self.stop.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        if !out.success {
            let why = match fed {
                Err(e) if out.stderr.trim().is_empty() => e.to_string(),
                _ => out.stderr_line(),
            };
            return Err(Error::Sink(format!("docker load failed: {why}")));
        }
        let id = match self.image_id(&tag) {
            Some(id) => id,
            None => {
                // Loaded by ID only (no usable name in the stream): tag it.
                self.tool
                    .run_ok(&["tag", &config_id, &tag], "tag")
                    .or_else(|_| self.tool.run_ok(&["tag", &manifest_id, &tag], "tag"))?;
                self.image_id(&tag).unwrap_or_default()
            }
        };
        let containerd_store = self.major >= 25 && id == manifest_id;
        if id != config_id && !containerd_store {
            return Err(Error::Sink(format!(
                "docker reports image ID {id} for {tag}, expected the config digest {config_id}"
            )));
        }
        let record_file = self.record(img, verified)?;
        Ok(loaded(img, tag, id, record_file, false))
    }

    /// `docker load` of one image on stdin, from the archive (a blob that
    /// changed since verification is an integrity error, and breaks the
    /// stream before its end so docker commits nothing) or from staging.
    fn stream_load(
        &self,
        verified: &VerifiedArchive<'_>,
        img: &SelectedImage,
        layers: &[Digest],
    ) -> Result<(Output, std::io::Result<()>), Error> {
        let docker_archive = self.major < 25;
        let Some(feed) = &self.feed else {
            let staging = self.staging.get()?;
            return self.tool.run_with_stdin(&["load"], |stdin| {
                if docker_archive {
                    stream::write_docker_archive(stdin, staging, img, layers, &self.stop)
                } else {
                    stream::write_oci_archive(stdin, staging, img, &self.stop)
                }
            });
        };
        let plan = &verified.plan().blobs;
        let mut failure = None;
        let result = self.tool.run_with_stdin(&["load"], |stdin| {
            let fed = if docker_archive {
                let mut wanted = vec![img.record.config_digest];
                wanted.extend_from_slice(layers);
                stream::records(plan, &wanted).and_then(|blobs| {
                    stream::write_docker_archive_fed(stdin, img, layers, &blobs, feed.as_ref())
                })
            } else {
                stream::records(plan, &img.image_blobs).and_then(|blobs| {
                    stream::write_oci_archive_fed(stdin, img, &blobs, feed.as_ref())
                })
            };
            fed.map_err(|e| {
                let line = e.to_string();
                failure = Some(e);
                std::io::Error::other(line)
            })
        })?;
        match failure {
            // What the archive did (changed, interrupted) beats the
            // tool's complaint about the broken stream.
            Some(e @ (Error::Integrity(_) | Error::Interrupted)) => Err(e),
            _ => Ok(result),
        }
    }

    /// Name an image docker already holds (same ID) instead of loading it.
    fn tag_present(
        &self,
        img: &SelectedImage,
        verified: &VerifiedArchive<'_>,
        config_id: &str,
        tag: &str,
    ) -> Result<LoadedImage, Error> {
        if self.image_id(tag).as_deref() != Some(config_id) {
            let out = self.tool.run(&["tag", config_id, tag])?;
            if !out.success {
                let holder = match self.image_id(tag) {
                    Some(other) => format!(
                        "; {tag} names image {other}: free the name (docker rmi --no-prune {tag}) or choose another with --tag, then unpack again"
                    ),
                    None => String::new(),
                };
                return Err(Error::Sink(format!(
                    "docker tag {config_id} {tag} failed: {}{holder}",
                    out.stderr_line()
                )));
            }
        }
        let id = self.image_id(tag).unwrap_or_default();
        if id != config_id {
            return Err(Error::Sink(format!(
                "docker reports image ID {id} for {tag}, expected the config digest {config_id}"
            )));
        }
        let record_file = self.record(img, verified)?;
        Ok(loaded(img, tag.to_string(), id, record_file, true))
    }

    fn roll_back(&self, undo: &[Undo]) {
        for u in undo.iter().rev() {
            let now = self.image_id(&u.tag);
            match &u.previous_tag_target {
                Some(prev) if now.as_deref() != Some(prev) => {
                    let _ = self.tool.run(&["tag", prev, &u.tag]);
                }
                None if now.is_some() => {
                    let _ = self.tool.run(&["rmi", "--no-prune", &u.tag]);
                }
                _ => {}
            }
            if !u.existed && self.image_id(&u.id).is_some() {
                let _ = self.tool.run(&["rmi", "--force", &u.id]);
            }
        }
    }
}

/// Whether the config digest is an image, what the tag names, and every
/// `(ID, name)`.
type BeforeLoad = (bool, Option<String>, Vec<(String, String)>);

/// Every image's ID and `name:tag`, one a line.
const LIST_ALL: [&str; 6] = [
    "image",
    "ls",
    "--all",
    "--no-trunc",
    "--format",
    "{{.ID}} {{.Repository}}:{{.Tag}}",
];

fn loaded(
    img: &SelectedImage,
    reference: String,
    id: String,
    record_file: Option<PathBuf>,
    present: bool,
) -> LoadedImage {
    LoadedImage {
        reference,
        packed_reference: img.record.reference.clone(),
        manifest_digest: img.record.manifest_digest,
        config_digest: img.record.config_digest,
        image_id: Some(id),
        target_digest: None,
        platform: img.record.platform_label(),
        record_file,
        evidence: 0,
        already_present: present,
    }
}

impl Sink for DockerSink {
    fn begin(&mut self, _plan: &Plan) -> Result<(), Error> {
        self.learn_version()?;
        if self.feed.is_some() {
            return Ok(());
        }
        self.staging.begin(Staging::private)
    }

    fn load_from(&mut self, feed: Box<dyn BlobFeed>) -> bool {
        // A zstd archive or a volume set would be read whole once per
        // image: staged once instead.
        if !feed.is_plain_file() {
            return false;
        }
        self.feed = Some(feed);
        true
    }

    fn put_blob(&mut self, rec: &BlobRecord, data: &mut dyn Read) -> Result<(), Error> {
        self.staging.put(rec, data)
    }

    fn finish(self: Box<Self>, verified: &VerifiedArchive<'_>) -> Result<Loaded, Error> {
        let images = load_all(
            &verified.plan().images,
            |img, undo| self.load_one(img, verified, undo),
            |undo| self.roll_back(undo),
        )?;
        let notes = images
            .iter()
            .filter(|i| i.already_present)
            .map(|i| super::load::present_note("docker", i))
            .collect();
        Ok(Loaded {
            target: format!("docker ({}, engine {})", self.host, self.version),
            images,
            notes,
        })
    }

    fn abort(self: Box<Self>) {}
}
