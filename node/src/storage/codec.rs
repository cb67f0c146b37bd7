//! Small values the store keeps beside the protocol's own encodings.

use super::{StorageError, corrupt};
use clearance_core::Hash32;
use clearance_core::encoding::{self, limit};
use clearance_core::genesis::Genesis;
use clearance_core::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The last committed block, as the node resumes from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// 0 before the first block.
    pub height: u64,
    /// The block hash; all zeros before the first block, which is the first block's `parent_hash`.
    pub hash: Hash32,
    /// The block's time, or the genesis time before the first block.
    pub time: Timestamp,
    pub log_size: u64,
    pub log_root: Hash32,
    /// Hash of the validator set that decides the next block.
    pub next_validator_set_hash: Hash32,
    /// Transactions committed so far, accepted or rejected.
    pub tx_count: u64,
    /// The state tree's root after the block (the genesis state's before the first).
    pub state_root: Hash32,
}

impl Head {
    pub fn genesis(genesis: &Genesis) -> Head {
        Head {
            height: 0,
            hash: Hash32::ZERO,
            time: genesis.genesis_time,
            log_size: 0,
            log_root: clearance_core::merkle::empty_root(),
            next_validator_set_hash: genesis
                .validator_set()
                .map(|s| s.hash())
                .unwrap_or(Hash32::ZERO),
            tx_count: 0,
            state_root: clearance_core::rules::genesis_state_root(genesis),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Head, StorageError> {
        encoding::decode(bytes, limit::SMALL, "head").map_err(|e| corrupt("head", e))
    }
}

/// Where a committed transaction is: its block and its position in the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxLocation {
    pub height: u64,
    pub index: u32,
}

impl TxLocation {
    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<TxLocation, StorageError> {
        encoding::decode(bytes, 64, "transaction location")
            .map_err(|e| corrupt("transaction location", e))
    }

    /// The key of the transaction's result: height then index, big-endian, so results sort in block order.
    pub fn key(&self) -> [u8; 12] {
        let mut k = [0u8; 12];
        k[..8].copy_from_slice(&self.height.to_be_bytes());
        k[8..].copy_from_slice(&self.index.to_be_bytes());
        k
    }
}
