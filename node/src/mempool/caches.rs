//! Views of the committed state that remember what they read, for the mempool's checks: many pending
//! transactions share a key, and every admitted one reads its member's entry.

use clearance_core::rules::{StateKey, StateValue, StateView};
use std::collections::HashMap;

/// The committed state, with member entries served from the mempool's `members`, which it clears at every commit.
pub(super) struct MemberCache<'a> {
    pub inner: &'a dyn StateView,
    pub members: &'a std::sync::Mutex<HashMap<StateKey, Option<StateValue>>>,
}

impl StateView for MemberCache<'_> {
    fn get(&self, key: &StateKey) -> Option<StateValue> {
        if !matches!(key, StateKey::Member(_)) {
            return self.inner.get(key);
        }
        // Only the driver's thread admits; a poisoned lock (a panic mid-insert) just skips the cache.
        let Ok(mut members) = self.members.lock() else {
            return self.inner.get(key);
        };
        if let Some(v) = members.get(key) {
            return v.clone();
        }
        let value = self.inner.get(key);
        members.insert(key.clone(), value.clone());
        value
    }
}

pub(super) struct ReadCache<'a> {
    inner: &'a dyn StateView,
    reads: std::cell::RefCell<HashMap<StateKey, Option<StateValue>>>,
}

impl<'a> ReadCache<'a> {
    pub fn new(inner: &'a dyn StateView) -> ReadCache<'a> {
        ReadCache {
            inner,
            reads: Default::default(),
        }
    }
}

impl StateView for ReadCache<'_> {
    fn get(&self, key: &StateKey) -> Option<StateValue> {
        if let Some(v) = self.reads.borrow().get(key) {
            return v.clone();
        }
        let value = self.inner.get(key);
        self.reads.borrow_mut().insert(key.clone(), value.clone());
        value
    }
}
