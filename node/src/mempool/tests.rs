//! The mempool's admission, ordering, gaps and re-checks.

use super::*;
use clearance_core::crypto::SecretKey;
use clearance_core::ids::{CountryCode, Text};
use clearance_core::record::{Record, Role, Roles, SubmitterKeyRegister};
use clearance_core::rules::{MemberEntry, SubmitterEntry};
use clearance_core::tx::SignedTx;
use std::cell::RefCell;

struct State {
    key: SecretKey,
    last: RefCell<u64>,
}

impl StateView for State {
    fn get(&self, key: &StateKey) -> Option<StateValue> {
        match key {
            StateKey::Submitter(k) if *k == self.key.public_key() => {
                Some(StateValue::Submitter(SubmitterEntry {
                    member: CountryCode::parse("KZ").unwrap(),
                    roles: Roles::from_roles(&[Role::KeyAdmin]),
                    active: true,
                }))
            }
            StateKey::Sequence(_) => Some(StateValue::Sequence(*self.last.borrow())),
            StateKey::Member(_) => Some(StateValue::Member(MemberEntry {
                active_from: 1,
                active_until: None,
            })),
            _ => None,
        }
    }
}

const CHAIN: Hash32 = Hash32([7; 32]);

fn ctx() -> BlockContext {
    BlockContext::new(
        1,
        clearance_core::time::Timestamp(0),
        &clearance_core::genesis::ConsensusParams::default(),
    )
}

fn tx(state: &State, sequence: u64) -> Vec<u8> {
    // Registers a new key: valid against the state whatever the sequence.
    let record = Record::SubmitterKeyRegister(SubmitterKeyRegister {
        member: CountryCode::parse("KZ").unwrap(),
        key: SecretKey::from_seed([(sequence % 200) as u8 + 2; 32]).public_key(),
        roles: Roles::from_roles(&[Role::Aeo]),
        label: Text::parse("desk").unwrap(),
    });
    let body = TxBody {
        chain_id: CHAIN,
        submitter: state.key.public_key(),
        sequence,
        record,
    };
    SignedTx::sign(&body, &state.key).to_bytes()
}

fn sequences(pool: &Mempool, state: &State) -> Vec<u64> {
    pool.reap(state, 100, 1 << 20)
        .iter()
        .map(|b| {
            let signed = SignedTx::from_bytes(b.as_slice()).unwrap();
            signed.verify(&CHAIN).unwrap().body.sequence
        })
        .collect()
}

fn state() -> State {
    State {
        key: SecretKey::from_seed([1; 32]),
        last: RefCell::new(0),
    }
}

#[test]
fn out_of_order_arrivals_are_kept_and_reaped_in_sequence() {
    let s = state();
    let mut pool = Mempool::new(CHAIN, 100, 1 << 20, 1 << 16);
    let none = |_: &Hash32| false;
    for seq in [3, 1, 4] {
        pool.admit(&s, &ctx(), &none, &tx(&s, seq), 0).unwrap();
    }
    // 2 is missing: only 1 is ready.
    assert_eq!(sequences(&pool, &s), vec![1]);
    pool.admit(&s, &ctx(), &none, &tx(&s, 2), 0).unwrap();
    assert_eq!(sequences(&pool, &s), vec![1, 2, 3, 4]);
    assert!(pool.has_ready(&s));
}

#[test]
fn pending_lists_the_bytes_in_arrival_order_and_a_commit_reports_admission_times() {
    let s = state();
    let mut pool = Mempool::new(CHAIN, 100, 1 << 20, 1 << 16);
    let none = |_: &Hash32| false;
    let (a, b) = (tx(&s, 2), tx(&s, 1));
    pool.admit(&s, &ctx(), &none, &a, 10).unwrap();
    let id = pool.admit(&s, &ctx(), &none, &b, 20).unwrap();
    let pending: Vec<&[u8]> = pool.pending().collect();
    assert_eq!(pending, vec![a.as_slice(), b.as_slice()]);
    *s.last.borrow_mut() = 1;
    let updated = pool.update(&[id, Hash32::sha256(b"not pending")], &s, 1);
    assert_eq!(updated.admitted_ms, vec![20]);
    assert_eq!(updated.dropped, 0);
}

#[test]
fn replays_duplicates_and_far_future_sequences_are_refused() {
    let s = state();
    let mut pool = Mempool::new(CHAIN, 100, 1 << 20, 1 << 16);
    let none = |_: &Hash32| false;
    let first = tx(&s, 1);
    let id = pool.admit(&s, &ctx(), &none, &first, 0).unwrap();
    assert_eq!(
        pool.admit(&s, &ctx(), &none, &first, 0),
        Err(AdmitError::Duplicate(id))
    );
    let err = pool
        .admit(&s, &ctx(), &none, &tx(&s, MAX_SEQUENCE_AHEAD + 1), 0)
        .unwrap_err();
    assert_eq!(err.code(), "BAD_SEQUENCE");
    // Committed: sequence 1 is used up, and the pool forgets it.
    *s.last.borrow_mut() = 1;
    assert_eq!(pool.update(&[id], &s, 1).dropped, 0);
    assert!(pool.is_empty());
    assert_eq!(
        pool.admit(&s, &ctx(), &none, &first, 0).unwrap_err().code(),
        "BAD_SEQUENCE"
    );
    assert!(!pool.has_ready(&s));
}

