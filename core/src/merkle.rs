//! The RFC 9162 Merkle log (Certificate Transparency 2.0 hashing).
//!
//! - leaf hash: `SHA-256(0x00 ‖ leaf bytes)`; interior node: `SHA-256(0x01 ‖ left ‖ right)`;
//! - the root of the empty log is `SHA-256("")`;
//! - a tree of `n > 1` leaves splits at `k`, the largest power of two below `n`.
//!
//! Storage keeps only *complete* subtrees: node `(level, index)` covers leaves
//! `[index·2^level, (index+1)·2^level)` and exists once all of them are appended. Such a node never changes,
//! so a store can write it once. Roots and proofs for any size up to the current one are computed from these
//! nodes with O(log n) hashing. The verification functions need no store and follow RFC 9162 §2.1.3.2 and
//! §2.1.4.2 step by step.

use crate::hash::Hash32;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    #[error("node at level {level}, index {index} is missing from the log store")]
    MissingNode { level: u32, index: u64 },
    #[error("log store: {0}")]
    Store(String),
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("size {requested} is beyond the log's {available} leaves")]
    SizeOutOfRange { requested: u64, available: u64 },
    #[error("old size {old} is larger than new size {new}")]
    OldLargerThanNew { old: u64, new: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old size {old} is larger than new size {new}")]
    OldLargerThanNew { old: u64, new: u64 },
    #[error("the proof has the wrong number of hashes for these sizes")]
    WrongLength,
    #[error("the computed root does not match the expected root")]
    RootMismatch,
    #[error("the computed old root does not match the expected old root")]
    OldRootMismatch,
}

pub fn leaf_hash(leaf: &[u8]) -> Hash32 {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    Hash32(h.finalize().into())
}

pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left.0);
    h.update(right.0);
    Hash32(h.finalize().into())
}

pub fn empty_root() -> Hash32 {
    Hash32::sha256(b"")
}

/// Largest power of two strictly below `n` (for `n >= 2`).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Read access to the complete subtree hashes of a log.
pub trait NodeSource {
    /// Number of leaves in the log.
    fn size(&self) -> u64;
    /// The hash of complete node `(level, index)`.
    fn node(&self, level: u32, index: u64) -> Result<Hash32, MerkleError>;
}

/// The nodes that become complete when a leaf is appended to a log of `size` leaves, lowest level first.
/// The first is the leaf itself at `(0, size)`. A store writes them all, e.g. in the same batch as the block.
pub fn appended_nodes<S: NodeSource + ?Sized>(
    source: &S,
    leaf: Hash32,
) -> Result<Vec<(u32, u64, Hash32)>, MerkleError> {
    let mut out = vec![(0, source.size(), leaf)];
    let (mut level, mut index, mut hash) = (0u32, source.size(), leaf);
    while index & 1 == 1 {
        let left = source.node(level, index - 1)?;
        hash = node_hash(&left, &hash);
        level += 1;
        index >>= 1;
        out.push((level, index, hash));
    }
    Ok(out)
}

/// Hash of leaves `[start, end)`, where `start` is a multiple of the largest power of two not above the
/// range length (always true inside the RFC's recursion).
fn subtree<S: NodeSource + ?Sized>(
    source: &S,
    start: u64,
    end: u64,
) -> Result<Hash32, MerkleError> {
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return source.node(n.trailing_zeros(), start / n);
    }
    let k = split(n);
    Ok(node_hash(
        &subtree(source, start, start + k)?,
        &subtree(source, start + k, end)?,
    ))
}

fn check_size<S: NodeSource + ?Sized>(source: &S, size: u64) -> Result<(), MerkleError> {
    if size > source.size() {
        return Err(MerkleError::SizeOutOfRange {
            requested: size,
            available: source.size(),
        });
    }
    Ok(())
}

/// The root of the first `size` leaves.
pub fn root<S: NodeSource + ?Sized>(source: &S, size: u64) -> Result<Hash32, MerkleError> {
    check_size(source, size)?;
    if size == 0 {
        return Ok(empty_root());
    }
    subtree(source, 0, size)
}

