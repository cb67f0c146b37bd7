//! # clearance-genesis
//!
//! Everything needed before a node first starts: key generation and key files ([`keys`]), building and
//! validating the genesis document from a members file ([`members`]), the node's `config.toml` schema
//! ([`config`]), and the layout of a local testnet ([`testnet`]). The `clearance-genesis` binary exposes them.
//!
//! It never talks to the network and never reads a node's database. Keys are written once, with mode 0600,
//! and never overwritten.

pub mod config;
pub mod keys;
pub mod members;
pub mod testnet;
