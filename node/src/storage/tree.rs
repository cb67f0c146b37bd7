//! The `tree` column family: the state tree's nodes (`protocol.md` §4.5), keyed by position, and their storage
//! encoding. Written in each block's batch ([`Store::put_tree`]); read for updates (through the ledger's cache) and
//! for proofs.

use super::{StorageError, Store, corrupt};
use clearance_core::Hash32;
use clearance_core::state_tree::{self, Node, Position};
use rocksdb::WriteBatch;
use std::collections::BTreeMap;

impl Store {
    /// The committed state tree, read for updates and proofs.
    pub fn state_tree(&self) -> StateTree<'_> {
        StateTree(self)
    }

    pub(super) fn put_tree(
        &self,
        batch: &mut WriteBatch,
        writes: &BTreeMap<Position, Option<Node>>,
    ) {
        let tree = self.cf("tree");
        for (at, node) in writes {
            match node {
                Some(node) => batch.put_cf(tree, tree_key(at), node_bytes(node)),
                None => batch.delete_cf(tree, tree_key(at)),
            }
        }
    }
}

/// The committed state tree ([`Store::state_tree`]).
pub struct StateTree<'a>(&'a Store);

impl state_tree::NodeSource for StateTree<'_> {
    type Error = StorageError;

    fn node(&self, at: &Position) -> Result<Option<Node>, StorageError> {
        match self.0.db.get_pinned_cf(self.0.cf("tree"), tree_key(at))? {
            Some(bytes) => node_from_bytes(&bytes).map(Some),
            None => Ok(None),
        }
    }
}

/// A state tree node's key: its depth (u16 big-endian), then only the bytes of its prefix that hold the depth's
/// bits, at least one (the root's is zero). Short keys matter: every block rewrites thousands of nodes, and each
/// key goes to the log, the memtable and the tables. Nodes of one depth sort together, by prefix.
fn tree_key(at: &Position) -> Vec<u8> {
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
