//! Auditor proofs at the scale of 1M records, for 4 members: bundle size, and the time to verify a bundle
//! offline; also the Merkle log (append, inclusion proof and its check) and commit-certificate verification.
//!
//! `cargo bench -p clearance-core --bench proofs` (or `scripts/bench proof`).

#[path = "../tests/common/mod.rs"]
mod common;

use clearance_core::Hash32;
use clearance_core::audit::{BUNDLE_FORMAT, ProofBundle, RecordProof, VERSION, verify_bundle};
use clearance_core::bytes::Bytes;
use clearance_core::genesis::Genesis;
use clearance_core::merkle::{self, MemoryLog, leaf_hash};
use clearance_core::tx::{SignedTx, TxBody};
use clearance_core::vote::verify_commit;
use common::{certified, genesis, header, key};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

const LOG_SIZE: u64 = 1_000_000;
const BLOCK_TXS: u64 = 100;
/// The record's block appended log entries [599 900, 600 000); the record is its 38th transaction.
const BLOCK_LOG_SIZE: u64 = 600_000;
const TX_INDEX: u64 = 37;
const MEMBERS: usize = 4;

/// A bundle for one certificate in a log of 1M records, and the log itself.
fn bundle(g: &Genesis) -> (Vec<u8>, MemoryLog) {
    let body = TxBody {
        chain_id: g.chain_id(),
        submitter: key(60).public_key(),
        sequence: 1,
        record: common::every_record().remove(0),
    };
    let record = SignedTx::sign(&body, &key(60)).to_bytes();

    let mut block = MemoryLog::new();
    for i in 0..BLOCK_TXS {
        if i == TX_INDEX {
            block.append(&record);
        } else {
            block.append(format!("another transaction {i}").as_bytes());
        }
    }
    let log_index = BLOCK_LOG_SIZE - BLOCK_TXS + TX_INDEX;
    let mut log = MemoryLog::new();
    for i in 0..LOG_SIZE {
        if i == log_index {
            log.append(&record);
        } else {
            log.append_hash(Hash32::sha256(&i.to_le_bytes()));
        }
    }
    let block_root = merkle::root(&log, BLOCK_LOG_SIZE).expect("root");
    let (block_proof, ..) = certified(
        g,
        header(
            g,
            6_000,
            (BLOCK_TXS, block.current_root()),
            (BLOCK_LOG_SIZE, block_root),
        ),
    );
    let (anchor, ..) = certified(
        g,
        header(
            g,
            10_000,
            (0, merkle::empty_root()),
            (LOG_SIZE, log.current_root()),
        ),
    );
    let bundle = ProofBundle {
        format: BUNDLE_FORMAT.into(),
        version: VERSION,
        chain_id: g.chain_id(),
        record: RecordProof {
            signed_tx: Bytes(record),
            block: block_proof,
            tx_index: TX_INDEX,
            tx_path: merkle::inclusion_proof(&block, TX_INDEX, BLOCK_TXS).expect("tx path"),
            log_index,
            log_path: merkle::inclusion_proof(&log, log_index, LOG_SIZE).expect("log path"),
        },
        later: vec![],
        anchor,
        validator_set_changes: vec![],
    };
    (serde_json::to_vec_pretty(&bundle).expect("json"), log)
}

fn proofs(c: &mut Criterion) {
    let g = genesis(MEMBERS);
    let (file, log) = bundle(&g);
    println!(
        "proof bundle at {LOG_SIZE} records, {MEMBERS} members: {} bytes of JSON",
        file.len()
    );
    verify_bundle(&g, &file, None).expect("the bundle verifies");
    c.bench_function("bundle_verify_1M_records", |b| {
        b.iter(|| verify_bundle(&g, black_box(&file), None).expect("valid"))
    });

    let index = LOG_SIZE / 3;
    let leaf = Hash32::sha256(&index.to_le_bytes());
    let path = merkle::inclusion_proof(&log, index, LOG_SIZE).expect("path");
    let root = log.current_root();
    c.bench_function("merkle_inclusion_proof_1M", |b| {
        b.iter(|| merkle::inclusion_proof(&log, black_box(index), LOG_SIZE).expect("path"))
    });
    c.bench_function("merkle_verify_inclusion_1M", |b| {
        b.iter(|| {
            merkle::verify_inclusion(&leaf, black_box(index), LOG_SIZE, &path, &root).expect("ok")
        })
    });
    let mut growing = MemoryLog::new();
    let leaf_bytes = vec![7u8; 400];
    c.bench_function("merkle_append_400_byte_leaf", |b| {
        b.iter(|| growing.append_hash(leaf_hash(black_box(&leaf_bytes))))
    });

    let set = g.validator_set().expect("set");
    let (_, view, cert) = certified(
        &g,
        header(&g, 42, (0, merkle::empty_root()), (0, merkle::empty_root())),
    );
    c.bench_function("commit_certificate_verify_4_members", |b| {
        b.iter(|| verify_commit(&g.chain_id(), &set, black_box(&view), &cert).expect("valid"))
    });
}

criterion_group!(benches, proofs);
criterion_main!(benches);
