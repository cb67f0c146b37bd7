//! Block sync catch-up: how fast a node that missed blocks verifies and commits them. Each block's commit
//! certificate is checked against the validator set, every transaction's signature verified, the records
//! executed and appended to the Merkle log, and the block written in one synced RocksDB batch, exactly as
//! `Ledger::apply_synced` does for block sync. Throughput is reported in records per second.
//!
//! `cargo bench --workspace --profile dev --bench catchup` (the dev profile optimises dependencies and this
//! crate; a release build would compile RocksDB once more).

use clearance_core::block::Block;
use clearance_core::genesis::Genesis;
use clearance_core::ids::*;
use clearance_core::vote::CommitCertificate;
use clearance_node::execute::Checked;
use clearance_node::ledger::Ledger;
use clearance_node::storage::Store;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../tests/support/fixtures.rs"]
mod fixtures;
use fixtures::{MEMBERS, certificate_tx, certify, genesis};

const BLOCKS: usize = 20;
const TXS_PER_BLOCK: usize = 1000;

/// Commits `BLOCKS` full blocks on a source node and returns them with their certificates.
fn source_chain(genesis: &Genesis) -> Vec<(Block, CommitCertificate)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain_id = genesis.chain_id();
    let store = Arc::new(Store::open(dir.path(), genesis).expect("store"));
    let mut ledger = Ledger::new(store, chain_id, genesis.params.clone()).expect("ledger");
    let mut sequences = [0u64; 4];
    let mut out = Vec::new();
    for b in 0..BLOCKS {
        let txs = (0..TXS_PER_BLOCK)
            .map(|i| {
                let member = i % 4;
                sequences[member] += 1;
                clearance_core::bytes::Bytes(
                    certificate_tx(chain_id, member, sequences[member]).to_bytes(),
                )
            })
            .collect();
        let proposer = CountryCode::parse(MEMBERS[b % 4]).expect("id");
        let now = genesis.genesis_time.as_millis() + 1000 * (b as u64 + 1);
        let block = ledger
            .build(proposer, txs, now, &|_, _| false)
            .expect("build");
        let cert = certify(chain_id, &block);
        let committed = ledger.commit(&block, &cert).expect("commit");
        assert_eq!(committed.accepted, TXS_PER_BLOCK, "every record accepted");
        out.push((block, cert));
    }
    out
}

fn catchup(c: &mut Criterion) {
    let genesis = genesis();
    let chain = source_chain(&genesis);
    let mut group = c.benchmark_group("block_sync");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements((BLOCKS * TXS_PER_BLOCK) as u64));
    group.bench_function("apply_synced_20x1000_records", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("tempdir");
                let store = Arc::new(Store::open(dir.path(), &genesis).expect("store"));
                let mut ledger =
                    Ledger::new(store, genesis.chain_id(), genesis.params.clone()).expect("ledger");
                let start = Instant::now();
                // As block sync does without its second thread: every signature checked in execution, and
                // one sync at the end.
                for (block, cert) in &chain {
                    ledger
                        .apply_synced(block, cert, Checked::NOTHING)
                        .expect("apply");
                }
                ledger.sync().expect("sync");
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, catchup);
criterion_main!(benches);
