//! The mempool: signed transactions admitted but not yet committed, in arrival order.
//!
//! Admission runs every check that needs no block: size and decoding, the chain id, the signature, and the
//! rules against the committed state, with the sequence number expected after the key's pending transactions.
//! So a block built from the pool in arrival order has every key's transactions in sequence order.

use clearance_core::Hash32;
use clearance_core::bytes::Bytes;
use clearance_core::crypto::PublicKey;
use clearance_core::rules::{self, RuleError, StateView};
use clearance_core::tx::{SignedTx, TxBody, TxError};
use std::collections::{BTreeMap, HashMap};

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
            AdmitError::Full { .. } => "MEMPOOL_FULL",
        }
    }
}

struct Entry {
    bytes: Bytes,
    body: TxBody,
    arrival: u64,
}

pub struct Mempool {
    chain_id: Hash32,
    max_txs: usize,
    max_bytes: u64,
    max_tx_bytes: usize,
    entries: HashMap<Hash32, Entry>,
    order: BTreeMap<u64, Hash32>,
    /// The highest pending sequence number per key.
    pending_sequence: HashMap<PublicKey, u64>,
    bytes: u64,
    next_arrival: u64,
}

impl Mempool {
    pub fn new(chain_id: Hash32, max_txs: usize, max_bytes: u64, max_tx_bytes: usize) -> Mempool {
        Mempool {
            chain_id,
            max_txs,
            max_bytes,
            max_tx_bytes,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            pending_sequence: HashMap::new(),
            bytes: 0,
            next_arrival: 0,
        }
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

    pub fn contains(&self, id: &Hash32) -> bool {
        self.entries.contains_key(id)
    }

    /// Admits `bytes` if every check passes. `committed` says whether a transaction id is already in a block.
    pub fn admit(
        &mut self,
        state: &dyn StateView,
        committed: &dyn Fn(&Hash32) -> bool,
        bytes: &[u8],
    ) -> Result<Hash32, AdmitError> {
        if bytes.len() > self.max_tx_bytes {
            return Err(AdmitError::TooLarge {
                size: bytes.len(),
                limit: self.max_tx_bytes,
            });
        }
        let signed = SignedTx::from_bytes(bytes).map_err(TxError::from)?;
        let id = signed.id();
        if self.entries.contains_key(&id) {
            return Err(AdmitError::Duplicate(id));
        }
        if self.entries.len() >= self.max_txs
            || self.bytes + bytes.len() as u64 > self.max_bytes
        {
            return Err(AdmitError::Full {
                txs: self.entries.len(),
                bytes: self.bytes,
            });
        }
        let verified = signed.verify(&self.chain_id)?;
        if committed(&id) {
            return Err(AdmitError::Committed(id));
        }
        let key = verified.body.submitter;
        let expected = self.expected_sequence(state, &key);
        rules::check_submitter(state, &verified.body, expected)?;
        self.insert(id, Bytes(bytes.to_vec()), verified.body);
        Ok(id)
    }

    fn expected_sequence(&self, state: &dyn StateView, key: &PublicKey) -> u64 {
        let last = match self.pending_sequence.get(key) {
            Some(s) => *s,
            None => state.last_sequence(key),
        };
        last.saturating_add(1)
    }

    fn insert(&mut self, id: Hash32, bytes: Bytes, body: TxBody) {
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        self.bytes += bytes.len() as u64;
        self.pending_sequence.insert(body.submitter, body.sequence);
        self.order.insert(arrival, id);
        self.entries.insert(
            id,
            Entry {
                bytes,
                body,
                arrival,
            },
        );
    }

    /// Transactions for a block, in arrival order, within the block limits.
    pub fn reap(&self, max_txs: usize, max_bytes: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut size = 0usize;
        for id in self.order.values() {
            let Some(entry) = self.entries.get(id) else {
                continue;
            };
            if out.len() >= max_txs || size + entry.bytes.len() > max_bytes {
                break;
            }
            size += entry.bytes.len();
            out.push(entry.bytes.clone());
        }
        out
    }

    /// After a block: drops the committed transactions, then re-checks the rest against the new state in
    /// arrival order and drops any that can no longer be accepted. Returns how many were dropped by the re-check.
    pub fn update(&mut self, committed: &[Hash32], state: &dyn StateView) -> usize {
        for id in committed {
            if let Some(entry) = self.entries.remove(id) {
                self.order.remove(&entry.arrival);
                self.bytes -= entry.bytes.len() as u64;
            }
        }
        self.pending_sequence.clear();
        let mut dropped = Vec::new();
        for (arrival, id) in &self.order {
            let Some(entry) = self.entries.get(id) else {
                continue;
            };
            let key = entry.body.submitter;
            let expected = self.expected_sequence(state, &key);
            match rules::check_submitter(state, &entry.body, expected) {
                Ok(_) => {
                    self.pending_sequence.insert(key, entry.body.sequence);
                }
                Err(_) => dropped.push((*arrival, *id)),
            }
        }
        for (arrival, id) in &dropped {
            self.order.remove(arrival);
            if let Some(entry) = self.entries.remove(id) {
                self.bytes -= entry.bytes.len() as u64;
            }
        }
        dropped.len()
    }
}
