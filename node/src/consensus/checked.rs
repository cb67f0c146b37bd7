//! Proposals and votes whose checks passed: the only way a message enters the machine. The network checks each
//! message once, with a [`Verifier`] (chain, the signer's membership, the signature over the bytes received, a
//! proposal's block against its header), and hands on the checked form with the message decoded. The machine
//! trusts a checked message made against the validator set it is deciding with, and checks it again otherwise
//! (a set changed between the network's check and the machine's height). The fields are private: only a passed
//! check, or the machine signing its own message, makes one.

use clearance_core::Hash32;
use clearance_core::block::{Block, BlockError};
use clearance_core::encoding::DecodeError;
use clearance_core::validator::ValidatorSet;
use clearance_core::vote::{Proposal, SignedProposal, SignedVote, Vote, VoteError};
use std::collections::HashSet;

/// Messages remembered as checked, by the hash of their signed bytes and signature: several peers relay one
/// vote, and its second copy costs a hash instead of a signature verification.
const MAX_REMEMBERED: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Signed(#[from] VoteError),
    #[error("proposed block: {0}")]
    Body(#[from] BlockError),
    #[error("proposed block is not the one the proposal names")]
    NotTheProposedBlock,
    #[error("a new proposal's block must name its signer as proposer")]
    ProposerNotNamed,
}

/// A vote checked against the validator set whose hash it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedVote {
    signed: SignedVote,
    vote: Vote,
    set: Hash32,
}

impl CheckedVote {
    pub fn signed(&self) -> &SignedVote {
        &self.signed
    }
    pub fn vote(&self) -> &Vote {
        &self.vote
    }
    pub fn set_hash(&self) -> Hash32 {
        self.set
    }
    pub fn into_signed(self) -> SignedVote {
        self.signed
    }

    /// The machine's own vote, which it has just signed.
    pub(super) fn signed_here(signed: SignedVote, vote: Vote, set: Hash32) -> CheckedVote {
        CheckedVote { signed, vote, set }
    }
}

/// A proposal whose signature was checked; its block may still be on its way (a compact proposal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedProposalHeader {
    signed: SignedProposal,
    proposal: Proposal,
    set: Hash32,
}

impl CheckedProposalHeader {
    pub fn signed(&self) -> &SignedProposal {
        &self.signed
    }
    pub fn proposal(&self) -> &Proposal {
        &self.proposal
    }

    /// Whether `header` is the header the proposal signs (its hash and height): a compact proposal carries the
    /// header beside the signed proposal, and a relay could pair the signature with another.
    pub fn check_header(&self, header: &[u8]) -> Result<(), CheckError> {
        let view = clearance_core::block::HeaderView::from_bytes(header)
            .map_err(|e| CheckError::Body(BlockError::Decode(e)))?;
        if view.hash != self.proposal.block_hash || view.header.height != self.proposal.height {
            return Err(CheckError::NotTheProposedBlock);
        }
        Ok(())
    }

    /// The proposal with its block, once the block is checked against the header the proposal names: the block
    /// hash covers the body through `tx_root`, so a proposer cannot pair one signed id with different bodies.
    pub fn with_block(self, block: Block) -> Result<CheckedProposal, CheckError> {
        let view = block.verify_body()?;
        if view.hash != self.proposal.block_hash || view.header.height != self.proposal.height {
            return Err(CheckError::NotTheProposedBlock);
        }
        // The header's proposer is what the proposer rule reads to tell who takes part (core::proposer), so a
        // proposer cannot credit its block to another member. A valid value proposed again keeps the name of
        // the member that first proposed it, which this check passed when a quorum prevoted it.
        if self.proposal.valid_round.is_none() && view.header.proposer != self.proposal.proposer {
            return Err(CheckError::ProposerNotNamed);
        }
        Ok(CheckedProposal {
            header: self,
            block,
        })
    }
}

