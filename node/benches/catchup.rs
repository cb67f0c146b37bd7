//! Block sync catch-up: how fast a node that missed blocks verifies and commits them. Each block's commit
//! certificate is checked against the validator set, every transaction's signature verified, the records
//! executed and appended to the Merkle log, and the block written in one synced RocksDB batch, exactly as
//! `Ledger::apply_synced` does for block sync. Throughput is reported in records per second.
//!
//! `cargo bench --workspace --profile dev --bench catchup` (the dev profile optimises dependencies and this
//! crate; a release build would compile RocksDB once more).

use clearance_core::Hash32;
use clearance_core::block::{Block, HeaderView};
use clearance_core::crypto::SecretKey;
use clearance_core::genesis::{ConsensusParams, Genesis, GenesisSubmitter};
use clearance_core::ids::*;
use clearance_core::peer::PeerKey;
use clearance_core::record::*;
use clearance_core::time::{Date, Timestamp};
use clearance_core::tx::{SignedTx, TxBody};
use clearance_core::vote::{CommitCertificate, SignedVote, Vote, VoteKind};
use clearance_node::ledger::Ledger;
use clearance_node::storage::Store;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MEMBERS: [&str; 4] = ["CN", "DE", "KZ", "UZ"];
const BLOCKS: usize = 20;
const TXS_PER_BLOCK: usize = 1000;

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed([n; 32])
}

fn genesis() -> Genesis {
    let members = MEMBERS
        .iter()
        .enumerate()
        .map(|(i, id)| MemberInfo {
            id: CountryCode::parse(id).expect("id"),
            name: Text::parse(&format!("Customs of {id}")).expect("name"),
            validator_key: key(i as u8 + 1).public_key(),
            peer_id: PeerKey::from_key(key(i as u8 + 100).public_key()),
            addresses: vec![],
        })
        .collect();
    let submitters = MEMBERS
        .iter()
        .enumerate()
        .map(|(i, id)| GenesisSubmitter {
            member: CountryCode::parse(id).expect("id"),
            key: key(i as u8 + 60).public_key(),
            roles: Roles::from_roles(&Role::ALL),
            label: Text::parse("agency").expect("label"),
        })
        .collect();
    Genesis {
        chain_name: ChainName::parse("bench-chain").expect("name"),
        genesis_time: Timestamp::parse("2026-11-24T00:00:00Z").expect("time"),
        params: ConsensusParams::default(),
        members,
        submitters,
    }
}

fn certificate_tx(chain_id: Hash32, member: usize, sequence: u64) -> SignedTx {
    let issuer = CountryCode::parse(MEMBERS[member]).expect("id");
    let record = Record::CertificateIssue(CertificateIssue {
        certificate: CertificateBody {
            cert_type: CertificateType::Origin,
            number: CertificateNumber::parse(&format!("{issuer}-CO-2026-{sequence:07}"))
                .expect("number"),
            issuer: issuer.clone(),
            authority: Text::parse("Chamber of Commerce and Industry").expect("text"),
            issued_on: Date::parse("2026-11-20").expect("date"),
            valid_until: Some(Date::parse("2027-11-20").expect("date")),
            exporter: Some(OperatorId::parse(&format!("{issuer}1234567890")).expect("operator")),
            importer: Some(OperatorId::parse("DE9876543210").expect("operator")),
            origin_country: issuer,
            destination_country: CountryCode::parse("DE").expect("country"),
            hs_codes: vec![
                HsCode::parse("520100").expect("hs"),
                HsCode::parse("100199").expect("hs"),
            ],
            document_sha256: Hash32::sha256(&sequence.to_be_bytes()),
        },
    });
    let submitter = key(member as u8 + 60);
    SignedTx::sign(
        &TxBody {
            chain_id,
            submitter: submitter.public_key(),
            sequence,
            record,
        },
        &submitter,
    )
}

fn certify(chain_id: Hash32, block: &Block) -> CommitCertificate {
    let view = HeaderView::from_bytes(block.header.as_slice()).expect("header");
    let precommits = MEMBERS[..3]
        .iter()
        .enumerate()
        .map(|(i, id)| {
            SignedVote::sign(
                &Vote {
                    chain_id,
                    height: view.header.height,
                    round: 0,
                    kind: VoteKind::Precommit,
                    block: Some(view.hash),
                    validator: CountryCode::parse(id).expect("id"),
                },
                &key(i as u8 + 1),
            )
        })
        .collect();
    CommitCertificate {
        height: view.header.height,
        round: 0,
        block_hash: view.hash,
        precommits,
    }
}

/// Commits `BLOCKS` full blocks on a source node and returns them with their certificates.
fn source_chain(genesis: &Genesis) -> Vec<(Block, CommitCertificate)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain_id = genesis.chain_id();
    let store = Arc::new(Store::open(dir.path(), genesis).expect("store"));
    let set = genesis.validator_set().expect("set");
    let mut ledger = Ledger::new(store, chain_id, genesis.params.clone(), set).expect("ledger");
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
                let set = genesis.validator_set().expect("set");
                let mut ledger =
                    Ledger::new(store, genesis.chain_id(), genesis.params.clone(), set)
                        .expect("ledger");
                let start = Instant::now();
                for (block, cert) in &chain {
                    ledger.apply_synced(block, cert).expect("apply");
                }
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, catchup);
criterion_main!(benches);
