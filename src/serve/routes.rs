//! The OCI Distribution API paths `serve` knows, parsed from a request
//! path. Pure: no index, no I/O.

/// One API endpoint and its path parameters (still unchecked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`: the API version check.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/tags/list`.
    Tags { name: String },
    /// `/v2/<name>/manifests/<tag or digest>`.
    Manifest { name: String, reference: String },
    /// `/v2/<name>/blobs/<digest>`.
    Blob { name: String, digest: String },
    /// `/v2/<name>/referrers/<digest>`.
    Referrers { name: String, digest: String },
    /// `/v2/<name>/blobs/uploads/…`: the push side.
    Upload,
    /// Anything else.
    Unknown,
}

/// Longest path accepted (the distribution spec bounds a name to 255
/// characters; a digest or tag adds at most ~140).
pub const MAX_PATH: usize = 2048;

/// `%3A` is how some clients spell the `:` of a digest.
fn decode(s: &str) -> String {
    s.replace("%3A", ":").replace("%3a", ":")
}

/// Split `rest` at the last `/<marker>/`: (name, what follows).
fn split_at<'a>(rest: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let i = rest.rfind(marker)?;
    let name = &rest[..i];
    let tail = &rest[i + marker.len()..];
    (!name.is_empty() && !tail.is_empty() && !tail.contains('/')).then_some((name, tail))
}

pub fn parse(path: &str) -> Route {
    if path.len() > MAX_PATH {
        return Route::Unknown;
    }
    let Some(rest) = path.strip_prefix("/v2") else {
        return Route::Unknown;
    };
    if rest.is_empty() || rest == "/" {
        return Route::Base;
    }
    let Some(rest) = rest.strip_prefix('/') else {
        return Route::Unknown;
    };
    if rest == "_catalog" {
        return Route::Catalog;
    }
    if rest.contains("/blobs/uploads") {
        return Route::Upload;
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        if !name.is_empty() {
            return Route::Tags { name: name.into() };
        }
    }
    if let Some((name, reference)) = split_at(rest, "/manifests/") {
        return Route::Manifest {
            name: name.into(),
            reference: decode(reference),
        };
    }
    if let Some((name, digest)) = split_at(rest, "/blobs/") {
        return Route::Blob {
            name: name.into(),
            digest: decode(digest),
        };
    }
    if let Some((name, digest)) = split_at(rest, "/referrers/") {
        return Route::Referrers {
            name: name.into(),
            digest: decode(digest),
        };
    }
    Route::Unknown
}

/// The value of `key` in a query string (no percent-decoding beyond `:`;
/// the parameters serve uses are tags, names, numbers and media types).
pub fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then(|| {
            decode(
                &v.replace("%2F", "/")
                    .replace("%2f", "/")
                    .replace("%2B", "+"),
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_parse_with_names_that_hold_slashes() {
        assert_eq!(parse("/v2/"), Route::Base);
        assert_eq!(parse("/v2"), Route::Base);
        assert_eq!(parse("/v2/_catalog"), Route::Catalog);
        assert_eq!(
            parse("/v2/team/app/tags/list"),
            Route::Tags {
                name: "team/app".into()
            }
        );
        assert_eq!(
            parse("/v2/a/b/manifests/1.0"),
            Route::Manifest {
                name: "a/b".into(),
                reference: "1.0".into()
            }
        );
        assert_eq!(
            parse("/v2/a/blobs/sha256%3Aab"),
            Route::Blob {
                name: "a".into(),
                digest: "sha256:ab".into()
            }
        );
        assert_eq!(
            parse("/v2/a/referrers/sha256:ab"),
            Route::Referrers {
                name: "a".into(),
                digest: "sha256:ab".into()
            }
        );
        // A repository may itself be called "manifests".
        assert_eq!(
            parse("/v2/manifests/manifests/x"),
            Route::Manifest {
                name: "manifests".into(),
                reference: "x".into()
            }
        );
    }

    #[test]
    fn push_paths_and_strangers_are_told_apart() {
        assert_eq!(parse("/v2/a/blobs/uploads/"), Route::Upload);
        assert_eq!(parse("/v2/a/blobs/uploads/123"), Route::Upload);
        assert_eq!(parse("/v3/"), Route::Unknown);
        assert_eq!(parse("/v2/a/manifests/"), Route::Unknown);
        assert_eq!(parse("/v2/a"), Route::Unknown);
        assert_eq!(
            parse(&format!("/v2/{}", "a/".repeat(MAX_PATH))),
            Route::Unknown
        );
    }

    #[test]
    fn query_parameters_are_found_by_name() {
        assert_eq!(query_param(Some("n=2&last=b"), "last"), Some("b".into()));
        assert_eq!(query_param(Some("n=2"), "last"), None);
        assert_eq!(
            query_param(
                Some("artifactType=application%2Fvnd.x%2Bjson"),
                "artifactType"
            ),
            Some("application/vnd.x+json".into())
        );
        assert_eq!(query_param(None, "n"), None);
    }
}
