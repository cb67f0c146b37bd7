//! Differential tests against `ct-merkle`, an independent RFC 6962/9162 implementation, and the RFC's edge
//! cases: sizes 0 and 1, powers of two, and one either side of them.

use super::*;
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use proptest::prelude::*;
use sha2_ctm::Sha256 as CtSha256;

type Reference = MemoryBackedTree<CtSha256, Vec<u8>>;

fn leaves(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("leaf {i}").into_bytes()).collect()
}

fn both(items: &[Vec<u8>]) -> (MemoryLog, Reference) {
    let mut ours = MemoryLog::new();
    let mut theirs = Reference::new();
    for item in items {
        ours.append(item);
        theirs.push(item.clone());
    }
    (ours, theirs)
}

fn to_bytes(hashes: &[Hash32]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.0).collect()
}

fn h32(bytes: &[u8]) -> Hash32 {
    Hash32(bytes.try_into().expect("32 bytes"))
}

/// The interesting sizes up to `max`: 0, 1, and each power of two with its neighbours.
fn edge_sizes(max: u64) -> Vec<u64> {
    let mut sizes = vec![0, 1, 2, 3];
    let mut p = 4;
    while p <= max + 1 {
        sizes.extend([p - 1, p, p + 1]);
        p *= 2;
    }
    sizes.retain(|s| *s <= max);
    sizes.sort();
    sizes.dedup();
    sizes
}

fn check_size_against_reference(items: &[Vec<u8>], ours: &MemoryLog, size: u64) {
    let (_, theirs) = both(&items[..size as usize]);
    let their_root = theirs.root();
    let our_root = root(ours, size).unwrap();
    assert_eq!(
        our_root.0.as_slice(),
        their_root.as_bytes().as_slice(),
        "root at size {size}"
    );

    for index in 0..size {
        let proof = inclusion_proof(ours, index, size).unwrap();
        let reference = theirs.prove_inclusion(index as usize);
        assert_eq!(
            to_bytes(&proof),
            reference.as_bytes(),
            "inclusion {index} of {size}"
        );
        let leaf = leaf_hash(&items[index as usize]);
        verify_inclusion(&leaf, index, size, &proof, &our_root).unwrap();
        // A wrong index or a wrong leaf fails.
        if size > 1 {
            let other = (index + 1) % size;
            assert!(verify_inclusion(&leaf, other, size, &proof, &our_root).is_err());
        }
        assert!(verify_inclusion(&leaf_hash(b"other"), index, size, &proof, &our_root).is_err());
    }

    for old in 1..=size {
        let proof = consistency_proof(ours, old, size).unwrap();
        let reference = theirs.prove_consistency((size - old) as usize);
        assert_eq!(
            to_bytes(&proof),
            reference.as_bytes(),
            "consistency {old}->{size}"
        );
        let old_root = root(ours, old).unwrap();
        verify_consistency(old, size, &old_root, &our_root, &proof).unwrap();
        // ct-merkle accepts our proof too.
        let old_ref = RootHash::<CtSha256>::new(old_root.0.into(), old);
        theirs
            .root()
            .verify_consistency(
                &old_ref,
                &ConsistencyProof::from_digests(proof.iter().map(|h| (&h.0).into())),
            )
            .unwrap();
        if old < size {
            assert!(verify_consistency(old, size, &our_root, &our_root, &proof).is_err());
        }
    }
}

#[test]
fn empty_log() {
    let log = MemoryLog::new();
    assert_eq!(log.current_root(), Hash32::sha256(b""));
    assert!(inclusion_proof(&log, 0, 0).is_err());
    assert_eq!(consistency_proof(&log, 0, 0).unwrap(), vec![]);
    verify_consistency(0, 0, &empty_root(), &empty_root(), &[]).unwrap();
    assert!(verify_inclusion(&leaf_hash(b""), 0, 0, &[], &empty_root()).is_err());
}

#[test]
fn edge_sizes_match_reference() {
    let items = leaves(129);
    let (ours, _) = both(&items);
    for size in edge_sizes(129) {
        check_size_against_reference(&items, &ours, size);
    }
}

