//! Blocks, headers and transaction results. A block carries its header as the exact bytes that validators
//! voted on; the block hash is `SHA-256("clearance/v1/header" ‖ 0x00 ‖ header bytes)`.

use crate::bytes::Bytes;
use crate::encoding::{self, DecodeError, limit};
use crate::hash::{Hash32, tag, tagged_hash};
use crate::ids::{CountryCode, ReasonCode};
use crate::merkle::MemoryLog;
use crate::time::Timestamp;
use crate::tx::TxId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub chain_id: Hash32,
    /// The first block is height 1.
    pub height: u64,
    pub time: Timestamp,
    /// The previous block's hash; all zeros at height 1.
    pub parent_hash: Hash32,
    pub proposer: CountryCode,
    pub tx_count: u32,
    /// RFC 9162 root over the block's signed transaction bytes, in block order.
    pub tx_root: Hash32,
    /// RFC 9162 root over the canonical bytes of each transaction's [`TxResult`], in block order.
    pub results_root: Hash32,
    /// Leaves in the global record log after this block.
    pub log_size: u64,
    /// Root of the global record log after this block.
    pub log_root: Hash32,
    /// Hash of the validator set that decides this block.
    pub validator_set_hash: Hash32,
    /// Hash of the validator set that decides the next block.
    pub next_validator_set_hash: Hash32,
    /// Root of the state tree ([`crate::state_tree`]) after this block: every certificate's status, AEO
    /// standing, current decision, MRA, submitter key and member, provable against this header.
    pub state_root: Hash32,
}

impl Header {
    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode(self)
    }
}

/// A header together with the exact bytes it was decoded from, and their hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderView {
    pub bytes: Bytes,
    pub header: Header,
    pub hash: Hash32,
}

impl HeaderView {
    pub fn from_bytes(bytes: &[u8]) -> Result<HeaderView, DecodeError> {
        let header = encoding::decode(bytes, limit::HEADER, "block header")?;
        Ok(HeaderView {
            bytes: Bytes(bytes.to_vec()),
            header,
            hash: block_hash(bytes),
        })
    }

    pub fn from_header(header: Header) -> HeaderView {
        let bytes = header.to_bytes();
        HeaderView {
            hash: block_hash(&bytes),
            bytes: Bytes(bytes),
            header,
        }
    }
}

/// The block hash of `header_bytes`.
pub fn block_hash(header_bytes: &[u8]) -> Hash32 {
    tagged_hash(tag::HEADER, header_bytes)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// Canonical header bytes, exactly as proposed.
    pub header: Bytes,
    /// Signed transactions, each as its exact canonical bytes.
    pub txs: Vec<Bytes>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("header says {header} transactions, the block carries {carried}")]
    TxCount { header: u32, carried: usize },
    #[error("transaction root does not match the header")]
    TxRoot,
}

impl Block {
    pub fn from_bytes(bytes: &[u8]) -> Result<Block, DecodeError> {
        encoding::decode(bytes, limit::BLOCK, "block")
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// Decodes the header and checks that it commits to exactly the carried transactions.
    pub fn verify_body(&self) -> Result<HeaderView, BlockError> {
        let view = HeaderView::from_bytes(self.header.as_slice())?;
        if view.header.tx_count as usize != self.txs.len() {
            return Err(BlockError::TxCount {
                header: view.header.tx_count,
                carried: self.txs.len(),
            });
        }
        if tx_root(&self.txs) != view.header.tx_root {
            return Err(BlockError::TxRoot);
        }
        Ok(view)
    }
}

pub fn tx_root(txs: &[Bytes]) -> Hash32 {
    MemoryLog::root_of(txs.iter().map(Bytes::as_slice))
}

/// The deterministic outcome of executing one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    /// The record was appended to the global log at `log_index`.
    Accepted { log_index: u64 },
    /// The rules refused the record; nothing was appended.
    Rejected { code: ReasonCode },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxResult {
    pub tx_id: TxId,
    pub outcome: Outcome,
}

impl TxResult {
    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<TxResult, DecodeError> {
        encoding::decode(bytes, limit::SMALL, "transaction result")
    }
}

pub fn results_root(results: &[TxResult]) -> Hash32 {
    let encoded: Vec<Vec<u8>> = results.iter().map(TxResult::to_bytes).collect();
    MemoryLog::root_of(encoded.iter().map(Vec::as_slice))
}
