//! # clearance-core
//!
//! The protocol of Clearance Ledger as plain data and pure functions: customs records and their identifiers,
//! transactions, blocks, votes, commit certificates, validator sets, the genesis document, the canonical
//! encoding, domain-separated hashing and signing, and the RFC 9162 Merkle log with its proofs.
//!
//! Auditors and agencies embed this crate to verify what the ledger says without trusting a node.
//! It must never do I/O, spawn tasks, read clocks or draw randomness, and never depend on tokio, libp2p or
//! rocksdb. Everything it hashes or signs is specified in `docs/protocol.md`.

pub mod api;
pub mod audit;
pub mod block;
pub mod bytes;
pub mod countries;
pub mod crypto;
pub mod encoding;
pub mod equivocation;
pub mod genesis;
pub mod hash;
pub mod ids;
pub mod merkle;
pub mod peer;
pub mod proposer;
pub mod record;
pub mod rules;
pub mod state_tree;
pub mod time;
pub mod tx;
pub mod validator;
pub mod vote;

pub use bytes::Bytes;
pub use crypto::{PublicKey, SecretKey, Signature};
pub use hash::Hash32;
