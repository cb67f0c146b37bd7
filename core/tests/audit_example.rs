//! The worked example of `docs/audit.md` §7: a real bundle from a cluster that admitted a member, removed one
//! and rotated a validator key (`tests/tests/membership.rs` writes it) verifies against its genesis and its
//! document, offline, and stops verifying when anything changes.

use clearance_core::audit::{verify_bundle, verify_status};
use clearance_core::genesis::Genesis;

const GENESIS: &str = include_str!("../../docs/audit-example/genesis.json");
const BUNDLE: &str = include_str!("../../docs/audit-example/bundle.json");
const DOCUMENT: &[u8] = include_bytes!("../../docs/audit-example/document.txt");
const STATUS_VALID: &str = include_str!("../../docs/audit-example/status-valid.json");
const STATUS_ABSENT: &str = include_str!("../../docs/audit-example/status-absent.json");

#[test]
fn the_worked_example_verifies() {
    let genesis = Genesis::from_json(GENESIS).unwrap();
    let verdict = verify_bundle(&genesis, BUNDLE.as_bytes(), Some(DOCUMENT)).unwrap();
    assert_eq!(verdict.record.kind, "certificate_issue");
    assert!(verdict.record.signers.len() >= 3);
    assert!(verdict.document.is_some_and(|d| d.matches));
    assert_eq!(verdict.later.len(), 1);
    assert_eq!(verdict.later[0].kind, "certificate_revoke");
    let status = verdict.status.expect("a status");
    assert_eq!(status.status, "revoked");
    assert_eq!(status.record, Some(verdict.later[0].id));
    // The example crosses an admission (TJ), a removal (UZ) and a validator key rotation (KZ).
    let members: Vec<Vec<&str>> = verdict
        .validator_set_changes
        .iter()
        .map(|c| c.members.iter().map(|m| m.as_str()).collect())
        .collect();
    assert_eq!(
        members,
        vec![
            vec!["CN", "DE", "KZ", "TJ", "UZ"],
            vec!["CN", "DE", "KZ", "TJ"],
            vec!["CN", "DE", "KZ", "TJ"],
        ]
    );
    // Each change with the proposal that made it and the approvals of a quorum of the members then.
    let adopted: Vec<(&str, usize)> = verdict
        .validator_set_changes
        .iter()
        .flat_map(|c| &c.adopted)
        .map(|a| {
            (
                a.change.split(' ').next().unwrap_or(""),
                a.approved_by.len(),
            )
        })
        .collect();
    assert_eq!(
        adopted.iter().map(|a| a.0).collect::<Vec<_>>(),
        ["admit", "remove", "rotate"]
    );
    assert!(adopted.iter().all(|a| a.1 >= 3), "{adopted:?}");
    // The anchor is certified by a quorum of the last set, which UZ has left.
    let last = ["CN", "DE", "KZ", "TJ"];
    assert!(verdict.anchor.signers.len() >= 3);
    assert!(
        verdict
            .anchor
            .signers
            .iter()
            .all(|s| last.contains(&s.member.as_str()))
    );
}

#[test]
fn the_worked_example_status_proofs_say_valid_and_never_recorded() {
    let genesis = Genesis::from_json(GENESIS).unwrap();
    let valid = verify_status(&genesis, STATUS_VALID.as_bytes()).unwrap();
    assert_eq!(valid.status.status, "valid");
    assert!(valid.status.good);
    assert_eq!(valid.validator_set_changes.len(), 3);
    let absent = verify_status(&genesis, STATUS_ABSENT.as_bytes()).unwrap();
    assert_eq!(absent.status.status, "not_recorded");
    assert!(absent.status.headline.starts_with("NOT RECORDED"));
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
