//! Registry credentials, looked up the way docker does, then the way
//! skopeo and podman do: an explicit `--username`/`--password-stdin`, then
//! the docker config (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`): `credHelpers[host]`, `auths[host].auth`,
//! `credsStore`; then the containers `auth.json` (`$REGISTRY_AUTH_FILE`,
//! else `$XDG_RUNTIME_DIR/containers/auth.json`), which has the same
//! shape; else anonymous (the client still runs the anonymous bearer-token
//! flow). Docker's order comes first so a working docker setup keeps
//! meaning what it meant.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::error::Error;

/// Largest docker config or credential-helper answer read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Where Docker Hub credentials are filed in docker configs.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

fn config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// The containers `auth.json` skopeo and podman use.
fn containers_auth_path() -> Option<PathBuf> {
    if let Some(file) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|f| !f.is_empty()) {
        return Some(PathBuf::from(file));
    }
    std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join("containers").join("auth.json"))
}

/// The config at `path`; an absent file (or no path) is an empty config.
fn load_config(path: Option<PathBuf>) -> Result<DockerConfig, Error> {
    let Some(path) = path else {
        return Ok(DockerConfig::default());
    };
    let f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DockerConfig::default()),
        Err(e) => return Err(Error::io_path("open", &path, e)),
    };
    let mut buf = Vec::new();
    f.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io_path("read", &path, e))?;
    if buf.len() as u64 > MAX_CONFIG_BYTES {
        return Err(Error::Usage(format!("{} is too large", path.display())));
    }
    serde_json::from_slice(&buf)
        .map_err(|e| Error::Usage(format!("credentials file {}: {e}", path.display())))
}

/// Docker files Hub credentials under its v1 URL; other registries under
/// `host[:port]`, sometimes with a scheme or path.
fn key_matches(key: &str, registry: &str) -> bool {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let k = k.split('/').next().unwrap_or(k);
    let hub = |h: &str| matches!(h, "docker.io" | "index.docker.io" | "registry-1.docker.io");
    k == registry || (hub(k) && hub(registry))
}

fn server_url(registry: &str) -> String {
    if key_matches(DOCKER_HUB_KEY, registry) {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

fn decode_basic(b64: &str, registry: &str) -> Result<RegistryAuth, Error> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| Error::Usage(format!("stored auth for {registry}: {e}")))?;
    let s = String::from_utf8(raw)
        .map_err(|_| Error::Usage(format!("stored auth for {registry} is not UTF-8")))?;
    let (user, pass) = s
        .split_once(':')
        .ok_or_else(|| Error::Usage(format!("stored auth for {registry} is not user:password")))?;
    Ok(RegistryAuth::Basic(user.to_string(), pass.to_string()))
}

/// Run `docker-credential-<helper> get` with the server URL on stdin.
/// `Ok(None)` when the helper has no credentials for it.
fn run_helper(helper: &str, registry: &str) -> Result<Option<RegistryAuth>, Error> {
    if helper.is_empty()
        || !helper
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(Error::Usage(format!(
            "invalid credential helper name {helper:?}"
        )));
    }
    let prog = format!("docker-credential-{helper}");
    let mut child = Command::new(&prog)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(format!("run credential helper {prog}"), e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server_url(registry).as_bytes())
            .map_err(|e| Error::io(format!("write to {prog}"), e))?;
    }
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        stdout
            .take(MAX_CONFIG_BYTES)
            .read_to_end(&mut out)
            .map_err(|e| Error::io(format!("read from {prog}"), e))?;
    }
    let status = child
        .wait()
        .map_err(|e| Error::io(format!("wait for {prog}"), e))?;
    if !status.success() {
        let text = String::from_utf8_lossy(&out);
        // The helper protocol's "no credentials" answer.
        if text.contains("credentials not found") {
            return Ok(None);
        }
        return Err(Error::Source(format!(
            "credential helper {prog} failed for {registry}: {}",
            text.trim()
        )));
    }
    let a: HelperAnswer = serde_json::from_slice(&out)
        .map_err(|e| Error::Source(format!("credential helper {prog}: bad answer: {e}")))?;
    Ok(Some(RegistryAuth::Basic(a.username, a.secret)))
}

/// Credentials for `registry` (`host[:port]` as in the reference).
pub fn credentials_for(
    registry: &str,
    explicit: Option<&(String, String)>,
) -> Result<RegistryAuth, Error> {
    if let Some((u, p)) = explicit {
        return Ok(RegistryAuth::Basic(u.clone(), p.clone()));
    }
    for path in [config_path(), containers_auth_path()] {
        if let Some(a) = from_config(&load_config(path)?, registry)? {
            return Ok(a);
        }
    }
    Ok(RegistryAuth::Anonymous)
}

/// What one config file (docker's or the containers `auth.json`) holds for
/// `registry`, in docker's order.
fn from_config(cfg: &DockerConfig, registry: &str) -> Result<Option<RegistryAuth>, Error> {
    if let Some((_, helper)) = cfg
        .cred_helpers
        .iter()
        .find(|(k, _)| key_matches(k, registry))
    {
        if let Some(a) = run_helper(helper, registry)? {
            return Ok(Some(a));
        }
    }
    if let Some(auth) = cfg
        .auths
        .iter()
        .filter(|(k, _)| key_matches(k, registry))
        .find_map(|(_, e)| e.auth.as_deref().filter(|a| !a.is_empty()))
    {
        return decode_basic(auth, registry).map(Some);
    }
    if let Some(store) = &cfg.creds_store {
        return run_helper(store, registry);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_keys_match_each_other() {
        assert!(key_matches(DOCKER_HUB_KEY, "index.docker.io"));
        assert!(key_matches("docker.io", "index.docker.io"));
        assert!(key_matches("https://127.0.0.1:5000/v2/", "127.0.0.1:5000"));
        assert!(!key_matches("127.0.0.1:5001", "127.0.0.1:5000"));
    }

    #[test]
    fn basic_auth_decodes() {
        let a = decode_basic("dXNlcjpwYTpzcw==", "r").unwrap();
        assert!(matches!(a, RegistryAuth::Basic(u, p) if u == "user" && p == "pa:ss"));
        assert!(decode_basic("bm9jb2xvbg==", "r").is_err());
    }
}
