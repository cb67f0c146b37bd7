//! A set of the proposals and votes of one height, stored the way a round state describes them: proposals by round
//! and block,
//! and for each (round, kind) a bitmap over validator indexes. Peer-state gossip compares what it holds with what
//! each peer holds on every pass; with 31 members and a few rounds that is thousands of items per peer, and
//! comparing bitmaps a word at a time instead of hashing item by item is what keeps the pass cheap.

use super::peer_gossip::{Item, RoundState};
use clearance_core::hash::Hash32;
use clearance_core::vote::VoteKind;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ItemSet {
    proposals: BTreeSet<(u32, Hash32)>,
    /// Bit `i % 64` of word `i / 64` is validator `i`.
    votes: BTreeMap<(u32, VoteKind), Vec<u64>>,
}

impl ItemSet {
    /// What a round state says its member holds.
    pub fn of_state(state: &RoundState) -> ItemSet {
        let mut set = ItemSet {
            proposals: state.proposals.iter().copied().collect(),
            votes: BTreeMap::new(),
        };
        for v in &state.votes {
            let words = set.votes.entry((v.round, v.kind)).or_default();
            for (byte_index, &byte) in v.bits.0.iter().enumerate() {
                if byte == 0 {
                    continue;
                }
                let word = byte_index / 8;
                if words.len() <= word {
                    words.resize(word + 1, 0);
                }
                words[word] |= u64::from(byte) << ((byte_index % 8) * 8);
            }
        }
        set
    }

    /// Commits are not part of a height's set: a peer deciding a height never holds its commit.
    pub fn insert(&mut self, item: Item) {
        match item {
            Item::Proposal { round, block } => {
                self.proposals.insert((round, block));
            }
            Item::Vote {
                round,
                kind,
                validator,
            } => {
                let words = self.votes.entry((round, kind)).or_default();
                if words.len() <= validator / 64 {
                    words.resize(validator / 64 + 1, 0);
                }
                words[validator / 64] |= 1 << (validator % 64);
            }
            Item::Commit { .. } => {}
        }
    }

    pub fn contains(&self, item: &Item) -> bool {
        match *item {
            Item::Proposal { round, block } => self.proposals.contains(&(round, block)),
            Item::Vote {
                round,
                kind,
                validator,
            } => self
                .votes
                .get(&(round, kind))
                .and_then(|words| words.get(validator / 64))
                .is_some_and(|word| word & (1 << (validator % 64)) != 0),
            Item::Commit { .. } => false,
        }
    }

    /// Whether the set holds any proposal of `round`.
    pub fn has_proposal(&self, round: u32) -> bool {
        self.proposals
            .range((round, Hash32::ZERO)..)
            .next()
            .is_some_and(|&(r, _)| r == round)
    }

    /// The items of this set that `other` lacks: proposals first (by round), then votes by round, kind and
    /// validator.
    pub fn missing_from<'a>(&'a self, other: &'a ItemSet) -> impl Iterator<Item = Item> + 'a {
        let proposals = self
            .proposals
            .iter()
            .filter(|p| !other.proposals.contains(p))
            .map(|&(round, block)| Item::Proposal { round, block });
        let votes = self.votes.iter().flat_map(move |(&(round, kind), words)| {
            let theirs = other.votes.get(&(round, kind));
            words.iter().enumerate().flat_map(move |(w, &word)| {
                let lacking = word & !theirs.and_then(|t| t.get(w)).copied().unwrap_or(0);
                SetBits(lacking).map(move |bit| Item::Vote {
                    round,
                    kind,
                    validator: w * 64 + bit,
                })
            })
        });
        proposals.chain(votes)
    }
}

impl FromIterator<Item> for ItemSet {
    fn from_iter<I: IntoIterator<Item = Item>>(iter: I) -> Self {
        let mut set = ItemSet::default();
        for item in iter {
            set.insert(item);
        }
        set
    }
}

/// The indexes of the set bits of a word, lowest first.
struct SetBits(u64);

impl Iterator for SetBits {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let bit = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::Step;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn item() -> impl Strategy<Value = Item> {
        prop_oneof![
            (0u32..4, 0u8..2).prop_map(|(round, b)| Item::Proposal {
                round,
                block: Hash32([b; 32])
            }),
            (0u32..4, any::<bool>(), 0usize..200).prop_map(|(round, pre, validator)| Item::Vote {
                round,
                kind: if pre {
                    VoteKind::Prevote
                } else {
                    VoteKind::Precommit
                },
                validator,
            }),
        ]
    }

    proptest! {
        /// Against a plain set of items: membership, the difference and its order, and the round trip through a
        /// round state.
        #[test]
        fn behaves_as_a_set_of_items(
            ours in proptest::collection::vec(item(), 0..120),
            theirs in proptest::collection::vec(item(), 0..120),
            probe in item(),
        ) {
            let set: ItemSet = ours.iter().copied().collect();
            let other: ItemSet = theirs.iter().copied().collect();
            let model: HashSet<Item> = ours.iter().copied().collect();
            let other_model: HashSet<Item> = theirs.iter().copied().collect();
            prop_assert_eq!(set.contains(&probe), model.contains(&probe));
            let missing: Vec<Item> = set.missing_from(&other).collect();
            let mut want: Vec<Item> = model.difference(&other_model).copied().collect();
            want.sort();
            prop_assert_eq!(missing, want);
            let state = RoundState::new(3, 0, Step::Prevote, &ours);
            prop_assert_eq!(ItemSet::of_state(&state), set);
        }
    }
}
