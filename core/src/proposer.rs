//! Who proposes in each round of a height, computed by every member from committed headers only (issue 20).
//!
//! Plain Tendermint rotation gives round 0 of every n-th height to each member, so a member that is down makes
//! every n-th height wait out its proposal timeout. Here round 0 rotates over the members that are *active*:
//! those that proposed one of the last `WINDOW_PER_MEMBER · n` committed blocks (every member while the chain
//! is younger than that window, and every member admitted within it). An inactive member gets round 0 of one
//! *probe* height every [`PROBE_INTERVAL_MS`] of block time, so a member that comes back proposes again within
//! about that long. The later rounds of a height go to the other members in a fixed order, each once per n
//! rounds, so liveness does not depend on the rule: it only changes who proposes first, never what a quorum
//! is, so it cannot break safety. docs/consensus.md §7 gives the argument, docs/protocol.md §13 the rule.

use crate::ids::CountryCode;
use crate::validator::{Validator, ValidatorSet};

/// The window of committed blocks read, in blocks per member of the set: a member that proposed none of the
/// last `3·n` blocks missed (at least) its last three turns in a row.
pub const WINDOW_PER_MEMBER: u64 = 3;

/// Block time between two probes of the same inactive member (each probe costs one proposal timeout if the
/// member is still down).
pub const PROBE_INTERVAL_MS: u64 = 20_000;

/// What the rule reads of one committed block: its height, the member named in its header as proposer, and
/// its time in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedBlock {
    pub height: u64,
    pub proposer: CountryCode,
    pub time_ms: u64,
}

/// The committed history the rule reads to order the proposers of `height`.
#[derive(Debug, Clone, Copy)]
pub struct History<'a> {
    /// The committed blocks from `max(1, height − window)` to `height − 1`, in height order.
    pub blocks: &'a [ProposedBlock],
    /// The members in force at height `max(1, height − window)`: members of `height`'s set not among them were
    /// admitted within the window and count as active.
    pub members_at_window_start: &'a [CountryCode],
}

/// The proposers of one height in round order: round `r` goes to the validator at index `order[r mod n]` of the
/// height's set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposerOrder {
    height: u64,
    order: Vec<usize>,
    active: usize,
    probe: bool,
}

/// The number of committed blocks the rule reads for a set of `n` members.
pub fn window(n: usize) -> u64 {
    WINDOW_PER_MEMBER * n as u64
}

impl ProposerOrder {
    /// Tendermint's rotation, where round `r` of height `h` goes to index `(h + r) mod n`: what the rule gives
    /// when every member is active.
    pub fn rotation(n: usize, height: u64) -> ProposerOrder {
        let all: Vec<usize> = (0..n).collect();
        ProposerOrder {
            height,
            order: rotate(&all, height),
            active: n,
            probe: false,
        }
    }

    /// The order of `height` under `set`, from the committed `history` (see the module doc).
    pub fn new(set: &ValidatorSet, height: u64, history: History<'_>) -> ProposerOrder {
        let n = set.len();
        let window = window(n);
        if height <= window {
            // The window reaches genesis: nobody has had three turns yet.
            return ProposerOrder::rotation(n, height);
        }
        let first = height - window;
        let blocks: Vec<&ProposedBlock> = history
            .blocks
            .iter()
            .filter(|b| b.height >= first && b.height < height)
            .collect();
        let is_active = |v: &Validator| {
            !history.members_at_window_start.contains(&v.member)
                || blocks.iter().any(|b| b.proposer == v.member)
        };
        let (active, inactive): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| is_active(&set.validators()[i]));
        if active.is_empty() || inactive.is_empty() {
            return ProposerOrder::rotation(n, height);
        }
        let mut order = rotate(&active, height);
        let mut rest = inactive.clone();
        let probe = probed(&inactive, &blocks, height).inspect(|&p| {
            order.insert(0, p);
            rest.retain(|&i| i != p);
        });
        order.extend(rest);
        ProposerOrder {
            height,
            order,
            active: active.len(),
            probe: probe.is_some(),
        }
    }

    pub fn height(&self) -> u64 {
        self.height
    }

    /// The size of the set the order was computed for.
    pub fn members(&self) -> usize {
        self.order.len()
    }

    /// The index in the height's set of round `round`'s proposer.
    pub fn index(&self, round: u32) -> usize {
        let n = self.order.len() as u64;
        self.order[(u64::from(round) % n) as usize]
    }

    /// The proposer of `round`, from the set the order was computed for.
    pub fn proposer<'s>(&self, set: &'s ValidatorSet, round: u32) -> &'s Validator {
        &set.validators()[self.index(round) % set.len()]
    }

    /// How many members the rule counts as active (all of them under plain rotation).
    pub fn active(&self) -> usize {
        self.active
    }

    /// Whether round 0 probes an inactive member.
    pub fn is_probe(&self) -> bool {
        self.probe
    }
}

/// `items` rotated left by `height mod len`, so consecutive heights start at consecutive items.
fn rotate(items: &[usize], height: u64) -> Vec<usize> {
    let k = (height % items.len() as u64) as usize;
    items[k..].iter().chain(&items[..k]).copied().collect()
}

