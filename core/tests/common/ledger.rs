//! A ledger state in memory, driven through the rules as execution drives them, for the rules tests.

use super::{genesis, key};
use clearance_core::Hash32;
use clearance_core::crypto::SecretKey;
use clearance_core::genesis::Genesis;
use clearance_core::record::Record;
use clearance_core::rules::{self, BlockContext, RuleError, StateKey, StateValue, StateView};
use clearance_core::time::Timestamp;
use clearance_core::tx::TxBody;
use std::collections::HashMap;

/// The state of `genesis(n)`, with each member's all-roles agency key (`key(i + 60)`), at a block height and
/// time the test moves on.
pub struct Ledger {
    pub state: HashMap<StateKey, StateValue>,
    pub keys: HashMap<String, SecretKey>,
    pub sequences: HashMap<String, u64>,
    pub next_id: u8,
    pub ctx: BlockContext,
    pub genesis: Genesis,
}

impl StateView for Ledger {
    fn get(&self, key: &StateKey) -> Option<StateValue> {
        self.state.get(key).cloned()
    }
}

impl Ledger {
    /// Three members: KZ, DE and CN.
    pub fn new() -> Ledger {
        Ledger::with_members(3)
    }

    pub fn with_members(n: usize) -> Ledger {
        let genesis = genesis(n);
        let mut l = Ledger {
            state: HashMap::new(),
            keys: HashMap::new(),
            sequences: HashMap::new(),
            next_id: 0,
            ctx: BlockContext::new(1, genesis.genesis_time, &genesis.params),
            genesis: genesis.clone(),
        };
        for c in rules::genesis_state(&genesis) {
            l.state.insert(c.key, c.value);
        }
        for (i, m) in genesis.members.iter().enumerate() {
            l.keys.insert(m.id.to_string(), key(i as u8 + 60));
        }
        l
    }

    /// Moves to the next block, `ms` later.
    pub fn next_block(&mut self, ms: u64) {
        self.ctx.height += 1;
        self.ctx.time = Timestamp(self.ctx.time.as_millis() + ms);
    }

    /// Applies `record` with the key named `by`; on success writes the changes and returns the record id.
    pub fn submit(&mut self, by: &str, record: Record) -> Result<Hash32, RuleError> {
        let seq = self.sequences.get(by).copied().unwrap_or(0) + 1;
        let body = TxBody {
            chain_id: Hash32([1; 32]),
            submitter: self.keys[by].public_key(),
            sequence: seq,
            record,
        };
        self.next_id += 1;
        let id = Hash32([self.next_id; 32]);
        let (changes, result) = match rules::apply(self, &self.ctx, &id, &body) {
            Ok(changes) => (changes, Ok(id)),
            Err(refused) => (refused.changes, Err(refused.error)),
        };
        for c in changes {
            if c.key == StateKey::Sequence(body.submitter) {
                self.sequences.insert(by.to_string(), seq);
            }
            self.state.insert(c.key, c.value);
        }
        result
    }

    pub fn code(&mut self, by: &str, record: Record) -> &'static str {
        match self.submit(by, record) {
            Ok(_) => "OK",
            Err(e) => e.code(),
        }
    }
}
