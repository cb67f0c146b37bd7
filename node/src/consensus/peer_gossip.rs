//! Consensus gossip by peer state, as CometBFT's consensus reactor does it: each member tells its peers where it
//! is (height, round, step) and which proposals and votes of that height it holds; a node sends each peer exactly
//! what that peer is known to lack, and sends it again if the peer's next state still lacks it. A message lost to
//! a dropped connection, a full queue or a restart is then repaired at the next exchange instead of waiting for a
//! round timeout.
//!
//! Pure: the caller passes the time (milliseconds on any monotonic clock) and the items it holds, and gets back
//! what to send to whom. Nothing here touches the network, so the seeded simulator can drive it.

use super::item_set::ItemSet;
use super::types::Step;
use clearance_core::bytes::Bytes;
use clearance_core::hash::Hash32;
use clearance_core::vote::VoteKind;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// After this long without a state showing it arrived, a vote is sent again.
pub const RESEND_VOTE_MS: u64 = 1_000;
/// Proposals carry whole blocks and commits whole blocks with certificates: sent again less eagerly.
pub const RESEND_BLOCK_MS: u64 = 2_500;
/// A peer this many heights behind, or fewer, is sent the committed blocks it lacks one by one; further behind,
/// it catches up by block sync.
pub const COMMIT_WINDOW: u64 = 4;
/// How long a peer must have stayed behind before it is sent a commit. Members decide a height within one message
/// delay of each other, so a peer one height behind is nearly always about to decide on its own; sending each of
/// them the block again would double what every link carries.
pub const COMMIT_GRACE_MS: u64 = 500;
/// A message someone else signed is relayed to a peer that lacks it only once this node has held it this long.
/// Its signer sends it to every peer directly, so a relay is needed only where that failed (a cut link, a
/// restart); relaying at once made every peer receive, and verify, every vote from every member.
pub const RELAY_DELAY_MS: u64 = 300;
/// Most (round, kind) vote bitmaps and proposal rounds a round state may carry.
pub const MAX_STATE_ENTRIES: usize = 128;
/// Members a vote bitmap may name (bytes × 8).
pub const MAX_BITMAP_BYTES: usize = 32;

/// One thing a node can hold at a height and a peer can lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Item {
    /// A proposal of a round, with its block. A round has one unless its proposer equivocated: naming the block
    /// lets a peer holding one proposal be sent the other, which proves the equivocation.
    Proposal { round: u32, block: Hash32 },
    /// A member's vote of a kind in a round; the member is its index in the validator set.
    Vote {
        round: u32,
        kind: VoteKind,
        validator: usize,
    },
    /// The committed block of `height` with its commit certificate, for a peer still deciding that height.
    Commit { height: u64 },
}

/// The votes of one kind in one round that a member holds, as a bitmap over validator indexes (bit `i % 8` of
/// byte `i / 8`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteBits {
    pub round: u32,
    pub kind: VoteKind,
    pub bits: Bytes,
}

/// Where a member is, and what it holds of its current height. Sent to every peer when its step moves, at most
/// every 200 ms when only what it holds changes, and at least once a second, so that it doubles as a liveness signal on the consensus channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundState {
    pub height: u64,
    pub round: u32,
    pub step: Step,
    /// The proposals it holds with their blocks, as (round, block hash).
    pub proposals: Vec<(u32, Hash32)>,
    pub votes: Vec<VoteBits>,
}

