//! The file system an image's layers build, for comparing two images
//! (`airlock diff`). Each layer is read as a stream (plain tar, gzip or
//! zstd, found by its first bytes) into a summary: per path, what defines
//! the file (kind, mode, owner, content SHA-256, link target, xattrs, mtime).
//! Nothing is ever written to disk, so a hostile path (`../x`, `/etc/x`) is
//! only reported. Memory grows with the number of files, not layer sizes.

use std::collections::BTreeMap;
use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

use super::compress::{self, Compression};
use crate::error::{Error, IntegrityError};
use crate::model::limits;

/// The marker that hides a lower layer's file (`.wh.NAME`).
const WHITEOUT_PREFIX: &str = ".wh.";
/// The marker that hides everything lower layers put in its directory.
const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Longest path kept (longer ones are reported as unsafe).
const MAX_PATH_BYTES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    CharDevice,
    BlockDevice,
    Fifo,
}

impl FileKind {
    pub fn name(self) -> &'static str {
        match self {
            FileKind::File => "file",
            FileKind::Dir => "directory",
            FileKind::Symlink => "symlink",
            FileKind::Hardlink => "hardlink",
            FileKind::CharDevice => "char device",
            FileKind::BlockDevice => "block device",
            FileKind::Fifo => "fifo",
        }
    }
}

/// What defines one file in an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub kind: FileKind,
    /// Permission bits, setuid/setgid/sticky included.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// `sha256:<hex>` of a regular file's content.
    pub content: Option<String>,
    /// Target of a symlink or hard link; device numbers of a device.
    pub link: Option<String>,
    /// `SCHILY.xattr.*` PAX records, value in hex.
    pub xattrs: BTreeMap<String, String>,
    pub mtime: u64,
}

/// One layer, read: its entries, and the whiteouts it applies to the layers
/// below it.
#[derive(Debug, Default)]
pub struct LayerSummary {
    entries: BTreeMap<String, FileMeta>,
    whiteouts: Vec<String>,
    opaque_dirs: Vec<String>,
    /// Paths that would escape the root (`..`), absolute after cleaning, or
    /// too long: reported, never applied.
    pub unsafe_paths: Vec<String>,
}

/// The files an image's layers build, applied in order.
#[derive(Debug, Default)]
pub struct FileTree {
    pub files: BTreeMap<String, FileMeta>,
    pub unsafe_paths: Vec<String>,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    IntegrityError::Corrupt(format!("{what}: {e}")).into()
}

