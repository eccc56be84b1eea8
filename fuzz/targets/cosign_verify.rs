//! Structure-aware: a real cosign signature of a Dangerzone image
//! (`cosign download signature` output with its Rekor bundle: SET, body,
//! log index, time; ../shared/fixtures) with 1 to 4 fields mutated as the
//! input decides, then parsed and verified with the publisher's key and the
//! production trust root (the Rekor key), as `verify` does. Invariants: the
//! original verifies; whatever still verifies is for the same image digest
//! and the same log index and integrated time (a mutated SET, payload or
//! body cannot move the signature to another image or another log entry).

use std::sync::OnceLock;

use serde_json::Value;

use airlock::trust::{
    verify_cosign_signature, CosignSignature, PublicKey, SignaturePolicy, Signer, TrustRoot,
};

// Each fuzz binary holds one target; the replay test holds them all.
#[allow(clippy::duplicate_mod)]
#[path = "json_mutation.rs"]
mod json_mutation;
use json_mutation::Step;

const DIGEST_HEX: &str = "19e8eacd75879d05f6621c2ea8dd955e68ee3e07b41b9d53f4c8cc9929a68a67";
const REFERENCE: &str = "ghcr.io/almet/dangerzone/dangerzone";

struct Base {
    doc: Value,
    paths: Vec<Vec<Step>>,
    policy: SignaturePolicy,
    trust: TrustRoot,
    /// (log index, integrated time) of each original signature.
    entries: Vec<(Option<u64>, Option<i64>)>,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let fx = json_mutation::fixtures().join("dangerzone");
        let bytes = std::fs::read(fx.join(format!("valid/{DIGEST_HEX}.json")))
            .expect("the Dangerzone signature");
        let pem = std::fs::read(fx.join("test.pub.key")).expect("the Dangerzone key");
        let policy = SignaturePolicy::new(Signer::Key(
            PublicKey::from_pem(&pem).expect("the Dangerzone key parses"),
        ));
        let trust = TrustRoot::production().expect("the production trust root");
        let sigs = CosignSignature::from_download_json(&bytes).expect("the signature parses");
        let entries = sigs
            .iter()
            .map(|s| {
                let v = verify_cosign_signature(
                    s,
                    &format!("sha256:{DIGEST_HEX}"),
                    Some(REFERENCE),
                    &policy,
                    &trust,
                )
                .expect("the original signature verifies");
                (v.log_index(), v.integrated_time())
            })
            .collect();
        let doc: Value = serde_json::from_slice(&bytes).expect("the signature is JSON");
        Base {
            paths: json_mutation::paths(&doc),
            doc,
            policy,
            trust,
            entries,
        }
    })
}

pub fn check(data: &[u8]) {
    let base = base();
    let doc = json_mutation::mutated(data, &base.doc, &base.paths);
    let Ok(bytes) = serde_json::to_vec(&doc) else {
        return;
    };
    let Ok(sigs) = CosignSignature::from_download_json(&bytes) else {
        return;
    };
    let digest = format!("sha256:{DIGEST_HEX}");
    for s in &sigs {
        if let Ok(v) =
            verify_cosign_signature(s, &digest, Some(REFERENCE), &base.policy, &base.trust)
        {
            assert_eq!(v.image_digest(), digest);
            assert!(
                base.entries.contains(&(v.log_index(), v.integrated_time())),
                "a mutated signature verified as log entry {:?} at {:?}",
                v.log_index(),
                v.integrated_time()
            );
        }
    }
}
