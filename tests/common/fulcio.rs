//! Forging keyless (Fulcio) cosign evidence with test keys: a Fulcio-like CA
//! and a CT log placed in a test trusted root, leaf certificates in the
//! Fulcio profile (empty subject, critical SAN with the identity, code-signing
//! EKU, the OIDC issuer in both Fulcio extensions, one embedded precert SCT
//! signed by the CT log), hashedrekord bodies naming the certificate with a
//! SET by the test Rekor key, and the `.sig` manifest with cosign's
//! certificate and chain annotations.
//!
//! Certificates are built from `x509-cert` types and signed with `p256`, so
//! every byte is under the test's control (validity windows in particular).

use std::str::FromStr;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use p256::ecdsa::{signature::Signer as _, DerSignature, SigningKey};
use sha2::{Digest as _, Sha256};
use x509_cert::der::asn1::{BitString, Ia5String, OctetString, UtcTime, Utf8StringRef};
use x509_cert::der::oid::{AssociatedOid, ObjectIdentifier};
use x509_cert::der::{Decode, Encode, EncodePem};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

use super::forge::{log_id, sign, spki};

const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// Fulcio's OIDC issuer extensions: raw UTF-8 (legacy) and DER UTF8String.
const FULCIO_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
const FULCIO_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// RFC 6962 embedded SCT list.
const CT_PRECERT_SCTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// 2020-01-01T00:00:00Z and 2040-01-01T00:00:00Z: the CA's validity.
const CA_NOT_BEFORE: i64 = 1_577_836_800;
const CA_NOT_AFTER: i64 = 2_208_988_800;

/// A Fulcio-like certificate authority and the CT log that timestamps its
/// certificates.
pub struct Fulcio {
    ca_key: SigningKey,
    ca_subject: Name,
    ca_der: Vec<u8>,
    ct_key: SigningKey,
}

/// What a leaf certificate asserts and when it is valid (Unix seconds).
pub struct Leaf<'a> {
    /// SAN: a URI when it contains `://`, else an email address.
    pub identity: &'a str,
    /// OIDC issuer (Fulcio extensions 1.1 and 1.8).
    pub issuer: &'a str,
    pub not_before: i64,
    pub not_after: i64,
}

fn time(t: i64) -> Time {
    Time::UtcTime(UtcTime::from_unix_duration(Duration::from_secs(t as u64)).unwrap())
}

fn ext(oid: ObjectIdentifier, critical: bool, value_der: Vec<u8>) -> Extension {
    Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value_der).unwrap(),
    }
}

fn typed<T: AssociatedOid + Encode>(critical: bool, value: &T) -> Extension {
    ext(T::OID, critical, value.to_der().unwrap())
}

fn public_key_info(k: &SigningKey) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned::from_der(&spki(k)).unwrap()
}

fn algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ECDSA_WITH_SHA256,
        parameters: None,
    }
}

/// Sign `tbs` with `key` (ECDSA P-256, SHA-256): the DER certificate.
fn signed(tbs: TbsCertificate, key: &SigningKey) -> Vec<u8> {
    let sig: DerSignature = key.sign(&tbs.to_der().unwrap());
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: algorithm(),
        signature: BitString::from_bytes(sig.as_bytes()).unwrap(),
    }
    .to_der()
    .unwrap()
}

