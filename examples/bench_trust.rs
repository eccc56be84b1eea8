//! Benchmark of airlock's offline trust path against sigstore-verify's own
//! verifier, on the same evidence (`bench/trust.sh`, `make bench`).
//!
//! Builds `N` images' worth of evidence with a test key, each signature
//! logged in airlock's Rekor-compatible test log (`rekor_server::Log`: a real
//! RFC 6962 tree, SETs and signed checkpoints), in two forms:
//!
//! - a cosign legacy `.sig` signature (simple-signing payload, signature,
//!   `dev.sigstore.cosign/bundle` SET) with the pack-time `rekor-proof`
//!   document (inclusion proof + checkpoint);
//! - a Sigstore bundle v0.3 (message signature over the image manifest,
//!   hashedrekord entry with SET, inclusion proof and checkpoint).
//!
//! Every proof is against the final tree of all `2N` entries. It then times,
//! per signature, what `airlock verify` runs for each piece of evidence
//! (`trust::evidence` + `verify_cosign_signature`, and `verify_bundle`), and
//! sigstore-verify's `Verifier::verify` directly on the same bundles (JSON
//! parse included in both). Every verification must succeed, else exit 1.
//!
//! Output: one `name value` line per figure (nanoseconds per signature),
//! read by bench/trust.sh.
//!
//! Usage: `bench_trust [--count N] [--runs R]`

use std::time::Instant;

use airlock::trust::{
    verify_bundle, verify_cosign_signature, Artifact, CosignSignature, PublicKey,
    RekorInclusionProof, RekorProofDocument, SignaturePolicy, Signer, TrustRoot,
};
use airlock_testkit::rekor_server::Log;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use p256::ecdsa::{signature::Signer as _, DerSignature, SigningKey};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use sigstore_verify::types::{Bundle, DerPublicKey, Sha256Hash};
use sigstore_verify::{PublicKeyVerificationPolicy, Verifier};

const REPO: &str = "registry.example.org/bench/app";

type Res<T> = Result<T, Box<dyn std::error::Error>>;
/// One timed path: verifies one image's evidence.
type Path<'a> = &'a dyn Fn(&Evidence) -> Res<()>;

/// One image's evidence, in both forms.
#[derive(Clone)]
struct Evidence {
    /// `sha256:<hex>` of the image manifest (what both signatures are over).
    image_digest: String,
    manifest_sha256: [u8; 32],
    /// cosign `.sig` layer: payload, signature annotation, bundle annotation.
    payload: Vec<u8>,
    signature_b64: String,
    rekor_bundle: String,
    /// The stored `rekor-proof` document (JSON), as `airlock pack` writes it.
    proof_document: Vec<u8>,
    /// The Sigstore bundle v0.3 (JSON).
    bundle: Vec<u8>,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bench_trust: {e}");
        std::process::exit(1);
    }
}

fn arg(args: &[String], name: &str, default: usize) -> Res<usize> {
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args.get(i + 1).ok_or("missing value")?.parse()?),
        None => Ok(default),
    }
}

fn run() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = arg(&args, "--count", 1000)?;
    let runs = arg(&args, "--runs", 5)?.max(1);

    let started = Instant::now();
    let signer = SigningKey::random(&mut rand_core::OsRng);
    let signer_pem = signer.verifying_key().to_public_key_pem(LineEnding::LF)?;
    let mut log = Log::generate("rekor.bench").map_err(|e| e.message)?;
    let evidence = forge(&signer, &signer_pem, &mut log, count)?;
    let root_json = serde_json::to_vec(&log.trusted_root("https://rekor.bench.invalid"))?;
    eprintln!(
        "bench_trust: {count} images, {} log entries, evidence built in {:.1} s",
        log.size(),
        started.elapsed().as_secs_f64()
    );

    // airlock: the root and policy are built once per `airlock verify` run.
    let root = TrustRoot::from_json(&root_json)?;
    let key = PublicKey::from_pem(signer_pem.as_bytes())?;
    let policy = SignaturePolicy::new(Signer::Key(key.clone()));
    let bundle_signer = Signer::Key(key);
    // sigstore-verify: its verifier and policy, built once as well.
    let sv_root =
        sigstore_verify::trust_root::TrustedRoot::from_json(std::str::from_utf8(&root_json)?)?;
    let verifier = Verifier::new(&sv_root)?;
    let sv_policy = PublicKeyVerificationPolicy::new(DerPublicKey::new(
        signer
            .verifying_key()
            .to_public_key_der()?
            .as_bytes()
            .to_vec(),
    ));

    let cosign = |e: &Evidence| -> Res<()> {
        // What trust::evidence does for a `.sig` layer with a carried proof,
        // then what the gate does with it.
        let sig = CosignSignature::new(
            e.payload.clone(),
            e.signature_b64.clone(),
            None,
            None,
            Some(e.rekor_bundle.as_bytes()),
        )?;
        let doc = RekorProofDocument::from_json(&e.proof_document)?;
        let sig = sig.attach_proof_document(&doc)?;
        let v = verify_cosign_signature(&sig, &e.image_digest, Some(REPO), &policy, &root)?;
        if v.log_index().is_none() {
            return Err("cosign signature verified without a log index".into());
        }
        Ok(())
    };
    let bundle = |e: &Evidence| -> Res<()> {
        let v = verify_bundle(
            &e.bundle,
            Artifact::Sha256(e.manifest_sha256),
            &bundle_signer,
            &root,
        )?;
        if !v.tlog_verified() {
            return Err("bundle verified without its log entry".into());
        }
        Ok(())
    };
    let sigstore = |e: &Evidence| -> Res<()> {
        let b = Bundle::from_json(std::str::from_utf8(&e.bundle)?)?;
        let r = verifier.verify(Sha256Hash::new(e.manifest_sha256), &b, &sv_policy)?;
        if !r.tlog_verified() {
            return Err("sigstore-verify: log entry not verified".into());
        }
        Ok(())
    };

    controls(&evidence, &cosign, &bundle, &sigstore)?;
    let paths: [(&str, Path); 3] = [
        ("airlock cosign .sig", &cosign),
        ("airlock bundle v0.3", &bundle),
        ("sigstore-verify bundle v0.3", &sigstore),
    ];
    let [ns_cosign, ns_bundle, ns_sigstore] = best_ns_per(&evidence, runs, &paths)?;
    println!("count {count}");
    println!("runs {runs}");
    println!("airlock_cosign_ns {ns_cosign}");
    println!("airlock_bundle_ns {ns_bundle}");
    println!("sigstore_verify_bundle_ns {ns_sigstore}");
    Ok(())
}

