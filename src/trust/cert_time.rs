//! Naming the real reason when a keyless certificate was used outside its
//! validity window.
//!
//! sigstore-verify builds the certificate chain with webpki at each verified
//! signing time, and webpki checks the leaf's validity while doing so. A
//! certificate that had expired (or was not yet valid) at the Rekor entry's
//! integrated time is therefore refused as an opaque chain error
//! (`CertExpired { time: UnixTime(…), … }`), before sigstore-verify's own
//! `Expired` / `NotYetValid` check is reached. This module turns such a
//! refusal back into the time error it is. It never turns a refusal into an
//! acceptance: it only runs on an error.

use sigstore_verify::types::{Bundle, KindVersion};
use sigstore_verify::CertificateError;

/// `err` as sigstore-verify returned it for `bundle`; a chain error becomes
/// `Expired` / `NotYetValid` when the leaf's validity does not cover the
/// entry's integrated time. That time is authenticated at this point:
/// sigstore-verify verifies the SET (and fails with a SET or timestamp error)
/// before it builds the chain at that time.
pub(crate) fn explain(err: sigstore_verify::Error, bundle: &Bundle) -> sigstore_verify::Error {
    if !matches!(
        err,
        sigstore_verify::Error::Certificate(CertificateError::ChainInvalid(_))
    ) {
        return err;
    }
    let Some(info) = bundle
        .signing_certificate()
        .and_then(|c| sigstore_verify::crypto::parse_certificate_info(c).ok())
    else {
        return err;
    };
    let set_times = bundle
        .verification_material
        .tlog_entries
        .iter()
        .filter(|e| e.inclusion_promise.is_some())
        .filter(|e| {
            matches!(
                e.kind_version,
                KindVersion::HashedRekordV001 | KindVersion::DsseV001 | KindVersion::IntotoV002
            )
        })
        .filter_map(|e| e.integrated_time);
    for time in set_times {
        if time > info.not_after {
            return CertificateError::Expired {
                time,
                not_after: info.not_after,
            }
            .into();
        }
        if time < info.not_before {
            return CertificateError::NotYetValid {
                time,
                not_before: info.not_before,
            }
            .into();
        }
    }
    err
}
