//! Block sync: a node that is behind (fresh, restarted or cut off) asks a peer for committed blocks with their
//! commit certificates, verifies each certificate against its validator set, executes and commits the blocks,
//! and rejoins consensus at the head.

use super::{Driver, PeerHeights};
use crate::consensus::Input;
use crate::execute::ExecError;
use crate::ledger::InvalidBlock;
use crate::metrics::Metrics;
use crate::network::NetCommand;
use crate::network::wire::{
    SYNC_BATCH_BLOCKS, SYNC_BATCH_BYTES, SyncRequest, SyncResponse, SyncedBlock,
};
use anyhow::{Context, Result};
use clearance_core::block::Block;
use clearance_core::bytes::Bytes;
use clearance_core::vote::CommitCertificate;
use libp2p::PeerId;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A request without an answer for this long is abandoned and another peer asked.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

pub struct SyncState {
    heights: PeerHeights,
    in_flight: Option<(PeerId, Instant)>,
    /// Progress accounting for the log: when syncing started, and from which height.
    started: Option<(Instant, u64)>,
    last_log: Instant,
    records: u64,
    /// When each peer was last asked for its status because its messages showed it ahead.
    asked: std::collections::BTreeMap<PeerId, Instant>,
}

impl SyncState {
    pub fn new(now: Instant) -> SyncState {
        SyncState {
            heights: PeerHeights::new(),
            in_flight: None,
            started: None,
            last_log: now,
            records: 0,
            asked: std::collections::BTreeMap::new(),
        }
    }

    pub fn best_height(&self) -> u64 {
        self.heights.values().copied().max().unwrap_or(0)
    }

    /// Behind by more than the one block consensus itself is deciding.
    pub fn is_syncing(&self, height: u64) -> bool {
        self.best_height() > height + 1 || self.in_flight.is_some()
    }

    /// Records the height a peer reported for its own head.
    pub fn saw_height(&mut self, peer: PeerId, height: u64) {
        self.heights.insert(peer, height);
    }

    pub fn request_failed(&mut self, peer: PeerId) {
        if self.in_flight.map(|(p, _)| p) == Some(peer) {
            self.in_flight = None;
        }
    }

    /// Whether to ask `peer` for its status now: at most once a second.
    pub fn may_ask_status(&mut self, peer: PeerId, now: Instant) -> bool {
        match self.asked.get(&peer) {
            Some(at) if now.duration_since(*at) < Duration::from_secs(1) => false,
            _ => {
                self.asked.insert(peer, now);
                true
            }
        }
    }

    pub fn peer_gone(&mut self, peer: PeerId) {
        self.heights.remove(&peer);
        self.asked.remove(&peer);
        self.request_failed(peer);
    }

    pub fn log_progress(&mut self, height: u64, now: Instant) {
        let Some((since, from)) = self.started else {
            return;
        };
        let target = self.best_height();
        let secs = now.duration_since(since).as_secs_f64().max(1e-3);
        let blocks_rate = (height - from) as f64 / secs;
        let records_rate = self.records as f64 / secs;
        if height >= target && self.in_flight.is_none() {
            tracing::info!(
                height,
                blocks = height - from,
                records = self.records,
                "block sync caught up: {blocks_rate:.0} blocks/s, {records_rate:.0} records/s"
            );
            self.started = None;
            return;
        }
        if now.duration_since(self.last_log) >= PROGRESS_EVERY {
            self.last_log = now;
            tracing::info!(
                "block sync: height {height} of {target}, {blocks_rate:.0} blocks/s, {records_rate:.0} records/s"
            );
        }
    }
}

