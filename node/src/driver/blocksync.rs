//! Block sync: a node that is behind (fresh, restarted or cut off) asks a peer for committed blocks with their
//! commit certificates, verifies each certificate against its validator set, executes and commits the blocks,
//! and rejoins consensus at the head.

use super::Driver;
use super::sync_sources::InFlight;
use crate::consensus::Input;
use crate::execute::{Checked, ExecError, verify_ahead};
use crate::ledger::InvalidBlock;
use crate::metrics::Metrics;
use crate::network::wire::{
    SYNC_BATCH_BLOCKS, SYNC_BATCH_BYTES, SyncRequest, SyncResponse, SyncedBlock,
};
use crate::network::{Asked, NetCommand};
use anyhow::{Context, Result};
use clearance_core::block::Block;
use clearance_core::bytes::Bytes;
use clearance_core::vote::CommitCertificate;
use libp2p::PeerId;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;

impl Driver {
    pub(super) fn request_blocks_if_behind(&mut self) {
        let now = self.clock.now();
        let height = self.ledger.head().height;
        // A peer one block ahead is normally the decider of the block this node is about to commit itself; only
        // when consensus here has stalled is that block fetched instead.
        let stalled = self.pending_start.is_none() && self.stalled();
        let behind = |h: u64| h > height + 1 || (h > height && stalled);
        // A slow request is abandoned early when a peer other than the one asked could answer instead.
        if let Some(asked) = self.sync.asked_peer() {
            let other = self
                .sync
                .next_source(now, |p| *p != asked && self.peers.contains(p), behind)
                .is_some();
            match self.sync.take_expired(now, other) {
                Some(expired) => {
                    tracing::info!(peer = %expired.peer, "block sync: no answer in time; asking another peer");
                }
                None => return,
            }
        }
        let Some((peer, claimed)) = self
            .sync
            .next_source(now, |p| self.peers.contains(p), behind)
        else {
            return;
        };
        if self.sync.started.is_none() {
            tracing::info!(%peer, "block sync: at height {height}, peer reports {claimed}; fetching blocks");
            self.sync.started = Some((now, height));
            self.sync.records = 0;
        }
        self.ask_blocks(InFlight {
            peer,
            at: now,
            from: height + 1,
            claimed,
        });
    }

    fn ask_blocks(&mut self, request: InFlight) {
        self.sync.asked_for_blocks(request);
        self.net
            .send(NetCommand::Request {
                peer: request.peer,
                req: SyncRequest::Blocks {
                    from: request.from,
                    max: SYNC_BATCH_BLOCKS,
                },
            })
            .ok();
    }

    /// After a full answer from a peer that claims more, asks it for the blocks that follow before applying this
    /// answer's: the peer reads and sends them while this node executes and writes, instead of both taking turns
    /// (a third of catching up was waiting for the next answer).
    fn ask_ahead(&mut self, request: &InFlight, count: usize, bytes: usize) {
        let next = request.from + count as u64;
        let full = count >= SYNC_BATCH_BLOCKS as usize || bytes >= SYNC_BATCH_BYTES;
        if count == 0 || !full || next > request.claimed || !self.peers.contains(&request.peer) {
            return;
        }
        self.ask_blocks(InFlight {
            at: self.clock.now(),
            from: next,
            ..*request
        });
    }

    fn stalled(&self) -> bool {
        self.clock.now().duration_since(self.last_progress.3) >= super::STUCK_AFTER
    }

    pub(super) fn answer(&self, req: &SyncRequest) -> SyncResponse {
        match req {
            SyncRequest::Status => {
                let head = self.ledger.head();
                SyncResponse::Status {
                    height: head.height,
                    head: head.hash,
                }
            }
            // Served off the driver by `serve_blocks`.
            SyncRequest::Blocks { .. } => SyncResponse::Blocks(Vec::new()),
            // Served with the asking peer's budget by `answer_wanted`.
            SyncRequest::Txs { .. } => SyncResponse::Txs(Vec::new()),
        }
    }

