//! Docker Content Trust verification of a raw `notary-trust` document
//! under a root the real Notary wrote (testdata/notary). Invariant: a
//! document is accepted only for the pinned GUN and the claimed tag, with at
//! least one signing role, and never with metadata expired at fetch time.

use airlock::model::Digest;
use airlock::trust::notary::{verify_document, TargetClaim};

const ROOT: &[u8] = include_bytes!("../../testdata/notary/app/root.1.json");
const V1: &[u8] = include_bytes!("../../testdata/notary/v1.json");
const GUN: &str = "registry.test/app";

pub fn check(data: &[u8]) {
    let claim = TargetClaim {
        tag: "v1",
        sha256: *Digest::of(V1).as_bytes(),
        length: V1.len() as u64,
    };
    let Ok(v) = verify_document(ROOT, data, GUN, &claim) else {
        return;
    };
    assert_eq!(v.gun, GUN);
    assert_eq!(v.tag, "v1");
    assert!(!v.roles.is_empty(), "accepted without a signing role");
    assert!(v.expires > v.fetched_at, "accepted expired metadata");
}