impl Driver {
    pub(super) fn request_blocks_if_behind(&mut self) {
        let height = self.ledger.head().height;
        if let Some((_, at)) = self.sync.in_flight {
            if self.clock.now().duration_since(at) < REQUEST_TIMEOUT {
                return;
            }
            self.sync.in_flight = None;
        }
        // A peer one block ahead is normally the decider of the block this node is about to commit itself; only
        // when consensus here has stalled is that block fetched instead.
        let stalled = self.pending_start.is_none() && self.stalled();
        let behind = |h: u64| h > height + 1 || (h > height && stalled);
        let Some(peer) = self
            .sync
            .heights
            .iter()
            .filter(|(p, h)| self.peers.contains(p) && behind(**h))
            .max_by_key(|(_, h)| **h)
            .map(|(p, _)| *p)
        else {
            return;
        };
        if self.sync.started.is_none() {
            let target = self.sync.best_height();
            tracing::info!(%peer, "block sync: at height {height}, peers report {target}; fetching blocks");
            self.sync.started = Some((self.clock.now(), height));
            self.sync.records = 0;
        }
        self.sync.in_flight = Some((peer, self.clock.now()));
        self.net
            .send(NetCommand::Request {
                peer,
                req: SyncRequest::Blocks {
                    from: height + 1,
                    max: SYNC_BATCH_BLOCKS,
                },
            })
            .ok();
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
        }
    }

    pub(super) fn on_response(&mut self, from: PeerId, resp: SyncResponse) -> Result<()> {
        match resp {
            SyncResponse::Status { height, .. } => {
                self.sync.saw_height(from, height);
                self.request_blocks_if_behind();
            }
            SyncResponse::Blocks(blocks) => {
                let mut requested = None;
                if let Some((peer, at)) = self.sync.in_flight
                    && peer == from
                {
                    self.sync.in_flight = None;
                    requested = Some(at);
                }
                if blocks.is_empty() {
                    // It claimed blocks it does not serve: believe its next status answer instead.
                    self.sync.saw_height(from, self.ledger.head().height);
                }
                let applied = self.apply_blocks(from, blocks)?;
                if let Some(at) = requested
                    && applied > 0
                {
                    let secs = self.clock.now().duration_since(at).as_secs_f64().max(1e-6);
                    self.metrics
                        .histograms
                        .block_sync_blocks_per_second
                        .observe(applied as f64 / secs);
                }
                self.request_blocks_if_behind();
            }
            SyncResponse::Error(e) => tracing::debug!(peer = %from, "sync request refused: {e}"),
        }
        Ok(())
    }

    /// Verifies and commits synced blocks in order, stopping at the first that fails; returns how many it committed.
    pub(super) fn apply_blocks(&mut self, from: PeerId, blocks: Vec<SyncedBlock>) -> Result<usize> {
        let mut last = None;
        let mut applied = 0;
        for synced in blocks {
            let decoded = Block::from_bytes(synced.block.as_slice()).and_then(|b| {
                CommitCertificate::from_bytes(synced.certificate.as_slice()).map(|c| (b, c))
            });
            let (block, cert) = match decoded {
                Ok(x) => x,
                Err(e) => {
                    self.penalise(from, format!("synced block: {e}"));
                    break;
                }
            };
            if cert.height <= self.ledger.head().height {
                continue;
            }
            match self.ledger.apply_synced(&block, &cert) {
                Ok(committed) => {
                    self.sync.records += committed.accepted as u64;
                    Metrics::inc(&self.metrics.blocks_synced_total);
                    self.after_commit(&committed);
                    last = Some(committed.height);
                    applied += 1;
                }
                Err(InvalidBlock::Exec(ExecError::Storage(e))) => {
                    return Err(e).context("committing a synced block");
                }
                Err(e) => {
                    self.penalise(from, format!("synced block {}: {e}", cert.height));
                    break;
                }
            }
        }
        if let Some(height) = last {
            // Rejoin consensus at the new head at once: a syncing node has no reason to wait for transactions.
            if self.machine.height() <= height {
                self.pending_start = None;
                self.timers.clear();
                let next_validators = self.ledger.validators().clone();
                self.inputs.push_back(Input::HeightCommitted {
                    height,
                    next_validators,
                });
            }
        }
        Ok(applied)
    }

    /// Answers a request for blocks on a blocking thread, reading committed blocks straight from storage, so that
    /// a peer catching up never delays this node's votes. At most [`MAX_SERVING`] are served at once; a peer
    /// asking beyond that is told to retry.
    pub(super) fn serve_blocks(&mut self, id: u64, from: u64, max: u32) {
        let Some(slot) = ServingSlot::take(&self.serving) else {
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

/// One of the [`MAX_SERVING`] places, given back when the answer has been read (dropped).
struct ServingSlot(Arc<AtomicUsize>);

impl ServingSlot {
    fn take(serving: &Arc<AtomicUsize>) -> Option<ServingSlot> {
        serving
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_SERVING).then_some(n + 1)
            })
            .ok()
            .map(|_| ServingSlot(serving.clone()))
    }
}

impl Drop for ServingSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
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