/// RFC 9162 §2.1.3.1 PATH(index, D[0:size]), leaf level first.
pub fn inclusion_proof<S: NodeSource + ?Sized>(
    source: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash32>, MerkleError> {
    check_size(source, size)?;
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut out = Vec::new();
    path(source, index, 0, size, &mut out)?;
    Ok(out)
}

fn path<S: NodeSource + ?Sized>(
    source: &S,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash32>,
) -> Result<(), MerkleError> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(source, m, start, start + k, out)?;
        out.push(subtree(source, start + k, end)?);
    } else {
        path(source, m - k, start + k, end, out)?;
        out.push(subtree(source, start, start + k)?);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.1 PROOF(old, D[0:new]). Empty when `old` is 0 or equals `new`.
pub fn consistency_proof<S: NodeSource + ?Sized>(
    source: &S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash32>, MerkleError> {
    check_size(source, new)?;
    if old > new {
        return Err(MerkleError::OldLargerThanNew { old, new });
    }
    let mut out = Vec::new();
    if old > 0 && old < new {
        subproof(source, old, 0, new, true, &mut out)?;
    }
    Ok(out)
}

fn subproof<S: NodeSource + ?Sized>(
    source: &S,
    m: u64,
    start: u64,
    end: u64,
    whole_old_tree: bool,
    out: &mut Vec<Hash32>,
) -> Result<(), MerkleError> {
    let n = end - start;
    if m == n {
        if !whole_old_tree {
            out.push(subtree(source, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(source, m, start, start + k, whole_old_tree, out)?;
        out.push(subtree(source, start + k, end)?);
    } else {
        subproof(source, m - k, start + k, end, false, out)?;
        out.push(subtree(source, start, start + k)?);
    }
    Ok(())
}

/// RFC 9162 §2.1.3.2: verifies that `leaf` (a leaf hash) is at `index` in the tree of `size` leaves with `root`.
pub fn verify_inclusion(
    leaf: &Hash32,
    index: u64,
    size: u64,
    proof: &[Hash32],
    root: &Hash32,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2: verifies that the tree of `old_size` leaves with `old_root` is a prefix of the tree of
/// `new_size` leaves with `new_root`.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash32,
    new_root: &Hash32,
    proof: &[Hash32],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::OldLargerThanNew {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == 0 || old_size == new_size {
        // Every tree extends the empty tree; a tree extends itself exactly when the roots agree.
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        if old_size == 0 && *old_root != empty_root() {
            return Err(ProofError::OldRootMismatch);
        }
        if old_size == new_size && old_root != new_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength);
    }
    let mut path: Vec<Hash32> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return Err(ProofError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// A log held in memory: for tests, for tools, and for computing a block's transaction and result roots.
#[derive(Debug, Clone, Default)]
pub struct MemoryLog {
    levels: Vec<Vec<Hash32>>,
}

impl MemoryLog {
    pub fn new() -> MemoryLog {
        MemoryLog::default()
    }

    /// Appends a leaf's bytes and returns its index.
    pub fn append(&mut self, leaf: &[u8]) -> u64 {
        self.append_hash(leaf_hash(leaf))
    }

    /// Appends a leaf already hashed with [`leaf_hash`] and returns its index.
    pub fn append_hash(&mut self, leaf: Hash32) -> u64 {
        let index = self.size();
        let (mut level, mut i, mut hash) = (0usize, index, leaf);
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(hash);
            if i & 1 == 0 {
                break;
            }
            hash = node_hash(&self.levels[level][(i - 1) as usize], &hash);
            level += 1;
            i >>= 1;
        }
        index
    }

    /// The root of the whole log.
    pub fn current_root(&self) -> Hash32 {
        match root(self, self.size()) {
            Ok(r) => r,
            // Every complete node of a MemoryLog is held, so this cannot happen.
            Err(e) => unreachable!("memory log missing a node: {e}"),
        }
    }

    /// The RFC 9162 root of `leaves` (e.g. a block's transactions).
    pub fn root_of<'a>(leaves: impl IntoIterator<Item = &'a [u8]>) -> Hash32 {
        let mut log = MemoryLog::new();
        for leaf in leaves {
            log.append(leaf);
        }
        log.current_root()
    }
}

impl NodeSource for MemoryLog {
    fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    fn node(&self, level: u32, index: u64) -> Result<Hash32, MerkleError> {
        self.levels
            .get(level as usize)
            .and_then(|l| l.get(index as usize))
            .copied()
            .ok_or(MerkleError::MissingNode { level, index })
    }
}

#[cfg(test)]
mod tests;
