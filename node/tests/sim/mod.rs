//! A seeded, deterministic simulator of the consensus state machine.
//!
//! N simulated validators run the real [`Machine`] with real ed25519 signing under a virtual clock. The network
//! delays, reorders, duplicates and drops messages, partitions form and heal on a schedule, honest nodes crash
//! (sometimes between persisting their safety state and sending what it covers) and restart from what they
//! persisted, and up to f members are Byzantine: silent, an equivocating proposer, a double voter, or twins (two
//! instances with one key, each fed a different part of the network). After the network heals ("GST") there is no
//! loss and delays are bounded.
//!
//! Every run is checked for agreement, validity, no conflicting signatures by honest nodes, and liveness after
//! the heal. Everything random comes from one seed, so a failing seed replays exactly.

use clearance_core::block::{Block, Header, HeaderView, block_hash};
use clearance_core::crypto::SecretKey;
use clearance_core::genesis::ConsensusParams;
use clearance_core::hash::Hash32;
use clearance_core::ids::CountryCode;
use clearance_core::time::Timestamp;
use clearance_core::validator::{Validator, ValidatorSet};
use clearance_core::vote::{
    CommitCertificate, Proposal, SignedProposal, SignedVote, Vote, verify_commit,
};
use clearance_node::consensus::{
    Config, Input, Machine, Message, Output, SafetyState, Signed, Step, Timeout, Timeouts,
};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

#[path = "../support/rng.rs"]
mod rng;
pub use rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    Honest,
    /// Never sends anything.
    Silent,
    /// Proposes two different blocks in each of its rounds, one to each half of the network (one of them
    /// sometimes invalid).
    EquivocatingProposer,
    /// Signs a conflicting vote next to each of its votes, one to each half of the network.
    DoubleVoter,
    /// One of two instances sharing a validator key.
    Twin,
    /// Sends each message to a random part of the network, then falls silent at a random time.
    SelectiveThenSilent,
}

const MEMBER_IDS: [&str; 7] = ["AZ", "CN", "DE", "FR", "JP", "KG", "KZ"];

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
    /// `(from, to, groups)`: slots in different groups cannot reach each other in `[from, to)`.
    pub partitions: Vec<(u64, u64, Vec<BTreeSet<usize>>)>,
    /// `(slot, crash_at, restart_at, mid_output)`: with `mid_output`, the crash strikes while the node works
    /// through its outputs, after it persisted and before it sent everything.
    pub crashes: Vec<(usize, u64, u64, bool)>,
    pub heal_at: u64,
    /// When a `SelectiveThenSilent` member stops sending.
    pub silent_at: u64,
    /// Largest delay of the node's own executor (verdicts and blocks to propose).
    pub executor_delay_ms: u64,
    /// Heights every honest node must decide after the heal, within `liveness_bound_ms`.
    pub heights_after_heal: u64,
    pub liveness_bound_ms: u64,
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
                // Each side gets at least one honest node.
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
            if heal_at > 1000 && rng.chance(0.3) {
                let at = rng.range(0, heal_at - 500);
                let back = rng.range(at + 1, heal_at);
                crashes.push((h, at, back, rng.chance(0.5)));
            }
        }
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
            heal_at,
            silent_at: rng.range(0, heal_at + 5000),
            executor_delay_ms: rng.range(0, 400),
            heights_after_heal: 3,
            liveness_bound_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone)]
enum Event {
    Deliver {
        to: usize,
        msg: Message,
    },
    /// An answer from the node's own executor or storage, fed back after the current batch of outputs, as the
    /// real driver does.
    Input {
        slot: usize,
        incarnation: u64,
        input: Input,
    },
    Timeout {
        slot: usize,
        incarnation: u64,
        timeout: Timeout,
    },
    Regossip {
        slot: usize,
    },
    Crash {
        slot: usize,
        mid_output: bool,
    },
    Restart {
        slot: usize,
    },
}

/// What survives a crash: the synced safety state and the committed chain.
#[derive(Default)]
struct Disk {
    safety: Option<SafetyState>,
    chain: Vec<(Block, CommitCertificate)>,
}