#[test]
fn rfc_size_one_and_known_root() {
    // A one-leaf tree's root is the leaf hash; a two-leaf tree's is the node of both.
    let mut log = MemoryLog::new();
    log.append(b"a");
    assert_eq!(log.current_root(), leaf_hash(b"a"));
    assert_eq!(inclusion_proof(&log, 0, 1).unwrap(), vec![]);
    log.append(b"b");
    assert_eq!(
        log.current_root(),
        node_hash(&leaf_hash(b"a"), &leaf_hash(b"b"))
    );
}

#[test]
fn from_empty_tree_consistency() {
    let (ours, _) = both(&leaves(5));
    let new_root = ours.current_root();
    verify_consistency(0, 5, &empty_root(), &new_root, &[]).unwrap();
    assert!(verify_consistency(0, 5, &new_root, &new_root, &[]).is_err());
    assert!(verify_consistency(0, 5, &empty_root(), &new_root, &[new_root]).is_err());
}

#[test]
fn appended_nodes_match_memory_log() {
    let mut log = MemoryLog::new();
    for i in 0..70u32 {
        let leaf = leaf_hash(&i.to_le_bytes());
        let nodes = appended_nodes(&log, leaf).unwrap();
        log.append_hash(leaf);
        for (level, index, hash) in nodes {
            assert_eq!(log.node(level, index).unwrap(), hash);
        }
    }
}

#[test]
fn truncated_and_padded_proofs_fail() {
    let items = leaves(37);
    let (ours, _) = both(&items);
    let r = ours.current_root();
    let proof = inclusion_proof(&ours, 20, 37).unwrap();
    let leaf = leaf_hash(&items[20]);
    assert!(verify_inclusion(&leaf, 20, 37, &proof[..proof.len() - 1], &r).is_err());
    let mut longer = proof.clone();
    longer.push(r);
    assert!(verify_inclusion(&leaf, 20, 37, &longer, &r).is_err());

    let c = consistency_proof(&ours, 13, 37).unwrap();
    let old = root(&ours, 13).unwrap();
    assert!(verify_consistency(13, 37, &old, &r, &c[..c.len() - 1]).is_err());
    let mut longer = c.clone();
    longer.push(r);
    assert!(verify_consistency(13, 37, &old, &r, &longer).is_err());
    assert!(verify_consistency(14, 37, &old, &r, &c).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_logs_match_reference(
        items in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..90),
        pick in any::<u64>(),
    ) {
        let (ours, theirs) = both(&items);
        let size = items.len() as u64;
        prop_assert_eq!(ours.current_root().0.to_vec(), theirs.root().as_bytes().to_vec());
        let index = pick % size;
        let proof = inclusion_proof(&ours, index, size).unwrap();
        prop_assert_eq!(to_bytes(&proof), theirs.prove_inclusion(index as usize).as_bytes().to_vec());
        // Their verifier accepts our proof.
        let their_proof = InclusionProof::<CtSha256>::from_digests(proof.iter().map(|h| (&h.0).into()));
        prop_assert!(theirs.root().verify_inclusion(&items[index as usize], index, &their_proof).is_ok());
        let old = 1 + pick % size;
        let c = consistency_proof(&ours, old, size).unwrap();
        prop_assert_eq!(to_bytes(&c), theirs.prove_consistency((size - old) as usize).as_bytes().to_vec());
    }

    #[test]
    fn random_proofs_never_verify_wrongly(
        size in 1u64..200, index in any::<u64>(), old in any::<u64>(),
        hashes in proptest::collection::vec(any::<[u8; 32]>(), 0..12),
    ) {
        // Random garbage must never panic, and must not verify against a real root.
        let (ours, _) = both(&leaves(size as usize));
        let r = ours.current_root();
        let proof: Vec<Hash32> = hashes.iter().map(|h| h32(h)).collect();
        let index = index % (size + 2);
        let old = old % (size + 2);
        prop_assert!(verify_inclusion(&leaf_hash(b"forged"), index, size, &proof, &r).is_err());
        let forged_old = leaf_hash(b"forged old");
        prop_assert!(verify_consistency(old, size, &forged_old, &r, &proof).is_err());
    }
}