impl Fulcio {
    pub fn new() -> Self {
        let ca_key = super::forge::key();
        let ca_subject = Name::from_str("CN=fulcio.test,O=airlock-test").unwrap();
        let tbs = TbsCertificate {
            version: Version::V3,
            serial_number: SerialNumber::new(&[0x01]).unwrap(),
            signature: algorithm(),
            issuer: ca_subject.clone(),
            validity: Validity {
                not_before: time(CA_NOT_BEFORE),
                not_after: time(CA_NOT_AFTER),
            },
            subject: ca_subject.clone(),
            subject_public_key_info: public_key_info(&ca_key),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(vec![
                typed(
                    true,
                    &BasicConstraints {
                        ca: true,
                        path_len_constraint: Some(1),
                    },
                ),
                typed(true, &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)),
            ]),
        };
        let ca_der = signed(tbs, &ca_key);
        Fulcio {
            ca_key,
            ca_subject,
            ca_der,
            ct_key: super::forge::key(),
        }
    }

    /// The same CA whose certificates carry SCTs from another CT log (one
    /// this CA's trust root does not name).
    pub fn with_other_ct_log(&self) -> Self {
        Fulcio {
            ca_key: self.ca_key.clone(),
            ca_subject: self.ca_subject.clone(),
            ca_der: self.ca_der.clone(),
            ct_key: super::forge::key(),
        }
    }

    pub fn ca_pem(&self) -> String {
        cert_pem(&self.ca_der)
    }

    /// A leaf certificate for `key` in the Fulcio profile, with an embedded
    /// SCT (timestamped at `not_before`) from this CA's CT log.
    pub fn leaf(&self, key: &SigningKey, leaf: &Leaf) -> Vec<u8> {
        let san = if leaf.identity.contains("://") {
            GeneralName::UniformResourceIdentifier(Ia5String::new(leaf.identity).unwrap())
        } else {
            GeneralName::Rfc822Name(Ia5String::new(leaf.identity).unwrap())
        };
        let mut serial = Sha256::digest(leaf.identity.as_bytes())[..16].to_vec();
        serial[0] &= 0x7f; // positive
        let mut tbs = TbsCertificate {
            version: Version::V3,
            serial_number: SerialNumber::new(&serial).unwrap(),
            signature: algorithm(),
            issuer: self.ca_subject.clone(),
            validity: Validity {
                not_before: time(leaf.not_before),
                not_after: time(leaf.not_after),
            },
            // Fulcio leaves have an empty subject; the identity is the SAN.
            subject: Name::default(),
            subject_public_key_info: public_key_info(key),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(vec![
                typed(true, &KeyUsage(KeyUsages::DigitalSignature.into())),
                typed(false, &ExtendedKeyUsage(vec![CODE_SIGNING])),
                typed(true, &SubjectAltName(vec![san])),
                ext(FULCIO_ISSUER_V1, false, leaf.issuer.as_bytes().to_vec()),
                ext(
                    FULCIO_ISSUER_V2,
                    false,
                    Utf8StringRef::new(leaf.issuer).unwrap().to_der().unwrap(),
                ),
            ]),
        };
        // The precertificate is the final TBS without the SCT extension,
        // which is exactly this TBS: the SCT list is appended last.
        let sct = self.sct(&tbs.to_der().unwrap(), leaf.not_before);
        let list = OctetString::new(sct).unwrap().to_der().unwrap();
        if let Some(exts) = tbs.extensions.as_mut() {
            exts.push(ext(CT_PRECERT_SCTS, false, list));
        }
        signed(tbs, &self.ca_key)
    }

    /// The TLS-encoded `SignedCertificateTimestampList` holding one SCT (RFC
    /// 6962 §3.2–3.3) over the precertificate `tbs`, issued at `at`.
    fn sct(&self, precert_tbs: &[u8], at: i64) -> Vec<u8> {
        let timestamp = (at as u64) * 1000;
        let mut signed_data = vec![0u8, 0u8]; // v1, certificate_timestamp
        signed_data.extend_from_slice(&timestamp.to_be_bytes());
        signed_data.extend_from_slice(&1u16.to_be_bytes()); // precert_entry
        signed_data.extend_from_slice(&Sha256::digest(spki(&self.ca_key)));
        signed_data.extend_from_slice(&(precert_tbs.len() as u32).to_be_bytes()[1..]);
        signed_data.extend_from_slice(precert_tbs);
        signed_data.extend_from_slice(&0u16.to_be_bytes()); // no extensions
        let sig: DerSignature = self.ct_key.sign(&signed_data);

        let mut sct = vec![0u8]; // v1
        sct.extend_from_slice(&log_id(&self.ct_key));
        sct.extend_from_slice(&timestamp.to_be_bytes());
        sct.extend_from_slice(&0u16.to_be_bytes());
        sct.extend_from_slice(&[4, 3]); // sha256, ecdsa
        sct.extend_from_slice(&(sig.as_bytes().len() as u16).to_be_bytes());
        sct.extend_from_slice(sig.as_bytes());
        let mut list = ((sct.len() + 2) as u16).to_be_bytes().to_vec();
        list.extend_from_slice(&(sct.len() as u16).to_be_bytes());
        list.extend_from_slice(&sct);
        list
    }

    /// A trusted root with this CA, its CT log, and `rekor` as the only
    /// transparency log.
    pub fn trust_root_json(&self, rekor: &SigningKey) -> String {
        let log = super::forge::log_json;
        serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(rekor, "https://rekor.invalid")],
            "certificateAuthorities": [{
                "subject": { "organization": "airlock-test", "commonName": "fulcio.test" },
                "uri": "https://fulcio.invalid",
                "certChain": { "certificates": [{ "rawBytes": STANDARD.encode(&self.ca_der) }] },
                "validFor": { "start": "2020-01-01T00:00:00Z" }
            }],
            "ctlogs": [log(&self.ct_key, "https://ctfe.invalid")],
            "timestampAuthorities": []
        })
        .to_string()
    }
}

pub fn cert_pem(der: &[u8]) -> String {
    Certificate::from_der(der)
        .unwrap()
        .to_pem(x509_cert::der::pem::LineEnding::LF)
        .unwrap()
}

/// One keyless `.sig` layer: payload, signature, certificate, chain, SET.
pub struct KeylessLayer {
    pub payload: Vec<u8>,
    pub signature: String,
    pub certificate: String,
    pub chain: String,
    pub bundle: String,
}

/// A keyless signature by `signer` (certified by `fulcio` as `leaf`) over
/// cosign's payload for `digest`/`reference`, logged by `rekor` at
/// `(log_index, integrated_time)`.
pub fn keyless_layer(
    fulcio: &Fulcio,
    signer: &SigningKey,
    leaf: &Leaf,
    rekor: &SigningKey,
    (digest, reference): (&str, &str),
    (log_index, integrated_time): (i64, i64),
) -> KeylessLayer {
    let payload = super::forge::payload(digest, reference);
    let signature = sign(signer, &payload);
    let certificate = cert_pem(&fulcio.leaf(signer, leaf));
    // The body names the certificate, as for keyless signatures.
    let log = (log_index, integrated_time);
    let bundle = super::forge::rekor_bundle_naming(&certificate, rekor, &payload, &signature, log);
    KeylessLayer {
        payload,
        signature,
        certificate,
        chain: fulcio.ca_pem(),
        bundle,
    }
}

/// Write the cosign `.sig` manifest for `layers` (with cosign's
/// certificate, chain and bundle annotations) and tag it
/// `sha256-<hex>.sig` for `subject`.
pub fn add_keyless_sig_manifest(
    layout: &mut airlock_testkit::Layout,
    subject: &str,
    layers: &[KeylessLayer],
) {
    let layers: Vec<super::forge::SigLayer> = layers
        .iter()
        .map(|l| super::forge::SigLayer {
            payload: l.payload.clone(),
            signature: l.signature.clone(),
            bundle: Some(l.bundle.clone()),
            certificate: Some(l.certificate.clone()),
            chain: Some(l.chain.clone()),
        })
        .collect();
    super::forge::add_sig_manifest(layout, subject, &layers);
}
