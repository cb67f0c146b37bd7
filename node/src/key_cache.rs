//! Submitter keys validated once per node. The API's handlers, transaction gossip and the mempool all check
//! submitter signatures, and validating a key's point costs about as much as a signature: one cache, shared by
//! all three, so a key is validated once however a transaction arrives. It holds only validated keys and starts
//! over when full.

use clearance_core::crypto::{CheckedKey, PublicKey, SignatureError};
use clearance_core::tx::KeySource;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Keys kept; past this the cache starts over (a genesis names far fewer submitters).
const CAPACITY: usize = 4096;

/// A handle on the node's one key cache; clones share it.
#[derive(Clone, Default)]
pub struct SharedKeys(Arc<Mutex<HashMap<PublicKey, CheckedKey>>>);

impl SharedKeys {
    fn lock(&self) -> MutexGuard<'_, HashMap<PublicKey, CheckedKey>> {
        // The map holds only validated keys, so a panic elsewhere cannot leave it wrong.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl KeySource for SharedKeys {
    fn checked_key(&mut self, key: &PublicKey) -> Result<CheckedKey, SignatureError> {
        if let Some(checked) = self.lock().get(key) {
            return Ok(checked.clone());
        }
        // Validated outside the lock: concurrent callers verify in parallel.
        let checked = key.to_checked().map_err(SignatureError::from)?;
        let mut keys = self.lock();
        if keys.len() >= CAPACITY {
            keys.clear();
        }
        keys.insert(*key, checked.clone());
        Ok(checked)
    }
}