/// The timed paths must check the inclusion proofs: evidence whose proof
/// has one hash changed must be refused by each of them.
fn controls(items: &[Evidence], cosign: Path, bundle: Path, sigstore: Path) -> Res<()> {
    let first = items.first().ok_or("no evidence")?;
    let flip = |json: &[u8], pointer: &str| -> Res<Vec<u8>> {
        let mut v: Value = serde_json::from_slice(json)?;
        let h = v.pointer_mut(pointer).ok_or("no proof hash to change")?;
        let mut s = h.as_str().ok_or("hash")?.to_string();
        // Change the first character: hex and base64 alike stay well-formed.
        let c = if s.starts_with('a') { "b" } else { "a" };
        s.replace_range(..1, c);
        *h = Value::String(s);
        Ok(serde_json::to_vec(&v)?)
    };
    let bad_proof = Evidence {
        proof_document: flip(&first.proof_document, "/inclusionProof/hashes/0")?,
        ..first.clone()
    };
    let bad_bundle = Evidence {
        bundle: flip(
            &first.bundle,
            "/verificationMaterial/tlogEntries/0/inclusionProof/hashes/0",
        )?,
        ..first.clone()
    };
    for (name, f, e) in [
        ("airlock cosign .sig", cosign, &bad_proof),
        ("airlock bundle v0.3", bundle, &bad_bundle),
        ("sigstore-verify bundle v0.3", sigstore, &bad_bundle),
    ] {
        if f(e).is_ok() {
            return Err(format!("{name} accepted a changed inclusion proof").into());
        }
    }
    Ok(())
}

/// Best (lowest) mean time per signature of each path over `runs` passes,
/// after one untimed pass that also proves every item verifies. The paths
/// take turns within each pass, so a busy machine slows them alike.
fn best_ns_per<const N: usize>(
    items: &[Evidence],
    runs: usize,
    paths: &[(&str, Path); N],
) -> Res<[u128; N]> {
    for (name, f) in paths {
        for (i, e) in items.iter().enumerate() {
            f(e).map_err(|err| format!("{name}: signature {i} did not verify: {err}"))?;
        }
    }
    let mut best = [u128::MAX; N];
    for _ in 0..runs {
        for (slot, (_, f)) in best.iter_mut().zip(paths) {
            let t = Instant::now();
            for e in items {
                f(e)?;
            }
            *slot = (*slot).min(t.elapsed().as_nanos() / items.len().max(1) as u128);
        }
    }
    Ok(best)
}

fn sign_b64(k: &SigningKey, data: &[u8]) -> String {
    let sig: DerSignature = k.sign(data);
    STANDARD.encode(sig.as_bytes())
}

/// A hashedrekord v0.0.1 entry as a client proposes it to Rekor.
fn proposed_entry(sha256: &[u8], signature_b64: &str, pem: &str) -> Res<Vec<u8>> {
    Ok(serde_json::to_vec(&json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": { "hash": { "algorithm": "sha256", "value": hex::encode(sha256) } },
            "signature": { "content": signature_b64, "publicKey": { "content": STANDARD.encode(pem) } }
        }
    }))?)
}

fn log_add(log: &mut Log, proposed: &[u8]) -> Res<usize> {
    log.add(proposed)
        .map_err(|e| format!("test log refused an entry: {} {}", e.status, e.message).into())
}

