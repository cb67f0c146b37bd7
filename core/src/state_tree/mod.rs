//! The authenticated ledger state: a sparse Merkle tree over every state entry, so that an entry (a certificate's
//! status, an operator's AEO standing, a declaration's current decision) or its absence can be proven against one
//! root.
//!
//! The tree (docs/protocol.md, "The state tree"): an entry sits at the 256-bit path `K`, the hash of its key, read
//! from the most significant bit of byte 0. A subtree holding no entry hashes to 32 zero bytes; a subtree holding
//! exactly one entry hashes to that entry's leaf hash `tagged_hash("clearance/v1/state-leaf", K ‖ V)`, whatever
//! its depth, where `V` is the hash of the entry's value; any other subtree hashes to
//! `tagged_hash("clearance/v1/state-node", left ‖ right)`. The root is the hash of the whole tree. A lookup
//! therefore descends only as deep as the entries around it make it: about log2(entries) levels.
//!
//! Pure: nodes are read through [`NodeSource`], and an update returns the nodes to write, for the caller to put in
//! the same batch as the state itself.

mod proof;

pub use proof::{ProofError, StateProof, Terminal};

use crate::hash::{Hash32, tag, tagged_hash};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A position in the tree: the first `depth` bits of a path (the bits beyond `depth` are zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    pub depth: u16,
    pub prefix: Hash32,
}

impl Position {
    pub const ROOT: Position = Position {
        depth: 0,
        prefix: Hash32::ZERO,
    };

    /// The position one level down, on the side `right` names. A path has 256 bits, so a correct tree never goes
    /// below depth 256; stored nodes that claim to (a corrupt store) lead to positions without nodes, not a panic.
    pub fn child(&self, right: bool) -> Position {
        let mut prefix = self.prefix;
        let d = usize::from(self.depth);
        if right && let Some(byte) = prefix.0.get_mut(d / 8) {
            *byte |= 0x80 >> (d % 8);
        }
        Position {
            depth: self.depth.saturating_add(1),
            prefix,
        }
    }
}

/// Bit `depth` of `path`, counting from the most significant bit of byte 0: `true` is the right side (`false`
/// past the 256th bit).
pub fn bit(path: &Hash32, depth: usize) -> bool {
    path.0
        .get(depth / 8)
        .is_some_and(|byte| (byte >> (7 - depth % 8)) & 1 == 1)
}

/// The hash of a subtree holding exactly the entry (`key`, `value`).
pub fn leaf_hash(key: &Hash32, value: &Hash32) -> Hash32 {
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(&key.0);
    bytes[32..].copy_from_slice(&value.0);
    tagged_hash(tag::STATE_LEAF, &bytes)
}

/// The hash of a subtree holding two or more entries, from its halves' hashes.
pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(&left.0);
    bytes[32..].copy_from_slice(&right.0);
    tagged_hash(tag::STATE_NODE, &bytes)
}

/// A stored node, at the position of the subtree it stands for: the halves of a subtree with two or more entries,
/// or the one entry of a subtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Node {
    Internal { left: Hash32, right: Hash32 },
    Leaf { key: Hash32, value: Hash32 },
}

impl Node {
    pub fn hash(&self) -> Hash32 {
        match self {
            Node::Internal { left, right } => node_hash(left, right),
            Node::Leaf { key, value } => leaf_hash(key, value),
        }
    }
}

/// Where the tree's nodes are read from.
pub trait NodeSource {
    type Error;
    fn node(&self, at: &Position) -> Result<Option<Node>, Self::Error>;
}

/// The result of an update: the new root, and the nodes to write (`None`: delete the node at that position).
#[derive(Debug)]
pub struct Update {
    pub root: Hash32,
    pub writes: BTreeMap<Position, Option<Node>>,
}

/// Sets (`Some`) or removes (`None`) the entries `changes` names, by path, in the tree `source` holds.
pub fn update<S: NodeSource>(
    source: &S,
    changes: &BTreeMap<Hash32, Option<Hash32>>,
) -> Result<Update, S::Error> {
    let changes: Vec<(Hash32, Option<Hash32>)> = changes.iter().map(|(k, v)| (*k, *v)).collect();
    let mut writes = BTreeMap::new();
    let current = source.node(&Position::ROOT)?;
    let root = apply(source, &mut writes, Position::ROOT, current, &changes)?;
    Ok(Update {
        root: root.hash(),
        writes,
    })
}

/// The root of the tree holding exactly `entries` (path → value hash), computed from scratch.
pub fn root_of(entries: &BTreeMap<Hash32, Hash32>) -> Hash32 {
    let entries: Vec<(Hash32, Hash32)> = entries.iter().map(|(k, v)| (*k, *v)).collect();
    build(&mut BTreeMap::new(), Position::ROOT, &entries, false).hash()
}

/// What a subtree is after an update.
#[derive(Debug, Clone, Copy)]
enum Subtree {
    Empty,
    Leaf {
        key: Hash32,
        value: Hash32,
    },
    /// Two or more entries; the hash.
    Internal(Hash32),
}

impl Subtree {
    fn hash(&self) -> Hash32 {
        match self {
            Subtree::Empty => Hash32::ZERO,
            Subtree::Leaf { key, value } => leaf_hash(key, value),
            Subtree::Internal(h) => *h,
        }
    }
}

