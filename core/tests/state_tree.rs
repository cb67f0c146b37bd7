//! The state tree against a naive model: after any sequence of batches, the incrementally updated tree is exactly
//! the tree built from scratch (the same root and the same stored nodes, nothing left over), and every proof
//! answers as the model does and fails when tampered with.

use clearance_core::hash::Hash32;
use clearance_core::state_tree::{
    self, Node, NodeSource, Position, ProofError, StateProof, Terminal,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::convert::Infallible;

#[derive(Default, Debug, PartialEq)]
struct Memory(BTreeMap<Position, Node>);

impl NodeSource for Memory {
    type Error = Infallible;
    fn node(&self, at: &Position) -> Result<Option<Node>, Infallible> {
        Ok(self.0.get(at).copied())
    }
}

impl Memory {
    fn apply(&mut self, writes: BTreeMap<Position, Option<Node>>) {
        for (at, node) in writes {
            match node {
                Some(n) => self.0.insert(at, n),
                None => self.0.remove(&at),
            };
        }
    }

    /// The store of a tree built from nothing with exactly `entries`.
    fn of(entries: &BTreeMap<Hash32, Hash32>) -> Memory {
        let changes = entries.iter().map(|(k, v)| (*k, Some(*v))).collect();
        let mut m = Memory::default();
        let Ok(update) = state_tree::update(&m, &changes);
        m.apply(update.writes);
        m
    }
}

/// Paths from a small pool, so that batches update and remove what earlier ones set; some pairs share long
/// prefixes (they differ only in the last bit or the last byte), which makes deep trees.
fn pool() -> Vec<Hash32> {
    let mut paths: Vec<Hash32> = (0u8..24).map(|i| Hash32::sha256(&[i])).collect();
    let mut deep = paths[0];
    deep.0[31] ^= 1;
    paths.push(deep);
    let mut deeper = paths[1];
    deeper.0[30] ^= 0x10;
    paths.push(deeper);
    paths.push(Hash32::ZERO);
    paths.push(Hash32([0xff; 32]));
    paths
}

fn batches() -> impl Strategy<Value = Vec<Vec<(usize, Option<u8>)>>> {
    let n = pool().len();
    proptest::collection::vec(
        proptest::collection::vec((0..n, proptest::option::weighted(0.7, any::<u8>())), 0..12),
        1..12,
    )
}

fn value(v: u8) -> Hash32 {
    Hash32([v; 32])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn updates_match_a_tree_built_from_scratch_and_proofs_answer_as_the_model(batches in batches()) {
        let paths = pool();
        let mut store = Memory::default();
        let mut model: BTreeMap<Hash32, Hash32> = BTreeMap::new();
        for batch in batches {
            let mut changes = BTreeMap::new();
            for (i, v) in batch {
                changes.insert(paths[i], v.map(value));
                match v {
                    Some(v) => model.insert(paths[i], value(v)),
                    None => model.remove(&paths[i]),
                };
            }
            let Ok(update) = state_tree::update(&store, &changes);
            store.apply(update.writes);
            prop_assert_eq!(update.root, state_tree::root_of(&model));
            prop_assert_eq!(&store, &Memory::of(&model));
            for path in &paths {
                let Ok(proof) = StateProof::build(&store, path);
                prop_assert_eq!(proof.verify(&update.root, path), Ok(model.get(path).copied()));
            }
        }
    }
}

#[test]
fn an_empty_tree_has_the_zero_root_and_proves_every_absence() {
    let store = Memory::default();
    let Ok(update) = state_tree::update(&store, &BTreeMap::new());
    assert_eq!(update.root, Hash32::ZERO);
    let Ok(proof) = StateProof::build(&store, &pool()[0]);
    assert_eq!(proof.terminal, Terminal::Empty);
    assert_eq!(proof.verify(&Hash32::ZERO, &pool()[0]), Ok(None));
}

#[test]
fn a_single_entry_is_the_root_leaf() {
    let entries: BTreeMap<Hash32, Hash32> = [(pool()[3], value(9))].into_iter().collect();
    assert_eq!(
        state_tree::root_of(&entries),
        state_tree::leaf_hash(&pool()[3], &value(9))
    );
}

/// A tree of the whole pool, with its root.
fn full() -> (Memory, Hash32, BTreeMap<Hash32, Hash32>) {
    let entries: BTreeMap<Hash32, Hash32> = pool()
        .into_iter()
        .enumerate()
        .skip(2)
        .map(|(i, p)| (p, value(i as u8)))
        .collect();
    let store = Memory::of(&entries);
    (store, state_tree::root_of(&entries), entries)
}

#[test]
fn a_tampered_proof_fails() {
    let (store, root, _) = full();
    let path = pool()[5];
    let Ok(proof) = StateProof::build(&store, &path);
    assert!(matches!(proof.terminal, Terminal::Present { .. }));
    // Another value.
    let mut other = proof.clone();
    other.terminal = Terminal::Present { value: value(200) };
    assert!(matches!(
        other.verify(&root, &path),
        Err(ProofError::RootMismatch { .. })
    ));
    // A sibling changed, one dropped, one added.
    let mut changed = proof.clone();
    changed.siblings[0].0[0] ^= 1;
    assert!(changed.verify(&root, &path).is_err());
    let mut short = proof.clone();
    short.siblings.pop();
    assert!(short.verify(&root, &path).is_err());
    let mut long = proof.clone();
    long.siblings.push(Hash32::ZERO);
    assert!(long.verify(&root, &path).is_err());
    // Absence claimed for an entry that exists.
    let mut absent = proof.clone();
    absent.terminal = Terminal::Empty;
    assert!(absent.verify(&root, &path).is_err());
    // The proof of one path does not prove another.
    assert!(proof.verify(&root, &pool()[6]).is_err());
    // Another root.
    assert!(proof.verify(&Hash32::sha256(b"another"), &path).is_err());
    let mut deep = proof;
    deep.siblings = vec![Hash32::ZERO; 257];
    assert_eq!(deep.verify(&root, &path), Err(ProofError::TooDeep(257)));
}

#[test]
fn absence_is_proven_by_an_empty_subtree_or_another_entry_and_cannot_be_faked() {
    let (store, root, entries) = full();
    // Paths 0 and 1 are not in the tree; their deep twins are, so one absence ends at another entry.
    for path in &pool()[..2] {
        assert!(!entries.contains_key(path));
        let Ok(proof) = StateProof::build(&store, path);
        assert_eq!(proof.verify(&root, path), Ok(None));
    }
    let Ok(twin) = StateProof::build(&store, &pool()[0]);
    let Terminal::Other { key, value } = twin.terminal.clone() else {
        panic!("the absence of path 0 ends at its twin: {twin:?}");
    };
    // The other entry must be another path, sharing the prefix.
    let mut same = twin.clone();
    same.terminal = Terminal::Other {
        key: pool()[0],
        value,
    };
    assert!(matches!(
        same.verify(&root, &pool()[0]),
        Err(ProofError::NotAnotherEntry(_))
    ));
    // The other entry's own proof is no absence proof for a path off its prefix.
    let mut off = twin;
    off.terminal = Terminal::Other { key, value };
    assert!(off.verify(&root, &pool()[10]).is_err());
}

/// A store whose every position holds an internal node (corruption no update writes): a proof and an update
/// descend until the positions run out of nodes, without a panic, and the proof does not verify.
#[test]
fn a_corrupt_store_gives_unverifiable_proofs_not_a_panic() {
    struct Corrupt;
    impl NodeSource for Corrupt {
        type Error = Infallible;
        fn node(&self, at: &Position) -> Result<Option<Node>, Infallible> {
            Ok((at.depth < 300).then_some(Node::Internal {
                left: Hash32([1; 32]),
                right: Hash32([2; 32]),
            }))
        }
    }
    let path = pool()[0];
    let Ok(proof) = StateProof::build(&Corrupt, &path);
    assert_eq!(proof.siblings.len(), 300);
    assert_eq!(
        proof.verify(&Hash32::sha256(b"any"), &path),
        Err(ProofError::TooDeep(300))
    );
    let changes = [(path, Some(value(1)))].into_iter().collect();
    let Ok(_) = state_tree::update(&Corrupt, &changes);
}

/// The example of docs/protocol.md §2.8: a certificate's state key, byte for byte, and its path.
#[test]
fn a_certificate_key_encodes_as_documented() {
    use clearance_core::hash::{tag, tagged_hash};
    use clearance_core::ids::{CertificateNumber, CountryCode};
    use clearance_core::record::CertificateRef;
    use clearance_core::rules::StateKey;
    let key = StateKey::Certificate(CertificateRef {
        issuer: CountryCode::parse("KZ").unwrap(),
        number: CertificateNumber::parse("KZ-PC-2026-0001").unwrap(),
    });
    let mut expected = vec![
        2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, b'K', b'Z', 15, 0, 0, 0, 0, 0, 0, 0,
    ];
    expected.extend_from_slice(b"KZ-PC-2026-0001");
    assert_eq!(key.to_bytes(), expected);
    assert_eq!(key.path(), tagged_hash(tag::STATE_KEY, &expected));
}
