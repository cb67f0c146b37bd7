//! What goes into and comes out of the consensus state machine.

use clearance_core::Hash32;
use clearance_core::block::Block;
use clearance_core::equivocation::Equivocation;
use clearance_core::genesis::ConsensusParams;
use clearance_core::proposer::ProposerOrder;
use clearance_core::validator::ValidatorSet;
use clearance_core::vote::{SignedProposal, SignedVote};
use serde::{Deserialize, Serialize};

use super::checked::{CheckedProposal, CheckedVote};

/// The steps of a round, in the order the algorithm moves through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Step {
    Propose,
    Prevote,
    Precommit,
}

/// A message between validators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// A proposal travels with its block, so that a receiver can validate the value it votes on.
    Proposal {
        proposal: SignedProposal,
        block: Block,
    },
    Vote(SignedVote),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeout {
    pub height: u64,
    pub round: u32,
    pub step: Step,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A proposal with its block, checked by the network.
    Proposal(CheckedProposal),
    /// A prevote or precommit, checked by the network.
    Vote(CheckedVote),
    /// A timeout scheduled earlier has expired.
    Timeout(Timeout),
    /// The executor's verdict on a block the machine asked it to validate.
    BlockVerdict {
        height: u64,
        block_hash: Hash32,
        valid: bool,
    },
    /// The block to propose, answering [`Output::BuildBlock`].
    BlockToPropose {
        height: u64,
        round: u32,
        block: Block,
    },
    /// Height `height` is committed (decided here and executed, or fetched and verified by block sync):
    /// move to `height + 1` with `next_validators`, whose rounds go to `next_proposers`.
    HeightCommitted {
        height: u64,
        next_validators: ValidatorSet,
        next_proposers: ProposerOrder,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Persist this state and sync it to disk. Every `Broadcast` that follows it in the same output list must
    /// wait until the write is durable: that is what keeps a restarted node from signing twice.
    PersistSafetyState(SafetyState),
    Broadcast(Message),
    ScheduleTimeout {
        timeout: Timeout,
        after_ms: u64,
    },
    /// Ask the executor whether `block` is a valid block for `height`; answer with [`Input::BlockVerdict`].
    ValidateBlock {
        height: u64,
        block: Block,
    },
    /// Ask for a block to propose at `(height, round)`; answer with [`Input::BlockToPropose`].
    BuildBlock {
        height: u64,
        round: u32,
    },
    /// The block is decided. The driver executes and stores it, then sends [`Input::HeightCommitted`].
    Decide {
        height: u64,
        round: u32,
        block: Block,
        certificate: clearance_core::vote::CommitCertificate,
    },
    /// A validator signed two conflicting votes.
    Evidence(Equivocation),
}

/// The lock and valid value of Algorithm 1, the last signed step, and what was signed at this height: everything
/// a restarted node needs so that it never signs a message that conflicts with one it signed before the crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyState {
    pub height: u64,
    pub round: u32,
    pub step: Step,
    /// `lockedRound` and `id(lockedValue)`.
    pub locked: Option<(u32, Hash32)>,
    /// `validRound` and `id(validValue)`.
    pub valid: Option<(u32, Hash32)>,
    /// `validValue` itself. A restarted node needs the block: to propose it again, and because after a crash
    /// it may be the only node left that holds a block others are locked on.
    pub valid_block: Option<Block>,
    /// The 2f+1 prevotes that made `valid` valid (its proof of lock). After a crash they go back into the vote
    /// book and out with the gossip: a proposal that re-proposes the valid value with its round is only accepted
    /// by nodes that can see this polka, and the node's memory of it is otherwise lost.
    pub valid_polka: Vec<SignedVote>,
    /// The highest `(height, round, step)` this validator has signed a message for. It never signs at or below it.
    pub last_signed: Option<(u64, u32, Step)>,
    /// What this validator signed at `height`, re-broadcast after a restart instead of being signed anew.
    /// Proposals are kept without their block: a restarted proposer cannot resend a block it lost, and its round
    /// then times out, which costs liveness for one round, never safety.
    pub signed: Vec<Signed>,
}

/// A message this validator signed, as kept in its safety state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signed {
    Proposal(SignedProposal),
    Vote(SignedVote),
}

impl SafetyState {
    pub fn new(height: u64) -> SafetyState {
        SafetyState {
            height,
            round: 0,
            step: Step::Propose,
            locked: None,
            valid: None,
            valid_block: None,
            valid_polka: Vec::new(),
            last_signed: None,
            signed: Vec::new(),
        }
    }
}

/// Timeouts of Algorithm 1: each step's base plus `delta` per round, so that a round eventually outlasts any
/// bounded network delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub propose_ms: u64,
    pub prevote_ms: u64,
    pub precommit_ms: u64,
    pub delta_ms: u64,
}

impl Timeouts {
    pub fn from_params(p: &ConsensusParams) -> Timeouts {
        Timeouts {
            propose_ms: p.timeout_propose_ms.into(),
            prevote_ms: p.timeout_prevote_ms.into(),
            precommit_ms: p.timeout_precommit_ms.into(),
            delta_ms: p.timeout_delta_ms.into(),
        }
    }

    pub fn duration_ms(&self, step: Step, round: u32) -> u64 {
        let base = match step {
            Step::Propose => self.propose_ms,
            Step::Prevote => self.prevote_ms,
            Step::Precommit => self.precommit_ms,
        };
        base.saturating_add(self.delta_ms.saturating_mul(u64::from(round)))
    }
}

/// Messages the machine ignored, by reason; the node exports them as metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignored {
    pub non_member: u64,
    pub bad_signature: u64,
    pub wrong_chain: u64,
    pub malformed: u64,
    pub far_future: u64,
    pub past: u64,
    pub duplicate: u64,
    pub not_from_proposer: u64,
    pub buffer_full: u64,
}
