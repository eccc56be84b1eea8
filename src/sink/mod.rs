//! Where verified images go: an OCI layout directory, podman, docker, a
//! registry.
//!
//! A [`Sink`] is driven in one order: `begin` with the plan, `put_blob` for
//! every blob of the plan (each read through a re-hashing reader), then
//! either `finish` — which needs a [`VerifiedArchive`], a value only the gate
//! can make — or `abort`, which removes everything staged. `put_blob` only
//! stages into private storage; nothing reaches the target before `finish`.
//! `finish` cleans up after itself when it fails (it consumed the sink).

pub mod command;
pub mod dir;
pub mod docker;
pub mod evidence;
pub mod feed;
pub mod files;
pub mod installed;
pub mod load;
pub mod podman;
pub mod refname;
pub mod registry;
pub mod staging;
pub mod stream;

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde::Serialize;

use crate::error::Error;
use crate::gate::{Plan, VerifiedArchive};
use crate::model::{BlobRecord, Digest};

pub trait Sink {
    /// Prepare staging for this plan (e.g. check the target is usable).
    fn begin(&mut self, plan: &Plan) -> Result<(), Error>;
    /// Stage one blob. `data` yields exactly `rec.size` bytes and fails at
    /// the end if their digest is wrong; read it to the end.
    fn put_blob(&mut self, rec: &BlobRecord, data: &mut dyn Read) -> Result<(), Error>;
    /// Commit the staged images to the target. On error, whatever this call
    /// added to the target is removed again before it returns.
    fn finish(self: Box<Self>, verified: &VerifiedArchive<'_>) -> Result<Loaded, Error>;
    /// Drop everything staged; the target is left as it was.
    fn abort(self: Box<Self>);
    /// A sink that loads straight from the archive (docker, podman) keeps
    /// `feed`, says `true`, and then gets no `put_blob` calls: `finish`
    /// reads the blobs from the feed. The others stage and say `false`.
    fn load_from(&mut self, _feed: Box<dyn feed::BlobFeed>) -> bool {
        false
    }
}

/// Where images went, for the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Loaded {
    /// `dir:PATH`, `podman`, `docker (unix:///…, 20.10.24)`, `registry:HOST/NS`.
    pub target: String,
    pub images: Vec<LoadedImage>,
    /// What the operator should know about the result (moved tags,
    /// evidence a verifier will not find).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadedImage {
    /// The name given in the target.
    pub reference: String,
    /// The name it was packed under.
    pub packed_reference: String,
    pub manifest_digest: Digest,
    pub config_digest: Digest,
    /// The ID the target reports (podman/docker), checked equal to the config digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// The digest the target reports for the name, when it keeps one (a
    /// registry: the image index's when the index was pushed whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_digest: Option<String>,
    pub platform: String,
    /// A file where the verified manifest digest was recorded (docker).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_file: Option<PathBuf>,
    /// Evidence documents written alongside (dir and registry targets).
    pub evidence: usize,
    /// podman/docker already held an image with this config digest (its
    /// image ID): it was tagged, not loaded again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub already_present: bool,
}

/// `--into` as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Dir(PathBuf),
    /// `files:DIR`: the files of file artifacts, as plain files.
    Files(PathBuf),
    Podman,
    Docker,
    Registry(registry::naming::RegistryTarget),
    Auto,
}

impl std::str::FromStr for Target {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "podman" => Ok(Target::Podman),
            "docker" => Ok(Target::Docker),
            "auto" => Ok(Target::Auto),
            _ => {
                if let Some(p) = s.strip_prefix("dir:") {
                    if p.is_empty() {
                        return Err(Error::Usage("--into dir: needs a path".into()));
                    }
                    Ok(Target::Dir(PathBuf::from(p)))
                } else if let Some(p) = s.strip_prefix("files:") {
                    if p.is_empty() {
                        return Err(Error::Usage("--into files: needs a path".into()));
                    }
                    Ok(Target::Files(PathBuf::from(p)))
                } else if let Some(r) = s.strip_prefix("registry:") {
                    Ok(Target::Registry(registry::naming::RegistryTarget::parse(
                        r,
                    )?))
                } else {
                    Err(Error::Usage(format!(
                        "--into {s:?}: expected docker, podman, dir:PATH, files:DIR, registry:HOST[/NAMESPACE] or auto"
                    )))
                }
            }
        }
    }
}

/// Settings the targets need besides the target name.
#[derive(Debug, Clone, Default)]
pub struct SinkOptions {
    /// Extra global arguments for podman (e.g. `--root`, `--storage-driver`).
    pub podman_args: Vec<String>,
    /// `--docker-host`, else `DOCKER_HOST`, else the CLI's default.
    pub docker_host: Option<String>,
    /// Where the docker target records verified manifest digests.
    pub state_dir: Option<PathBuf>,
    /// Set by the SIGINT handler; checked between blobs and while streaming.
    pub stop: Arc<AtomicBool>,
    /// How to reach the registry of a `registry:` target.
    pub registry: crate::registry_client::AccessOptions,
}

/// Resolve `auto` and open the sink for a target.
pub fn open(target: &Target, opts: &SinkOptions) -> Result<Box<dyn Sink>, Error> {
    match target {
        Target::Dir(p) => Ok(Box::new(dir::DirSink::new(p.clone())?)),
        Target::Files(p) => Ok(Box::new(files::FilesSink::new(p.clone())?)),
        Target::Podman => Ok(Box::new(podman::PodmanSink::start_new(opts)?)),
        Target::Docker => Ok(Box::new(docker::DockerSink::start_connect(opts)?)),
        Target::Registry(r) => Ok(Box::new(registry::RegistrySink::connect(r, opts)?)),
        Target::Auto => {
            let docker_err = match docker::DockerSink::connect(opts) {
                Ok(s) => return Ok(Box::new(s)),
                Err(e) => e,
            };
            let podman_err = match podman::PodmanSink::new(opts) {
                Ok(s) => return Ok(Box::new(s)),
                Err(e) => e,
            };
            Err(Error::Sink(format!(
                "--into auto found no usable target: docker: {docker_err}; podman: {podman_err}; \
                 start a docker daemon, install podman, or use --into dir:PATH"
            )))
        }
    }
}

/// The description of a target for `--dry-run`, without touching it.
pub fn describe(target: &Target) -> String {
    match target {
        Target::Dir(p) => format!("dir:{}", p.display()),
        Target::Files(p) => format!("files:{}", p.display()),
        Target::Podman => "podman".into(),
        Target::Docker => "docker".into(),
        Target::Registry(r) => format!("registry:{r}"),
        Target::Auto => "auto (docker if a daemon answers, else podman)".into(),
    }
}

/// The name each planned image gets in the target, in plan order, for
/// reports and dry runs; fails (usage) when the target cannot name one.
pub fn target_names(target: &Target, plan: &Plan) -> Result<Vec<String>, Error> {
    match target {
        Target::Registry(r) => registry::plan::names(r, plan),
        _ => Ok(plan.images.iter().map(|i| i.tag.clone()).collect()),
    }
}
