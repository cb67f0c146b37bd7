//! Consensus messages and commit certificates. Votes and proposals travel as the exact bytes their signer
//! signed; a commit certificate is a list of such signed precommits, so that a verifier in any language checks
//! signatures over received bytes and never has to rebuild a vote.

use crate::block::HeaderView;
use crate::bytes::Bytes;
use crate::crypto::{SecretKey, Signature, SignatureError};
use crate::encoding::{self, DecodeError, limit};
use crate::hash::{Hash32, tag};
use crate::ids::CountryCode;
use crate::validator::ValidatorSet;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteKind {
    Prevote,
    Precommit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vote {
    pub chain_id: Hash32,
    pub height: u64,
    pub round: u32,
    pub kind: VoteKind,
    /// The block voted for, or `None` for nil.
    pub block: Option<Hash32>,
    pub validator: CountryCode,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedVote {
    /// Canonical bytes of a [`Vote`].
    pub vote: Bytes,
    /// Over `"clearance/v1/vote" ‖ 0x00 ‖ vote`.
    pub signature: Signature,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteError {
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("message is for chain {got}, this chain is {expected}")]
    WrongChain { expected: Hash32, got: Hash32 },
    #[error("{0} is not in the validator set")]
    NotAValidator(CountryCode),
    #[error("signature of {member}: {error}")]
    Signature {
        member: CountryCode,
        error: SignatureError,
    },
}

impl SignedVote {
    pub fn sign(vote: &Vote, key: &SecretKey) -> SignedVote {
        let bytes = encoding::encode(vote);
        SignedVote {
            signature: key.sign(tag::VOTE, &bytes),
            vote: Bytes(bytes),
        }
    }

    /// The height the vote claims, decoded but not verified: for routing and scheduling only.
    pub fn height_hint(&self) -> Option<u64> {
        self.claimed().map(|v| v.height)
    }

    /// The vote's bytes decoded (the canonical decoding, with its size limit), not verified.
    pub fn decode(&self) -> Result<Vote, DecodeError> {
        encoding::decode::<Vote>(self.vote.as_slice(), limit::VOTE, "vote")
    }

    /// The vote as it claims to be, decoded but not verified: for routing and bookkeeping only.
    pub fn claimed(&self) -> Option<Vote> {
        encoding::decode::<Vote>(self.vote.as_slice(), limit::VOTE, "vote").ok()
    }

    /// Decodes the vote and checks its chain, its validator's membership and its signature.
    pub fn verify(&self, chain_id: &Hash32, set: &ValidatorSet) -> Result<Vote, VoteError> {
        let vote: Vote = encoding::decode(self.vote.as_slice(), limit::VOTE, "vote")?;
        check_signed(
            chain_id,
            set,
            (&vote.chain_id, &vote.validator),
            tag::VOTE,
            &self.vote,
            &self.signature,
        )?;
        Ok(vote)
    }
}

/// The checks every consensus message shares: its chain, its signer's membership, and the signature over the
/// exact bytes received.
fn check_signed(
    chain_id: &Hash32,
    set: &ValidatorSet,
    (claimed_chain, signer): (&Hash32, &CountryCode),
    tag: &'static str,
    bytes: &Bytes,
    signature: &Signature,
) -> Result<(), VoteError> {
    if claimed_chain != chain_id {
        return Err(VoteError::WrongChain {
            expected: *chain_id,
            got: *claimed_chain,
        });
    }
    let index = set
        .index_of(signer)
        .ok_or_else(|| VoteError::NotAValidator(signer.clone()))?;
    set.verify(index, tag, bytes.as_slice(), signature)
        .map_err(|error| VoteError::Signature {
            member: signer.clone(),
            error,
        })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    pub chain_id: Hash32,
    pub height: u64,
    pub round: u32,
    /// The paper's `validRound`; `None` for −1.
    pub valid_round: Option<u32>,
    pub block_hash: Hash32,
    pub proposer: CountryCode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedProposal {
    /// Canonical bytes of a [`Proposal`].
    pub proposal: Bytes,
    /// Over `"clearance/v1/proposal" ‖ 0x00 ‖ proposal`.
    pub signature: Signature,
}

impl SignedProposal {
    pub fn sign(proposal: &Proposal, key: &SecretKey) -> SignedProposal {
        let bytes = encoding::encode(proposal);
        SignedProposal {
            signature: key.sign(tag::PROPOSAL, &bytes),
            proposal: Bytes(bytes),
        }
    }

    /// The height the proposal claims, decoded but not verified: for routing and scheduling only.
    pub fn height_hint(&self) -> Option<u64> {
        self.claimed().map(|p| p.height)
    }

    /// The proposal's bytes decoded (the canonical decoding, with its size limit), not verified.
    pub fn decode(&self) -> Result<Proposal, DecodeError> {
        encoding::decode::<Proposal>(self.proposal.as_slice(), limit::VOTE, "proposal")
    }

    /// The proposal as it claims to be, decoded but not verified: for routing and bookkeeping only.
    pub fn claimed(&self) -> Option<Proposal> {
        encoding::decode::<Proposal>(self.proposal.as_slice(), limit::VOTE, "proposal").ok()
    }

    pub fn verify(&self, chain_id: &Hash32, set: &ValidatorSet) -> Result<Proposal, VoteError> {
        let p: Proposal = encoding::decode(self.proposal.as_slice(), limit::VOTE, "proposal")?;
        check_signed(
            chain_id,
            set,
            (&p.chain_id, &p.proposer),
            tag::PROPOSAL,
            &self.proposal,
            &self.signature,
        )?;
        Ok(p)
    }
}

/// Proof that a quorum of the validator set precommitted a block at `(height, round)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitCertificate {
    pub height: u64,
    pub round: u32,
    pub block_hash: Hash32,
    pub precommits: Vec<SignedVote>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    #[error("certificate is for height {cert}, the header is height {header}")]
    Height { header: u64, cert: u64 },
    #[error("certificate is for block {cert}, the header hashes to {header}")]
    BlockHash { header: Hash32, cert: Hash32 },
    #[error("header names validator set {header}, the set given hashes to {given}")]
    ValidatorSet { header: Hash32, given: Hash32 },
    #[error("certificate carries {0} precommits, more than the validator set has members")]
    TooManyVotes(usize),
    #[error("precommit {index}: {error}")]
    Vote { index: usize, error: VoteError },
    #[error("precommit {index} is a {kind:?} for height {height}, round {round}, block {block:?}")]
    VoteMismatch {
        index: usize,
        kind: VoteKind,
        height: u64,
        round: u32,
        block: Option<Hash32>,
    },
    #[error("{0} signed the certificate twice")]
    DuplicateSigner(CountryCode),
    #[error("{got} distinct precommits, a quorum is {needed}")]
    NoQuorum { got: usize, needed: usize },
    #[error("header is for chain {got}, the verifier's chain is {expected}")]
    WrongChain { expected: Hash32, got: Hash32 },
}

impl CommitCertificate {
    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<CommitCertificate, DecodeError> {
        encoding::decode(bytes, limit::COMMIT, "commit certificate")
    }
}

/// Checks that `cert` proves a quorum of `set` precommitted `header` on the chain `chain_id` (the verifier's own,
/// from its genesis: two chains with the same members share validator-set hashes, so the header's claim is not
/// enough). Returns the signers in certificate order. Used by the node, by block sync and by auditors alike.
pub fn verify_commit(
    chain_id: &Hash32,
    set: &ValidatorSet,
    header: &HeaderView,
    cert: &CommitCertificate,
) -> Result<Vec<CountryCode>, CommitError> {
    let h = &header.header;
    if h.chain_id != *chain_id {
        return Err(CommitError::WrongChain {
            expected: *chain_id,
            got: h.chain_id,
        });
    }
    if cert.height != h.height {
        return Err(CommitError::Height {
            header: h.height,
            cert: cert.height,
        });
    }
    if cert.block_hash != header.hash {
        return Err(CommitError::BlockHash {
            header: header.hash,
            cert: cert.block_hash,
        });
    }
    let set_hash = set.hash();
    if set_hash != h.validator_set_hash {
        return Err(CommitError::ValidatorSet {
            header: h.validator_set_hash,
            given: set_hash,
        });
    }
    if cert.precommits.len() > set.len() {
        return Err(CommitError::TooManyVotes(cert.precommits.len()));
    }
    let mut signers: Vec<CountryCode> = Vec::with_capacity(cert.precommits.len());
    for (index, signed) in cert.precommits.iter().enumerate() {
        let vote = signed
            .verify(chain_id, set)
            .map_err(|error| CommitError::Vote { index, error })?;
        if vote.kind != VoteKind::Precommit
            || vote.height != cert.height
            || vote.round != cert.round
            || vote.block != Some(cert.block_hash)
        {
            return Err(CommitError::VoteMismatch {
                index,
                kind: vote.kind,
                height: vote.height,
                round: vote.round,
                block: vote.block,
            });
        }
        if signers.contains(&vote.validator) {
            return Err(CommitError::DuplicateSigner(vote.validator));
        }
        signers.push(vote.validator);
    }
    if signers.len() < set.quorum() {
        return Err(CommitError::NoQuorum {
            got: signers.len(),
            needed: set.quorum(),
        });
    }
    Ok(signers)
}
