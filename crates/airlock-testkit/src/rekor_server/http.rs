//! The `/api/v1` routes of Rekor on tiny_http, answered one at a time from
//! the shared [`Log`].

use std::io::Read as _;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tiny_http::{Header, Method, Request, Response};

use super::log::{Log, LogError, MAX_ENTRY_BYTES};

type Reply = (u16, Vec<(&'static str, String)>, Vec<u8>);

fn json_reply(status: u16, v: &Value) -> Reply {
    (
        status,
        vec![("Content-Type", "application/json".into())],
        format!("{v}\n").into_bytes(),
    )
}

fn error_reply(e: &LogError) -> Reply {
    json_reply(e.status, &json!({ "code": e.status, "message": e.message }))
}

/// Answer one request (never panics on input).
pub fn handle(log: &Arc<Mutex<Log>>, mut req: Request) {
    let reply = match read_body(&mut req) {
        Ok(body) => route(log, req.method(), req.url(), &body),
        Err(e) => error_reply(&e),
    };
    let (status, headers, body) = reply;
    let mut resp = Response::from_data(body).with_status_code(status);
    for (k, v) in headers {
        if let Ok(h) = Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            resp.add_header(h);
        }
    }
    // A client that went away is not the log's problem.
    let _ = req.respond(resp);
}

fn read_body(req: &mut Request) -> Result<Vec<u8>, LogError> {
    let mut body = Vec::new();
    req.as_reader()
        .take(MAX_ENTRY_BYTES as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| LogError {
            status: 400,
            message: format!("reading request: {e}"),
        })?;
    if body.len() > MAX_ENTRY_BYTES {
        return Err(LogError {
            status: 413,
            message: "request too large".into(),
        });
    }
    Ok(body)
}

/// `name=value` pairs of a query string (values here are integers).
fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn int_param(query: &str, name: &str) -> Result<Option<usize>, LogError> {
    query_param(query, name)
        .map(|v| {
            v.parse::<usize>().map_err(|_| LogError {
                status: 400,
                message: format!("{name} must be a non-negative integer"),
            })
        })
        .transpose()
}

fn route(log: &Arc<Mutex<Log>>, method: &Method, url: &str, body: &[u8]) -> Reply {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let Ok(mut log) = log.lock() else {
        return error_reply(&LogError {
            status: 500,
            message: "log state poisoned".into(),
        });
    };
    let result = match (method, path) {
        (Method::Get, "/api/v1/log") => Ok(json_reply(200, &log.info())),
        (Method::Get, "/api/v1/log/publicKey") => Ok((
            200,
            vec![("Content-Type", "application/x-pem-file".into())],
            log.public_key_pem().into_bytes(),
        )),
        (Method::Get, "/api/v1/log/proof") => (|| {
            let last = int_param(query, "lastSize")?.ok_or(LogError {
                status: 400,
                message: "lastSize is required".into(),
            })?;
            let first = int_param(query, "firstSize")?.unwrap_or(1);
            Ok(json_reply(200, &log.consistency(first, last)?))
        })(),
        (Method::Get, "/api/v1/log/entries") => (|| {
            let index = int_param(query, "logIndex")?.ok_or(LogError {
                status: 400,
                message: "logIndex is required".into(),
            })?;
            Ok(json_reply(200, &log.entry(index)?))
        })(),
        (Method::Get, p) if p.starts_with("/api/v1/log/entries/") => {
            let uuid = &p["/api/v1/log/entries/".len()..];
            match log.find_uuid(uuid) {
                Some(i) => log.entry(i).map(|v| json_reply(200, &v)),
                None => Err(LogError {
                    status: 404,
                    message: format!("no entry with UUID {uuid}"),
                }),
            }
        }
        (Method::Post, "/api/v1/log/entries") => create(&mut log, body),
        (Method::Post, "/api/v1/log/entries/retrieve") => retrieve(&log, body),
        (Method::Post, "/api/v1/index/retrieve") => search_index(&log, body),
        _ => Err(LogError {
            status: 404,
            message: format!("no route {method} {path}"),
        }),
    };
    result.unwrap_or_else(|e| error_reply(&e))
}

fn create(log: &mut Log, body: &[u8]) -> Result<Reply, LogError> {
    match log.add(body) {
        Ok(i) => {
            let uuid = log.uuid(i).unwrap_or_default();
            let (status, mut headers, body) = json_reply(201, &log.entry(i)?);
            headers.push(("Location", format!("/api/v1/log/entries/{uuid}")));
            headers.push(("ETag", uuid));
            Ok((status, headers, body))
        }
        Err(e) if e.status == 409 => {
            let (status, mut headers, body) = error_reply(&e);
            if let Some(uuid) = e.message.rsplit(' ').next() {
                headers.push(("Location", format!("/api/v1/log/entries/{uuid}")));
            }
            Ok((status, headers, body))
        }
        Err(e) => Err(e),
    }
}

/// `POST /api/v1/log/entries/retrieve`: `{entryUUIDs, logIndexes}` → a list
/// of `{uuid: LogEntry}` maps for the entries found.
fn retrieve(log: &Log, body: &[u8]) -> Result<Reply, LogError> {
    let q: Value = serde_json::from_slice(body).map_err(|e| LogError {
        status: 400,
        message: format!("search: {e}"),
    })?;
    let mut out = Vec::new();
    for uuid in q["entryUUIDs"].as_array().into_iter().flatten() {
        if let Some(i) = uuid.as_str().and_then(|u| log.find_uuid(u)) {
            out.push(log.entry(i)?);
        }
    }
    for idx in q["logIndexes"].as_array().into_iter().flatten() {
        if let Some(i) = idx.as_u64().and_then(|i| usize::try_from(i).ok()) {
            if i < log.size() {
                out.push(log.entry(i)?);
            }
        }
    }
    Ok(json_reply(200, &Value::Array(out)))
}

/// `POST /api/v1/index/retrieve` with `{"hash": "sha256:<hex>"}`.
fn search_index(log: &Log, body: &[u8]) -> Result<Reply, LogError> {
    let q: Value = serde_json::from_slice(body).map_err(|e| LogError {
        status: 400,
        message: format!("search: {e}"),
    })?;
    let hash = q["hash"].as_str().ok_or(LogError {
        status: 400,
        message: "only searches by hash are supported".into(),
    })?;
    let hex = hash.strip_prefix("sha256:").unwrap_or(hash);
    Ok(json_reply(200, &json!(log.search_hash(hex))))
}
