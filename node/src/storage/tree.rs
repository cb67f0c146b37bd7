//! The `tree` column family: the state tree's nodes (`protocol.md` §4.5), keyed by position, and their storage
//! encoding. Written in each block's batch ([`Store::put_tree`]); read for updates and for proofs. The levels
//! above [`MEMORY_DEPTH`] live in memory ([`UpperTree`]): of them, only leaves are stored.

use super::upper_tree::{MEMORY_DEPTH, UpperTree};
use super::{LAYOUT_VERSION, StorageError, Store, corrupt};
use clearance_core::Hash32;
use clearance_core::state_tree::{self, Node, Position};
use rocksdb::{Direction, IteratorMode, ReadOptions, WriteBatch};
use std::collections::BTreeMap;
use std::sync::{RwLockReadGuard, RwLockWriteGuard};

impl Store {
    /// The committed state tree, read for updates and proofs.
    pub fn state_tree(&self) -> StateTree<'_> {
        StateTree(self)
    }

    /// Layout 3 stored every node of the state tree; layout 4 keeps those above depth 16 in memory, except
    /// leaves. The upgrade deletes the others, in one synced batch with the new version.
    pub(super) fn upgrade_layout_3(&self) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        let mut dropped = 0usize;
        for (at, node) in self.upper_nodes()? {
            if at.depth < MEMORY_DEPTH && matches!(node, Node::Internal { .. }) {
                batch.delete_cf(self.cf("tree"), tree_key(&at));
                dropped += 1;
            }
        }
        batch.put_cf(self.cf("meta"), b"layout", LAYOUT_VERSION.to_be_bytes());
        self.db.write_opt(batch, &self.sync)?;
        tracing::info!(
            path = %self.path.display(),
            dropped,
            "upgraded the data directory from storage layout 3 to 4"
        );
        Ok(())
    }

    pub(super) fn upper_tree(&self) -> Result<RwLockReadGuard<'_, UpperTree>, StorageError> {
        self.upper
            .read()
            .map_err(|_| corrupt("state tree", "its in-memory levels were left half-updated"))
    }

    pub(super) fn upper_tree_mut(&self) -> Result<RwLockWriteGuard<'_, UpperTree>, StorageError> {
        self.upper
            .write()
            .map_err(|_| corrupt("state tree", "its in-memory levels were left half-updated"))
    }

    /// Adds the state tree's `writes` to `batch`, writes it (`synced`: to the disk), and applies them to the
    /// levels in memory.
    pub(super) fn write_with_tree(
        &self,
        mut batch: WriteBatch,
        writes: &BTreeMap<Position, Option<Node>>,
        synced: bool,
    ) -> Result<(), StorageError> {
        let mut upper = self.upper_tree_mut()?;
        self.put_tree(&mut batch, writes, &upper);
        let options = if synced { &self.sync } else { &self.unsynced };
        match self.db.write_opt(batch, options) {
            Ok(()) => {
                upper.apply(writes);
                Ok(())
            }
            Err(e) => {
                // The batch may or may not be on the disk now: the levels in memory follow the disk. (The node
                // stops after a failed commit; this keeps whatever still reads the store consistent.)
                if let Ok(reloaded) = self
                    .head()
                    .and_then(|head| self.load_upper_tree(&head.state_root))
                {
                    *upper = reloaded;
                }
                Err(e.into())
            }
        }
    }

    /// Puts the tree writes of a block into its batch. `upper` is the tree before them: above the stored level,
    /// a position whose leaf is replaced (by an internal node, or by nothing) has its stored leaf deleted.
    pub(super) fn put_tree(
        &self,
        batch: &mut WriteBatch,
        writes: &BTreeMap<Position, Option<Node>>,
        upper: &UpperTree,
    ) {
        let tree = self.cf("tree");
        for (at, node) in writes {
            let stored = at.depth >= MEMORY_DEPTH || matches!(node, Some(Node::Leaf { .. }));
            match node {
                Some(node) if stored => batch.put_cf(tree, tree_key(at), node_bytes(node)),
                _ if stored || upper.holds_leaf(at) => batch.delete_cf(tree, tree_key(at)),
                _ => {}
            }
        }
    }

    /// The levels above the stored level, rebuilt from the stored nodes and checked against `root` (the head's
    /// state root).
    pub(super) fn load_upper_tree(&self, root: &Hash32) -> Result<UpperTree, StorageError> {
        let upper =
            UpperTree::rebuild(self.upper_nodes()?).map_err(|e| corrupt("state tree", e))?;
        if upper.root() != *root {
            return Err(corrupt(
                "state tree",
                format!(
                    "its nodes hash to {}, not to the head's state root {root}",
                    upper.root()
                ),
            ));
        }
        Ok(upper)
    }

    /// Every stored node at depth [`MEMORY_DEPTH`] or above, in key order.
    pub(super) fn upper_nodes(&self) -> Result<Vec<(Position, Node)>, StorageError> {
        // The tree's memtable is hashed by key prefix: only a total-order read walks across prefixes.
        let mut read = ReadOptions::default();
        read.set_total_order_seek(true);
        let start = [0u8; 2];
        let iter = self.db.iterator_cf_opt(
            self.cf("tree"),
            read,
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut nodes = Vec::new();
        for item in iter {
            let (key, value) = item?;
            let at = position_from_key(&key)?;
            if at.depth > MEMORY_DEPTH {
                break;
            }
            nodes.push((at, node_from_bytes(&value)?));
        }
        Ok(nodes)
    }
}

