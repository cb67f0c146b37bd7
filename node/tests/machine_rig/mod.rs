//! The test rig of `machine_rules`: one machine of four validators at height 1, the messages the others
//! would send it, and its outputs in the rules' terms.

use clearance_core::block::{Block, Header, HeaderView, block_hash};
use clearance_core::crypto::SecretKey;
use clearance_core::equivocation::EquivocationStep;
use clearance_core::genesis::ConsensusParams;
use clearance_core::hash::Hash32;
use clearance_core::ids::CountryCode;
use clearance_core::proposer::ProposerOrder;
use clearance_core::time::Timestamp;
use clearance_core::validator::{Validator, ValidatorSet};
use clearance_core::vote::{Proposal, SignedProposal, SignedVote, Vote, VoteKind};
use clearance_node::consensus::{
    CheckError, Config, Input, Machine, Message, Output, SafetyState, Signed, Step, Timeout,
    Timeouts, Verifier,
};

pub const IDS: [&str; 4] = ["CN", "DE", "FR", "JP"];

pub struct Rig {
    pub keys: Vec<SecretKey>,
    pub set: ValidatorSet,
    pub chain_id: Hash32,
    pub timeouts: Timeouts,
    pub verifier: Verifier,
    pub m: Machine,
}

/// What one call produced, in the terms the rules speak.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// (kind, round, value) of each vote signed.
    pub votes: Vec<(VoteKind, u32, Option<Hash32>)>,
    /// (round, valid round, value) of each proposal signed.
    pub proposals: Vec<(u32, Option<u32>, Hash32)>,
    pub timeouts: Vec<(Step, u32, u64)>,
    pub builds: Vec<u32>,
    pub validates: Vec<Hash32>,
    /// (round, value) of each decision.
    pub decisions: Vec<(u32, Hash32)>,
    /// (step, round) of each equivocation reported.
    pub evidence: Vec<(EquivocationStep, u32)>,
}

impl Rig {
    /// The machine of validator `me` at height 1, started; what `start` produced is dropped.
    pub fn new(me: usize) -> Rig {
        let mut rig = Rig::unstarted(me, None);
        rig.m.start();
        rig
    }

    pub fn unstarted(me: usize, persisted: Option<SafetyState>) -> Rig {
        let keys: Vec<SecretKey> = (0..4).map(|i| SecretKey::from_seed([i + 1; 32])).collect();
        let set = ValidatorSet::new(
            (0..4)
                .map(|i| Validator {
                    member: CountryCode::parse(IDS[i]).expect("id"),
                    key: keys[i].public_key(),
                })
                .collect(),
        )
        .expect("set");
        let chain_id = Hash32::sha256(b"machine rules");
        let timeouts = Timeouts::from_params(&ConsensusParams::default());
        let m = Machine::new(
            Config {
                chain_id,
                timeouts,
                keys: vec![keys[me].clone()],
            },
            set.clone(),
            ProposerOrder::rotation(4, 1),
            1,
            persisted,
        );
        Rig {
            verifier: Verifier::new(chain_id, set.clone()),
            keys,
            set,
            chain_id,
            timeouts,
            m,
        }
    }

    /// A block as round 0's proposer (validator 1) makes it.
    pub fn block(&self, nonce: u8) -> Block {
        self.block_of(nonce, 1)
    }

    /// A block made by validator `proposer`: a new proposal must name its signer in the header.
    pub fn block_of(&self, nonce: u8, proposer: usize) -> Block {
        let header = Header {
            chain_id: self.chain_id,
            height: 1,
            time: Timestamp(u64::from(nonce)),
            parent_hash: Hash32::ZERO,
            proposer: self.set.validators()[proposer].member.clone(),
            tx_count: 0,
            tx_root: clearance_core::merkle::empty_root(),
            results_root: clearance_core::merkle::empty_root(),
            log_size: 0,
            log_root: clearance_core::merkle::empty_root(),
            validator_set_hash: self.set.hash(),
            next_validator_set_hash: self.set.hash(),
            state_root: Hash32::ZERO,
        };
        Block {
            header: HeaderView::from_header(header).bytes,
            txs: Vec::new(),
        }
    }

    pub fn proposal(&mut self, round: u32, valid_round: Option<u32>, block: &Block) -> Input {
        self.try_proposal(round, valid_round, block)
            .expect("a valid proposal")
    }

    /// The proposal of `round`'s proposer, as the network's checks see it.
    pub fn try_proposal(
        &mut self,
        round: u32,
        valid_round: Option<u32>,
        block: &Block,
    ) -> Result<Input, CheckError> {
        let from = (1 + round as usize) % 4;
        let p = Proposal {
            chain_id: self.chain_id,
            height: 1,
            round,
            valid_round,
            block_hash: hash(block),
            proposer: self.set.validators()[from].member.clone(),
        };
        let signed = SignedProposal::sign(&p, &self.keys[from]);
        self.verifier
            .proposal(signed, block.clone())
            .map(Input::Proposal)
    }

    pub fn vote(
        &mut self,
        from: usize,
        round: u32,
        kind: VoteKind,
        block: Option<Hash32>,
    ) -> Input {
        let v = Vote {
            chain_id: self.chain_id,
            height: 1,
            round,
            kind,
            block,
            validator: self.set.validators()[from].member.clone(),
        };
        Input::Vote(
            self.verifier
                .vote(SignedVote::sign(&v, &self.keys[from]))
                .expect("a valid vote"),
        )
    }

