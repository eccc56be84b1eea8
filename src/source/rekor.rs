//! Pack time only: fetch, for every cosign legacy signature (a `.sig` layer
//! whose `dev.sigstore.cosign/bundle` annotation holds only a SET), the log
//! entry with its inclusion proof and signed checkpoint from Rekor, and store
//! it in the archive as `rekor-proof` evidence. `verify` and `unpack` never
//! reach this module: they read the stored documents offline.
//!
//! The fetched entry must be the one the SET names (same log index, log ID,
//! integrated time and body, byte for byte), and its proof must lead from
//! that body to the checkpoint's root; anything else is refused, so an
//! archive never carries a proof for some other entry. The checkpoint's
//! signature is checked at verify time, against the trust root.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::rekor_cache::ProofCache;
use super::{BlobOrigin, ImageSet};
use crate::error::Error;
use crate::model::manifest::{EvidenceRole, RekorProofs, TransparencyRecord};
use crate::model::{limits, oci, Digest, EvidenceRecord};
use crate::trust::{
    LegacyRekorBundle, RekorInclusionProof, RekorProofDocument, REKOR_PROOF_MEDIA_TYPE,
};

/// The public-good Rekor instance (the `--rekor-url` default).
pub const DEFAULT_REKOR_URL: &str = "https://rekor.sigstore.dev";

/// cosign's annotation holding the legacy Rekor bundle (SET).
pub const COSIGN_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// Largest Rekor response read (a hashedrekord entry is a few KiB; intoto
/// entries with large attestations stay well below this).
const MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;
const ATTEMPTS: u32 = 3;

/// A blocking client for the Rekor v1 API.
pub struct RekorClient {
    base: String,
    agent: ureq::Agent,
}

/// One log entry as Rekor serves it (`{uuid: LogEntry}`'s value).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchedEntry {
    pub body: String,
    pub integrated_time: i64,
    #[serde(rename = "logID")]
    pub log_id: String,
    pub log_index: i64,
    #[serde(default)]
    pub verification: Option<Verification>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    #[serde(default)]
    pub inclusion_proof: Option<serde_json::Value>,
    #[serde(default)]
    pub signed_entry_timestamp: Option<String>,
}

