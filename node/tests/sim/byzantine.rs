//! Byzantine members: each runs the real driver, and what it sends is twisted on the way out. The twisted
//! messages carry the member's own valid signatures, so they pass every check a network layer can make; only
//! consensus can tell.

use super::{Behavior, Sim};
use clearance_core::Hash32;
use clearance_core::block::{HeaderView, block_hash};
use clearance_core::vote::{Proposal, SignedProposal, SignedVote, Vote};
use clearance_node::consensus::Message;
use clearance_node::network::wire::{self, ConsensusItem};
use std::sync::Arc;

impl Sim {
    /// Whether a `SelectiveThenSilent` member leaves this message out.
    pub(super) fn drops(&mut self, from: usize) -> bool {
        self.s.behaviors[from] == Behavior::SelectiveThenSilent && self.rng.chance(0.5)
    }

    /// Whether `from`'s proposals are lost at this time: an honest member whose node stays connected and votes,
    /// but whose proposals never arrive (`Scenario::mutes`).
    fn muted(&self, from: usize) -> bool {
        let now = self.elapsed_ms();
        self.s
            .mutes
            .iter()
            .any(|&(slot, start, end)| slot == from && (start..end).contains(&now))
    }

    /// What `from` actually sends to `to` in place of `item`; `None` for nothing.
    pub(super) fn twist(
        &mut self,
        from: usize,
        to: usize,
        item: Arc<Vec<u8>>,
    ) -> Option<Arc<Vec<u8>>> {
        let behavior = self.s.behaviors[from];
        if self.drops(from) || (self.muted(from) && is_proposal(&item)) {
            return None;
        }
        // Half of the network (the odd slots) gets the other version.
        let twisted = matches!(
            behavior,
            Behavior::EquivocatingProposer | Behavior::DoubleVoter
        ) && to % 2 == 1;
        if !twisted {
            return Some(item);
        }
        let validator = self.slots[from].validator;
        let member = self.genesis.members[validator].id.clone();
        let key = super::fixtures::key(validator as u8 + 1);
        let other = match wire::decode_item(&item).ok()? {
            ConsensusItem::Message(Message::Vote(signed)) if behavior == Behavior::DoubleVoter => {
                let vote = signed.claimed()?;
                if vote.validator != member {
                    return Some(item);
                }
                let block = match vote.block {
                    Some(_) => None,
                    None => Some(Hash32::sha256(
                        &[
                            vote.height.to_be_bytes(),
                            u64::from(vote.round).to_be_bytes(),
                        ]
                        .concat(),
                    )),
                };
                let other = Vote { block, ..vote };
                ConsensusItem::Message(Message::Vote(SignedVote::sign(&other, &key)))
            }
            ConsensusItem::Message(Message::Proposal {
                proposal,
                mut block,
            }) if behavior == Behavior::EquivocatingProposer => {
                let Some((signed, header)) =
                    other_proposal(&proposal, &block.header.0, &member, &key)
                else {
                    return Some(item);
                };
                block.header = header.into();
                ConsensusItem::Message(Message::Proposal {
                    proposal: signed,
                    block,
                })
            }
            ConsensusItem::CompactProposal(mut compact)
                if behavior == Behavior::EquivocatingProposer =>
            {
                match other_proposal(&compact.proposal, &compact.header.0, &member, &key) {
                    Some((signed, header)) => {
                        compact.proposal = signed;
                        compact.header = header.into();
                    }
                    // Someone else's proposal, relayed with made-up transaction ids: the receiver cannot
                    // rebuild the block from them, and must not blame the honest members it asks next.
                    None => {
                        compact.tx_ids.reverse();
                        compact.tx_ids.push(Hash32::sha256(b"made up"));
                    }
                }
                ConsensusItem::CompactProposal(compact)
            }
            _ => return Some(item),
        };
        Some(Arc::new(wire::encode_item(&other)))
    }
}

/// The same proposal for another block: the same transactions under a header one millisecond later (a block the
/// executor accepts), or, at every third height, a header claiming a record log it does not have (one it
/// refuses). Deterministic, so that every resend carries the same second version.
fn other_proposal(
    signed: &SignedProposal,
    header: &[u8],
    member: &clearance_core::ids::CountryCode,
    key: &clearance_core::crypto::SecretKey,
) -> Option<(SignedProposal, Vec<u8>)> {
    let proposal = signed.claimed()?;
    if proposal.proposer != *member {
        return None;
    }
    let mut h = HeaderView::from_bytes(header).ok()?.header;
    if h.height % 3 == 0 {
        h.log_size += 1;
    } else {
        h.time = clearance_core::time::Timestamp(h.time.0 + 1);
    }
    let bytes = HeaderView::from_header(h).bytes;
    let other = Proposal {
        block_hash: block_hash(bytes.as_slice()),
        ..proposal
    };
    Some((SignedProposal::sign(&other, key), bytes.0))
}

fn is_proposal(item: &[u8]) -> bool {
    matches!(
        wire::decode_item(item),
        Ok(ConsensusItem::Message(Message::Proposal { .. }) | ConsensusItem::CompactProposal(_))
    )
}
