//! Block sync checks each block's signatures on a second thread ahead of its execution (`execute::verify_ahead`)
//! and execution takes those results as they are. They are taken only for the very transactions they were read
//! from: a block with a forged signature is refused whatever it is paired with, and a valid block commits.

#[path = "support/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

use clearance_core::block::{Block, HeaderView, tx_root};
use clearance_core::bytes::Bytes;
use clearance_core::genesis::Genesis;
use clearance_core::ids::CountryCode;
use clearance_node::execute::{Checked, ExecError, verify_ahead};
use clearance_node::ledger::{InvalidBlock, Ledger};
use clearance_node::storage::{MemoryDisk, Store};
use fixtures::{MEMBERS, certificate_tx, certify, genesis};
use std::collections::HashMap;
use std::sync::Arc;

fn ledger(disk: &MemoryDisk, name: &str, genesis: &Genesis) -> Ledger {
    let store = Arc::new(Store::open_in_memory(disk, name, genesis).expect("store"));
    Ledger::new(store, genesis.chain_id(), genesis.params.clone()).expect("ledger")
}

/// Block 1 of 8 certificates, as a proposer builds it.
fn valid_block(disk: &MemoryDisk, genesis: &Genesis) -> Block {
    let chain_id = genesis.chain_id();
    let txs = (1u64..=8)
        .map(|s| Bytes(certificate_tx(chain_id, (s % 4) as usize, s.div_ceil(4)).to_bytes()))
        .collect();
    let now = genesis.genesis_time.as_millis() + 1_000;
    ledger(disk, "proposer", genesis)
        .build(
            CountryCode::parse(MEMBERS[0]).expect("id"),
            txs,
            now,
            &|_, _| false,
        )
        .expect("block")
}

/// The same block with one signature bit flipped in transaction 5, and a header that commits to it: a
/// certified block whose transaction is forged (a quorum that signed it would have to be faulty).
fn forged(valid: &Block) -> Block {
    let mut txs = valid.txs.clone();
    let last = txs[5].0.len() - 1;
    txs[5].0[last] ^= 1;
    let mut header = HeaderView::from_bytes(valid.header.as_slice())
        .expect("header")
        .header;
    header.tx_root = tx_root(&txs);
    Block {
        header: HeaderView::from_header(header).bytes,
        txs,
    }
}

#[test]
fn a_synced_block_commits_with_its_transactions_verified_ahead() {
    let genesis = genesis();
    let chain_id = genesis.chain_id();
    let disk = MemoryDisk::new().expect("disk");
    let block = valid_block(&disk, &genesis);
    let cert = certify(chain_id, &block);
    let mut keys = HashMap::new();
    let mut syncing = ledger(&disk, "ahead", &genesis);
    let ahead = verify_ahead(&chain_id, &block.txs, &mut keys);
    let committed = syncing
        .apply_synced(&block, &cert, Checked::Ahead(ahead))
        .expect("a valid block commits");
    assert_eq!(committed.accepted, 8);
    // Results read from another copy of the same bytes are not taken: everything is checked again, and the
    // block still commits.
    let copy = block.txs.clone();
    let mut other = ledger(&disk, "copy", &genesis);
    let committed = other
        .apply_synced(
            &block,
            &cert,
            Checked::Ahead(verify_ahead(&chain_id, &copy, &mut keys)),
        )
        .expect("a valid block commits");
    assert_eq!(committed.accepted, 8);
}

#[test]
fn a_forged_signature_is_refused_whatever_was_verified_ahead() {
    let genesis = genesis();
    let chain_id = genesis.chain_id();
    let disk = MemoryDisk::new().expect("disk");
    let valid = valid_block(&disk, &genesis);
    let bad = forged(&valid);
    let cert = certify(chain_id, &bad);
    let refused = |result: Result<_, InvalidBlock>| match result {
        Err(InvalidBlock::Exec(ExecError::InvalidTx { index: 5, .. })) => {}
        other => panic!("transaction 5's signature is refused, not {other:?}"),
    };
    let mut keys = HashMap::new();
    // Its own transactions verified ahead: the forged one failed there, and fails again in execution.
    let mut syncing = ledger(&disk, "own", &genesis);
    refused(syncing.apply_synced(
        &bad,
        &cert,
        Checked::Ahead(verify_ahead(&chain_id, &bad.txs, &mut keys)),
    ));
    // The valid block's transactions, verified ahead, paired with the forged block: not taken.
    let mut syncing = ledger(&disk, "paired", &genesis);
    refused(syncing.apply_synced(
        &bad,
        &cert,
        Checked::Ahead(verify_ahead(&chain_id, &valid.txs, &mut keys)),
    ));
    // Nothing verified before.
    let mut syncing = ledger(&disk, "nothing", &genesis);
    refused(syncing.apply_synced(&bad, &cert, Checked::NOTHING));
}
