//! Every decoder of untrusted bytes, fed random and mutated input: it must return an error or a value that
//! re-encodes to exactly the input, and never panic.

mod common;

use clearance_core::block::{Block, Header, HeaderView, Outcome, TxResult};
use clearance_core::bytes::Bytes;
use clearance_core::encoding::{self, limit};
use clearance_core::genesis::Genesis;
use clearance_core::record::Record;
use clearance_core::rules::{CertificateState, CertificateStatus, StateValue};
use clearance_core::tx::{SignedTx, TxBody};
use clearance_core::validator::ValidatorSet;
use clearance_core::vote::{CommitCertificate, SignedVote, Vote, VoteKind};
use clearance_core::{Hash32, ids::ReasonCode, time::Timestamp};
use common::*;
use proptest::prelude::*;

/// Runs every decoder on `bytes`. Any value that decodes must re-encode to the same bytes (one encoding per
/// value), so that hashing received bytes and hashing a decoded value can never disagree.
fn decode_all(bytes: &[u8]) {
    fn check<T: serde::Serialize>(bytes: &[u8], decoded: Option<T>) {
        if let Some(v) = decoded {
            assert_eq!(
                encoding::encode(&v),
                bytes,
                "a value decoded from bytes it does not encode to"
            );
        }
    }
    check(bytes, SignedTx::from_bytes(bytes).ok());
    check(
        bytes,
        encoding::decode::<TxBody>(bytes, limit::TX_BODY, "body").ok(),
    );
    check(
        bytes,
        encoding::decode::<Record>(bytes, limit::TX_BODY, "record").ok(),
    );
    check(bytes, Block::from_bytes(bytes).ok());
    check(bytes, HeaderView::from_bytes(bytes).ok().map(|h| h.header));
    check(bytes, CommitCertificate::from_bytes(bytes).ok());
    check(bytes, ValidatorSet::from_bytes(bytes).ok());
    check(bytes, TxResult::from_bytes(bytes).ok());
    check(
        bytes,
        encoding::decode::<Vote>(bytes, limit::VOTE, "vote").ok(),
    );
    check(
        bytes,
        encoding::decode::<SignedVote>(bytes, limit::VOTE + 128, "signed vote").ok(),
    );
    check(bytes, Genesis::from_bytes(bytes).ok());
    check(
        bytes,
        encoding::decode::<StateValue>(bytes, limit::GENESIS, "state value").ok(),
    );
}

fn samples() -> Vec<Vec<u8>> {
    let g = genesis(4);
    let chain = g.chain_id();
    let set = g.validator_set().unwrap();
    let mut out = vec![g.to_bytes(), set.to_bytes()];
    let mut txs = Vec::new();
    for record in every_record() {
        out.push(encoding::encode(&record));
        let tx = SignedTx::sign(
            &TxBody {
                chain_id: chain,
                submitter: key(60).public_key(),
                sequence: 3,
                record,
            },
            &key(60),
        );
        out.push(tx.body.0.clone());
        out.push(tx.to_bytes());
        txs.push(Bytes(tx.to_bytes()));
    }
    let header = Header {
        chain_id: chain,
        height: 1,
        time: Timestamp(1),
        parent_hash: Hash32::ZERO,
        proposer: cc("KZ"),
        tx_count: txs.len() as u32,
        tx_root: clearance_core::block::tx_root(&txs),
        results_root: Hash32::ZERO,
        log_size: 12,
        log_root: Hash32::ZERO,
        validator_set_hash: set.hash(),
        next_validator_set_hash: set.hash(),
        state_root: Hash32::ZERO,
    };
    let view = HeaderView::from_header(header);
    out.push(view.bytes.0.clone());
    let block = Block {
        header: view.bytes.clone(),
        txs,
    };
    assert!(block.verify_body().is_ok());
    out.push(block.to_bytes());
    let vote = Vote {
        chain_id: chain,
        height: 1,
        round: 0,
        kind: VoteKind::Precommit,
        block: Some(view.hash),
        validator: cc("KZ"),
    };
    let sv = SignedVote::sign(&vote, &key(1));
    out.push(sv.vote.0.clone());
    out.push(encoding::encode(&sv));
    out.push(
        CommitCertificate {
            height: 1,
            round: 0,
            block_hash: view.hash,
            precommits: vec![sv],
        }
        .to_bytes(),
    );
    out.push(
        TxResult {
            tx_id: Hash32::ZERO,
            outcome: Outcome::Rejected {
                code: ReasonCode::parse("NOT_ISSUER").unwrap(),
            },
        }
        .to_bytes(),
    );
    out.push(encoding::encode(&StateValue::Certificate(
        CertificateState {
            status: CertificateStatus::Revoked,
            record: Hash32::sha256(b"revocation"),
            replaced_by: None,
        },
    )));
    out
}

#[test]
fn samples_decode_and_reject_trailing_bytes_and_truncation() {
    for sample in samples() {
        decode_all(&sample);
        let mut longer = sample.clone();
        longer.push(0);
        decode_all(&longer);
        for cut in [1, sample.len() / 2, sample.len() - 1] {
            decode_all(&sample[..cut]);
        }
    }
    // Each sample decodes as at least one type, so the round-trip check above is not vacuous.
    let tx = samples().into_iter().nth(4).unwrap();
    assert!(SignedTx::from_bytes(&tx).is_ok());
    let mut longer = tx.clone();
    longer.push(0);
    assert!(SignedTx::from_bytes(&longer).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        decode_all(&bytes);
    }

    #[test]
    fn mutated_samples_never_panic(which in any::<prop::sample::Index>(), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let samples = samples();
        let mut bytes = samples[which.index(samples.len())].clone();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        decode_all(&bytes);
    }

    #[test]
    fn random_json_never_panics(text in "\\PC{0,300}") {
        let _ = Genesis::from_json(&text);
        let _ = serde_json::from_str::<Record>(&text);
        let _ = serde_json::from_str::<SignedTx>(&text);
    }
}
