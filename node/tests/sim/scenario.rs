//! What a run is made of, drawn from its seed: members and their behaviours, delays, loss, partitions, crashes,
//! the heal, and (for the membership runs) the changes of members.

use super::{Rng, membership};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    Honest,
    /// Never starts.
    Silent,
    /// Sends half of its peers another proposal than the one it made (valid or not), and relays others'
    /// proposals to them with made-up transaction ids.
    EquivocatingProposer,
    /// Sends half of its peers a conflicting vote instead of each of its own.
    DoubleVoter,
    /// One of two nodes sharing a validator key.
    Twin,
    /// Drops half of what it sends, then stops at `silent_at`.
    SelectiveThenSilent,
}

/// What a run is made of; drawn from the seed.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub n: usize,
    /// Behaviour per slot. Slots `0..n` are validators `0..n`; a twin adds slot `n` with validator `twin_of`.
    pub behaviors: Vec<Behavior>,
    pub twin_of: Option<usize>,
    /// Which slots each twin instance may talk to.
    pub twin_groups: Option<(BTreeSet<usize>, BTreeSet<usize>)>,
    pub max_delay_ms: u64,
    pub loss: f64,
    pub duplication: f64,
    /// `(from, to, groups)`: slots in different groups are disconnected in `[from, to)` (ms).
    pub partitions: Vec<(u64, u64, Vec<BTreeSet<usize>>)>,
    /// `(slot, at, down_ms, after_signing)`: with `after_signing`, the crash strikes the first time the member
    /// signs from `at` on, after it persisted and before it sent anything.
    pub crashes: Vec<(usize, u64, u64, bool)>,
    /// For each crash: whether the operator then deletes the member's data directory (its keys and validator
    /// state file stay), so that it restarts from genesis; for one crash at most. Drawn from a stream of its
    /// own, so that the draws above are those of the seed before wipes existed.
    pub wipes: Vec<bool>,
    pub heal_at: u64,
    /// When a `SelectiveThenSilent` member stops.
    pub silent_at: u64,
    /// One agency submission every this many ms, round robin over the members' agencies.
    pub submit_every_ms: u64,
    /// Heights every honest member must commit after the heal, within `liveness_bound_ms`.
    pub heights_after_heal: u64,
    pub liveness_bound_ms: u64,
    /// Admission, key rotation and removal during the run (the last slot is the member to admit).
    pub membership: Option<membership::Plan>,
    /// Report every committed block (`Report::blocks`).
    pub record_blocks: bool,
    /// `(slot, from, to)`: the slot's proposals are lost in `[from, to)` (ms) while it stays connected and votes,
    /// as when a node is up but its proposals never arrive in time.
    pub mutes: Vec<(usize, u64, u64)>,
}