impl RoundState {
    /// The state of a member at `height` holding `items` (commit items are not part of a state).
    pub fn new(height: u64, round: u32, step: Step, items: &[Item]) -> RoundState {
        let mut proposals = Vec::new();
        let mut bitmaps: BTreeMap<(u32, VoteKind), Vec<u8>> = BTreeMap::new();
        for item in items {
            match *item {
                Item::Proposal { round, block } => proposals.push((round, block)),
                Item::Vote {
                    round,
                    kind,
                    validator,
                } if validator < MAX_BITMAP_BYTES * 8 => {
                    let bits = bitmaps.entry((round, kind)).or_default();
                    if bits.len() <= validator / 8 {
                        bits.resize(validator / 8 + 1, 0);
                    }
                    bits[validator / 8] |= 1 << (validator % 8);
                }
                Item::Vote { .. } | Item::Commit { .. } => {}
            }
        }
        proposals.sort_unstable();
        proposals.dedup();
        // The newest rounds matter most; a state never grows past its limit. Vote bitmaps may take all but a
        // quarter of it, proposals (one a round, unless a proposer equivocated) the rest.
        let votes_kept = bitmaps
            .len()
            .min(MAX_STATE_ENTRIES - proposals.len().min(MAX_STATE_ENTRIES / 4));
        let proposals_kept = proposals.len().min(MAX_STATE_ENTRIES - votes_kept);
        let proposals = proposals.split_off(proposals.len() - proposals_kept);
        let skipped_votes = bitmaps.len() - votes_kept;
        let votes = bitmaps
            .into_iter()
            .skip(skipped_votes)
            .map(|((round, kind), bits)| VoteBits {
                round,
                kind,
                bits: Bytes(bits),
            })
            .collect();
        RoundState {
            height,
            round,
            step,
            proposals,
            votes,
        }
    }

    /// Refuses a state no correct member sends: too many entries, or bitmaps wider than the limit.
    pub fn check(&self) -> Result<(), String> {
        if self.proposals.len() + self.votes.len() > MAX_STATE_ENTRIES {
            return Err(format!(
                "round state with {} entries, more than {MAX_STATE_ENTRIES}",
                self.proposals.len() + self.votes.len()
            ));
        }
        if let Some(v) = self
            .votes
            .iter()
            .find(|v| v.bits.0.len() > MAX_BITMAP_BYTES)
        {
            return Err(format!(
                "vote bitmap of {} bytes, more than {MAX_BITMAP_BYTES}",
                v.bits.0.len()
            ));
        }
        Ok(())
    }

    /// The items this state says its member holds.
    pub fn items(&self) -> impl Iterator<Item = Item> + '_ {
        let proposals = self
            .proposals
            .iter()
            .map(|&(round, block)| Item::Proposal { round, block });
        let votes = self.votes.iter().flat_map(|v| {
            v.bits.0.iter().enumerate().flat_map(move |(byte, bits)| {
                (0..8)
                    .filter(move |bit| bits & (1 << bit) != 0)
                    .map(move |bit| Item::Vote {
                        round: v.round,
                        kind: v.kind,
                        validator: byte * 8 + bit,
                    })
            })
        });
        proposals.chain(votes)
    }
}

/// What this node knows of one peer.
#[derive(Default)]
struct View {
    /// The height the peer is deciding, once it has said.
    height: Option<u64>,
    /// Items of that height the peer holds: from its last state, and what it sent us since.
    has: ItemSet,
    /// Items sent to it, and when, that its states do not show yet.
    sent: HashMap<Item, u64>,
    /// Round and step from its last state.
    position: Option<(u32, Step)>,
    /// Since when this node has seen the peer deciding a height it has already passed.
    behind_since: Option<u64>,
}

/// Per-peer knowledge, and the choice of what to send to whom.
pub struct PeerGossip<P> {
    peers: BTreeMap<P, View>,
    /// When each item of `first_seen_height` was first held here.
    first_seen: HashMap<Item, u64>,
    first_seen_height: u64,
}

impl<P> Default for PeerGossip<P> {
    fn default() -> Self {
        PeerGossip {
            peers: BTreeMap::new(),
            first_seen: HashMap::new(),
            first_seen_height: 0,
        }
    }
}

impl<P: Copy + Ord> PeerGossip<P> {
    pub fn connected(&mut self, peer: P) {
        self.peers.entry(peer).or_default();
    }

    /// Forgets the peer: after a reconnect it states anew what it holds.
    pub fn disconnected(&mut self, peer: &P) {
        self.peers.remove(peer);
    }

    pub fn peers(&self) -> impl Iterator<Item = &P> {
        self.peers.keys()
    }

    /// The height a peer last said it is deciding.
    pub fn height_of(&self, peer: &P) -> Option<u64> {
        self.peers.get(peer).and_then(|v| v.height)
    }

