//! The OCI manifest, index and config parsers on one input each.
//! Invariant: parsing is a pure function of the bytes, and what an accepted
//! manifest or index reports (digests, sizes) survives a JSON round trip
//! of the document.

use airlock::model::oci::{config_platform, entry_kind, parse_index, parse_manifest};

pub fn check(data: &[u8]) {
    if let Ok(m) = parse_manifest(data) {
        let _ = entry_kind(&m);
        assert_eq!(
            format!("{:?}", Ok::<_, String>(&m)),
            format!("{:?}", parse_manifest(data).as_ref())
        );
        let again = round_trip(data).map(|b| parse_manifest(&b));
        if let Some(again) = again {
            let again = again.expect("a re-serialised manifest is refused");
            assert_eq!(format!("{m:?}"), format!("{again:?}"));
        }
    }
    if let Ok(i) = parse_index(data) {
        let again = round_trip(data).map(|b| parse_index(&b));
        if let Some(again) = again {
            let again = again.expect("a re-serialised index is refused");
            assert_eq!(format!("{i:?}"), format!("{again:?}"));
        }
    }
    let _ = config_platform(data);
}

/// The document re-serialised by serde_json (None when it is not JSON that
/// serde_json keeps as-is, e.g. duplicate keys collapse).
fn round_trip(data: &[u8]) -> Option<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    serde_json::to_vec(&v).ok()
}
