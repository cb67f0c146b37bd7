//! Every header commits to the state tree of the whole ledger state: the root a node computes incrementally, block
//! by block, is the root of a tree built from scratch over every stored state entry; a validator on another store
//! reaches the same root; and a block whose header names another root is refused.

#[path = "support/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

use clearance_core::Hash32;
use clearance_core::block::{Block, Header, HeaderView};
use clearance_core::bytes::Bytes;
use clearance_core::genesis::Genesis;
use clearance_core::ids::{CertificateNumber, CountryCode, ReasonCode, Text};
use clearance_core::record::{CertificateRef, CertificateRevoke, Record};
use clearance_core::rules::{self, StateKey, value_hash};
use clearance_core::state_tree;
use clearance_core::time::Date;
use clearance_core::vote::CommitCertificate;
use clearance_node::ledger::{InvalidBlock, Ledger};
use clearance_node::storage::{MemoryDisk, Store};
use fixtures::{MEMBERS, agency_tx, certificate_tx, genesis_of};
use std::collections::BTreeMap;
use std::sync::Arc;

fn ledger(disk: &MemoryDisk, name: &str, genesis: &Genesis) -> (Arc<Store>, Ledger) {
    let store = Arc::new(Store::open_in_memory(disk, name, genesis).expect("store"));
    let ledger =
        Ledger::new(store.clone(), genesis.chain_id(), genesis.params.clone()).expect("ledger");
    (store, ledger)
}

/// Member `member` revokes its certificate number `number`, as its transaction `sequence`.
fn revoke(chain_id: Hash32, member: usize, number: u64, sequence: u64) -> Bytes {
    let issuer = CountryCode::parse(MEMBERS[member]).expect("id");
    let record = Record::CertificateRevoke(CertificateRevoke {
        certificate: CertificateRef {
            number: CertificateNumber::parse(&format!("{issuer}-CO-2026-{number:07}"))
                .expect("number"),
            issuer,
        },
        effective_on: Date::parse("2026-11-25").expect("date"),
        reason_code: ReasonCode::parse("FRAUD").expect("code"),
        reason: Text::parse("forged invoice").expect("text"),
    });
    Bytes(agency_tx(chain_id, member, sequence, record).to_bytes())
}

fn certificate(height: u64, block: &Block) -> CommitCertificate {
    let hash = HeaderView::from_bytes(block.header.as_slice())
        .expect("header")
        .hash;
    CommitCertificate {
        height,
        round: 0,
        block_hash: hash,
        precommits: vec![],
    }
}

/// The root of a tree built from nothing over every state entry the store holds.
fn root_from_scratch(store: &Store) -> Hash32 {
    let mut entries = BTreeMap::new();
    store
        .scan_state(|key, value| {
            entries.insert(
                clearance_core::hash::tagged_hash(clearance_core::hash::tag::STATE_KEY, key),
                value_hash(value),
            );
            true
        })
        .expect("scan");
    state_tree::root_of(&entries)
}

/// The blocks: certificates from two members, then revocations of some of them, then an empty block.
fn blocks(chain_id: Hash32) -> Vec<Vec<Bytes>> {
    let issue = |member: usize, seqs: std::ops::RangeInclusive<u64>| -> Vec<Bytes> {
        seqs.map(|s| Bytes(certificate_tx(chain_id, member, s).to_bytes()))
            .collect()
    };
    let mut first = issue(0, 1..=40);
    first.extend(issue(1, 1..=25));
    vec![
        first,
        vec![revoke(chain_id, 0, 3, 41), revoke(chain_id, 1, 7, 26)],
        issue(0, 42..=60),
        vec![],
    ]
}

