//! The inventory parser (`inventory.json`, a `pack --base`), and the
//! archive manifest parser on its own (an `airlock.json` given as a base,
//! with a delta's `bases`/`external`).
//! Invariant: parse → serialise → parse gives the same inventory.

use airlock::model::inventory::Inventory;

pub fn check(data: &[u8]) {
    let _ = airlock::archive::reader::parse_archive_manifest(data);
    let Ok(inv) = Inventory::parse(data) else {
        return;
    };
    let again = Inventory::parse(&inv.to_bytes()).expect("a serialised inventory is refused");
    assert_eq!(inv, again);
}
