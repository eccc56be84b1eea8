//! Publishing test content to a real registry the way `docker push` and
//! `cosign sign` do: blobs, then manifests by their exact bytes (so digests
//! are kept), then tags; cosign `.sig`/`.sbom` tags and OCI 1.1 referrers
//! (with the referrers tag-schema index, for registries without the API).
//!
//! Used by `airlock-mkimage publish` (the demo's publisher) and by the
//! end-to-end tests; blocking wrappers over `oci-client`.

use std::io;
use std::path::Path;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde_json::{json, Value};

use super::cosign::{self, SigLayer};
use airlock::model::Digest;

use airlock::model::media::{OCI_INDEX, OCI_MANIFEST};
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

fn other(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

/// How to reach the registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryTarget {
    /// `host[:port]`.
    pub host: String,
    /// Plain HTTP instead of TLS.
    pub insecure: bool,
    /// Extra CA certificate (PEM) to trust.
    pub ca_pem: Option<Vec<u8>>,
    /// Basic-auth user and password.
    pub credentials: Option<(String, String)>,
}

/// Pushes raw content with oci-client.
pub struct Publisher {
    rt: tokio::runtime::Runtime,
    /// Repositories already logged in to for push (once each, not per request).
    logged_in: std::cell::RefCell<std::collections::HashSet<String>>,
    client: Client,
    auth: RegistryAuth,
    pub host: String,
}

