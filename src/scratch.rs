//! Names of the temporary files and directories airlock writes beside its
//! outputs (`.airlock-<kind>-<pid>-<random>`), and sweeping the ones a
//! killed run left behind.
//!
//! An interrupt removes them (`pipeline::outputs`), but SIGKILL, OOM or a
//! power cut run no handler. The creator's pid in the name lets the next run
//! in the same directory tell a leftover (its creator is gone) from a file a
//! concurrent run is still writing, and remove only the leftover.

use std::fs;
use std::path::Path;

/// The prefix for a temporary of `kind` created by this process.
pub fn prefix(kind: &str) -> String {
    format!(".airlock-{kind}-{}-", std::process::id())
}

/// Remove the temporaries of `kind` in `dir` whose creating process is no
/// longer running; returns how many were removed. Best effort: a leftover
/// that cannot be removed is no worse than before.
pub fn sweep(dir: &Path, kind: &str) -> usize {
    sweep_named(dir, &format!(".airlock-{kind}-"))
}

/// [`sweep`] for temporaries named `<head><pid>-…` (the staging
/// directories in the temp dir, whose names podman must accept).
pub fn sweep_named(dir: &Path, head: &str) -> usize {
    // Without /proc a live creator cannot be told from a dead one.
    if !Path::new("/proc/self").exists() {
        return 0;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(head))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let path = entry.path();
        // Never follow a link someone put there: remove the link itself.
        let gone = match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&path).is_ok(),
            Ok(_) => fs::remove_file(&path).is_ok(),
            Err(_) => false,
        };
        removed += usize::from(gone);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid no process has: above the kernel's pid_max.
    const DEAD_PID: u32 = 4_194_305;

    #[test]
    fn leftovers_of_dead_processes_go_and_live_ones_stay() {
        let d = tempfile::tempdir().unwrap();
        let dead_file = d.path().join(format!(".airlock-pack-{DEAD_PID}-abc"));
        let dead_dir = d.path().join(format!(".airlock-pack-{DEAD_PID}-def"));
        let mine = d.path().join(format!("{}x", prefix("pack")));
        let live = d.path().join(".airlock-pack-1-ghi"); // init is always running
        let other_kind = d.path().join(format!(".airlock-volume-{DEAD_PID}-abc"));
        let unrelated = d.path().join(".airlock-pack-notapid-abc");
        fs::write(&dead_file, b"partial").unwrap();
        fs::create_dir_all(dead_dir.join("blobs")).unwrap();
        for p in [&mine, &live, &other_kind, &unrelated] {
            fs::write(p, b"x").unwrap();
        }
        let stage = d.path().join(format!("airlock-stage-{DEAD_PID}-ff"));
        fs::create_dir_all(stage.join("blobs")).unwrap();
        assert_eq!(sweep_named(d.path(), "airlock-stage-"), 1);
        assert!(!stage.exists());
        assert_eq!(sweep(d.path(), "pack"), 2);
        assert!(!dead_file.exists() && !dead_dir.exists());
        for p in [&mine, &live, &other_kind, &unrelated] {
            assert!(p.exists(), "{} was removed", p.display());
        }
    }

    #[test]
    fn a_link_named_like_a_leftover_is_removed_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("keep");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("f"), b"x").unwrap();
        let link = d.path().join(format!(".airlock-pack-{DEAD_PID}-lnk"));
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(sweep(d.path(), "pack"), 1);
        assert!(target.join("f").exists());
    }
}
