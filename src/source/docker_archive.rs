//! Source: a docker-archive (`docker save`, `podman save --format
//! docker-archive`). Docker 25 and later write an OCI layout inside it,
//! which is read as one; the older format (`manifest.json` naming a config
//! file and layer tars per image) is turned into an OCI layout in a private
//! directory: the config keeps its exact bytes (so the image ID, its
//! digest, is the same), each uncompressed layer tar becomes a blob (its
//! digest is its diff_id), and each `RepoTags` name tags an OCI manifest.
//!
//! Entries are taken as regular files under plain relative names (at most
//! three deep) or as symlinks to such files (docker links repeated
//! layers); links are followed only to files in the same tar. Anything
//! else refuses the file.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write as _};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::layout;
use super::{ImageSet, PlatformFilter};
use crate::error::{Error, IoContext as _};
use crate::model::{limits, media, Digest};

fn bad(archive: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Source(format!("docker-archive {}: {msg}", archive.display()))
}

/// One image of a legacy `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Unpack `archive` and resolve its images like a layout's.
pub fn resolve(
    archive: &Path,
    refs: &[String],
    filter: &PlatformFilter,
) -> Result<ImageSet, Error> {
    layout::resolve_unpacked(archive, "docker-archive", refs, filter, |dir| {
        let raw = dir.join("raw");
        let links = extract(archive, &raw)?;
        if raw.join("oci-layout").is_file() {
            return Ok(raw);
        }
        let layout = dir.join("layout");
        convert(archive, &raw, &links, &layout)?;
        Ok(layout)
    })
}

/// A tar entry name as plain relative components (no `..`, no root).
fn plain(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (out.components().count() <= 3 && out.components().count() > 0).then_some(out)
}

/// Write every regular file under `raw`; return the symlinks (name →
/// target, both plain relative names).
fn extract(archive: &Path, raw: &Path) -> Result<HashMap<PathBuf, PathBuf>, Error> {
    let file = File::open(archive).at("open", archive)?;
    let mut tar = tar::Archive::new(io::BufReader::new(file));
    let mut links = HashMap::new();
    std::fs::create_dir_all(raw).at("create", raw)?;
    for entry in tar.entries().map_err(|e| bad(archive, e))? {
        let mut entry = entry.map_err(|e| bad(archive, e))?;
        let path = entry.path().map_err(|e| bad(archive, e))?.into_owned();
        let shown = format!("{:?}", path.display().to_string());
        let rel =
            plain(&path).ok_or_else(|| bad(archive, format!("{shown} is not a plain name")))?;
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(raw.join(&rel)).at("create", raw)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let target = raw.join(&rel);
                if let Some(dir) = target.parent() {
                    std::fs::create_dir_all(dir).at("create", dir)?;
                }
                if target.exists() {
                    return Err(bad(archive, format!("{shown} appears twice")));
                }
                let mut out = File::create(&target).at("create", &target)?;
                let size = entry.size();
                io::copy(&mut (&mut entry).take(size), &mut out).at("write", &target)?;
            }
            tar::EntryType::Symlink => {
                let to = entry
                    .link_name()
                    .map_err(|e| bad(archive, e))?
                    .ok_or_else(|| bad(archive, format!("{shown}: link without a target")))?;
                // Relative to the link's directory, and still inside the tar.
                let base = rel.parent().map(Path::to_path_buf).unwrap_or_default();
                let joined = normalize(&base.join(to.as_ref()))
                    .ok_or_else(|| bad(archive, format!("{shown} links outside the archive")))?;
                links.insert(rel, joined);
            }
            t => {
                return Err(bad(
                    archive,
                    format!("{shown}: entry type {t:?} is not allowed"),
                ))
            }
        }
    }
    Ok(links)
}

/// Resolve `..` lexically; `None` when it climbs above the top.
fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            _ => return None,
        }
    }
    plain(&out.iter().collect::<PathBuf>())
}

/// The extracted regular file a name in `manifest.json` stands for.
fn file_for(
    archive: &Path,
    raw: &Path,
    links: &HashMap<PathBuf, PathBuf>,
    name: &str,
) -> Result<PathBuf, Error> {
    let rel = plain(Path::new(name))
        .ok_or_else(|| bad(archive, format!("{name:?} is not a plain name")))?;
    let rel = links.get(&rel).cloned().unwrap_or(rel);
    let path = raw.join(&rel);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => Ok(path),
        _ => Err(bad(
            archive,
            format!("{name:?} is not a file in the archive"),
        )),
    }
}