/// The entry as the Rekor API serves it (`{uuid: LogEntry}` → LogEntry).
fn served(log: &Log, index: usize) -> Res<Value> {
    let v = log
        .entry(index)
        .map_err(|e| format!("entry {index}: {}", e.message))?;
    v.as_object()
        .and_then(|m| m.values().next().cloned())
        .ok_or_else(|| "empty entry response".into())
}

fn forge(signer: &SigningKey, pem: &str, log: &mut Log, count: usize) -> Res<Vec<Evidence>> {
    // Sign and log everything first, so every proof is against one tree.
    let mut pending = Vec::with_capacity(count);
    for i in 0..count {
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "annotations": { "bench.index": i.to_string() },
        }))?;
        let manifest_sha256: [u8; 32] = Sha256::digest(&manifest).into();
        let image_digest = format!("sha256:{}", hex::encode(manifest_sha256));
        let payload = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{REPO}"}},"image":{{"docker-manifest-digest":"{image_digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
        .into_bytes();
        let signature_b64 = sign_b64(signer, &payload);
        let cosign_index = log_add(
            log,
            &proposed_entry(&Sha256::digest(&payload), &signature_b64, pem)?,
        )?;
        let bundle_sig = sign_b64(signer, &manifest);
        let bundle_index = log_add(log, &proposed_entry(&manifest_sha256, &bundle_sig, pem)?)?;
        pending.push((
            image_digest,
            manifest_sha256,
            payload,
            signature_b64,
            cosign_index,
            bundle_sig,
            bundle_index,
        ));
    }
    let mut out = Vec::with_capacity(count);
    for (image_digest, manifest_sha256, payload, signature_b64, ci, bundle_sig, bi) in pending {
        let e = served(log, ci)?;
        let rekor_bundle = json!({
            "SignedEntryTimestamp": e["verification"]["signedEntryTimestamp"],
            "Payload": {
                "body": e["body"], "integratedTime": e["integratedTime"],
                "logIndex": e["logIndex"], "logID": e["logID"],
            }
        })
        .to_string();
        let proof = RekorInclusionProof::from_json(&serde_json::to_vec(
            &e["verification"]["inclusionProof"],
        )?)?;
        let doc = RekorProofDocument::new(
            format!("sha256:{}", hex::encode(Sha256::digest(b"sig manifest"))),
            format!("sha256:{}", hex::encode(Sha256::digest(&payload))),
            e["logIndex"].as_i64().ok_or("logIndex")?,
            e["logID"].as_str().ok_or("logID")?.to_string(),
            e["body"].as_str().ok_or("body")?.to_string(),
            e["integratedTime"].as_i64().ok_or("integratedTime")?,
            proof,
            e["verification"]["signedEntryTimestamp"]
                .as_str()
                .ok_or("SET")?
                .to_string(),
        );
        let b = served(log, bi)?;
        out.push(Evidence {
            image_digest,
            manifest_sha256,
            payload,
            signature_b64,
            rekor_bundle,
            proof_document: serde_json::to_vec(&doc)?,
            bundle: bundle_v03(&b, manifest_sha256, &bundle_sig)?,
        });
    }
    Ok(out)
}

/// A Sigstore bundle v0.3 for a served entry: public-key hint, the entry
/// with SET, inclusion proof and checkpoint, the message signature.
fn bundle_v03(e: &Value, digest: [u8; 32], signature_b64: &str) -> Res<Vec<u8>> {
    let b64_of_hex =
        |v: &Value| -> Res<String> { Ok(STANDARD.encode(hex::decode(v.as_str().ok_or("hash")?)?)) };
    let p = &e["verification"]["inclusionProof"];
    let hashes = p["hashes"]
        .as_array()
        .ok_or("hashes")?
        .iter()
        .map(b64_of_hex)
        .collect::<Res<Vec<_>>>()?;
    let log_id = b64_of_hex(&e["logID"])?;
    Ok(serde_json::to_vec(&json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "publicKey": { "hint": "" },
            "tlogEntries": [{
                "logIndex": e["logIndex"].to_string(),
                "logId": { "keyId": log_id },
                "kindVersion": { "kind": "hashedrekord", "version": "0.0.1" },
                "integratedTime": e["integratedTime"].to_string(),
                "inclusionPromise": { "signedEntryTimestamp": e["verification"]["signedEntryTimestamp"] },
                "inclusionProof": {
                    "logIndex": p["logIndex"].to_string(),
                    "rootHash": b64_of_hex(&p["rootHash"])?,
                    "treeSize": p["treeSize"].to_string(),
                    "hashes": hashes,
                    "checkpoint": { "envelope": p["checkpoint"] },
                },
                "canonicalizedBody": e["body"],
            }]
        },
        "messageSignature": {
            "messageDigest": { "algorithm": "SHA2_256", "digest": STANDARD.encode(digest) },
            "signature": signature_b64,
        }
    }))?)
}
