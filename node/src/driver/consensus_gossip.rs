//! The driver's side of peer-state gossip: it tells peers where this node is, takes in where they are, and sends
//! each the proposals, votes and commits it lacks (the choice is `consensus::peer_gossip`'s; this file reads the
//! machine and the ledger and encodes).

use super::{Driver, STATE_HEARTBEAT};
use crate::consensus::Step;
use crate::consensus::peer_gossip::{Item, RoundState};
use crate::metrics::Metrics;
use crate::network::NetCommand;
use crate::network::wire::{self, ConsensusItem, SyncedBlock};
use anyhow::Result;
use clearance_core::bytes::Bytes;
use clearance_core::vote::CommitCertificate;
use libp2p::PeerId;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A state whose height, round and step have not moved goes out at most this often: what a peer holds matters
/// for what to send again, which waits longer than this anyway, and with many members every vote changes it.
const STATE_CHANGE_EVERY: Duration = Duration::from_millis(200);

/// Most pending transactions published again when a member comes back.
const MAX_REGOSSIP: usize = 4096;

impl Driver {
    /// The height this node is deciding, as peers should see it, and whether its machine is running it: while
    /// it waits to start the next height, it is at that height with nothing held.
    fn gossip_height(&self) -> (u64, bool) {
        match self.pending_start {
            Some(committed) => (committed + 1, false),
            None => (self.machine.height(), true),
        }
    }

    /// Height, round and step as peers should see them.
    fn gossip_position(&self) -> (u64, u32, Step) {
        match self.gossip_height() {
            (height, true) => (height, self.machine.round(), self.machine.step()),
            (height, false) => (height, 0, Step::Propose),
        }
    }

    /// Sends the round state to every peer when the step moved (at once) or what it holds changed (at most once
    /// a tick), and as a heartbeat; then sends each peer what it lacks.
    pub(super) fn gossip_consensus(&mut self) {
        let (height, running) = self.gossip_height();
        let (_, round, step) = self.gossip_position();
        // A moved step goes out at once; anything else waits for a reason (an output to send, a tick).
        let moved = self
            .state_sent
            .as_ref()
            .is_none_or(|(last, _)| (last.height, last.round, last.step) != (height, round, step));
        if !self.gossip_due && !moved {
            return;
        }
        self.gossip_due = false;
        let held = if running {
            self.machine.held()
        } else {
            Vec::new()
        };
        if self.encoded_height != height {
            self.encoded.clear();
            self.encoded_height = height;
            self.locks_shown.clear();
            self.prune_partials(height);
        }
        let now = self.clock.now();
        let state = RoundState::new(height, round, step, &held);
        let send_state = match &self.state_sent {
            None => true,
            Some((last, at)) => {
                let elapsed = now.duration_since(*at);
                moved
                    || (*last != state && elapsed >= STATE_CHANGE_EVERY)
                    || elapsed >= STATE_HEARTBEAT
            }
        };
        // One request per peer: the state, then what the peer lacks.
        let mut outgoing: BTreeMap<PeerId, Vec<Arc<Vec<u8>>>> = BTreeMap::new();
        if send_state {
            let bytes = Arc::new(wire::encode_item(&ConsensusItem::State(state.clone())));
            for peer in self.peer_gossip.peers() {
                outgoing.insert(*peer, vec![bytes.clone()]);
            }
            self.state_sent = Some((state, now));
        }
        let now_ms = now.duration_since(self.epoch).as_millis() as u64;
        let machine = &self.machine;
        let plan = self
            .peer_gossip
            .plan(now_ms, height, &held, &|item| machine.is_own(item));
        // Proofs of lock (see `Machine::proof_of_lock`), encoded once per pass however many peers get them.
        let mut proofs: BTreeMap<u32, Vec<Arc<Vec<u8>>>> = BTreeMap::new();
        let mut proof_of = |machine: &crate::consensus::Machine, round: u32| {
            proofs
                .entry(round)
                .or_insert_with(|| {
                    machine
                        .proof_of_lock(round)
                        .into_iter()
                        .map(|msg| Arc::new(wire::encode_item(&ConsensusItem::Message(msg))))
                        .collect()
                })
                .clone()
        };
        for (peer, items) in plan {
            let mut frames: Vec<Arc<Vec<u8>>> =
                items.iter().filter_map(|item| self.encode(item)).collect();
            // A re-proposal travels with its proof of lock, after it.
            for item in &items {
                if let Item::Proposal { round, .. } = *item {
                    frames.extend(proof_of(&self.machine, round));
                }
            }
            outgoing.entry(peer).or_default().extend(frames);
        }
        // A peer that holds a re-proposal but has not prevoted may have got its proof of lock before the block
        // (a compact proposal it had to complete), when the equivocator's vote in it could not count yet: once
        // per peer and round, the proof of lock again.
        if running {
            for (peer, round) in self.peer_gossip.waiting_on_proposal(height) {
                if self.locks_shown.contains(&(peer, round)) {
                    continue;
                }
                let proof = proof_of(&self.machine, round);
                if !proof.is_empty() {
                    self.locks_shown.insert((peer, round));
                    outgoing.entry(peer).or_default().extend(proof);
                }
            }
        }
        for (peer, items) in outgoing {
            Metrics::add(&self.metrics.consensus_items_sent_total, items.len() as u64);
            self.net
                .send(NetCommand::SendConsensus { peer, items })
                .ok();
        }
    }