impl RekorClient {
    /// A client for the Rekor at `url` (`http://` or `https://`; TLS via
    /// rustls with the Mozilla roots).
    pub fn new(url: &str) -> Result<Self, Error> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(Error::Usage(format!(
                "--rekor-url {url:?} must start with https:// or http://"
            )));
        }
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .user_agent(concat!("airlock/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(RekorClient {
            base,
            agent: ureq::Agent::new_with_config(config),
        })
    }

    /// The base URL, as given (without a trailing slash).
    pub fn url(&self) -> &str {
        &self.base
    }

    fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::Source(format!("Rekor {}: {msg}", self.base))
    }

    /// `GET /api/v1/log/entries?logIndex=N`, retried on transport errors and
    /// server errors with a short backoff.
    pub fn entry_by_index(&self, index: i64) -> Result<FetchedEntry, Error> {
        let url = format!("{}/api/v1/log/entries?logIndex={index}", self.base);
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(250 << attempt));
            }
            let mut resp = match self.agent.get(&url).call() {
                Ok(r) => r,
                Err(e) => {
                    last = format!("unreachable ({e})");
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let mut body = Vec::new();
            let read = resp
                .body_mut()
                .as_reader()
                .take(MAX_RESPONSE_BYTES + 1)
                .read_to_end(&mut body);
            if let Err(e) = read {
                last = format!("reading the response failed ({e})");
                continue;
            }
            if body.len() as u64 > MAX_RESPONSE_BYTES {
                return Err(self.err(format!(
                    "entry {index}: response larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            match status {
                200 => return self.parse_entry(index, &body),
                404 => return Err(self.err(format!("the log has no entry {index}"))),
                500..=599 => last = format!("HTTP {status}"),
                _ => {
                    return Err(self.err(format!(
                        "entry {index}: HTTP {status}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    )))
                }
            }
        }
        Err(self.err(format!("entry {index}: {last}")))
    }

    fn parse_entry(&self, index: i64, body: &[u8]) -> Result<FetchedEntry, Error> {
        let map: BTreeMap<String, FetchedEntry> = serde_json::from_slice(body)
            .map_err(|e| self.err(format!("entry {index}: malformed response: {e}")))?;
        let mut entries = map.into_values();
        match (entries.next(), entries.next()) {
            (Some(e), None) => Ok(e),
            _ => Err(self.err(format!(
                "entry {index}: expected exactly one entry in the response"
            ))),
        }
    }
}

/// What the Rekor step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RekorSummary {
    /// Legacy signatures (SET only) found in the evidence.
    pub signatures: usize,
    /// Proof documents stored (one per signature layer).
    pub proofs: usize,
    /// Log entries taken from the proof cache instead of the log.
    pub reused: usize,
}

/// Where log entries come from: the log, through a cache of earlier
/// fetches unless `refresh` (see `rekor_cache`).
pub struct EntrySource<'a> {
    pub client: &'a RekorClient,
    pub cache: Option<&'a ProofCache>,
    /// `--refresh-proofs`: fetch every entry anew (and replace the cached one).
    pub refresh: bool,
}

impl EntrySource<'_> {
    /// Entry `sig.bundle.log_index()`: the cached one when it still matches
    /// `sig` (else it is fetched and the cache updated). The flag says
    /// whether it came from the cache.
    fn entry_for(&self, sig: &LegacySignature) -> Result<(FetchedEntry, bool), Error> {
        let index = sig.bundle.log_index();
        if let Some(cache) = self.cache.filter(|_| !self.refresh) {
            if let Some(e) = cache.load(index) {
                if proof_document(self.client, sig, &e).is_ok() {
                    return Ok((e, true));
                }
            }
        }
        let fetched = self.client.entry_by_index(index)?;
        if let Some(cache) = self.cache {
            // Only an entry that matches its SET is kept; a bad one is
            // refused below with the log's own error.
            if proof_document(self.client, sig, &fetched).is_ok() {
                cache.store(index, &fetched)?;
            }
        }
        Ok((fetched, false))
    }
}

/// A `.sig` layer carrying a legacy Rekor bundle.
struct LegacySignature {
    manifest: Digest,
    layer: Digest,
    subject: Digest,
    bundle: LegacyRekorBundle,
}

/// Every cosign signature layer with a SET-only legacy bundle, once each.
fn legacy_signatures(set: &ImageSet) -> Result<Vec<LegacySignature>, Error> {
    let mut seen = BTreeMap::new();
    for ev in set.images.iter().flat_map(|i| i.evidence.iter()) {
        if ev.role != EvidenceRole::Signature || seen.contains_key(&ev.digest) {
            continue;
        }
        let bytes = blob_bytes(set, &ev.digest)?;
        let m = oci::parse_manifest(&bytes)
            .map_err(|e| Error::Source(format!("signature manifest {}: {e}", ev.digest)))?;
        let mut found = Vec::new();
        for layer in &m.layers {
            let Some(json) = layer.annotations.get(COSIGN_BUNDLE_ANNOTATION) else {
                continue;
            };
            let bundle = LegacyRekorBundle::from_json(json.as_bytes()).map_err(|e| {
                Error::Source(format!(
                    "signature {} layer {}: {e}",
                    ev.digest, layer.digest
                ))
            })?;
            if bundle.has_inclusion_proof() {
                continue;
            }
            found.push(LegacySignature {
                manifest: ev.digest,
                layer: layer.digest,
                subject: ev.subject,
                bundle,
            });
        }
        seen.insert(ev.digest, found);
    }
    Ok(seen.into_values().flatten().collect())
}

fn blob_bytes(set: &ImageSet, d: &Digest) -> Result<Vec<u8>, Error> {
    let blob = set
        .blobs
        .get(d)
        .ok_or_else(|| Error::Source(format!("evidence {d} is not in the image set")))?;
    match &blob.origin {
        BlobOrigin::Memory(b) => Ok(b.to_vec()),
        BlobOrigin::File(p) => {
            let f = std::fs::File::open(p).map_err(|e| Error::io_path("open", p, e))?;
            let mut buf = Vec::new();
            f.take(limits::MAX_JSON_BYTES + 1)
                .read_to_end(&mut buf)
                .map_err(|e| Error::io_path("read", p, e))?;
            if buf.len() as u64 > limits::MAX_JSON_BYTES || Digest::of(&buf) != *d {
                return Err(Error::Source(format!(
                    "evidence {d} is unreadable or altered"
                )));
            }
            Ok(buf)
        }
        BlobOrigin::Region { .. } | BlobOrigin::Remote(_) => Err(Error::Source(format!(
            "evidence {d} is not held as a document"
        ))),
    }
}

/// Fetch and store the inclusion proof of every legacy signature in `set`
/// (see the module doc for what is checked), and record in the archive
/// manifest that proofs were fetched (or that none were needed).
pub fn attach_rekor_proofs(
    set: &mut ImageSet,
    source: &EntrySource,
) -> Result<RekorSummary, Error> {
    let client = source.client;
    let sigs = legacy_signatures(set)?;
    let mut summary = RekorSummary {
        signatures: sigs.len(),
        ..RekorSummary::default()
    };
    let mut fetched: BTreeMap<i64, FetchedEntry> = BTreeMap::new();
    for sig in &sigs {
        let index = sig.bundle.log_index();
        let entry = match fetched.entry(index) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                let (entry, cached) = source.entry_for(sig)?;
                summary.reused += usize::from(cached);
                v.insert(entry)
            }
        };
        let doc = proof_document(client, sig, entry)?;
        let bytes = serde_json::to_vec(&doc)
            .map_err(|e| Error::Source(format!("serialising a Rekor proof: {e}")))?;
        let digest = Digest::of(&bytes);
        set.add_memory(digest, REKOR_PROOF_MEDIA_TYPE, bytes);
        let record = EvidenceRecord {
            role: EvidenceRole::RekorProof,
            digest,
            media_type: REKOR_PROOF_MEDIA_TYPE.to_string(),
            subject: sig.subject,
            artifact_type: None,
            tag: None,
        };
        for img in set.images.iter_mut().filter(|i| {
            i.evidence
                .iter()
                .any(|e| e.role == EvidenceRole::Signature && e.digest == sig.manifest)
        }) {
            if !img.evidence.contains(&record) {
                img.evidence.push(record.clone());
                img.evidence.sort_by_key(|e| (e.role, e.digest));
            }
        }
        summary.proofs += 1;
    }
    set.transparency = Some(TransparencyRecord {
        rekor_proofs: if sigs.is_empty() {
            RekorProofs::NoneNeeded
        } else {
            RekorProofs::Fetched
        },
        rekor_url: (!sigs.is_empty()).then(|| client.url().to_string()),
    });
    Ok(summary)
}

