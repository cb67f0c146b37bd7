//! The tick: status polls of peers, mempool gaps, block sync progress, silent members, and the status the API
//! serves.

use super::{Driver, MEMPOOL_GAP_TTL_MS, STATUS_POLL};

/// A ready transaction still pending this long after it came is published again, once: long enough that a
/// healthy network has committed it (about a second at 1,000 records/s with a member down), short against the
/// minute a gap would otherwise hold its key back.
const REGOSSIP_AFTER_MS: u64 = 2_000;
/// At most this many a second: 1 MiB of gossip at the size of an average record.
const MAX_REGOSSIP_PER_POLL: usize = 2_048;
/// A member not heard from on the consensus channel for this long is not waited for as proposer: three of the
/// round states it sends at least once a second went missing.
const QUIET: std::time::Duration = std::time::Duration::from_secs(3);
use crate::consensus::{Step, Timeout};
use crate::metrics::Metrics;
use crate::network::NetCommand;
use crate::network::wire::SyncRequest;
use crate::status::ConsensusStatus;
use anyhow::Result;
use libp2p::PeerId;

impl Driver {
    /// Whether `timeout` waits for the proposal of a member that this node has no connection to, or has heard
    /// nothing from on the consensus channel for [`QUIET`] (every member sends its round state at least once a
    /// second): then it is due at once. Prevoting nil early is always safe; waiting could only help if the
    /// proposal came relayed by another member, and a member that is down or stuck would otherwise cost a full
    /// proposal timeout each time its round comes (a probe, docs/consensus.md §7). After the network stabilises
    /// every correct member is connected and heard from every second, so the timeouts that liveness needs are
    /// untouched.
    pub(super) fn proposer_unreachable(&self, timeout: &Timeout) -> bool {
        if timeout.step != Step::Propose || timeout.height != self.ledger.head().height + 1 {
            return false;
        }
        let proposer = &self
            .ledger
            .proposers()
            .proposer(self.ledger.validators(), timeout.round)
            .member;
        if self.me.as_ref() == Some(proposer) {
            return false;
        }
        let now = self.clock.now();
        let reachable = self.peers.iter().any(|p| {
            self.members_by_peer.get(p) == Some(proposer)
                && self.gossip_health.heard_within(p, now, QUIET)
        });
        if !reachable {
            Metrics::inc(&self.metrics.unreachable_proposer_rounds_total);
        }
        !reachable
    }

    pub fn on_tick(&mut self) -> Result<()> {
        self.maybe_start_height(false)?;
        let now = self.clock.now();
        if now.duration_since(self.last_status_poll) >= STATUS_POLL {
            self.last_status_poll = now;
            let expired = self.mempool.expire_gaps(
                self.ledger.store(),
                self.clock.wall_ms(),
                MEMPOOL_GAP_TTL_MS,
            );
            if expired > 0 {
                tracing::info!(expired, "dropped transactions stuck behind a sequence gap");
            }
            let again = self.mempool.take_for_regossip(
                self.ledger.store(),
                self.clock.wall_ms(),
                REGOSSIP_AFTER_MS,
                MAX_REGOSSIP_PER_POLL,
            );
            Metrics::add(&self.metrics.regossiped_txs_total, again.len() as u64);
            for bytes in again {
                self.net.send(NetCommand::PublishTx(bytes.0)).ok();
            }
            self.request_missing_txs();
            for peer in &self.peers {
                self.net
                    .send(NetCommand::Request {
                        peer: *peer,
                        req: SyncRequest::Status,
                    })
                    .ok();
            }
            self.publish_status();
        }
        self.request_blocks_if_behind();
        self.sync
            .log_progress(self.ledger.head().height, self.clock.now());
        for peer in self.gossip_health.silent(now) {
            self.reset_gossip(peer, "nothing from this member on the consensus channel");
        }
        self.try_other_network_key();
        let progress = (
            self.machine.height(),
            self.machine.round(),
            self.machine.step(),
        );
        if (progress.0, progress.1, progress.2)
            != (
                self.last_progress.0,
                self.last_progress.1,
                self.last_progress.2,
            )
        {
            self.last_progress = (progress.0, progress.1, progress.2, now);
        }
        // Resends fall due with time alone.
        self.gossip_due = true;
        Ok(())
    }

    /// Closes the connections to a member that fell silent; the network dials it again at once.
    pub(super) fn reset_gossip(&mut self, peer: PeerId, why: &str) {
        if !self.gossip_health.may_reset(peer, self.clock.now()) {
            return;
        }
        Metrics::inc(&self.metrics.gossip_reconnects_total);
        let member = self.members_by_peer.get(&peer);
        tracing::warn!(%peer, ?member, "{why}: reconnecting to it");
        self.net.send(NetCommand::Reconnect(peer)).ok();
    }

    pub(super) fn publish_status(&mut self) {
        let head = self.ledger.head();
        let mut s = self.base_status.clone();
        s.height = head.height;
        s.head_hash = head.hash.to_hex();
        s.head_time = head.time.to_string();
        s.log_size = head.log_size;
        s.log_root = head.log_root.to_hex();
        s.state_root = head.state_root.to_hex();
        s.committed_txs = head.tx_count;
        s.consensus = match self.pending_start {
            Some(committed) => ConsensusStatus {
                height: committed + 1,
                round: 0,
                step: "waiting".into(),
                waiting_for_txs: true,
            },
            None => ConsensusStatus {
                height: self.machine.height(),
                round: self.machine.round(),
                step: format!("{:?}", self.machine.step()).to_lowercase(),
                waiting_for_txs: false,
            },
        };
        s.member = self.me.as_ref().map(|m| m.to_string());
        s.peers = self.peers.iter().map(|p| p.to_base58()).collect();
        s.syncing = self.sync.is_syncing(head.height, self.clock.now());
        s.best_peer_height = self.sync.best_height(self.clock.now());
        s.mempool_txs = self.mempool.len();
        s.mempool_bytes = self.mempool.bytes();
        Metrics::set(&self.metrics.mempool_txs, self.mempool.len() as u64);
        Metrics::set(&self.metrics.mempool_bytes, self.mempool.bytes());
        Metrics::set(&self.metrics.height, head.height);
        Metrics::set(&self.metrics.round, u64::from(self.machine.round()));
        Metrics::set(
            &self.metrics.active_proposers,
            self.ledger.proposers().active() as u64,
        );
        let ignored = self.machine.ignored();
        Metrics::set(
            &self.metrics.consensus_ignored_messages_total,
            ignored.non_member
                + ignored.bad_signature
                + ignored.wrong_chain
                + ignored.malformed
                + ignored.far_future
                + ignored.past
                + ignored.duplicate
                + ignored.not_from_proposer
                + ignored.buffer_full,
        );
        self.status.publish(s);
    }
}
