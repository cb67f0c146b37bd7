//! The sample records in client/examples/ parse as records and are well formed, one of every kind.

use clearance_core::record::Record;
use std::collections::BTreeSet;

#[test]
fn every_sample_is_a_well_formed_record_and_every_kind_has_one() {
    // The runtime variable (cargo and nextest set it) rather than the compiled-in path: a build cache shared by
    // clones at different paths can reuse a test binary built in another clone.
    let root =
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let dir = std::path::Path::new(&root).join("examples");
    let mut kinds = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let record: Record =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        record
            .check_shape()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        kinds.insert(record.kind());
    }
    assert_eq!(kinds.len(), 12, "one sample of every kind: {kinds:?}");
}
