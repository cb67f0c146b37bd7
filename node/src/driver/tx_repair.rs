//! Repair of mempool gaps: a member that holds later transactions of a key but lacks an earlier one (a gossip
//! batch it never received) asks its peers for the missing ones over the sync channel, each second while the gap
//! lasts. Gossip is best effort; without this, one lost batch held back every later transaction of its keys
//! until a proposer that had it committed it, and a peer whose gossip stopped for seconds stalled the ledger.

use super::Driver;
use crate::metrics::Metrics;
use crate::network::NetCommand;
use crate::network::wire::{MAX_WANTED_TXS, SyncRequest, SyncResponse, WANTED_TXS_BYTES};
use anyhow::Result;
use clearance_core::bytes::Bytes;
use clearance_core::crypto::PublicKey;
use libp2p::PeerId;
use std::time::Duration;

/// A hole behind a transaction that has waited this long is asked for: gossip fills the usual reordering within
/// milliseconds, and a second is short against the block interval under load.
const REPAIR_AFTER_MS: u64 = 1_000;
/// Sequence numbers asked per key in one request: a lost gossip batch carries a few per key.
const WANTED_PER_KEY: usize = 16;
/// A peer's requests for transactions are served at most this often: a correct member asks once a second, and
/// each answer is copied on the driver's thread (up to 4 MiB), which a member asking 200 times a second (the
/// sync channel's limit) must not be able to keep busy. Refusals are not penalised.
const WANTED_SERVED_EVERY: Duration = Duration::from_millis(500);

impl Driver {
    /// Asks every peer for the transactions this node lacks behind waiting ones (called once a second).
    pub(super) fn request_missing_txs(&mut self) {
        let wanted = self.mempool.gaps(
            self.ledger.store(),
            self.clock.wall_ms(),
            REPAIR_AFTER_MS,
            WANTED_PER_KEY,
            MAX_WANTED_TXS,
        );
        if wanted.is_empty() {
            return;
        }
        Metrics::add(&self.metrics.wanted_txs_total, wanted.len() as u64);
        for peer in &self.peers {
            self.net
                .send(NetCommand::Request {
                    peer: *peer,
                    req: SyncRequest::Txs {
                        wanted: wanted.clone(),
                    },
                })
                .ok();
        }
    }

    /// The wanted transactions this node holds pending, within the response limits and the peer's budget.
    pub(super) fn answer_wanted(
        &mut self,
        from: PeerId,
        wanted: &[(PublicKey, u64)],
    ) -> SyncResponse {
        let now = self.clock.now();
        if self
            .wanted_served
            .get(&from)
            .is_some_and(|at| now.duration_since(*at) < WANTED_SERVED_EVERY)
        {
            return SyncResponse::Error("one request for transactions per 500 ms; retry".into());
        }
        if self.wanted_served.len() > 4096 {
            self.wanted_served.clear();
        }
        self.wanted_served.insert(from, now);
        if wanted.len() > MAX_WANTED_TXS {
            return SyncResponse::Error(format!(
                "{} transactions asked; at most {MAX_WANTED_TXS}",
                wanted.len()
            ));
        }
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for (key, sequence) in wanted {
            if let Some(tx) = self.mempool.by_sequence(key, *sequence) {
                if bytes + tx.len() > WANTED_TXS_BYTES {
                    break;
                }
                bytes += tx.len();
                out.push(Bytes(tx.to_vec()));
            }
        }
        SyncResponse::Txs(out)
    }

    /// Admits the transactions a peer sent for this node's request, each checked as a submission is. A peer
    /// that sends more than a request may ask for is penalised; transactions this node did not ask for are
    /// admitted like gossip, since every one carries its submitter's signature.
    pub(super) fn on_wanted_txs(&mut self, from: PeerId, txs: Vec<Bytes>) -> Result<()> {
        if txs.len() > MAX_WANTED_TXS {
            self.net
                .send(NetCommand::Penalise {
                    peer: from,
                    reason: format!(
                        "{} transactions for a request of at most {MAX_WANTED_TXS}",
                        txs.len()
                    ),
                })
                .ok();
            return Ok(());
        }
        let mut admitted = 0u64;
        for Bytes(tx) in txs {
            if self.admit_signed(&tx).is_ok() {
                admitted += 1;
            }
        }
        Metrics::add(&self.metrics.repaired_txs_total, admitted);
        if admitted > 0 {
            self.maybe_start_height(false)?;
        }
        Ok(())
    }
}
