//! The consensus channel: proposals, votes, round states and commits travel as requests of their own protocol
//! (`/clearance/consensus/4`), on their own streams, never behind gossiped transactions. The driver decides what
//! each peer gets (`consensus::peer_gossip`); this module only moves it, with a bounded outbox per peer.
//!
//! A request is acknowledged as soon as it is read; what the peer holds comes back in its own round states, so a
//! lost request costs nothing but the wait until the driver sends its items again.

use super::wire::{self, ConsensusItem, ConsensusRequest};
use crate::consensus::{CheckedMessage, CheckedProposalHeader, Message, Verifier};
use crate::metrics::Metrics;
use clearance_core::Hash32;
use clearance_core::bytes::Bytes;
use clearance_core::validator::ValidatorSet;
use libp2p::{PeerId, request_response};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Requests to one peer awaiting their acknowledgement. More wait in the outbox.
const MAX_IN_FLIGHT: usize = 8;
/// Requests waiting in one peer's outbox; beyond it the oldest is dropped (its items are sent again later).
const MAX_QUEUED: usize = 64;
/// Items taken from one peer per second. Honest peers send a few hundred a second at most (every member's votes
/// of each height and a round state, a few heights a second); past the budget an item is dropped unread, not held
/// against the peer (it comes again with peer-state gossip if it mattered). The budget bounds what one member can
/// make this node spend on signature checks and the driver's queue, which all peers share.
const ITEMS_PER_PEER_PER_SECOND: u32 = 2_000;

#[derive(Default)]
struct Outbox {
    in_flight: usize,
    queue: VecDeque<ConsensusRequest>,
}

pub struct ConsensusChannel {
    outboxes: HashMap<PeerId, Outbox>,
    /// The one check of a proposal or vote on its way to the machine (it remembers what passed, so that a vote
    /// several peers relay is verified once), against the set of the height being decided.
    verifier: Verifier,
    /// The height the driver is deciding. A message for another height that fails the check may be valid
    /// under the set of its own height (a member admitted or a key rotated since), which this channel does not
    /// hold: it is dropped, not held against the peer that relayed it.
    height: u64,
    /// Signature checks spent on each peer in the current one-second window.
    budgets: HashMap<PeerId, (Instant, u32)>,
    metrics: Arc<Metrics>,
}

/// What a received item turned out to be.
pub enum Received {
    State(crate::consensus::peer_gossip::RoundState),
    Message(Box<CheckedMessage>),
    Commit(wire::SyncedBlock),
    Part(ProposalPart),
}

impl Received {
    /// The driver's event for an item received from `from`.
    pub fn into_event(self, from: PeerId) -> super::NetEvent {
        use super::NetEvent;
        match self {
            Received::State(state) => NetEvent::PeerState { from, state },
            Received::Message(msg) => NetEvent::Consensus { from, msg },
            Received::Commit(block) => NetEvent::Commit { from, block },
            Received::Part(part) => NetEvent::ProposalPart { from, part },
        }
    }
}

/// The pieces of a proposal sent by transaction ids (`wire::CompactProposal`), which the driver puts together from
/// its mempool.
#[derive(Debug)]
pub enum ProposalPart {
    /// The proposal's signature has been checked; the block is not rebuilt yet.
    Compact {
        proposal: Box<CheckedProposalHeader>,
        /// The block's header bytes, exactly as in the block.
        header: Bytes,
        tx_ids: Vec<Hash32>,
    },
    Want {
        height: u64,
        round: u32,
        block: Hash32,
        indexes: Vec<u32>,
    },
    Txs {
        height: u64,
        round: u32,
        block: Hash32,
        txs: Vec<wire::IndexedTx>,
    },
}

impl ConsensusChannel {
    pub fn new(chain_id: Hash32, validators: ValidatorSet, metrics: Arc<Metrics>) -> Self {
        ConsensusChannel {
            outboxes: HashMap::new(),
            verifier: Verifier::new(chain_id, validators),
            height: 0,
            budgets: HashMap::new(),
            metrics,
        }
    }

