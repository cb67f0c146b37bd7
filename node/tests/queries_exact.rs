//! The queries agencies read statuses from are exact however many records one operator or declaration has: a
//! member that writes hundreds of records about a declaration cannot push the later ones out of `current`.

#[path = "support/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

use clearance_core::bytes::Bytes;
use clearance_core::genesis::Genesis;
use clearance_core::ids::{
    CountryCode, CustomsOffice, Mrn, OperatorId, ReasonCode, iso6346_check_digit,
};
use clearance_core::record::{
    AeoStatus, AeoTransition, AeoType, ClearanceDecision, Decision, DeclarationRef, Procedure,
    Record,
};
use clearance_core::time::{Date, Timestamp};
use clearance_core::vote::CommitCertificate;
use clearance_node::ledger::Ledger;
use clearance_node::query::{self, MAX_PAGE, RecordFilter};
use clearance_node::storage::{MemoryDisk, Store};
use fixtures::{agency_tx, genesis_of};
use std::sync::Arc;

/// A ledger over an in-memory store at `genesis`, and the store for queries.
fn ledger(disk: &MemoryDisk, genesis: &Genesis) -> (Arc<Store>, Ledger) {
    let store = Arc::new(Store::open_in_memory(disk, "node", genesis).expect("store"));
    let ledger =
        Ledger::new(store.clone(), genesis.chain_id(), genesis.params.clone()).expect("ledger");
    (store, ledger)
}

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
    Bytes(agency_tx(chain_id, 0, n, record).to_bytes())
}

#[test]
fn current_decisions_and_listings_count_every_record_past_a_page() {
    let genesis = genesis_of(4);
    let disk = MemoryDisk::new().expect("in-memory disk");
    let (store, mut ledger) = ledger(&disk, &genesis);
    let chain_id = genesis.chain_id();
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

/// An AEO status record by member `member`'s agency key: `operator` in that member's programme.
fn aeo_tx(
    chain_id: clearance_core::Hash32,
    member: usize,
    sequence: u64,
    operator: &str,
    transition: AeoTransition,
) -> Bytes {
    let record = Record::AeoStatus(AeoStatus {
        operator: OperatorId::parse(operator).expect("operator"),
        programme: CountryCode::parse(fixtures::MEMBERS[member]).expect("member"),
        aeo_type: AeoType::Both,
        transition,
        effective_on: Date::parse("2026-12-01").expect("date"),
        reason_code: (transition != AeoTransition::Granted)
            .then(|| ReasonCode::parse("NON_COMPLIANCE").expect("code")),
    });
    Bytes(agency_tx(chain_id, member, sequence, record).to_bytes())
}

/// An operator's programmes are read from the state under its own key prefix: each programme it has a status
/// in, with that status, and nothing of an operator whose id begins with its id.
#[test]
fn an_operators_programmes_are_exactly_its_own() {
    let genesis = genesis_of(4);
    let disk = MemoryDisk::new().expect("in-memory disk");
    let (store, mut ledger) = ledger(&disk, &genesis);
    let chain_id = genesis.chain_id();
    use AeoTransition::{Granted, Reinstated, Suspended};
    // DE suspends and reinstates CN123 until more records are about it than a history shows, and ends suspended.
    let cycles = MAX_PAGE as u64 / 2 + 10;
    let mut txs = vec![aeo_tx(chain_id, 1, 1, "CN123", Granted)];
    for c in 0..cycles {
        txs.push(aeo_tx(chain_id, 1, 2 + 2 * c, "CN123", Suspended));
        if c + 1 < cycles {
            txs.push(aeo_tx(chain_id, 1, 3 + 2 * c, "CN123", Reinstated));
        }
    }
    let about_cn123 = txs.len() + 1;
    txs.extend([
        aeo_tx(chain_id, 0, 1, "CN123", Granted),
        aeo_tx(chain_id, 2, 1, "CN1234", Granted),
        aeo_tx(chain_id, 3, 1, "CN12", Granted),
    ]);
    let count = txs.len();
    let me = CountryCode::parse("CN").expect("id");
    let block = ledger
        .build(me, txs, 1_800_000_000_000, &|_, _| false)
        .expect("block");
    assert_eq!(block.txs.len(), count, "every record is valid");
    ledger
        .commit(&block, &fixtures::certify(chain_id, &block))
        .expect("commit");

    let view = query::aeo(&store, &OperatorId::parse("CN123").expect("id"), None)
        .expect("query")
        .expect("an operator with records");
    let programmes: Vec<(&str, &str)> = view
        .programmes
        .iter()
        .map(|p| (p.programme.as_str(), p.standing.as_str()))
        .collect();
    assert_eq!(programmes, [("CN", "active"), ("DE", "suspended")]);
    // The newest page, read from the end of the index: CN's grant last, DE's oldest records left out.
    assert!(about_cn123 > MAX_PAGE);
    assert_eq!(view.history.len(), MAX_PAGE);
    assert!(
        view.history
            .windows(2)
            .all(|w| w[0].log_index < w[1].log_index)
    );
    let last = view.history.last().expect("a record");
    assert!(matches!(&last.record, Record::AeoStatus(a) if a.programme.as_str() == "CN"));
    assert_eq!(
        view.history[0].log_index,
        last.log_index + 1 - MAX_PAGE as u64,
        "the records about CN123 are consecutive up to CN's grant: the page is the last {MAX_PAGE} of them"
    );
    let longer = query::aeo(&store, &OperatorId::parse("CN1234").expect("id"), None)
        .expect("query")
        .expect("an operator with records");
    assert_eq!(longer.programmes.len(), 1);
    assert_eq!(longer.programmes[0].programme.as_str(), "FR");
    assert!(
        query::aeo(&store, &OperatorId::parse("CN9").expect("id"), None)
            .expect("query")
            .is_none()
    );
}
