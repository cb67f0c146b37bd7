//! Files that cross validator-set changes: each change certified by the set before it, and every way of
//! tampering with the chain of changes (a forged change, a change certified by the wrong set, a dropped change,
//! a set that is not the one announced, records that do not adopt it) refused at its own step.

mod common;

use clearance_core::audit::{
    AdoptedChange, CHECKPOINT_FORMAT, CertifiedHeader, Checkpoint, LoggedRecord, VERSION,
    ValidatorSetChange, verify_checkpoint,
};
use clearance_core::block::{Header, HeaderView};
use clearance_core::bytes::Bytes;
use clearance_core::genesis::Genesis;
use clearance_core::hash::Hash32;
use clearance_core::merkle;
use clearance_core::record::{
    Admission, MembershipApprove, MembershipChange, MembershipPropose, Record,
};
use clearance_core::tx::{SignedTx, TxBody};
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

/// A header of `height` decided by `set`, announcing `next`, with the record log `log`, signed by every one of
/// `signers`.
fn certified_by(
    g: &Genesis,
    height: u64,
    set: &ValidatorSet,
    next: &ValidatorSet,
    log: (u64, Hash32),
    signers: &[(&str, u8)],
) -> CertifiedHeader {
    certified_block(g, height, set, next, 0, log, signers)
}