    /// The driver moved to deciding `height`, under `validators`. What the verifier remembers is kept unless the
    /// set changed.
    pub fn deciding(&mut self, height: u64, validators: ValidatorSet) {
        self.height = height;
        if validators.hash() != self.verifier.set_hash() {
            self.verifier = Verifier::new(self.verifier.chain_id(), validators);
        }
    }

    /// Whether `peer` has budget left for one more item this second.
    fn within_budget(&mut self, peer: PeerId, now: Instant) -> bool {
        let (since, spent) = self.budgets.entry(peer).or_insert((now, 0));
        if now.duration_since(*since) >= Duration::from_secs(1) {
            *since = now;
            *spent = 0;
        }
        if *spent >= ITEMS_PER_PEER_PER_SECOND {
            Metrics::inc(&self.metrics.consensus_over_budget_dropped_total);
            return false;
        }
        *spent += 1;
        true
    }

    /// Whether a message of `height` is worth a signature check: one of the height being decided or the next
    /// (the only ones the machine takes). Decided from the message's claimed height before the check, so that a
    /// flood of old or far-future messages, validly signed or not, costs a decode each.
    fn in_window(&self, height: Option<u64>) -> bool {
        let Some(height) = height else {
            return true; // Undecodable: the check fails cheaply and the peer is penalised.
        };
        if height < self.height || height > self.height.saturating_add(1) {
            Metrics::inc(&self.metrics.consensus_out_of_window_dropped_total);
            return false;
        }
        true
    }

    /// A failed check: held against the peer when the message is for the height being decided (or unreadable),
    /// otherwise dropped (`Ok(None)`).
    fn failed<T>(
        &self,
        height: Option<u64>,
        what: &str,
        error: impl std::fmt::Display,
    ) -> Result<Option<T>, String> {
        match height {
            Some(h) if h != self.height => {
                Metrics::inc(&self.metrics.consensus_other_set_dropped_total);
                Ok(None)
            }
            _ => Err(format!("{what}: {error}")),
        }
    }

    /// Queues `items` for `peer` in requests of at most [`wire::CONSENSUS_BATCH_BYTES`] (a larger item goes
    /// alone), and sends what the in-flight limit allows. Items join the last request still waiting when it has
    /// room: on a slow link, what queues up leaves in few requests rather than many small ones.
    pub fn send(
        &mut self,
        rr: &mut request_response::Behaviour<wire::ConsensusCodec>,
        peer: PeerId,
        items: Vec<Arc<Vec<u8>>>,
    ) {
        let outbox = self.outboxes.entry(peer).or_default();
        let mut request = outbox.queue.pop_back().unwrap_or_default();
        let mut bytes: usize = request.0.iter().map(|item| item.len()).sum();
        for item in items {
            let full = request.0.len() == wire::MAX_CONSENSUS_ITEMS
                || (!request.0.is_empty() && bytes + item.len() > wire::CONSENSUS_BATCH_BYTES);
            if full {
                outbox.queue.push_back(std::mem::take(&mut request));
                bytes = 0;
            }
            bytes += item.len();
            request.0.push(item);
        }
        if !request.0.is_empty() {
            outbox.queue.push_back(request);
        }
        while outbox.queue.len() > MAX_QUEUED {
            outbox.queue.pop_front();
            Metrics::inc(&self.metrics.consensus_dropped_requests_total);
        }
        self.pump(rr, peer);
    }

    fn pump(&mut self, rr: &mut request_response::Behaviour<wire::ConsensusCodec>, peer: PeerId) {
        let Some(outbox) = self.outboxes.get_mut(&peer) else {
            return;
        };
        while outbox.in_flight < MAX_IN_FLIGHT {
            let Some(request) = outbox.queue.pop_front() else {
                break;
            };
            outbox.in_flight += 1;
            rr.send_request(&peer, request);
        }
    }

