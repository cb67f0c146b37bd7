//! Files that cross validator-set changes: each change certified by the set before it, and every way of
//! tampering with the chain of changes (a forged change, a change certified by the wrong set, a dropped change,
//! a set that is not the one announced) refused at its own step.

mod common;

use clearance_core::audit::{
    CHECKPOINT_FORMAT, CertifiedHeader, Checkpoint, VERSION, ValidatorSetChange, verify_checkpoint,
};
use clearance_core::block::{Header, HeaderView};
use clearance_core::bytes::Bytes;
use clearance_core::genesis::Genesis;
use clearance_core::merkle;
use clearance_core::validator::{Validator, ValidatorSet};
use clearance_core::vote::{CommitCertificate, SignedVote, Vote, VoteKind};
use common::*;

/// Members `ids[i]` sign with `key(seeds[i])`.
fn set_of(members: &[(&str, u8)]) -> ValidatorSet {
    ValidatorSet::new(
        members
            .iter()
            .map(|(id, seed)| Validator {
                member: cc(id),
                key: key(*seed).public_key(),
            })
            .collect(),
    )
    .unwrap()
}

/// A header of `height` decided by `set`, announcing `next`, signed by every one of `signers`.
fn certified_by(
    g: &Genesis,
    height: u64,
    set: &ValidatorSet,
    next: &ValidatorSet,
    signers: &[(&str, u8)],
) -> CertifiedHeader {
    let header = Header {
        validator_set_hash: set.hash(),
        next_validator_set_hash: next.hash(),
        ..header(
            g,
            height,
            (0, merkle::empty_root()),
            (0, merkle::empty_root()),
        )
    };
    let view = HeaderView::from_header(header);
    let precommits = signers
        .iter()
        .map(|(id, seed)| {
            let vote = Vote {
                chain_id: g.chain_id(),
                height,
                round: 0,
                kind: VoteKind::Precommit,
                block: Some(view.hash),
                validator: cc(id),
            };
            SignedVote::sign(&vote, &key(*seed))
        })
        .collect();
    let cert = CommitCertificate {
        height,
        round: 0,
        block_hash: view.hash,
        precommits,
    };
    CertifiedHeader {
        header: view.bytes,
        certificate: Bytes(cert.to_bytes()),
    }
}

const GENESIS: [(&str, u8); 4] = [("KZ", 1), ("DE", 2), ("CN", 3), ("UZ", 4)];
/// FR admitted, then KZ's key rotated from 1 to 9.
const ADMITTED: [(&str, u8); 5] = [("KZ", 1), ("DE", 2), ("CN", 3), ("UZ", 4), ("FR", 5)];
const ROTATED: [(&str, u8); 5] = [("KZ", 9), ("DE", 2), ("CN", 3), ("UZ", 4), ("FR", 5)];

struct Chain {
    g: Genesis,
    changes: Vec<ValidatorSetChange>,
}

/// Genesis (4), FR admitted from height 10, KZ's key rotated from height 20; a head at 30.
fn chain() -> Chain {
    let g = genesis(4);
    let (s0, s1, s2) = (set_of(&GENESIS), set_of(&ADMITTED), set_of(&ROTATED));
    assert_eq!(s0, g.validator_set().unwrap());
    let changes = vec![
        ValidatorSetChange {
            height: 10,
            validator_set: Bytes(s1.to_bytes()),
            proof: certified_by(&g, 9, &s0, &s1, &GENESIS[..3]),
        },
        ValidatorSetChange {
            height: 20,
            validator_set: Bytes(s2.to_bytes()),
            proof: certified_by(&g, 19, &s1, &s2, &ADMITTED[1..]),
        },
    ];
    Chain { g, changes }
}

fn checkpoint(c: &Chain, changes: Vec<ValidatorSetChange>, head: CertifiedHeader) -> Vec<u8> {
    serde_json::to_vec(&Checkpoint {
        format: CHECKPOINT_FORMAT.into(),
        version: VERSION,
        chain_id: c.g.chain_id(),
        height: 30,
        log_size: 0,
        log_root: merkle::empty_root(),
        head,
        validator_set_changes: changes,
    })
    .unwrap()
}

