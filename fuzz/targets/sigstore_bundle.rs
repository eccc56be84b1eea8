//! Structure-aware: the Sigstore conformance suite's v0.3 happy-path bundle
//! (../shared/fixtures, production trust root) with 1 to 4 of its JSON
//! fields mutated as the input decides (`arbitrary`): a string replaced, a
//! base64 field's decoded bytes flipped, cut or extended, a number moved, a
//! field dropped, an array element dropped or repeated. Invariants: the
//! original verifies; a mutated bundle that still verifies names the same
//! signer identity, issuer, signing key and log index (no edit may change
//! who signed what), and one that changed any of them is refused.

use std::path::PathBuf;
use std::sync::OnceLock;

use arbitrary::{Result as ArbResult, Unstructured};
use base64::Engine as _;
use serde_json::Value;

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

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
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

/// `../shared/fixtures` from the repository root or from `fuzz/`.
fn fixtures() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        here.join("../shared/fixtures"),
        here.join("../../shared/fixtures"),
    ]
    .into_iter()
    .find(|p| p.is_dir())
    .expect("../shared/fixtures beside the repository (the bundle to mutate)")
}

fn collect(v: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                at.push(Step::Key(k.clone()));
                collect(child, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                at.push(Step::Index(i));
                collect(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let conf = fixtures().join("conformance");
        let bytes = std::fs::read(conf.join("happy-path-v0.3/bundle.sigstore.json"))
            .expect("the happy-path-v0.3 bundle");
        let bundle: Value = serde_json::from_slice(&bytes).expect("the bundle is JSON");
        let artifact = std::fs::read(conf.join("a.txt")).expect("the conformance artifact");
        let policy =
            Signer::Identity(IdentityPolicy::new(IDENTITY, ISSUER).expect("the identity policy"));
        let trust = TrustRoot::production().expect("the production trust root");
        let verified = trust::verify_bundle(&bytes, Artifact::Bytes(&artifact), &policy, &trust)
            .expect("the unmutated bundle verifies");
        let mut paths = Vec::new();
        collect(&bundle, &mut Vec::new(), &mut paths);
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

fn at_mut<'a>(v: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, step| match step {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

fn mutate(u: &mut Unstructured, doc: &mut Value, paths: &[Vec<Step>]) -> ArbResult<()> {
    let path = u.choose(paths)?;
    let Some(v) = at_mut(doc, path) else {
        return Ok(());
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    match u.int_in_range(0..=6)? {
        0 => *v = Value::String(u.arbitrary::<String>()?),
        1 => {
            if let Some(mut bytes) = v.as_str().and_then(|s| b64.decode(s).ok()) {
                if !bytes.is_empty() {
                    let i = u.choose_index(bytes.len())?;
                    bytes[i] ^= u.int_in_range(1..=255)?;
                }
                *v = Value::String(b64.encode(bytes));
            }
        }
        2 => {
            if let Some(bytes) = v.as_str().and_then(|s| b64.decode(s).ok()) {
                let keep = u.choose_index(bytes.len() + 1)?;
                let mut bytes = bytes[..keep].to_vec();
                bytes.extend(u.arbitrary::<Vec<u8>>()?);
                *v = Value::String(b64.encode(bytes));
            }
        }
        3 => {
            *v = match v {
                Value::Number(_) => Value::from(u.arbitrary::<i64>()?),
                Value::String(s) if s.parse::<i64>().is_ok() => {
                    Value::String(u.arbitrary::<i64>()?.to_string())
                }
                _ => Value::Bool(u.arbitrary()?),
            }
        }
        4 => *v = Value::Null,
        5 => {
            if let Value::Array(a) = v {
                if !a.is_empty() {
                    let i = u.choose_index(a.len())?;
                    a.remove(i);
                }
            }
        }
        _ => {
            if let Value::Array(a) = v {
                if !a.is_empty() {
                    let i = u.choose_index(a.len())?;
                    let copy = a[i].clone();
                    a.push(copy);
                }
            } else if let Value::Object(m) = v {
                if !m.is_empty() {
                    let i = u.choose_index(m.len())?;
                    let key = m.keys().nth(i).cloned().unwrap_or_default();
                    m.remove(&key);
                }
            }
        }
    }
    Ok(())
}

pub fn check(data: &[u8]) {
    let base = base();
    let mut u = Unstructured::new(data);
    let mut doc = base.bundle.clone();
    let Ok(n) = u.int_in_range(1..=4u8) else {
        return;
    };
    for _ in 0..n {
        if mutate(&mut u, &mut doc, &base.paths).is_err() {
            break;
        }
    }
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
