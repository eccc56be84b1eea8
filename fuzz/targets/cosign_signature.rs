//! `cosign download signature` documents (list, object or JSON lines),
//! with the base64 payload, signature and certificate fields behind them.
//! Invariant: each accepted signature's decoded payload is no larger than
//! the document it came from (a decoder that invents bytes is a bug).

use airlock::trust::cosign::CosignSignature;

pub fn check(data: &[u8]) {
    let Ok(sigs) = CosignSignature::from_download_json(data) else {
        return;
    };
    for s in &sigs {
        assert!(
            s.payload().len() <= data.len(),
            "payload larger than its base64"
        );
        let _ = s.chain_pem();
        let _ = s.rekor_bundle();
    }
}
