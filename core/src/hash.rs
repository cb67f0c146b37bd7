//! SHA-256 hashing with domain separation.
//!
//! Every hash that names an object is `SHA-256(tag ‖ 0x00 ‖ bytes)`, where `tag` is one of the ASCII
//! constants in [`tag`]. No tag contains `0x00`, so the tag and the bytes can never be confused.
//! The Merkle log is the one exception: it uses RFC 9162's own `0x00` / `0x01` prefixes (see `merkle`).

use crate::bytes::fixed_bytes;
use sha2::{Digest, Sha256};
use std::fmt;

fixed_bytes!(
    /// A SHA-256 output.
    Hash32,
    32,
    "hash"
);

impl Hash32 {
    pub const ZERO: Hash32 = Hash32([0u8; 32]);

    /// Plain SHA-256 with no tag: used for document hashes supplied by users and inside the Merkle log.
    pub fn sha256(bytes: &[u8]) -> Hash32 {
        Hash32(Sha256::digest(bytes).into())
    }
}

/// The domain-separation tags. Each object kind has exactly one; see `docs/protocol.md`.
pub mod tag {
    /// Signature by a submitter key over a transaction body.
    pub const TX: &str = "clearance/v1/tx";
    /// Transaction id: hash of the transaction body bytes.
    pub const TX_ID: &str = "clearance/v1/tx-id";
    /// Block hash: hash of the header bytes.
    pub const HEADER: &str = "clearance/v1/header";
    /// Signature by a validator key over vote bytes.
    pub const VOTE: &str = "clearance/v1/vote";
    /// Signature by a validator key over proposal bytes.
    pub const PROPOSAL: &str = "clearance/v1/proposal";
    /// Chain id: hash of the canonical genesis bytes.
    pub const GENESIS: &str = "clearance/v1/genesis";
    /// Hash of a validator set's canonical bytes.
    pub const VALIDATOR_SET: &str = "clearance/v1/validator-set";
    /// Id of a gossiped message: hash of its data, the same on every node (ids travel in gossip's IHAVE/IWANT).
    pub const GOSSIP_ID: &str = "clearance/v1/gossip-id";
    /// Path of a state entry in the state tree: hash of its key's canonical bytes.
    pub const STATE_KEY: &str = "clearance/v1/state-key";
    /// Hash of a state entry's value: its canonical bytes.
    pub const STATE_VALUE: &str = "clearance/v1/state-value";
    /// State tree: a subtree holding one entry, from its path and value hash.
    pub const STATE_LEAF: &str = "clearance/v1/state-leaf";
    /// State tree: a subtree holding two or more entries, from its halves' hashes.
    pub const STATE_NODE: &str = "clearance/v1/state-node";

    /// Every tag, for tests that check they are distinct and free of NUL.
    pub const ALL: [&str; 12] = [
        TX,
        TX_ID,
        HEADER,
        VOTE,
        PROPOSAL,
        GENESIS,
        VALIDATOR_SET,
        GOSSIP_ID,
        STATE_KEY,
        STATE_VALUE,
        STATE_LEAF,
        STATE_NODE,
    ];
}

/// The exact message that is hashed or signed under `tag`: `tag ‖ 0x00 ‖ bytes`.
pub fn tagged_message(tag: &str, bytes: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(tag.len() + 1 + bytes.len());
    msg.extend_from_slice(tag.as_bytes());
    msg.push(0);
    msg.extend_from_slice(bytes);
    msg
}

/// `SHA-256(tag ‖ 0x00 ‖ bytes)`, without copying `bytes`.
pub fn tagged_hash(tag: &str, bytes: &[u8]) -> Hash32 {
    let mut h = Sha256::new();
    h.update(tag.as_bytes());
    h.update([0u8]);
    h.update(bytes);
    Hash32(h.finalize().into())
}

impl fmt::LowerHex for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_distinct_and_nul_free() {
        let mut seen = std::collections::BTreeSet::new();
        for t in tag::ALL {
            assert!(!t.as_bytes().contains(&0), "{t} contains NUL");
            assert!(t.is_ascii());
            assert!(seen.insert(t), "{t} repeated");
        }
    }

    #[test]
    fn tagged_hash_matches_message_form() {
        let bytes = b"abc";
        assert_eq!(
            tagged_hash(tag::TX_ID, bytes),
            Hash32::sha256(&tagged_message(tag::TX_ID, bytes))
        );
        assert_ne!(
            tagged_hash(tag::TX_ID, bytes),
            tagged_hash(tag::HEADER, bytes)
        );
    }

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            Hash32::sha256(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