/// A proposal with its block, both checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedProposal {
    header: CheckedProposalHeader,
    block: Block,
}

impl CheckedProposal {
    pub fn signed(&self) -> &SignedProposal {
        &self.header.signed
    }
    pub fn proposal(&self) -> &Proposal {
        &self.header.proposal
    }
    pub fn block(&self) -> &Block {
        &self.block
    }
    pub fn set_hash(&self) -> Hash32 {
        self.header.set
    }
    pub fn into_parts(self) -> (SignedProposal, Block) {
        (self.header.signed, self.block)
    }

    /// The machine's own proposal, which it has just signed over a block it built or validated.
    pub(super) fn signed_here(
        signed: SignedProposal,
        proposal: Proposal,
        block: Block,
        set: Hash32,
    ) -> CheckedProposal {
        CheckedProposal {
            header: CheckedProposalHeader {
                signed,
                proposal,
                set,
            },
            block,
        }
    }
}

/// A checked message, as the network hands it to the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckedMessage {
    Proposal(CheckedProposal),
    Vote(CheckedVote),
}

impl CheckedMessage {
    pub fn height(&self) -> u64 {
        match self {
            CheckedMessage::Proposal(p) => p.proposal().height,
            CheckedMessage::Vote(v) => v.vote().height,
        }
    }
}

/// Checks messages against one chain and validator set.
pub struct Verifier {
    chain_id: Hash32,
    set: ValidatorSet,
    set_hash: Hash32,
    remembered: HashSet<Hash32>,
}

impl Verifier {
    pub fn new(chain_id: Hash32, set: ValidatorSet) -> Verifier {
        Verifier {
            chain_id,
            set_hash: set.hash(),
            set,
            remembered: HashSet::new(),
        }
    }

    pub fn set_hash(&self) -> Hash32 {
        self.set_hash
    }

    pub fn chain_id(&self) -> Hash32 {
        self.chain_id
    }

    pub fn validators(&self) -> &ValidatorSet {
        &self.set
    }

    /// The message: only decoded if these exact bytes and signature passed before, otherwise fully checked
    /// (`check`) and remembered when it passes.
    fn remembered_or<T>(
        &mut self,
        kind: u8,
        bytes: &[u8],
        signature: &[u8],
        decode: impl FnOnce() -> Result<T, DecodeError>,
        check: impl FnOnce(&Hash32, &ValidatorSet) -> Result<T, VoteError>,
    ) -> Result<T, CheckError> {
        let key = Hash32::sha256(&[&[kind][..], bytes, signature].concat());
        if self.remembered.contains(&key) {
            return Ok(decode().map_err(VoteError::from)?);
        }
        let message = check(&self.chain_id, &self.set)?;
        if self.remembered.len() >= MAX_REMEMBERED {
            self.remembered.clear();
        }
        self.remembered.insert(key);
        Ok(message)
    }

    pub fn vote(&mut self, signed: SignedVote) -> Result<CheckedVote, CheckError> {
        let vote = self.remembered_or(
            0,
            signed.vote.as_slice(),
            signed.signature.as_bytes(),
            || signed.decode(),
            |chain, set| signed.verify(chain, set),
        )?;
        Ok(CheckedVote {
            signed,
            vote,
            set: self.set_hash,
        })
    }

    pub fn proposal_header(
        &mut self,
        signed: SignedProposal,
    ) -> Result<CheckedProposalHeader, CheckError> {
        let proposal = self.remembered_or(
            1,
            signed.proposal.as_slice(),
            signed.signature.as_bytes(),
            || signed.decode(),
            |chain, set| signed.verify(chain, set),
        )?;
        Ok(CheckedProposalHeader {
            signed,
            proposal,
            set: self.set_hash,
        })
    }

    pub fn proposal(
        &mut self,
        signed: SignedProposal,
        block: Block,
    ) -> Result<CheckedProposal, CheckError> {
        self.proposal_header(signed)?.with_block(block)
    }
}
