//! The policy file parser (`--policy FILE`, versions 1 and 2). Every `path`
//! key is answered with a fixed valid public key so parsing goes past it.
//! Invariant: whatever parses as a set of rules also lists its key paths,
//! and a version-1 document parses the same way through both entry points.

use std::collections::BTreeMap;

use airlock::trust::policy_file::{PolicyRules, TrustPolicy};

const KEY: &str = include_str!("../../docs/examples/keys/alice.pub");

pub fn check(data: &[u8]) {
    let Ok(paths) = TrustPolicy::key_paths(data) else {
        assert!(PolicyRules::from_json_with_key_files(data, &BTreeMap::new()).is_err());
        return;
    };
    let files: BTreeMap<String, Vec<u8>> = paths
        .into_iter()
        .map(|p| (p, KEY.as_bytes().to_vec()))
        .collect();
    let rules = PolicyRules::from_json_with_key_files(data, &files);
    if let Ok(rules) = &rules {
        assert!(!rules.rules.is_empty(), "a policy with no rule");
    }
    let v1 = TrustPolicy::from_json_with_key_files(data, &files);
    if v1.is_ok() {
        let rules = rules.expect("a version-1 policy refused as rules");
        assert_eq!(rules.version, 1);
        assert_eq!(rules.rules.len(), 1);
    }
}