/// The committed state tree ([`Store::state_tree`]).
pub struct StateTree<'a>(&'a Store);

impl state_tree::NodeSource for StateTree<'_> {
    type Error = StorageError;

    fn node(&self, at: &Position) -> Result<Option<Node>, StorageError> {
        if let Some(node) = self.0.upper_tree()?.get(at) {
            return Ok(node);
        }
        match self.0.db.get_pinned_cf(self.0.cf("tree"), tree_key(at))? {
            Some(bytes) => node_from_bytes(&bytes).map(Some),
            None => Ok(None),
        }
    }
}

/// The position a stored key names ([`tree_key`]).
fn position_from_key(key: &[u8]) -> Result<Position, StorageError> {
    let bad = || corrupt("state tree key", format!("{} bytes: {key:02x?}", key.len()));
    let (depth, prefix) = key.split_first_chunk::<2>().ok_or_else(bad)?;
    let depth = u16::from_be_bytes(*depth);
    if depth > 256 || prefix.len() != usize::from(depth).div_ceil(8).clamp(1, 32) {
        return Err(bad());
    }
    let mut at = Position {
        depth,
        prefix: Hash32::ZERO,
    };
    at.prefix.0[..prefix.len()].copy_from_slice(prefix);
    Ok(at)
}

/// A state tree node's key: its depth (u16 big-endian), then only the bytes of its prefix that hold the depth's
/// bits, at least one (the root's is zero). Short keys matter: every block rewrites thousands of nodes, and each
/// key goes to the log, the memtable and the tables. Nodes of one depth sort together, by prefix.
pub(super) fn tree_key(at: &Position) -> Vec<u8> {
    let len = usize::from(at.depth).div_ceil(8).clamp(1, 32);
    let mut k = Vec::with_capacity(2 + len);
    k.extend_from_slice(&at.depth.to_be_bytes());
    k.extend_from_slice(&at.prefix.0[..len]);
    k
}

/// A node as stored: 0 then the halves' hashes for an internal node, 1 then path and value hash for a leaf.
fn node_bytes(node: &Node) -> [u8; 65] {
    let mut out = [0u8; 65];
    let (tag, a, b) = match node {
        Node::Internal { left, right } => (0, left, right),
        Node::Leaf { key, value } => (1, key, value),
    };
    out[0] = tag;
    out[1..33].copy_from_slice(&a.0);
    out[33..].copy_from_slice(&b.0);
    out
}

fn node_from_bytes(bytes: &[u8]) -> Result<Node, StorageError> {
    let hash = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .and_then(|b| Hash32::from_slice(b).ok())
            .ok_or_else(|| corrupt("state tree node", format!("{} bytes, not 65", bytes.len())))
    };
    if bytes.len() != 65 {
        return Err(corrupt(
            "state tree node",
            format!("{} bytes, not 65", bytes.len()),
        ));
    }
    let (a, b) = (hash(1..33)?, hash(33..65)?);
    match bytes[0] {
        0 => Ok(Node::Internal { left: a, right: b }),
        1 => Ok(Node::Leaf { key: a, value: b }),
        tag => Err(corrupt("state tree node", format!("tag {tag}"))),
    }
}

#[cfg(test)]
#[path = "../../tests/support/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

#[cfg(test)]
mod tests {
    use super::super::{Head, MemoryDisk};
    use super::*;
    use clearance_core::state_tree::{NodeSource, StateProof};

    fn h(parts: &[u32]) -> Hash32 {
        let bytes: Vec<u8> = parts.iter().flat_map(|p| p.to_be_bytes()).collect();
        Hash32::sha256(&bytes)
    }

    fn open(disk: &MemoryDisk) -> Result<Store, StorageError> {
        Store::open_in_memory(disk, "tree", &fixtures::genesis_of(4))
    }

