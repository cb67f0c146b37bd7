//! Signature and transaction checks: one signature alone, batches of 64 and 256 (per signature), and a
//! signed transaction's admission checks (decode, chain, signature with the key cached, record shape).
//!
//! `cargo bench -p clearance-core --bench crypto`

#[path = "../tests/common/mod.rs"]
mod common;

use clearance_core::crypto::{BatchItem, CheckedKey, SecretKey, Signature, verify_batch};
use clearance_core::hash::tag;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

struct Signed {
    keys: Vec<CheckedKey>,
    messages: Vec<Vec<u8>>,
    signatures: Vec<Signature>,
}

/// `n` signatures of 400-byte messages by 4 keys, as in a block of a few busy submitters.
fn signed(n: usize) -> Signed {
    let secrets: Vec<SecretKey> = (1..=4u8).map(|b| SecretKey::from_seed([b; 32])).collect();
    let messages: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; 400]).collect();
    Signed {
        keys: secrets
            .iter()
            .map(|s| s.public_key().to_checked().expect("key"))
            .collect(),
        signatures: messages
            .iter()
            .enumerate()
            .map(|(i, m)| secrets[i % 4].sign(tag::TX, m))
            .collect(),
        messages,
    }
}

fn signatures(c: &mut Criterion) {
    let mut group = c.benchmark_group("signature");
    let one = signed(1);
    group.throughput(Throughput::Elements(1));
    group.bench_function("single", |b| {
        b.iter(|| {
            one.keys[0]
                .verify(tag::TX, black_box(&one.messages[0]), &one.signatures[0])
                .expect("valid")
        })
    });
    for n in [64usize, 256] {
        let s = signed(n);
        let items: Vec<BatchItem<'_>> = (0..n)
            .map(|i| BatchItem {
                key: &s.keys[i % 4],
                tag: tag::TX,
                bytes: &s.messages[i],
                signature: &s.signatures[i],
            })
            .collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("batch_{n}"), |b| {
            b.iter(|| assert!(verify_batch(black_box(&items)).iter().all(Result::is_ok)))
        });
    }
    group.finish();
}

/// What admission costs a node per transaction before any ledger state is read: decoding the signed bytes,
/// the chain id, the signature and the record's shape.
fn admission(c: &mut Criterion) {
    let chain_id = clearance_core::Hash32::sha256(b"bench chain");
    let body = clearance_core::tx::TxBody {
        chain_id,
        submitter: common::key(60).public_key(),
        sequence: 1,
        record: common::every_record().remove(0),
    };
    let bytes = clearance_core::tx::SignedTx::sign(&body, &common::key(60)).to_bytes();
    let mut keys = std::collections::HashMap::new();
    c.bench_function("tx_admission_decode_and_verify", |b| {
        b.iter(|| {
            clearance_core::tx::SignedTx::from_bytes(black_box(&bytes))
                .expect("decodes")
                .verify_cached(&chain_id, &mut keys)
                .expect("valid")
        })
    });
}

criterion_group!(benches, signatures, admission);
criterion_main!(benches);
