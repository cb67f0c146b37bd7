//! Auditor proofs at the scale of 1M records and 1M certificates, for 4 members: bundle and status proof sizes,
//! and the time to verify them offline; also the Merkle log (append, inclusion proof and its check), the state
//! tree (a status proof's check alone) and commit-certificate verification.
//!
//! `cargo bench -p clearance-core --bench proofs` (or `scripts/bench proof`).

#[path = "../tests/common/mod.rs"]
mod common;

use clearance_core::Hash32;
use clearance_core::audit::{
    BUNDLE_FORMAT, ProofBundle, RecordProof, STATUS_FORMAT, StateEntryProof, StatusFile,
    StatusSubject, VERSION, verify_bundle, verify_status,
};
use clearance_core::bytes::Bytes;
use clearance_core::genesis::Genesis;
use clearance_core::merkle::{self, MemoryLog, leaf_hash};
use clearance_core::record::Record;
use clearance_core::rules::{CertificateState, CertificateStatus, StateValue};
use clearance_core::state_tree::{self, NodeSource, Position, StateProof};
use clearance_core::tx::{SignedTx, TxBody};
use clearance_core::vote::verify_commit;
use common::{MemoryTree, certified, genesis, header, key};
use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::hint::black_box;

const LOG_SIZE: u64 = 1_000_000;
const BLOCK_TXS: u64 = 100;
/// The record's block appended log entries [599 900, 600 000); the record is its 38th transaction.
const BLOCK_LOG_SIZE: u64 = 600_000;
const TX_INDEX: u64 = 37;
const MEMBERS: usize = 4;
/// State entries besides the bundle's certificate: as many as there are certificates at 1M.
const STATE_ENTRIES: u64 = 1_000_000;

/// A state tree of 1M other entries and the certificate's, valid: its root and the certificate's proof.
fn state(subject: &StatusSubject, record: Hash32) -> (Hash32, StateEntryProof, MemoryTree) {
    let value = StateValue::Certificate(CertificateState {
        status: CertificateStatus::Valid,
        record,
        replaced_by: None,
    });
    let mut changes: BTreeMap<Hash32, Option<Hash32>> = (0..STATE_ENTRIES)
        .map(|i| (Hash32::sha256(&i.to_be_bytes()), Some(Hash32::sha256(&[1]))))
        .collect();
    let key = subject.key();
    changes.insert(key.path(), Some(value.hash()));
    let mut tree = MemoryTree::default();
    let Ok(update) = state_tree::update(&tree, &changes);
    tree.0.extend(
        update
            .writes
            .into_iter()
            .filter_map(|(at, n)| n.map(|n| (at, n))),
    );
    let Ok(proof) = StateProof::build(&tree, &key.path());
    let entry = StateEntryProof {
        value: Some(Bytes(value.to_bytes())),
        proof,
    };
    (update.root, entry, tree)
}

/// A bundle for one certificate in a log of 1M records among 1M certificates, its status proof alone, the log
/// and the state tree.
fn bundle(g: &Genesis) -> (Vec<u8>, Vec<u8>, MemoryLog, MemoryTree) {
    let body = TxBody {
        chain_id: g.chain_id(),
        submitter: key(60).public_key(),
        sequence: 1,
        record: common::every_record().remove(0),
    };
    let signed = SignedTx::sign(&body, &key(60));
    let subject = StatusSubject::of_record(&body.record, &signed.id()).expect("a certificate");
    assert!(matches!(body.record, Record::CertificateIssue(_)));
    let (state_root, status, tree) = state(&subject, signed.id());
    let record = signed.to_bytes();

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
    let mut anchor_header = header(
        g,
        10_000,
        (0, merkle::empty_root()),
        (LOG_SIZE, log.current_root()),
    );
    anchor_header.state_root = state_root;
    let (anchor, ..) = certified(g, anchor_header);
    let status_file = StatusFile {
        format: STATUS_FORMAT.into(),
        version: VERSION,
        chain_id: g.chain_id(),
        subject,
        status: status.clone(),
        anchor: anchor.clone(),
        validator_set_changes: vec![],
        recognition: None,
        decision: None,
    };
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
        status: Some(status),
    };
    (
        serde_json::to_vec_pretty(&bundle).expect("json"),
        serde_json::to_vec_pretty(&status_file).expect("json"),
        log,
        tree,
    )
}

fn proofs(c: &mut Criterion) {
    let g = genesis(MEMBERS);
    let (file, status_file, log, tree) = bundle(&g);
    println!(
        "proof bundle at {LOG_SIZE} records and {STATE_ENTRIES} state entries, {MEMBERS} members: {} bytes of \
         JSON; status proof alone: {} bytes",
        file.len(),
        status_file.len()
    );
    let verdict = verify_bundle(&g, &file, None).expect("the bundle verifies");
    assert_eq!(verdict.status.map(|s| s.status), Some("valid".to_string()));
    c.bench_function("bundle_verify_1M_records", |b| {
        b.iter(|| verify_bundle(&g, black_box(&file), None).expect("valid"))
    });
    verify_status(&g, &status_file).expect("the status proof verifies");
    c.bench_function("status_proof_verify_1M_entries", |b| {
        b.iter(|| verify_status(&g, black_box(&status_file)).expect("valid"))
    });
    let path = Hash32::sha256(&(STATE_ENTRIES / 2).to_be_bytes());
    let Ok(proof) = StateProof::build(&tree, &path);
    let Ok(top) = tree.node(&Position::ROOT);
    let root = top.expect("a tree of 1M entries has a root").hash();
    println!(
        "state tree path at {STATE_ENTRIES} entries: {} siblings",
        proof.siblings.len()
    );
    c.bench_function("state_tree_verify_path_1M", |b| {
        b.iter(|| proof.verify(black_box(&root), &path).expect("ok"))
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
