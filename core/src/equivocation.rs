//! Proof that a validator equivocated: two messages it signed for one step of consensus that conflict. Either
//! message alone is valid; together they are what a member's node reports on the ledger as an `evidence` record,
//! and anyone holding the validator set of their height can check them (docs/protocol.md §2.2).

use crate::hash::Hash32;
use crate::ids::CountryCode;
use crate::validator::ValidatorSet;
use crate::vote::{Proposal, SignedProposal, SignedVote, Vote, VoteError, VoteKind};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Equivocation {
    /// Two votes by one validator for one height, round and kind, for different blocks.
    DoubleVote {
        first: SignedVote,
        second: SignedVote,
    },
    /// Two different proposals by one proposer for one height and round. An honest proposer signs one proposal
    /// per round and, after a restart, sends the one it kept.
    DoubleProposal {
        first: SignedProposal,
        second: SignedProposal,
    },
}

/// The step a validator equivocated at. As part of a state key, `prevote` and `precommit` encode as the
/// `VoteKind` did before proposals could be evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EquivocationStep {
    Prevote,
    Precommit,
    Proposal,
}

impl EquivocationStep {
    /// What two of them are called in a sentence: "two prevotes".
    pub fn plural(self) -> &'static str {
        match self {
            EquivocationStep::Prevote => "prevotes",
            EquivocationStep::Precommit => "precommits",
            EquivocationStep::Proposal => "proposals",
        }
    }
}

impl From<VoteKind> for EquivocationStep {
    fn from(kind: VoteKind) -> Self {
        match kind {
            VoteKind::Prevote => EquivocationStep::Prevote,
            VoteKind::Precommit => EquivocationStep::Precommit,
        }
    }
}

/// Who equivocated and where, as both messages say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offence {
    pub validator: CountryCode,
    pub height: u64,
    pub round: u32,
    pub step: EquivocationStep,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("{which} message: {error}")]
    Message {
        which: &'static str,
        error: VoteError,
    },
    #[error("the two messages are not by one validator for one chain, height, round and step")]
    NotComparable,
    #[error("the two messages agree (the same block, or the same proposal): no equivocation")]
    Agree,
}

impl Equivocation {
    /// Checks both signatures under `set` (the validator set of the messages' height) and that the messages
    /// conflict; returns the offence.
    pub fn verify(&self, chain_id: &Hash32, set: &ValidatorSet) -> Result<Offence, EvidenceError> {
        let wrap = |which| move |error| EvidenceError::Message { which, error };
        match self {
            Equivocation::DoubleVote { first, second } => votes_conflict(
                &first.verify(chain_id, set).map_err(wrap("first"))?,
                &second.verify(chain_id, set).map_err(wrap("second"))?,
            ),
            Equivocation::DoubleProposal { first, second } => proposals_conflict(
                &first.verify(chain_id, set).map_err(wrap("first"))?,
                &second.verify(chain_id, set).map_err(wrap("second"))?,
            ),
        }
    }

    /// The offence both messages claim, decoded and compared but with their signatures not checked: for a
    /// record's shape check (which has no validator set), for finding the set to verify under, and for display.
    pub fn claimed(&self) -> Result<Offence, EvidenceError> {
        let wrap = |which| {
            move |e| EvidenceError::Message {
                which,
                error: VoteError::Decode(e),
            }
        };
        match self {
            Equivocation::DoubleVote { first, second } => votes_conflict(
                &first.decode().map_err(wrap("first"))?,
                &second.decode().map_err(wrap("second"))?,
            ),
            Equivocation::DoubleProposal { first, second } => proposals_conflict(
                &first.decode().map_err(wrap("first"))?,
                &second.decode().map_err(wrap("second"))?,
            ),
        }
    }
}

/// One validator, chain, height, round and kind; different blocks.
fn votes_conflict(a: &Vote, b: &Vote) -> Result<Offence, EvidenceError> {
    if a.chain_id != b.chain_id
        || a.validator != b.validator
        || a.height != b.height
        || a.round != b.round
        || a.kind != b.kind
    {
        return Err(EvidenceError::NotComparable);
    }
    if a.block == b.block {
        return Err(EvidenceError::Agree);
    }
    Ok(Offence {
        validator: a.validator.clone(),
        height: a.height,
        round: a.round,
        step: a.kind.into(),
    })
}

/// One proposer, chain, height and round; a different block or valid round.
fn proposals_conflict(a: &Proposal, b: &Proposal) -> Result<Offence, EvidenceError> {
    if a.chain_id != b.chain_id
        || a.proposer != b.proposer
        || a.height != b.height
        || a.round != b.round
    {
        return Err(EvidenceError::NotComparable);
    }
    if a == b {
        return Err(EvidenceError::Agree);
    }
    Ok(Offence {
        validator: a.proposer.clone(),
        height: a.height,
        round: a.round,
        step: EquivocationStep::Proposal,
    })
}