    /// Takes in a peer's state. What it holds replaces what was known; what was sent to it and does not show yet
    /// stays booked until its resend time.
    pub fn on_state(&mut self, peer: P, state: &RoundState) {
        let Some(view) = self.peers.get_mut(&peer) else {
            return;
        };
        if view.height != Some(state.height) {
            view.sent.clear();
            view.behind_since = None;
        }
        view.height = Some(state.height);
        view.position = Some((state.round, state.step));
        view.has = ItemSet::of_state(state);
        let has = &view.has;
        view.sent.retain(|item, _| !has.contains(item));
    }

    /// Peers deciding `height` that, by their last state, hold the proposal of their current round and have not
    /// prevoted in it: the ones a re-proposal's proof of lock may be missing for (see `Machine::proof_of_lock`).
    pub fn waiting_on_proposal(&self, height: u64) -> Vec<(P, u32)> {
        self.peers
            .iter()
            .filter(|(_, v)| v.height == Some(height))
            .filter_map(|(peer, v)| match v.position {
                Some((round, Step::Propose)) if v.has.has_proposal(round) => Some((*peer, round)),
                _ => None,
            })
            .collect()
    }

    /// The peer sent us this item, so it holds it.
    pub fn on_received(&mut self, peer: P, height: u64, item: Item) {
        if let Some(view) = self.peers.get_mut(&peer)
            && view.height == Some(height)
        {
            view.has.insert(item);
        }
    }

