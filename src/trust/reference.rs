//! The `docker-reference` rule.
//!
//! A signature names a repository; the operator names the image it expects.
//! Both are reduced to a canonical repository name and compared exactly:
//!
//! 1. a digest (`@sha256:…`) and a tag (`:tag` after the last `/`) are dropped
//!    (the digest is checked separately against `docker-manifest-digest`);
//! 2. if the first path component contains `.` or `:`, or is `localhost`, it
//!    is the registry host (lower-cased; `index.docker.io` and
//!    `registry-1.docker.io` mean `docker.io`); otherwise the registry is
//!    `docker.io`;
//! 3. on `docker.io`, a one-component path gets the `library/` prefix;
//! 4. the path must be lower-case `[a-z0-9._-]` components separated by `/`.
//!
//! So `alpine`, `docker.io/alpine:3` and `index.docker.io/library/alpine`
//! all name `docker.io/library/alpine`, while `ghcr.io/a/b` and `ghcr.io/a/c`
//! differ, and so do `ghcr.io/a/b` and `docker.io/a/b`.

use super::error::TrustError;

/// Reduce an image reference to `registry/path` (see the module doc).
pub fn normalize_repository(reference: &str) -> Result<String, TrustError> {
    let invalid = |why: &str| TrustError::InvalidReference {
        reference: reference.chars().take(256).collect(),
        reason: why.to_string(),
    };
    if reference.is_empty() || reference.len() > 4096 {
        return Err(invalid("empty or longer than 4096 bytes"));
    }
    let without_digest = reference.split('@').next().unwrap_or_default();
    let without_tag = match without_digest.rfind(':') {
        Some(colon) if !without_digest[colon..].contains('/') => &without_digest[..colon],
        _ => without_digest,
    };
    let (registry, path) = match without_tag.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_ascii_lowercase(), rest.to_string())
        }
        _ => ("docker.io".to_string(), without_tag.to_string()),
    };
    let registry = match registry.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        _ => registry,
    };
    if registry.is_empty() {
        return Err(invalid("empty registry"));
    }
    if path.is_empty()
        || path.split('/').any(|c| {
            c.is_empty()
                || !c
                    .bytes()
                    .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
        })
    {
        return Err(invalid(
            "repository path must be lower-case [a-z0-9._-] components",
        ));
    }
    let path = if registry == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    Ok(format!("{registry}/{path}"))
}

/// Whether `expected` (the operator's image name) and `signed` (the payload's
/// `docker-reference`) name the same repository. An unparsable `expected` is
/// an error; an unparsable `signed` simply does not match.
pub fn same_repository(expected: &str, signed: &str) -> Result<bool, TrustError> {
    let expected = normalize_repository(expected)?;
    Ok(normalize_repository(signed).is_ok_and(|s| s == expected))
}
