//! One request in, one response out: the pull side of the OCI Distribution
//! API over an [`Index`], errors as the spec's JSON body. Blobs stream from
//! the served tar by positional reads on the blocking pool, a small chunk
//! at a time (memory per download is bounded, whatever the blob's size).

use std::io;
use std::os::unix::fs::FileExt as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt as _, Empty, Full, StreamBody};
use hyper::body::Frame;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::index::{BlobAt, Index, Repo};
use super::routes::{self, query_param, Route};
use super::Served;
use crate::model::{media, Digest};

pub type Body = UnsyncBoxBody<Bytes, io::Error>;

/// Bytes per read from the archive while streaming a blob.
const CHUNK: usize = 128 * 1024;
/// Chunks queued per download ahead of the client.
const QUEUED_CHUNKS: usize = 2;
/// A download whose client takes no chunk for this long is dropped (its
/// connection closed), so a stalled reader cannot hold a slot for ever.
const STALLED: std::time::Duration = std::time::Duration::from_secs(60);
/// Default and largest page of `tags/list` and `_catalog`.
const MAX_PAGE: usize = 10_000;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|e| match e {})
        .boxed_unsync()
}

fn empty() -> Body {
    Empty::new().map_err(|e| match e {}).boxed_unsync()
}

fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// An OCI error response: `{"errors":[{"code","message"}]}`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = json!({"errors": [{"code": code, "message": message, "detail": null}]});
    let mut r = Response::new(full(body.to_string()));
    *r.status_mut() = status;
    set(r.headers_mut(), "content-type", "application/json");
    r
}

fn json_response(value: serde_json::Value, media_type: &str, head: bool) -> Response<Body> {
    let bytes = Bytes::from(value.to_string());
    let len = bytes.len();
    let mut r = Response::new(if head { empty() } else { full(bytes) });
    set(r.headers_mut(), "content-type", media_type);
    set(r.headers_mut(), "content-length", &len.to_string());
    r
}

/// Answer one request. Every response carries the API version header.
pub fn respond(
    method: &Method,
    uri: &http::Uri,
    headers: &HeaderMap,
    st: &Arc<Served>,
) -> Response<Body> {
    let mut r = route(method, uri, headers, st);
    set(
        r.headers_mut(),
        "docker-distribution-api-version",
        "registry/2.0",
    );
    r
}

fn route(
    method: &Method,
    uri: &http::Uri,
    headers: &HeaderMap,
    st: &Arc<Served>,
) -> Response<Body> {
    let head = *method == Method::HEAD;
    if *method != Method::GET && !head {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "this registry is read-only (airlock serve): push and delete are not supported",
        );
        set(r.headers_mut(), "allow", "GET, HEAD");
        return r;
    }
    if uri.path().len() > routes::MAX_PATH {
        return error(
            StatusCode::URI_TOO_LONG,
            "NAME_INVALID",
            "request path too long",
        );
    }
    if let Err(why) = st.check_unchanged() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", &why);
    }
    let ix = &st.index;
    let query = uri.query();
    match routes::parse(uri.path()) {
        Route::Base => json_response(json!({}), "application/json", head),
        Route::Catalog => catalog(ix, query, head),
        Route::Upload => {
            let mut r = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "UNSUPPORTED",
                "this registry is read-only (airlock serve): uploads are not supported",
            );
            set(r.headers_mut(), "allow", "GET, HEAD");
            r
        }
        Route::Unknown => error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint"),
        Route::Tags { name } => with_repo(ix, &name, |repo| tags(&name, repo, query, head)),
        Route::Manifest { name, reference } => {
            with_repo(ix, &name, |repo| manifest(ix, repo, &reference, head))
        }
        Route::Blob { name, digest } => {
            with_repo(ix, &name, |repo| blob(st, repo, &digest, headers, head))
        }
        Route::Referrers { name, digest } => {
            with_repo(ix, &name, |repo| referrers(repo, &digest, query, head))
        }
    }
}

fn with_repo(ix: &Index, name: &str, f: impl FnOnce(&Repo) -> Response<Body>) -> Response<Body> {
    match ix.repos.get(name) {
        Some(repo) => f(repo),
        None => error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            &format!("repository {name:?} is not in this archive"),
        ),
    }
}

/// `n` is not a number.
struct BadPage;

fn bad_page() -> Response<Body> {
    error(
        StatusCode::BAD_REQUEST,
        "PAGINATION_NUMBER_INVALID",
        "n must be a number",
    )
}

