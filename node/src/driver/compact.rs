//! Proposals by transaction ids. A proposal's block carries every transaction of the height, which every member
//! already received by gossip; sending them again made each proposal a burst of megabytes that a lossy, distant
//! link delivers only after TCP's slow start, seconds later, past the propose timeout. So a node sends a proposal
//! as its header and the ids of its transactions (`wire::CompactProposal`); the receiver rebuilds the block from
//! its mempool, asks the sender for the few it lacks (`WantTxs`), checks the full block against the header the
//! signed proposal names (`CheckedProposalHeader::with_block`), and hands the machine the checked proposal.

use super::Driver;
use crate::consensus::peer_gossip::Item;
use crate::consensus::{CheckedMessage, CheckedProposalHeader, Message};
use crate::network::wire::{self, CompactProposal, ConsensusItem, IndexedTx};
use crate::network::{NetCommand, ProposalPart};
use anyhow::Result;
use clearance_core::Hash32;
use clearance_core::block::Block;
use clearance_core::bytes::Bytes;
use clearance_core::tx::SignedTx;
use libp2p::PeerId;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Proposals kept while their missing transactions are fetched; the furthest rounds go first.
const MAX_PARTIAL: usize = 8;

/// A compact proposal whose block is not complete yet.
pub(super) struct Partial {
    from: PeerId,
    proposal: CheckedProposalHeader,
    header: Bytes,
    ids: Vec<Hash32>,
    txs: Vec<Option<Bytes>>,
    /// The block rebuilt from this node's mempool did not match its header (a transaction held here with other
    /// bytes than the proposer's): every transaction was asked from the sender.
    asked_all: bool,
}

/// By (height, round, block hash): an equivocating proposer makes several blocks for one round.
pub(super) type Partials = BTreeMap<(u64, u32, Hash32), Partial>;

impl Driver {
    /// The item for a proposal this node holds: its compact form, or the full proposal when a transaction of its
    /// block cannot be decoded for its id (never for a block the machine accepted).
    pub(super) fn proposal_item(&self, round: u32, block: &Hash32) -> Option<ConsensusItem> {
        let (proposal, block) = self.machine.proposal_for(round, block)?;
        let ids: Option<Vec<Hash32>> = block
            .txs
            .iter()
            .map(|tx| SignedTx::from_bytes(tx.as_slice()).ok().map(|t| t.id()))
            .collect();
        Some(match ids {
            Some(tx_ids) => ConsensusItem::CompactProposal(CompactProposal {
                proposal: proposal.clone(),
                header: block.header.clone(),
                tx_ids,
            }),
            None => ConsensusItem::Message(Message::Proposal {
                proposal: proposal.clone(),
                block: block.clone(),
            }),
        })
    }

    pub(super) fn on_proposal_part(&mut self, from: PeerId, part: ProposalPart) -> Result<()> {
        match part {
            ProposalPart::Compact {
                proposal,
                header,
                tx_ids,
            } => self.on_compact(from, *proposal, header, tx_ids),
            ProposalPart::Want {
                height,
                round,
                block,
                indexes,
            } => {
                self.send_wanted(from, height, round, block, &indexes);
                Ok(())
            }
            ProposalPart::Txs {
                height,
                round,
                block,
                txs,
            } => {
                let key = (height, round, block);
                let Some(mut partial) = self.partials.remove(&key) else {
                    return Ok(());
                };
                // Only the peer asked answers: the ids, and so the penalty, are its.
                if partial.from != from {
                    self.partials.insert(key, partial);
                    return Ok(());
                }
                for IndexedTx { index, tx } in txs {
                    let i = index as usize;
                    let id = SignedTx::from_bytes(tx.as_slice()).map(|t| t.id());
                    match (partial.ids.get(i), id) {
                        (Some(want), Ok(got)) if *want == got => partial.txs[i] = Some(tx),
                        _ => {
                            self.penalise_peer(from, "a transaction that is not the one asked for");
                        }
                    }
                }
                self.complete_or_ask(height, round, block, partial)
            }
        }
    }

