//! Every bad input named in the archive-format issue, one test each: verify
//! must refuse it with the right kind of error.

mod common;

use common::*;
use serde_json::json;

fn layer_entry(es: &[Entry]) -> usize {
    largest_blob(es)
}

#[test]
fn intact_archive_verifies() {
    let a = sample_archive();
    let out = verify_bytes(&a).unwrap();
    assert_eq!(out.manifest.images.len(), 1);
    assert_eq!(out.manifest.images[0].reference, REF);
}

#[test]
fn truncated_tar() {
    let a = sample_archive();
    assert_eq!(verdict(&a[..a.len() / 2]), "truncated");
}

#[test]
fn truncated_before_end_marker() {
    let a = sample_archive();
    // Cut exactly at the end of the last entry: every blob is there but the
    // end-of-archive marker is not.
    assert_eq!(verdict(&a[..a.len() - 1024]), "truncated");
}

#[test]
fn truncated_zstd_stream() {
    let a = sample_archive();
    let z = zstd::encode_all(&a[..], 3).unwrap();
    assert_eq!(verdict(&z), "ok");
    assert_eq!(verdict(&z[..z.len() - 100]), "truncated");
    assert_eq!(verdict(&z[..z.len() / 2]), "truncated");
}

#[test]
fn flipped_byte_in_layer() {
    let mut es = entries(&sample_archive());
    let i = layer_entry(&es);
    es[i].data[1234] ^= 0x01;
    assert_eq!(verdict(&build(&es)), "digest-mismatch");
}