#[test]
fn transactions_stuck_behind_a_gap_expire() {
    let s = state();
    let mut pool = Mempool::new(CHAIN, 100, 1 << 20, 1 << 16);
    let none = |_: &Hash32| false;
    pool.admit(&s, &ctx(), &none, &tx(&s, 1), 0).unwrap();
    pool.admit(&s, &ctx(), &none, &tx(&s, 3), 0).unwrap();
    assert_eq!(pool.expire_gaps(&s, 1_000, 60_000), 0);
    // Sequence 2 never came: 3 goes, 1 (ready) stays.
    assert_eq!(pool.expire_gaps(&s, 61_000, 60_000), 1);
    assert_eq!(sequences(&pool, &s), vec![1]);
    assert_eq!(pool.len(), 1);
}

#[test]
fn a_full_pool_says_so() {
    let s = state();
    let mut pool = Mempool::new(CHAIN, 2, 1 << 20, 1 << 16);
    let none = |_: &Hash32| false;
    pool.admit(&s, &ctx(), &none, &tx(&s, 1), 0).unwrap();
    pool.admit(&s, &ctx(), &none, &tx(&s, 2), 0).unwrap();
    let err = pool.admit(&s, &ctx(), &none, &tx(&s, 3), 0).unwrap_err();
    assert_eq!(err.code(), "MEMPOOL_FULL");
    assert!(err.to_string().contains("full"));
}

#[test]
fn stale_transactions_are_dropped_after_a_block() {
    let s = state();
    let mut pool = Mempool::new(CHAIN, 100, 1 << 20, 1 << 16);
    let none = |_: &Hash32| false;
    pool.admit(&s, &ctx(), &none, &tx(&s, 1), 0).unwrap();
    pool.admit(&s, &ctx(), &none, &tx(&s, 2), 0).unwrap();
    // Another node's block used sequences 1 and 2 with other transactions.
    *s.last.borrow_mut() = 2;
    assert_eq!(pool.update(&[], &s, 1).dropped, 2);
    assert!(pool.is_empty());
    assert_eq!(pool.bytes(), 0);
}

#[test]
fn ready_transactions_that_waited_are_published_again_once() {
    let s = state();
    let mut pool = Mempool::new(CHAIN, 100, 1 << 20, 1 << 16);
    let none = |_: &Hash32| false;
    for (seq, at) in [(1, 0), (2, 0), (4, 0), (3, 1_500)] {
        pool.admit(&s, &ctx(), &none, &tx(&s, seq), at).unwrap();
    }
    // Not old enough yet.
    assert!(pool.take_for_regossip(&s, 900, 1_000, 10).is_empty());
    // 1, 2 and 4 have waited (4 is ready: 3 came), 3 has not: at most `max` at a time, each once.
    assert_eq!(pool.take_for_regossip(&s, 2_000, 1_000, 2).len(), 2);
    assert_eq!(pool.take_for_regossip(&s, 2_000, 1_000, 10).len(), 1);
    assert!(pool.take_for_regossip(&s, 2_000, 1_000, 10).is_empty());
    assert_eq!(pool.take_for_regossip(&s, 5_000, 1_000, 10).len(), 1);
    assert!(pool.take_for_regossip(&s, 9_000, 1_000, 10).is_empty());
    // Behind a gap is not ready: 6 waits for 5, and is never published again from here.
    pool.admit(&s, &ctx(), &none, &tx(&s, 6), 0).unwrap();
    assert!(pool.take_for_regossip(&s, 9_000, 1_000, 10).is_empty());
}

#[test]
fn holes_behind_waiting_transactions_are_named_and_held_ones_found_by_sequence() {
    let s = state();
    let mut pool = Mempool::new(CHAIN, 100, 1 << 20, 1 << 16);
    let none = |_: &Hash32| false;
    // Committed up to 1; pending 3 (since 0), 4, and 8 (since 1,500): holes 2, then 5 to 7.
    *s.last.borrow_mut() = 1;
    for (seq, at) in [(3, 0), (4, 0), (8, 1_500)] {
        pool.admit(&s, &ctx(), &none, &tx(&s, seq), at).unwrap();
    }
    let key = s.key.public_key();
    // Nothing has waited long enough yet.
    assert!(pool.gaps(&s, 900, 1_000, 16, 256).is_empty());
    // 3 has waited, 8 not yet: only the hole before 3.
    assert_eq!(pool.gaps(&s, 2_000, 1_000, 16, 256), vec![(key, 2)]);
    // Both: 2, 5, 6, 7; cut by the per-key and the overall limits.
    assert_eq!(
        pool.gaps(&s, 3_000, 1_000, 16, 256),
        vec![(key, 2), (key, 5), (key, 6), (key, 7)]
    );
    assert_eq!(
        pool.gaps(&s, 3_000, 1_000, 2, 256),
        vec![(key, 2), (key, 5)]
    );
    assert_eq!(pool.gaps(&s, 3_000, 1_000, 16, 3).len(), 3);
    // A full run from the committed sequence has no holes.
    for seq in [2, 5, 6, 7] {
        pool.admit(&s, &ctx(), &none, &tx(&s, seq), 3_000).unwrap();
    }
    assert!(pool.gaps(&s, 9_000, 1_000, 16, 256).is_empty());
    // What a peer asks for is found by key and sequence, with the exact bytes admitted.
    assert_eq!(pool.by_sequence(&key, 5), Some(tx(&s, 5).as_slice()));
    assert_eq!(pool.by_sequence(&key, 9), None);
    assert_eq!(
        pool.by_sequence(&SecretKey::from_seed([9; 32]).public_key(), 5),
        None
    );
}