    /// What to send now: for each peer deciding `height`, the `held` items it lacks that were not sent to it
    /// recently (items this node did not sign, `own` false, only after [`RELAY_DELAY_MS`]); for each peer that has
    /// stayed a few heights behind `height` for [`COMMIT_GRACE_MS`], the commit of the height it is deciding.
    /// Booked as sent at `now_ms`. Proposals come first (by round), then votes by round, kind and validator.
    pub fn plan(
        &mut self,
        now_ms: u64,
        height: u64,
        held: &[Item],
        own: &dyn Fn(&Item) -> bool,
    ) -> Vec<(P, Vec<Item>)> {
        if self.first_seen_height != height {
            self.first_seen.clear();
            self.first_seen_height = height;
        }
        let relayable: ItemSet = held
            .iter()
            .filter(|item| {
                let seen = *self.first_seen.entry(**item).or_insert(now_ms);
                own(item) || now_ms.saturating_sub(seen) >= RELAY_DELAY_MS
            })
            .copied()
            .collect();
        let mut out = Vec::new();
        for (peer, view) in &mut self.peers {
            let Some(peer_height) = view.height else {
                continue;
            };
            let due = |sent: &HashMap<Item, u64>, item: &Item| {
                let wait = match item {
                    Item::Vote { .. } => RESEND_VOTE_MS,
                    Item::Proposal { .. } | Item::Commit { .. } => RESEND_BLOCK_MS,
                };
                sent.get(item)
                    .is_none_or(|at| now_ms.saturating_sub(*at) >= wait)
            };
            let mut items = Vec::new();
            if peer_height == height {
                items.extend(
                    relayable
                        .missing_from(&view.has)
                        .filter(|item| due(&view.sent, item)),
                );
            } else if peer_height < height && peer_height + COMMIT_WINDOW >= height {
                let since = *view.behind_since.get_or_insert(now_ms);
                let item = Item::Commit {
                    height: peer_height,
                };
                if now_ms.saturating_sub(since) >= COMMIT_GRACE_MS && due(&view.sent, &item) {
                    items.push(item);
                }
            }
            for item in &items {
                view.sent.insert(*item, now_ms);
            }
            if !items.is_empty() {
                out.push((*peer, items));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(round: u32, kind: VoteKind, validator: usize) -> Item {
        Item::Vote {
            round,
            kind,
            validator,
        }
    }

    fn proposal(round: u32, block: u8) -> Item {
        Item::Proposal {
            round,
            block: Hash32([block; 32]),
        }
    }

    /// Plans as the signer of everything: no relay delay.
    fn plan(g: &mut PeerGossip<u8>, now: u64, height: u64, held: &[Item]) -> Vec<(u8, Vec<Item>)> {
        g.plan(now, height, held, &|_| true)
    }

    fn state(height: u64, items: &[Item]) -> RoundState {
        RoundState::new(height, 0, Step::Prevote, items)
    }

    #[test]
    fn a_round_state_lists_exactly_the_items_it_was_made_of() {
        let items = vec![
            proposal(0, 1),
            proposal(0, 2),
            proposal(2, 1),
            vote(0, VoteKind::Prevote, 0),
            vote(0, VoteKind::Prevote, 9),
            vote(0, VoteKind::Precommit, 3),
            vote(2, VoteKind::Prevote, 30),
        ];
        let s = state(7, &items);
        assert!(s.check().is_ok());
        let mut back: Vec<Item> = s.items().collect();
        back.sort();
        let mut want = items.clone();
        want.sort();
        assert_eq!(back, want);
        // Commits are not part of a state, and an index past the bitmap limit is left out.
        let s = state(
            7,
            &[
                Item::Commit { height: 6 },
                vote(0, VoteKind::Prevote, MAX_BITMAP_BYTES * 8),
            ],
        );
        assert_eq!(s.items().count(), 0);
    }

    #[test]
    fn a_round_state_is_bounded_and_an_oversized_one_is_refused() {
        let items: Vec<Item> = (0..300u32)
            .flat_map(|r| [proposal(r, 1), vote(r, VoteKind::Prevote, 1)])
            .collect();
        let s = state(1, &items);
        assert!(s.proposals.len() + s.votes.len() <= MAX_STATE_ENTRIES);
        assert!(s.check().is_ok());
        // The newest rounds are the ones kept.
        assert!(s.votes.iter().any(|v| v.round == 299));
        let mut wide = state(1, &[vote(0, VoteKind::Prevote, 1)]);
        wide.votes[0].bits = Bytes(vec![0xff; MAX_BITMAP_BYTES + 1]);
        assert!(wide.check().is_err());
        let mut long = state(1, &[]);
        long.proposals = (0..=MAX_STATE_ENTRIES as u32)
            .map(|r| (r, Hash32::ZERO))
            .collect();
        assert!(long.check().is_err());
    }

    #[test]
    fn a_peer_is_sent_what_it_lacks_once_until_the_resend_time() {
        let mut g = PeerGossip::default();
        g.connected(1u8);
        let held = vec![
            proposal(0, 1),
            vote(0, VoteKind::Prevote, 0),
            vote(0, VoteKind::Prevote, 1),
        ];
        // Nothing before the peer has said where it is.
        assert!(plan(&mut g, 0, 5, &held).is_empty());
        g.on_state(1, &state(5, &[vote(0, VoteKind::Prevote, 1)]));
        assert_eq!(plan(&mut g, 0, 5, &held), vec![(1, held[..2].to_vec())]);
        // Booked: not sent again at once, nor when a state that predates it still lacks it.
        assert!(plan(&mut g, 10, 5, &held).is_empty());
        g.on_state(1, &state(5, &[vote(0, VoteKind::Prevote, 1)]));
        assert!(plan(&mut g, RESEND_VOTE_MS - 1, 5, &held).is_empty());
        // Lost: the vote goes again after its resend time, the block-carrying proposal later (with the vote,
        // whose second copy has not shown up either).
        assert_eq!(
            plan(&mut g, RESEND_VOTE_MS, 5, &held),
            vec![(1, vec![held[1]])]
        );
        assert_eq!(
            plan(&mut g, RESEND_BLOCK_MS, 5, &held),
            vec![(1, held[..2].to_vec())]
        );
        // Arrived: never sent again.
        g.on_state(1, &state(5, &held));
        assert!(plan(&mut g, RESEND_BLOCK_MS * 10, 5, &held).is_empty());
    }

    #[test]
    fn a_peer_holding_another_proposal_of_the_round_is_sent_this_one() {
        let mut g = PeerGossip::default();
        g.connected(1u8);
        // The peer holds proposal 2 of round 0, this node proposal 1: the round's proposer signed both, and the
        // peer needs this one to prove it. A peer still in the propose step of round 0 waits on a proposal.
        g.on_state(1, &RoundState::new(5, 0, Step::Propose, &[proposal(0, 2)]));
        assert_eq!(g.waiting_on_proposal(5), vec![(1, 0)]);
        assert_eq!(
            plan(&mut g, 0, 5, &[proposal(0, 1)]),
            vec![(1, vec![proposal(0, 1)])]
        );
        // Once its state shows both, nothing more goes.
        g.on_state(1, &state(5, &[proposal(0, 1), proposal(0, 2)]));
        assert!(plan(&mut g, RESEND_BLOCK_MS, 5, &[proposal(0, 1)]).is_empty());
    }

    #[test]
    fn what_others_signed_is_relayed_only_after_the_relay_delay() {
        let mut g = PeerGossip::default();
        g.connected(1u8);
        g.on_state(1, &state(5, &[]));
        let mine = vote(0, VoteKind::Prevote, 0);
        let theirs = vote(0, VoteKind::Prevote, 2);
        let own = |item: &Item| *item == mine;
        assert_eq!(g.plan(0, 5, &[mine, theirs], &own), vec![(1, vec![mine])]);
        assert!(
            g.plan(RELAY_DELAY_MS - 1, 5, &[mine, theirs], &own)
                .is_empty()
        );
        // Its signer's copy did not arrive: the peer's state still lacks it.
        assert_eq!(
            g.plan(RELAY_DELAY_MS, 5, &[mine, theirs], &own),
            vec![(1, vec![theirs])]
        );
        // A new height: held again from scratch.
        g.on_state(1, &state(6, &[]));
        assert!(g.plan(RELAY_DELAY_MS, 6, &[theirs], &own).is_empty());
    }

    #[test]
    fn what_a_peer_sent_is_not_sent_back_and_a_new_height_starts_afresh() {
        let mut g = PeerGossip::default();
        g.connected(1u8);
        let held = vec![vote(0, VoteKind::Prevote, 2)];
        g.on_state(1, &state(5, &[]));
        g.on_received(1, 5, held[0]);
        assert!(plan(&mut g, 0, 5, &held).is_empty());
        // Something received for another height says nothing about this one.
        g.on_received(1, 4, vote(0, VoteKind::Prevote, 3));
        assert_eq!(
            plan(&mut g, 0, 5, &[vote(0, VoteKind::Prevote, 3)]),
            vec![(1, vec![vote(0, VoteKind::Prevote, 3)])]
        );
        g.on_state(1, &state(6, &[]));
        assert_eq!(plan(&mut g, 1, 6, &held), vec![(1, held.clone())]);
        // A peer at another height gets nothing of this one; after a reconnect it must state itself again.
        assert!(
            plan(&mut g, 5_000, 7, &held)
                .iter()
                .all(|(_, items)| !items.contains(&held[0]))
        );
        g.disconnected(&1);
        g.connected(1);
        assert!(plan(&mut g, 10_000, 6, &held).is_empty());
    }

    #[test]
    fn a_peer_a_few_heights_behind_is_sent_the_commit_it_is_deciding() {
        let mut g = PeerGossip::default();
        for p in 1..=3u8 {
            g.connected(p);
        }
        g.on_state(1, &state(9, &[]));
        g.on_state(2, &state(10 - COMMIT_WINDOW - 1, &[]));
        g.on_state(3, &state(11, &[]));
        // Peer 2 is too far behind (block sync), peer 3 is ahead (it has nothing to get from us). Peer 1 gets the
        // commit only once it has stayed behind for the grace period: it is usually about to decide on its own.
        assert!(plan(&mut g, 0, 10, &[vote(0, VoteKind::Prevote, 0)]).is_empty());
        assert!(plan(&mut g, COMMIT_GRACE_MS - 1, 10, &[]).is_empty());
        assert_eq!(
            plan(&mut g, COMMIT_GRACE_MS, 10, &[]),
            vec![(1, vec![Item::Commit { height: 9 }])]
        );
        assert!(plan(&mut g, COMMIT_GRACE_MS + 1, 10, &[]).is_empty());
        assert_eq!(
            plan(&mut g, COMMIT_GRACE_MS + RESEND_BLOCK_MS, 10, &[]),
            vec![(1, vec![Item::Commit { height: 9 }])]
        );
        // Once it moves on, its new height starts a new grace period.
        g.on_state(1, &state(10, &[]));
        g.on_state(1, &state(9, &[]));
        assert!(plan(&mut g, COMMIT_GRACE_MS + RESEND_BLOCK_MS + 1, 10, &[]).is_empty());
        assert_eq!(g.height_of(&3), Some(11));
    }
}