/// `--no-rekor`: record that proofs were left out (counting the signatures
/// that would have needed one).
pub fn omit_rekor_proofs(set: &mut ImageSet) -> Result<RekorSummary, Error> {
    let n = legacy_signatures(set)?.len();
    set.transparency = Some(TransparencyRecord {
        rekor_proofs: RekorProofs::Omitted,
        rekor_url: None,
    });
    Ok(RekorSummary {
        signatures: n,
        ..RekorSummary::default()
    })
}

/// Check the served entry against the SET and build the stored document.
fn proof_document(
    client: &RekorClient,
    sig: &LegacySignature,
    entry: &FetchedEntry,
) -> Result<RekorProofDocument, Error> {
    let set = &sig.bundle;
    let index = set.log_index();
    let refuse = |what: &str| {
        client.err(format!(
            "entry {index} served for signature layer {} does not match its SET: {what}",
            sig.layer
        ))
    };
    if entry.log_index != index {
        return Err(refuse(&format!("log index {}", entry.log_index)));
    }
    if !entry.log_id.eq_ignore_ascii_case(set.log_id()) {
        return Err(refuse("log ID differs"));
    }
    if entry.integrated_time != set.integrated_time() {
        return Err(refuse("integrated time differs"));
    }
    let served = STANDARD
        .decode(entry.body.as_bytes())
        .map_err(|_| refuse("body is not base64"))?;
    let signed = set.body().map_err(|e| refuse(&e.to_string()))?;
    if served != signed {
        return Err(refuse("body differs"));
    }
    let verification = entry.verification.as_ref();
    let proof_json = verification
        .and_then(|v| v.inclusion_proof.as_ref())
        .ok_or_else(|| client.err(format!("entry {index} has no inclusion proof")))?;
    let proof = RekorInclusionProof::from_json(proof_json.to_string().as_bytes())
        .map_err(|e| client.err(format!("entry {index}: {e}")))?;
    proof
        .check_structure(&served)
        .map_err(|e| client.err(format!("entry {index}: {e}")))?;
    let set_b64 = verification
        .and_then(|v| v.signed_entry_timestamp.clone())
        .ok_or_else(|| client.err(format!("entry {index} has no signed entry timestamp")))?;
    Ok(RekorProofDocument::new(
        sig.manifest.to_string(),
        sig.layer.to_string(),
        index,
        entry.log_id.to_ascii_lowercase(),
        entry.body.clone(),
        entry.integrated_time,
        proof,
        set_b64,
    ))
}
