//! Height pacing: building this node's proposal, what follows a commit (mempool, metrics, events, status),
//! and when the next height starts (transactions ready, the minimum block interval, or a peer that moved on).

use super::Driver;
use crate::consensus::Input;
use crate::execute::ExecError;
use crate::ledger::Committed;
use crate::metrics::Metrics;
use anyhow::{Context, Result};
use std::sync::Arc;

impl Driver {
    pub(super) fn build_block(&mut self, height: u64, round: u32) -> Result<()> {
        if height != self.ledger.head().height + 1 {
            return Ok(());
        }
        let Some(me) = self.me.clone() else {
            return Ok(());
        };
        let p = &self.genesis.params;
        let txs = self.mempool.reap(
            self.ledger.store(),
            p.max_block_txs as usize,
            p.max_block_bytes as usize,
        );
        let mempool = &self.mempool;
        let block = match self
            .ledger
            .build(me, txs, self.clock.wall_ms(), &|id, b| mempool.holds(id, b))
        {
            Ok(b) => b,
            Err(ExecError::Storage(e)) => return Err(e).context("reading state to build a block"),
            Err(e) => {
                // A transaction admitted to the mempool failed execution's checks: it cannot have passed
                // admission, so this is a bug; propose nothing rather than an invalid block.
                tracing::error!(height, round, "cannot build a block: {e}");
                return Ok(());
            }
        };
        self.inputs.push_back(Input::BlockToPropose {
            height,
            round,
            block,
        });
        Ok(())
    }

    /// Bookkeeping after a block is durably committed, by consensus or by block sync.
    pub(super) fn after_commit(&mut self, c: &Committed) {
        Metrics::add(&self.metrics.evidence_committed_total, c.evidence as u64);
        self.follow_membership(c.membership);
        let updated = self
            .mempool
            .update(&c.tx_ids, self.ledger.store(), c.height + 1);
        if updated.dropped > 0 {
            tracing::debug!(
                dropped = updated.dropped,
                "mempool re-check dropped transactions"
            );
        }
        let h = &self.metrics.histograms;
        let now = self.clock.wall_ms();
        for admitted in updated.admitted_ms {
            h.commit_latency_seconds
                .observe(now.saturating_sub(admitted) as f64 / 1000.0);
        }
        let committed_at = self.clock.now();
        // Progress: an isolated node's next key try waits the shortest time again.
        self.isolated_wait = super::membership::ISOLATED_SWITCH;
        if let Some(last) = self.last_commit.replace(committed_at) {
            h.block_interval_seconds
                .observe_duration(committed_at.duration_since(last));
        }
        Metrics::set(&self.metrics.height, c.height);
        self.metrics
            .committed_txs_total
            .fetch_add(c.tx_ids.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.metrics
            .accepted_records_total
            .fetch_add(c.accepted as u64, std::sync::atomic::Ordering::Relaxed);
        self.metrics
            .rejected_txs_total
            .fetch_add(c.rejected as u64, std::sync::atomic::Ordering::Relaxed);
        if !c.tx_ids.is_empty() {
            tracing::info!(
                height = c.height,
                hash = %&c.hash.to_hex()[..12],
                txs = c.tx_ids.len(),
                accepted = c.accepted,
                rejected = c.rejected,
                "committed block"
            );
        } else {
            tracing::debug!(height = c.height, "committed empty block");
        }
        self.pending_start = Some(c.height);
        self.publish_status();
        self.publish_events(c);
    }

    /// Sends the block's accepted records to event-stream subscribers, if there are any.
    pub(super) fn publish_events(&self, c: &Committed) {
        if self.events.receiver_count() == 0 {
            return;
        }
        for log_index in c.log_range.clone() {
            match crate::query::record_at(self.ledger.store(), log_index) {
                Ok(Some(record)) => {
                    let _ = self.events.send(Arc::new(record));
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(log_index, "cannot read a committed record for events: {e}")
                }
            }
        }
    }

    /// Starts the next height once there is something to order: a transaction, a peer already at that height,
    /// or the heartbeat.
    pub(super) fn maybe_start_height(&mut self, peer_moved_on: bool) -> Result<()> {
        self.start_at = None;
        let Some(height) = self.pending_start else {
            return Ok(());
        };
        let since_block = self
            .clock
            .wall_ms()
            .saturating_sub(self.ledger.head().time.as_millis());
        let heartbeat = since_block >= u64::from(self.genesis.params.heartbeat_ms);
        if !(peer_moved_on || heartbeat || self.mempool.has_ready(self.ledger.store())) {
            return Ok(());
        }
        let paced_until = self.height_started + self.min_block_interval;
        if !(peer_moved_on || heartbeat) && self.clock.now() < paced_until {
            self.start_at = Some(paced_until);
            return Ok(());
        }
        self.height_started = self.clock.now();
        self.pending_start = None;
        self.timers.clear();
        let next_validators = self.ledger.validators().clone();
        let next_proposers = self.ledger.proposers().clone();
        tracing::debug!(height = height + 1, peer_moved_on, "starting height");
        self.feed(Input::HeightCommitted {
            height,
            next_validators,
            next_proposers,
        })?;
        self.publish_status();
        Ok(())
    }
}