#[test]
fn flipped_byte_in_manifest_blob() {
    let mut es = entries(&sample_archive());
    let m = airlock_json(&es);
    let md = m["images"][0]["manifestDigest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let i = position(&es, &format!("blobs/sha256/{md}"));
    es[i].data[5] ^= 0x20;
    assert_eq!(verdict(&build(&es)), "digest-mismatch");
}

#[test]
fn blob_size_differs_from_manifest() {
    let mut es = entries(&sample_archive());
    let i = layer_entry(&es);
    let n = es[i].data.len();
    es[i].data.truncate(n - 1);
    assert_eq!(verdict(&build(&es)), "size-mismatch");
}

#[test]
fn missing_blob() {
    let mut es = entries(&sample_archive());
    let i = layer_entry(&es);
    es.remove(i);
    assert_eq!(verdict(&build(&es)), "missing-blob");
}

#[test]
fn extra_blob() {
    let mut es = entries(&sample_archive());
    let data = b"not listed anywhere".to_vec();
    let name = format!("blobs/sha256/{}", airlock::model::Digest::of(&data).hex());
    es.push(Entry {
        name,
        kind: tar::EntryType::Regular,
        data,
        link: None,
        declared_size: None,
    });
    assert_eq!(verdict(&build(&es)), "extra-blob");
}

#[test]
fn extra_file_outside_blobs() {
    let mut es = entries(&sample_archive());
    es.push(Entry {
        name: "README".into(),
        kind: tar::EntryType::Regular,
        data: b"hi".to_vec(),
        link: None,
        declared_size: None,
    });
    assert_eq!(verdict(&build(&es)), "unexpected-name");
}

#[test]
fn duplicate_entry() {
    let mut es = entries(&sample_archive());
    let i = layer_entry(&es);
    let dup = es[i].clone();
    es.insert(i + 1, dup);
    assert_eq!(verdict(&build(&es)), "duplicate-entry");
}

#[test]
fn duplicate_preamble_entry() {
    let mut es = entries(&sample_archive());
    let dup = es[position(&es, "index.json")].clone();
    es.insert(3, dup);
    assert_eq!(verdict(&build(&es)), "duplicate-entry");
}

fn with_entry(name: &str, kind: tar::EntryType, link: Option<&str>) -> String {
    let mut es = entries(&sample_archive());
    es.insert(
        6,
        Entry {
            name: name.into(),
            kind,
            data: Vec::new(),
            link: link.map(String::from),
            declared_size: None,
        },
    );
    verdict(&build(&es))
}

#[test]
fn absolute_path() {
    assert_eq!(
        with_entry("/etc/passwd", tar::EntryType::Regular, None),
        "unsafe-path"
    );
}

#[test]
fn parent_directory_path() {
    assert_eq!(
        with_entry("blobs/sha256/../../../evil", tar::EntryType::Regular, None),
        "unsafe-path"
    );
}

#[test]
fn symlink_entry() {
    let name = format!("blobs/sha256/{}", "ab".repeat(32));
    assert_eq!(
        with_entry(&name, tar::EntryType::Symlink, Some("/etc/shadow")),
        "forbidden-entry-type"
    );
}

#[test]
fn hardlink_entry() {
    let name = format!("blobs/sha256/{}", "cd".repeat(32));
    assert_eq!(
        with_entry(&name, tar::EntryType::Link, Some("index.json")),
        "forbidden-entry-type"
    );
}

#[test]
fn device_entry() {
    let name = format!("blobs/sha256/{}", "ef".repeat(32));
    assert_eq!(
        with_entry(&name, tar::EntryType::Char, None),
        "forbidden-entry-type"
    );
    assert_eq!(
        with_entry(&name, tar::EntryType::Block, None),
        "forbidden-entry-type"
    );
}

#[test]
fn fifo_entry() {
    let name = format!("blobs/sha256/{}", "01".repeat(32));
    assert_eq!(
        with_entry(&name, tar::EntryType::Fifo, None),
        "forbidden-entry-type"
    );
}

#[test]
fn names_outside_the_layout() {
    assert_eq!(
        with_entry("blobs/sha512/abcd", tar::EntryType::Regular, None),
        "unexpected-name"
    );
    assert_eq!(
        with_entry("etc/passwd", tar::EntryType::Regular, None),
        "unexpected-name"
    );
    assert_eq!(
        with_entry("blobs/sha256/UPPERCASE", tar::EntryType::Regular, None),
        "unexpected-name"
    );
}

#[test]
fn blob_stored_under_wrong_digest() {
    let tmp = tempfile::tempdir().unwrap();
    // Two layers of equal size whose contents are swapped between names.
    let layout = layout_with_layers(tmp.path(), REF, &[(7, 50_000), (8, 50_000)]);
    let out = tmp.path().join("a.tar");
    pack_to(&layout, &out);
    let mut es = entries(&std::fs::read(out).unwrap());
    let layers: Vec<usize> = (0..es.len())
        .filter(|&i| es[i].data.len() == 50_000)
        .collect();
    assert_eq!(layers.len(), 2);
    let (a, b) = (layers[0], layers[1]);
    let tmpdata = es[a].data.clone();
    es[a].data = es[b].data.clone();
    es[b].data = tmpdata;
    assert_eq!(verdict(&build(&es)), "digest-mismatch");
}

#[test]
fn malformed_archive_manifest() {
    let mut es = entries(&sample_archive());
    let i = position(&es, "airlock.json");
    es[i].data = b"{\"mediaType\": \"application/vnd.airlock.archive.manifest.v1+json\", \"formatVersion\": 1, ".to_vec();
    assert_eq!(verdict(&build(&es)), "malformed-json");
}

#[test]
fn archive_manifest_with_unknown_field() {
    let mut es = entries(&sample_archive());
    let mut m = airlock_json(&es);
    m["surprise"] = json!(true);
    set_airlock_json(&mut es, &m);
    assert_eq!(verdict(&build(&es)), "malformed-json");
}

#[test]
fn malformed_index_json() {
    let mut es = entries(&sample_archive());
    replace_layout_file(&mut es, "index.json", b"[1,2,".to_vec());
    assert_eq!(verdict(&build(&es)), "malformed-json");
}

#[test]
fn malformed_docker_manifest_json() {
    let mut es = entries(&sample_archive());
    replace_layout_file(&mut es, "manifest.json", b"{\"Config\":".to_vec());
    assert_eq!(verdict(&build(&es)), "malformed-json");
}

#[test]
fn oversized_archive_manifest_is_refused_before_reading() {
    let mut es = entries(&sample_archive());
    let i = position(&es, "airlock.json");
    // The header claims 1 TiB; the reader must refuse on the header alone.
    es[i].declared_size = Some(1 << 40);
    es.truncate(i + 1);
    assert_eq!(verdict(&build(&es)), "too-large");
}

#[test]
fn oversized_index_json() {
    let mut es = entries(&sample_archive());
    let big = vec![b' '; (4 << 20) + 1];
    replace_layout_file(&mut es, "index.json", big);
    assert_eq!(verdict(&build(&es)), "too-large");
}

#[test]
fn zstd_window_bomb() {
    let a = sample_archive();
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.set_parameter(zstd::zstd_safe::CParameter::WindowLog(31))
        .unwrap();
    enc.set_parameter(zstd::zstd_safe::CParameter::EnableLongDistanceMatching(
        true,
    ))
    .unwrap();
    std::io::Write::write_all(&mut enc, &a).unwrap();
    let z = enc.finish().unwrap();
    assert_eq!(verdict(&z), "decompression-limit");
}

#[test]
fn zstd_zero_padding_bomb() {
    let mut a = sample_archive();
    let plain = zstd::encode_all(&a[..], 3).unwrap();
    // A valid archive followed by 64 MiB of zeros: compresses to almost
    // nothing, must not be read to the end.
    a.resize(a.len() + (64 << 20), 0);
    let z = zstd::encode_all(&a[..], 3).unwrap();
    assert!(z.len() < plain.len() + (64 << 10));
    assert_eq!(verdict(&z), "decompression-limit");
}

#[test]
fn trailing_garbage() {
    let mut a = sample_archive();
    a.extend_from_slice(b"garbage");
    assert_eq!(verdict(&a), "trailing-data");
}

#[test]
fn archive_manifest_contradicts_index_json() {
    let mut es = entries(&sample_archive());
    let i = position(&es, "index.json");
    let mut ix: serde_json::Value = serde_json::from_slice(&es[i].data).unwrap();
    ix["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] =
        json!("localhost/evil/app:1.0");
    replace_layout_file(&mut es, "index.json", serde_json::to_vec(&ix).unwrap());
    assert_eq!(verdict(&build(&es)), "contradiction");
}

#[test]
fn archive_manifest_claims_wrong_platform() {
    let mut es = entries(&sample_archive());
    let mut m = airlock_json(&es);
    m["images"][0]["platform"]["architecture"] = json!("arm64");
    set_airlock_json(&mut es, &m);
    // index.json repeats the platform, so fix it up to reach the config check.
    let i = position(&es, "index.json");
    let mut ix: serde_json::Value = serde_json::from_slice(&es[i].data).unwrap();
    ix["manifests"][0]["platform"]["architecture"] = json!("arm64");
    replace_layout_file(&mut es, "index.json", serde_json::to_vec(&ix).unwrap());
    assert_eq!(verdict(&build(&es)), "contradiction");
}

#[test]
fn unknown_format_version() {
    let mut es = entries(&sample_archive());
    let mut m = airlock_json(&es);
    m["formatVersion"] = json!(2);
    set_airlock_json(&mut es, &m);
    let err = verify_bytes(&build(&es)).unwrap_err();
    assert_eq!(err.kind(), "unsupported-version");
    assert_eq!(err.exit_code(), 7);
}

#[test]
fn blobs_out_of_order() {
    let mut es = entries(&sample_archive());
    let n = es.len();
    // Put the big layer before the small JSON blobs.
    let i = layer_entry(&es);
    let layer = es.remove(i);
    es.insert(6, layer);
    assert_eq!(es.len(), n);
    assert_eq!(verdict(&build(&es)), "out-of-order");
}

#[test]
fn blob_before_archive_manifest() {
    let mut es = entries(&sample_archive());
    let i = layer_entry(&es);
    let layer = es.remove(i);
    es.insert(1, layer);
    assert_eq!(verdict(&build(&es)), "out-of-order");
}

#[test]
fn not_an_archive() {
    assert_eq!(verdict(b""), "not-an-archive");
    assert_eq!(verdict(&[0x1f, 0x8b, 8, 0, 0, 0]), "not-an-archive");
    let mut es = entries(&sample_archive());
    es.remove(0);
    assert_eq!(verdict(&build(&es)), "not-an-archive");
}

#[test]
fn unreachable_blob_listed_in_manifest() {
    let mut es = entries(&sample_archive());
    // Add a blob and list it, but let nothing reference it.
    let data = b"orphan".to_vec();
    let d = airlock::model::Digest::of(&data);
    let mut m = airlock_json(&es);
    let blobs = m["blobs"].as_array_mut().unwrap();
    blobs.push(json!({"digest": d.to_string(), "size": data.len(), "mediaType": "application/octet-stream"}));
    blobs.sort_by(|a, b| a["digest"].as_str().cmp(&b["digest"].as_str()));
    set_airlock_json(&mut es, &m);
    es.push(Entry {
        name: format!("blobs/sha256/{}", d.hex()),
        kind: tar::EntryType::Regular,
        data,
        link: None,
        declared_size: None,
    });
    assert_eq!(verdict(&build(&es)), "unreachable-blob");
}

// ---- archive-level evidence (the trust material) --------------------------

/// The sample archive's entries and the digest of its trust-root blob.
fn with_trust_root() -> (Vec<Entry>, String) {
    let es = entries(&sample_archive());
    let m = airlock_json(&es);
    let ev = m["evidence"].as_array().unwrap();
    assert_eq!(ev.len(), 1, "pack writes the trusted root: {m:#}");
    assert_eq!(ev[0]["role"], "trust-root");
    let d = ev[0]["digest"].as_str().unwrap().to_string();
    (es, d)
}

#[test]
fn trust_root_blob_is_verified_like_any_blob() {
    let (mut es, d) = with_trust_root();
    let i = position(
        &es,
        &format!("blobs/sha256/{}", d.trim_start_matches("sha256:")),
    );
    let last = es[i].data.len() - 2;
    es[i].data[last] ^= 1;
    assert_eq!(verdict(&build(&es)), "digest-mismatch");
}

#[test]
fn trust_root_blob_not_listed_is_extra() {
    let (mut es, d) = with_trust_root();
    let mut m = airlock_json(&es);
    m.as_object_mut().unwrap().remove("evidence");
    m["blobs"]
        .as_array_mut()
        .unwrap()
        .retain(|b| b["digest"] != d.as_str());
    set_airlock_json(&mut es, &m);
    assert_eq!(verdict(&build(&es)), "extra-blob");
}

#[test]
fn trust_root_listed_but_not_recorded_is_unreachable() {
    let (mut es, _) = with_trust_root();
    let mut m = airlock_json(&es);
    m.as_object_mut().unwrap().remove("evidence");
    set_airlock_json(&mut es, &m);
    assert_eq!(verdict(&build(&es)), "unreachable-blob");
}

#[test]
fn trust_root_recorded_but_missing_is_refused() {
    let (mut es, d) = with_trust_root();
    es.remove(position(
        &es,
        &format!("blobs/sha256/{}", d.trim_start_matches("sha256:")),
    ));
    assert_eq!(verdict(&build(&es)), "missing-blob");
}

#[test]
fn archive_evidence_naming_an_unlisted_blob_is_refused() {
    let (mut es, _) = with_trust_root();
    let mut m = airlock_json(&es);
    m["evidence"][0]["digest"] = json!(format!("sha256:{}", "ab".repeat(32)));
    set_airlock_json(&mut es, &m);
    assert_eq!(verdict(&build(&es)), "contradiction");
}

#[test]
fn trust_root_in_an_images_evidence_is_refused() {
    let (mut es, d) = with_trust_root();
    let mut m = airlock_json(&es);
    let subject = m["images"][0]["manifestDigest"].clone();
    m.as_object_mut().unwrap().remove("evidence");
    m["images"][0]["evidence"]
        .as_array_mut()
        .unwrap()
        .push(json!({
            "role": "trust-root", "digest": d,
            "mediaType": "application/vnd.dev.sigstore.trustedroot.v0.1+json", "subject": subject,
        }));
    set_airlock_json(&mut es, &m);
    assert_eq!(verdict(&build(&es)), "contradiction");
}

#[test]
fn image_role_in_archive_evidence_is_refused() {
    let (mut es, _) = with_trust_root();
    let mut m = airlock_json(&es);
    m["evidence"][0]["role"] = json!("signature");
    set_airlock_json(&mut es, &m);
    assert_eq!(verdict(&build(&es)), "contradiction");
}

#[test]
fn archive_evidence_listed_twice_is_refused() {
    let (mut es, _) = with_trust_root();
    let mut m = airlock_json(&es);
    let dup = m["evidence"][0].clone();
    m["evidence"].as_array_mut().unwrap().push(dup);
    set_airlock_json(&mut es, &m);
    assert_eq!(verdict(&build(&es)), "contradiction");
}

#[test]
fn incomplete_tuf_metadata_is_refused() {
    let (mut es, _) = with_trust_root();
    let mut m = airlock_json(&es);
    // A lone "timestamp" and no trusted root it could vouch for.
    m["evidence"][0]["role"] = json!("tuf-timestamp");
    set_airlock_json(&mut es, &m);
    assert_eq!(verdict(&build(&es)), "contradiction");
}

#[test]
fn trust_root_not_stored_as_json_is_refused() {
    let (mut es, d) = with_trust_root();
    let mut m = airlock_json(&es);
    for b in m["blobs"].as_array_mut().unwrap() {
        if b["digest"] == d.as_str() {
            b["mediaType"] = json!("application/octet-stream");
        }
    }
    m["evidence"][0]["mediaType"] = json!("application/octet-stream");
    set_airlock_json(&mut es, &m);
    assert_eq!(verdict(&build(&es)), "contradiction");
}

#[test]
fn archive_evidence_with_a_path_for_a_name_is_refused() {
    let (mut es, _) = with_trust_root();
    let mut m = airlock_json(&es);
    m["evidence"][0]["name"] = json!("../trusted_root.json");
    set_airlock_json(&mut es, &m);
    assert_eq!(verdict(&build(&es)), "contradiction");
}
