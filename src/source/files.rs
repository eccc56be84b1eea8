//! Source: local files packed as an artifact in the ORAS convention
//! (`airlock pack --file PATH[:MEDIATYPE] --as REF`): one layer per file,
//! titled with the file's name (`org.opencontainers.image.title`), the OCI
//! 1.1 empty config and an `artifactType`, so `oras pull` at the site gets
//! the files back by name.
//!
//! Deterministic: the manifest holds nothing but the files' names, media
//! types, digests and sizes (no timestamps, no local paths), in the order
//! given. Each file is hashed here and re-hashed by the writer, so a file
//! that changes in between fails the pack.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{BlobOrigin, ImageSet};
use crate::error::{Error, IoContext};
use crate::model::{media, oci, BlobRecord, Digest, ImageRecord};

/// The `artifactType` of a manifest built from `--file`s.
pub const FILES_ARTIFACT_TYPE: &str = "application/vnd.airlock.files.v1";
/// A file's layer media type when `--file` names none (ORAS's default).
pub const DEFAULT_FILE_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// What `source` airlock.json records for these artifacts (never a path).
const SOURCE_NAME: &str = "file";

/// One `--file PATH[:MEDIATYPE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileArg {
    pub path: PathBuf,
    pub media_type: Option<String>,
}

impl std::str::FromStr for FileArg {
    type Err = Error;

    /// `PATH[:MEDIATYPE]`: the media type is what follows the last colon
    /// when it looks like one (`type/subtype`), so paths with colons work.
    fn from_str(s: &str) -> Result<Self, Error> {
        if s.is_empty() {
            return Err(Error::Usage("--file needs a path".into()));
        }
        if let Some((path, mt)) = s.rsplit_once(':') {
            if looks_like_media_type(mt) && !path.is_empty() {
                return Ok(FileArg {
                    path: PathBuf::from(path),
                    media_type: Some(mt.to_string()),
                });
            }
        }
        Ok(FileArg {
            path: PathBuf::from(s),
            media_type: None,
        })
    }
}

fn looks_like_media_type(s: &str) -> bool {
    let Some((kind, sub)) = s.split_once('/') else {
        return false;
    };
    let token = |t: &str| {
        !t.is_empty()
            && t.len() <= 127
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    token(kind) && token(sub)
}

/// One artifact to build: its reference and its files, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileArtifact {
    pub reference: String,
    pub files: Vec<FileArg>,
}

/// Pair `--file`s with `--as` names: one `--as` takes every file; as many
/// `--as` as `--file`s pair them in order (one file per artifact).
pub fn group(files: Vec<FileArg>, names: Vec<String>) -> Result<Vec<FileArtifact>, Error> {
    match (files.len(), names.len()) {
        (0, 0) => Ok(Vec::new()),
        (0, _) => Err(Error::Usage(
            "--as names the artifact of --file; no --file given".into(),
        )),
        (_, 0) => Err(Error::Usage(
            "--file needs --as REF: the reference the artifact is packed (and unpacked) under"
                .into(),
        )),
        (_, 1) => Ok(vec![FileArtifact {
            reference: names.into_iter().next().unwrap_or_default(),
            files,
        }]),
        (f, n) if f == n => Ok(files
            .into_iter()
            .zip(names)
            .map(|(file, reference)| FileArtifact {
                reference,
                files: vec![file],
            })
            .collect()),
        (f, n) => Err(Error::Usage(format!(
            "{f} --file and {n} --as: give one --as for all files, or one per file"
        ))),
    }
}

/// A file's title: its own name, which must be a plain name (the site
/// writes it as one file, never a path).
fn title_of(path: &Path) -> Result<String, Error> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        Error::Usage(format!(
            "--file {}: not a file name in UTF-8",
            path.display()
        ))
    })?;
    crate::model::oci::check_title(name)
        .map_err(|e| Error::Usage(format!("--file {}: {e}", path.display())))?;
    Ok(name.to_string())
}

/// Hash a file once, streaming, bounded by nothing but its size.
fn digest_file(path: &Path) -> Result<(Digest, u64), Error> {
    let meta = std::fs::symlink_metadata(path).at("read", path)?;
    if !meta.is_file() {
        return Err(Error::Usage(format!(
            "--file {}: not a regular file",
            path.display()
        )));
    }
    let mut f = std::fs::File::open(path).at("open", path)?;
    let mut h = sha2::Sha256::default();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).at("read", path)?;
        if k == 0 {
            break;
        }
        sha2::Digest::update(&mut h, buf.get(..k).unwrap_or(&[]));
        n += k as u64;
    }
    Ok((Digest::from_bytes(sha2::Digest::finalize(h).into()), n))
}