    /// A request to `peer` was acknowledged, or failed: its slot is free.
    pub fn finished(
        &mut self,
        rr: &mut request_response::Behaviour<wire::ConsensusCodec>,
        peer: PeerId,
    ) {
        if let Some(outbox) = self.outboxes.get_mut(&peer) {
            outbox.in_flight = outbox.in_flight.saturating_sub(1);
        }
        self.pump(rr, peer);
    }

    /// The peer is gone: what waited for it is dropped, and its state will be asked anew.
    pub fn disconnected(&mut self, peer: &PeerId) {
        self.outboxes.remove(peer);
        self.budgets.remove(peer);
    }

    /// Decodes and checks one received item from `peer`, received at `now`: a message must carry a valid member's signature for this chain and
    /// a proposal a block that matches its header; a state must be within its limits. Commits are checked by the
    /// driver against the validator set of their height, as block sync does.
    pub fn check(
        &mut self,
        peer: PeerId,
        bytes: &[u8],
        now: Instant,
    ) -> Result<Option<Received>, String> {
        if !self.within_budget(peer, now) {
            return Ok(None);
        }
        let item = wire::decode_item(bytes).map_err(|e| format!("consensus item: {e}"))?;
        match item {
            ConsensusItem::State(state) => {
                state.check()?;
                Ok(Some(Received::State(state)))
            }
            ConsensusItem::Message(Message::Vote(vote)) => {
                let height = vote.decode().ok().map(|v| v.height);
                if !self.in_window(height) {
                    return Ok(None);
                }
                match self.verifier.vote(vote) {
                    Ok(checked) => Ok(Some(Received::Message(Box::new(CheckedMessage::Vote(
                        checked,
                    ))))),
                    Err(e) => self.failed(height, "vote", e),
                }
            }
            ConsensusItem::Message(Message::Proposal { proposal, block }) => {
                let height = proposal.decode().ok().map(|p| p.height);
                if !self.in_window(height) {
                    return Ok(None);
                }
                match self.verifier.proposal(proposal, block) {
                    Ok(checked) => Ok(Some(Received::Message(Box::new(CheckedMessage::Proposal(
                        checked,
                    ))))),
                    Err(e) => self.failed(height, "proposal", e),
                }
            }
            ConsensusItem::Commit(block) => Ok(Some(Received::Commit(block))),
            ConsensusItem::CompactProposal(compact) => {
                if compact.tx_ids.len() > wire::MAX_BLOCK_TX_IDS {
                    return Err(format!(
                        "compact proposal naming {} transactions",
                        compact.tx_ids.len()
                    ));
                }
                let height = compact.proposal.decode().ok().map(|p| p.height);
                if !self.in_window(height) {
                    return Ok(None);
                }
                let proposal = match self.verifier.proposal_header(compact.proposal) {
                    Ok(proposal) => proposal,
                    Err(e) => return self.failed(height, "compact proposal", e),
                };
                proposal
                    .check_header(compact.header.as_slice())
                    .map_err(|e| format!("compact proposal header: {e}"))?;
                Ok(Some(Received::Part(ProposalPart::Compact {
                    proposal: Box::new(proposal),
                    header: compact.header,
                    tx_ids: compact.tx_ids,
                })))
            }
            ConsensusItem::WantTxs {
                height,
                round,
                block,
                indexes,
            } => {
                if indexes.is_empty() || indexes.len() > wire::MAX_BLOCK_TX_IDS {
                    return Err(format!("asked for {} transactions", indexes.len()));
                }
                Ok(Some(Received::Part(ProposalPart::Want {
                    height,
                    round,
                    block,
                    indexes,
                })))
            }
            ConsensusItem::ProposalTxs {
                height,
                round,
                block,
                txs,
            } => Ok(Some(Received::Part(ProposalPart::Txs {
                height,
                round,
                block,
                txs,
            }))),
        }
    }
}