    /// Commits `changes` to the tree as a block would (with a head naming the new root); with `every_node`, it
    /// writes every node the update names, as storage layout 3 did.
    fn commit(
        store: &Store,
        changes: &BTreeMap<Hash32, Option<Hash32>>,
        every_node: bool,
    ) -> Hash32 {
        let update = state_tree::update(&store.state_tree(), changes).unwrap();
        let mut batch = WriteBatch::default();
        let head = Head {
            state_root: update.root,
            ..store.head().unwrap()
        };
        batch.put_cf(store.cf("meta"), b"head", head.to_bytes());
        if every_node {
            for (at, node) in &update.writes {
                match node {
                    Some(n) => batch.put_cf(store.cf("tree"), tree_key(at), node_bytes(n)),
                    None => batch.delete_cf(store.cf("tree"), tree_key(at)),
                }
            }
            store.db.write_opt(batch, &store.sync).unwrap();
            store.upper_tree_mut().unwrap().apply(&update.writes);
        } else {
            store.write_with_tree(batch, &update.writes, true).unwrap();
        }
        update.root
    }

    /// Each round adds 20,000 entries, changes a sixth of the earlier ones and removes another sixth, so that the
    /// tree grows past the stored level and leaves above it are both replaced by internal nodes and removed.
    fn round(round: u32, present: &mut Vec<Hash32>) -> BTreeMap<Hash32, Option<Hash32>> {
        let mut changes = BTreeMap::new();
        for (j, key) in present.iter().enumerate().step_by(3) {
            let value = (j % 2 == 1).then(|| h(&[round, j as u32, 1]));
            changes.insert(*key, value);
        }
        present.retain(|key| !matches!(changes.get(key), Some(None)));
        // A few entries first, so that a small tree's leaves sit above the stored level.
        let count = if round == 0 { 12 } else { 20_000 };
        for i in 0..count {
            let key = h(&[round, i]);
            changes.insert(key, Some(h(&[round, i, 2])));
            present.push(key);
        }
        changes
    }

    fn check(store: &Store, root: &Hash32, present: &[Hash32], removed: &[Hash32]) {
        assert_eq!(store.head().unwrap().state_root, *root);
        let tree = store.state_tree();
        for key in present.iter().step_by(97) {
            let proof = StateProof::build(&tree, key).unwrap();
            assert!(matches!(proof.verify(root, key), Ok(Some(_))));
        }
        for key in removed.iter().step_by(97) {
            let proof = StateProof::build(&tree, key).unwrap();
            assert_eq!(proof.verify(root, key), Ok(None));
        }
    }

    #[test]
    fn a_reopened_store_rebuilds_the_levels_it_does_not_store() {
        let disk = MemoryDisk::new().unwrap();
        let mut store = open(&disk).unwrap();
        let mut present = Vec::new();
        for r in 0..4 {
            let before = present.clone();
            let root = commit(&store, &round(r, &mut present), false);
            let now: std::collections::HashSet<&Hash32> = present.iter().collect();
            let removed: Vec<Hash32> = before.into_iter().filter(|k| !now.contains(k)).collect();
            check(&store, &root, &present, &removed);
            drop(store);
            store = open(&disk).unwrap();
            check(&store, &root, &present, &removed);
            let stored_above = store.upper_nodes().unwrap();
            assert!(stored_above.iter().all(|(at, node)| at.depth == MEMORY_DEPTH
                || matches!(node, Node::Leaf { .. })));
        }
        assert!(
            store
                .upper_nodes()
                .unwrap()
                .iter()
                .any(|(at, _)| at.depth == MEMORY_DEPTH),
            "the tree grew past the stored level"
        );

        // A lost node below is found at open: the levels above no longer hash to the head's root.
        let (at, _) = store.upper_nodes().unwrap()[100];
        store.db.delete_cf(store.cf("tree"), tree_key(&at)).unwrap();
        drop(store);
        match open(&disk) {
            Err(StorageError::Corrupt {
                what: "state tree", ..
            }) => {}
            other => panic!(
                "a store missing a tree node opened: {:?}",
                other.map(|_| ())
            ),
        }
    }

    #[test]
    fn a_layout_3_directory_is_upgraded_in_place() {
        let disk = MemoryDisk::new().unwrap();
        let store = open(&disk).unwrap();
        let mut present = Vec::new();
        let mut root = Hash32::ZERO;
        for r in 0..3 {
            root = commit(&store, &round(r, &mut present), true);
        }
        store
            .db
            .put_cf(store.cf("meta"), b"layout", 3u32.to_be_bytes())
            .unwrap();
        let internal_above = |store: &Store| {
            store
                .upper_nodes()
                .unwrap()
                .iter()
                .filter(|(at, node)| {
                    at.depth < MEMORY_DEPTH && matches!(node, Node::Internal { .. })
                })
                .count()
        };
        assert!(internal_above(&store) > 1000);
        drop(store);
        let store = open(&disk).unwrap();
        assert_eq!(internal_above(&store), 0);
        check(&store, &root, &present, &[]);
        let layout = store.db.get_cf(store.cf("meta"), b"layout").unwrap();
        assert_eq!(layout.as_deref(), Some(&LAYOUT_VERSION.to_be_bytes()[..]));
        // The levels in memory answer for positions above the stored level.
        assert!(store.state_tree().node(&Position::ROOT).unwrap().is_some());
    }
}
