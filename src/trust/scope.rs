//! Which images a policy rule covers: globs over repository names
//! (`ghcr.io/freedomofpress/**`, `*/team/*`), and which of several matching
//! rules is the most specific.
//!
//! The grammar is deliberately two wildcards, matched segment by segment
//! (segments are split at `/`): `*` matches any run of characters within
//! one segment (`app-*`, `*`), `**` as a whole segment matches one or more
//! segments. A name is matched without its tag or digest. Everything else
//! (`?`, `[…]`, `{…}`, `**` inside a segment, empty segments, a tag) is a
//! malformed pattern, refused when the policy is loaded, so no pattern
//! means something its author did not expect.

use super::error::TrustError;

/// One glob of a rule's `images` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePattern {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: one or more whole segments.
    Any,
    /// Literal text with `*` wildcards; `parts` are the texts between them.
    Glob { parts: Vec<String>, stars: usize },
}

/// How specific a matching pattern is; the greater wins. Compared field by
/// field: a pattern without wildcards beats any with them; then more
/// segments without a wildcard; then fewer `**`; then more literal
/// characters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Specificity {
    exact: bool,
    literal_segments: usize,
    fewer_double_stars: std::cmp::Reverse<usize>,
    literal_chars: usize,
}

fn malformed(pattern: &str, why: &str) -> TrustError {
    TrustError::InvalidPolicy(format!("image pattern {pattern:?} is malformed: {why}"))
}

