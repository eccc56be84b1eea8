//! The volume index parser (`<name>.volumes.json`).
//! Invariant: parse → serialise → parse gives the same index.

use airlock::archive::volumes::index::VolumeIndex;

pub fn check(data: &[u8]) {
    let Ok(index) = VolumeIndex::parse(data, "fuzz.volumes.json") else {
        return;
    };
    let again = VolumeIndex::parse(&index.to_json(), "fuzz.volumes.json")
        .expect("a serialised index is refused");
    assert_eq!(index, again);
    let _ = index.parity_count();
}
