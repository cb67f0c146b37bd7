//! The state tree's upper levels, depth 0 to [`MEMORY_DEPTH`], held in memory and not stored.
//!
//! Every block rewrites the nodes along each changed path from the root down. Above depth 16, a block of a few
//! hundred changes rewrites nearly every node it reaches again and again, block after block: stored, those
//! nodes were most of the tree's writes, and the tree's writes were most of a synced block's commit
//! (docs/performance.md §13). They are a function of what lies below them, so the store keeps only every leaf
//! (whatever its depth) and every node at depth [`MEMORY_DEPTH`] and deeper, and this module rebuilds the levels
//! above at open and checks that they hash to the head's state root.
//!
//! Kept as a complete binary tree in an array: the node at depth `d` whose path starts with the bits `b` is at
//! `2^d − 1 + b`, so a node's children are at `2s + 1` and `2s + 2`. At most 2^17 − 1 slots, about 9 MB.

use clearance_core::Hash32;
use clearance_core::state_tree::{Node, Position};
use std::collections::BTreeMap;

/// The deepest level held here. Nodes at this depth are also stored: they are what the levels above are rebuilt
/// from. Paths at a million entries are about 20 deep, so a changed path reads about 4 nodes from the store.
pub const MEMORY_DEPTH: u16 = 16;

#[derive(Default)]
pub struct UpperTree {
    nodes: Vec<Option<Node>>,
}

