//! The upon-rules of Algorithm 1, each guarded by its condition, fired by `evaluate` after every input until none
//! holds.

use super::*;

impl Machine {
    /// Fires every rule whose condition holds, until none does.
    pub(super) fn evaluate(&mut self, out: &mut Vec<Output>) {
        loop {
            if self.decided || self.try_decide(out) {
                return;
            }
            let fired = self.try_round_skip(out)
                || self.try_prevote(out)
                || self.try_schedule_prevote_timeout(out)
                || self.try_polka(out)
                || self.try_nil_polka(out)
                || self.try_schedule_precommit_timeout(out);
            if !fired {
                return;
            }
        }
    }

    /// [L49-51] upon ⟨PROPOSAL, h_p, r, v, ∗⟩ AND 2f+1 ⟨PRECOMMIT, h_p, r, id(v)⟩ while decision_p[h_p] = nil:
    /// if valid(v), decide v. The proposal serves only to know v; since the block id covers the whole block, any
    /// held block with that id will do (after a crash the round's proposal may be gone while the block is kept).
    fn try_decide(&mut self, out: &mut Vec<Output>) -> bool {
        let q = self.quorum();
        let found = self
            .votes
            .rounds_with_precommits()
            .find_map(|(round, tally)| {
                self.blocks.iter().find_map(|(hash, block)| {
                    (tally.count(Some(*hash)) >= q && self.verdicts.get(hash) == Some(&true))
                        .then(|| (round, *hash, block.clone(), tally.votes_for(Some(*hash))))
                })
            });
        let Some((round, hash, block, precommits)) = found else {
            return false;
        };
        self.decided = true;
        out.push(Output::Decide {
            height: self.safety.height,
            round,
            block,
            certificate: CommitCertificate {
                height: self.safety.height,
                round,
                block_hash: hash,
                precommits,
            },
        });
        true
    }

    /// [L55-56] upon f+1 ⟨∗, h_p, round, ∗, ∗⟩ with round > round_p: StartRound(round).
    fn try_round_skip(&mut self, out: &mut Vec<Output>) -> bool {
        let threshold = self.verifier.validators().honest_threshold();
        match self.votes.highest_round_with(self.safety.round, threshold) {
            Some(round) => {
                self.start_round(round, out);
                true
            }
            None => false,
        }
    }

    /// [L22-27] and [L28-33]: the prevote on the round's proposal.
    fn try_prevote(&mut self, out: &mut Vec<Output>) -> bool {
        if self.safety.step != Step::Propose {
            return false;
        }
        let round = self.safety.round;
        // The first proposal received for the round; an equivocator's later ones do not change the prevote.
        let Some(p) = self.proposals.get(&round).and_then(|ps| ps.first()) else {
            return false;
        };
        let hash = p.proposal.block_hash;
        let Some(&valid) = self.verdicts.get(&hash) else {
            return false; // valid(v) is not known yet: wait for the executor's verdict.
        };
        let locked = self.safety.locked;
        let vote_for_it = match p.proposal.valid_round {
            // [L22-23] valid(v) ∧ (lockedRound_p = −1 ∨ lockedValue_p = v)
            None => valid && locked.is_none_or(|(_, lv)| lv == hash),
            // [L28-29] with 2f+1 ⟨PREVOTE, h_p, vr, id(v)⟩ and vr < round_p:
            // valid(v) ∧ (lockedRound_p ≤ vr ∨ lockedValue_p = v)
            Some(vr) => {
                let polka = self
                    .votes
                    .prevotes(vr)
                    .is_some_and(|t| t.count(Some(hash)) >= self.quorum());
                if vr >= round || !polka {
                    return false;
                }
                valid && locked.is_none_or(|(lr, lv)| lr <= vr || lv == hash)
            }
        };
        self.safety.step = Step::Prevote; // [L27] [L33]
        // [L24] [L30] prevote id(v), or [L26] [L32] nil.
        self.sign_vote(VoteKind::Prevote, vote_for_it.then_some(hash), out);
        true
    }

    /// [L34-35] upon 2f+1 ⟨PREVOTE, h_p, round_p, ∗⟩ while step_p = prevote for the first time.
    fn try_schedule_prevote_timeout(&mut self, out: &mut Vec<Output>) -> bool {
        if self.safety.step != Step::Prevote || self.flags.prevote_timeout_scheduled {
            return false;
        }
        let total = self
            .votes
            .prevotes(self.safety.round)
            .map_or(0, |t| t.total());
        if total < self.quorum() {
            return false;
        }
        self.flags.prevote_timeout_scheduled = true;
        self.schedule(Step::Prevote, out);
        true
    }

    /// [L36-43] upon ⟨PROPOSAL, h_p, round_p, v, ∗⟩ AND 2f+1 ⟨PREVOTE, h_p, round_p, id(v)⟩
    /// while valid(v) ∧ step_p ≥ prevote for the first time.
    fn try_polka(&mut self, out: &mut Vec<Output>) -> bool {
        if self.safety.step < Step::Prevote || self.flags.polka_seen {
            return false;
        }
        let round = self.safety.round;
        let q = self.quorum();
        let Some(tally) = self.votes.prevotes(round) else {
            return false;
        };
        let polka = self.proposals.get(&round).and_then(|ps| {
            ps.iter()
                .map(|p| p.proposal.block_hash)
                .find(|h| tally.count(Some(*h)) >= q && self.verdicts.get(h) == Some(&true))
        });
        let Some(hash) = polka else {
            return false;
        };
        self.flags.polka_seen = true;
        // [L42-43] validValue_p ← v, validRound_p ← round_p.
        self.safety.valid = Some((round, hash));
        self.safety.valid_block = self.blocks.get(&hash).cloned();
        self.safety.valid_polka = self
            .votes
            .prevotes(round)
            .map(|t| t.votes_for(Some(hash)))
            .unwrap_or_default();
        if self.safety.step == Step::Prevote {
            // [L37-41] lock on v and precommit it.
            self.safety.locked = Some((round, hash));
            self.safety.step = Step::Precommit;
            self.sign_vote(VoteKind::Precommit, Some(hash), out);
        }
        true
    }

    /// [L44-46] upon 2f+1 ⟨PREVOTE, h_p, round_p, nil⟩ while step_p = prevote.
    fn try_nil_polka(&mut self, out: &mut Vec<Output>) -> bool {
        if self.safety.step != Step::Prevote {
            return false;
        }
        let nil = self
            .votes
            .prevotes(self.safety.round)
            .map_or(0, |t| t.count(None));
        if nil < self.quorum() {
            return false;
        }
        self.safety.step = Step::Precommit;
        self.sign_vote(VoteKind::Precommit, None, out);
        true
    }

    /// [L47-48] upon 2f+1 ⟨PRECOMMIT, h_p, round_p, ∗⟩ for the first time.
    fn try_schedule_precommit_timeout(&mut self, out: &mut Vec<Output>) -> bool {
        if self.flags.precommit_timeout_scheduled {
            return false;
        }
        let total = self
            .votes
            .precommits(self.safety.round)
            .map_or(0, |t| t.total());
        if total < self.quorum() {
            return false;
        }
        self.flags.precommit_timeout_scheduled = true;
        self.schedule(Step::Precommit, out);
        true
    }
}
