//! `double-proposals`: when the adversary is the proposer of the round the members are deciding, it signs two
//! proposals for two different valid blocks and sends one to the first member it is connected to and the other
//! to the rest. The blocks are empty (no transactions), so the parent's header is all it needs: it asks a member
//! for that block by block sync.

use super::Adversary;
use clearance_core::block::{Block, Header, HeaderView};
use clearance_core::time::Timestamp;
use clearance_core::vote::{Proposal, SignedProposal};
use clearance_node::consensus::Message;
use clearance_node::network::wire::{self, ConsensusItem, ConsensusRequest, SyncRequest};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Default)]
pub struct Equivocator {
    /// The (height, round) last equivocated at.
    done: Option<(u64, u32)>,
    /// The height whose parent was last asked for, and when (in ticks).
    asked: Option<(u64, u64)>,
    ticks: u64,
}

impl Equivocator {
    pub fn step(&mut self, a: &mut Adversary) {
        self.ticks += 1;
        let (height, round) = (a.height, a.round);
        if height < 2 || self.done == Some((height, round)) {
            return;
        }
        if a.set.proposer(height, round).member != a.me {
            return;
        }
        let Some(parent) = a.head.clone().filter(|h| h.header.height + 1 == height) else {
            // Asked again after a second without an answer.
            if self
                .asked
                .is_none_or(|(h, at)| h != height || self.ticks > at + 200)
                && let Some(peer) = a.connected.iter().min().copied()
            {
                a.swarm.behaviour_mut().sync.send_request(
                    &peer,
                    SyncRequest::Blocks {
                        from: height - 1,
                        max: 1,
                    },
                );
                self.asked = Some((height, self.ticks));
            }
            return;
        };
        let mut peers: Vec<_> = a.connected.iter().copied().collect();
        peers.sort();
        let Some((first, rest)) = peers.split_first() else {
            return;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let time = now.max(parent.header.time.as_millis() + 1);
        let one = proposal_item(a, &parent, round, time);
        let other = proposal_item(a, &parent, round, time + 1);
        a.swarm
            .behaviour_mut()
            .consensus
            .send_request(first, ConsensusRequest(vec![one]));
        for peer in rest {
            a.swarm
                .behaviour_mut()
                .consensus
                .send_request(peer, ConsensusRequest(vec![other.clone()]));
        }
        a.sent += 1 + rest.len() as u64;
        self.done = Some((height, round));
        tracing::info!(height, round, "two proposals sent");
    }
}

/// A signed proposal of an empty block on `parent`, timed `time_ms`.
fn proposal_item(a: &Adversary, parent: &HeaderView, round: u32, time_ms: u64) -> Arc<Vec<u8>> {
    let p = &parent.header;
    let header = Header {
        chain_id: a.chain_id,
        height: p.height + 1,
        time: Timestamp::from_millis(time_ms).unwrap_or(p.time),
        parent_hash: parent.hash,
        proposer: a.me.clone(),
        tx_count: 0,
        tx_root: clearance_core::block::tx_root(&[]),
        results_root: clearance_core::block::results_root(&[]),
        log_size: p.log_size,
        log_root: p.log_root,
        validator_set_hash: p.next_validator_set_hash,
        next_validator_set_hash: p.next_validator_set_hash,
    };
    let view = HeaderView::from_header(header);
    let proposal = Proposal {
        chain_id: a.chain_id,
        height: p.height + 1,
        round,
        valid_round: None,
        block_hash: view.hash,
        proposer: a.me.clone(),
    };
    let block = Block {
        header: view.bytes,
        txs: Vec::new(),
    };
    Arc::new(wire::encode_item(&ConsensusItem::Message(
        Message::Proposal {
            proposal: SignedProposal::sign(&proposal, &a.key),
            block,
        },
    )))
}
