//! Commit certificates: `verify_commit` accepts a quorum of valid precommits and nothing less.

mod common;

use clearance_core::block::{Header, HeaderView};
use clearance_core::hash::Hash32;
use clearance_core::time::Timestamp;
use clearance_core::validator::ValidatorSet;
use clearance_core::vote::*;
use common::*;

struct Fixture {
    chain: Hash32,
    set: ValidatorSet,
    header: HeaderView,
    n: usize,
}

fn fixture(n: usize) -> Fixture {
    let g = genesis(n);
    let set = g.validator_set().unwrap();
    let header = HeaderView::from_header(Header {
        chain_id: g.chain_id(),
        height: 7,
        time: Timestamp::parse("2026-11-24T12:00:00Z").unwrap(),
        parent_hash: Hash32::sha256(b"parent"),
        proposer: cc("KZ"),
        tx_count: 0,
        tx_root: clearance_core::merkle::empty_root(),
        results_root: clearance_core::merkle::empty_root(),
        log_size: 0,
        log_root: clearance_core::merkle::empty_root(),
        validator_set_hash: set.hash(),
        next_validator_set_hash: set.hash(),
        state_root: Hash32::ZERO,
    });
    Fixture {
        chain: g.chain_id(),
        set,
        header,
        n,
    }
}

/// Member i of `genesis(n)` signs with `key(i + 1)`.
fn precommit(f: &Fixture, i: usize, block: Option<Hash32>, kind: VoteKind) -> SignedVote {
    let vote = Vote {
        chain_id: f.header.header.chain_id,
        height: 7,
        round: 2,
        kind,
        block,
        validator: cc(MEMBER_IDS[i]),
    };
    SignedVote::sign(&vote, &key(i as u8 + 1))
}

fn cert(f: &Fixture, signers: &[usize]) -> CommitCertificate {
    CommitCertificate {
        height: 7,
        round: 2,
        block_hash: f.header.hash,
        precommits: signers
            .iter()
            .map(|&i| precommit(f, i, Some(f.header.hash), VoteKind::Precommit))
            .collect(),
    }
}

#[test]
fn quorum_sizes() {
    for (n, q) in [
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 3),
        (5, 4),
        (6, 5),
        (7, 5),
        (10, 7),
    ] {
        let set = genesis(n.min(7)).validator_set().unwrap();
        if set.len() == n {
            assert_eq!(set.quorum(), q, "n = {n}");
        }
    }
}

#[test]
fn accepts_a_quorum_at_n4_and_n7() {
    for n in [4, 7] {
        let f = fixture(n);
        let q = f.set.quorum();
        let signers: Vec<usize> = (0..q).collect();
        let names = verify_commit(&f.chain, &f.set, &f.header, &cert(&f, &signers)).unwrap();
        assert_eq!(names.len(), q);
        let all: Vec<usize> = (0..f.n).collect();
        verify_commit(&f.chain, &f.set, &f.header, &cert(&f, &all)).unwrap();
        let c = cert(&f, &signers);
        assert_eq!(CommitCertificate::from_bytes(&c.to_bytes()).unwrap(), c);
    }
}

#[test]
fn rejects_less_than_a_quorum_and_double_counting() {
    let f = fixture(4);
    let err = verify_commit(&f.chain, &f.set, &f.header, &cert(&f, &[0, 1])).unwrap_err();
    assert!(matches!(err, CommitError::NoQuorum { got: 2, needed: 3 }));
    let err = verify_commit(&f.chain, &f.set, &f.header, &cert(&f, &[0, 1, 1])).unwrap_err();
    assert!(matches!(err, CommitError::DuplicateSigner(_)));
    let err = verify_commit(&f.chain, &f.set, &f.header, &cert(&f, &[0, 1, 2, 3, 0])).unwrap_err();
    assert!(matches!(err, CommitError::TooManyVotes(5)));
}