/// `n` and `last` paging over a sorted list; the `Link` to the next page.
fn page(
    all: Vec<String>,
    query: Option<&str>,
    path: &str,
) -> Result<(Vec<String>, Option<String>), BadPage> {
    let n = match query_param(query, "n") {
        None => MAX_PAGE,
        Some(v) => v.parse::<usize>().map_err(|_| BadPage)?.min(MAX_PAGE),
    };
    let last = query_param(query, "last");
    let rest: Vec<String> = all
        .into_iter()
        .filter(|t| last.as_ref().is_none_or(|l| t.as_str() > l.as_str()))
        .collect();
    let more = rest.len() > n;
    let items: Vec<String> = rest.into_iter().take(n).collect();
    let link = match (more, items.last()) {
        (true, Some(l)) => Some(format!("<{path}?n={n}&last={l}>; rel=\"next\"")),
        _ => None,
    };
    Ok((items, link))
}

fn with_link(mut r: Response<Body>, link: Option<String>) -> Response<Body> {
    if let Some(l) = link {
        set(r.headers_mut(), "link", &l);
    }
    r
}

fn catalog(ix: &Index, query: Option<&str>, head: bool) -> Response<Body> {
    let names = ix.repos.keys().cloned().collect();
    match page(names, query, "/v2/_catalog") {
        Ok((items, link)) => with_link(
            json_response(json!({ "repositories": items }), "application/json", head),
            link,
        ),
        Err(BadPage) => bad_page(),
    }
}

fn tags(name: &str, repo: &Repo, query: Option<&str>, head: bool) -> Response<Body> {
    let all = repo.tags.keys().cloned().collect();
    match page(all, query, &format!("/v2/{name}/tags/list")) {
        Ok((items, link)) => with_link(
            json_response(
                json!({"name": name, "tags": items}),
                "application/json",
                head,
            ),
            link,
        ),
        Err(BadPage) => bad_page(),
    }
}

fn manifest(ix: &Index, repo: &Repo, reference: &str, head: bool) -> Response<Body> {
    let digest = if reference.contains(':') {
        reference.parse::<Digest>().ok()
    } else {
        repo.tags.get(reference).copied()
    };
    let found = digest
        .filter(|d| repo.manifests.contains(d))
        .and_then(|d| ix.manifests.get(&d).map(|doc| (d, doc)));
    let Some((digest, doc)) = found else {
        return error(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            &format!("manifest {reference:?} is not in this repository"),
        );
    };
    let len = doc.bytes.len();
    let mut r = Response::new(if head {
        empty()
    } else {
        full(doc.bytes.clone())
    });
    let h = r.headers_mut();
    set(h, "content-type", &doc.media_type);
    set(h, "content-length", &len.to_string());
    set(h, "docker-content-digest", &digest.to_string());
    set(h, "etag", &format!("\"{digest}\""));
    r
}

/// A single `bytes=` range of a `size`-byte blob: (start, length).
/// `Err(())` when it is malformed or outside the blob.
#[allow(clippy::result_unit_err)]
pub fn parse_range(value: &str, size: u64) -> Result<(u64, u64), ()> {
    let spec = value.trim().strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') {
        return Err(());
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        // The last `b` bytes.
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 || size == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            size.checked_sub(1).ok_or(())?
        } else {
            b.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1))
        };
        (start, end)
    };
    if start >= size || end < start {
        return Err(());
    }
    Ok((start, end - start + 1))
}

fn blob(
    st: &Arc<Served>,
    repo: &Repo,
    digest: &str,
    headers: &HeaderMap,
    head: bool,
) -> Response<Body> {
    let Ok(d) = digest.parse::<Digest>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            &format!("{digest:?} is not a sha256 digest"),
        );
    };
    // Manifests are content too: a client may fetch them as blobs.
    if repo.manifests.contains(&d) {
        if let Some(doc) = st.index.manifests.get(&d) {
            let size = doc.bytes.len() as u64;
            return ranged(headers, d, size, head, |start, len| {
                let s = usize::try_from(start).unwrap_or(usize::MAX);
                let e = usize::try_from(start + len).unwrap_or(usize::MAX);
                full(
                    doc.bytes
                        .slice(s.min(doc.bytes.len())..e.min(doc.bytes.len())),
                )
            });
        }
    }
    let Some(at) = repo
        .blobs
        .contains(&d)
        .then(|| st.index.blobs.get(&d))
        .flatten()
    else {
        return error(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            &format!("blob {d} is not in this repository"),
        );
    };
    let at = *at;
    ranged(headers, d, at.size, head, |start, len| {
        blob_body(st.clone(), d, at, start, len)
    })
}

