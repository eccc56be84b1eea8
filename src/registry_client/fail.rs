//! Turning registry client errors into airlock errors, and deciding which
//! ones are worth a retry. Network hiccups and 5xx/429 are retried; a
//! missing object, refused credentials or wrong content are not.

use oci_client::errors::{OciDistributionError, OciErrorCode};

use crate::error::Error;

/// The outcome of one failed registry request.
#[derive(Debug)]
pub enum Failure {
    /// The object does not exist (404 / MANIFEST_UNKNOWN / BLOB_UNKNOWN).
    NotFound(String),
    /// Transient: try again after a pause.
    Retry(String),
    /// Permanent: stop now.
    Fatal(Error),
}

/// Display an error with its whole `source()` chain: reqwest's own text
/// ("error sending request") hides the useful part ("connection refused",
/// "invalid peer certificate").
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

fn auth_error(what: &str, detail: &str) -> Failure {
    Failure::Fatal(Error::Source(format!(
        "{what}: the registry refused access ({detail}); check --username/--password-stdin, \
         the docker config (DOCKER_CONFIG), the credential helper or REGISTRY_AUTH_FILE"
    )))
}

/// `host[:port]` (as written in references and `--insecure-registry`)
/// when an HTTPS request met a server speaking plain HTTP: rustls reads the
/// HTTP answer as a TLS record of an invalid content type. `url` is the
/// request's (scheme, host, port).
fn plain_http_host(url: Option<(&str, Option<&str>, Option<u16>)>, text: &str) -> Option<String> {
    let (scheme, host, port) = url?;
    if scheme != "https" || !text.contains("InvalidContentType") {
        return None;
    }
    let host = host?;
    Some(match port {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

/// Classify a client error for `what` (e.g. "manifest reg/app:1").
pub fn classify(what: &str, e: OciDistributionError) -> Failure {
    match &e {
        OciDistributionError::ImageManifestNotFoundError(m) => Failure::NotFound(m.clone()),
        OciDistributionError::UnauthorizedError { .. } => auth_error(what, "401 Unauthorized"),
        OciDistributionError::AuthenticationFailure(m) => auth_error(what, m),
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                auth_error(what, &envelope.to_string())
            } else if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                Failure::NotFound(envelope.to_string())
            } else if codes.contains(&&OciErrorCode::Toomanyrequests) {
                Failure::Retry(envelope.to_string())
            } else {
                Failure::Fatal(Error::Source(format!("{what}: {}", chain(&e))))
            }
        }
        OciDistributionError::ServerError { code, message, .. } => match code {
            404 => Failure::NotFound(message.clone()),
            401 | 403 => auth_error(what, &format!("HTTP {code}")),
            429 | 500..=599 => Failure::Retry(format!("HTTP {code}: {}", message.trim())),
            _ => Failure::Fatal(Error::Source(format!("{what}: {}", chain(&e)))),
        },
        OciDistributionError::RequestError(r) => {
            let text = chain(&e);
            if r.is_builder() {
                Failure::Fatal(Error::Source(format!("{what}: {text}")))
            } else if let Some(host) =
                plain_http_host(r.url().map(|u| (u.scheme(), u.host_str(), u.port())), &text)
            {
                // A TLS handshake answered with HTTP never heals by retrying.
                Failure::Fatal(Error::Source(format!(
                    "{what}: {host} speaks plain HTTP, not HTTPS; if that is intended, \
                     add --insecure-registry {host}"
                )))
            } else if text.contains("certificate") || text.contains("InvalidCertificate") {
                // A TLS trust failure does not heal by retrying.
                Failure::Fatal(Error::Source(format!(
                    "{what}: TLS: {text} (for a private CA use --ca-file; for plain HTTP --insecure-registry)"
                )))
            } else {
                Failure::Retry(text)
            }
        }
        OciDistributionError::IoError(_) => Failure::Retry(chain(&e)),
        _ => Failure::Fatal(Error::Source(format!("{what}: {}", chain(&e)))),
    }
}

/// Collapse a final failure into an error (after retries ran out).
pub fn into_error(what: &str, f: Failure, attempts: u32) -> Error {
    match f {
        Failure::NotFound(m) => Error::Source(format!("{what}: not found in the registry ({m})")),
        Failure::Retry(m) => Error::Source(format!(
            "{what}: {m} (gave up after {attempts} attempts; is the registry reachable?)"
        )),
        Failure::Fatal(e) => e,
    }
}

/// Pause before retry `attempt` (1-based): 250 ms, 500 ms, 1 s, … capped at 8 s.
pub fn backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(250u64 << attempt.saturating_sub(1).min(5))
}

/// Run one registry request with retries: `Ok(None)` when the object does
/// not exist, the final error once retries ran out or on a permanent one.
pub async fn retrying<T, Fut>(
    what: &str,
    retries: u32,
    mut op: impl FnMut() -> Fut,
) -> Result<Option<T>, Error>
where
    Fut: std::future::Future<Output = Result<T, OciDistributionError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match op().await {
            Ok(v) => return Ok(Some(v)),
            Err(e) => match classify(what, e) {
                Failure::NotFound(_) => return Ok(None),
                Failure::Retry(_) if attempt <= retries => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                f => return Err(into_error(what, f, attempt)),
            },
        }
    }
}
