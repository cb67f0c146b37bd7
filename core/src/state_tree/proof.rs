//! Proofs against a state root: that an entry has a value, or that no entry exists at a path.

use super::{NodeSource, Position, bit, leaf_hash, node_hash};
use crate::hash::Hash32;
use serde::{Deserialize, Serialize};

/// Where the descent along a path ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Terminal {
    /// The entry at the path, with this value hash.
    Present { value: Hash32 },
    /// An empty subtree: no entry at the path.
    Empty,
    /// A subtree holding one other entry, whose path shares the first `siblings.len()` bits: no entry at the path.
    Other { key: Hash32, value: Hash32 },
}

/// The path from the root to where the descent for one path ended: the sibling hash at each depth from the root
/// down, and what was found there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateProof {
    pub siblings: Vec<Hash32>,
    pub terminal: Terminal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the proof has {0} siblings; a path has 256 bits")]
    TooDeep(usize),
    #[error(
        "the other entry the proof shows is the one asked about, or does not share the path's first {0} bits"
    )]
    NotAnotherEntry(usize),
    #[error("the proof leads to root {computed}, not to the root {expected} the header certifies")]
    RootMismatch { expected: Hash32, computed: Hash32 },
}

impl StateProof {
    /// Descends the tree along `path`.
    pub fn build<S: NodeSource>(source: &S, path: &Hash32) -> Result<StateProof, S::Error> {
        let mut at = Position::ROOT;
        let mut siblings = Vec::new();
        loop {
            let terminal = match source.node(&at)? {
                None => Terminal::Empty,
                Some(super::Node::Leaf { key, value }) if key == *path => {
                    Terminal::Present { value }
                }
                Some(super::Node::Leaf { key, value }) => Terminal::Other { key, value },
                Some(super::Node::Internal { left, right }) => {
                    let right_side = bit(path, usize::from(at.depth));
                    siblings.push(if right_side { left } else { right });
                    let child = if right_side { right } else { left };
                    if child == Hash32::ZERO {
                        Terminal::Empty
                    } else {
                        at = at.child(right_side);
                        continue;
                    }
                }
            };
            return Ok(StateProof { siblings, terminal });
        }
    }

    /// Checks the proof for `path` against `root`: the value hash of the entry at `path`, or `None` if the proof
    /// shows there is none.
    pub fn verify(&self, root: &Hash32, path: &Hash32) -> Result<Option<Hash32>, ProofError> {
        let depth = self.siblings.len();
        if depth > 256 {
            return Err(ProofError::TooDeep(depth));
        }
        let (mut hash, found) = match &self.terminal {
            Terminal::Present { value } => (leaf_hash(path, value), Some(*value)),
            Terminal::Empty => (Hash32::ZERO, None),
            Terminal::Other { key, value } => {
                if key == path || (0..depth).any(|d| bit(key, d) != bit(path, d)) {
                    return Err(ProofError::NotAnotherEntry(depth));
                }
                (leaf_hash(key, value), None)
            }
        };
        for (d, sibling) in self.siblings.iter().enumerate().rev() {
            hash = if bit(path, d) {
                node_hash(sibling, &hash)
            } else {
                node_hash(&hash, sibling)
            };
        }
        if hash != *root {
            return Err(ProofError::RootMismatch {
                expected: *root,
                computed: hash,
            });
        }
        Ok(found)
    }
}
