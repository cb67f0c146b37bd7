//! Vote bookkeeping for one height: each member counted once per round and kind, duplicates ignored, and the
//! first conflicting pair kept as equivocation evidence.

use clearance_core::Hash32;
use clearance_core::equivocation::Equivocation;
use clearance_core::vote::{SignedVote, VoteKind};
use std::collections::{BTreeMap, BTreeSet};

/// Distinct values one member may be counted for in one round and kind. An honest member votes once. An
/// equivocator's further votes still count for the values they name, as the paper counts the senders of messages
/// for a value; liveness needs this (twins, or a double voter whose vote completed a polka elsewhere). Only
/// votes for nil or for a block this node holds a proposal for are counted beyond the first, so an equivocator
/// cannot crowd out its relevant vote with votes for made-up blocks, and the cap bounds what it can pin.
pub const MAX_VALUES_PER_VOTER: usize = 8;

/// The votes of one kind in one round: for each value, the members that voted for it.
#[derive(Debug, Default)]
pub struct Tally {
    by_value: BTreeMap<Option<Hash32>, BTreeMap<usize, SignedVote>>,
    /// The values each member voted for, in arrival order.
    voters: BTreeMap<usize, Vec<Option<Hash32>>>,
}

pub enum Added {
    New,
    Duplicate,
    /// The member already voted for something else; here is its first vote. The new vote is counted for its
    /// value unless the member is past [`MAX_VALUES_PER_VOTER`].
    Conflict(SignedVote),
}

impl Tally {
    /// `relevant`: the vote is for nil or for a block of a known proposal.
    fn add(
        &mut self,
        index: usize,
        block: Option<Hash32>,
        signed: &SignedVote,
        relevant: bool,
    ) -> Added {
        let values = self.voters.entry(index).or_default();
        if values.contains(&block) {
            return Added::Duplicate;
        }
        let first = values
            .first()
            .and_then(|v| self.by_value.get(v))
            .and_then(|m| m.get(&index))
            .cloned();
        if values.is_empty() || (relevant && values.len() < MAX_VALUES_PER_VOTER) {
            values.push(block);
            self.by_value
                .entry(block)
                .or_default()
                .insert(index, signed.clone());
        }
        match first {
            Some(first) => Added::Conflict(first),
            None => Added::New,
        }
    }

    /// Members that voted for `value` (`None` is nil).
    pub fn count(&self, value: Option<Hash32>) -> usize {
        self.by_value.get(&value).map_or(0, BTreeMap::len)
    }

    /// Members that voted for anything, nil included.
    pub fn total(&self) -> usize {
        self.voters.len()
    }

    pub fn votes_for(&self, value: Option<Hash32>) -> Vec<SignedVote> {
        self.by_value
            .get(&value)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Each voter's first vote, by validator index: what peer-state gossip sends.
    pub fn first_votes(&self) -> impl Iterator<Item = (usize, &SignedVote)> {
        self.voters.iter().filter_map(|(index, values)| {
            let vote = self.by_value.get(values.first()?)?.get(index)?;
            Some((*index, vote))
        })
    }

    /// Counts per value, for diagnostics.
    pub fn summary(&self, name: &dyn Fn(Option<Hash32>) -> String) -> String {
        self.by_value
            .iter()
            .map(|(v, m)| format!("{}:{}", name(*v), m.len()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Debug, Default)]
pub struct RoundVotes {
    pub prevotes: Tally,
    pub precommits: Tally,
}

#[derive(Debug, Default)]
pub struct VoteBook {
    rounds: BTreeMap<u32, RoundVotes>,
    /// Members heard from in each round, by any message: the `f + 1` of the round-skip rule.
    participants: BTreeMap<u32, BTreeSet<usize>>,
    /// Members and rounds already reported as equivocating, so that evidence is emitted once.
    reported: BTreeSet<(usize, u32, VoteKind)>,
}

pub enum VoteOutcome {
    New,
    Duplicate,
    Equivocation(Option<Equivocation>),
}

impl VoteBook {
    pub fn prevotes(&self, round: u32) -> Option<&Tally> {
        self.rounds.get(&round).map(|r| &r.prevotes)
    }

    pub fn precommits(&self, round: u32) -> Option<&Tally> {
        self.rounds.get(&round).map(|r| &r.precommits)
    }

    pub fn add_vote(
        &mut self,
        index: usize,
        round: u32,
        kind: VoteKind,
        block: Option<Hash32>,
        signed: &SignedVote,
        relevant: bool,
    ) -> VoteOutcome {
        let entry = self.rounds.entry(round).or_default();
        let tally = match kind {
            VoteKind::Prevote => &mut entry.prevotes,
            VoteKind::Precommit => &mut entry.precommits,
        };
        match tally.add(index, block, signed, relevant) {
            Added::New => {
                self.participants.entry(round).or_default().insert(index);
                VoteOutcome::New
            }
            Added::Duplicate => VoteOutcome::Duplicate,
            Added::Conflict(first) => {
                let evidence =
                    self.reported
                        .insert((index, round, kind))
                        .then(|| Equivocation::DoubleVote {
                            first,
                            second: signed.clone(),
                        });
                VoteOutcome::Equivocation(evidence)
            }
        }
    }

    pub fn add_participant(&mut self, index: usize, round: u32) {
        self.participants.entry(round).or_default().insert(index);
    }

    /// Whether `index` has sent anything in `round`.
    pub fn has_participated(&self, index: usize, round: u32) -> bool {
        self.participants
            .get(&round)
            .is_some_and(|s| s.contains(&index))
    }

    /// Rounds above `round` in which `index` has sent something.
    pub fn rounds_above(&self, index: usize, round: u32) -> usize {
        self.participants
            .range(round.saturating_add(1)..)
            .filter(|(_, s)| s.contains(&index))
            .count()
    }

    /// The highest round above `round` with at least `threshold` distinct participants.
    pub fn highest_round_with(&self, round: u32, threshold: usize) -> Option<u32> {
        self.participants
            .range(round.saturating_add(1)..)
            .rev()
            .find(|(_, s)| s.len() >= threshold)
            .map(|(r, _)| *r)
    }

    /// Rounds in order, with their precommits.
    pub fn rounds_with_precommits(&self) -> impl Iterator<Item = (u32, &Tally)> {
        self.rounds.iter().map(|(r, v)| (*r, &v.precommits))
    }

    /// The tally of one kind in one round.
    pub fn tally(&self, round: u32, kind: VoteKind) -> Option<&Tally> {
        match kind {
            VoteKind::Prevote => self.prevotes(round),
            VoteKind::Precommit => self.precommits(round),
        }
    }

    /// Every round with votes, with its prevotes and precommits.
    pub fn rounds(&self) -> impl Iterator<Item = (u32, &Tally, &Tally)> {
        self.rounds
            .iter()
            .map(|(r, v)| (*r, &v.prevotes, &v.precommits))
    }
}
