//! An air-gapped site for unpack tests: a publisher key, a test Rekor key
//! named by a test trusted root, the publisher's public key file and a
//! private rollback state directory, all in one temp dir.

use std::path::PathBuf;

use p256::ecdsa::SigningKey;

use super::forge::{self, add_sig_manifest, sig_layer};

pub const T0: i64 = 1_700_000_000;

pub struct Site {
    pub dir: tempfile::TempDir,
    pub publisher: SigningKey,
    pub rekor: SigningKey,
    pub root: PathBuf,
    pub key: PathBuf,
    pub state: PathBuf,
}

impl Site {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let publisher = forge::key();
        let rekor = forge::key();
        let root = dir.path().join("trusted_root.json");
        std::fs::write(&root, forge::trust_root_json(&rekor)).unwrap();
        let key = dir.path().join("publisher.pub");
        std::fs::write(&key, forge::pem(&publisher)).unwrap();
        let state = dir.path().join("state");
        Site {
            dir,
            publisher,
            rekor,
            root,
            key,
            state,
        }
    }

    pub fn path(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }

    /// A cosign `.sig` by the publisher over `subject` as `reference`, with
    /// a SET at `log_index` (integrated at T0 + log_index).
    pub fn sign(
        &self,
        l: &mut airlock_testkit::Layout,
        subject: &str,
        reference: &str,
        log_index: i64,
    ) {
        let sig = sig_layer(
            &self.publisher,
            &self.rekor,
            subject,
            reference,
            Some((log_index, T0 + log_index)),
        );
        add_sig_manifest(l, subject, &[sig]);
    }
}
