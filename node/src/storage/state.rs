//! The `state` column family: the ledger state the rules read and write, under the canonical encoding of each
//! key (`protocol.md` §2.8).

use super::{StorageError, Store, corrupt};
use clearance_core::encoding::{self, limit};
use clearance_core::ids::{CountryCode, OperatorId};
use clearance_core::rules::{AeoState, StateKey, StateValue, StateView};

/// State entries are stored under the canonical encoding of their key.
pub(super) fn state_key(key: &StateKey) -> Vec<u8> {
    encoding::encode(key)
}

/// The committed state, read by the rules. A read error answers "absent" here: this view serves the mempool's
/// admission checks, where that means a refusal; execution reads through [`Store::state`] and stops on errors.
impl StateView for Store {
    fn get(&self, key: &StateKey) -> Option<StateValue> {
        self.state(key).ok().flatten()
    }
}

impl Store {
    /// A state entry's value as stored: the canonical bytes the state tree hashes.
    pub fn state_bytes(&self, key: &StateKey) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_cf(self.cf("state"), state_key(key))?)
    }

    pub fn state(&self, key: &StateKey) -> Result<Option<StateValue>, StorageError> {
        match self.db.get_pinned_cf(self.cf("state"), state_key(key))? {
            Some(bytes) => decode_state_value(&bytes).map(Some),
            None => Ok(None),
        }
    }
}

impl Store {
    /// Every committed state entry, as (key bytes, value bytes), in key order, until `keep` says stop.
    pub fn scan_state(
        &self,
        mut keep: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        for item in self
            .db
            .iterator_cf(self.cf("state"), rocksdb::IteratorMode::Start)
        {
            let (key, value) = item?;
            if !keep(&key, &value) {
                break;
            }
        }
        Ok(())
    }

    /// The AEO entries of `operator`, one for each programme it has a status in, by programme code. One seek to
    /// the operator's entries: the cost does not grow with the records written about it.
    pub fn aeo_entries(
        &self,
        operator: &OperatorId,
    ) -> Result<Vec<(CountryCode, AeoState)>, StorageError> {
        // An entry's key is its operator's key followed by the programme, whose encoding has one length: the
        // operator's entries are exactly the keys under that prefix.
        let some = CountryCode::parse("CN").map_err(|e| corrupt("country code", e))?;
        let mut prefix = state_key(&StateKey::Aeo {
            operator: operator.clone(),
            programme: some.clone(),
        });
        prefix.truncate(prefix.len() - encoding::encode(&some).len());
        let mut out = Vec::new();
        let from = rocksdb::IteratorMode::From(&prefix, rocksdb::Direction::Forward);
        for item in self.db.iterator_cf(self.cf("state"), from) {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            let key: StateKey = encoding::decode(&key, limit::SMALL, "state key")
                .map_err(|e| corrupt("state key", e))?;
            match (key, decode_state_value(&value)?) {
                (StateKey::Aeo { programme, .. }, StateValue::Aeo(state)) => {
                    out.push((programme, state))
                }
                (key, _) => return Err(corrupt("AEO entry", format!("{key:?} under {operator}"))),
            }
        }
        Ok(out)
    }
}

/// A stored state value from its canonical bytes ([`Store::state_bytes`]).
pub fn decode_state_value(bytes: &[u8]) -> Result<StateValue, StorageError> {
    // An epoch lists up to 128 members with their addresses, as genesis does: the same bound.
    encoding::decode(bytes, limit::GENESIS, "state entry").map_err(|e| corrupt("state entry", e))
}
