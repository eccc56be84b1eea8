//! The request router of `airlock serve`: the path of every request and
//! the query parameters it reads. Invariants: a recognised route is made of
//! non-empty parts without a `/` where the API has none, and writing it
//! back as a path parses to the same route (the router and the paths the
//! index answers agree).

use airlock::serve::routes::{parse, query_param, Route};

fn path_of(r: &Route) -> Option<String> {
    Some(match r {
        Route::Base => "/v2/".into(),
        Route::Catalog => "/v2/_catalog".into(),
        Route::Tags { name } => format!("/v2/{name}/tags/list"),
        Route::Manifest { name, reference } => format!("/v2/{name}/manifests/{reference}"),
        Route::Blob { name, digest } => format!("/v2/{name}/blobs/{digest}"),
        Route::Referrers { name, digest } => format!("/v2/{name}/referrers/{digest}"),
        Route::Upload | Route::Unknown => return None,
    })
}

pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (path, query) = match text.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (&*text, None),
    };
    let route = parse(path);
    match &route {
        Route::Manifest {
            name,
            reference: tail,
        }
        | Route::Blob { name, digest: tail }
        | Route::Referrers { name, digest: tail } => {
            assert!(!name.is_empty() && !tail.is_empty() && !tail.contains('/'));
        }
        Route::Tags { name } => assert!(!name.is_empty()),
        _ => {}
    }
    if let Some(again) = path_of(&route) {
        assert_eq!(parse(&again), route, "{again:?} routes elsewhere");
    }
    for key in ["n", "last", "artifactType", "digest", "mount", "from"] {
        if let Some(v) = query_param(query, key) {
            assert!(v.len() <= query.map_or(0, str::len));
        }
    }
}
