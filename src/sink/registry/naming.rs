//! `registry:HOST[/NAMESPACE]` and the names images get there.
//!
//! The rule: drop the packed reference's registry host, keep its path and
//! tag, and put the path under `HOST[/NAMESPACE]`:
//! `src.example/team/app:1` → `HOST/NAMESPACE/team/app:1`. `--tag` replaces
//! the packed reference before the same rule applies (`--tag app:2` →
//! `HOST/NAMESPACE/app:2`). The first path component is a host when it has
//! a `.` or `:` or is `localhost` and more components follow (docker's
//! rule), so `team/app` keeps both components. A reference with neither tag
//! nor digest gets `latest`; one with only a digest is pushed by digest and
//! gets no image tag.

use std::fmt;

use regex::Regex;

use crate::error::Error;

/// Where `registry:` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryTarget {
    /// `host[:port]`, as used with `--insecure-registry` and in credentials.
    pub host: String,
    /// Repository path prefix, e.g. `mirror/vendor`.
    pub namespace: Option<String>,
}

/// An image's place in the target registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetName {
    /// Repository path (without the host).
    pub repository: String,
    /// The image tag; None when the reference named only a digest.
    pub tag: Option<String>,
}

fn component_re() -> Result<Regex, Error> {
    Regex::new(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
        .map_err(|e| Error::Usage(format!("internal: {e}")))
}

fn tag_re() -> Result<Regex, Error> {
    Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
        .map_err(|e| Error::Usage(format!("internal: {e}")))
}

/// Whether `tag` is a valid tag for the distribution spec.
pub fn valid_tag(tag: &str) -> bool {
    tag_re().is_ok_and(|r| r.is_match(tag))
}

fn host_re() -> Result<Regex, Error> {
    // DNS name or IPv4, or a bracketed IPv6 literal; optional port.
    Regex::new(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")
        .map_err(|e| Error::Usage(format!("internal: {e}")))
}

/// Longest repository path the distribution spec allows (with the host).
const MAX_NAME: usize = 255;

impl RegistryTarget {
    /// Parse what follows `registry:`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::Usage(format!("--into registry:{s}: {why}"));
        let (host, ns) = match s.split_once('/') {
            Some((h, n)) => (h, Some(n.trim_end_matches('/'))),
            None => (s, None),
        };
        if host.is_empty() {
            return Err(bad("expected registry:HOST[:PORT][/NAMESPACE]"));
        }
        if !host_re()?.is_match(host) {
            return Err(bad("not a host[:port]"));
        }
        let namespace = match ns {
            None | Some("") => None,
            Some(n) => {
                let re = component_re()?;
                if !n.split('/').all(|c| re.is_match(c)) {
                    return Err(bad(
                        "the namespace must be lowercase path components ([a-z0-9] with . _ - inside)",
                    ));
                }
                Some(n.to_string())
            }
        };
        Ok(RegistryTarget {
            host: host.to_string(),
            namespace,
        })
    }

    /// The name `reference` (packed, or `--tag`) gets in this registry.
    pub fn name_for(&self, reference: &str) -> Result<TargetName, Error> {
        let bad = |why: String| {
            Error::Usage(format!(
                "cannot name {reference:?} in registry:{self}: {why}; give the name with --tag"
            ))
        };
        let (name, digest) = match reference.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (reference, None),
        };
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (path, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
            None => (name, None),
        };
        let mut parts: Vec<&str> = path.split('/').collect();
        if parts.len() > 1 {
            let first = parts[0];
            if first.contains('.') || first.contains(':') || first == "localhost" {
                parts.remove(0);
            }
        }
        let re = component_re()?;
        if parts.is_empty() || !parts.iter().all(|c| re.is_match(c)) {
            return Err(bad(format!(
                "{path:?} is not a repository path (lowercase components)"
            )));
        }
        let mut repository = parts.join("/");
        if let Some(ns) = &self.namespace {
            repository = format!("{ns}/{repository}");
        }
        if self.host.len() + 1 + repository.len() > MAX_NAME {
            return Err(bad(format!("{repository} is too long")));
        }
        let tag = match (tag, digest) {
            (Some(t), _) => {
                if !valid_tag(t) {
                    return Err(bad(format!("{t:?} is not a valid tag")));
                }
                Some(t.to_string())
            }
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        };
        Ok(TargetName { repository, tag })
    }

    /// `HOST/REPOSITORY[:TAG]` for reports.
    pub fn display_name(&self, n: &TargetName) -> String {
        match &n.tag {
            Some(t) => format!("{}/{}:{t}", self.host, n.repository),
            None => format!("{}/{}", self.host, n.repository),
        }
    }
}

impl fmt::Display for RegistryTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{ns}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> RegistryTarget {
        RegistryTarget::parse(s).unwrap()
    }

    fn name(target: &str, r: &str) -> (String, Option<String>) {
        let n = t(target).name_for(r).unwrap();
        (n.repository, n.tag)
    }

    #[test]
    fn targets_parse() {
        assert_eq!(t("reg.local:5000").namespace, None);
        assert_eq!(t("reg.local:5000/").namespace, None);
        let x = t("reg.local/mirror/vendor");
        assert_eq!(
            (x.host.as_str(), x.namespace.as_deref()),
            ("reg.local", Some("mirror/vendor"))
        );
        assert_eq!(t("[::1]:5000").host, "[::1]:5000");
        for bad in ["", "/ns", "reg/Upper", "reg//x", "ho st", "reg:port"] {
            assert!(RegistryTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_drop_the_source_host_and_keep_the_path() {
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            name("r:5000", "src.example/team/app:1"),
            ("team/app".into(), some("1"))
        );
        assert_eq!(
            name("r:5000/ns", "src.example/team/app:1"),
            ("ns/team/app".into(), some("1"))
        );
        assert_eq!(
            name("r", "localhost:5000/app"),
            ("app".into(), some("latest"))
        );
        assert_eq!(name("r", "localhost/app:2"), ("app".into(), some("2")));
        assert_eq!(name("r", "team/app"), ("team/app".into(), some("latest")));
        assert_eq!(name("r", "app:1.0"), ("app".into(), some("1.0")));
        assert_eq!(
            name(
                "r",
                "docker.io/library/busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000"
            ),
            ("library/busybox".into(), None)
        );
        assert_eq!(
            name("r", "h.example:443/a/b:c@sha256:00"),
            ("a/b".into(), some("c"))
        );
    }

    #[test]
    fn unusable_names_are_refused() {
        let r = t("r");
        for bad in [
            "src.example/Team/app:1",
            "app:bad tag",
            "src.example/",
            ":1",
        ] {
            assert!(r.name_for(bad).is_err(), "{bad}");
        }
        let long = format!("a/{}", "b".repeat(260));
        assert!(r.name_for(&long).is_err());
    }
}
