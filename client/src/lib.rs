//! # clearance-client
//!
//! What agencies and auditors run: a typed SDK over a node's HTTP API that builds and signs transactions
//! locally, offline verification of proof bundles through `clearance-core`, and the `clearance` CLI.
//!
//! It never opens a database and never joins the peer-to-peer network; it trusts no node for anything it
//! can verify itself.
//!
//! Built so far: nothing beyond this crate's place in the workspace; the SDK and CLI are an open issue.