fn head(c: &Chain) -> CertifiedHeader {
    let s2 = set_of(&ROTATED);
    certified_by(&c.g, 30, &s2, &s2, &ROTATED[..4])
}

fn step_of(c: &Chain, file: &[u8]) -> String {
    verify_checkpoint(&c.g, file).unwrap_err().step.0
}

#[test]
fn a_head_certified_by_a_set_reached_through_certified_changes_verifies() {
    let c = chain();
    let v = verify_checkpoint(&c.g, &checkpoint(&c, c.changes.clone(), head(&c))).unwrap();
    assert_eq!(v.head.height, 30);
    assert_eq!(v.validator_set_changes.len(), 2);
    assert_eq!(v.validator_set_changes[0].height, 10);
    assert_eq!(v.validator_set_changes[0].members.len(), 5);
    assert_eq!(v.validator_set_changes[1].certified_by.len(), 4);
    // The head's signers include KZ, under its rotated key.
    assert!(v.head.signers.iter().any(|s| s.member == cc("KZ")));
}

#[test]
fn every_tampering_with_the_chain_of_changes_fails_at_its_step() {
    let c = chain();
    let (s0, s1, s2) = (set_of(&GENESIS), set_of(&ADMITTED), set_of(&ROTATED));

    // A dropped change: the head's set is not the one the verifier reaches.
    let dropped = vec![c.changes[0].clone()];
    assert_eq!(
        step_of(&c, &checkpoint(&c, dropped, head(&c))),
        "head.certificate"
    );
    assert_eq!(
        step_of(&c, &checkpoint(&c, vec![], head(&c))),
        "head.certificate"
    );

    // A forged change: announced by a header that FR and UZ signed, not a quorum of the set before.
    let mut forged = c.changes.clone();
    forged[0].proof = certified_by(&c.g, 9, &s0, &s1, &[("UZ", 4), ("FR", 5)]);
    assert_eq!(
        step_of(&c, &checkpoint(&c, forged, head(&c))),
        "validator-set[0].proof.certificate"
    );

    // A change certified by the wrong set: the new set signs its own announcement.
    let mut wrong = c.changes.clone();
    wrong[1].proof = certified_by(&c.g, 19, &s2, &s2, &ROTATED[..4]);
    assert_eq!(
        step_of(&c, &checkpoint(&c, wrong, head(&c))),
        "validator-set[1].proof.certificate"
    );

    // A set other than the one the certified header announces.
    let mut other = c.changes.clone();
    other[1].validator_set =
        Bytes(set_of(&[("KZ", 9), ("DE", 2), ("CN", 3), ("UZ", 4)]).to_bytes());
    assert_eq!(
        step_of(&c, &checkpoint(&c, other, head(&c))),
        "validator-set[1].set"
    );

    // A proof for another height than the change's, and changes out of order.
    let mut shifted = c.changes.clone();
    shifted[0].height = 11;
    assert_eq!(
        step_of(&c, &checkpoint(&c, shifted, head(&c))),
        "validator-set[0].proof.header"
    );
    let reversed: Vec<_> = c.changes.iter().rev().cloned().collect();
    assert_eq!(
        step_of(&c, &checkpoint(&c, reversed, head(&c))),
        "validator-set[0].proof.certificate",
        "the later change first: its announcement is not signed by the genesis set"
    );

    // A proof header at the largest height: refused, no overflow.
    let mut huge = c.changes.clone();
    huge[0].proof = certified_by(&c.g, u64::MAX, &s0, &s1, &GENESIS[..3]);
    assert_eq!(
        step_of(&c, &checkpoint(&c, huge, head(&c))),
        "validator-set[0].proof.header"
    );

    // Undecodable set bytes.
    let mut garbage = c.changes.clone();
    garbage[0].validator_set = Bytes(vec![1, 2, 3]);
    assert_eq!(
        step_of(&c, &checkpoint(&c, garbage, head(&c))),
        "validator-set[0].set"
    );
}
