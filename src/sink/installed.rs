//! Which image a name points at in a target now (`verify-local`): podman
//! and docker give the image ID, which is the config digest; an OCI layout
//! gives the manifest digest its index names.

use std::path::Path;

use super::docker::DockerSink;
use super::podman::PodmanSink;
use super::{SinkOptions, Target};
use crate::archive::layout_files::REF_NAME;
use crate::error::{Error, IoContext};
use crate::model::{limits, Digest};

/// What the target says `name` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// podman, docker: the image ID (config digest).
    Config { target: String, digest: Digest },
    /// `dir:`, `registry:`: the manifest (or image index) digest.
    Manifest { target: String, digest: Digest },
}

fn not_held(target: &str, name: &str) -> Error {
    Error::Sink(format!("{target} holds no image named {name}"))
}

fn parse_id(target: &str, id: &str) -> Result<Digest, Error> {
    let hex = id.trim().trim_start_matches("sha256:");
    Digest::from_hex(hex)
        .map_err(|_| Error::Sink(format!("{target} gave an unreadable image ID {id:?}")))
}

/// Look `name` up in `target` (reads only; `auto` is docker when a daemon
/// answers, else podman, as for unpack).
pub fn lookup(target: &Target, name: &str, opts: &SinkOptions) -> Result<Installed, Error> {
    match target {
        Target::Podman => {
            let id = PodmanSink::new(opts)?
                .image_id(name)
                .ok_or_else(|| not_held("podman", name))?;
            Ok(Installed::Config {
                target: "podman".into(),
                digest: parse_id("podman", &id)?,
            })
        }
        Target::Docker => {
            let id = DockerSink::connect(opts)?
                .image_id(name)
                .ok_or_else(|| not_held("docker", name))?;
            Ok(Installed::Config {
                target: "docker".into(),
                digest: parse_id("docker", &id)?,
            })
        }
        Target::Auto => match DockerSink::connect(opts) {
            Ok(_) => lookup(&Target::Docker, name, opts),
            Err(_) => lookup(&Target::Podman, name, opts),
        },
        Target::Dir(dir) => {
            let target = format!(
                "dir:{}",
                std::fs::canonicalize(dir).at("open", dir)?.display()
            );
            let digest = layout_manifest(dir, name)?.ok_or_else(|| not_held(&target, name))?;
            Ok(Installed::Manifest { target, digest })
        }
        Target::Files(_) => Err(Error::Usage(
            "verify-local --in files: is not possible: a files: directory holds no image".into(),
        )),
        Target::Registry(r) => {
            let target = format!("registry:{r}");
            let digest = super::registry::RegistrySink::connect(r, opts)?
                .resolve_name(name)?
                .ok_or_else(|| not_held(&target, name))?;
            Ok(Installed::Manifest { target, digest })
        }
    }
}

/// The manifest `index.json` of the layout at `dir` names `name`.
fn layout_manifest(dir: &Path, name: &str) -> Result<Option<Digest>, Error> {
    let path = dir.join("index.json");
    let f = std::fs::File::open(&path).at("open", &path)?;
    let bytes = limits::read_at_most(f, limits::MAX_JSON_BYTES)
        .at("read", &path)?
        .ok_or_else(|| Error::Sink(format!("{} is too large", path.display())))?;
    let index: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Sink(format!("{}: {e}", path.display())))?;
    let found = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["annotations"][REF_NAME] == name)
        .and_then(|m| m["digest"].as_str());
    found
        .map(|d| {
            d.parse::<Digest>()
                .map_err(|_| Error::Sink(format!("{}: bad digest {d:?}", path.display())))
        })
        .transpose()
}
