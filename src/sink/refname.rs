//! The name `--tag` gives an image, checked against the grammar of the
//! target before anything is read or touched: a name the target would
//! refuse at load time would otherwise fail after the archive was verified
//! and staged, and (podman) after the staged image was already named.
//!
//! - docker, podman (and `auto`, which is one of them): the distribution
//!   reference grammar (`[host[:port]/]path[:tag]`, lowercase path
//!   components). Neither tool can create a name with a digest
//!   (`docker tag` refuses it, `podman tag` says "tag by digest not
//!   supported"), so a digest is refused too.
//! - `dir:`: the OCI `org.opencontainers.image.ref.name` grammar, which
//!   skopeo's `oci:PATH:REF` checks.
//! - `registry:`: the repository path and tag the registry will get
//!   ([`RegistryTarget::name_for`]), and a well-formed digest if one is given.

use regex::Regex;

use super::registry::naming::{valid_tag, RegistryTarget};
use super::Target;
use crate::error::Error;

/// Longest image name (host and path) the distribution grammar allows.
const MAX_NAME: usize = 255;

fn re(pattern: &str) -> Result<Regex, Error> {
    Regex::new(pattern).map_err(|e| Error::Usage(format!("internal: {e}")))
}

fn bad(tag: &str, why: &str) -> Error {
    Error::Usage(format!("--tag {tag:?}: {why}"))
}

/// `algorithm:hex` as the distribution grammar has it.
fn valid_digest(d: &str) -> Result<bool, Error> {
    Ok(re(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")?.is_match(d))
}

/// Check `--tag` for `target`; Ok when there is none.
pub fn check_tag(target: &Target, tag: Option<&str>) -> Result<(), Error> {
    let Some(tag) = tag else {
        return Ok(());
    };
    match target {
        Target::Docker | Target::Podman | Target::Auto => runtime_name(tag),
        Target::Dir(_) => oci_ref_name(tag),
        // Files are written by their titles; the artifact's name is not kept.
        Target::Files(_) => Err(bad(
            tag,
            "files: writes files by their titles and names nothing",
        )),
        Target::Registry(r) => registry_name(r, tag),
    }
}

/// docker/podman: `[host[:port]/]component(/component)*[:tag]`.
fn runtime_name(tag: &str) -> Result<(), Error> {
    if tag.contains('@') {
        return Err(bad(
            tag,
            "docker and podman cannot name an image by digest; give name:tag",
        ));
    }
    let last_slash = tag.rfind('/').map_or(0, |i| i + 1);
    let (name, t) = match tag[last_slash..].rfind(':') {
        Some(i) => (&tag[..last_slash + i], Some(&tag[last_slash + i + 1..])),
        None => (tag, None),
    };
    if let Some(t) = t {
        if !valid_tag(t) {
            return Err(bad(
                tag,
                "the tag after ':' must be [A-Za-z0-9_] then up to 127 of [A-Za-z0-9_.-]",
            ));
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let host = re(
        r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$",
    )?;
    if parts.len() > 1 {
        let first = parts[0];
        let is_host = first.contains('.') || first.contains(':') || first == "localhost";
        if is_host {
            if !host.is_match(first) {
                return Err(bad(tag, &format!("{first:?} is not a host[:port]")));
            }
            parts.remove(0);
        }
    }
    let component = re(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")?;
    if let Some(c) = parts.iter().find(|c| !component.is_match(c)) {
        return Err(bad(
            tag,
            &format!(
                "{c:?} is not a repository path component (lowercase [a-z0-9] with . _ - inside)"
            ),
        ));
    }
    if name.len() > MAX_NAME {
        return Err(bad(tag, "the name is longer than 255 characters"));
    }
    Ok(())
}

/// OCI image-spec `ref.name`: `component ("/" component)*`, a component
/// being alphanumerics joined by one of `- . _ : @ +` or `--`.
fn oci_ref_name(tag: &str) -> Result<(), Error> {
    let component = re(r"^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*$")?;
    if tag.split('/').all(|c| component.is_match(c)) {
        Ok(())
    } else {
        Err(bad(
            tag,
            "not an OCI ref.name (components of [A-Za-z0-9] joined by - . _ : @ + or --, separated by /)",
        ))
    }
}

/// registry: the name it will get there, and the digest's form.
fn registry_name(r: &RegistryTarget, tag: &str) -> Result<(), Error> {
    if let Some((_, d)) = tag.split_once('@') {
        if !valid_digest(d)? {
            return Err(bad(tag, &format!("{d:?} is not a digest (algorithm:hex)")));
        }
    }
    r.name_for(tag).map(|_| ()).map_err(|e| match e {
        // name_for's advice ("give the name with --tag") is for packed names.
        Error::Usage(m) => bad(tag, m.trim_end_matches("; give the name with --tag")),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn ok(t: &Target, tag: &str) -> bool {
        check_tag(t, Some(tag)).is_ok()
    }

    #[test]
    fn no_tag_is_fine_everywhere() {
        assert!(check_tag(&Target::Podman, None).is_ok());
    }

    #[test]
    fn runtime_names() {
        for t in [Target::Podman, Target::Docker, Target::Auto] {
            for good in [
                "alpha",
                "alpha:1",
                "localhost/other/name:2",
                "reg.example:5000/a/b-c_d.e:v1.2-rc_3",
                "Reg.Example/app:Latest",
            ] {
                assert!(ok(&t, good), "{good}");
            }
            for bad in [
                "Bad Tag",
                "Alpha",
                "team/App:1",
                "app:",
                "app:-x",
                "app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "a//b",
                "/a",
                "a/",
                "bad_host.:5000/a",
                "",
            ] {
                let e = check_tag(&t, Some(bad));
                assert!(matches!(e, Err(Error::Usage(_))), "{bad}: {e:?}");
            }
            assert!(!ok(&t, &format!("a/{}", "b".repeat(260))));
        }
    }

    #[test]
    fn dir_names_follow_the_oci_ref_name_grammar() {
        let t = Target::Dir(PathBuf::from("/x"));
        for good in ["alpha", "localhost/app:1.0", "v1.2+b--3", "A/B@c"] {
            assert!(ok(&t, good), "{good}");
        }
        for bad in ["Bad Tag", "a//b", "-a", "a:", "a/", "", "a_-b"] {
            assert!(!ok(&t, bad), "{bad}");
        }
    }

    #[test]
    fn registry_names() {
        let t = Target::Registry(
            RegistryTarget::parse("reg.local:5000/ns").unwrap_or_else(|e| panic!("{e}")),
        );
        for good in [
            "ops/app:7",
            "app",
            "src.example/team/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert!(ok(&t, good), "{good}");
        }
        for bad in [
            "Bad Tag",
            "Ops/app:1",
            "app:bad tag",
            "app@sha256:zz",
            "app@nope",
        ] {
            assert!(!ok(&t, bad), "{bad}");
        }
    }
}
