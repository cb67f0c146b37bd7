//! A height's lifecycle in the machine: the start (or the resumption of a persisted round after a restart, or
//! after a wiped database once the node reaches the height it was deciding), and the move to the next height.

use super::*;

impl Machine {
    /// [L10] `upon start do StartRound(0)`, or, after a restart within a height, resumption at the persisted round
    /// and step with the messages signed before the crash broadcast again.
    pub fn start(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        if self.safety.signed.is_empty()
            && self.safety.step == Step::Propose
            && self.safety.round == 0
        {
            self.start_round(0, &mut out);
        } else {
            self.resume_persisted(&mut out);
        }
        self.send_own_votes(&mut out);
        self.evaluate(&mut out);
        out
    }

    /// Votes this validator signed before a restart (the validator state file keeps the last few, across
    /// heights), to be sent again at their height. The precommit that decided a height may exist nowhere else:
    /// if this node alone committed that height and its database was then deleted, the others still need it.
    pub fn send_again(&mut self, messages: &[Signed]) {
        self.own_votes = messages
            .iter()
            .filter_map(|m| match m {
                Signed::Vote(v) => Some(v.clone()),
                Signed::Proposal(_) => None,
            })
            .collect();
    }

    /// Sends and counts the kept votes of the height being decided; forgets those of heights passed.
    fn send_own_votes(&mut self, out: &mut Vec<Output>) {
        let height = self.safety.height;
        let votes = std::mem::take(&mut self.own_votes);
        for vote in votes {
            match crate::validator_state::height_of(&Signed::Vote(vote.clone())) {
                Some(h) if h == height => {
                    out.push(Output::Broadcast(Message::Vote(vote.clone())));
                    self.check_and_take_vote(vote, out);
                }
                Some(h) if h > height => self.own_votes.push(vote),
                _ => {}
            }
        }
    }

    /// Takes up the persisted round and step, with the valid value, its proof of lock and the messages signed
    /// before the crash sent again.
    fn resume_persisted(&mut self, out: &mut Vec<Output>) {
        if let (Some((_, hash)), Some(block)) = (self.safety.valid, self.safety.valid_block.clone())
        {
            // It was validated before it became the valid value.
            self.verdicts.insert(hash, true);
            self.blocks.insert(hash, block);
        }
        // What the disk holds is checked like anything from the network before the machine takes it in.
        for vote in self.safety.valid_polka.clone() {
            self.check_and_take_vote(vote, out);
        }
        for signed in self.safety.signed.clone() {
            // A proposal's block did not survive the crash, so only votes can be sent again.
            if let Signed::Vote(vote) = signed {
                out.push(Output::Broadcast(Message::Vote(vote.clone())));
                self.check_and_take_vote(vote, out);
            }
        }
        if self.safety.step == Step::Propose {
            let round = self.safety.round;
            self.start_round(round, out);
        }
    }

    pub(super) fn on_height_committed(
        &mut self,
        height: u64,
        next: ValidatorSet,
        next_proposers: ProposerOrder,
        out: &mut Vec<Output>,
    ) {
        if height < self.safety.height {
            return;
        }
        // [L52-54] next height: reset locks and valid values, empty the message log, StartRound(0).
        let new_height = height + 1;
        let buffered = if new_height == self.safety.height + 1 {
            std::mem::take(&mut self.next_height)
        } else {
            BTreeMap::new()
        };
        self.safety = SafetyState {
            last_signed: self.safety.last_signed,
            ..SafetyState::new(new_height)
        };
        self.proposers = order_for(next_proposers, &next, new_height);
        self.verifier = Verifier::new(self.chain_id, next);
        self.choose_key();
        self.decided = false;
        self.votes = VoteBook::default();
        self.seen_votes.clear();
        self.proposals.clear();
        self.double_proposals.clear();
        self.blocks.clear();
        self.verdicts.clear();
        self.validating.clear();
        self.next_height.clear();
        self.resume = self.resume.take().filter(|s| s.height >= new_height);
        match self.resume.take_if(|s| s.height == new_height) {
            Some(persisted) => {
                // The "first time" guards and the block being built belong to the height left behind.
                self.flags = RoundFlags::default();
                self.building = None;
                self.safety = persisted;
                self.resume_persisted(out);
            }
            None => self.start_round(0, out),
        }
        self.send_own_votes(out);
        for input in buffered.into_values().flatten() {
            match input {
                Input::Proposal(p) => self.on_proposal(p, out),
                Input::Vote(v) => self.on_vote(v, out),
                _ => {}
            }
        }
    }
}
