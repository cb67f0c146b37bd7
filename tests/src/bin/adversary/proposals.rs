//! The attacks of a proposer, made in every round the members are deciding (those where the adversary is not the
//! proposer are ignored):
//! - `double-proposals`: two proposals for two different valid blocks, one to the first member it is connected to
//!   and the other to the rest. The blocks are empty, so the parent's header is all it needs to build them: it
//!   asks a member for that block by block sync.
//! - `junk-blocks`: one proposal, to every member, of a block holding a validly signed transaction of a key nobody
//!   registered, with the roots a ledger that executes it as refused (`SUBMITTER_UNKNOWN`) computes: a block the
//!   members accepted before the proposer rules, committing junk.

use super::Adversary;
use clearance_core::Hash32;
use clearance_core::block::{Block, Header, HeaderView, Outcome, TxResult};
use clearance_core::bytes::Bytes;
use clearance_core::crypto::SecretKey;
use clearance_core::ids::ReasonCode;
use clearance_core::record::{MraAccept, Record};
use clearance_core::time::Timestamp;
use clearance_core::tx::{SignedTx, TxBody};
use clearance_core::vote::{Proposal, SignedProposal};
use clearance_node::consensus::Message;
use clearance_node::network::wire::{self, ConsensusItem, ConsensusRequest, SyncRequest};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    DoubleProposals,
    JunkBlocks,
}

pub struct Proposer {
    mode: Mode,
    /// The (height, round) last equivocated at.
    done: Option<(u64, u32)>,
    /// The height whose parent was last asked for, and when (in ticks).
    asked: Option<(u64, u64)>,
    ticks: u64,
}

impl Proposer {
    pub fn new(mode: Mode) -> Proposer {
        Proposer {
            mode,
            done: None,
            asked: None,
            ticks: 0,
        }
    }

    pub fn step(&mut self, a: &mut Adversary) {
        self.ticks += 1;
        let (height, round) = (a.height, a.round);
        if height < 2 || self.done == Some((height, round)) {
            return;
        }
        // Who proposes depends on committed history (clearance_core::proposer) that this adversary does not
        // keep, so it proposes in every round it sees: the members ignore the rounds that are not its own.
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
        if self.mode == Mode::JunkBlocks {
            let junk = proposal_item(a, &parent, round, time, Some(junk_tx(a, height, round)));
            for peer in &peers {
                a.swarm
                    .behaviour_mut()
                    .consensus
                    .send_request(peer, ConsensusRequest(vec![junk.clone()]));
            }
            a.sent += peers.len() as u64;
            self.done = Some((height, round));
            tracing::info!(height, round, "junk block proposed");
            return;
        }
        let one = proposal_item(a, &parent, round, time, None);
        let other = proposal_item(a, &parent, round, time + 1, None);
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

/// A transaction signed by a key made up for (height, round), which no member registered, and its result as a
/// ledger without the proposer rules executes it.
fn junk_tx(a: &Adversary, height: u64, round: u32) -> (Bytes, TxResult) {
    let mut seed = *Hash32::sha256(format!("junk {height} {round}").as_bytes()).as_bytes();
    seed[0] ^= 0x5a;
    let key = SecretKey::from_seed(seed);
    let body = TxBody {
        chain_id: a.chain_id,
        submitter: key.public_key(),
        sequence: 1,
        record: Record::MraAccept(MraAccept {
            proposal: Hash32::sha256(b"no such proposal"),
            acceptor: a.me.clone(),
        }),
    };
    let signed = SignedTx::sign(&body, &key);
    let result = TxResult {
        tx_id: signed.id(),
        outcome: Outcome::Rejected {
            code: ReasonCode::parse("SUBMITTER_UNKNOWN").expect("a reason code"),
        },
    };
    (Bytes(signed.to_bytes()), result)
}

/// A signed proposal of a block on `parent`, timed `time_ms`: empty, or holding one transaction and its result.
fn proposal_item(
    a: &Adversary,
    parent: &HeaderView,
    round: u32,
    time_ms: u64,
    tx: Option<(Bytes, TxResult)>,
) -> Arc<Vec<u8>> {
    let (txs, results): (Vec<Bytes>, Vec<TxResult>) = tx.into_iter().unzip();
    let p = &parent.header;
    let header = Header {
        chain_id: a.chain_id,
        height: p.height + 1,
        time: Timestamp::from_millis(time_ms).unwrap_or(p.time),
        parent_hash: parent.hash,
        proposer: a.me.clone(),
        tx_count: txs.len() as u32,
        tx_root: clearance_core::block::tx_root(&txs),
        results_root: clearance_core::block::results_root(&results),
        log_size: p.log_size,
        log_root: p.log_root,
        validator_set_hash: p.next_validator_set_hash,
        next_validator_set_hash: p.next_validator_set_hash,
        // The junk transaction is refused before it writes anything.
        state_root: p.state_root,
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
        txs,
    };
    Arc::new(wire::encode_item(&ConsensusItem::Message(
        Message::Proposal {
            proposal: SignedProposal::sign(&proposal, &a.key),
            block,
        },
    )))
}
