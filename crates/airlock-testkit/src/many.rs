//! Layouts of many small distinct images, for scale tests and
//! `bench/many.sh`. Deterministic: same arguments, same bytes (signatures
//! use RFC 6979 nonces and a key derived from the seed).
//!
//! With evidence, image `i` gets (by `i % 4`): 0 a cosign `.sig`; 1 a `.sig`
//! and an `.att`; 2 an `.sbom` tag and an SPDX referrer (tagged
//! `<ref>-referrer-<i>`, so pack such a layout with `--ref` per image);
//! 3 nothing, so pack warns about it.

use std::io;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use p256::ecdsa::{signature::Signer as _, DerSignature, SigningKey};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::cosign::{self, SigLayer};
use crate::{Descriptor, FileEntry, ImageSpec, Layout, Platform};

const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const SPDX: &str = "application/spdx+json";

/// What [`write`] builds.
#[derive(Debug, Clone)]
pub struct ManySpec {
    /// Image `i` is tagged [`numbered`]`(reference, i)`.
    pub reference: String,
    pub images: u64,
    /// Add cosign tags and referrers (see the module docs).
    pub evidence: bool,
    pub seed: u64,
}

/// Write the layout; returns its directory and `(name, manifest digest)` of
/// each image, in order.
pub fn write(out: &Path, spec: &ManySpec) -> io::Result<(PathBuf, Vec<(String, String)>)> {
    let mut l = Layout::create(out)?;
    let key = key_for(spec.seed)?;
    let mut images = Vec::new();
    for i in 0..spec.images {
        // One tiny file naming the image makes every layer, and so every
        // image, distinct.
        let layer = l.add_layer(&[FileEntry::bytes(
            "/etc/airlock-many",
            format!("seed {} image {i}\n", spec.seed),
            0o644,
        )])?;
        let mut s = ImageSpec::new(Platform::linux("amd64"));
        s.cmd = Some(vec!["/bin/true".into()]);
        let m = l.add_image(&s, &[layer])?;
        let name = numbered(&spec.reference, i);
        l.tag(&name, &m);
        if spec.evidence {
            add_evidence(&mut l, &key, &m, &name, i)?;
        }
        images.push((name, m.digest));
    }
    Ok((l.finish()?, images))
}

fn add_evidence(
    l: &mut Layout,
    key: &SigningKey,
    m: &Descriptor,
    name: &str,
    i: u64,
) -> io::Result<()> {
    match i % 4 {
        0 => add_sig(l, key, m, name),
        1 => {
            add_sig(l, key, m, name)?;
            let statement =
                json!({"_type": "https://in-toto.io/Statement/v0.1", "subject": [{"name": name}]});
            let envelope = json!({
                "payloadType": cosign::IN_TOTO,
                "payload": STANDARD.encode(statement.to_string()),
                "signatures": [{"keyid": "", "sig": sign(key, statement.to_string().as_bytes())}],
            });
            let tag = cosign::evidence_tag(&m.digest, "att");
            add_artifact(l, &tag, None, cosign::DSSE_ENVELOPE, &envelope.to_string())
        }
        2 => {
            let sbom = json!({"spdxVersion": "SPDX-2.3", "name": m.digest}).to_string();
            let tag = cosign::evidence_tag(&m.digest, "sbom");
            add_artifact(l, &tag, None, "text/spdx+json", &sbom)?;
            let tag = format!("{name}-referrer");
            add_artifact(l, &tag, Some(m), SPDX, &sbom)
        }
        _ => Ok(()),
    }
}

/// A `.sig` manifest as `cosign sign --key` writes it.
fn add_sig(l: &mut Layout, key: &SigningKey, m: &Descriptor, name: &str) -> io::Result<()> {
    let payload = cosign::simple_signing_payload(&m.digest, name);
    let layer = SigLayer {
        signature: sign(key, &payload),
        payload,
        bundle: None,
        certificate: None,
        chain: None,
    };
    let p = l.add_blob(cosign::SIMPLESIGNING, &layer.payload)?;
    let config = l.add_blob(
        "application/vnd.oci.image.config.v1+json",
        &cosign::sig_config(std::slice::from_ref(&p.digest)),
    )?;
    let manifest = cosign::sig_manifest((&config.digest, config.size), &[(&layer, p.digest)]);
    let d = l.add_blob(airlock::model::media::OCI_MANIFEST, &manifest)?;
    l.tag(&cosign::evidence_tag(&m.digest, "sig"), &d);
    Ok(())
}

/// A one-layer artifact manifest named `tag`; with `subject`, an OCI 1.1
/// referrer of it (empty config, `artifactType`).
fn add_artifact(
    l: &mut Layout,
    tag: &str,
    subject: Option<&Descriptor>,
    layer_type: &str,
    content: &str,
) -> io::Result<()> {
    let layer = l.add_blob(layer_type, content.as_bytes())?;
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": airlock::model::media::OCI_MANIFEST,
        "layers": [{"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}],
    });
    let config = match subject {
        Some(s) => {
            manifest["artifactType"] = json!(layer_type);
            manifest["subject"] =
                json!({"mediaType": s.media_type, "digest": s.digest, "size": s.size});
            l.add_blob(OCI_EMPTY, b"{}")?
        }
        None => l.add_blob(
            "application/vnd.oci.image.config.v1+json",
            &cosign::sig_config(std::slice::from_ref(&layer.digest)),
        )?,
    };
    manifest["config"] =
        json!({"mediaType": config.media_type, "digest": config.digest, "size": config.size});
    let d = l.add_blob(
        airlock::model::media::OCI_MANIFEST,
        &serde_json::to_vec(&manifest)?,
    )?;
    l.tag(tag, &d);
    Ok(())
}

/// ECDSA-SHA256 with an RFC 6979 nonce: the same bytes every run.
fn sign(key: &SigningKey, data: &[u8]) -> String {
    let sig: DerSignature = key.sign(data);
    STANDARD.encode(sig.as_bytes())
}

/// A P-256 key derived from `seed`, so layouts are reproducible.
pub fn key_for(seed: u64) -> io::Result<SigningKey> {
    let scalar = Sha256::digest(format!("airlock-many key {seed}").as_bytes());
    SigningKey::from_slice(&scalar).map_err(|e| io::Error::other(format!("derive key: {e}")))
}

/// `repo:tag` → `repo:tag-i`; `repo` → `repo:i` (a `:` before the last `/` is a port).
pub fn numbered(reference: &str, i: u64) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if last.contains(':') {
        format!("{reference}-{i}")
    } else {
        format!("{reference}:{i}")
    }
}
