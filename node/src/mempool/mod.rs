//! The mempool: signed transactions admitted but not yet committed.
//!
//! Admission runs every check that needs no block: size and decoding, the chain id, the signature, and the
//! rules against the committed state. A key's sequence number may run ahead of the committed one by up to
//! [`MAX_SEQUENCE_AHEAD`]: a client that sends consecutive transactions to different members, or gossip that
//! reorders them, must not lose any. Blocks take each key's transactions only in unbroken sequence order.

mod caches;

use crate::key_cache::SharedKeys;
use caches::{MemberCache, ReadCache};
use clearance_core::Hash32;
use clearance_core::bytes::Bytes;
use clearance_core::crypto::PublicKey;
use clearance_core::rules::{self, BlockContext, RuleError, StateKey, StateValue, StateView};
use clearance_core::tx::{SignedTx, TxBody, TxError, VerifiedTx};
use std::collections::{BTreeMap, HashMap};

/// How far past the committed sequence number a key's pending transactions may reach.
pub const MAX_SEQUENCE_AHEAD: u64 = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    #[error("the transaction is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("{0}")]
    Tx(#[from] TxError),
    #[error("{0}")]
    Rule(#[from] RuleError),
    #[error("transaction {0} is already pending")]
    Duplicate(Hash32),
    #[error("transaction {0} is already committed")]
    Committed(Hash32),
    #[error("sequence number {got} is already used by pending transaction {pending}")]
    SequenceTaken { got: u64, pending: Hash32 },
    #[error("the mempool is full ({txs} transactions, {bytes} bytes); retry later")]
    Full { txs: usize, bytes: u64 },
}

impl AdmitError {
    pub fn code(&self) -> &'static str {
        match self {
            AdmitError::TooLarge { .. } => "TX_TOO_LARGE",
            AdmitError::Tx(e) => e.code(),
            AdmitError::Rule(e) => e.code(),
            AdmitError::Duplicate(_) => "TX_DUPLICATE",
            AdmitError::Committed(_) => "TX_ALREADY_COMMITTED",
            AdmitError::SequenceTaken { .. } => "TX_SEQUENCE_TAKEN",
            AdmitError::Full { .. } => "MEMPOOL_FULL",
        }
    }
}

/// What a block's commit did to the mempool.
pub struct Updated {
    /// Pending transactions the re-check dropped.
    pub dropped: usize,
    /// When each committed transaction that was pending here had been admitted, in the admission's milliseconds.
    pub admitted_ms: Vec<u64>,
}

struct Entry {
    bytes: Bytes,
    body: TxBody,
    arrival: u64,
    /// When it was admitted, in the caller's milliseconds.
    admitted_ms: u64,
}

pub struct Mempool {
    chain_id: Hash32,
    max_txs: usize,
    max_bytes: u64,
    max_tx_bytes: usize,
    entries: HashMap<Hash32, Entry>,
    order: BTreeMap<u64, Hash32>,
    /// Pending transactions of each key by sequence number.
    by_key: HashMap<PublicKey, BTreeMap<u64, Hash32>>,
    bytes: u64,
    next_arrival: u64,
    /// Submitter keys already validated (the node's shared cache; a private one until `with_keys`).
    keys: SharedKeys,
    /// Member entries read by admission since the last block: every transaction's submitter check reads its
    /// member's, and they change only at a commit.
    members: std::sync::Mutex<HashMap<StateKey, Option<StateValue>>>,
}

impl Mempool {
    pub fn new(chain_id: Hash32, max_txs: usize, max_bytes: u64, max_tx_bytes: usize) -> Mempool {
        Mempool {
            chain_id,
            max_txs,
            max_bytes,
            max_tx_bytes,
            entries: HashMap::new(),
            members: Default::default(),
            order: BTreeMap::new(),
            by_key: HashMap::new(),
            bytes: 0,
            next_arrival: 0,
            keys: SharedKeys::default(),
        }
    }