#[test]
fn rejects_wrong_votes() {
    let f = fixture(4);
    let mut c = cert(&f, &[0, 1]);
    c.precommits
        .push(precommit(&f, 2, None, VoteKind::Precommit));
    assert!(matches!(
        verify_commit(&f.chain, &f.set, &f.header, &c),
        Err(CommitError::VoteMismatch { .. })
    ));

    let mut c = cert(&f, &[0, 1]);
    c.precommits
        .push(precommit(&f, 2, Some(f.header.hash), VoteKind::Prevote));
    assert!(matches!(
        verify_commit(&f.chain, &f.set, &f.header, &c),
        Err(CommitError::VoteMismatch { .. })
    ));

    let mut c = cert(&f, &[0, 1, 2]);
    c.precommits[2].signature = key(99).sign(
        clearance_core::hash::tag::VOTE,
        c.precommits[2].vote.as_slice(),
    );
    assert!(matches!(
        verify_commit(&f.chain, &f.set, &f.header, &c),
        Err(CommitError::Vote { index: 2, .. })
    ));

    // A vote signed under another domain does not count.
    let mut c = cert(&f, &[0, 1, 2]);
    c.precommits[2].signature = key(3).sign(
        clearance_core::hash::tag::PROPOSAL,
        c.precommits[2].vote.as_slice(),
    );
    assert!(verify_commit(&f.chain, &f.set, &f.header, &c).is_err());

    // A non-member's vote.
    let mut c = cert(&f, &[0, 1]);
    let outsider = Vote {
        chain_id: f.header.header.chain_id,
        height: 7,
        round: 2,
        kind: VoteKind::Precommit,
        block: Some(f.header.hash),
        validator: cc("FR"),
    };
    c.precommits.push(SignedVote::sign(&outsider, &key(5)));
    assert!(matches!(
        verify_commit(&f.chain, &f.set, &f.header, &c),
        Err(CommitError::Vote {
            error: VoteError::NotAValidator(_),
            ..
        })
    ));
}

#[test]
fn rejects_wrong_header_or_set() {
    let f = fixture(4);
    let c = cert(&f, &[0, 1, 2]);
    let mut other = f.header.header.clone();
    other.height = 8;
    let other = HeaderView::from_header(other);
    assert!(matches!(
        verify_commit(&f.chain, &f.set, &other, &c),
        Err(CommitError::Height { .. })
    ));

    let mut other = f.header.header.clone();
    other.tx_count = 1;
    let other = HeaderView::from_header(other);
    assert!(matches!(
        verify_commit(&f.chain, &f.set, &other, &c),
        Err(CommitError::BlockHash { .. })
    ));

    let seven = genesis(7).validator_set().unwrap();
    assert!(matches!(
        verify_commit(&f.chain, &seven, &f.header, &c),
        Err(CommitError::ValidatorSet { .. })
    ));

    // A header of another chain is refused even with a valid quorum for it.
    let mut foreign = f.header.header.clone();
    foreign.chain_id = Hash32::sha256(b"another chain");
    let foreign = HeaderView::from_header(foreign);
    let c = CommitCertificate {
        height: 7,
        round: 2,
        block_hash: foreign.hash,
        precommits: (0..3)
            .map(|i| precommit(&f, i, Some(foreign.hash), VoteKind::Precommit))
            .collect(),
    };
    assert!(matches!(
        verify_commit(&f.chain, &f.set, &foreign, &c),
        Err(CommitError::WrongChain { .. })
    ));

    // Votes signed for another chain do not count for this one.
    let mut c = cert(&f, &[0, 1]);
    let vote = Vote {
        chain_id: Hash32::sha256(b"another chain"),
        height: 7,
        round: 2,
        kind: VoteKind::Precommit,
        block: Some(f.header.hash),
        validator: cc(MEMBER_IDS[2]),
    };
    c.precommits.push(SignedVote::sign(&vote, &key(3)));
    assert!(matches!(
        verify_commit(&f.chain, &f.set, &f.header, &c),
        Err(CommitError::Vote {
            error: VoteError::WrongChain { .. },
            ..
        })
    ));
}

#[test]
fn proposals_sign_and_verify() {
    let f = fixture(4);
    let p = Proposal {
        chain_id: f.header.header.chain_id,
        height: 7,
        round: 0,
        valid_round: None,
        block_hash: f.header.hash,
        proposer: cc("DE"),
    };
    let signed = SignedProposal::sign(&p, &key(2));
    assert_eq!(signed.verify(&f.header.header.chain_id, &f.set).unwrap(), p);
    let forged = SignedProposal::sign(&p, &key(1));
    assert!(forged.verify(&f.header.header.chain_id, &f.set).is_err());
}