/// A blob response, whole or the requested range.
fn ranged(
    headers: &HeaderMap,
    digest: Digest,
    size: u64,
    head: bool,
    body: impl FnOnce(u64, u64) -> Body,
) -> Response<Body> {
    let range = headers.get(header::RANGE).map(|v| {
        v.to_str()
            .map_err(|_| ())
            .and_then(|v| parse_range(v, size))
    });
    let (status, start, len) = match range {
        None => (StatusCode::OK, 0, size),
        Some(Ok((start, len))) => (StatusCode::PARTIAL_CONTENT, start, len),
        Some(Err(())) => {
            let mut r = error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "RANGE_INVALID",
                &format!("the range is not one satisfiable bytes= range of this {size}-byte blob"),
            );
            set(r.headers_mut(), "content-range", &format!("bytes */{size}"));
            return r;
        }
    };
    let mut r = Response::new(if head || len == 0 {
        empty()
    } else {
        body(start, len)
    });
    *r.status_mut() = status;
    let h = r.headers_mut();
    set(h, "content-type", "application/octet-stream");
    set(h, "content-length", &len.to_string());
    set(h, "docker-content-digest", &digest.to_string());
    set(h, "etag", &format!("\"{digest}\""));
    set(h, "accept-ranges", "bytes");
    if status == StatusCode::PARTIAL_CONTENT {
        set(
            h,
            "content-range",
            &format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    r
}

/// Stream `len` bytes of a blob from `start`. A whole blob is hashed on the
/// way and its last chunk is only sent once the digest matched, so a file
/// changed in place (size and mtime kept) never completes a download: the
/// connection is cut instead and the server stops serving.
fn blob_body(st: Arc<Served>, digest: Digest, at: BlobAt, start: u64, len: u64) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, io::Error>>(QUEUED_CHUNKS);
    let rt = tokio::runtime::Handle::current();
    let send = move |item| rt.block_on(tx.send_timeout(item, STALLED)).is_ok();
    tokio::task::spawn_blocking(move || {
        let mut hasher = (start == 0 && len == at.size).then(Sha256::new);
        let mut pos = 0u64;
        while pos < len {
            let n = usize::try_from((len - pos).min(CHUNK as u64)).unwrap_or(CHUNK);
            let mut buf = vec![0u8; n];
            if let Err(e) = st.file.read_exact_at(&mut buf, at.offset + start + pos) {
                send(Err(e));
                return;
            }
            pos += n as u64;
            if let Some(h) = hasher.as_mut() {
                h.update(&buf);
            }
            if pos == len {
                if let Some(h) = hasher.take() {
                    if Digest::from_bytes(h.finalize().into()) != digest {
                        st.stale.store(true, Ordering::SeqCst);
                        send(Err(io::Error::other(format!(
                            "blob {digest} changed since it was verified"
                        ))));
                        return;
                    }
                }
            }
            if !send(Ok(Frame::data(Bytes::from(buf)))) {
                return; // the client went away or stalled
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    StreamBody::new(stream).boxed_unsync()
}

fn referrers(repo: &Repo, digest: &str, query: Option<&str>, head: bool) -> Response<Body> {
    let Ok(d) = digest.parse::<Digest>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            &format!("{digest:?} is not a sha256 digest"),
        );
    };
    let filter = query_param(query, "artifactType");
    let manifests: Vec<&serde_json::Value> = repo
        .referrers
        .get(&d)
        .map(|v| {
            v.iter()
                .filter(|desc| {
                    filter.as_deref().is_none_or(|f| {
                        desc.get("artifactType").and_then(|a| a.as_str()) == Some(f)
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let body = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": manifests,
    });
    let mut r = json_response(body, media::OCI_INDEX, head);
    if filter.is_some() {
        set(r.headers_mut(), "oci-filters-applied", "artifactType");
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_inside_the_blob_are_accepted() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100), Ok((90, 10)));
        assert_eq!(parse_range("bytes=-5", 100), Ok((95, 5)));
        assert_eq!(parse_range("bytes=-500", 100), Ok((0, 100)));
        // An end past the blob is cut to its last byte (RFC 9110).
        assert_eq!(parse_range("bytes=50-1000", 100), Ok((50, 50)));
    }

    #[test]
    fn bad_ranges_are_refused() {
        for bad in [
            "bytes=100-",
            "bytes=100-200",
            "bytes=9-3",
            "bytes=-0",
            "bytes=a-b",
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=",
            "bytes=5",
        ] {
            assert_eq!(parse_range(bad, 100), Err(()), "{bad}");
        }
        assert_eq!(parse_range("bytes=0-", 0), Err(()));
    }
}
