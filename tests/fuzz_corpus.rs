//! Replays the committed fuzz corpus (fuzz/corpus/<target>/) through the
//! same checking functions the fuzz targets run, on the stable toolchain and
//! without a fuzzing engine: a parser regression on any input the fuzzer
//! once found interesting fails `make test`. Run the fuzzer: `make fuzz`.

mod common;

use std::path::Path;

#[path = "../fuzz/targets/archive_reader.rs"]
mod archive_reader;
#[path = "../fuzz/targets/cosign_signature.rs"]
mod cosign_signature;
#[path = "../fuzz/targets/cosign_verify.rs"]
mod cosign_verify;
#[path = "../fuzz/targets/inventory.rs"]
mod inventory;
#[path = "../fuzz/targets/notary_metadata.rs"]
mod notary_metadata;
#[path = "../fuzz/targets/oci_documents.rs"]
mod oci_documents;
#[path = "../fuzz/targets/policy_file.rs"]
mod policy_file;
#[path = "../fuzz/targets/serve_router.rs"]
mod serve_router;
#[path = "../fuzz/targets/set_file.rs"]
mod set_file;
#[path = "../fuzz/targets/sigstore_bundle.rs"]
mod sigstore_bundle;
#[path = "../fuzz/targets/volume_index.rs"]
mod volume_index;

/// Every file of the target's corpus through `check`; a missing or empty
/// corpus is a failure, not a skip.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    replay_dir(target, &dir, check);
}

/// Every file of `dir` through `check`; `dir` must hold at least one.
fn replay_dir(target: &str, dir: &Path, check: fn(&[u8])) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("corpus {} is missing: {e}", dir.display()));
    let mut count = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        count += 1;
    }
    assert!(count > 0, "corpus {} is empty", dir.display());
}

#[test]
fn archive_reader_corpus() {
    replay("archive_reader", archive_reader::check);
}

#[test]
fn oci_documents_corpus() {
    replay("oci_documents", oci_documents::check);
}

#[test]
fn notary_metadata_corpus() {
    replay("notary_metadata", notary_metadata::check);
}

#[test]
fn policy_file_corpus() {
    replay("policy_file", policy_file::check);
}

#[test]
fn volume_index_corpus() {
    replay("volume_index", volume_index::check);
}

#[test]
fn inventory_corpus() {
    replay("inventory", inventory::check);
}

#[test]
fn cosign_signature_corpus() {
    replay("cosign_signature", cosign_signature::check);
}

/// The real Dangerzone signatures seed `cosign_signature` from ../shared
/// (not copied into the repository); `make fuzz` reads them there too.
#[test]
fn cosign_signature_shared_seeds() {
    let Some(fx) = common::fixtures() else { return };
    replay_dir(
        "cosign_signature",
        &fx.join("dangerzone/valid"),
        cosign_signature::check,
    );
}

#[test]
fn set_file_corpus() {
    replay("set_file", set_file::check);
}

#[test]
fn serve_router_corpus() {
    replay("serve_router", serve_router::check);
}

/// Mutations of the conformance suite's bundle, which lives in ../shared.
#[test]
fn sigstore_bundle_corpus() {
    if common::fixtures().is_none() {
        return;
    }
    replay("sigstore_bundle", sigstore_bundle::check);
}

/// Mutations of a real Dangerzone signature, which lives in ../shared.
#[test]
fn cosign_verify_corpus() {
    if common::fixtures().is_none() {
        return;
    }
    replay("cosign_verify", cosign_verify::check);
}
