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
    /// Published again since (see `take_for_regossip`).
    regossiped: bool,
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
                regossiped: false,
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

    /// Ready transactions (each key's unbroken run from its committed sequence) that have waited longer than
    /// `min_age_ms` and were not published again yet, at most `max`, marked as published again. Gossip is best
    /// effort: a batch a peer never received leaves a gap there that holds back every later transaction of its
    /// keys, and only the members holding the missing transaction can fill it.
    pub fn take_for_regossip(
        &mut self,
        state: &dyn StateView,
        now_ms: u64,
        min_age_ms: u64,
        max: usize,
    ) -> Vec<Bytes> {
        let mut ids = Vec::new();
        'keys: for (key, seqs) in &self.by_key {
            let first = rules::last_sequence(state, key).saturating_add(1);
            for (want, (seq, id)) in (first..).zip(seqs.range(first..)) {
                if *seq != want {
                    break;
                }
                if let Some(e) = self.entries.get(id)
                    && !e.regossiped
                    && now_ms.saturating_sub(e.admitted_ms) > min_age_ms
                {
                    if ids.len() == max {
                        break 'keys;
                    }
                    ids.push(*id);
                }
            }
        }
        ids.iter()
            .filter_map(|id| {
                let e = self.entries.get_mut(id)?;
                e.regossiped = true;
                Some(e.bytes.clone())
            })
            .collect()
    }

    /// The signed bytes of `key`'s pending transaction with `sequence`, if this mempool holds it.
    pub fn by_sequence(&self, key: &PublicKey, sequence: u64) -> Option<&[u8]> {
        let id = self.by_key.get(key)?.get(&sequence)?;
        self.entries.get(id).map(|e| e.bytes.as_slice())
    }

    /// The sequence numbers missing before pending transactions that have waited longer than `min_age_ms`: each
    /// key's holes between its committed sequence and its last pending one, at most `per_key` per key and `max`
    /// in all. Another member that holds them can send them (`SyncRequest::Txs`); younger holes are left to
    /// gossip, which usually fills them within milliseconds.
    pub fn gaps(
        &self,
        state: &dyn StateView,
        now_ms: u64,
        min_age_ms: u64,
        per_key: usize,
        max: usize,
    ) -> Vec<(PublicKey, u64)> {
        let mut out = Vec::new();
        for (key, seqs) in &self.by_key {
            let mut want = rules::last_sequence(state, key).saturating_add(1);
            let mut taken = 0usize;
            for (seq, id) in seqs {
                let waited = self
                    .entries
                    .get(id)
                    .is_some_and(|e| now_ms.saturating_sub(e.admitted_ms) > min_age_ms);
                while want < *seq && waited && taken < per_key {
                    if out.len() == max {
                        return out;
                    }
                    out.push((*key, want));
                    want += 1;
                    taken += 1;
                }
                want = seq.saturating_add(1);
            }
        }
        out
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

#[cfg(test)]
mod tests;
