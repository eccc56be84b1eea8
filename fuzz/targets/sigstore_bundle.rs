//! Structure-aware: the Sigstore conformance suite's v0.3 happy-path bundle
//! (../shared/fixtures, production trust root) with 1 to 4 of its JSON
//! fields mutated as the input decides (`arbitrary`): a string replaced, a
//! base64 field's decoded bytes flipped, cut or extended, a number moved, a
//! field dropped, an array element dropped or repeated. Invariants: the
//! original verifies; a mutated bundle that still verifies names the same
//! signer identity, issuer, signing key and log index (no edit may change
//! who signed what), and one that changed any of them is refused.

use std::sync::OnceLock;

use serde_json::Value;

// Each fuzz binary holds one target; the replay test holds them all.
#[allow(clippy::duplicate_mod)]
#[path = "json_mutation.rs"]
mod json_mutation;
use json_mutation::Step;

use airlock::trust::{self, Artifact, IdentityPolicy, Signer, TrustRoot, VerifiedBundle};

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

struct Base {
    bundle: Value,
    artifact: Vec<u8>,
    policy: Signer,
    trust: TrustRoot,
    /// Paths (object keys and array indexes) of every leaf and container.
    paths: Vec<Vec<Step>>,
    verified: Summary,
}

#[derive(Debug, PartialEq)]
struct Summary {
    identity: Option<String>,
    issuer: Option<String>,
    key: Vec<u8>,
    log_index: Option<u64>,
}

fn summary(v: &VerifiedBundle) -> Summary {
    Summary {
        identity: v.identity().map(str::to_string),
        issuer: v.issuer().map(str::to_string),
        key: v.signing_key().to_vec(),
        log_index: v.log_index(),
    }
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let conf = json_mutation::fixtures().join("conformance");
        let bytes = std::fs::read(conf.join("happy-path-v0.3/bundle.sigstore.json"))
            .expect("the happy-path-v0.3 bundle");
        let bundle: Value = serde_json::from_slice(&bytes).expect("the bundle is JSON");
        let artifact = std::fs::read(conf.join("a.txt")).expect("the conformance artifact");
        let policy =
            Signer::Identity(IdentityPolicy::new(IDENTITY, ISSUER).expect("the identity policy"));
        let trust = TrustRoot::production().expect("the production trust root");
        let verified = trust::verify_bundle(&bytes, Artifact::Bytes(&artifact), &policy, &trust)
            .expect("the unmutated bundle verifies");
        let paths = json_mutation::paths(&bundle);
        Base {
            verified: summary(&verified),
            bundle,
            artifact,
            policy,
            trust,
            paths,
        }
    })
}

pub fn check(data: &[u8]) {
    let base = base();
    let doc = json_mutation::mutated(data, &base.bundle, &base.paths);
    let Ok(bytes) = serde_json::to_vec(&doc) else {
        return;
    };
    let result = trust::verify_bundle(
        &bytes,
        Artifact::Bytes(&base.artifact),
        &base.policy,
        &base.trust,
    );
    if let Ok(v) = result {
        assert_eq!(
            summary(&v),
            base.verified,
            "a mutated bundle verified as another signing"
        );
    }
}
