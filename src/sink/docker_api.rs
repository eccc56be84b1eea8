//! Read-only questions to the Docker Engine API on its unix socket: the
//! daemon's version, what a name or ID is, every image's names. The docker
//! CLI answers the same in ~0.1 s a call (a Go program starting and
//! reading its configuration); the socket answers in milliseconds, which
//! is most of what unpack adds to a `docker load` of the same archive.
//! Everything that changes the store (load, tag, rmi) still goes through
//! the CLI, and so does every question when DOCKER_HOST is not a unix
//! socket (tcp://, ssh://) or `AIRLOCK_DOCKER` names another program.

use std::path::PathBuf;

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::Deserialize;

use crate::error::Error;
use crate::model::limits;

/// The socket docker uses when DOCKER_HOST is unset.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Bound on the image list (a busy host lists thousands of images).
const LIST_LIMIT: u64 = 64 << 20;

pub struct DockerApi {
    socket: PathBuf,
    runtime: tokio::runtime::Runtime,
}

fn context_may_apply() -> bool {
    if std::env::var_os("DOCKER_CONTEXT").is_some_and(|c| !c.is_empty() && c != "default") {
        return true;
    }
    let dir = match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            Some(h) => PathBuf::from(h).join(".docker"),
            None => return true,
        },
    };
    let Ok(file) = std::fs::File::open(dir.join("config.json")) else {
        return false;
    };
    let mut text = String::new();
    use std::io::Read as _;
    if file
        .take(limits::MAX_JSON_BYTES)
        .read_to_string(&mut text)
        .is_err()
    {
        return true;
    }
    // Unreadable: assume the worst and let the CLI decide.
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => v
            .get("currentContext")
            .and_then(|c| c.as_str())
            .is_some_and(|c| !c.is_empty() && c != "default"),
        Err(_) => true,
    }
}

/// One answer: HTTP status and body (bounded).
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl DockerApi {
    /// The API of `host` (`unix:///path`, or `None` for the default
    /// socket); `None` for any other kind of host, and with no host when a
    /// docker context may point the CLI elsewhere (DOCKER_CONTEXT, or a
    /// `currentContext` in the docker config): the CLI is asked then.
    pub fn for_host(host: Option<&str>) -> Option<DockerApi> {
        let socket = match host {
            None if context_may_apply() => return None,
            None => PathBuf::from(DEFAULT_SOCKET),
            Some(h) => PathBuf::from(h.strip_prefix("unix://")?),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .ok()?;
        Some(DockerApi { socket, runtime })
    }

    fn get(&self, path: &str, limit: u64) -> Result<Answer, String> {
        self.runtime.block_on(async {
            let stream = tokio::net::UnixStream::connect(&self.socket)
                .await
                .map_err(|e| format!("{}: {e}", self.socket.display()))?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let request = http::Request::get(path)
                .header(http::header::HOST, "docker")
                .body(Empty::<Bytes>::new())
                .map_err(|e| e.to_string())?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let limited = http_body_util::Limited::new(
                response.into_body(),
                usize::try_from(limit).unwrap_or(usize::MAX),
            );
            let body = limited
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes()
                .to_vec();
            Ok(Answer { status, body })
        })
    }

    /// The engine's version (`GET /version`); an error says why no daemon
    /// answers.
    pub fn version(&self) -> Result<String, String> {
        #[derive(Deserialize)]
        struct Version {
            #[serde(rename = "Version")]
            version: String,
        }
        let a = self.get("/version", limits::MAX_JSON_BYTES)?;
        if a.status != 200 {
            return Err(format!("GET /version answered {}", a.status));
        }
        serde_json::from_slice::<Version>(&a.body)
            .map(|v| v.version)
            .map_err(|e| format!("unreadable /version answer: {e}"))
    }

    /// The image ID `name` (a name:tag or an ID) resolves to; `None` when
    /// docker holds no such image.
    pub fn image_id(&self, name: &str) -> Result<Option<String>, Error> {
        #[derive(Deserialize)]
        struct Inspect {
            #[serde(rename = "Id")]
            id: String,
        }
        if name.is_empty()
            || name
                .chars()
                .any(|c| c.is_whitespace() || c == '?' || c == '#')
        {
            return Ok(None);
        }
        let a = self
            .get(&format!("/images/{name}/json"), limits::MAX_JSON_BYTES)
            .map_err(|e| Error::Sink(format!("docker: inspect {name}: {e}")))?;
        match a.status {
            200 => serde_json::from_slice::<Inspect>(&a.body)
                .map(|i| Some(i.id))
                .map_err(|e| Error::Sink(format!("docker: inspect {name}: {e}"))),
            404 => Ok(None),
            s => Err(Error::Sink(format!("docker: inspect {name} answered {s}"))),
        }
    }

    /// Every `(ID, name:tag)` docker holds (`GET /images/json?all=1`).
    pub fn names(&self) -> Result<Vec<(String, String)>, Error> {
        #[derive(Deserialize)]
        struct Summary {
            #[serde(rename = "Id")]
            id: String,
            #[serde(rename = "RepoTags", default)]
            repo_tags: Option<Vec<String>>,
        }
        let a = self
            .get("/images/json?all=1", LIST_LIMIT)
            .map_err(|e| Error::Sink(format!("docker: list images: {e}")))?;
        if a.status != 200 {
            return Err(Error::Sink(format!(
                "docker: list images answered {}",
                a.status
            )));
        }
        let images: Vec<Summary> = serde_json::from_slice(&a.body)
            .map_err(|e| Error::Sink(format!("docker: list images: {e}")))?;
        Ok(images
            .into_iter()
            .flat_map(|s| {
                let id = s.id;
                s.repo_tags
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |t| (id.clone(), t))
            })
            .collect())
    }
}
