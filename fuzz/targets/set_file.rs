//! The `pack --set` YAML file. File artifacts are looked up in an empty
//! directory, so only the document decides. Invariants: the policy an
//! accepted set builds from its entries is well-formed (its mistakes were
//! named by line when the set loaded), and when the policy loader, which
//! pack runs next, refuses a rule's meaning (e.g. an identity without an
//! issuer), its message names the entry by its reference, not by a
//! position the operator cannot see.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use airlock::cli::set_file;
use airlock::trust::policy_file::{PolicyRules, TrustPolicy};

const KEY: &str = include_str!("../../docs/examples/keys/alice.pub");

fn empty_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}

pub fn check(data: &[u8]) {
    let Ok(set) = set_file::parse(&empty_dir().join("set.yaml"), data) else {
        return;
    };
    if let Some(policy) = &set.policy {
        let files: BTreeMap<String, Vec<u8>> = TrustPolicy::key_paths(policy)
            .expect("the built policy names its keys")
            .into_iter()
            .map(|p| (p, KEY.as_bytes().to_vec()))
            .collect();
        if let Err(e) = PolicyRules::from_json_with_key_files(policy, &files) {
            let msg = e.to_string();
            assert!(
                msg.contains("rule \"") && !msg.contains("rules["),
                "the built policy is refused without naming its entry: {msg}"
            );
        }
    }
}
