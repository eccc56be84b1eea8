//! Our Rekor-compatible test server (`airlock_testkit::rekor_server`) seen from a
//! client: start one on a free loopback port, talk to its HTTP API, log a
//! hashedrekord entry with a real `POST /api/v1/log/entries`, and build
//! cosign's SET bundle (the `dev.sigstore.cosign/bundle` annotation) from
//! the entry it returned.

use airlock::trust::TrustRoot;
use airlock_testkit::rekor_server::{Log, RekorServer};
use p256::ecdsa::SigningKey;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::forge;

/// A test log (origin `rekor.airlock.test`) on a free loopback port;
/// stopped when dropped.
pub fn start() -> RekorServer {
    RekorServer::start("127.0.0.1:0", Log::generate("rekor.airlock.test").unwrap()).unwrap()
}

/// A trusted root whose only Rekor log is `server`'s.
pub fn trust_root(server: &RekorServer) -> TrustRoot {
    TrustRoot::from_json(trust_root_json(server).as_bytes()).unwrap()
}

/// The same, as the JSON document `--trusted-root` reads.
pub fn trust_root_json(server: &RekorServer) -> String {
    server.log().trusted_root(&server.url()).to_string()
}

/// An HTTP client for the server's API that returns error statuses
/// instead of failing on them.
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(server: &RekorServer) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build();
        Client {
            base: server.url(),
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// The status and the body (JSON, or the text as a JSON string).
    pub fn get(&self, path: &str) -> (u16, Value) {
        let mut r = self
            .agent
            .get(&format!("{}{path}", self.base))
            .call()
            .unwrap();
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let mut r = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .unwrap();
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap())
    }

    /// Logs `signer`'s signature over `blob`, which must be created (201);
    /// returns the signature (base64) and the entry as the log returned it.
    pub fn log(&self, signer: &SigningKey, blob: &[u8]) -> (String, Value) {
        let (entry, sig) = hashedrekord(signer, blob);
        let (status, created) = self.post("/api/v1/log/entries", &entry);
        assert_eq!(status, 201, "{created}");
        (sig, only(&created).1)
    }
}

/// A hashedrekord entry of `signer`'s signature over `blob`, and that
/// signature (base64).
pub fn hashedrekord(signer: &SigningKey, blob: &[u8]) -> (Value, String) {
    let sig = forge::sign(signer, blob);
    let body = forge::hashedrekord_body(&forge::pem(signer), &Sha256::digest(blob), &sig);
    (body, sig)
}

/// The single `{uuid: entry}` of a Rekor response.
pub fn only(v: &Value) -> (String, Value) {
    let m = v.as_object().unwrap();
    assert_eq!(m.len(), 1, "{v}");
    let (k, e) = m.iter().next().unwrap();
    (k.clone(), e.clone())
}

/// What cosign puts in the `dev.sigstore.cosign/bundle` annotation for a
/// logged entry `e` (as the log API returns it): its SET and payload.
pub fn set_bundle(e: &Value) -> String {
    airlock_testkit::cosign::legacy_bundle(e).unwrap()
}