impl Scenario {
    /// A random scenario with `n` validators and `byzantine` of them faulty (at most f).
    pub fn random(seed: u64, n: usize, byzantine: usize) -> Scenario {
        let mut rng = Rng::new(seed);
        let mut behaviors = vec![Behavior::Honest; n];
        let mut twin_of = None;
        let mut picks: Vec<usize> = (0..n).collect();
        for i in 0..byzantine {
            let j = i + rng.range(0, (n - 1 - i) as u64) as usize;
            picks.swap(i, j);
            let who = picks[i];
            let kind = match rng.range(0, 4) {
                0 => Behavior::Silent,
                1 => Behavior::EquivocatingProposer,
                2 => Behavior::DoubleVoter,
                3 => Behavior::SelectiveThenSilent,
                _ if twin_of.is_none() => Behavior::Twin,
                _ => Behavior::DoubleVoter,
            };
            behaviors[who] = kind;
            if kind == Behavior::Twin {
                twin_of = Some(who);
            }
        }
        let honest: Vec<usize> = (0..n)
            .filter(|i| behaviors[*i] == Behavior::Honest)
            .collect();
        let twin_groups = twin_of.map(|t| {
            behaviors.push(Behavior::Twin);
            let mut a = BTreeSet::from([t]);
            let mut b = BTreeSet::from([n]);
            for (k, h) in honest.iter().enumerate() {
                // Each side gets at least one honest member.
                if k == 0 || (k != 1 && rng.chance(0.5)) {
                    a.insert(*h);
                } else {
                    b.insert(*h);
                }
            }
            (a, b)
        });
        let slots = behaviors.len();
        let heal_at = rng.range(0, 6_000);
        let mut partitions = Vec::new();
        let mut t = 0;
        while t + 500 < heal_at && rng.chance(0.6) {
            let from = rng.range(t, heal_at - 1);
            let to = rng.range(from + 1, heal_at);
            let mut groups = vec![BTreeSet::new(), BTreeSet::new()];
            for s in 0..slots {
                groups[rng.range(0, 1) as usize].insert(s);
            }
            partitions.push((from, to, groups));
            t = to;
        }
        let mut crashes = Vec::new();
        for &h in &honest {
            if heal_at > 1000 && rng.chance(0.4) {
                let at = rng.range(0, heal_at - 500);
                let down = rng.range(20, heal_at - at);
                crashes.push((h, at, down, rng.chance(0.6)));
            }
        }
        // At most one member's data per run: with the data of several deleted, every copy of a committed block
        // may be gone, which no protocol can recover (and the validator state files then rightly refuse to
        // decide those heights again).
        // Only in runs without a Byzantine member: a wiped member keeps its lock but not the proof of lock, so at
        // that height it may count as faulty for liveness (docs/node.md §7), and f is already spent.
        let mut wipe_rng = Rng::new(seed ^ 0x7769_7065);
        let mut wiped = behaviors.iter().any(|b| *b != Behavior::Honest);
        let wipes = crashes
            .iter()
            .map(|_| {
                let wipe = !wiped && wipe_rng.chance(0.3);
                wiped |= wipe;
                wipe
            })
            .collect();
        Scenario {
            n,
            behaviors,
            twin_of,
            twin_groups,
            max_delay_ms: rng.range(1, 150),
            loss: if rng.chance(0.5) {
                rng.range(0, 30) as f64 / 100.0
            } else {
                0.0
            },
            duplication: rng.range(0, 10) as f64 / 100.0,
            partitions,
            crashes,
            wipes,
            heal_at,
            silent_at: rng.range(0, heal_at + 5000),
            submit_every_ms: rng.range(40, 300),
            heights_after_heal: 3,
            liveness_bound_ms: 60_000,
            membership: None,
            record_blocks: false,
            mutes: Vec::new(),
        }
    }

    /// A run of 4 honest members with crashes, partitions, loss and delays, during which a fifth member is
    /// admitted, a validator key rotated and a member removed ([`membership::Plan`]).
    pub fn with_membership(seed: u64, byzantine: usize) -> Scenario {
        let mut s = Scenario::random(seed, 4, byzantine);
        // The member to admit takes the slot after the genesis members: a twin would need it too, so a twin
        // drawn here becomes a double voter.
        if let Some(t) = s.twin_of.take() {
            s.behaviors.truncate(s.n);
            s.behaviors[t] = Behavior::DoubleVoter;
            s.twin_groups = None;
            for (_, _, groups) in &mut s.partitions {
                for g in groups.iter_mut() {
                    g.retain(|slot| *slot < s.n);
                }
            }
        }
        s.behaviors.push(Behavior::Honest);
        s.membership = Some(membership::Plan::draw(seed, &s));
        s
    }

    /// The validator a slot signs as: its own index, a twin's original, or the member to be admitted.
    pub fn validator_of(&self, slot: usize) -> usize {
        match self.twin_of {
            Some(t) if slot >= self.n => t,
            _ => slot,
        }
    }

    pub fn honest(&self, slot: usize) -> bool {
        self.behaviors[slot] == Behavior::Honest
    }
}