    /// An answer to this node's own request of kind `asked` (the network pairs answers with requests): blocks
    /// answer a block request, a status a status request; anything else is penalised.
    pub(super) fn on_response(
        &mut self,
        from: PeerId,
        asked: Asked,
        resp: SyncResponse,
    ) -> Result<()> {
        let now = self.clock.now();
        match (asked, resp) {
            (Asked::Status, SyncResponse::Status { height, .. }) => {
                self.sync.saw_height(from, height);
                self.request_blocks_if_behind();
            }
            (Asked::Blocks, SyncResponse::Blocks(blocks)) => {
                // `None`: the answer to an older request, abandoned since; its blocks are still taken.
                let request = self.sync.take_in_flight(from);
                let count = blocks.len();
                let bytes: usize = blocks
                    .iter()
                    .map(|b| b.block.len() + b.certificate.len())
                    .sum();
                if let Some(request) = &request {
                    self.ask_ahead(request, count, bytes);
                }
                let applied = self.apply_blocks(from, blocks)?;
                let head = self.ledger.head().height;
                if let Some(request) = request {
                    self.judge_answer(from, &request, count, bytes, applied, head, now);
                }
                self.request_blocks_if_behind();
            }
            (Asked::Txs, SyncResponse::Txs(txs)) => self.on_wanted_txs(from, txs)?,
            (_, SyncResponse::Error(e)) => {
                // A refusal (busy serving others, a rate limit) is held against the peer only from the third in a
                // row; the next request, at the next tick, goes to the peer asked least recently.
                tracing::debug!(peer = %from, "sync request refused: {e}");
                if asked == Asked::Blocks && self.sync.take_in_flight(from).is_some() {
                    self.sync.refused(from, now);
                }
            }
            (asked, _) => {
                self.penalise(
                    from,
                    format!("a sync answer of another kind than asked ({asked:?})"),
                );
                if asked == Asked::Blocks {
                    self.sync.take_in_flight(from);
                    self.sync.struck(from, now);
                }
            }
        }
        Ok(())
    }

    /// Whether an answer to a block request served: the node now holds the first block it asked for (whoever
    /// committed it: consensus or a peer's commit may have got there first), and the answer is not short of what
    /// the peer claims while under the server's limits. One that did not serve sends the peer into back-off.
    #[allow(clippy::too_many_arguments)]
    fn judge_answer(
        &mut self,
        from: PeerId,
        request: &InFlight,
        count: usize,
        bytes: usize,
        applied: usize,
        head: u64,
        now: std::time::Instant,
    ) {
        let progressed = head >= request.from;
        let short = count < SYNC_BATCH_BLOCKS as usize
            && bytes < SYNC_BATCH_BYTES
            && head < request.claimed
            && request.from + (count as u64) <= request.claimed;
        if progressed && !short {
            self.sync.served(from);
        } else {
            let backoff = self.sync.struck(from, now);
            tracing::info!(
                peer = %from,
                "block sync: {applied} of {count} blocks applied from a peer claiming height {}; \
                 not asking it for {backoff:?}",
                request.claimed
            );
        }
        if applied > 0 {
            let secs = now.duration_since(request.at).as_secs_f64().max(1e-6);
            self.metrics
                .histograms
                .block_sync_blocks_per_second
                .observe(applied as f64 / secs);
        }
    }

    /// Verifies and commits synced blocks in order, stopping at the first that fails, and syncs them to the disk
    /// before consensus goes on above them; returns how many it committed.
    pub(super) fn apply_blocks(&mut self, from: PeerId, blocks: Vec<SyncedBlock>) -> Result<usize> {
        let mut decoded = Vec::with_capacity(blocks.len());
        let mut undecodable = None;
        for synced in blocks {
            match Block::from_bytes(synced.block.as_slice()).and_then(|b| {
                CommitCertificate::from_bytes(synced.certificate.as_slice()).map(|c| (b, c))
            }) {
                Ok(x) => decoded.push(x),
                Err(e) => {
                    undecodable = Some(e);
                    break;
                }
            }
        }
        let chain_id = *self.ledger.chain_id();
        let mut committed = Vec::new();
        // Signatures are most of a synced block's checks and need no ledger state: a second thread checks each
        // block's while the block before it executes and is written.
        let outcome = std::thread::scope(|scope| -> Result<()> {
            let (ahead, checked) = std::sync::mpsc::sync_channel(2);
            let blocks = &decoded;
            scope.spawn(move || {
                let mut keys = HashMap::new();
                for (block, _) in blocks {
                    if ahead
                        .send(verify_ahead(&chain_id, &block.txs, &mut keys))
                        .is_err()
                    {
                        return;
                    }
                }
            });
            for (block, cert) in &decoded {
                let verified = checked.recv().unwrap_or_default();
                let head = self.ledger.head().height;
                if cert.height <= head {
                    continue;
                }
                if cert.height > head + 1 {
                    // Blocks asked for ahead, beyond a block that did not apply: out of reach, not wrong.
                    break;
                }
                match self
                    .ledger
                    .apply_synced(block, cert, Checked::Ahead(verified))
                {
                    Ok(c) => {
                        self.sync.records += c.accepted as u64;
                        Metrics::inc(&self.metrics.blocks_synced_total);
                        self.after_commit(&c);
                        committed.push(c.height);
                    }
                    Err(InvalidBlock::Exec(ExecError::Storage(e))) => {
                        return Err(e).context("committing a synced block");
                    }
                    Err(e) => {
                        self.penalise(from, format!("synced block {}: {e}", cert.height));
                        return Ok(());
                    }
                }
            }
            if let Some(e) = undecodable {
                self.penalise(from, format!("synced block: {e}"));
            }
            Ok(())
        });
        outcome?;
        if committed.is_empty() {
            return Ok(0);
        }
        // Before this node votes on anything above them.
        self.ledger
            .sync()
            .context("syncing synced blocks to the disk")?;
        if let Some(&height) = committed.last() {
            // Rejoin consensus at the new head at once: a syncing node has no reason to wait for transactions.
            if self.machine.height() <= height {
                self.pending_start = None;
                self.timers.clear();
                let next_validators = self.ledger.validators().clone();
                let next_proposers = self.ledger.proposers().clone();
                self.inputs.push_back(Input::HeightCommitted {
                    height,
                    next_validators,
                    next_proposers,
                });
            }
        }
        Ok(committed.len())
    }

