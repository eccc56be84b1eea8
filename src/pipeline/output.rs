//! Checks on where pack writes, made before any source is read or
//! downloaded: an existing file is only replaced with `--force`, an output
//! inside a source layout is refused (it would destroy or change the
//! source), the directory must exist and be writable, and the file name
//! must say what the content is (`.tar` or `.tar.zst`).

use std::path::{Path, PathBuf};

use crate::error::Error;

/// The directory `output` is written in.
pub fn parent_dir(output: &Path) -> PathBuf {
    match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether the archive is zstd-compressed: `--zstd` or a `.zst` name.
/// A name that says otherwise (`.gz`, `.tgz`, `.tar` with `--zstd`) is a
/// usage error: the name and the content must agree.
pub fn compression(output: &Path, zstd_flag: bool) -> Result<bool, Error> {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let usage = |m: String| Err(Error::Usage(m));
    if name.ends_with(".gz")
        || name.ends_with(".tgz")
        || name.ends_with(".bz2")
        || name.ends_with(".xz")
    {
        return usage(format!(
            "-o {}: airlock writes .tar or .tar.zst archives, not gzip/bzip2/xz; name it .tar or .tar.zst",
            output.display()
        ));
    }
    let zst_name = name.ends_with(".zst") || name.ends_with(".tzst");
    if zstd_flag && name.ends_with(".tar") {
        return usage(format!(
            "-o {}: --zstd writes zstd, so the name should end in .tar.zst",
            output.display()
        ));
    }
    Ok(zstd_flag || zst_name)
}

/// Refuse an output pack must not write; see the module docs. `-` is
/// stdout, refused when it is a terminal; with `split`, the outputs are
/// the volume set's files.
pub fn check(output: &Path, layouts: &[PathBuf], force: bool, split: bool) -> Result<(), Error> {
    let usage = |m: String| Err(Error::Usage(m));
    if super::is_stdout(output) {
        if split {
            return usage("--volume-size writes files; it cannot write to stdout (-o -)".into());
        }
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            return usage(
                "-o - writes the archive to stdout, which is a terminal; redirect it or pipe it (| airlock unpack - …)".into(),
            );
        }
        return Ok(());
    }
    let dir = parent_dir(output);
    let meta = match std::fs::metadata(&dir) {
        Ok(m) => m,
        Err(_) => return usage(format!("output directory {} does not exist", dir.display())),
    };
    if !meta.is_dir() {
        return usage(format!("{} is not a directory", dir.display()));
    }
    // Writable is only known by writing: an anonymous temp file leaves no name.
    if let Err(e) = tempfile::tempfile_in(&dir) {
        return usage(format!(
            "output directory {} is not writable: {e}",
            dir.display()
        ));
    }
    let real_dir = dir.canonicalize().unwrap_or(dir.clone());
    for layout in layouts {
        let Ok(real_layout) = layout.canonicalize() else {
            continue; // the source reports a missing layout itself
        };
        if real_dir.starts_with(&real_layout) {
            return usage(format!(
                "-o {} is inside the source layout {}; write the archive elsewhere",
                output.display(),
                layout.display()
            ));
        }
    }
    if split {
        let existing = super::split::existing_volume_files(output);
        if let (Some(first), false) = (existing.first(), force) {
            return usage(format!(
                "{} exists; pass --force to replace the volume set",
                dir.join(first).display()
            ));
        }
        return Ok(());
    }
    if let Ok(m) = std::fs::symlink_metadata(output) {
        if m.is_dir() {
            return usage(format!("-o {} is a directory", output.display()));
        }
        if !force {
            return usage(format!(
                "{} exists; pass --force to replace it",
                output.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_match_the_content() {
        let c = |n: &str, z: bool| compression(Path::new(n), z);
        assert!(!c("a.tar", false).unwrap());
        assert!(c("a.tar.zst", false).unwrap());
        assert!(c("a.tar.zst", true).unwrap());
        assert!(c("a", true).unwrap());
        assert!(c("a.tar.gz", false).is_err());
        assert!(c("a.tgz", true).is_err());
        assert!(c("a.tar", true).is_err());
    }

    #[test]
    fn existing_outputs_need_force_and_layouts_are_protected() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("a.tar");
        assert!(check(&out, &[], false, false).is_ok());
        std::fs::write(&out, b"x").unwrap();
        assert!(matches!(
            check(&out, &[], false, false),
            Err(Error::Usage(_))
        ));
        assert!(check(&out, &[], true, false).is_ok());
        let layout = t.path().join("layout");
        std::fs::create_dir(&layout).unwrap();
        let inside = layout.join("index.json");
        let e = check(&inside, std::slice::from_ref(&layout), true, false).unwrap_err();
        assert!(e.to_string().contains("inside the source layout"), "{e}");
        let missing = t.path().join("no/such/dir/a.tar");
        let e = check(&missing, &[], false, false).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }
}