struct Slot {
    validator: usize,
    behavior: Behavior,
    machine: Option<Machine>,
    incarnation: u64,
    disk: Disk,
    /// Set when the next output batch should be cut short by a crash.
    crash_mid_output: bool,
    /// (height, round, step) at the last gossip tick: a node re-gossips only when it made no progress since.
    last_progress: Option<(u64, u32, Step)>,
}

/// The verdict of a run.
#[derive(Debug)]
pub struct Report {
    pub decided_heights: u64,
    /// Heights that some honest node decided through its own consensus rather than only through block sync.
    pub by_consensus: u64,
    pub messages: u64,
    pub evidence: u64,
}

pub struct Sim {
    s: Scenario,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: HashMap<usize, Event>,
    next_event_id: usize,
    keys: Vec<SecretKey>,
    set: ValidatorSet,
    chain_id: Hash32,
    timeouts: Timeouts,
    slots: Vec<Slot>,
    /// Every block the sim built, with whether its executor verdict is valid.
    proposed: HashMap<Hash32, bool>,
    /// Blocks some signed proposal named.
    proposed_by: std::collections::HashSet<Hash32>,
    /// height -> the block honest nodes decided.
    decisions: BTreeMap<u64, Hash32>,
    /// (slot, height) -> time decided.
    decided_at: HashMap<(usize, u64), u64>,
    /// (validator, height, round, step) -> the bytes an honest validator signed there.
    signed: HashMap<(usize, u64, u32, Step), Vec<u8>>,
    /// Heights some honest node decided through its own consensus, with when.
    decided_by_consensus: BTreeMap<u64, u64>,
    block_nonce: u64,
    messages: u64,
    evidence: u64,
}

fn nonce_hash(n: u64) -> Hash32 {
    Hash32::sha256(&n.to_le_bytes())
}

impl Sim {
    pub fn new(s: Scenario, seed: u64) -> Sim {
        let keys: Vec<SecretKey> = (0..s.n)
            .map(|i| SecretKey::from_seed([i as u8 + 1; 32]))
            .collect();
        let set = ValidatorSet::new(
            (0..s.n)
                .map(|i| Validator {
                    member: CountryCode::parse(MEMBER_IDS[i]).expect("member id"),
                    key: keys[i].public_key(),
                })
                .collect(),
        )
        .expect("validator set");
        // The set sorts by member id; MEMBER_IDS is sorted, so validator i is keys[i].
        let params = ConsensusParams {
            timeout_propose_ms: 300,
            timeout_prevote_ms: 200,
            timeout_precommit_ms: 200,
            timeout_delta_ms: 100,
            ..ConsensusParams::default()
        };
        let slots = s
            .behaviors
            .iter()
            .enumerate()
            .map(|(i, b)| Slot {
                validator: if i < s.n {
                    i
                } else {
                    s.twin_of.expect("twin slot")
                },
                behavior: *b,
                machine: None,
                incarnation: 0,
                disk: Disk::default(),
                crash_mid_output: false,
                last_progress: None,
            })
            .collect();
        Sim {
            rng: Rng::new(seed.wrapping_mul(31).wrapping_add(7)),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: HashMap::new(),
            next_event_id: 0,
            keys,
            set,
            chain_id: Hash32::sha256(&seed.to_le_bytes()),
            timeouts: Timeouts::from_params(&params),
            slots,
            proposed: HashMap::new(),
            proposed_by: std::collections::HashSet::new(),
            decisions: BTreeMap::new(),
            decided_at: HashMap::new(),
            signed: HashMap::new(),
            decided_by_consensus: BTreeMap::new(),
            block_nonce: 0,
            messages: 0,
            evidence: 0,
            s,
        }
    }

    fn push(&mut self, at: u64, event: Event) {
        let id = self.next_event_id;
        self.next_event_id += 1;
        self.seq += 1;
        self.events.insert(id, event);
        self.queue.push(Reverse((at, self.seq, id)));
    }

