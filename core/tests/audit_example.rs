//! The worked example of `docs/audit.md` §7: a real bundle from a 4-node cluster verifies against its genesis
//! and its document, offline, and stops verifying when anything changes.

use clearance_core::audit::verify_bundle;
use clearance_core::genesis::Genesis;

const GENESIS: &str = include_str!("../../docs/audit-example/genesis.json");
const BUNDLE: &str = include_str!("../../docs/audit-example/bundle.json");
const DOCUMENT: &[u8] = include_bytes!("../../docs/audit-example/document.txt");

#[test]
fn the_worked_example_verifies() {
    let genesis = Genesis::from_json(GENESIS).unwrap();
    let verdict = verify_bundle(&genesis, BUNDLE.as_bytes(), Some(DOCUMENT)).unwrap();
    assert_eq!(verdict.record.kind, "certificate_issue");
    assert!(verdict.record.signers.len() >= 3);
    assert!(verdict.document.is_some_and(|d| d.matches));
    assert_eq!(verdict.later.len(), 1);
    assert_eq!(verdict.later[0].kind, "certificate_revoke");
}

#[test]
fn the_worked_example_refuses_another_document_or_genesis() {
    let genesis = Genesis::from_json(GENESIS).unwrap();
    let e = verify_bundle(&genesis, BUNDLE.as_bytes(), Some(b"certificate 2")).unwrap_err();
    assert_eq!(e.step.0, "document");
    let mut other = genesis.clone();
    other.chain_name = clearance_core::ids::ChainName::parse("another-chain").unwrap();
    let e = verify_bundle(&other, BUNDLE.as_bytes(), None).unwrap_err();
    assert_eq!(e.step.0, "chain");
}