/// The slot of a position within the levels held here.
fn slot(at: &Position) -> Option<usize> {
    if at.depth > MEMORY_DEPTH {
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

/// The hash of a subtree, from its node (none: an empty subtree).
fn subtree_hash(node: &Option<Node>) -> Hash32 {
    node.as_ref().map_or(Hash32::ZERO, Node::hash)
}

impl UpperTree {
    /// The node at `at` if `at` is within the levels held here (`Some(None)`: no node there), or `None` for a
    /// deeper position.
    pub fn get(&self, at: &Position) -> Option<Option<Node>> {
        slot(at).map(|s| self.nodes.get(s).copied().flatten())
    }

    /// Whether the node now at `at` is a leaf: the one kind of node above [`MEMORY_DEPTH`] that is stored.
    pub fn holds_leaf(&self, at: &Position) -> bool {
        matches!(self.get(at), Some(Some(Node::Leaf { .. })))
    }

    /// The root's hash (zero for an empty tree).
    pub fn root(&self) -> Hash32 {
        subtree_hash(&self.nodes.first().copied().flatten())
    }

    /// Applies a committed block's tree writes.
    pub fn apply(&mut self, writes: &BTreeMap<Position, Option<Node>>) {
        for (at, node) in writes {
            if let Some(s) = slot(at) {
                self.put(s, *node);
            }
        }
    }

    fn put(&mut self, slot: usize, node: Option<Node>) {
        if slot >= self.nodes.len() {
            if node.is_none() {
                return;
            }
            self.nodes.resize(slot + 1, None);
        }
        self.nodes[slot] = node;
    }

    fn at(&self, slot: usize) -> Option<Node> {
        self.nodes.get(slot).copied().flatten()
    }

    /// The levels above [`MEMORY_DEPTH`] from the stored nodes at depth [`MEMORY_DEPTH`] and above it (which can
    /// only be leaves). An error names what does not fit the tree's rules (a stored internal node above the
    /// stored level, or a leaf with a sibling-less parent); the caller still has to check the root.
    pub fn rebuild(
        stored: impl IntoIterator<Item = (Position, Node)>,
    ) -> Result<UpperTree, String> {
        let mut tree = UpperTree::default();
        for (at, node) in stored {
            let Some(s) = slot(&at) else {
                return Err(format!(
                    "a node at depth {} is not an upper level",
                    at.depth
                ));
            };
            if at.depth < MEMORY_DEPTH && matches!(node, Node::Internal { .. }) {
                return Err(format!(
                    "an internal node is stored at depth {}, above the stored level",
                    at.depth
                ));
            }
            tree.put(s, Some(node));
        }
        // From the deepest level present up, each empty slot becomes what its two children make it.
        let Some(deepest) = (0..=MEMORY_DEPTH)
            .rev()
            .find(|d| (1usize << d) - 1 < tree.nodes.len())
        else {
            return Ok(tree);
        };
        for depth in (0..deepest).rev() {
            let first = (1usize << depth) - 1;
            for s in first..first + (1usize << depth) {
                let (left, right) = (tree.at(2 * s + 1), tree.at(2 * s + 2));
                if let Some(Node::Leaf { .. }) = tree.at(s) {
                    if left.is_some() || right.is_some() {
                        return Err(format!("a leaf at depth {depth} has nodes below it"));
                    }
                    continue;
                }
                let node = match (left, right) {
                    (None, None) => None,
                    (Some(Node::Leaf { .. }), None) | (None, Some(Node::Leaf { .. })) => {
                        return Err(format!(
                            "a leaf at depth {} has no sibling: it belongs one level up",
                            depth + 1
                        ));
                    }
                    (l, r) => Some(Node::Internal {
                        left: subtree_hash(&l),
                        right: subtree_hash(&r),
                    }),
                };
                tree.put(s, node);
            }
        }
        Ok(tree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clearance_core::state_tree::{self, NodeSource};
    use std::collections::BTreeMap;

    #[test]
    fn slots_number_the_levels_in_order() {
        let root = Position::ROOT;
        assert_eq!(slot(&root), Some(0));
        assert_eq!(slot(&root.child(false)), Some(1));
        assert_eq!(slot(&root.child(true)), Some(2));
        assert_eq!(slot(&root.child(true).child(false)), Some(5));
        let mut deepest = root;
        for _ in 0..MEMORY_DEPTH {
            deepest = deepest.child(true);
        }
        assert_eq!(slot(&deepest), Some((1 << (MEMORY_DEPTH + 1)) - 2));
        assert_eq!(slot(&deepest.child(false)), None);
    }

    /// A whole tree in a map, as `state_tree::update` writes it.
    struct Full(BTreeMap<Position, Node>);

    impl NodeSource for Full {
        type Error = std::convert::Infallible;
        fn node(&self, at: &Position) -> Result<Option<Node>, Self::Error> {
            Ok(self.0.get(at).copied())
        }
    }

    fn path(i: u32, spread: u32) -> Hash32 {
        // `spread` picks how far apart the paths are, so that trees of every depth around the stored level occur.
        let mut p = [0u8; 32];
        p[..4].copy_from_slice(&i.wrapping_mul(spread).to_be_bytes());
        p[4..8].copy_from_slice(&i.to_be_bytes());
        Hash32(p)
    }

    /// What the store keeps of a full tree: leaves anywhere, anything at the stored level, nothing else above.
    fn stored(full: &Full) -> Vec<(Position, Node)> {
        full.0
            .iter()
            .filter(|(at, node)| {
                at.depth <= MEMORY_DEPTH
                    && (at.depth == MEMORY_DEPTH || matches!(node, Node::Leaf { .. }))
            })
            .map(|(at, node)| (*at, *node))
            .collect()
    }

    #[test]
    fn rebuilt_levels_equal_the_full_tree_above_the_stored_level() {
        for (count, spread) in [
            (0, 1),
            (1, 1),
            (2, 1),
            (3, 1 << 31),
            (40, 1 << 20),
            (5000, 7919),
            (70_000, 65_537),
        ] {
            let mut full = Full(BTreeMap::new());
            let changes: BTreeMap<Hash32, Option<Hash32>> = (0..count)
                .map(|i| (path(i, spread), Some(Hash32([i as u8; 32]))))
                .collect();
            let update = state_tree::update(&full, &changes).unwrap();
            for (at, node) in &update.writes {
                match node {
                    Some(n) => full.0.insert(*at, *n),
                    None => full.0.remove(at),
                };
            }
            let upper = UpperTree::rebuild(stored(&full)).unwrap();
            assert_eq!(upper.root(), update.root, "{count} entries");
            for (at, node) in full.0.iter().filter(|(at, _)| at.depth <= MEMORY_DEPTH) {
                assert_eq!(
                    upper.get(at),
                    Some(Some(*node)),
                    "{count} entries, depth {}",
                    at.depth
                );
            }
        }
    }

    #[test]
    fn rebuild_refuses_what_the_tree_cannot_hold() {
        let leaf = Node::Leaf {
            key: Hash32([1; 32]),
            value: Hash32([2; 32]),
        };
        let internal = Node::Internal {
            left: Hash32([1; 32]),
            right: Hash32([2; 32]),
        };
        let one = Position::ROOT.child(true);
        assert!(UpperTree::rebuild([(one, internal)]).is_err());
        assert!(UpperTree::rebuild([(one, leaf)]).is_err());
        assert!(UpperTree::rebuild([(Position::ROOT, leaf), (one, leaf)]).is_err());
        let mut deep = Position::ROOT;
        for _ in 0..=MEMORY_DEPTH {
            deep = deep.child(false);
        }
        assert!(UpperTree::rebuild([(deep, leaf)]).is_err());
    }
}
