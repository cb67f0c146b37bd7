//! Members that are down for a long time (issue 20): the proposer rule must stop waiting for them at round 0,
//! probe them now and then, and take them back soon after they return.

use super::{Rng, Scenario, Sim};
use clearance_core::block::HeaderView;

/// A committed block as the proposer rule sees it: height, proposer's validator index, and time in ms since the
/// start of the run.
#[derive(Debug, Clone)]
pub struct BlockSeen {
    pub height: u64,
    pub proposer: usize,
    pub at_ms: u64,
}

/// When the absent members go away, and how long the run goes on after they return.
pub const DOWN_AT_MS: u64 = 2_000;
pub const AFTER_RETURN_MS: u64 = 32_000;

impl Scenario {
    /// `n` honest members under steady load on a clean network; `f` of them are away from [`DOWN_AT_MS`] for
    /// 30–45 s: crashed (their peers see them disconnected) or, with `stuck`, connected and voting but with no
    /// proposal arriving. The heal comes [`AFTER_RETURN_MS`] after they return.
    pub fn absent(seed: u64, n: usize, stuck: bool) -> Scenario {
        let mut s = Scenario::random(seed, n, 0);
        let mut rng = Rng::new(seed ^ 0x6162_7365);
        let f = (n - 1) / 3;
        let down_ms = rng.range(30_000, 45_000);
        let first = rng.range(0, n as u64 - 1) as usize;
        s.partitions.clear();
        s.loss = 0.0;
        s.duplication = 0.0;
        s.max_delay_ms = rng.range(1, 40);
        s.submit_every_ms = rng.range(30, 80);
        let away: Vec<usize> = (0..f).map(|k| (first + k * 2) % n).collect();
        s.crashes.clear();
        s.mutes.clear();
        for &slot in &away {
            match stuck {
                true => s.mutes.push((slot, DOWN_AT_MS, DOWN_AT_MS + down_ms)),
                false => s.crashes.push((slot, DOWN_AT_MS, down_ms, false)),
            }
        }
        s.wipes = vec![false; s.crashes.len()];
        s.heal_at = DOWN_AT_MS + down_ms + AFTER_RETURN_MS;
        s.record_blocks = true;
        s
    }
}

impl Sim {
    /// Every block the `reference` slot committed, for the proposer checks.
    pub(super) fn blocks_seen(&mut self, reference: usize) -> Vec<BlockSeen> {
        let wall_start = self.clock.wall_start_ms;
        let members: Vec<_> = self.genesis.members.iter().map(|m| m.id.clone()).collect();
        let ledger = self.slots[reference].driver().ledger();
        let head = ledger.head().height;
        (1..=head)
            .filter_map(|h| {
                let block = ledger.store().block(h).ok()??;
                let header = HeaderView::from_bytes(block.header.as_slice()).ok()?.header;
                Some(BlockSeen {
                    height: h,
                    proposer: members.iter().position(|m| *m == header.proposer)?,
                    at_ms: header.time.as_millis().saturating_sub(wall_start),
                })
            })
            .collect()
    }
}

impl Scenario {
    /// The absent members and when they return: `(slots, return time in ms)`.
    pub fn away(&self) -> (Vec<usize>, u64) {
        let crashed = self.crashes.iter().map(|c| (c.0, c.1 + c.2));
        let muted = self.mutes.iter().map(|m| (m.0, m.2));
        let all: Vec<(usize, u64)> = crashed.chain(muted).collect();
        let back = all.iter().map(|a| a.1).max().unwrap_or(0);
        (all.into_iter().map(|a| a.0).collect(), back)
    }
}