    pub fn verdict(&mut self, block: &Block, valid: bool) -> Effects {
        self.handle(Input::BlockVerdict {
            height: 1,
            block_hash: hash(block),
            valid,
        })
    }

    pub fn timeout(&mut self, round: u32, step: Step) -> Effects {
        self.handle(Input::Timeout(Timeout {
            height: 1,
            round,
            step,
        }))
    }

    pub fn handle(&mut self, input: Input) -> Effects {
        let outputs = self.m.handle(input);
        persisted_first(&outputs);
        effects(&outputs)
    }

    /// Feeds each input and collects what they produced together.
    pub fn feed(&mut self, inputs: Vec<Input>) -> Effects {
        let mut all = Effects::default();
        for input in inputs {
            let e = self.handle(input);
            all.votes.extend(e.votes);
            all.proposals.extend(e.proposals);
            all.timeouts.extend(e.timeouts);
            all.builds.extend(e.builds);
            all.validates.extend(e.validates);
            all.decisions.extend(e.decisions);
            all.evidence.extend(e.evidence);
        }
        all
    }

    pub fn prevotes(&mut self, from: &[usize], round: u32, block: Option<Hash32>) -> Vec<Input> {
        from.iter()
            .map(|f| self.vote(*f, round, VoteKind::Prevote, block))
            .collect()
    }

    pub fn precommits(&mut self, from: &[usize], round: u32, block: Option<Hash32>) -> Vec<Input> {
        from.iter()
            .map(|f| self.vote(*f, round, VoteKind::Precommit, block))
            .collect()
    }

    /// Validator 0 in round 0: receives the proposal for `b`, judges it valid, and prevotes for it.
    pub fn prevoted_for(&mut self, b: &Block) {
        let p = self.proposal(0, None, b);
        self.handle(p);
        self.verdict(b, true);
    }

    /// Ends `round` without a decision: `others` precommit nil, and the precommit timeout fires.
    pub fn end_round(&mut self, round: u32, others: &[usize]) -> Effects {
        let precommits = self.precommits(others, round, None);
        self.feed(precommits);
        self.timeout(round, Step::Precommit)
    }

    /// Round 0 as validator 0 saw it: no proposal in time (nil prevote), then a polka for `c` from the others.
    pub fn polka_unseen_in_round_0(&mut self, c: &Block) {
        self.timeout(0, Step::Propose);
        let prevotes = self.prevotes(&[1, 2, 3], 0, Some(hash(c)));
        self.feed(prevotes);
        self.end_round(0, &[1, 2]);
    }

    /// The proposal of `round` for `block` arrives and the executor accepts it.
    pub fn proposed_and_valid(
        &mut self,
        round: u32,
        valid_round: Option<u32>,
        block: &Block,
    ) -> Effects {
        let p = self.proposal(round, valid_round, block);
        self.handle(p);
        self.verdict(block, true)
    }

    pub fn to_ms(&self, step: Step, round: u32) -> u64 {
        self.timeouts.duration_ms(step, round)
    }
}

pub fn hash(block: &Block) -> Hash32 {
    block_hash(block.header.as_slice())
}

/// The one rule of the driver contract: a message signed in a step is broadcast only after a safety state that
/// records it is persisted.
pub fn persisted_first(outputs: &[Output]) {
    let mut persisted: Option<&SafetyState> = None;
    for output in outputs {
        match output {
            Output::PersistSafetyState(state) => persisted = Some(state),
            Output::Broadcast(msg) => {
                let signed = match msg {
                    Message::Vote(v) => Signed::Vote(v.clone()),
                    Message::Proposal { proposal, .. } => Signed::Proposal(proposal.clone()),
                };
                assert!(
                    persisted.is_some_and(|state| state.signed.contains(&signed)),
                    "broadcast before a persisted safety state recorded it"
                );
            }
            _ => {}
        }
    }
}

/// The outputs in the rules' terms.
pub fn effects(outputs: &[Output]) -> Effects {
    let mut e = Effects::default();
    for output in outputs {
        match output {
            Output::PersistSafetyState(_) => {}
            Output::Broadcast(msg) => match msg {
                Message::Vote(v) => {
                    let v = v.claimed().expect("own vote decodes");
                    e.votes.push((v.kind, v.round, v.block));
                }
                Message::Proposal { proposal, .. } => {
                    let p = proposal.claimed().expect("own proposal decodes");
                    e.proposals.push((p.round, p.valid_round, p.block_hash));
                }
            },
            Output::ScheduleTimeout { timeout, after_ms } => {
                e.timeouts.push((timeout.step, timeout.round, *after_ms))
            }
            Output::BuildBlock { round, .. } => e.builds.push(*round),
            Output::ValidateBlock { block, .. } => e.validates.push(hash(block)),
            Output::Decide { round, block, .. } => e.decisions.push((*round, hash(block))),
            Output::Evidence(ev) => {
                let o = ev
                    .claimed()
                    .expect("evidence the machine reports conflicts");
                e.evidence.push((o.step, o.round));
            }
        }
    }
    e
}
