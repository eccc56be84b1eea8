//! Docker Content Trust at pack: fetch each tagged image's Notary metadata
//! (GUN = registry host + repository path) from `--notary-server`, carry it
//! as a `notary-trust` evidence document, and check the tag's signed target
//! is the manifest (or index) the tag resolved to.
//!
//! The pack-time check trusts the root the server serves (there is no pin
//! yet; the air-gapped side pins it with `--notary-root`): it still checks
//! every signature, threshold, hash and expiry, and the target.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::model::image_set::ImageSet;
use crate::model::manifest::{EvidenceRecord, EvidenceRole};
use crate::model::media::NOTARY_TRUST;
use crate::model::notary::{NotaryDocument, B64, NOTARY_DOCUMENT_TYPE};
use crate::model::Digest;
use crate::trust::notary::{
    gun_and_tag, verify_document, NotaryError, TargetClaim, VerifiedContentTrust, MAX_DELEGATIONS,
    MAX_NOTARY_METADATA, MAX_ROOT_VERSIONS,
};

/// A Notary server's TUF API (`/v2/<GUN>/_trust/tuf/<role>.json`).
pub struct NotaryClient {
    base: String,
    agent: ureq::Agent,
}

impl NotaryClient {
    /// `url` is `https://…` (or `http://`); `ca_pem` adds a CA to trust
    /// instead of the Mozilla roots.
    pub fn new(url: &str, ca_pem: Option<&[u8]>) -> Result<Self, Error> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(Error::Usage(format!(
                "--notary-server {url:?} must start with https:// or http://"
            )));
        }
        let mut tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ));
        if let Some(pem) = ca_pem {
            let certs: Vec<_> = ureq::tls::parse_pem(pem)
                .filter_map(|i| match i {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(Error::Usage("--notary-ca holds no PEM certificate".into()));
            }
            tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)));
        }
        let config = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .user_agent(concat!("airlock/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(NotaryClient {
            base,
            agent: ureq::Agent::new_with_config(config),
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// One metadata file; `None` when the server has none (404).
    fn get(&self, gun: &str, file: &str) -> Result<Option<Vec<u8>>, Error> {
        let url = format!("{}/v2/{gun}/_trust/tuf/{file}", self.base);
        let err = |m: String| Error::Source(format!("Notary {}: {gun} {file}: {m}", self.base));
        let mut resp = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| err(format!("unreachable ({e})")))?;
        let status = resp.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        if status != 200 {
            return Err(err(format!("HTTP {status}")));
        }
        let mut body = Vec::new();
        resp.body_mut()
            .as_reader()
            .take(MAX_NOTARY_METADATA as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| err(format!("reading the response failed ({e})")))?;
        if body.len() > MAX_NOTARY_METADATA {
            return Err(err(format!("larger than {MAX_NOTARY_METADATA} bytes")));
        }
        Ok(Some(body))
    }

    fn required(&self, gun: &str, file: &str) -> Result<Vec<u8>, Error> {
        self.get(gun, file)?.ok_or_else(|| {
            Error::Source(format!(
                "Notary {}: {gun} has no {file} (is the repository signed?)",
                self.base
            ))
        })
    }

    /// Every file DCT needs for `gun`, fetched now.
    pub fn fetch(&self, gun: &str, tag: &str) -> Result<NotaryDocument, Error> {
        let fetched_at = jiff::Timestamp::now().as_second();
        let root = self.required(gun, "root.json")?;
        let version = signed_field(&root, "version")
            .and_then(|v| v.as_u64())
            .unwrap_or(1);
        let mut roots = Vec::new();
        // Older roots let a site pinned to any earlier version chain up.
        let first = version.saturating_sub(MAX_ROOT_VERSIONS as u64 - 1).max(1);
        for v in first..version {
            if let Some(b) = self.get(gun, &format!("{v}.root.json"))? {
                roots.push(B64(b));
            }
        }
        roots.push(B64(root));
        let timestamp = self.required(gun, "timestamp.json")?;
        let snapshot = self.required(gun, "snapshot.json")?;
        let targets = self.required(gun, "targets.json")?;
        let mut delegations = BTreeMap::new();
        let names = signed_field(&targets, "delegations")
            .and_then(|d| d.get("roles").cloned())
            .and_then(|r| r.as_array().cloned())
            .unwrap_or_default();
        for name in names.iter().filter_map(|r| r.get("name")?.as_str()) {
            // Only direct delegations, named as Notary requires.
            let valid = name.strip_prefix("targets/").is_some_and(|n| {
                !n.is_empty()
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            });
            if !valid || delegations.len() >= MAX_DELEGATIONS {
                continue;
            }
            if let Some(b) = self.get(gun, &format!("{name}.json"))? {
                delegations.insert(name.to_string(), B64(b));
            }
        }
        Ok(NotaryDocument {
            kind: NOTARY_DOCUMENT_TYPE.to_string(),
            gun: gun.to_string(),
            tag: tag.to_string(),
            server: self.base.clone(),
            fetched_at,
            roots,
            timestamp: B64(timestamp),
            snapshot: B64(snapshot),
            targets: B64(targets),
            delegations,
        })
    }
}