/// The inactive member that `height` probes, if any: when the last block's time crosses a multiple of
/// `PROBE_INTERVAL_MS / |inactive|` that the block before it had not, `inactive[k mod |inactive|]` with `k` the
/// multiple's number. Each inactive member is then probed about once per `PROBE_INTERVAL_MS`.
fn probed(inactive: &[usize], blocks: &[&ProposedBlock], height: u64) -> Option<usize> {
    let [.., before, last] = blocks else {
        return None;
    };
    if last.height + 1 != height || before.height + 1 != last.height {
        return None;
    }
    let count = inactive.len() as u64;
    let slot = |t: u64| t.saturating_mul(count) / PROBE_INTERVAL_MS;
    let k = slot(last.time_ms);
    (k > slot(before.time_ms)).then(|| inactive[(k % count) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;

    fn set(n: usize) -> ValidatorSet {
        let codes = ["AT", "BE", "CN", "DE", "EE", "FR", "GE"];
        ValidatorSet::new(
            (0..n)
                .map(|i| Validator {
                    member: CountryCode::parse(codes[i]).expect("code"),
                    key: SecretKey::from_seed([i as u8 + 1; 32]).public_key(),
                })
                .collect(),
        )
        .expect("set")
    }

    fn blocks(
        set: &ValidatorSet,
        heights: std::ops::Range<u64>,
        skip: &[usize],
    ) -> Vec<ProposedBlock> {
        heights
            .map(|h| {
                // Each block by the rotation's member, or the next one if that one is skipped.
                let n = set.len();
                let mut i = (h as usize) % n;
                while skip.contains(&i) {
                    i = (i + 1) % n;
                }
                ProposedBlock {
                    height: h,
                    proposer: set.validators()[i].member.clone(),
                    time_ms: 1_000_000 + h * 100,
                }
            })
            .collect()
    }

    fn members(set: &ValidatorSet) -> Vec<CountryCode> {
        set.validators().iter().map(|v| v.member.clone()).collect()
    }

    /// The order of `height` from the blocks of `history` below it, the set unchanged over the window.
    fn order_at(s: &ValidatorSet, height: u64, history: &[ProposedBlock]) -> ProposerOrder {
        let below: Vec<ProposedBlock> = history
            .iter()
            .filter(|b| b.height < height)
            .cloned()
            .collect();
        ProposerOrder::new(
            s,
            height,
            History {
                blocks: &below,
                members_at_window_start: &members(s),
            },
        )
    }

    #[test]
    fn everyone_active_is_tendermint_rotation() {
        let s = set(4);
        let history = blocks(&s, 1..100, &[]);
        for h in 13..100 {
            let o = order_at(&s, h, &history);
            assert_eq!(o, ProposerOrder::rotation(4, h));
            for r in 0..9 {
                assert_eq!(o.index(r), ((h + u64::from(r)) % 4) as usize);
            }
        }
    }

    #[test]
    fn a_silent_member_leaves_round_zero_and_keeps_a_later_round() {
        let s = set(4);
        let history = blocks(&s, 1..100, &[2]);
        let mut probes = 0;
        for h in 13..100 {
            let o = order_at(&s, h, &history);
            assert_eq!(o.active(), 3);
            let mut seen: Vec<usize> = (0..4).map(|r| o.index(r)).collect();
            seen.sort();
            assert_eq!(seen, vec![0, 1, 2, 3], "every member has a round");
            if o.is_probe() {
                probes += 1;
                assert_eq!(o.index(0), 2);
            } else {
                assert_ne!(o.index(0), 2);
                assert_eq!(o.index(3), 2);
            }
        }
        // 100 ms blocks: 8.7 s of block time, no multiple of 20 s crossed.
        assert_eq!(probes, 0);
    }

    #[test]
    fn an_inactive_member_is_probed_once_per_interval() {
        let s = set(4);
        let mut history = blocks(&s, 1..1000, &[1]);
        for b in &mut history {
            b.time_ms = b.height * 250; // 4 blocks a second: 250 s in all
        }
        let probes: Vec<u64> = (13..1000)
            .filter(|&h| order_at(&s, h, &history).is_probe())
            .collect();
        assert_eq!(probes.len(), 12, "{probes:?}");
        for w in probes.windows(2) {
            assert_eq!(w[1] - w[0], 80, "20 s of 250 ms blocks");
        }
    }

    #[test]
    fn a_member_admitted_within_the_window_is_active() {
        let s = set(4);
        let history = blocks(&s, 1..100, &[3]);
        let before: Vec<CountryCode> = members(&s)[..3].to_vec();
        let o = ProposerOrder::new(
            &s,
            99,
            History {
                blocks: &history[..98],
                members_at_window_start: &before,
            },
        );
        assert_eq!(o, ProposerOrder::rotation(4, 99));
    }

    #[test]
    fn young_chain_and_missing_history_fall_back_to_rotation() {
        let s = set(4);
        let m = members(&s);
        for h in 1..=12 {
            let o = ProposerOrder::new(
                &s,
                h,
                History {
                    blocks: &[],
                    members_at_window_start: &m,
                },
            );
            assert_eq!(o, ProposerOrder::rotation(4, h));
        }
        // No block in the window at all: nobody is active, so nobody is skipped.
        let o = ProposerOrder::new(
            &s,
            50,
            History {
                blocks: &[],
                members_at_window_start: &m,
            },
        );
        assert_eq!(o, ProposerOrder::rotation(4, 50));
    }
}