    fn honest(&self, slot: usize) -> bool {
        self.slots[slot].behavior == Behavior::Honest
    }

    fn committed_height(&self, slot: usize) -> u64 {
        self.slots[slot].disk.chain.len() as u64
    }

    fn can_reach(&self, from: usize, to: usize) -> bool {
        if let Some((a, b)) = &self.s.twin_groups {
            let twins = [self.s.twin_of.unwrap_or(usize::MAX), self.s.n];
            for (twin, group) in twins.iter().zip([a, b]) {
                if (from == *twin || to == *twin) && !(group.contains(&from) && group.contains(&to))
                {
                    return false;
                }
            }
        }
        if self.now >= self.s.heal_at {
            return true;
        }
        !self.s.partitions.iter().any(|(start, end, groups)| {
            (*start..*end).contains(&self.now)
                && groups.iter().any(|g| g.contains(&from) != g.contains(&to))
        })
    }

    fn send(&mut self, from: usize, to: usize, msg: Message) {
        if from == to || !self.can_reach(from, to) {
            return;
        }
        let healed = self.now >= self.s.heal_at;
        if !healed && self.rng.chance(self.s.loss) {
            return;
        }
        let copies = if !healed && self.rng.chance(self.s.duplication) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self.rng.range(1, self.s.max_delay_ms);
            self.messages += 1;
            self.push(
                self.now + delay,
                Event::Deliver {
                    to,
                    msg: msg.clone(),
                },
            );
        }
    }

    fn broadcast_to(&mut self, from: usize, targets: &[usize], msg: &Message) {
        for &to in targets {
            self.send(from, to, msg.clone());
        }
    }

    fn all_slots(&self) -> Vec<usize> {
        (0..self.slots.len()).collect()
    }

    fn new_block(&mut self, height: u64, proposer: usize, valid: bool) -> Block {
        self.block_nonce += 1;
        let tx = clearance_core::Bytes(self.block_nonce.to_le_bytes().to_vec());
        let header = Header {
            chain_id: self.chain_id,
            height,
            time: Timestamp(self.now),
            parent_hash: nonce_hash(self.block_nonce),
            proposer: self.set.validators()[proposer].member.clone(),
            tx_count: 1,
            tx_root: clearance_core::block::tx_root(std::slice::from_ref(&tx)),
            results_root: clearance_core::merkle::empty_root(),
            // The sim's executor accepts only blocks with an empty log; 1 marks a block it rejects.
            log_size: u64::from(!valid),
            log_root: clearance_core::merkle::empty_root(),
            validator_set_hash: self.set.hash(),
            next_validator_set_hash: self.set.hash(),
        };
        let block = Block {
            header: HeaderView::from_header(header).bytes,
            txs: vec![tx],
        };
        self.proposed
            .insert(block_hash(block.header.as_slice()), valid);
        block
    }

    /// The executor's verdict: the block decodes, carries what its header says, and is for this height.
    fn is_valid(&self, height: u64, block: &Block) -> bool {
        block.verify_body().is_ok_and(|v| {
            v.header.height == height
                && v.header.chain_id == self.chain_id
                && v.header.log_size == 0
        })
    }

    fn start_slot(&mut self, slot: usize) {
        if self.slots[slot].behavior == Behavior::Silent {
            return;
        }
        let validator = self.slots[slot].validator;
        let height = self.committed_height(slot) + 1;
        let config = Config {
            chain_id: self.chain_id,
            timeouts: self.timeouts,
            key: Some(self.keys[validator].clone()),
        };
        let persisted = self.slots[slot].disk.safety.clone();
        let mut machine = Machine::new(config, self.set.clone(), height, persisted);
        let outputs = machine.start();
        self.slots[slot].machine = Some(machine);
        self.slots[slot].incarnation += 1;
        self.process(slot, outputs);
    }

    /// Feeds an answer of the node's own executor after a random delay, as a real executor takes time.
    fn feed_later(&mut self, slot: usize, input: Input) {
        let incarnation = self.slots[slot].incarnation;
        let delay = self.rng.range(0, self.s.executor_delay_ms);
        self.push(
            self.now + delay,
            Event::Input {
                slot,
                incarnation,
                input,
            },
        );
    }

    fn feed(&mut self, slot: usize, input: Input) {
        let Some(machine) = self.slots[slot].machine.as_mut() else {
            return;
        };
        let outputs = machine.handle(input);
        self.process(slot, outputs);
    }

    fn record_signature(&mut self, slot: usize, msg: &Message) -> Result<(), String> {
        if !self.honest(slot) {
            return Ok(());
        }
        let validator = self.slots[slot].validator;
        let (key, value) = match msg {
            Message::Vote(v) => {
                let vote: Vote = clearance_core::encoding::decode(v.vote.as_slice(), 512, "vote")
                    .map_err(|e| e.to_string())?;
                let step = match vote.kind {
                    clearance_core::vote::VoteKind::Prevote => Step::Prevote,
                    clearance_core::vote::VoteKind::Precommit => Step::Precommit,
                };
                ((validator, vote.height, vote.round, step), v.vote.0.clone())
            }
            Message::Proposal { proposal, .. } => {
                return self.record_proposal_signature(slot, proposal);
            }
        };
        match self.signed.get(&key) {
            Some(previous) if *previous != value => Err(format!(
                "honest validator {} signed two different messages at height {}, round {}, step {:?}",
                key.0, key.1, key.2, key.3
            )),
            _ => {
                self.signed.insert(key, value);
                Ok(())
            }
        }
    }

    fn record_proposal_signature(
        &mut self,
        slot: usize,
        proposal: &SignedProposal,
    ) -> Result<(), String> {
        let p: Proposal =
            clearance_core::encoding::decode(proposal.proposal.as_slice(), 512, "proposal")
                .map_err(|e| e.to_string())?;
        self.proposed_by.insert(p.block_hash);
        if !self.honest(slot) {
            return Ok(());
        }
        let key = (self.slots[slot].validator, p.height, p.round, Step::Propose);
        match self.signed.get(&key) {
            Some(previous) if *previous != proposal.proposal.0 => Err(format!(
                "honest validator {} signed two different proposals at height {}, round {}",
                key.0, key.1, key.2
            )),
            _ => {
                self.signed.insert(key, proposal.proposal.0.clone());
                Ok(())
            }
        }
    }

    fn process(&mut self, slot: usize, outputs: Vec<Output>) {
        let cut = if self.slots[slot].crash_mid_output && !outputs.is_empty() {
            self.slots[slot].crash_mid_output = false;
            Some(self.rng.range(0, outputs.len() as u64 - 1) as usize)
        } else {
            None
        };
        for (i, output) in outputs.into_iter().enumerate() {
            if cut == Some(i) {
                self.crash(slot);
                return;
            }
            if let Err(e) = self.apply(slot, output) {
                panic!("{e}");
            }
            if self.slots[slot].machine.is_none() {
                return;
            }
        }
    }

    fn apply(&mut self, slot: usize, output: Output) -> Result<(), String> {
        match output {
            Output::PersistSafetyState(state) => {
                // The sim's disk syncs at once. Whatever the state says was signed counts as signed.
                match state.signed.last() {
                    Some(Signed::Vote(v)) => {
                        self.record_signature(slot, &Message::Vote(v.clone()))?
                    }
                    Some(Signed::Proposal(p)) => self.record_proposal_signature(slot, p)?,
                    None => {}
                }
                self.slots[slot].disk.safety = Some(state);
            }
            Output::Broadcast(msg) => {
                self.record_signature(slot, &msg)?;
                self.byzantine_broadcast(slot, msg);
            }
            Output::ScheduleTimeout { timeout, after_ms } => {
                let incarnation = self.slots[slot].incarnation;
                self.push(
                    self.now + after_ms,
                    Event::Timeout {
                        slot,
                        incarnation,
                        timeout,
                    },
                );
            }
            Output::ValidateBlock { height, block } => {
                let valid = self.is_valid(height, &block);
                self.feed_later(
                    slot,
                    Input::BlockVerdict {
                        height,
                        block_hash: block_hash(block.header.as_slice()),
                        valid,
                    },
                );
            }
            Output::BuildBlock { height, round } => {
                let validator = self.slots[slot].validator;
                let block = self.new_block(height, validator, true);
                self.feed_later(
                    slot,
                    Input::BlockToPropose {
                        height,
                        round,
                        block,
                    },
                );
            }
            Output::Decide {
                height,
                block,
                certificate,
                ..
            } => {
                if self.honest(slot) {
                    self.decided_by_consensus.entry(height).or_insert(self.now);
                }
                self.commit(slot, height, block, certificate)?
            }
            Output::Evidence(e) => {
                e.verify(&self.chain_id, &self.set)
                    .map_err(|err| format!("the machine reported false evidence: {err}"))?;
                self.evidence += 1;
            }
        }
        Ok(())
    }

    fn commit(
        &mut self,
        slot: usize,
        height: u64,
        block: Block,
        cert: CommitCertificate,
    ) -> Result<(), String> {
        let view = block.verify_body().map_err(|e| {
            format!("slot {slot} decided height {height}, a block whose body does not match: {e}")
        })?;
        verify_commit(&self.chain_id, &self.set, &view, &cert).map_err(|e| {
            format!("slot {slot} decided height {height} with a bad certificate: {e}")
        })?;
        let committed = self.committed_height(slot);
        if height <= committed {
            // Already committed through block sync while the machine was deciding it.
            let (stored, _) = &self.slots[slot].disk.chain[(height - 1) as usize];
            if block_hash(stored.header.as_slice()) != view.hash && self.honest(slot) {
                return Err(format!(
                    "agreement violated at height {height} within slot {slot}"
                ));
            }
            return Ok(());
        }
        if committed + 1 != height {
            return Err(format!(
                "slot {slot} decided height {height} with {committed} committed"
            ));
        }
        if self.honest(slot) {
            // Validity: decided blocks were proposed and are valid.
            if !self.proposed_by.contains(&view.hash) {
                return Err(format!(
                    "height {height}: a block nobody proposed was decided"
                ));
            }
            match self.proposed.get(&view.hash) {
                Some(true) => {}
                Some(false) => {
                    return Err(format!("height {height}: an invalid block was decided"));
                }
                None => {
                    return Err(format!(
                        "height {height}: a block the sim never built was decided"
                    ));
                }
            }
            // Agreement.
            match self.decisions.get(&height) {
                Some(other) if *other != view.hash => {
                    return Err(format!(
                        "agreement violated at height {height}: {} and {} decided",
                        other, view.hash
                    ));
                }
                _ => {
                    self.decisions.insert(height, view.hash);
                }
            }
            self.decided_at.entry((slot, height)).or_insert(self.now);
        }
        self.slots[slot].disk.chain.push((block, cert));
        let set = self.set.clone();
        self.feed_later(
            slot,
            Input::HeightCommitted {
                height,
                next_validators: set,
            },
        );
        Ok(())
    }

    /// Sends a node's message, twisted by its behaviour.
    fn byzantine_broadcast(&mut self, slot: usize, msg: Message) {
        let all = self.all_slots();
        let (left, right): (Vec<usize>, Vec<usize>) = all.iter().partition(|s| *s % 2 == 0);
        let validator = self.slots[slot].validator;
        match (self.slots[slot].behavior, &msg) {
            (Behavior::EquivocatingProposer, Message::Proposal { proposal, .. }) => {
                let Ok(p) = clearance_core::encoding::decode::<Proposal>(
                    proposal.proposal.as_slice(),
                    512,
                    "p",
                ) else {
                    return;
                };
                if p.proposer != self.set.validators()[validator].member {
                    // Relaying someone else's proposal: pass it on unchanged.
                    return self.broadcast_to(slot, &all, &msg);
                }
                let twisted = if self.rng.chance(0.3) {
                    // The same signed proposal with another body under the same header: must be refused.
                    let Message::Proposal { block, .. } = &msg else {
                        return;
                    };
                    let mut tampered = block.clone();
                    tampered.txs = vec![clearance_core::Bytes(b"tampered".to_vec())];
                    Message::Proposal {
                        proposal: proposal.clone(),
                        block: tampered,
                    }
                } else {
                    let valid = self.rng.chance(0.5);
                    let block = self.new_block(p.height, validator, valid);
                    let other = Proposal {
                        block_hash: block_hash(block.header.as_slice()),
                        ..p
                    };
                    let signed = SignedProposal::sign(&other, &self.keys[validator]);
                    self.proposed_by.insert(other.block_hash);
                    Message::Proposal {
                        proposal: signed,
                        block,
                    }
                };
                self.broadcast_to(slot, &left, &msg);
                self.broadcast_to(slot, &right, &twisted);
            }
            (Behavior::DoubleVoter, Message::Vote(v)) => {
                let Ok(vote) =
                    clearance_core::encoding::decode::<Vote>(v.vote.as_slice(), 512, "v")
                else {
                    return;
                };
                if vote.validator != self.set.validators()[validator].member {
                    return self.broadcast_to(slot, &all, &msg);
                }
                let other = Vote {
                    block: match vote.block {
                        Some(_) if self.rng.chance(0.5) => None,
                        _ => Some(nonce_hash(u64::MAX - self.rng.range(0, 1000))),
                    },
                    ..vote
                };
                let twisted = Message::Vote(SignedVote::sign(&other, &self.keys[validator]));
                self.broadcast_to(slot, &left, &msg);
                self.broadcast_to(slot, &right, &twisted);
            }
            (Behavior::SelectiveThenSilent, _) => {
                if self.now < self.s.silent_at {
                    let some: Vec<usize> =
                        all.into_iter().filter(|_| self.rng.chance(0.5)).collect();
                    self.broadcast_to(slot, &some, &msg);
                }
            }
            _ => self.broadcast_to(slot, &all, &msg),
        }
    }

    fn crash(&mut self, slot: usize) {
        self.slots[slot].machine = None;
        self.slots[slot].incarnation += 1;
    }

    /// Block sync: a node behind a reachable peer fetches the next block and its certificate, verifies the
    /// certificate and commits. The real node does the same over request-response.
    fn sync(&mut self, slot: usize) -> Result<(), String> {
        loop {
            let before = self.committed_height(slot);
            self.sync_one(slot)?;
            if self.committed_height(slot) == before {
                return Ok(());
            }
        }
    }

    fn sync_one(&mut self, slot: usize) -> Result<(), String> {
        let mine = self.committed_height(slot);
        let source = (0..self.slots.len()).find(|&o| {
            o != slot
                && self.slots[o].machine.is_some()
                && self.can_reach(o, slot)
                && self.committed_height(o) > mine
        });
        let Some(source) = source else {
            return Ok(());
        };
        let (block, cert) = self.slots[source].disk.chain[mine as usize].clone();
        let view = HeaderView::from_bytes(block.header.as_slice()).map_err(|e| e.to_string())?;
        if verify_commit(&self.chain_id, &self.set, &view, &cert).is_err() {
            return Ok(()); // a Byzantine source; the node would ask another peer.
        }
        self.commit(slot, mine + 1, block, cert)
    }

    fn regossip(&mut self, slot: usize) -> Result<(), String> {
        if self.slots[slot].machine.is_some() {
            self.sync(slot)?;
        }
        let Some(machine) = self.slots[slot].machine.as_ref() else {
            return Ok(());
        };
        // Like the real node, re-send only when stuck; a node that is making progress is being heard.
        let progress = Some((machine.height(), machine.round(), machine.step()));
        if std::mem::replace(&mut self.slots[slot].last_progress, progress) != progress {
            return Ok(());
        }
        let Some(machine) = self.slots[slot].machine.as_ref() else {
            return Ok(());
        };
        for msg in machine.gossip() {
            self.byzantine_broadcast(slot, msg);
        }
        Ok(())
    }

    /// Runs the scenario to its end and checks it.
    pub fn run(mut self) -> Result<Report, String> {
        for slot in 0..self.slots.len() {
            self.start_slot(slot);
            let first = self.rng.range(500, 1500);
            self.push(first, Event::Regossip { slot });
        }
        for (slot, at, back, mid) in self.s.crashes.clone() {
            self.push(
                at,
                Event::Crash {
                    slot,
                    mid_output: mid,
                },
            );
            self.push(back, Event::Restart { slot });
        }
        let deadline = self.s.heal_at + self.s.liveness_bound_ms;
        let mut target: Option<u64> = None;
        while let Some(Reverse((at, _, id))) = self.queue.pop() {
            if at > deadline {
                break;
            }
            self.now = at;
            if target.is_none() && self.now >= self.s.heal_at {
                let base = self.decisions.keys().next_back().copied().unwrap_or(0);
                target = Some(base + self.s.heights_after_heal);
            }
            let Some(event) = self.events.remove(&id) else {
                continue;
            };
            match event {
                Event::Input {
                    slot,
                    incarnation,
                    input,
                } => {
                    if self.slots[slot].incarnation == incarnation {
                        self.feed(slot, input);
                    }
                }
                Event::Deliver { to, msg } => {
                    let input = match msg {
                        Message::Proposal { proposal, block } => {
                            Input::Proposal { proposal, block }
                        }
                        Message::Vote(v) => Input::Vote(v),
                    };
                    self.feed(to, input);
                }
                Event::Timeout {
                    slot,
                    incarnation,
                    timeout,
                } => {
                    if self.slots[slot].incarnation == incarnation {
                        self.feed(slot, Input::Timeout(timeout));
                    }
                }
                Event::Regossip { slot } => {
                    self.regossip(slot)?;
                    let next = self.now + 1000;
                    self.push(next, Event::Regossip { slot });
                }
                Event::Crash { slot, mid_output } => {
                    if mid_output {
                        self.slots[slot].crash_mid_output = true;
                    } else {
                        self.crash(slot);
                    }
                }
                Event::Restart { slot } => {
                    self.slots[slot].crash_mid_output = false;
                    if self.slots[slot].machine.is_none() {
                        self.start_slot(slot);
                    }
                }
            }
            if let Some(t) = target {
                let done = (0..self.slots.len())
                    .filter(|s| self.honest(*s))
                    .all(|s| self.decided_at.contains_key(&(s, t)));
                if done {
                    return Ok(Report {
                        decided_heights: t,
                        by_consensus: self.decided_by_consensus.len() as u64,
                        messages: self.messages,
                        evidence: self.evidence,
                    });
                }
            }
        }
        let t = target.unwrap_or(self.s.heights_after_heal);
        let behind: Vec<String> = (0..self.slots.len())
            .filter(|s| self.honest(*s) && !self.decided_at.contains_key(&(*s, t)))
            .map(|s| {
                let state = self.slots[s]
                    .machine
                    .as_ref()
                    .map(|m| format!("\n  {}\n  {:?}", m.describe(), m.ignored()));
                format!(
                    "slot {s} at height {}{}",
                    self.committed_height(s),
                    state.unwrap_or_default()
                )
            })
            .collect();
        Err(format!(
            "liveness: {} ms after the heal, not every honest node decided height {t}: {}",
            self.s.liveness_bound_ms,
            behind.join(", ")
        ))
    }
}

/// Runs one seed and returns the scenario with the verdict, so that a failure can print both.
pub fn run_seed(seed: u64, n: usize, byzantine: usize) -> (Scenario, Result<Report, String>) {
    let scenario = Scenario::random(seed, n, byzantine);
    let sim = Sim::new(scenario.clone(), seed);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.run()))
        .unwrap_or_else(|p| {
            Err(p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into()))
        });
    (scenario, result)
}