    fn on_compact(
        &mut self,
        from: PeerId,
        proposal: CheckedProposalHeader,
        header: Bytes,
        tx_ids: Vec<Hash32>,
    ) -> Result<()> {
        let p = proposal.proposal().clone();
        let key = (p.height, p.round, p.block_hash);
        self.peer_gossip.on_received(
            from,
            p.height,
            Item::Proposal {
                round: p.round,
                block: p.block_hash,
            },
        );
        // The proposal again, while this node's state lacks it: from the same peer, ask again for what is still
        // missing; from another, start over with its ids (the first sender's may have been made up, and it may
        // have restarted or gone since).
        if let Some(partial) = self.partials.remove(&key)
            && partial.from == from
        {
            return self.complete_or_ask(p.height, p.round, p.block_hash, partial);
        }
        let here = self.machine.height();
        if p.height < here || p.height > here + 1 {
            return Ok(());
        }
        // Held already; another proposal of the round is completed too (its proposer equivocated: the machine
        // keeps the evidence).
        if p.height == here
            && self
                .machine
                .proposal_for(p.round, &p.block_hash)
                .is_some_and(|(held, _)| held == proposal.signed())
        {
            return Ok(());
        }
        let txs = tx_ids
            .iter()
            .map(|id| self.mempool.bytes_of(id).map(|b| Bytes(b.to_vec())))
            .collect();
        let partial = Partial {
            from,
            proposal,
            header,
            ids: tx_ids,
            txs,
            asked_all: false,
        };
        self.complete_or_ask(p.height, p.round, p.block_hash, partial)
    }

    /// Hands the machine the rebuilt block, or asks the sender for what is missing and keeps the rest.
    fn complete_or_ask(
        &mut self,
        height: u64,
        round: u32,
        hash: Hash32,
        mut partial: Partial,
    ) -> Result<()> {
        let missing: Vec<u32> = (0..partial.txs.len())
            .filter(|i| partial.txs[*i].is_none())
            .map(|i| i as u32)
            .collect();
        if missing.is_empty() {
            let block = Block {
                header: partial.header.clone(),
                txs: partial.txs.iter().flatten().cloned().collect(),
            };
            tracing::debug!(
                height,
                round,
                txs = block.txs.len(),
                "compact proposal complete"
            );
            return match partial.proposal.clone().with_block(block) {
                Ok(checked) => self.on_consensus(partial.from, CheckedMessage::Proposal(checked)),
                // A transaction held here with other bytes than the proposer's (a submitter may sign one body
                // twice): ask the sender for all of them.
                Err(_) if !partial.asked_all => {
                    partial.asked_all = true;
                    partial.txs.iter_mut().for_each(|tx| *tx = None);
                    self.complete_or_ask(height, round, hash, partial)
                }
                // Header, ids and every transaction came from the sender, and they do not make the block the
                // proposal signs.
                Err(e) => {
                    self.penalise_peer(partial.from, &format!("compact proposal: {e}"));
                    Ok(())
                }
            };
        }
        tracing::debug!(
            height,
            round,
            missing = missing.len(),
            of = partial.ids.len(),
            "compact proposal: asking the sender for missing transactions"
        );
        let want = ConsensusItem::WantTxs {
            height,
            round,
            block: hash,
            indexes: missing,
        };
        self.send_item(partial.from, &want);
        self.partials.insert((height, round, hash), partial);
        while self.partials.len() > MAX_PARTIAL {
            // The furthest round goes first: an equivocator signing many blocks for rounds ahead cannot push
            // out the one of the round being decided.
            self.partials.pop_last();
        }
        Ok(())
    }

    fn send_wanted(
        &mut self,
        peer: PeerId,
        height: u64,
        round: u32,
        hash: Hash32,
        indexes: &[u32],
    ) {
        if height != self.machine.height() {
            return;
        }
        let Some(block) = self.machine.block(&hash) else {
            return;
        };
        // Each index once, and no more bytes than one request carries: the asker asks again for the rest as each
        // answer arrives, and a peer cannot make this node copy a block many times over in one answer.
        let wanted: std::collections::BTreeSet<u32> = indexes.iter().copied().collect();
        let mut bytes = 0;
        let txs: Vec<IndexedTx> = wanted
            .into_iter()
            .filter_map(|index| Some((index, block.txs.get(index as usize)?)))
            .take_while(|(_, tx)| {
                bytes += tx.as_slice().len();
                bytes <= wire::CONSENSUS_BATCH_BYTES
            })
            .map(|(index, tx)| IndexedTx {
                index,
                tx: tx.clone(),
            })
            .collect();
        if !txs.is_empty() {
            let answer = ConsensusItem::ProposalTxs {
                height,
                round,
                block: hash,
                txs,
            };
            self.send_item(peer, &answer);
        }
    }

    fn send_item(&self, peer: PeerId, item: &ConsensusItem) {
        let bytes = Arc::new(wire::encode_item(item));
        self.net
            .send(NetCommand::SendConsensus {
                peer,
                items: vec![bytes],
            })
            .ok();
    }

    fn penalise_peer(&self, peer: PeerId, reason: &str) {
        self.net
            .send(NetCommand::Penalise {
                peer,
                reason: reason.to_string(),
            })
            .ok();
    }

    /// Forgets partial proposals of heights this node has left.
    pub(super) fn prune_partials(&mut self, height: u64) {
        self.partials.retain(|(h, _, _), _| *h >= height);
    }
}
