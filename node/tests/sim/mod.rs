//! A seeded, deterministic simulation of real nodes.
//!
//! Each simulated member is the real driver: consensus machine, ledger (RocksDB on an in-memory disk), mempool,
//! admission, height pacing, block sync, peer-state gossip, compact proposals and gossip health, driven through
//! its ports on a virtual clock. Agencies submit records throughout the run. The network delays each message
//! (order kept per link, as TCP keeps it), loses and duplicates consensus items and gossiped transactions,
//! closes connections across partitions, and reconnects at the heal; members crash (some right after signing,
//! between persisting and sending) and restart from their disks; up to f members are Byzantine: silent, an
//! equivocating proposer, a double voter, selective then silent, or twins (two nodes with one key, each talking
//! to a different part of the network). After the heal ("GST") nothing is lost, no link is cut, no honest member
//! is down.
//!
//! Checked on every run: agreement (one block per height on every honest member), validity (every committed
//! transaction is one an agency submitted), no honest member signs two different messages for one height, round
//! and step (on the wire or in its persisted safety state, across restarts), liveness after the heal, every
//! record an honest member acknowledged committed on every honest member, equal heads (log root, transaction
//! count) after the heal, and no honest member penalising another. Everything random comes from one seed, so a
//! failing seed replays exactly.

mod absent;
mod byzantine;
mod checks;
#[path = "../support/fixtures.rs"]
mod fixtures;
mod member;
mod membership;
mod network;
#[path = "../support/rng.rs"]
mod rng;
mod scenario;

pub use absent::DOWN_AT_MS;
use clearance_core::Hash32;
use clearance_core::genesis::Genesis;
use clearance_core::tx::SignedTx;
use clearance_node::mempool::AdmitError;
use clearance_node::requests::ApiRequest;
use member::{Member, SimClock};
use network::Network;
pub use rng::Rng;
pub use scenario::{Behavior, Scenario};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Things the scenario makes happen at a given time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    PartitionStart(usize),
    PartitionEnd,
    /// Crash now, or arm a crash for the member's next signature.
    Crash {
        slot: usize,
        down_ms: u64,
        after_signing: bool,
        /// The data directory is deleted too: the member restarts from genesis with its validator state file.
        wipe: bool,
    },
    Restart(usize),
    FallSilent(usize),
    Heal,
    Submit,
    /// The ledger administrators look at the membership changes in progress and act.
    Membership,
}

/// The verdict of a run.
#[derive(Debug)]
pub struct Report {
    pub heights: u64,
    pub acknowledged: usize,
    pub messages: u64,
    pub evidence: u64,
    /// Evidence records of double proposals committed.
    pub proposal_evidence: u64,
    /// Network key switches: a rotation falling due, or a member with one pending trying its other key.
    pub key_switches: u64,
    /// Transactions members admitted from peers' answers to their requests for missing ones.
    pub repaired: u64,
    pub virtual_ms: u64,
    /// The blocks an honest member committed, when the scenario asks for them.
    pub blocks: Vec<absent::BlockSeen>,
}

/// A record an agency submitted, with the node's answer.
struct Submission {
    tx: SignedTx,
    answer: oneshot::Receiver<Result<Hash32, AdmitError>>,
}

pub struct Sim {
    s: Scenario,
    rng: Rng,
    genesis: Genesis,
    chain_id: Hash32,
    clock: Arc<SimClock>,
    slots: Vec<Member>,
    net: Network,
    schedule: BinaryHeap<Reverse<(Instant, u64, Action)>>,
    schedule_seq: u64,
    /// Crashes armed for a member's next signature: how long it then stays down, and whether its data
    /// directory is wiped.
    armed: BTreeMap<usize, (u64, bool)>,
    healed: bool,
    submitting: bool,
    submissions: Vec<Submission>,
    /// Next sequence number per agency (one agency per member).
    sequences: Vec<u64>,
    submitted_ids: BTreeSet<Hash32>,
    checks: checks::Checks,
    progress: membership::Progress,
}

impl Sim {
    pub fn new(s: Scenario, seed: u64) -> Sim {
        let genesis = match s.membership {
            Some(_) => fixtures::genesis_with_admins(s.n),
            None => fixtures::genesis_of(s.n),
        };
        let start = Instant::now();
        let clock = Arc::new(SimClock {
            start,
            now: Mutex::new(start),
            wall_start_ms: genesis.genesis_time.as_millis() + 1_000,
        });
        let slots = (0..s.behaviors.len())
            .map(|slot| {
                let validator = s.validator_of(slot);
                let first_tick = start + member::TICK * (slot as u32 + 1) / 8;
                Member::new(&genesis, validator, first_tick)
            })
            .collect();
        let mut rng = Rng::new(seed.wrapping_mul(31).wrapping_add(7));
        let net = Network::new(&s, rng.next());
        Sim {
            rng,
            chain_id: genesis.chain_id(),
            checks: checks::Checks::new(&s, &genesis),
            genesis,
            clock,
            slots,
            net,
            schedule: BinaryHeap::new(),
            schedule_seq: 0,
            armed: BTreeMap::new(),
            healed: false,
            submitting: true,
            submissions: Vec::new(),
            sequences: vec![0; s.n],
            submitted_ids: BTreeSet::new(),
            progress: membership::Progress::default(),
            s,
        }
    }