/// The same for a block of `txs` transactions (only their count matters here).
fn certified_block(
    g: &Genesis,
    height: u64,
    set: &ValidatorSet,
    next: &ValidatorSet,
    txs: u64,
    log: (u64, Hash32),
    signers: &[(&str, u8)],
) -> CertifiedHeader {
    let header = Header {
        validator_set_hash: set.hash(),
        next_validator_set_hash: next.hash(),
        ..header(g, height, (txs, merkle::empty_root()), log)
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
    /// The record log: FR's admission and its approvals (0 to 2), then KZ's rotation and its approvals (3 to 6).
    records: Vec<Vec<u8>>,
    log: merkle::MemoryLog,
}

/// The membership record `record` signed by the ledger administrator of member `seed` (its genesis submitter).
fn signed(g: &Genesis, seed: u8, sequence: u64, record: Record) -> Vec<u8> {
    let body = TxBody {
        chain_id: g.chain_id(),
        submitter: key(seed + 59).public_key(),
        sequence,
        record,
    };
    SignedTx::sign(&body, &key(seed + 59)).to_bytes()
}

fn propose(g: &Genesis, change: MembershipChange, sequence: u64) -> Vec<u8> {
    let record = Record::MembershipPropose(MembershipPropose {
        proposer: cc("KZ"),
        change,
        reason: clearance_core::ids::Text::parse("pilot").unwrap(),
    });
    signed(g, 1, sequence, record)
}

fn approve(g: &Genesis, proposal: &[u8], (id, seed): (&str, u8), sequence: u64) -> Vec<u8> {
    let record = Record::MembershipApprove(MembershipApprove {
        proposal: SignedTx::from_bytes(proposal).unwrap().id(),
        member: cc(id),
    });
    signed(g, seed, sequence, record)
}

/// The records at `indexes`, proven in the log's first `size` entries.
fn logged(c: &Chain, indexes: &[u64], size: u64) -> Vec<LoggedRecord> {
    indexes
        .iter()
        .map(|&i| LoggedRecord {
            signed_tx: Bytes(c.records[i as usize].clone()),
            log_index: i,
            log_path: merkle::inclusion_proof(&c.log, i, size).unwrap(),
        })
        .collect()
}

fn adopted(c: &Chain, proposal: u64, approvals: &[u64], size: u64) -> Vec<AdoptedChange> {
    vec![AdoptedChange {
        proposal: logged(c, &[proposal], size).remove(0),
        approvals: logged(c, approvals, size),
    }]
}

fn log_at(c: &Chain, size: u64) -> (u64, Hash32) {
    (size, merkle::root(&c.log, size).unwrap())
}

/// Genesis (4), FR admitted from height 10 (adopted at 8 by KZ, DE and CN), KZ's key rotated from height 20
/// (adopted at 18 by KZ, DE, CN and UZ); a head at 30.
fn chain() -> Chain {
    let g = genesis(4);
    let (s0, s1, s2) = (set_of(&GENESIS), set_of(&ADMITTED), set_of(&ROTATED));
    assert_eq!(s0, g.validator_set().unwrap());
    let admit = propose(
        &g,
        MembershipChange::Admit(Admission {
            member: member("FR", 5),
            submitter_key: key(64).public_key(),
        }),
        1,
    );
    let rotate = propose(
        &g,
        MembershipChange::RotateValidatorKey {
            member: cc("KZ"),
            new_key: key(9).public_key(),
        },
        2,
    );
    let records = vec![
        admit.clone(),
        approve(&g, &admit, ("DE", 2), 1),
        approve(&g, &admit, ("CN", 3), 1),
        rotate.clone(),
        approve(&g, &rotate, ("DE", 2), 2),
        approve(&g, &rotate, ("CN", 3), 2),
        approve(&g, &rotate, ("UZ", 4), 1),
    ];
    let mut log = merkle::MemoryLog::new();
    for r in &records {
        log.append(r);
    }
    let mut c = Chain {
        g,
        changes: Vec::new(),
        records,
        log,
    };
    c.changes = vec![
        ValidatorSetChange {
            height: 10,
            validator_set: Bytes(s1.to_bytes()),
            proof: certified_by(&c.g, 9, &s0, &s1, log_at(&c, 3), &GENESIS[..3]),
            // Block 8 appended the admission's three records.
            adopting: certified_block(&c.g, 8, &s0, &s0, 3, log_at(&c, 3), &GENESIS[..3]),
            adopted: adopted(&c, 0, &[1, 2], 3),
        },
        ValidatorSetChange {
            height: 20,
            validator_set: Bytes(s2.to_bytes()),
            proof: certified_by(&c.g, 19, &s1, &s2, log_at(&c, 7), &ADMITTED[1..]),
            // Block 18 appended the rotation's four records.
            adopting: certified_block(&c.g, 18, &s1, &s1, 4, log_at(&c, 7), &ADMITTED[1..]),
            adopted: adopted(&c, 3, &[4, 5, 6], 7),
        },
    ];
    c
}

fn checkpoint(c: &Chain, changes: Vec<ValidatorSetChange>, head: CertifiedHeader) -> Vec<u8> {
    let (log_size, log_root) = log_at(c, 7);
    serde_json::to_vec(&Checkpoint {
        format: CHECKPOINT_FORMAT.into(),
        version: VERSION,
        chain_id: c.g.chain_id(),
        height: 30,
        log_size,
        log_root,
        head,
        validator_set_changes: changes,
    })
    .unwrap()
}

fn head(c: &Chain) -> CertifiedHeader {
    let s2 = set_of(&ROTATED);
    certified_by(&c.g, 30, &s2, &s2, log_at(c, 7), &ROTATED[..4])
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
    let admission = &v.validator_set_changes[0].adopted[0];
    assert_eq!(admission.change, "admit FR (Customs of FR)");
    assert_eq!(admission.proposer, cc("KZ"));
    assert_eq!(admission.approved_by, vec![cc("CN"), cc("DE"), cc("KZ")]);
    assert_eq!(v.validator_set_changes[1].adopted[0].approved_by.len(), 4);
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
    forged[0].proof = certified_by(&c.g, 9, &s0, &s1, log_at(&c, 3), &[("UZ", 4), ("FR", 5)]);
    assert_eq!(
        step_of(&c, &checkpoint(&c, forged, head(&c))),
        "validator-set[0].proof.certificate"
    );

    // A change certified by the wrong set: the new set signs its own announcement.
    let mut wrong = c.changes.clone();
    wrong[1].proof = certified_by(&c.g, 19, &s2, &s2, log_at(&c, 7), &ROTATED[..4]);
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
    huge[0].proof = certified_by(&c.g, u64::MAX, &s0, &s1, log_at(&c, 3), &GENESIS[..3]);
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

#[test]
fn records_that_do_not_adopt_the_announced_set_fail_at_their_step() {
    let c = chain();
    let s0 = set_of(&GENESIS);
    let with = |i: usize, adopted: Vec<AdoptedChange>| {
        let mut changes = c.changes.clone();
        changes[i].adopted = adopted;
        step_of(&c, &checkpoint(&c, changes, head(&c)))
    };

    // No records at all.
    assert_eq!(with(0, vec![]), "validator-set[0].adopted");
    // An approval left out: KZ and DE are 2 of the 4 members in force at the adopting height; 3 are needed.
    assert_eq!(
        with(0, adopted(&c, 0, &[1], 3)),
        "validator-set[0].adopted[0].quorum"
    );
    // The rotation's approvals counted against the five members in force at 18: three are not enough.
    assert_eq!(
        with(1, adopted(&c, 3, &[4, 5], 7)),
        "validator-set[1].adopted[0].quorum"
    );
    // An approval twice, or out of log order.
    assert_eq!(
        with(0, adopted(&c, 0, &[2, 1], 3)),
        "validator-set[0].adopted[0].approvals[1].order"
    );
    // The proposal given as its own approval, and an approval of another proposal.
    assert_eq!(
        with(0, adopted(&c, 0, &[0], 3)),
        "validator-set[0].adopted[0].approvals[0].relation"
    );
    assert_eq!(
        with(1, adopted(&c, 3, &[1, 5, 6], 7)),
        "validator-set[1].adopted[0].approvals[0].relation"
    );
    // A record that is not in the announcing header's log (the rotation was logged after height 9).
    assert_eq!(
        with(0, adopted(&c, 3, &[4, 5, 6], 7)),
        "validator-set[0].adopted[0].proposal.log-inclusion"
    );
    let mut moved = adopted(&c, 0, &[1, 2], 3);
    moved[0].approvals[0].log_index = 2;
    assert_eq!(
        with(0, moved),
        "validator-set[0].adopted[0].approvals[0].log-inclusion"
    );
    // A record whose signature does not verify.
    let mut forged = adopted(&c, 0, &[1, 2], 3);
    let mut bytes = forged[0].proposal.signed_tx.0.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    forged[0].proposal.signed_tx = Bytes(bytes);
    assert_eq!(
        with(0, forged),
        "validator-set[0].adopted[0].proposal.decode"
    );
    // An approval given as the proposal.
    assert_eq!(
        with(0, adopted(&c, 1, &[2], 3)),
        "validator-set[0].adopted[0].proposal.kind"
    );
    // The admission's records, with the rotation announced: the records do not make the announced set.
    let s_other = set_of(&[("KZ", 9), ("DE", 2), ("CN", 3), ("UZ", 4)]);
    let mut changes = c.changes.clone();
    changes[0].validator_set = Bytes(s_other.to_bytes());
    changes[0].proof = certified_by(&c.g, 9, &s0, &s_other, log_at(&c, 3), &GENESIS[..3]);
    assert_eq!(
        step_of(&c, &checkpoint(&c, changes, head(&c))),
        "validator-set[0].set"
    );
    // The same proposal twice: the second admission of FR does not apply.
    let mut twice = adopted(&c, 0, &[1, 2], 3);
    twice.push(twice[0].clone());
    assert_eq!(with(0, twice), "validator-set[0].adopted[1].order");

    // The adopting block: of another height, not certified by the set in force there, or one that did not
    // append the record that adopted the proposal (a proposal adopted earlier, or never).
    let s1 = set_of(&ADMITTED);
    let adopting = |c: &Chain, i: usize, h: CertifiedHeader| {
        let mut changes = c.changes.clone();
        changes[i].adopting = h;
        step_of(c, &checkpoint(c, changes, head(c)))
    };
    assert_eq!(
        adopting(
            &c,
            0,
            certified_block(&c.g, 7, &s0, &s0, 3, log_at(&c, 3), &GENESIS[..3])
        ),
        "validator-set[0].adopting.header"
    );
    assert_eq!(
        adopting(
            &c,
            1,
            certified_block(&c.g, 18, &s1, &s1, 4, log_at(&c, 7), &GENESIS[..3])
        ),
        "validator-set[1].adopting.certificate"
    );
    assert_eq!(
        adopting(
            &c,
            0,
            certified_block(&c.g, 8, &s0, &s0, 2, log_at(&c, 2), &GENESIS[..3])
        ),
        "validator-set[0].adopted[0].block"
    );
    assert_eq!(
        adopting(
            &c,
            1,
            certified_block(&c.g, 18, &s1, &s1, 3, log_at(&c, 3), &ADMITTED[1..])
        ),
        "validator-set[1].adopted[0].block",
        "a block that appended log entries 0 to 2 did not adopt the rotation, whose last approval is entry 6"
    );
}