fn signed_field(doc: &[u8], field: &str) -> Option<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_slice(doc).ok()?;
    v.get("signed")?.get(field).cloned()
}

/// What the pack-time check found for one image.
#[derive(Debug)]
pub struct PackCheck {
    pub reference: String,
    pub result: Result<VerifiedContentTrust, NotaryError>,
}

/// The digest DCT signs for an image (its index when it came from one)
/// and that document's length, from the bytes the set carries.
pub fn claim_subject(set: &ImageSet, i: usize) -> Option<(Digest, u64)> {
    let img = set.images.get(i)?;
    let subject = img.index_digest.unwrap_or(img.manifest_digest);
    let size = if subject == img.manifest_digest {
        img.manifest_size
    } else {
        set.blobs.get(&subject)?.record.size
    };
    Some((subject, size))
}

/// Fetch and attach the Notary metadata of every tagged image; returns the
/// pack-time check of each (under the root the server serves).
pub fn attach_notary(set: &mut ImageSet, client: &NotaryClient) -> Result<Vec<PackCheck>, Error> {
    let mut checks = Vec::new();
    let mut docs: BTreeMap<(String, String), (Digest, Vec<u8>, NotaryDocument)> = BTreeMap::new();
    for i in 0..set.images.len() {
        let reference = set.images[i].reference.clone();
        let Some((gun, tag)) = gun_and_tag(&reference) else {
            continue; // a digest reference has no DCT target
        };
        let Some((subject, length)) = claim_subject(set, i) else {
            continue;
        };
        let key = (gun.clone(), tag.clone());
        if !docs.contains_key(&key) {
            let doc = client.fetch(&gun, &tag)?;
            let bytes = serde_json::to_vec(&doc)
                .map_err(|e| Error::Source(format!("serialising Notary metadata: {e}")))?;
            // The reader keeps JSON documents up to this size in memory for
            // the gate; a larger one would be stored as opaque data.
            let limit = crate::model::limits::SMALL_BLOB_BYTES;
            if bytes.len() as u64 > limit {
                return Err(Error::Source(format!(
                    "Notary metadata of {gun} is {} bytes, over the {limit} bytes an archive keeps as a document",
                    bytes.len()
                )));
            }
            docs.insert(key.clone(), (Digest::of(&bytes), bytes, doc));
        }
        let Some((digest, bytes, doc)) = docs.get(&key) else {
            continue;
        };
        let current_root = doc.roots.last().map(|r| r.0.as_slice()).unwrap_or_default();
        let claim = TargetClaim {
            tag: &tag,
            sha256: *subject.as_bytes(),
            length,
        };
        let result = verify_document(current_root, bytes, &gun, &claim);
        set.add_memory(*digest, NOTARY_TRUST, bytes.clone());
        let record = EvidenceRecord {
            role: EvidenceRole::NotaryTrust,
            digest: *digest,
            media_type: NOTARY_TRUST.to_string(),
            subject,
            artifact_type: None,
            tag: None,
        };
        let img = &mut set.images[i];
        if !img.evidence.contains(&record) {
            img.evidence.push(record);
            img.evidence.sort_by_key(|e| (e.role, e.digest));
        }
        checks.push(PackCheck { reference, result });
    }
    Ok(checks)
}