    fn now(&self) -> Instant {
        self.clock.now.lock().expect("clock").to_owned()
    }

    fn at_ms(&self, ms: u64) -> Instant {
        self.clock.start + Duration::from_millis(ms)
    }

    fn elapsed_ms(&self) -> u64 {
        self.now().duration_since(self.clock.start).as_millis() as u64
    }

    fn plan(&mut self, at: Instant, action: Action) {
        self.schedule_seq += 1;
        self.schedule.push(Reverse((at, self.schedule_seq, action)));
    }

    /// Lets a member finish what the last event started, then routes what it sent. A crash armed for this
    /// member strikes here if it just signed: the signature is on its disk and on no wire.
    fn settle(&mut self, slot: usize) {
        let Some(driver) = self.slots[slot].driver.as_mut() else {
            return;
        };
        driver.settle().expect("driver");
        let just_signed = self.checks.after_settle(slot, &self.slots[slot]);
        if just_signed && let Some((down_ms, wipe)) = self.armed.remove(&slot) {
            self.slots[slot].crash();
            if wipe {
                self.slots[slot].wipe();
            }
            let back = self.now() + Duration::from_millis(down_ms);
            self.plan(back, Action::Restart(slot));
            self.update_links();
            return;
        }
        for cmd in self.slots[slot].outbox.take() {
            self.route(slot, cmd);
        }
    }

