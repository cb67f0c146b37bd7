//! Tendermint as a pure state machine: Algorithm 1 of Buchman, Kwon and Milosevic, "The latest gossip on BFT
//! consensus" (2018). Comments of the form `[L22]` name the line of the paper a rule implements.
//!
//! Inputs are messages, timeouts, the executor's verdicts and commit notices; outputs are messages to broadcast,
//! timeouts to schedule, safety state to persist, blocks to validate or build, decisions and evidence. Nothing
//! here reads a clock, draws randomness or does I/O, so a seeded simulation replays it exactly.

use super::checked::{CheckError, CheckedMessage, CheckedProposal, CheckedVote, Verifier};
use super::peer_gossip::Item;

mod heights;
mod rules;
mod view;
use super::types::{Ignored, Input, Message, Output, SafetyState, Signed, Step, Timeout, Timeouts};
use super::votes::{VoteBook, VoteOutcome};
use clearance_core::block::Block;
use clearance_core::crypto::SecretKey;
use clearance_core::equivocation::Equivocation;
use clearance_core::hash::Hash32;
use clearance_core::proposer::ProposerOrder;
use clearance_core::validator::ValidatorSet;
use clearance_core::vote::{
    CommitCertificate, Proposal, SignedProposal, SignedVote, Vote, VoteError, VoteKind,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// How many rounds above the current one a member may have messages buffered in; more are dropped.
pub const MAX_FUTURE_ROUNDS_PER_MEMBER: usize = 4;
/// Messages buffered per member for the next height, of which at most two proposals.
pub const MAX_NEXT_HEIGHT_PER_MEMBER: usize = 8;
const MAX_NEXT_HEIGHT_PROPOSALS_PER_MEMBER: usize = 2;
/// Distinct proposals kept per round. Only an equivocating proposer makes more than one; keeping a few lets an
/// honest node follow whichever of them gathers a quorum, and the cap bounds what the equivocator can pin.
pub const MAX_PROPOSALS_PER_ROUND: usize = 4;
/// Rounds beyond this are absurd for any real network and are refused outright.
pub const MAX_ROUND: u32 = 1_000_000;

pub struct Config {
    pub chain_id: Hash32,
    pub timeouts: Timeouts,
    /// The validator keys this node holds: none for a node that only follows consensus, two while a rotation
    /// of its validator key is pending. It signs with the one in the set of the height at hand.
    pub keys: Vec<SecretKey>,
}

/// A proposal accepted for a round, with the block it names.
struct RoundProposal {
    signed: SignedProposal,
    proposal: Proposal,
    block: Block,
}

/// The "for the first time" guards of the current round.
#[derive(Debug, Default)]
struct RoundFlags {
    /// [L34]
    prevote_timeout_scheduled: bool,
    /// [L36]
    polka_seen: bool,
    /// [L47]
    precommit_timeout_scheduled: bool,
}

pub struct Machine {
    chain_id: Hash32,
    timeouts: Timeouts,
    /// The validator keys this node holds; `key` is the one it signs with at this height.
    keys: Vec<SecretKey>,
    key: Option<SecretKey>,
    /// The validator set of this height, and the checks of messages against it.
    verifier: Verifier,
    /// Who proposes in each round of this height.
    proposers: ProposerOrder,
    /// This node's index in `validators`, if it is a member.
    me: Option<usize>,
    /// h_p, round_p, step_p, the lock, the valid value and what was signed.
    safety: SafetyState,
    /// The persisted state of a later height, taken up when the node reaches it (after a wiped database).
    resume: Option<SafetyState>,
    /// Votes this validator signed before a restart, sent again when the machine reaches their height.
    own_votes: Vec<SignedVote>,
    /// decision_p[h_p] ≠ nil: waiting for `HeightCommitted`.
    decided: bool,
    votes: VoteBook,
    /// Signed votes already taken in at this height, so that repeats cost a lookup instead of a verification.
    seen_votes: HashSet<SignedVote>,
    /// Proposals of each round in arrival order; the first is the one the prevote rules use.
    proposals: BTreeMap<u32, Vec<RoundProposal>>,
    /// Rounds whose proposer was caught signing two different proposals (reported once each).
    double_proposals: BTreeSet<u32>,
    /// Blocks of this height by hash (proposals seen), so a valid value can be proposed again.
    blocks: BTreeMap<Hash32, Block>,
    verdicts: HashMap<Hash32, bool>,
    validating: HashSet<Hash32>,
    flags: RoundFlags,
    /// The round for which a block to propose was requested.
    building: Option<u32>,
    /// Messages for `h_p + 1`, by sender index.
    next_height: BTreeMap<usize, Vec<Input>>,
    ignored: Ignored,
}

impl Machine {
    /// A machine for `height` with `validators`, whose rounds go to `proposers`. `persisted` is the safety state
    /// last synced to disk, if any: when it is for the same height the machine resumes where it stopped, and in
    /// every case it never signs at or below the last signed step. Call [`Machine::start`] next.
    pub fn new(
        config: Config,
        validators: ValidatorSet,
        proposers: ProposerOrder,
        height: u64,
        persisted: Option<SafetyState>,
    ) -> Machine {
        let mut resume = None;
        let safety = match persisted {
            Some(s) if s.height == height => s,
            Some(s) => {
                // A node whose chain database was wiped (its validator state file kept) syncs up to the height
                // it was deciding, and resumes there as if it had never stopped.
                let last_signed = s.last_signed;
                if s.height > height {
                    resume = Some(s);
                }
                SafetyState {
                    last_signed,
                    ..SafetyState::new(height)
                }
            }
            None => SafetyState::new(height),
        };
        let mut m = Machine {
            chain_id: config.chain_id,
            timeouts: config.timeouts,
            keys: config.keys,
            key: None,
            me: None,
            proposers: order_for(proposers, &validators, height),
            verifier: Verifier::new(config.chain_id, validators),
            safety,
            resume,
            own_votes: Vec::new(),
            decided: false,
            votes: VoteBook::default(),
            seen_votes: HashSet::new(),
            proposals: BTreeMap::new(),
            double_proposals: BTreeSet::new(),
            blocks: BTreeMap::new(),
            verdicts: HashMap::new(),
            validating: HashSet::new(),
            flags: RoundFlags::default(),
            building: None,
            next_height: BTreeMap::new(),
            ignored: Ignored::default(),
        };
        m.choose_key();
        m
    }

    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Proposal(p) => self.on_proposal(p, &mut out),
            Input::Vote(vote) => self.on_vote(vote, &mut out),
            Input::Timeout(t) => self.on_timeout(t, &mut out),
            Input::BlockVerdict {
                height,
                block_hash,
                valid,
            } => {
                if height == self.safety.height {
                    self.validating.remove(&block_hash);
                    self.verdicts.insert(block_hash, valid);
                }
            }
            Input::BlockToPropose {
                height,
                round,
                block,
            } => self.on_block_to_propose(height, round, block, &mut out),
            Input::HeightCommitted {
                height,
                next_validators,
                next_proposers,
            } => self.on_height_committed(height, next_validators, next_proposers, &mut out),
        }
        self.evaluate(&mut out);
        out
    }

    /// The key this node signs with at the current height: the first of its keys in the set (a node holds two
    /// while a rotation of its validator key is pending), and its index there.
    fn choose_key(&mut self) {
        let set = self.verifier.validators().validators();
        let chosen = self.keys.iter().find_map(|k| {
            let public = k.public_key();
            set.iter().position(|v| v.key == public).map(|i| (k, i))
        });
        match chosen {
            Some((k, i)) => {
                self.key = Some(k.clone());
                self.me = Some(i);
            }
            None => {
                // It signs nothing while none of its keys is in the set (`may_sign` needs `me`).
                self.key = self.keys.first().cloned();
                self.me = None;
            }
        }
    }

    /// Replaces the validator keys this node holds, from the next height on: during a rotation, the key in force
    /// and the next one.
    pub fn set_keys(&mut self, keys: Vec<SecretKey>) {
        self.keys = keys;
    }

    fn quorum(&self) -> usize {
        self.verifier.validators().quorum()
    }

    fn is_proposer(&self, round: u32) -> bool {
        self.me.is_some_and(|i| self.proposers.index(round) == i)
    }

    fn schedule(&self, step: Step, out: &mut Vec<Output>) {
        let round = self.safety.round;
        out.push(Output::ScheduleTimeout {
            timeout: Timeout {
                height: self.safety.height,
                round,
                step,
            },
            after_ms: self.timeouts.duration_ms(step, round),
        });
    }

    /// [L11] StartRound(round).
    fn start_round(&mut self, round: u32, out: &mut Vec<Output>) {
        self.safety.round = round; // [L12]
        self.safety.step = Step::Propose; // [L13]
        self.flags = RoundFlags::default();
        self.building = None;
        if self.is_proposer(round) {
            // [L14]
            let valid_block = self
                .safety
                .valid
                .and_then(|(vr, hash)| self.blocks.get(&hash).map(|b| (vr, b.clone())));
            match valid_block {
                // [L15-16] propose validValue with validRound.
                Some((vr, block)) => self.sign_proposal(block, Some(vr), out),
                // [L18] getValue(). After a restart the valid block may be gone from memory; proposing a new
                // value then costs liveness at most, never safety.
                None => {
                    self.building = Some(round);
                    out.push(Output::BuildBlock {
                        height: self.safety.height,
                        round,
                    });
                }
            }
        }
        // [L21] The proposer schedules it too: should its own block never arrive, it still moves on.
        self.schedule(Step::Propose, out);
    }

    /// Whether this validator may sign at `step` of the current round: strictly after everything it signed.
    fn may_sign(&self, step: Step) -> bool {
        let here = (self.safety.height, self.safety.round, step);
        self.key.is_some()
            && self.me.is_some()
            && self.safety.last_signed.is_none_or(|last| here > last)
    }

    /// Records a signature in the safety state, asks for it to be synced, and only then broadcasts.
    fn release(&mut self, step: Step, msg: CheckedMessage, out: &mut Vec<Output>) {
        self.safety.last_signed = Some((self.safety.height, self.safety.round, step));
        self.safety.signed.push(match &msg {
            CheckedMessage::Proposal(p) => Signed::Proposal(p.signed().clone()),
            CheckedMessage::Vote(v) => Signed::Vote(v.signed().clone()),
        });
        out.push(Output::PersistSafetyState(self.safety.clone()));
        // The paper counts a process's own messages like any other.
        match msg {
            CheckedMessage::Proposal(p) => {
                out.push(Output::Broadcast(Message::Proposal {
                    proposal: p.signed().clone(),
                    block: p.block().clone(),
                }));
                self.on_proposal(p, out);
            }
            CheckedMessage::Vote(v) => {
                out.push(Output::Broadcast(Message::Vote(v.signed().clone())));
                self.on_vote(v, out);
            }
        }
    }

    /// [L19] broadcast ⟨PROPOSAL, h_p, round_p, proposal, validRound_p⟩.
    fn sign_proposal(&mut self, block: Block, valid_round: Option<u32>, out: &mut Vec<Output>) {
        if !self.may_sign(Step::Propose) {
            return;
        }
        let (Some(key), Some(me)) = (&self.key, self.me) else {
            return;
        };
        let hash = clearance_core::block::block_hash(block.header.as_slice());
        let proposal = Proposal {
            chain_id: self.chain_id,
            height: self.safety.height,
            round: self.safety.round,
            valid_round,
            block_hash: hash,
            proposer: self.verifier.validators().validators()[me].member.clone(),
        };
        let signed = SignedProposal::sign(&proposal, key);
        // A block this node built, or its valid value, which it already validated.
        self.verdicts.insert(hash, true);
        let set = self.verifier.set_hash();
        let checked = CheckedProposal::signed_here(signed, proposal, block, set);
        self.release(Step::Propose, CheckedMessage::Proposal(checked), out);
    }

    /// Signs and releases a prevote or precommit for `block` in the current round. The caller has already moved
    /// `step_p` and any lock, so the persisted state covers them.
    fn sign_vote(&mut self, kind: VoteKind, block: Option<Hash32>, out: &mut Vec<Output>) {
        let step = match kind {
            VoteKind::Prevote => Step::Prevote,
            VoteKind::Precommit => Step::Precommit,
        };
        if !self.may_sign(step) {
            return;
        }
        let (Some(key), Some(me)) = (&self.key, self.me) else {
            return;
        };
        let vote = Vote {
            chain_id: self.chain_id,
            height: self.safety.height,
            round: self.safety.round,
            kind,
            block,
            validator: self.verifier.validators().validators()[me].member.clone(),
        };
        let signed = SignedVote::sign(&vote, key);
        let checked = CheckedVote::signed_here(signed, vote, self.verifier.set_hash());
        self.release(step, CheckedMessage::Vote(checked), out);
    }

    fn count_check_error(&mut self, e: &CheckError) {
        match e {
            CheckError::Signed(VoteError::Decode(_))
            | CheckError::Body(_)
            | CheckError::NotTheProposedBlock
            | CheckError::ProposerNotNamed => self.ignored.malformed += 1,
            CheckError::Signed(VoteError::WrongChain { .. }) => self.ignored.wrong_chain += 1,
            CheckError::Signed(VoteError::NotAValidator(_)) => self.ignored.non_member += 1,
            CheckError::Signed(VoteError::Signature { .. }) => self.ignored.bad_signature += 1,
        }
    }

    /// A vote from the disk: checked here, as nothing else has.
    fn check_and_take_vote(&mut self, signed: SignedVote, out: &mut Vec<Output>) {
        match self.verifier.vote(signed) {
            Ok(checked) => self.on_vote(checked, out),
            Err(e) => self.count_check_error(&e),
        }
    }

    /// Where a message of `height` and `round` from member `index` goes: `Ok(true)` to be processed now,
    /// `Ok(false)` buffered for the next height, `Err(())` ignored (and counted).
    fn admit(&mut self, index: usize, height: u64, round: u32, input: &Input) -> Result<bool, ()> {
        let h = self.safety.height;
        if height < h {
            self.ignored.past += 1;
            return Err(());
        }
        if height > h.saturating_add(1) || round > MAX_ROUND {
            self.ignored.far_future += 1;
            return Err(());
        }
        if height == h + 1 {
            let queue = self.next_height.entry(index).or_default();
            if queue.contains(input) {
                self.ignored.duplicate += 1;
                return Err(());
            }
            let proposals = queue
                .iter()
                .filter(|i| matches!(i, Input::Proposal(_)))
                .count();
            let is_proposal = matches!(input, Input::Proposal(_));
            if queue.len() >= MAX_NEXT_HEIGHT_PER_MEMBER
                || (is_proposal && proposals >= MAX_NEXT_HEIGHT_PROPOSALS_PER_MEMBER)
            {
                self.ignored.buffer_full += 1;
                return Err(());
            }
            queue.push(input.clone());
            return Ok(false);
        }
        if round > self.safety.round
            && !self.votes.has_participated(index, round)
            && self.votes.rounds_above(index, self.safety.round) >= MAX_FUTURE_ROUNDS_PER_MEMBER
        {
            self.ignored.buffer_full += 1;
            return Err(());
        }
        Ok(true)
    }

    fn on_proposal(&mut self, checked: CheckedProposal, out: &mut Vec<Output>) {
        let known = self
            .proposals
            .values()
            .flatten()
            .any(|p| p.signed == *checked.signed());
        if known {
            self.ignored.duplicate += 1;
            return;
        }
        // Checked against another validator set (the network's, before this height's set took over): again.
        let checked = if checked.set_hash() == self.verifier.set_hash() {
            checked
        } else {
            let (signed, block) = checked.into_parts();
            match self.verifier.proposal(signed, block) {
                Ok(c) => c,
                Err(e) => return self.count_check_error(&e),
            }
        };
        let proposal = checked.proposal().clone();
        let Some(index) = self.verifier.validators().index_of(&proposal.proposer) else {
            self.ignored.non_member += 1;
            return;
        };
        let input = Input::Proposal(checked);
        match self.admit(index, proposal.height, proposal.round, &input) {
            Ok(true) => {}
            Ok(false) | Err(()) => return,
        }
        // Only now: the next height's order is known once this one is committed, and a proposal buffered for it
        // comes back through here then.
        if self.proposers.index(proposal.round) != index {
            self.ignored.not_from_proposer += 1;
            return;
        }
        let Input::Proposal(checked) = input else {
            return;
        };
        let (signed, block) = checked.into_parts();
        // The check matched the block's body and header to the signed hash.
        let hash = proposal.block_hash;
        let round_no = proposal.round;
        let round = self.proposals.entry(round_no).or_default();
        // Only the round's proposer gets here, so a second proposal that differs from the first (another block,
        // or the same block with another valid round) is an equivocation, whatever happens to it below.
        if let Some(first) = round.first()
            && first.proposal != proposal
            && self.double_proposals.insert(round_no)
        {
            out.push(Output::Evidence(Equivocation::DoubleProposal {
                first: first.signed.clone(),
                second: signed.clone(),
            }));
        }
        if round.iter().any(|p| p.proposal.block_hash == hash)
            || round.len() >= MAX_PROPOSALS_PER_ROUND
        {
            // The same block again (perhaps with another valid round), or an equivocator past the cap.
            self.ignored.duplicate += 1;
            return;
        }
        round.push(RoundProposal {
            signed,
            proposal: proposal.clone(),
            block: block.clone(),
        });
        self.votes.add_participant(index, round_no);
        if !self.verdicts.contains_key(&hash) && self.validating.insert(hash) {
            out.push(Output::ValidateBlock {
                height: proposal.height,
                block: block.clone(),
            });
        }
        self.blocks.entry(hash).or_insert(block);
    }

    fn on_vote(&mut self, checked: CheckedVote, out: &mut Vec<Output>) {
        if self.seen_votes.contains(checked.signed()) {
            self.ignored.duplicate += 1;
            return;
        }
        let checked = if checked.set_hash() == self.verifier.set_hash() {
            checked
        } else {
            match self.verifier.vote(checked.into_signed()) {
                Ok(c) => c,
                Err(e) => return self.count_check_error(&e),
            }
        };
        let vote = checked.vote().clone();
        let Some(index) = self.verifier.validators().index_of(&vote.validator) else {
            self.ignored.non_member += 1;
            return;
        };
        let input = Input::Vote(checked);
        match self.admit(index, vote.height, vote.round, &input) {
            Ok(true) => {}
            Ok(false) | Err(()) => return,
        }
        let Input::Vote(checked) = input else {
            return;
        };
        let signed = checked.into_signed();
        // A vote that was not counted (see MAX_VALUES_PER_VOTER) must be counted when it comes again.
        let relevant = vote.block.is_none_or(|h| self.blocks.contains_key(&h));
        if relevant {
            self.seen_votes.insert(signed.clone());
        }
        match self
            .votes
            .add_vote(index, vote.round, vote.kind, vote.block, &signed, relevant)
        {
            VoteOutcome::New => {}
            VoteOutcome::Duplicate => self.ignored.duplicate += 1,
            VoteOutcome::Equivocation(evidence) => {
                if let Some(e) = evidence {
                    out.push(Output::Evidence(e));
                }
            }
        }
    }

    fn on_block_to_propose(
        &mut self,
        height: u64,
        round: u32,
        block: Block,
        out: &mut Vec<Output>,
    ) {
        let current = height == self.safety.height
            && round == self.safety.round
            && self.safety.step == Step::Propose
            && self.building == Some(round)
            && !self.decided;
        if current {
            self.building = None;
            self.sign_proposal(block, None, out);
        }
    }

    fn on_timeout(&mut self, t: Timeout, out: &mut Vec<Output>) {
        if self.decided || t.height != self.safety.height || t.round != self.safety.round {
            return;
        }
        match t.step {
            // [L57-60] OnTimeoutPropose
            Step::Propose if self.safety.step == Step::Propose => {
                self.safety.step = Step::Prevote;
                self.sign_vote(VoteKind::Prevote, None, out);
            }
            // [L61-64] OnTimeoutPrevote
            Step::Prevote if self.safety.step == Step::Prevote => {
                self.safety.step = Step::Precommit;
                self.sign_vote(VoteKind::Precommit, None, out);
            }
            // [L65-67] OnTimeoutPrecommit
            Step::Precommit => {
                let next = self.safety.round.saturating_add(1);
                self.start_round(next, out);
            }
            _ => {}
        }
    }
}

/// `proposers` if it was computed for `height` and `set`, or else Tendermint's rotation. Callers compute it
/// from the same committed state as the set; the fallback keeps a mismatch a liveness matter, never a panic.
fn order_for(proposers: ProposerOrder, set: &ValidatorSet, height: u64) -> ProposerOrder {
    let n = set.len();
    let fits = proposers.height() == height && proposers.members() == n;
    debug_assert!(
        fits,
        "proposer order for height {} used at {height}",
        proposers.height()
    );
    if fits {
        proposers
    } else {
        ProposerOrder::rotation(n, height)
    }
}