/// Build each artifact's manifest from its files.
pub fn resolve(artifacts: &[FileArtifact]) -> Result<ImageSet, Error> {
    let mut set = ImageSet::default();
    for a in artifacts {
        check_reference(&a.reference)?;
        let mut layers: Vec<Value> = Vec::with_capacity(a.files.len());
        let mut titles: Vec<String> = Vec::new();
        let mut size = 0u64;
        for f in &a.files {
            let title = title_of(&f.path)?;
            if titles.contains(&title) {
                return Err(Error::Usage(format!(
                    "--as {}: two files are named {title:?}; a title must be unique in an artifact",
                    a.reference
                )));
            }
            titles.push(title.clone());
            let (digest, n) = digest_file(&f.path)?;
            let mt = f
                .media_type
                .clone()
                .unwrap_or_else(|| DEFAULT_FILE_MEDIA_TYPE.to_string());
            layers.push(json!({
                "mediaType": mt,
                "digest": digest.to_string(),
                "size": n,
                "annotations": { media::IMAGE_TITLE: title },
            }));
            set.add_blob(
                BlobRecord {
                    digest,
                    size: n,
                    media_type: mt,
                },
                BlobOrigin::File(f.path.clone()),
            );
            size += n;
        }
        let config = b"{}".to_vec();
        let config_digest = Digest::of(&config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "artifactType": FILES_ARTIFACT_TYPE,
            "config": {
                "mediaType": media::OCI_EMPTY,
                "digest": config_digest.to_string(),
                "size": config.len(),
            },
            "layers": layers,
        }))
        .map_err(|e| Error::Source(format!("--as {}: {e}", a.reference)))?;
        let info = oci::parse_manifest(&manifest)
            .map_err(|e| Error::Source(format!("--as {}: {e}", a.reference)))?;
        let manifest_digest = Digest::of(&manifest);
        let manifest_size = manifest.len() as u64;
        size += manifest_size + config.len() as u64;
        set.images.push(ImageRecord {
            reference: a.reference.clone(),
            source: SOURCE_NAME.into(),
            index_digest: None,
            manifest_digest,
            manifest_media_type: media::OCI_MANIFEST.into(),
            manifest_size,
            config_digest,
            kind: oci::entry_kind(&info),
            artifact_type: oci::artifact_type(&info),
            platform: None,
            size,
            evidence: Vec::new(),
        });
        set.add_memory(config_digest, media::OCI_EMPTY, config);
        set.add_memory(manifest_digest, media::OCI_MANIFEST, manifest);
    }
    Ok(set)
}

/// `--as` must be a reference a registry could hold (it becomes the name
/// in `dir:`, `registry:` and the report): `host/path[:tag]`, lowercase.
fn check_reference(r: &str) -> Result<(), Error> {
    let bad = |why: &str| Error::Usage(format!("--as {r:?}: {why}"));
    let parsed: oci_client::Reference = r
        .parse()
        .map_err(|e| bad(&format!("not an image reference: {e}")))?;
    if parsed.digest().is_some() {
        return Err(bad(
            "a digest cannot name an artifact that is built here; use a tag",
        ));
    }
    if r != parsed.whole() && !r.contains('/') {
        return Err(bad(
            "name the registry and repository, e.g. registry.example.org/files/install:1",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_args_split_a_trailing_media_type_only() {
        let a: FileArg = "install.sh:text/x-shellscript".parse().unwrap();
        assert_eq!(a.path, PathBuf::from("install.sh"));
        assert_eq!(a.media_type.as_deref(), Some("text/x-shellscript"));
        let b: FileArg = "dir:with:colons".parse().unwrap();
        assert_eq!(b.path, PathBuf::from("dir:with:colons"));
        assert_eq!(b.media_type, None);
    }

    #[test]
    fn grouping_is_one_artifact_or_one_per_file() {
        let f = |p: &str| FileArg {
            path: p.into(),
            media_type: None,
        };
        assert_eq!(
            group(vec![f("a"), f("b")], vec!["r/x:1".into()])
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            group(vec![f("a"), f("b")], vec!["r/x:1".into(), "r/y:1".into()])
                .unwrap()
                .len(),
            2
        );
        assert!(group(vec![f("a")], vec![]).is_err());
        assert!(group(
            vec![f("a"), f("b"), f("c")],
            vec!["r/x:1".into(), "r/y:1".into()]
        )
        .is_err());
    }
}