/// Copy `src` into the layout's blobs as `media_type`; its descriptor.
fn add_blob(layout: &Path, src: &Path, media_type: &str) -> Result<serde_json::Value, Error> {
    let mut f = File::open(src).at("open", src)?;
    let mut h = Sha256::new();
    let tmp = layout.join("blobs/.incoming");
    let mut out = File::create(&tmp).at("create", &tmp)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).at("read", src)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n]).at("write", &tmp)?;
        size += n as u64;
    }
    let digest = Digest::from_bytes(h.finalize().into());
    let dest = layout.join("blobs/sha256").join(digest.hex());
    std::fs::rename(&tmp, &dest).at("rename into", &dest)?;
    Ok(json!({ "mediaType": media_type, "digest": digest, "size": size }))
}

fn write_json(layout: &Path, doc: &serde_json::Value) -> Result<serde_json::Value, Error> {
    let bytes = serde_json::to_vec(doc).map_err(|e| Error::io("serialise", io::Error::other(e)))?;
    let digest = Digest::of(&bytes);
    let dest = layout.join("blobs/sha256").join(digest.hex());
    std::fs::write(&dest, &bytes).at("write", &dest)?;
    Ok(json!({ "mediaType": media::OCI_MANIFEST, "digest": digest, "size": bytes.len() }))
}

/// The legacy format as an OCI layout in `layout`.
fn convert(
    archive: &Path,
    raw: &Path,
    links: &HashMap<PathBuf, PathBuf>,
    layout: &Path,
) -> Result<(), Error> {
    let manifest_path = file_for(archive, raw, links, "manifest.json")
        .map_err(|_| bad(archive, "neither an OCI layout nor a docker manifest.json"))?;
    let f = File::open(&manifest_path).at("open", &manifest_path)?;
    let bytes = limits::read_at_most(f, limits::MAX_JSON_BYTES)
        .at("read", &manifest_path)?
        .ok_or_else(|| bad(archive, "manifest.json is too large"))?;
    let saved: Vec<SavedImage> =
        serde_json::from_slice(&bytes).map_err(|e| bad(archive, format!("manifest.json: {e}")))?;
    std::fs::create_dir_all(layout.join("blobs/sha256")).at("create", layout)?;
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .at("write", layout)?;
    let mut index = Vec::new();
    for img in &saved {
        let config_file = file_for(archive, raw, links, &img.config)?;
        if std::fs::metadata(&config_file)
            .map(|m| m.len())
            .unwrap_or(0)
            > limits::MAX_JSON_BYTES
        {
            return Err(bad(
                archive,
                format!("{:?} is too large for a config", img.config),
            ));
        }
        let config = add_blob(layout, &config_file, media::OCI_CONFIG)?;
        let layers = img
            .layers
            .iter()
            .map(|l| add_blob(layout, &file_for(archive, raw, links, l)?, media::OCI_LAYER))
            .collect::<Result<Vec<_>, Error>>()?;
        let manifest = write_json(
            layout,
            &json!({
                "schemaVersion": 2,
                "mediaType": media::OCI_MANIFEST,
                "config": config,
                "layers": layers,
            }),
        )?;
        let tags = img.repo_tags.clone().unwrap_or_default();
        if tags.is_empty() {
            index.push(manifest.clone());
        }
        for tag in tags {
            let mut entry = manifest.clone();
            entry["annotations"] = json!({ media::REF_NAME: tag });
            index.push(entry);
        }
    }
    let index = json!({ "schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": index });
    let bytes =
        serde_json::to_vec(&index).map_err(|e| Error::io("serialise", io::Error::other(e)))?;
    std::fs::write(layout.join("index.json"), bytes).at("write", layout)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside_the_archive() {
        assert_eq!(
            plain(Path::new("./abc/layer.tar")),
            Some(PathBuf::from("abc/layer.tar"))
        );
        assert_eq!(plain(Path::new("../x")), None);
        assert_eq!(plain(Path::new("/etc/passwd")), None);
        assert_eq!(plain(Path::new("a/b/c/d")), None);
        assert_eq!(
            normalize(Path::new("abc/../def/layer.tar")),
            Some(PathBuf::from("def/layer.tar"))
        );
        assert_eq!(normalize(Path::new("abc/../../x")), None);
    }
}