impl Publisher {
    pub fn connect(target: &RegistryTarget) -> io::Result<Self> {
        let mut cfg = ClientConfig {
            protocol: if target.insecure {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            ..ClientConfig::default()
        };
        if let Some(pem) = &target.ca_pem {
            cfg.extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data: pem.clone(),
            });
        }
        let auth = match &target.credentials {
            Some((u, p)) => RegistryAuth::Basic(u.clone(), p.clone()),
            None => RegistryAuth::Anonymous,
        };
        Ok(Publisher {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            logged_in: Default::default(),
            client: Client::new(cfg),
            auth,
            host: target.host.clone(),
        })
    }

    fn reference(&self, repo: &str, tag_or_digest: &str) -> Reference {
        if tag_or_digest.starts_with("sha256:") {
            Reference::with_digest(self.host.clone(), repo.into(), tag_or_digest.into())
        } else {
            Reference::with_tag(self.host.clone(), repo.into(), tag_or_digest.into())
        }
    }

    fn authed(&self, r: &Reference) -> io::Result<()> {
        if self.logged_in.borrow().contains(r.repository()) {
            return Ok(());
        }
        self.rt
            .block_on(self.client.auth(r, &self.auth, RegistryOperation::Push))
            .map_err(|e| other(&format!("log in to {}", self.host), e))?;
        self.logged_in
            .borrow_mut()
            .insert(r.repository().to_string());
        Ok(())
    }

    pub fn blob(&self, repo: &str, bytes: &[u8]) -> io::Result<Digest> {
        let d = Digest::of(bytes);
        let r = self.reference(repo, "latest");
        self.authed(&r)?;
        self.rt
            .block_on(self.client.push_blob(&r, bytes.to_vec(), &d.to_string()))
            .map_err(|e| other(&format!("push blob {d} to {repo}"), e))?;
        Ok(d)
    }

    /// Push a manifest or index under a tag, or by digest with `None`.
    pub fn manifest(
        &self,
        repo: &str,
        tag: Option<&str>,
        bytes: &[u8],
        media_type: &str,
    ) -> io::Result<Digest> {
        let d = Digest::of(bytes);
        let r = self.reference(repo, tag.unwrap_or(&d.to_string()));
        self.authed(&r)?;
        let mt = media_type
            .parse()
            .map_err(|e| other(&format!("media type {media_type}"), e))?;
        self.rt
            .block_on(self.client.push_manifest_raw(&r, bytes.to_vec(), mt))
            .map_err(|e| other(&format!("push manifest {d} to {repo}"), e))?;
        Ok(d)
    }

    /// Push an OCI layout's manifest or index and everything below it; the
    /// tag (if any) goes on last.
    pub fn push_layout(
        &self,
        layout: &Path,
        digest: &str,
        media_type: &str,
        repo: &str,
        tag: Option<&str>,
    ) -> io::Result<Digest> {
        let blob = |d: &str| {
            let p = layout
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:"));
            std::fs::read(&p).map_err(|e| other(&p.display().to_string(), e))
        };
        let bytes = blob(digest)?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| other(digest, e))?;
        let field = |v: &Value, k: &str| {
            v[k].as_str()
                .map(str::to_owned)
                .ok_or_else(|| other(digest, format!("descriptor without {k}")))
        };
        if let Some(ms) = v["manifests"].as_array() {
            for m in ms {
                self.push_layout(
                    layout,
                    &field(m, "digest")?,
                    &field(m, "mediaType")?,
                    repo,
                    None,
                )?;
            }
        } else {
            let mut parts = vec![v["config"].clone()];
            parts.extend(v["layers"].as_array().cloned().unwrap_or_default());
            for p in parts {
                self.blob(repo, &blob(&field(&p, "digest")?)?)?;
            }
        }
        self.manifest(repo, tag, &bytes, media_type)
    }

    /// A cosign `.sig` for `subject` holding `layers`, under `sha256-<hex>.sig`.
    pub fn cosign_signature(
        &self,
        repo: &str,
        subject: &Digest,
        layers: &[SigLayer],
    ) -> io::Result<Digest> {
        let mut pushed = Vec::new();
        for l in layers {
            pushed.push((l, self.blob(repo, &l.payload)?.to_string()));
        }
        let digests: Vec<String> = pushed.iter().map(|(_, d)| d.clone()).collect();
        let config = cosign::sig_config(&digests);
        let config_d = self.blob(repo, &config)?;
        let manifest = cosign::sig_manifest((&config_d.to_string(), config.len() as u64), &pushed);
        let tag = cosign::evidence_tag(&subject.to_string(), "sig");
        self.manifest(repo, Some(&tag), &manifest, OCI_MANIFEST)
    }

    /// A cosign `.att` for `subject`: one DSSE envelope layer with the
    /// annotations cosign writes (an empty signature annotation, the
    /// predicate type, and the legacy Rekor bundle when logged).
    pub fn cosign_attestation(
        &self,
        repo: &str,
        subject: &Digest,
        envelope: &[u8],
        predicate_type: &str,
        rekor_bundle: Option<&str>,
    ) -> io::Result<Digest> {
        let mut ann = json!({
            cosign::ANNOTATION_SIGNATURE: "",
            "predicateType": predicate_type,
        });
        if let Some(b) = rekor_bundle {
            ann[cosign::ANNOTATION_BUNDLE] = json!(b);
        }
        self.artifact(
            repo,
            Some(&cosign::evidence_tag(&subject.to_string(), "att")),
            Artifact {
                subject: None,
                artifact_type: None,
                layer_type: cosign::DSSE_ENVELOPE,
                content: envelope,
                annotations: Some(ann),
            },
        )
    }

    /// A cosign `.sbom` (SPDX JSON) for `subject`.
    pub fn cosign_sbom(&self, repo: &str, subject: &Digest) -> io::Result<Digest> {
        let sbom = json!({"spdxVersion": "SPDX-2.3", "name": subject.to_string()}).to_string();
        self.artifact(
            repo,
            Some(&cosign::evidence_tag(&subject.to_string(), "sbom")),
            Artifact {
                subject: None,
                artifact_type: None,
                layer_type: "text/spdx+json",
                content: sbom.as_bytes(),
                annotations: None,
            },
        )
    }

    /// An OCI 1.1 referrer of `subject` (digest, media type, size) with
    /// `artifact_type`, pushed by digest and listed in the referrers
    /// tag-schema index `sha256-<hex>`, which is rewritten to hold `listed`
    /// (every referrer pushed through here so far) plus this one.
    pub fn referrer(
        &self,
        repo: &str,
        subject: (&Digest, &str, u64),
        artifact_type: &str,
        content: &[u8],
        listed: &mut Vec<Value>,
    ) -> io::Result<Digest> {
        let (d, size) = self.artifact_with_size(
            repo,
            None,
            Artifact {
                subject: Some(subject),
                artifact_type: Some(artifact_type),
                layer_type: artifact_type,
                content,
                annotations: None,
            },
        )?;
        listed.push(json!({
            "mediaType": OCI_MANIFEST,
            "digest": d.to_string(),
            "size": size,
            "artifactType": artifact_type,
        }));
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": listed,
        })
        .to_string();
        let tag = format!("sha256-{}", subject.0.hex());
        self.manifest(repo, Some(&tag), index.as_bytes(), OCI_INDEX)?;
        Ok(d)
    }

    fn artifact(&self, repo: &str, tag: Option<&str>, a: Artifact<'_>) -> io::Result<Digest> {
        self.artifact_with_size(repo, tag, a).map(|(d, _)| d)
    }

    fn artifact_with_size(
        &self,
        repo: &str,
        tag: Option<&str>,
        a: Artifact<'_>,
    ) -> io::Result<(Digest, usize)> {
        let layer = self.blob(repo, a.content)?;
        let (config_type, config) = if a.artifact_type.is_some() {
            (OCI_EMPTY, b"{}".to_vec())
        } else {
            (
                "application/vnd.oci.image.config.v1+json",
                cosign::sig_config(&[layer.to_string()]),
            )
        };
        let config_d = self.blob(repo, &config)?;
        let mut layer_desc = json!({"mediaType": a.layer_type, "digest": layer.to_string(), "size": a.content.len()});
        if let Some(ann) = a.annotations {
            layer_desc["annotations"] = ann;
        }
        let mut m = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": config_type, "digest": config_d.to_string(), "size": config.len()},
            "layers": [layer_desc],
        });
        if let Some(at) = a.artifact_type {
            m["artifactType"] = json!(at);
        }
        if let Some((d, mt, size)) = a.subject {
            m["subject"] = json!({"mediaType": mt, "digest": d.to_string(), "size": size});
        }
        let bytes = m.to_string().into_bytes();
        let d = self.manifest(repo, tag, &bytes, OCI_MANIFEST)?;
        Ok((d, bytes.len()))
    }
}

/// One single-layer artifact manifest to push.
struct Artifact<'a> {
    subject: Option<(&'a Digest, &'a str, u64)>,
    artifact_type: Option<&'a str>,
    layer_type: &'a str,
    content: &'a [u8],
    annotations: Option<Value>,
}
