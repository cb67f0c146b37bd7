//! The `evidence` record: signed with a member's validator key, checked against the set of the messages' height,
//! recorded once per equivocation.

mod common;

use clearance_core::Hash32;
use clearance_core::equivocation::Equivocation;
use clearance_core::record::{EvidenceReport, Record};
use clearance_core::vote::{Proposal, SignedProposal, SignedVote, Vote, VoteKind};
use common::ledger::Ledger;
use common::{cc, key};

const CHAIN: Hash32 = Hash32([1; 32]);

/// A vote by member `validator` (genesis index `i`, so signed with `key(i + 1)` unless `signer` says otherwise).
fn vote(height: u64, block: u8, signer: u8, validator: &str) -> SignedVote {
    SignedVote::sign(
        &Vote {
            chain_id: CHAIN,
            height,
            round: 0,
            kind: VoteKind::Prevote,
            block: Some(Hash32([block; 32])),
            validator: cc(validator),
        },
        &key(signer),
    )
}

fn report(reporter: &str, first: SignedVote, second: SignedVote) -> Record {
    Record::Evidence(EvidenceReport {
        reporter: cc(reporter),
        equivocation: Equivocation::DoubleVote { first, second },
    })
}

/// A proposal by `proposer` at height 4, round 0, signed with `key(signer)`.
fn proposal(block: u8, valid_round: Option<u32>, signer: u8, proposer: &str) -> SignedProposal {
    SignedProposal::sign(
        &Proposal {
            chain_id: CHAIN,
            height: 4,
            round: 0,
            valid_round,
            block_hash: Hash32([block; 32]),
            proposer: cc(proposer),
        },
        &key(signer),
    )
}

fn proposals(reporter: &str, first: SignedProposal, second: SignedProposal) -> Record {
    Record::Evidence(EvidenceReport {
        reporter: cc(reporter),
        equivocation: Equivocation::DoubleProposal { first, second },
    })
}

/// A ledger at height 5 where DE's and KZ's validator keys may sign transactions as `DEv` and `KZv`.
fn ledger() -> Ledger {
    let mut l = Ledger::new();
    for _ in 0..4 {
        l.next_block(1000);
    }
    l.keys.insert("KZv".into(), key(1));
    l.keys.insert("DEv".into(), key(2));
    l
}

#[test]
fn a_double_vote_is_recorded_once_whoever_reports_it() {
    let mut l = ledger();
    // CN (validator key 3) prevoted for two blocks at height 4.
    let evidence = || report("KZ", vote(4, 7, 3, "CN"), vote(4, 8, 3, "CN"));
    assert_eq!(l.code("KZv", evidence()), "OK");
    assert_eq!(l.code("KZv", evidence()), "EVIDENCE_EXISTS");
    let by_de = report("DE", vote(4, 9, 3, "CN"), vote(4, 7, 3, "CN"));
    assert_eq!(l.code("DEv", by_de), "EVIDENCE_EXISTS");
    // Another height is another equivocation.
    let other = report("DE", vote(3, 7, 3, "CN"), vote(3, 8, 3, "CN"));
    assert_eq!(l.code("DEv", other), "OK");
}

#[test]
fn evidence_must_prove_what_it_claims() {
    let mut l = ledger();
    // A vote signed by another key than the validator's.
    let forged = report("KZ", vote(4, 7, 3, "CN"), vote(4, 8, 9, "CN"));
    assert_eq!(l.code("KZv", forged), "EVIDENCE_INVALID");
    // A height not decided yet.
    let future = report("KZ", vote(6, 7, 3, "CN"), vote(6, 8, 3, "CN"));
    assert_eq!(l.code("KZv", future), "EVIDENCE_INVALID");
    // Votes of another chain.
    let mut a = vote(4, 7, 3, "CN");
    let mut b = vote(4, 8, 3, "CN");
    for (v, block) in [(&mut a, 7u8), (&mut b, 8)] {
        *v = SignedVote::sign(
            &Vote {
                chain_id: Hash32([2; 32]),
                height: 4,
                round: 0,
                kind: VoteKind::Prevote,
                block: Some(Hash32([block; 32])),
                validator: cc("CN"),
            },
            &key(3),
        );
    }
    assert_eq!(l.code("KZv", report("KZ", a, b)), "EVIDENCE_INVALID");
}

#[test]
fn only_a_members_validator_key_reports_for_that_member() {
    let mut l = ledger();
    let evidence = || report("KZ", vote(4, 7, 3, "CN"), vote(4, 8, 3, "CN"));
    // An agency key is no validator key.
    assert_eq!(l.code("KZ", evidence()), "SUBMITTER_UNKNOWN");
    // DE's validator key cannot report as KZ.
    assert_eq!(l.code("DEv", evidence()), "SUBMITTER_WRONG_MEMBER");
    // And a validator key writes nothing else.
    let issue = common::every_record().remove(0);
    assert_eq!(l.code("KZv", issue), "SUBMITTER_UNKNOWN");
}

#[test]
fn the_shape_check_refuses_votes_that_cannot_be_an_equivocation() {
    let same_block = report("KZ", vote(4, 7, 3, "CN"), vote(4, 7, 3, "CN"));
    assert!(same_block.check_shape().is_err());
    let two_heights = report("KZ", vote(4, 7, 3, "CN"), vote(3, 8, 3, "CN"));
    assert!(two_heights.check_shape().is_err());
    let two_validators = report("KZ", vote(4, 7, 3, "CN"), vote(4, 8, 2, "DE"));
    assert!(two_validators.check_shape().is_err());
    assert!(
        report("KZ", vote(4, 7, 3, "CN"), vote(4, 8, 3, "CN"))
            .check_shape()
            .is_ok()
    );
}

#[test]
fn a_double_proposal_is_recorded_once_and_apart_from_double_votes() {
    let mut l = ledger();
    let evidence = |by: &str| proposals(by, proposal(7, None, 3, "CN"), proposal(8, None, 3, "CN"));
    assert_eq!(l.code("KZv", evidence("KZ")), "OK");
    assert_eq!(l.code("DEv", evidence("DE")), "EVIDENCE_EXISTS");
    // The same block under another valid round is a second proposal too; the round's equivocation is recorded.
    let valid_round = proposals(
        "DE",
        proposal(7, None, 3, "CN"),
        proposal(7, Some(0), 3, "CN"),
    );
    assert_eq!(l.code("DEv", valid_round), "EVIDENCE_EXISTS");
    // Prevotes at the same height and round are another offence.
    let votes = report("KZ", vote(4, 7, 3, "CN"), vote(4, 8, 3, "CN"));
    assert_eq!(l.code("KZv", votes), "OK");
}

#[test]
fn a_double_proposal_must_prove_what_it_claims() {
    let mut l = ledger();
    // The second proposal signed by another key than CN's.
    let forged = proposals("KZ", proposal(7, None, 3, "CN"), proposal(8, None, 9, "CN"));
    assert_eq!(l.code("KZv", forged), "EVIDENCE_INVALID");
    // The same proposal twice is no equivocation; two proposers are no equivocation either.
    let same = proposals("KZ", proposal(7, None, 3, "CN"), proposal(7, None, 3, "CN"));
    assert!(same.check_shape().is_err());
    let two = proposals("KZ", proposal(7, None, 3, "CN"), proposal(8, None, 2, "DE"));
    assert!(two.check_shape().is_err());
    let valid_round = proposals(
        "KZ",
        proposal(7, None, 3, "CN"),
        proposal(7, Some(0), 3, "CN"),
    );
    assert_eq!(l.code("KZv", valid_round), "OK");
}
