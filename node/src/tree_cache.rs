//! The upper levels of the committed state tree, in memory, for execution. Every block's state-root update
//! descends from the root along each changed path; without this cache each step is a RocksDB read, which made
//! the update the largest cost of execution at saturation (docs/performance.md §13).
//!
//! Owned by the ledger, the one writer of the tree: filled from the store on a miss, and changed by the same
//! writes as the store right after a commit succeeds, so it always equals the committed tree above its depth
//! bound. Proof building reads the store directly.

use crate::storage::{StorageError, Store};
use clearance_core::state_tree::{Node, NodeSource, Position};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Nodes at depth 0 to 16: at most 2^17 − 1 of them, about 9 MB. Paths at a million entries are about 20 deep,
/// so a changed path reads about 4 nodes from the store instead of 20 (at 14 levels, the update still spent a third
/// of its time reading).
const MAX_DEPTH: u16 = 16;

/// Kept as a complete binary tree in an array: the node at depth `d` whose path starts with the bits `b` is at
/// `2^d − 1 + b`. No hashing on the hot path, and the array grows only as deep as the tree is.
#[derive(Default)]
pub struct TreeCache {
    nodes: RefCell<Vec<Option<Node>>>,
}

/// The slot of a position within the cached depths.
fn slot(at: &Position) -> Option<usize> {
    if at.depth > MAX_DEPTH {
        return None;
    }
    let top = u32::from_be_bytes([
        at.prefix.0[0],
        at.prefix.0[1],
        at.prefix.0[2],
        at.prefix.0[3],
    ]);
    let bits = if at.depth == 0 {
        0
    } else {
        top >> (32 - u32::from(at.depth))
    };
    Some((1usize << at.depth) - 1 + bits as usize)
}

fn put(nodes: &mut Vec<Option<Node>>, slot: usize, node: Option<Node>) {
    if slot >= nodes.len() {
        if node.is_none() {
            return;
        }
        nodes.resize(slot + 1, None);
    }
    nodes[slot] = node;
}

impl TreeCache {
    /// Applies a committed block's tree writes.
    pub fn committed(&self, writes: &BTreeMap<Position, Option<Node>>) {
        let mut nodes = self.nodes.borrow_mut();
        for (at, node) in writes {
            if let Some(slot) = slot(at) {
                put(&mut nodes, slot, *node);
            }
        }
    }

    /// Forgets everything: after a failed commit the store's tree is not known to match.
    pub fn clear(&self) {
        self.nodes.borrow_mut().clear();
    }

    /// The committed tree of `store`, read through this cache.
    pub fn over<'a>(&'a self, store: &'a Store) -> CachedTree<'a> {
        CachedTree { store, cache: self }
    }
}

pub struct CachedTree<'a> {
    store: &'a Store,
    cache: &'a TreeCache,
}

impl NodeSource for CachedTree<'_> {
    type Error = StorageError;

    fn node(&self, at: &Position) -> Result<Option<Node>, StorageError> {
        let slot = slot(at);
        if let Some(s) = slot
            && let Some(Some(n)) = self.cache.nodes.borrow().get(s)
        {
            return Ok(Some(*n));
        }
        let node = self.store.state_tree().node(at)?;
        if let Some(s) = slot
            && node.is_some()
        {
            put(&mut self.cache.nodes.borrow_mut(), s, node);
        }
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::slot;
    use clearance_core::state_tree::Position;

    #[test]
    fn slots_number_the_cached_levels_in_order() {
        let root = Position::ROOT;
        assert_eq!(slot(&root), Some(0));
        assert_eq!(slot(&root.child(false)), Some(1));
        assert_eq!(slot(&root.child(true)), Some(2));
        assert_eq!(slot(&root.child(true).child(false)), Some(5));
        let mut deepest = root;
        for _ in 0..super::MAX_DEPTH {
            deepest = deepest.child(true);
        }
        assert_eq!(slot(&deepest), Some((1 << (super::MAX_DEPTH + 1)) - 2));
        assert_eq!(slot(&deepest.child(false)), None);
    }
}
