//! Public keys given by the operator (cosign `--key`), parsed once.

use super::error::TrustError;
use super::limits::MAX_PEM;
use sigstore_verify::crypto::{KeyAlgorithm, SigningScheme};
use sigstore_verify::types::DerPublicKey;

/// A validated signing public key: a PEM `PUBLIC KEY` (SubjectPublicKeyInfo)
/// of a kind cosign uses: ECDSA P-256 / P-384, Ed25519 or RSA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    der: DerPublicKey,
    algorithm: KeyAlgorithm,
}

impl PublicKey {
    /// Parse a PEM-encoded `PUBLIC KEY` block.
    pub fn from_pem(pem: &[u8]) -> Result<Self, TrustError> {
        if pem.len() > MAX_PEM {
            return Err(TrustError::TooLarge {
                what: "public key",
                size: pem.len(),
                limit: MAX_PEM,
            });
        }
        let text = std::str::from_utf8(pem).map_err(|_| TrustError::MalformedPem {
            what: "public key",
            reason: "not UTF-8".into(),
        })?;
        let der = DerPublicKey::from_pem(text).map_err(|e| TrustError::MalformedPem {
            what: "public key",
            reason: e.to_string(),
        })?;
        Self::from_der(der)
    }

    pub(crate) fn from_der(der: DerPublicKey) -> Result<Self, TrustError> {
        let algorithm =
            KeyAlgorithm::from_spki(&der).map_err(|e| TrustError::UnsupportedKey(e.to_string()))?;
        match algorithm {
            KeyAlgorithm::EcdsaP256
            | KeyAlgorithm::EcdsaP384
            | KeyAlgorithm::Ed25519
            | KeyAlgorithm::Rsa => Ok(PublicKey { der, algorithm }),
            other => Err(TrustError::UnsupportedKey(format!(
                "{other:?} keys are not accepted for cosign signatures"
            ))),
        }
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn der(&self) -> &[u8] {
        self.der.as_bytes()
    }

    /// `sha256:<hex>` of the DER SubjectPublicKeyInfo, how messages name it.
    pub fn fingerprint(&self) -> String {
        super::signer::fingerprint(self.der())
    }

    /// The key algorithm, e.g. `EcdsaP256`.
    pub fn algorithm_name(&self) -> String {
        format!("{:?}", self.algorithm)
    }

    pub(crate) fn sigstore(&self) -> &DerPublicKey {
        &self.der
    }

    /// The scheme cosign uses with this key when it signs a payload.
    pub(crate) fn default_scheme(&self) -> SigningScheme {
        self.algorithm.default_signing_scheme()
    }
}
