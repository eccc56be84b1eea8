//! Reaching a registry with `oci-client`: the part shared by the registry
//! source (`pack`, [`crate::source::registry`]) and the registry sink
//! (`unpack --into registry:`, [`crate::sink::registry`]), so both speak
//! TLS, private CAs, plain HTTP and credentials the same way.
//!
//! - [`AccessOptions`]: `--insecure-registry`, `--ca-file`,
//!   `--username`/`--password-stdin` (see `cli::registry_args`).
//! - [`client`]: a configured [`Client`]; [`runtime`]: the private tokio
//!   runtime the async client runs on, so the rest of airlock stays
//!   synchronous.
//! - [`auth`]: credentials as docker looks them up; [`fail`]: which client
//!   errors are worth a retry, and how they read.

pub mod auth;
pub mod fail;

use std::path::PathBuf;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::Client;

use crate::error::{Error, IoContext};

/// How to reach registries: transport and credentials.
#[derive(Debug, Clone, Default)]
pub struct AccessOptions {
    /// Hosts (`host[:port]`, as written in references) spoken to over plain HTTP.
    pub insecure: Vec<String>,
    /// PEM bundle of extra CA certificates to trust.
    pub ca_file: Option<PathBuf>,
    /// Credentials for every registry of this run (else the docker config).
    pub credentials: Option<(String, String)>,
}

/// A client for `opts`: HTTPS (rustls, system roots plus `ca_file`) except
/// for the insecure hosts, bounded connect and read timeouts.
pub fn client(opts: &AccessOptions) -> Result<Client, Error> {
    Ok(Client::new(config(opts)?))
}

/// [`client`] for pushing: each blob goes up as one streamed request
/// (`POST` then `PUT ?digest=` with the body, which every registry must
/// accept) instead of one `PATCH` per chunk, which made distribution 2.8
/// take 1.5× as long as `skopeo copy` for the same blobs.
pub fn push_client(opts: &AccessOptions) -> Result<Client, Error> {
    let mut cfg = config(opts)?;
    cfg.use_monolithic_push = true;
    Ok(Client::new(cfg))
}

fn config(opts: &AccessOptions) -> Result<ClientConfig, Error> {
    let mut cfg = ClientConfig {
        protocol: if opts.insecure.is_empty() {
            ClientProtocol::Https
        } else {
            ClientProtocol::HttpsExcept(opts.insecure.clone())
        },
        platform_resolver: None,
        connect_timeout: Some(std::time::Duration::from_secs(15)),
        read_timeout: Some(std::time::Duration::from_secs(60)),
        user_agent: concat!("airlock/", env!("CARGO_PKG_VERSION")),
        ..ClientConfig::default()
    };
    if let Some(ca) = &opts.ca_file {
        let pem = std::fs::read(ca).at("read CA file", ca)?;
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(Error::Usage(format!(
                "--ca-file {}: no PEM certificate in it",
                ca.display()
            )));
        }
        cfg.extra_root_certificates.push(Certificate {
            encoding: CertificateEncoding::Pem,
            data: pem,
        });
    }
    Ok(cfg)
}

/// The credentials for `registry` (`host[:port]`): the explicit ones, else
/// the docker config's.
pub fn credentials(
    registry: &str,
    opts: &AccessOptions,
) -> Result<oci_client::secrets::RegistryAuth, Error> {
    auth::credentials_for(registry, opts.credentials.as_ref())
}

/// The private runtime the client runs on (2 workers).
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("start the registry client runtime", e))
}
