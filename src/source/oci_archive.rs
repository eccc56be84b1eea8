//! Source: an `oci-archive` (a tar of an OCI image layout, as written by
//! `skopeo copy … oci-archive:`, `podman save --format oci-archive`, or
//! airlock itself). It is unpacked into a private directory and read as a
//! layout; the directory lives as long as the image set (`spools`).
//!
//! Only the layout's own files are taken: `oci-layout`, `index.json` and
//! regular files `blobs/sha256/<64 hex>`. Other top-level regular files
//! (`manifest.json` and `repositories` from docker save, `airlock.json`)
//! are read past, never written. Anything else — links, devices, absolute
//! or `..` paths, other names below the top — is refused, so a hostile tar
//! cannot write outside the directory or smuggle content in. A zstd
//! stream (`.tar.zst`) is decompressed first.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use super::layout;
use super::{ImageSet, PlatformFilter};
use crate::error::{Error, IoContext as _};
use crate::model::limits;

fn bad(archive: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Source(format!("oci-archive {}: {msg}", archive.display()))
}

/// Unpack `archive` and resolve its images like a layout's.
pub fn resolve(
    archive: &Path,
    refs: &[String],
    filter: &PlatformFilter,
) -> Result<ImageSet, Error> {
    layout::resolve_unpacked(archive, "oci-archive", refs, filter, |dir| {
        unpack(archive, dir)?;
        Ok(dir.to_path_buf())
    })
}

fn unpack(archive: &Path, dir: &Path) -> Result<(), Error> {
    let mut file = io::BufReader::new(File::open(archive).at("open", archive)?);
    let zstd = io::BufRead::fill_buf(&mut file)
        .at("read", archive)?
        .starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    let reader: Box<dyn Read> = if zstd {
        let mut d = zstd::Decoder::with_buffer(file).at("read", archive)?;
        // The same window bound as the archive reader: memory stays flat.
        d.window_log_max(limits::ZSTD_WINDOW_LOG_MAX)
            .at("read", archive)?;
        Box::new(d)
    } else {
        Box::new(file)
    };
    let mut tar = tar::Archive::new(reader);
    std::fs::create_dir_all(dir.join("blobs/sha256")).at("create", dir)?;
    let entries = tar.entries().map_err(|e| bad(archive, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(archive, e))?;
        let path = entry.path().map_err(|e| bad(archive, e))?.into_owned();
        let kind = entry.header().entry_type();
        if is_other_top_level_file(&path) && matches!(kind, tar::EntryType::Regular) {
            continue;
        }
        let Some(rel) = layout_path(&path) else {
            return Err(bad(
                archive,
                format!(
                    "{:?} is not part of an OCI layout",
                    path.display().to_string()
                ),
            ));
        };
        match entry.header().entry_type() {
            tar::EntryType::Directory if rel.is_none() => continue,
            tar::EntryType::Regular | tar::EntryType::Continuous if rel.is_some() => {}
            t => {
                return Err(bad(
                    archive,
                    format!(
                        "{:?}: entry type {t:?} is not allowed",
                        path.display().to_string()
                    ),
                ))
            }
        }
        let Some(rel) = rel else { continue };
        let small = rel == Path::new("oci-layout") || rel == Path::new("index.json");
        if small && entry.size() > limits::MAX_JSON_BYTES {
            return Err(bad(archive, format!("{} is too large", rel.display())));
        }
        let target = dir.join(&rel);
        if target.exists() {
            return Err(bad(archive, format!("{} appears twice", rel.display())));
        }
        let mut out = File::create(&target).at("create", &target)?;
        let size = entry.size();
        io::copy(&mut (&mut entry).take(size), &mut out).at("write", &target)?;
    }
    Ok(())
}

/// A plain name at the top of the tar (no directory, no `..`).
fn is_other_top_level_file(path: &Path) -> bool {
    let mut parts = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir));
    matches!(
        (parts.next(), parts.next()),
        (Some(Component::Normal(_)), None)
    ) && layout_path(path).is_none()
}

/// `Some(Some(file))` for a layout file, `Some(None)` for one of the
/// layout's directories, `None` for anything else.
fn layout_path(path: &Path) -> Option<Option<PathBuf>> {
    let parts: Vec<&str> = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        ["oci-layout"] | ["index.json"] => Some(Some(PathBuf::from(parts[0]))),
        ["blobs"] | ["blobs", "sha256"] => Some(None),
        ["blobs", "sha256", hex]
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Some(Some(PathBuf::from("blobs/sha256").join(hex)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_layout_files_are_taken() {
        let hex = "a".repeat(64);
        assert!(layout_path(Path::new("./index.json")).unwrap().is_some());
        assert!(layout_path(Path::new("oci-layout")).unwrap().is_some());
        assert!(layout_path(Path::new("blobs/sha256/")).unwrap().is_none());
        assert!(layout_path(Path::new(&format!("blobs/sha256/{hex}")))
            .unwrap()
            .is_some());
        for bad in [
            "/index.json",
            "../index.json",
            "blobs/sha256/../../etc/passwd",
            "blobs/sha512/abc",
            "blobs/sha256/ABC",
            "manifest.json",
            "blobs/sha256/short",
        ] {
            assert!(layout_path(Path::new(bad)).is_none(), "{bad}");
        }
    }
}
