//! What the machine shows of itself: its position, what it holds (for peer-state gossip), the messages for held
//! items, and a description for failure reports. Reads only.

use super::*;

impl Machine {
    pub fn height(&self) -> u64 {
        self.safety.height
    }

    pub fn round(&self) -> u32 {
        self.safety.round
    }

    pub fn step(&self) -> Step {
        self.safety.step
    }

    pub fn validators(&self) -> &ValidatorSet {
        self.verifier.validators()
    }

    /// Whether this height is decided and the machine waits for `HeightCommitted`.
    pub fn is_decided(&self) -> bool {
        self.decided
    }

    /// What this node holds of the current height, for peer-state gossip: proposals first (a receiver needs
    /// the block before votes for it are useful), then votes by round, prevotes before precommits.
    pub fn held(&self) -> Vec<Item> {
        let proposals = self.proposals.iter().flat_map(|(&round, held)| {
            held.iter().map(move |p| Item::Proposal {
                round,
                block: p.proposal.block_hash,
            })
        });
        let votes = self
            .votes
            .rounds()
            .flat_map(|(round, prevotes, precommits)| {
                let kinds = [
                    (VoteKind::Prevote, prevotes),
                    (VoteKind::Precommit, precommits),
                ];
                kinds.into_iter().flat_map(move |(kind, tally)| {
                    tally.first_votes().map(move |(validator, _)| Item::Vote {
                        round,
                        kind,
                        validator,
                    })
                })
            });
        proposals.chain(votes).collect()
    }

    /// Whether this node signed the item: what it signed goes to every peer at once, what it relays later.
    pub fn is_own(&self, item: &Item) -> bool {
        match *item {
            Item::Vote { validator, .. } => self.me == Some(validator),
            Item::Proposal { round, .. } => self.is_proposer(round),
            Item::Commit { .. } => true,
        }
    }

    /// A block of the current height's proposals, by hash.
    pub fn block(&self, hash: &Hash32) -> Option<&Block> {
        self.blocks.get(hash)
    }

    /// The first proposal of `round` at the current height and its block, borrowed: blocks are large.
    pub fn proposal(&self, round: u32) -> Option<(&SignedProposal, &Block)> {
        let p = self.proposals.get(&round)?.first()?;
        Some((&p.signed, &p.block))
    }

    /// The proposal of `round` for `block` at the current height (another than the first only if the proposer
    /// equivocated).
    pub fn proposal_for(&self, round: u32, block: &Hash32) -> Option<(&SignedProposal, &Block)> {
        let p = self
            .proposals
            .get(&round)?
            .iter()
            .find(|p| p.proposal.block_hash == *block)?;
        Some((&p.signed, &p.block))
    }

    /// The message for a held item of the current height.
    pub fn message(&self, item: &Item) -> Option<Message> {
        match *item {
            Item::Proposal { round, block } => {
                let (proposal, block) = self.proposal_for(round, &block)?;
                Some(Message::Proposal {
                    proposal: proposal.clone(),
                    block: block.clone(),
                })
            }
            Item::Vote {
                round,
                kind,
                validator,
            } => {
                let tally = self.votes.tally(round, kind)?;
                let (_, vote) = tally.first_votes().find(|(i, _)| *i == validator)?;
                Some(Message::Vote(vote.clone()))
            }
            Item::Commit { .. } => None,
        }
    }

    /// The proof of lock of the (first) proposal of `round`, when it re-proposes a valid value: the prevotes
    /// held for its block in its valid round, an equivocator's second vote included. Peer gossip names a vote
    /// by its signer, so a peer that got an equivocator's other vote first would never be sent this one, never
    /// see the polka, and never accept the re-proposal: one double voter could stall a locked member forever.
    pub fn proof_of_lock(&self, round: u32) -> Vec<Message> {
        let Some(p) = self.proposals.get(&round).and_then(|r| r.first()) else {
            return Vec::new();
        };
        let Some(valid_round) = p.proposal.valid_round else {
            return Vec::new();
        };
        self.votes
            .prevotes(valid_round)
            .map(|t| t.votes_for(Some(p.proposal.block_hash)))
            .unwrap_or_default()
            .into_iter()
            .map(Message::Vote)
            .collect()
    }

    /// The height and item of a checked message, if its sender is a member of this height's set.
    pub fn item_of(&self, msg: &CheckedMessage) -> Option<(u64, Item)> {
        match msg {
            CheckedMessage::Proposal(p) => Some((
                p.proposal().height,
                Item::Proposal {
                    round: p.proposal().round,
                    block: p.proposal().block_hash,
                },
            )),
            CheckedMessage::Vote(v) => {
                let v = v.vote();
                let validator = self.verifier.validators().index_of(&v.validator)?;
                Some((
                    v.height,
                    Item::Vote {
                        round: v.round,
                        kind: v.kind,
                        validator,
                    },
                ))
            }
        }
    }

    pub fn ignored(&self) -> &Ignored {
        &self.ignored
    }

    /// A one-line account of the round state, for logs and for a consensus-state endpoint: round, step, lock,
    /// valid value, and per recent round the proposals and the vote counts per value.
    pub fn describe(&self) -> String {
        let short =
            |h: Option<Hash32>| h.map_or("nil".to_string(), |h| h.to_hex()[..8].to_string());
        let mut text = format!(
            "h{} r{} {:?} locked {:?} valid {:?} decided {} last signed {:?} verdicts {:?} flags {:?}",
            self.safety.height,
            self.safety.round,
            self.safety.step,
            self.safety.locked.map(|(r, h)| (r, short(Some(h)))),
            self.safety.valid.map(|(r, h)| (r, short(Some(h)))),
            self.decided,
            self.safety.last_signed,
            self.verdicts
                .iter()
                .map(|(h, v)| (short(Some(*h)), *v))
                .collect::<Vec<_>>(),
            self.flags,
        );
        let from = self.safety.round.saturating_sub(3);
        // The first rounds, the last few, and those of the lock and the valid value.
        let rounds: std::collections::BTreeSet<u32> = (0..3)
            .chain(from..=self.safety.round.saturating_add(1))
            .chain(
                self.safety
                    .locked
                    .iter()
                    .chain(self.safety.valid.iter())
                    .map(|(r, _)| *r),
            )
            .collect();
        for round in rounds {
            let props: Vec<String> = self
                .proposals
                .get(&round)
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            format!(
                                "{}(vr {:?})",
                                short(Some(p.proposal.block_hash)),
                                p.proposal.valid_round
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let tally = |t: Option<&crate::consensus::votes::Tally>| {
                t.map(|t| t.summary(&short)).unwrap_or_default()
            };
            text.push_str(&format!(
                " | r{round}: proposals {props:?} prevotes [{}] precommits [{}]",
                tally(self.votes.prevotes(round)),
                tally(self.votes.precommits(round))
            ));
        }
        text
    }
}