impl ImagePattern {
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        if text.is_empty() {
            return Err(malformed(text, "it is empty"));
        }
        if text.len() > 512 {
            return Err(malformed(text, "it is longer than 512 characters"));
        }
        if let Some(c) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._-/:*".contains(*c)))
        {
            let why = if "?[]{}!".contains(c) {
                format!("{c:?} is not a wildcard here; only * (within a segment) and ** (across segments) are")
            } else {
                format!("{c:?} cannot appear in an image name")
            };
            return Err(malformed(text, &why));
        }
        let raw: Vec<&str> = text.split('/').collect();
        let mut segments = Vec::with_capacity(raw.len());
        for (i, seg) in raw.iter().enumerate() {
            if seg.is_empty() {
                return Err(malformed(
                    text,
                    "it has an empty segment (a leading, trailing or double /)",
                ));
            }
            // A port belongs to the first segment of a longer name; a colon
            // anywhere else would be a tag, and tags are not matched.
            if seg.contains(':') && (i != 0 || raw.len() == 1) {
                return Err(malformed(
                    text,
                    "patterns match repository names, without a tag or digest",
                ));
            }
            if *seg == "**" {
                segments.push(Segment::Any);
            } else if seg.contains("**") {
                return Err(malformed(
                    text,
                    "** must be a whole segment (a/**/b, not a**)",
                ));
            } else {
                let parts: Vec<String> = seg.split('*').map(str::to_string).collect();
                segments.push(Segment::Glob {
                    stars: parts.len() - 1,
                    parts,
                });
            }
        }
        Ok(ImagePattern {
            text: text.to_string(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `reference` (tag and digest ignored) matches.
    pub fn matches(&self, reference: &str) -> bool {
        let name = repository_name(reference);
        let names: Vec<&str> = name.split('/').collect();
        match_segments(&self.segments, &names)
    }

    pub fn specificity(&self) -> Specificity {
        let mut s = Specificity {
            exact: true,
            literal_segments: 0,
            fewer_double_stars: std::cmp::Reverse(0),
            literal_chars: 0,
        };
        for seg in &self.segments {
            match seg {
                Segment::Any => {
                    s.exact = false;
                    s.fewer_double_stars.0 += 1;
                }
                Segment::Glob { parts, stars } => {
                    if *stars == 0 {
                        s.literal_segments += 1;
                    } else {
                        s.exact = false;
                    }
                    s.literal_chars += parts.iter().map(String::len).sum::<usize>();
                }
            }
        }
        s
    }
}

/// The repository part of a reference: no `@digest`, no `:tag` (a colon
/// before the last `/` is a registry port and stays).
pub fn repository_name(reference: &str) -> &str {
    let name = reference.split('@').next().unwrap_or(reference);
    match name.rfind(['/', ':']) {
        Some(i) if name.as_bytes().get(i) == Some(&b':') => name.get(..i).unwrap_or(name),
        _ => name,
    }
}

fn match_segments(pattern: &[Segment], names: &[&str]) -> bool {
    match (pattern.split_first(), names.split_first()) {
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some((Segment::Any, rest)), Some(_)) => {
            // One or more segments: try every split, shortest first.
            (1..=names.len()).any(|n| match_segments(rest, names.get(n..).unwrap_or(&[])))
        }
        (Some((Segment::Glob { parts, .. }, rest)), Some((name, more))) => {
            match_one(parts, name) && match_segments(rest, more)
        }
    }
}

/// Literal parts separated by `*` against one segment.
fn match_one(parts: &[String], seg: &str) -> bool {
    let [first, middle @ .., last] = parts else {
        return parts.first().is_some_and(|p| p == seg);
    };
    if seg.len() < first.len() + last.len()
        || !seg.starts_with(first.as_str())
        || !seg.ends_with(last.as_str())
    {
        return false;
    }
    let mut rest = seg.get(first.len()..seg.len() - last.len()).unwrap_or("");
    for p in middle {
        match rest.find(p.as_str()) {
            Some(i) => rest = rest.get(i + p.len()..).unwrap_or(""),
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, r: &str) -> bool {
        ImagePattern::parse(p).unwrap().matches(r)
    }

    #[test]
    fn single_star_stays_in_its_segment() {
        assert!(m("*/team/*", "registry.example.org/team/app:1.0"));
        assert!(!m("*/team/*", "registry.example.org/team/sub/app"));
        assert!(m("ghcr.io/org/app-*", "ghcr.io/org/app-web@sha256:00"));
        assert!(!m("ghcr.io/org/app-*", "ghcr.io/org/web"));
        assert!(m("ghcr.io/*/*", "ghcr.io/org/app"));
        assert!(m("a/x*y*z", "a/xAyBz"));
        assert!(!m("a/x*y*z", "a/xz"));
    }

    #[test]
    fn double_star_spans_segments() {
        assert!(m(
            "ghcr.io/freedomofpress/**",
            "ghcr.io/freedomofpress/dangerzone/dangerzone:1"
        ));
        assert!(m("ghcr.io/freedomofpress/**", "ghcr.io/freedomofpress/x"));
        assert!(!m("ghcr.io/freedomofpress/**", "ghcr.io/freedomofpress"));
        assert!(!m("ghcr.io/freedomofpress/**", "ghcr.io/other/x"));
        assert!(m("**", "localhost:5000/a/b:1"));
        assert!(m("**/app", "docker.io/library/app:latest"));
        assert!(m("localhost:5000/**", "localhost:5000/a:1"));
    }

    #[test]
    fn names_lose_tag_and_digest_but_keep_ports() {
        assert_eq!(
            repository_name("host:5000/a/b:1@sha256:00"),
            "host:5000/a/b"
        );
        assert_eq!(repository_name("host:5000/a"), "host:5000/a");
        assert_eq!(repository_name("app:1"), "app");
        assert_eq!(repository_name("layout@sha256:00"), "layout");
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in [
            "", "a//b", "/a", "a/", "a/b**", "a/[bc]", "a/{b,c}", "a/b?", "a/b:1", "a b",
        ] {
            assert!(ImagePattern::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ImagePattern::parse("host:5000/**").is_ok());
    }

    #[test]
    fn more_specific_patterns_rank_higher() {
        let s = |p: &str| ImagePattern::parse(p).unwrap().specificity();
        assert!(s("ghcr.io/org/app") > s("ghcr.io/org/*"));
        assert!(s("ghcr.io/org/*") > s("ghcr.io/org/**"));
        assert!(s("ghcr.io/org/**") > s("ghcr.io/**"));
        assert!(s("ghcr.io/**") > s("**"));
        assert!(s("ghcr.io/org/app-*") > s("ghcr.io/org/*"));
    }
}
