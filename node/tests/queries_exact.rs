//! The queries agencies read statuses from are exact however many records one operator or declaration has: a
//! member that writes hundreds of records about a declaration cannot push the later ones out of `current`.

#[path = "support/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

use clearance_core::bytes::Bytes;
use clearance_core::ids::{CountryCode, CustomsOffice, Mrn, iso6346_check_digit};
use clearance_core::record::{ClearanceDecision, Decision, DeclarationRef, Procedure, Record};
use clearance_core::time::Timestamp;
use clearance_core::tx::{SignedTx, TxBody};
use clearance_core::vote::CommitCertificate;
use clearance_node::ledger::Ledger;
use clearance_node::query::{self, MAX_PAGE, RecordFilter};
use clearance_node::storage::{MemoryDisk, Store};
use fixtures::{genesis_of, key};
use std::sync::Arc;

fn mrn() -> Mrn {
    let body = "26CN0000000000042";
    let check = iso6346_check_digit(body).expect("check digit");
    Mrn::parse(&format!("{body}{check}")).expect("mrn")
}

/// A new (superseding nothing) hold decision on the MRN by CN's agency key, sequence `n`.
fn hold(chain_id: clearance_core::Hash32, n: u64) -> Bytes {
    let record = Record::ClearanceDecision(ClearanceDecision {
        declaration: DeclarationRef {
            mrn: Some(mrn()),
            ucr: None,
        },
        office: CustomsOffice::parse("CN551010").expect("office"),
        procedure: Procedure::Import,
        decision: Decision::Hold,
        decided_at: Timestamp::from_millis(1_795_000_000_000 + n).expect("time"),
        linked_certificates: vec![],
        supersedes: None,
        reason_code: None,
    });
    let submitter = key(60);
    let body = TxBody {
        chain_id,
        submitter: submitter.public_key(),
        sequence: n,
        record,
    };
    Bytes(SignedTx::sign(&body, &submitter).to_bytes())
}

#[test]
fn current_decisions_and_listings_count_every_record_past_a_page() {
    let genesis = genesis_of(4);
    let disk = MemoryDisk::new().expect("in-memory disk");
    let store = Arc::new(Store::open_in_memory(&disk, "node", &genesis).expect("store"));
    let chain_id = genesis.chain_id();
    let mut ledger = Ledger::new(store.clone(), chain_id, genesis.params.clone()).expect("ledger");
    let me = CountryCode::parse("CN").expect("id");
    let total = MAX_PAGE as u64 + 20;
    let mut now = 1_800_000_000_000;
    for (height, range) in [(1..=300), (301..=total)].into_iter().enumerate() {
        let txs: Vec<Bytes> = range.map(|n| hold(chain_id, n)).collect();
        let count = txs.len();
        let block = ledger
            .build(me.clone(), txs, now, &|_, _| false)
            .expect("block");
        assert_eq!(block.txs.len(), count);
        let hash = clearance_core::block::HeaderView::from_bytes(block.header.as_slice())
            .expect("header")
            .hash;
        let certificate = CommitCertificate {
            height: height as u64 + 1,
            round: 0,
            block_hash: hash,
            precommits: vec![],
        };
        ledger.commit(&block, &certificate).expect("commit");
        now += 1_000;
    }
    let view = query::declaration(&store, Some(&mrn()), None).expect("query");
    assert_eq!(
        view.decisions.len(),
        MAX_PAGE,
        "the list shows the newest page"
    );
    assert_eq!(
        view.current.len() as u64,
        total,
        "every decision supersedes none, so every one is current"
    );
    let newest = view.decisions.last().expect("a decision").id;
    assert_eq!(view.current.last(), Some(&newest));
    assert!(
        view.decisions
            .windows(2)
            .all(|w| w[0].log_index < w[1].log_index)
    );

    // A listing from height 2 starts at that block's first record, not the ledger's.
    let page = query::list(
        &store,
        &RecordFilter {
            from_height: Some(2),
            limit: 10,
            ..RecordFilter::default()
        },
    )
    .expect("list");
    assert_eq!(
        page.records.first().map(|r| (r.height, r.log_index)),
        Some((2, 300))
    );
    let beyond = query::list(
        &store,
        &RecordFilter {
            from_height: Some(3),
            limit: 10,
            ..RecordFilter::default()
        },
    )
    .expect("list");
    assert!(beyond.records.is_empty());
}
