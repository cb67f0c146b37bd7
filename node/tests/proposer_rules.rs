//! A block is invalid when it carries a transaction that fails the submitter checks at its place in the block:
//! a proposer can neither commit another member's transactions out of order (burning their ids as
//! `BAD_SEQUENCE`) nor commit junk under keys the ledger does not know. A correct proposer leaves such a
//! transaction out of the block it builds.

#[path = "support/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

use clearance_core::block::{Block, HeaderView, tx_root};
use clearance_core::bytes::Bytes;
use clearance_core::ids::CountryCode;
use clearance_node::execute::ExecError;
use clearance_node::ledger::{InvalidBlock, Ledger};
use clearance_node::storage::{MemoryDisk, Store};
use fixtures::{certificate_tx, genesis_of};
use std::sync::Arc;

fn ledger() -> (Ledger, clearance_core::Hash32) {
    let genesis = genesis_of(4);
    let disk = MemoryDisk::new().expect("in-memory disk");
    let store = Arc::new(Store::open_in_memory(&disk, "node", &genesis).expect("store"));
    let chain_id = genesis.chain_id();
    (
        Ledger::new(store, chain_id, genesis.params.clone()).expect("ledger"),
        chain_id,
    )
}

/// `block` with its transactions replaced by `txs` and its header made to match them (count and root), as a
/// proposer running modified code would send it.
fn with_txs(block: &Block, txs: Vec<Bytes>) -> Block {
    let mut header = HeaderView::from_bytes(block.header.as_slice())
        .expect("header")
        .header;
    header.tx_count = txs.len() as u32;
    header.tx_root = tx_root(&txs);
    Block {
        header: HeaderView::from_header(header).bytes,
        txs,
    }
}

fn exec_code(result: Result<HeaderView, InvalidBlock>) -> &'static str {
    match result {
        Err(InvalidBlock::Exec(ExecError::Inadmissible { code, .. })) => code,
        Err(e) => panic!("another refusal: {e}"),
        Ok(_) => "valid",
    }
}

#[test]
fn a_block_with_a_transaction_out_of_sequence_is_invalid_and_a_correct_proposer_leaves_it_out() {
    let (mut ledger, chain_id) = ledger();
    let first = Bytes(certificate_tx(chain_id, 0, 1).to_bytes());
    let third = Bytes(certificate_tx(chain_id, 0, 3).to_bytes());
    let me = CountryCode::parse("CN").expect("id");
    let built = ledger
        .build(
            me,
            vec![first.clone(), third.clone()],
            1_800_000_000_000,
            &|_, _| false,
        )
        .expect("a block");
    assert_eq!(
        built.txs,
        vec![first.clone()],
        "the proposer left the gap's successor out"
    );
    let misordered = with_txs(&built, vec![third.clone(), first.clone()]);
    assert_eq!(
        exec_code(ledger.validate(&misordered, 1_800_000_000_000, &|_, _| false)),
        "BAD_SEQUENCE"
    );
    let gap = with_txs(&built, vec![first, third]);
    assert_eq!(
        exec_code(ledger.validate(&gap, 1_800_000_000_000, &|_, _| false)),
        "BAD_SEQUENCE"
    );
}

#[test]
fn a_block_with_a_transaction_of_an_unregistered_key_is_invalid() {
    let (mut ledger, chain_id) = ledger();
    // Member 5's agency key is not in a 4-member genesis; its record also acts for a non-member.
    let stranger = Bytes(certificate_tx(chain_id, 5, 1).to_bytes());
    let first = Bytes(certificate_tx(chain_id, 0, 1).to_bytes());
    let me = CountryCode::parse("CN").expect("id");
    let built = ledger
        .build(
            me,
            vec![stranger.clone(), first.clone()],
            1_800_000_000_000,
            &|_, _| false,
        )
        .expect("a block");
    assert_eq!(built.txs, vec![first.clone()]);
    let junk = with_txs(&built, vec![stranger, first]);
    assert_eq!(
        exec_code(ledger.validate(&junk, 1_800_000_000_000, &|_, _| false)),
        "SUBMITTER_UNKNOWN"
    );
}