    /// The encoded item, from the cache or built once: a message from the machine, a commit from the ledger.
    fn encode(&mut self, item: &Item) -> Option<Arc<Vec<u8>>> {
        if let Some(bytes) = self.encoded.get(item) {
            return Some(bytes.clone());
        }
        let encoded = match *item {
            Item::Commit { height } => match self.ledger.store().block_bytes(height) {
                Ok(Some(stored)) => ConsensusItem::Commit(SyncedBlock {
                    block: Bytes(stored.block),
                    certificate: Bytes(stored.certificate),
                }),
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(height, "cannot read a committed block for a peer: {e}");
                    return None;
                }
            },
            Item::Proposal { round, block } => self.proposal_item(round, &block)?,
            Item::Vote { .. } => ConsensusItem::Message(self.machine.message(item)?),
        };
        let bytes = Arc::new(wire::encode_item(&encoded));
        self.encoded.insert(*item, bytes.clone());
        Some(bytes)
    }

    pub(super) fn on_peer_state(&mut self, from: PeerId, state: RoundState) -> Result<()> {
        let known_height = self.peer_gossip.height_of(&from);
        if known_height.is_none() {
            self.regossip_mempool();
        }
        // A peer that reached a new height can now take what this node holds of it (a proposal sent before its
        // state said so went to nobody): a pass at once, not at the next tick.
        if known_height != Some(state.height) {
            self.gossip_due = true;
        }
        self.peer_gossip.on_state(from, &state);
        // Deciding height h means h - 1 is committed: block sync's view of the peer's head.
        self.sync.saw_height(from, state.height.saturating_sub(1));
        let holds_something = !state.proposals.is_empty() || !state.votes.is_empty();
        if self.pending_start.is_some_and(|committed| {
            state.height > committed + 1 || (state.height == committed + 1 && holds_something)
        }) {
            // A peer has moved on to the height this node waits to start: there is something to decide.
            self.maybe_start_height(true)?;
        }
        self.request_blocks_if_behind();
        Ok(())
    }

    /// A member is back (its first state since it connected): gossip does not replay what it missed, so the
    /// pending transactions are published again. Otherwise a transaction admitted here while the member was cut
    /// off waits until this node proposes, and the member's later transactions of the same key wait behind it.
    fn regossip_mempool(&mut self) {
        for bytes in self.mempool.pending().take(MAX_REGOSSIP) {
            self.net.send(NetCommand::PublishTx(bytes.to_vec())).ok();
        }
    }

    /// A committed block a peer sent because this node seemed to be deciding its height. Verified and applied as
    /// block sync would; one for another height (this node moved on since) is ignored.
    pub(super) fn on_peer_commit(&mut self, from: PeerId, block: SyncedBlock) -> Result<()> {
        let height = match CommitCertificate::from_bytes(block.certificate.as_slice()) {
            Ok(cert) => cert.height,
            Err(e) => {
                self.net
                    .send(NetCommand::Penalise {
                        peer: from,
                        reason: format!("commit: {e}"),
                    })
                    .ok();
                return Ok(());
            }
        };
        if height != self.ledger.head().height + 1 {
            return Ok(());
        }
        self.apply_blocks(from, vec![block]).map(|_| ())
    }
}