    /// Shares the node's key cache with the API and transaction gossip.
    pub fn with_keys(mut self, keys: SharedKeys) -> Mempool {
        self.keys = keys;
        self
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether some key's next transaction is pending, i.e. a block built now would not be empty.
    pub fn has_ready(&self, state: &dyn StateView) -> bool {
        self.by_key.iter().any(|(key, seqs)| {
            seqs.keys().next() == Some(&rules::last_sequence(state, key).saturating_add(1))
        })
    }

    /// Whether these exact signed bytes were admitted (and so their signature verified).
    pub fn holds(&self, id: &Hash32, signed: &[u8]) -> bool {
        self.entries
            .get(id)
            .is_some_and(|e| e.bytes.as_slice() == signed)
    }

    pub fn contains(&self, id: &Hash32) -> bool {
        self.entries.contains_key(id)
    }

    /// The bytes of a pending transaction.
    pub fn bytes_of(&self, id: &Hash32) -> Option<&[u8]> {
        self.entries.get(id).map(|e| e.bytes.as_slice())
    }

    /// The pending transactions' bytes, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &[u8]> {
        self.order
            .values()
            .filter_map(|id| self.entries.get(id))
            .map(|e| e.bytes.as_slice())
    }

    /// Admits `bytes` if every check passes. `committed` says whether a transaction id is already in a block.
    pub fn admit(
        &mut self,
        state: &dyn StateView,
        ctx: &BlockContext,
        committed: &dyn Fn(&Hash32) -> bool,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<Hash32, AdmitError> {
        self.check_size(bytes)?;
        let signed = SignedTx::from_bytes(bytes).map_err(TxError::from)?;
        // A duplicate costs nothing to refuse; its signature would cost as much as a new transaction's.
        if self.entries.contains_key(&signed.id()) {
            return Err(AdmitError::Duplicate(signed.id()));
        }
        let verified = signed.verify_cached(&self.chain_id, &mut self.keys)?;
        self.admit_verified(state, ctx, committed, bytes, verified, now_ms)
    }

    /// Admits a transaction whose chain, signature and shape the caller has checked over exactly `bytes` (the
    /// API handler and the gossip validator do, off the consensus task), if every other check passes. `ctx`
    /// describes the next block, as far as it is known before it is built.
    pub fn admit_verified(
        &mut self,
        state: &dyn StateView,
        ctx: &BlockContext,
        committed: &dyn Fn(&Hash32) -> bool,
        bytes: &[u8],
        verified: VerifiedTx,
        now_ms: u64,
    ) -> Result<Hash32, AdmitError> {
        self.check_size(bytes)?;
        let id = verified.id;
        if self.entries.contains_key(&id) {
            return Err(AdmitError::Duplicate(id));
        }
        self.check_room(bytes)?;
        let state = MemberCache {
            inner: state,
            members: &self.members,
        };
        let state: &dyn StateView = &state;
        let body = verified.body;
        let last = rules::last_sequence(state, &body.submitter);
        // A committed transaction's sequence is at most the committed one, so only a stale sequence needs the
        // (disk) lookup that tells "already committed" from "bad sequence".
        if body.sequence <= last && committed(&id) {
            return Err(AdmitError::Committed(id));
        }
        // The submitter checks first, as execution runs them, so that both give the same code.
        rules::check_submitter(state, ctx.height, &body, body.sequence)?;
        if body.sequence <= last || body.sequence > last.saturating_add(MAX_SEQUENCE_AHEAD) {
            return Err(RuleError::BadSequence {
                expected: last.saturating_add(1),
                got: body.sequence,
            }
            .into());
        }
        if let Some(pending) = self
            .by_key
            .get(&body.submitter)
            .and_then(|seqs| seqs.get(&body.sequence))
        {
            return Err(AdmitError::SequenceTaken {
                got: body.sequence,
                pending: *pending,
            });
        }
        // Record rules against the committed state: every refusal except those a pending transaction could lift.
        if let Err(e) = rules::apply_record(state, ctx, &id, &body)
            && !e.may_pass_later()
        {
            return Err(e.into());
        }
        self.insert(id, Bytes(bytes.to_vec()), body, now_ms);
        Ok(id)
    }

    fn check_size(&self, bytes: &[u8]) -> Result<(), AdmitError> {
        if bytes.len() > self.max_tx_bytes {
            return Err(AdmitError::TooLarge {
                size: bytes.len(),
                limit: self.max_tx_bytes,
            });
        }
        Ok(())
    }

    fn check_room(&self, bytes: &[u8]) -> Result<(), AdmitError> {
        if self.entries.len() >= self.max_txs || self.bytes + bytes.len() as u64 > self.max_bytes {
            return Err(AdmitError::Full {
                txs: self.entries.len(),
                bytes: self.bytes,
            });
        }
        Ok(())
    }

    fn insert(&mut self, id: Hash32, bytes: Bytes, body: TxBody, admitted_ms: u64) {
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        self.bytes += bytes.len() as u64;
        self.by_key
            .entry(body.submitter)
            .or_default()
            .insert(body.sequence, id);
        self.order.insert(arrival, id);
        self.entries.insert(
            id,
            Entry {
                bytes,
                body,
                arrival,
                admitted_ms,
            },
        );
    }

    /// Drops transactions that have waited longer than `max_age_ms` behind a sequence gap: their predecessor
    /// never arrived, so they can never be included, and they must not hold the pool's capacity forever.
    /// Returns how many were dropped.
    pub fn expire_gaps(&mut self, state: &dyn StateView, now_ms: u64, max_age_ms: u64) -> usize {
        let mut expired = Vec::new();
        for (key, seqs) in &self.by_key {
            let mut want = rules::last_sequence(state, key).saturating_add(1);
            for (seq, id) in seqs {
                if *seq == want {
                    want += 1;
                    continue;
                }
                if let Some(entry) = self.entries.get(id)
                    && now_ms.saturating_sub(entry.admitted_ms) > max_age_ms
                {
                    expired.push(*id);
                }
            }
        }
        for id in &expired {
            self.remove(id);
        }
        expired.len()
    }

    fn remove(&mut self, id: &Hash32) -> Option<Entry> {
        let entry = self.entries.remove(id)?;
        self.order.remove(&entry.arrival);
        self.bytes -= entry.bytes.len() as u64;
        if let Some(seqs) = self.by_key.get_mut(&entry.body.submitter) {
            seqs.remove(&entry.body.sequence);
            if seqs.is_empty() {
                self.by_key.remove(&entry.body.submitter);
            }
        }
        Some(entry)
    }

    /// Transactions for a block, within the block limits: in arrival order, except that a key's transactions
    /// follow each other in unbroken sequence from the committed one, and a transaction whose predecessor is
    /// not pending waits.
    /// The sequence number `key`'s next transaction takes: one after its last pending one, or after its last
    /// committed one when none is pending.
    pub fn next_sequence(&self, state: &dyn StateView, key: &PublicKey) -> u64 {
        let committed = rules::last_sequence(state, key);
        let pending = self
            .by_key
            .get(key)
            .and_then(|seqs| seqs.keys().next_back().copied())
            .unwrap_or(0);
        committed.max(pending).saturating_add(1)
    }

    pub fn reap(&self, state: &dyn StateView, max_txs: usize, max_bytes: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut size = 0usize;
        let mut next: HashMap<PublicKey, u64> = HashMap::new();
        'arrivals: for id in self.order.values() {
            let Some(entry) = self.entries.get(id) else {
                continue;
            };
            let key = entry.body.submitter;
            let expected = *next
                .entry(key)
                .or_insert_with(|| rules::last_sequence(state, &key).saturating_add(1));
            if entry.body.sequence != expected {
                continue;
            }
            // Take this transaction and every pending successor of it.
            let Some(seqs) = self.by_key.get(&key) else {
                continue;
            };
            let mut want = expected;
            for (seq, id) in seqs.range(expected..) {
                let Some(entry) = self.entries.get(id) else {
                    break;
                };
                if *seq != want {
                    break;
                }
                if out.len() >= max_txs || size + entry.bytes.len() > max_bytes {
                    break 'arrivals;
                }
                size += entry.bytes.len();
                out.push(entry.bytes.clone());
                want += 1;
            }
            next.insert(key, want);
        }
        out
    }

    /// After a block: drops the committed transactions, then re-checks the rest against the new state (and the
    /// next height: a removed member's keys stop) and drops any that can no longer be accepted.
    pub fn update(
        &mut self,
        committed: &[Hash32],
        state: &dyn StateView,
        next_height: u64,
    ) -> Updated {
        if let Ok(members) = self.members.get_mut() {
            members.clear();
        }
        let admitted_ms = committed
            .iter()
            .filter_map(|id| self.remove(id))
            .map(|e| e.admitted_ms)
            .collect();
        // Many pending transactions share a key: read each key's state once, not once per transaction.
        let state = ReadCache::new(state);
        let mut stale = Vec::new();
        for (id, e) in &self.entries {
            if e.body.sequence <= rules::last_sequence(&state, &e.body.submitter)
                || rules::check_submitter(&state, next_height, &e.body, e.body.sequence).is_err()
            {
                stale.push(*id);
            }
        }
        for id in &stale {
            self.remove(id);
        }
        Updated {
            dropped: stale.len(),
            admitted_ms,
        }
    }
}

/// A view that remembers what it read, for one pass over many transactions of few keys.
#[cfg(test)]
mod tests {
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
}