#[test]
fn each_header_commits_to_the_tree_of_the_whole_state() {
    let genesis = genesis_of(4);
    let chain_id = genesis.chain_id();
    let disk = MemoryDisk::new().expect("in-memory disk");
    let (store, mut proposer) = ledger(&disk, "proposer", &genesis);
    let (other_store, mut validator) = ledger(&disk, "validator", &genesis);
    assert_eq!(
        store.head().expect("head").state_root,
        rules::genesis_state_root(&genesis)
    );
    assert_eq!(
        root_from_scratch(&store),
        rules::genesis_state_root(&genesis)
    );
    let me = CountryCode::parse("CN").expect("id");
    let mut now = 1_800_000_000_000;
    let mut roots = Vec::new();
    for (i, txs) in blocks(chain_id).into_iter().enumerate() {
        let height = i as u64 + 1;
        let count = txs.len();
        let block = proposer
            .build(me.clone(), txs, now, &|_, _| false)
            .expect("block");
        assert_eq!(block.txs.len(), count, "every transaction is admissible");
        assert_eq!(block.header.len(), 294, "docs/protocol.md §2.4");
        let header = HeaderView::from_bytes(block.header.as_slice())
            .expect("header")
            .header;
        validator
            .validate(&block, now, &|_, _| false)
            .expect("the validator reaches the same root");
        proposer
            .commit(&block, &certificate(height, &block))
            .expect("commit");
        validator
            .commit(&block, &certificate(height, &block))
            .expect("commit");
        assert_eq!(store.head().expect("head").state_root, header.state_root);
        assert_eq!(
            root_from_scratch(&store),
            header.state_root,
            "height {height}"
        );
        assert_eq!(
            other_store.head().expect("head").state_root,
            header.state_root
        );
        roots.push(header.state_root);
        now += 1_000;
    }
    assert_ne!(roots[0], rules::genesis_state_root(&genesis));
    assert_ne!(roots[1], roots[0], "revocations change the root");
    assert_eq!(roots[3], roots[2], "an empty block changes nothing");

    // A revoked certificate's status is provable from the root.
    let revoked = StateKey::Certificate(CertificateRef {
        issuer: me.clone(),
        number: CertificateNumber::parse("CN-CO-2026-0000003").expect("number"),
    });
    let proof = state_tree::StateProof::build(&store.state_tree(), &revoked.path()).expect("proof");
    let value = store
        .state(&revoked)
        .expect("read")
        .expect("the certificate");
    assert_eq!(
        proof.verify(&roots[3], &revoked.path()),
        Ok(Some(value.hash()))
    );
    match value {
        rules::StateValue::Certificate(c) => {
            assert_eq!(c.status, rules::CertificateStatus::Revoked)
        }
        other => panic!("not a certificate: {other:?}"),
    }
}

#[test]
fn a_header_naming_another_state_root_is_refused() {
    let genesis = genesis_of(4);
    let chain_id = genesis.chain_id();
    let disk = MemoryDisk::new().expect("in-memory disk");
    let (_, mut proposer) = ledger(&disk, "proposer", &genesis);
    let (other_store, mut validator) = ledger(&disk, "validator", &genesis);
    let me = CountryCode::parse("CN").expect("id");
    let now = 1_800_000_000_000;
    let txs = blocks(chain_id).swap_remove(0);
    let block = proposer.build(me, txs, now, &|_, _| false).expect("block");
    let honest = HeaderView::from_bytes(block.header.as_slice())
        .expect("header")
        .header;
    // The root of the state before the block (a proposer that skipped the writes), and a made-up root.
    for wrong in [
        rules::genesis_state_root(&genesis),
        Hash32::sha256(b"made up"),
    ] {
        let forged = Block {
            header: HeaderView::from_header(Header {
                state_root: wrong,
                ..honest.clone()
            })
            .bytes,
            txs: block.txs.clone(),
        };
        match validator.validate(&forged, now, &|_, _| false) {
            Err(InvalidBlock::Header { field, .. }) => assert_eq!(field, "state_root"),
            other => panic!("a forged state root was not refused: {other:?}"),
        }
        // A decided block is executed and checked again before it is written.
        match validator.commit(&forged, &certificate(1, &forged)) {
            Err(InvalidBlock::Header { field, .. }) => assert_eq!(field, "state_root"),
            other => panic!("a forged state root was committed: {other:?}"),
        }
    }
    assert_eq!(
        other_store.head().expect("head").height,
        0,
        "nothing written"
    );
    validator
        .validate(&block, now, &|_, _| false)
        .expect("the honest block still validates");
}