    /// Answers a request for blocks on a blocking thread, reading committed blocks straight from storage, so that
    /// a peer catching up never delays this node's votes. At most [`MAX_SERVING`] are served at once, one per
    /// peer: a peer asking beyond that is told to retry, and one peer's flood of requests cannot take the places
    /// of the others.
    pub(super) fn serve_blocks(&mut self, peer: PeerId, id: u64, from: u64, max: u32) {
        let Some(slot) = ServingSlot::take(&self.serving, peer) else {
            self.net
                .send(NetCommand::Respond {
                    id,
                    resp: SyncResponse::Error("busy serving other peers; retry".into()),
                })
                .ok();
            return;
        };
        let store = self.ledger.shared_store();
        let head = self.ledger.head().height;
        let net = self.net.clone();
        self.background.spawn(Box::new(move || {
            let resp = read_blocks(&store, head, from, max);
            net.send(NetCommand::Respond { id, resp }).ok();
            drop(slot);
        }));
    }

    fn penalise(&self, peer: PeerId, reason: String) {
        self.net.send(NetCommand::Penalise { peer, reason }).ok();
    }
}

/// Concurrent block-sync answers this node serves.
pub const MAX_SERVING: usize = 2;

/// The peers whose block requests are being answered.
pub type Serving = Arc<Mutex<Vec<PeerId>>>;

/// One of the [`MAX_SERVING`] places, given back when the answer has been read (dropped).
struct ServingSlot {
    serving: Serving,
    peer: PeerId,
}

impl ServingSlot {
    fn take(serving: &Serving, peer: PeerId) -> Option<ServingSlot> {
        let mut peers = serving.lock().unwrap_or_else(|e| e.into_inner());
        if peers.len() >= MAX_SERVING || peers.contains(&peer) {
            return None;
        }
        peers.push(peer);
        Some(ServingSlot {
            serving: serving.clone(),
            peer,
        })
    }
}

impl Drop for ServingSlot {
    fn drop(&mut self) {
        let mut peers = self.serving.lock().unwrap_or_else(|e| e.into_inner());
        peers.retain(|p| *p != self.peer);
    }
}

fn read_blocks(store: &crate::storage::Store, head: u64, from: u64, max: u32) -> SyncResponse {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    let last = from.saturating_add(u64::from(max.min(SYNC_BATCH_BLOCKS)));
    let mut h = from.max(1);
    while h <= head && h < last && bytes < SYNC_BATCH_BYTES {
        match store.block_bytes(h) {
            Ok(Some(stored)) => {
                bytes += stored.block.len() + stored.certificate.len();
                out.push(SyncedBlock {
                    block: Bytes(stored.block),
                    certificate: Bytes(stored.certificate),
                });
            }
            Ok(None) => break,
            Err(e) => return SyncResponse::Error(e.to_string()),
        }
        h += 1;
    }
    SyncResponse::Blocks(out)
}