    fn start_member(&mut self, slot: usize) {
        self.slots[slot].start(&self.genesis, self.clock.clone());
        self.settle(slot);
        self.update_links();
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::PartitionStart(i) => {
                self.net.groups = Some(self.s.partitions[i].2.clone());
                self.update_links();
            }
            Action::PartitionEnd => {
                self.net.groups = None;
                self.update_links();
            }
            Action::Crash {
                slot,
                down_ms,
                after_signing,
                wipe,
            } => {
                if !self.slots[slot].is_up() {
                } else if after_signing {
                    self.armed.insert(slot, (down_ms, wipe));
                } else {
                    self.slots[slot].crash();
                    if wipe {
                        self.slots[slot].wipe();
                    }
                    let back = self.now() + Duration::from_millis(down_ms);
                    self.plan(back, Action::Restart(slot));
                    self.update_links();
                }
            }
            Action::Restart(slot) => {
                if !self.slots[slot].is_up() {
                    self.start_member(slot);
                }
            }
            Action::FallSilent(slot) => {
                self.slots[slot].crash();
                self.update_links();
            }
            Action::Heal => self.heal(),
            Action::Membership => self.membership_tick(),
            Action::Submit => {
                if self.submitting {
                    self.submit_next();
                    let next = self.now() + Duration::from_millis(self.s.submit_every_ms);
                    self.plan(next, Action::Submit);
                }
            }
        }
    }

    /// GST: the partition ends, loss and duplication stop, crashes not yet struck are called off, and every
    /// honest member that is down starts again.
    fn heal(&mut self) {
        self.healed = true;
        self.net.healed = true;
        self.net.groups = None;
        self.armed.clear();
        self.update_links();
        for slot in 0..self.slots.len() {
            let sleeping = self.progress.sleeping == Some(slot);
            if self.s.honest(slot) && !self.slots[slot].is_up() && !sleeping {
                self.start_member(slot);
            }
        }
    }

    /// The next agency's next record, through its own member's node if that is honest and up, otherwise the
    /// next one that is (an agency's client fails over).
    fn submit_next(&mut self) {
        let agency = (self.submissions.len()) % self.s.n;
        let Some(to) = (0..self.s.n)
            .map(|k| (agency + k) % self.s.n)
            .find(|&m| self.s.honest(m) && self.slots[m].is_up())
        else {
            return;
        };
        self.sequences[agency] += 1;
        let tx = fixtures::certificate_tx(self.chain_id, agency, self.sequences[agency]);
        self.submitted_ids.insert(tx.id());
        let answer = self.submit(to, &tx);
        self.submissions.push(Submission { tx, answer });
    }

    fn submit(
        &mut self,
        to: usize,
        tx: &SignedTx,
    ) -> oneshot::Receiver<Result<Hash32, AdmitError>> {
        let verified = tx.verify(&self.chain_id).expect("a valid transaction");
        let (reply, answer) = oneshot::channel();
        self.slots[to]
            .driver()
            .on_api(ApiRequest::Submit {
                bytes: tx.to_bytes(),
                tx: Box::new(verified),
                reply,
            })
            .expect("driver");
        self.settle(to);
        answer
    }

    /// Runs every event due up to `until`, in time order; stops early when `done` holds after an event.
    fn run_until(&mut self, until: Instant, mut done: impl FnMut(&Sim) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            let next_delivery = self.net.next_at();
            let next_wake = self
                .slots
                .iter()
                .filter_map(|m| m.driver.as_ref()?.next_wake())
                .min();
            let next_tick = self
                .slots
                .iter()
                .filter(|m| m.is_up())
                .map(|m| m.next_tick)
                .min();
            let next_action = self.schedule.peek().map(|a| a.0.0);
            let Some(at) = [next_delivery, next_wake, next_tick, next_action]
                .into_iter()
                .flatten()
                .min()
            else {
                return false;
            };
            if at > until {
                self.clock.set(until);
                return false;
            }
            self.clock.set(at);
            if next_action == Some(at) {
                if let Some(Reverse((_, _, action))) = self.schedule.pop() {
                    self.act(action);
                }
                continue;
            }
            if next_delivery == Some(at) {
                self.deliver_next();
                continue;
            }
            let woken = self
                .slots
                .iter()
                .position(|m| m.driver.as_ref().and_then(|d| d.next_wake()) == Some(at));
            if let Some(slot) = woken {
                self.slots[slot].driver().on_wake().expect("driver");
                self.settle(slot);
                continue;
            }
            if let Some(slot) = self
                .slots
                .iter()
                .position(|m| m.is_up() && m.next_tick == at)
            {
                self.slots[slot].next_tick = at + member::TICK;
                self.slots[slot].driver().on_tick().expect("driver");
                self.settle(slot);
            }
        }
    }

    /// Honest slots that are members at the end: a removed member is cut off, and no longer follows.
    fn honest_slots(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|s| self.s.honest(*s) && Some(*s) != self.progress.removed)
            .collect()
    }

    fn height(&self, slot: usize) -> u64 {
        self.slots[slot]
            .driver
            .as_ref()
            .map_or(0, |d| d.ledger().head().height)
    }

    /// Runs the scenario to its end and checks it.
    pub fn run(mut self) -> Result<Report, String> {
        for slot in 0..self.slots.len() {
            if self.s.behaviors[slot] != Behavior::Silent {
                self.start_member(slot);
            }
        }
        for (i, (from, to, _)) in self.s.partitions.clone().into_iter().enumerate() {
            self.plan(self.at_ms(from), Action::PartitionStart(i));
            self.plan(self.at_ms(to), Action::PartitionEnd);
        }
        for (i, (slot, at, down_ms, after_signing)) in
            self.s.crashes.clone().into_iter().enumerate()
        {
            let action = Action::Crash {
                slot,
                down_ms,
                after_signing,
                wipe: self.s.wipes.get(i).copied().unwrap_or(false),
            };
            self.plan(self.at_ms(at), action);
        }
        for slot in 0..self.slots.len() {
            if self.s.behaviors[slot] == Behavior::SelectiveThenSilent {
                self.plan(self.at_ms(self.s.silent_at), Action::FallSilent(slot));
            }
        }
        self.plan(self.at_ms(self.s.heal_at), Action::Heal);
        self.plan(self.at_ms(50), Action::Submit);
        if self.s.membership.is_some() {
            self.start_membership();
        }

        // Liveness after the heal.
        let heal = self.at_ms(self.s.heal_at);
        self.run_until(heal, |_| false);
        self.run_until(heal, |sim| sim.healed);
        if self.s.membership.is_some() {
            // Each change takes several heights (the proposal, its approvals, then the delay). Agencies'
            // records stuck behind a sequence gap (lost with a crashed mempool, sent again only at the end)
            // leave some of those heights to the 10 s heartbeat: hence a bound of several liveness bounds.
            let bound = 5 * self.s.liveness_bound_ms;
            let by = self.now() + Duration::from_millis(bound);
            if !self.run_until(by, |sim| sim.membership_done()) {
                return Err(format!(
                    "membership: {} ms after the heal the changes are not all in force (sleeper down: {:?}): {}",
                    bound,
                    self.progress.sleeping,
                    self.describe_membership()
                ));
            }
        }
        let honest = self.honest_slots();
        let base = honest.iter().map(|s| self.height(*s)).max().unwrap_or(0);
        let target = base + self.s.heights_after_heal;
        let deadline = self.now() + Duration::from_millis(self.s.liveness_bound_ms);
        let live = self.run_until(deadline, |sim| {
            honest.iter().all(|s| sim.height(*s) >= target)
        });
        if !live {
            let heights: Vec<String> = honest
                .iter()
                .map(|s| match self.slots[*s].driver.as_ref() {
                    Some(d) => format!("\nslot {s}: {}", d.describe()),
                    None => format!("\nslot {s}: down"),
                })
                .collect();
            return Err(format!(
                "liveness: {} ms after the heal, not every honest member committed height {target}: {}",
                self.s.liveness_bound_ms,
                heights.join(", ")
            ));
        }

        // Agencies stop, and submit again what an honest member acknowledged but no member committed (it was
        // lost with a crashed member's mempool); then every honest member must hold all of it, at one head.
        self.submitting = false;
        let reference = honest[0];
        let mut acknowledged = self.acknowledged();
        // A removed member's keys stop at its removal: what its agency had pending then is dropped by the
        // mempools, never committed, and that is the rule (docs/records.md), not a loss.
        if let Some(removed) = self.progress.removed {
            let agency = fixtures::key(removed as u8 + 60).public_key();
            acknowledged.retain(|(id, tx)| {
                tx.verify(&self.chain_id).map(|t| t.body.submitter) != Ok(agency)
                    || self.checks.committed(&self.slots[reference], id)
            });
        }
        let missing: Vec<SignedTx> = acknowledged
            .iter()
            .filter(|(id, _)| !self.checks.committed(&self.slots[reference], id))
            .map(|(_, tx)| tx.clone())
            .collect();
        for tx in &missing {
            drop(self.submit(reference, tx));
        }
        let settle_by = self.now() + Duration::from_secs(30);
        let settled = self.run_until(settle_by, |sim| {
            sim.checks.settled(&sim.slots, &honest, &acknowledged)
        });
        if let Some(plan) = self.membership_plan()
            && self.s.honest(plan.rotate)
        {
            let rotated = plan.rotate;
            let next = membership::rotated_network_key(rotated).public_key();
            let peer = clearance_core::peer::PeerKey::from_key(next).to_peer_id();
            if self.slots[rotated].peer.to_base58() != peer {
                return Err(format!(
                    "membership: slot {rotated} still uses its old network key after the rotation"
                ));
            }
            if let Some(a) = honest
                .iter()
                .find(|&&a| a != rotated && !self.net.links.contains_key(&(a, rotated)))
            {
                return Err(format!(
                    "membership: slot {a} is not connected to slot {rotated} under its rotated peer id"
                ));
            }
        }
        if let Some(removed) = self.progress.removed
            && let Some(link) = self
                .net
                .links
                .keys()
                .find(|(a, b)| *a == removed || *b == removed)
        {
            return Err(format!(
                "membership: the removed slot {removed} is still connected ({link:?})"
            ));
        }
        let proposal_evidence = self.checks.final_checks(
            &self.slots,
            &honest,
            &acknowledged,
            &self.submitted_ids,
            settled,
        )?;
        let blocks = match self.s.record_blocks {
            true => self.blocks_seen(reference),
            false => Vec::new(),
        };
        Ok(Report {
            blocks,
            heights: self.height(reference),
            acknowledged: acknowledged.len(),
            messages: self.net.messages,
            evidence: self.checks.evidence(&self.slots),
            proposal_evidence,
            key_switches: self
                .slots
                .iter()
                .map(|m| {
                    m.metrics
                        .network_key_switches_total
                        .load(std::sync::atomic::Ordering::Relaxed)
                })
                .sum(),
            repaired: self
                .slots
                .iter()
                .map(|m| {
                    m.metrics
                        .repaired_txs_total
                        .load(std::sync::atomic::Ordering::Relaxed)
                })
                .sum(),
            virtual_ms: self.elapsed_ms(),
        })
    }

    /// Records an honest member acknowledged.
    fn acknowledged(&mut self) -> Vec<(Hash32, SignedTx)> {
        self.submissions
            .iter_mut()
            .filter_map(|s| match s.answer.try_recv() {
                Ok(Ok(id)) => Some((id, s.tx.clone())),
                _ => None,
            })
            .collect()
    }
}

/// Runs one seed and returns the scenario with the verdict, so that a failure can print both.
pub fn run_seed(seed: u64, n: usize, byzantine: usize) -> (Scenario, Result<Report, String>) {
    run_scenario(seed, Scenario::random(seed, n, byzantine))
}

/// Runs one seed of [`Scenario::absent`].
pub fn run_absent_seed(seed: u64, n: usize, stuck: bool) -> (Scenario, Result<Report, String>) {
    run_scenario(seed, Scenario::absent(seed, n, stuck))
}

/// Runs one seed of [`Scenario::with_membership`].
pub fn run_membership_seed(seed: u64, byzantine: usize) -> (Scenario, Result<Report, String>) {
    run_scenario(seed, Scenario::with_membership(seed, byzantine))
}

fn run_scenario(seed: u64, scenario: Scenario) -> (Scenario, Result<Report, String>) {
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
