//! Consensus: Tendermint (Algorithm 1 of "The latest gossip on BFT consensus") as a pure state machine.
//!
//! [`Machine`] takes [`Input`]s and returns [`Output`]s; it performs no I/O, reads no clock and draws no
//! randomness. A driver connects it to the network, the executor, storage and timers, and must honour one rule:
//! an [`Output::PersistSafetyState`] is durable before any [`Output::Broadcast`] that follows it is sent.
//! `docs/consensus.md` maps each rule to the paper's lines.

mod checked;
mod item_set;
mod machine;
pub mod peer_gossip;
mod types;
mod votes;

pub use checked::{
    CheckError, CheckedMessage, CheckedProposal, CheckedProposalHeader, CheckedVote, Verifier,
};
pub use machine::{
    Config, MAX_FUTURE_ROUNDS_PER_MEMBER, MAX_NEXT_HEIGHT_PER_MEMBER, MAX_PROPOSALS_PER_ROUND,
    MAX_ROUND, Machine,
};
pub use types::{Ignored, Input, Message, Output, SafetyState, Signed, Step, Timeout, Timeouts};