/// Applies `changes` (sorted by path, all under `at`) to the subtree at `at`, whose node is `current`.
fn apply<S: NodeSource>(
    source: &S,
    writes: &mut BTreeMap<Position, Option<Node>>,
    at: Position,
    current: Option<Node>,
    changes: &[(Hash32, Option<Hash32>)],
) -> Result<Subtree, S::Error> {
    match current {
        // At most one entry below: rebuild the subtree from it and the changes.
        None | Some(Node::Leaf { .. }) => {
            let mut entries: BTreeMap<Hash32, Hash32> = match current {
                Some(Node::Leaf { key, value }) => [(key, value)].into_iter().collect(),
                _ => BTreeMap::new(),
            };
            for (key, value) in changes {
                match value {
                    Some(v) => entries.insert(*key, *v),
                    None => entries.remove(key),
                };
            }
            let entries: Vec<(Hash32, Hash32)> = entries.into_iter().collect();
            Ok(build(writes, at, &entries, current.is_some()))
        }
        Some(Node::Internal { left, right }) => {
            let depth = usize::from(at.depth);
            let split = changes.partition_point(|(key, _)| !bit(key, depth));
            let (to_left, to_right) = changes.split_at(split);
            let mut side =
                |right_side: bool, hash: Hash32, changes: &[(Hash32, Option<Hash32>)]| {
                    let child = at.child(right_side);
                    if changes.is_empty() {
                        return Ok(Side::Unchanged(hash));
                    }
                    let node = if hash == Hash32::ZERO {
                        None
                    } else {
                        source.node(&child)?
                    };
                    apply(source, writes, child, node, changes).map(Side::Changed)
                };
            let l = side(false, left, to_left)?;
            let r = side(true, right, to_right)?;
            combine(source, writes, at, l, r)
        }
    }
}

/// A half of an internal node after an update: untouched (only its hash is known), or changed.
enum Side {
    Unchanged(Hash32),
    Changed(Subtree),
}

/// The subtree at `at` from its two halves: empty, a leaf moved up from a half whose sibling is empty, or an
/// internal node.
fn combine<S: NodeSource>(
    source: &S,
    writes: &mut BTreeMap<Position, Option<Node>>,
    at: Position,
    l: Side,
    r: Side,
) -> Result<Subtree, S::Error> {
    let kind = |side: &Side| match side {
        Side::Unchanged(h) if *h == Hash32::ZERO => Some(Subtree::Empty),
        Side::Unchanged(_) => None,
        Side::Changed(s) => Some(*s),
    };
    let hash = |side: &Side| match side {
        Side::Unchanged(h) => *h,
        Side::Changed(s) => s.hash(),
    };
    let (lk, rk) = (kind(&l), kind(&r));
    let lone = match (lk, rk) {
        (Some(Subtree::Empty), Some(Subtree::Empty)) => {
            writes.insert(at, None);
            return Ok(Subtree::Empty);
        }
        (Some(Subtree::Empty), _) => Some((true, &r)),
        (_, Some(Subtree::Empty)) => Some((false, &l)),
        _ => None,
    };
    // One half is empty: if the other holds a single entry, that leaf moves up to this position.
    if let Some((right_side, other)) = lone {
        let child = at.child(right_side);
        let leaf = match other {
            Side::Changed(Subtree::Leaf { key, value }) => Some((*key, *value)),
            Side::Changed(_) => None,
            Side::Unchanged(_) => match source.node(&child)? {
                Some(Node::Leaf { key, value }) => Some((key, value)),
                _ => None,
            },
        };
        if let Some((key, value)) = leaf {
            writes.insert(child, None);
            writes.insert(at, Some(Node::Leaf { key, value }));
            return Ok(Subtree::Leaf { key, value });
        }
    }
    let node = Node::Internal {
        left: hash(&l),
        right: hash(&r),
    };
    writes.insert(at, Some(node));
    Ok(Subtree::Internal(node.hash()))
}

/// Writes the subtree at `at` holding exactly `entries` (sorted by path), where at most one entry, stored at `at`
/// itself, was before (`was_stored`): nothing below `at` needs deleting.
fn build(
    writes: &mut BTreeMap<Position, Option<Node>>,
    at: Position,
    entries: &[(Hash32, Hash32)],
    was_stored: bool,
) -> Subtree {
    match entries {
        [] => {
            if was_stored {
                writes.insert(at, None);
            }
            Subtree::Empty
        }
        [(key, value)] => {
            writes.insert(
                at,
                Some(Node::Leaf {
                    key: *key,
                    value: *value,
                }),
            );
            Subtree::Leaf {
                key: *key,
                value: *value,
            }
        }
        _ => {
            let depth = usize::from(at.depth);
            let split = entries.partition_point(|(key, _)| !bit(key, depth));
            let l = build(writes, at.child(false), &entries[..split], false);
            let r = build(writes, at.child(true), &entries[split..], false);
            let node = Node::Internal {
                left: l.hash(),
                right: r.hash(),
            };
            writes.insert(at, Some(node));
            Subtree::Internal(node.hash())
        }
    }
}