/// `./a/b/`, `/a/b` → `a/b`; `None` for the root itself or a path that
/// climbs out (`..`) or is too long.
fn clean_path(raw: &[u8]) -> Result<Option<String>, String> {
    let s = String::from_utf8_lossy(raw);
    if s.len() > MAX_PATH_BYTES {
        return Err(format!("{}…", s.chars().take(64).collect::<String>()));
    }
    let mut parts = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(s.into_owned()),
            c => parts.push(c),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

impl LayerSummary {
    /// Read one layer blob (plain, gzip or zstd tar) to its end.
    pub fn read(data: &mut dyn Read, what: &str) -> Result<Self, Error> {
        let (kind, raw) = compress::sniff(data).map_err(|e| corrupt(what, e))?;
        let stream: Box<dyn Read + '_> = match kind {
            Compression::None => Box::new(raw),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
            Compression::Zstd => {
                compress::decoder(io::BufReader::new(raw)).map_err(|e| corrupt(what, e))?
            }
        };
        let mut summary = LayerSummary::default();
        let mut tar = tar::Archive::new(stream);
        let entries = tar.entries().map_err(|e| corrupt(what, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| corrupt(what, e))?;
            summary.add(&mut entry, what)?;
            if too_many_entries(summary.entries.len() + summary.whiteouts.len()) {
                return Err(corrupt(
                    what,
                    format!("more than {} entries", limits::MAX_DIFF_FILES),
                ));
            }
        }
        // Drain what follows the tar's end marker, so the caller's digest
        // check covers every byte of the blob.
        let mut rest = tar.into_inner();
        io::copy(&mut rest, &mut io::sink()).map_err(|e| corrupt(what, e))?;
        Ok(summary)
    }

    fn add<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, what: &str) -> Result<(), Error> {
        let raw = entry.path_bytes().into_owned();
        let path = match clean_path(&raw) {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(()), // the root directory
            Err(shown) => {
                self.unsafe_paths.push(shown);
                return Ok(());
            }
        };
        let (parent, base) = match path.rsplit_once('/') {
            Some((p, b)) => (Some(p), b),
            None => (None, path.as_str()),
        };
        if base == OPAQUE_MARKER {
            self.opaque_dirs.push(parent.unwrap_or("").to_string());
            return Ok(());
        }
        if let Some(hidden) = base.strip_prefix(WHITEOUT_PREFIX) {
            let hidden = match parent {
                Some(p) => format!("{p}/{hidden}"),
                None => hidden.to_string(),
            };
            self.whiteouts.push(hidden);
            return Ok(());
        }
        let header = entry.header();
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => FileKind::File,
            tar::EntryType::Directory => FileKind::Dir,
            tar::EntryType::Symlink => FileKind::Symlink,
            tar::EntryType::Link => FileKind::Hardlink,
            tar::EntryType::Char => FileKind::CharDevice,
            tar::EntryType::Block => FileKind::BlockDevice,
            tar::EntryType::Fifo => FileKind::Fifo,
            // PAX/GNU headers are consumed by the tar reader; anything else
            // is not part of a file system.
            _ => return Ok(()),
        };
        let mode = header.mode().map_err(|e| corrupt(what, e))? & 0o7777;
        let uid = header.uid().map_err(|e| corrupt(what, e))?;
        let gid = header.gid().map_err(|e| corrupt(what, e))?;
        let mtime = header.mtime().map_err(|e| corrupt(what, e))?;
        let link = match kind {
            FileKind::Symlink => entry
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned()),
            FileKind::Hardlink => match entry.link_name_bytes() {
                Some(l) => match clean_path(&l) {
                    Ok(p) => p,
                    Err(shown) => {
                        self.unsafe_paths.push(format!("{path} -> {shown}"));
                        return Ok(());
                    }
                },
                None => None,
            },
            FileKind::CharDevice | FileKind::BlockDevice => Some(format!(
                "{}:{}",
                header.device_major().ok().flatten().unwrap_or(0),
                header.device_minor().ok().flatten().unwrap_or(0)
            )),
            _ => None,
        };
        let mut xattrs = BTreeMap::new();
        if let Ok(Some(pax)) = entry.pax_extensions() {
            for ext in pax.flatten() {
                if let Some(name) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                    xattrs.insert(name.to_string(), hex::encode(ext.value_bytes()));
                }
            }
        }
        let (size, content) = if kind == FileKind::File {
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            let mut size = 0u64;
            loop {
                let n = entry.read(&mut buf).map_err(|e| corrupt(what, e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            (
                size,
                Some(format!("sha256:{}", hex::encode(hasher.finalize()))),
            )
        } else {
            (0, None)
        };
        self.entries.insert(
            path,
            FileMeta {
                kind,
                mode,
                uid,
                gid,
                size,
                content,
                link,
                xattrs,
                mtime,
            },
        );
        Ok(())
    }
}

/// Remove `path` and everything under it.
fn remove_tree(files: &mut BTreeMap<String, FileMeta>, path: &str) {
    files.remove(path);
    remove_children(files, path);
}

/// Remove everything under directory `dir` ("" is the root).
fn remove_children(files: &mut BTreeMap<String, FileMeta>, dir: &str) {
    if dir.is_empty() {
        files.clear();
        return;
    }
    let prefix = format!("{dir}/");
    let doomed: Vec<String> = files
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for k in doomed {
        files.remove(&k);
    }
}

impl FileTree {
    /// Put `layer` on top: its whiteouts and opaque directories hide what
    /// the layers below put there, then its entries replace theirs (a
    /// non-directory replaces a whole lower directory).
    pub fn apply(&mut self, layer: &LayerSummary) {
        for dir in &layer.opaque_dirs {
            remove_children(&mut self.files, dir);
        }
        for hidden in &layer.whiteouts {
            remove_tree(&mut self.files, hidden);
        }
        for (path, meta) in &layer.entries {
            if meta.kind != FileKind::Dir {
                remove_children(&mut self.files, path);
            }
            self.files.insert(path.clone(), meta.clone());
        }
        self.unsafe_paths.extend(layer.unsafe_paths.iter().cloned());
    }
}

/// Whether one image's layers hold more entries than `airlock diff` keeps
/// in memory.
fn too_many_entries(count: usize) -> bool {
    count > limits::MAX_DIFF_FILES
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, data) in entries {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_entry_type(if p.ends_with('/') {
                tar::EntryType::Directory
            } else {
                tar::EntryType::Regular
            });
            h.set_path(p).unwrap();
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn tree(layers: &[Vec<u8>]) -> FileTree {
        let mut t = FileTree::default();
        for l in layers {
            t.apply(&LayerSummary::read(&mut l.as_slice(), "test").unwrap());
        }
        t
    }

    #[test]
    fn whiteouts_and_opaque_dirs_hide_lower_files_only() {
        let lower = layer(&[("a/", b""), ("a/x", b"1"), ("a/y", b"2"), ("b", b"3")]);
        let upper = layer(&[("a/.wh..wh..opq", b""), ("a/z", b"4"), (".wh.b", b"")]);
        let t = tree(&[lower, upper]);
        let names: Vec<&str> = t.files.keys().map(String::as_str).collect();
        assert_eq!(names, ["a", "a/z"]);
    }

    #[test]
    fn a_file_replaces_a_lower_directory_and_its_children() {
        let lower = layer(&[("d/", b""), ("d/x", b"1")]);
        let upper = layer(&[("d", b"now a file")]);
        let t = tree(&[lower, upper]);
        assert_eq!(t.files.keys().collect::<Vec<_>>(), ["d"]);
        assert_eq!(t.files["d"].size, 10);
    }

    #[test]
    fn climbing_paths_are_reported_not_applied() {
        let mut raw = layer(&[("ok", b"1")]);
        // Rewrite the name field to `../x` (tar::Header refuses to set it).
        raw[..3].copy_from_slice(b"../");
        raw[3] = b'x';
        let mut h = tar::Header::from_byte_slice(&raw[..512]).clone();
        h.set_cksum();
        raw[..512].copy_from_slice(h.as_bytes());
        let t = tree(&[raw]);
        assert!(t.files.is_empty());
        assert_eq!(t.unsafe_paths, ["../x"]);
    }

    #[test]
    fn entries_up_to_the_limit_are_kept_and_one_more_is_too_many() {
        assert!(!too_many_entries(limits::MAX_DIFF_FILES));
        assert!(too_many_entries(limits::MAX_DIFF_FILES + 1));
    }
}
