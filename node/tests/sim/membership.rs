//! Membership changes during a simulated run: a fifth member is admitted (its node follows the ledger from
//! genesis, then votes), a member's validator key is rotated (its node holds both keys, as an operator puts the
//! next key file beside the current one), then the same member's network key (its node switches peer id when the
//! rotation is adopted, and the others refuse the old one from the height it takes effect), and a member is
//! removed (the others' allow-lists cut it off), while crashes, partitions, loss and delays go on. One member
//! may sleep through all of it and must catch up.
//!
//! The changes are driven like an operator would: each member's ledger administrator (a submitter key with only
//! the `membership` role, so that its records never wait behind the agency's) proposes or approves through an
//! honest node that is up, one record in flight per key, sent again until it is committed.

use super::{Action, Rng, Scenario, Sim, fixtures};
use clearance_core::Hash32;
use clearance_core::ids::{CountryCode, Text};
use clearance_core::record::*;
use clearance_core::rules::{self, ProposalStatus};
use clearance_core::tx::{SignedTx, TxBody};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The step that rotates a network key, the one that removes a member, and the step after the last.
const ROTATE_NETWORK: usize = 2;
const REMOVE: usize = 3;
const DONE: usize = 4;
/// How often the administrators look at the ledger and act.
const TICK: Duration = Duration::from_millis(100);
/// How long a record in flight waits before it is sent again.
const RESEND: Duration = Duration::from_millis(1000);

#[derive(Debug, Clone)]
pub struct Plan {
    /// The slot, and validator, admitted: not in genesis, its node follows the ledger from the start.
    pub candidate: usize,
    pub rotate: usize,
    pub remove: usize,
    /// A member down from the first change until the last is in force.
    pub sleeper: Option<usize>,
    /// The member rotating its network key is down from the proposal until the others are past the effective
    /// height: it restarts under its old peer id, which they refuse, and knows nothing of the adoption.
    pub rotation_sleeps: bool,
}

impl Plan {
    /// Draws the plan for a scenario of `s.n` genesis members whose last slot is the candidate.
    pub fn draw(seed: u64, s: &Scenario) -> Plan {
        let mut rng = Rng::new(seed ^ 0x6d65_6d62_6572);
        let n = s.n;
        let remove = rng.range(0, n as u64 - 1) as usize;
        let rotate = (remove + 1 + rng.range(0, n as u64 - 2) as usize) % n;
        let quiet: Vec<usize> = (0..n)
            .filter(|v| *v != remove && *v != rotate && !s.crashes.iter().any(|c| c.0 == *v))
            .collect();
        // With a Byzantine member among four, a sleeper too would leave no quorum.
        let all_honest = (0..n).all(|v| s.honest(v));
        let sleeper = (all_honest && !quiet.is_empty() && rng.chance(0.5))
            .then(|| quiet[rng.range(0, quiet.len() as u64 - 1) as usize]);
        let rotation_sleeps = all_honest
            && sleeper.is_none()
            && !s.crashes.iter().any(|c| c.0 == rotate)
            && rng.chance(0.5);
        Plan {
            candidate: n,
            rotate,
            remove,
            sleeper,
            rotation_sleeps,
        }
    }
}

/// Where the changes stand.
#[derive(Default)]
pub struct Progress {
    /// 0: admit, 1: rotate the validator key, 2: rotate the network key, 3: remove, 4: done.
    step: usize,
    proposal: Option<Hash32>,
    /// Per administrator (by validator): the record in flight, and when it was last sent.
    in_flight: BTreeMap<usize, (SignedTx, Instant)>,
    pub sleeping: Option<usize>,
    pub removed: Option<usize>,
}

fn admin_key(validator: usize) -> clearance_core::crypto::SecretKey {
    fixtures::key(validator as u8 + 80)
}

fn rotated_key(validator: usize) -> clearance_core::crypto::SecretKey {
    fixtures::key(validator as u8 + 31)
}

/// The network key a member rotates to (genesis ones are `key(v + 100)`).
pub fn rotated_network_key(validator: usize) -> clearance_core::crypto::SecretKey {
    fixtures::key(validator as u8 + 140)
}

fn cc(validator: usize) -> CountryCode {
    CountryCode::parse(fixtures::MEMBERS[validator]).expect("id")
}

impl Sim {
    pub(super) fn membership_plan(&self) -> Option<&Plan> {
        self.s.membership.as_ref()
    }

    /// Where the changes stand, for a failure report.
    pub(super) fn describe_membership(&self) -> String {
        let reference = self.reference();
        let proposal = reference.and_then(|r| {
            let store = self.slots[r].driver.as_ref()?.ledger().store();
            rules::membership_proposal(store, &self.progress.proposal?)
        });
        let in_flight: Vec<(usize, u64, Hash32)> = self
            .progress
            .in_flight
            .iter()
            .map(|(v, (tx, _))| {
                (
                    *v,
                    tx.verify(&self.chain_id).map_or(0, |t| t.body.sequence),
                    tx.id(),
                )
            })
            .collect();
        let slots: Vec<String> = (0..self.slots.len())
            .map(|s| match self.slots[s].driver.as_ref() {
                Some(d) => format!("slot {s}: {}", d.describe()),
                None => format!("slot {s}: down"),
            })
            .collect();
        format!(
            "step {}, reference {reference:?}, proposal {:?}: {proposal:?}, in flight (admin, sequence, id) \
             {in_flight:?}\n{}",
            self.progress.step,
            self.progress.proposal,
            slots.join("\n")
        )
    }

    pub(super) fn membership_done(&self) -> bool {
        self.progress.step >= DONE && self.progress.sleeping.is_none()
    }

    /// The sleeper goes down as the changes begin.
    pub(super) fn start_membership(&mut self) {
        if let Some(sleeper) = self.membership_plan().and_then(|p| p.sleeper) {
            self.slots[sleeper].crash();
            self.progress.sleeping = Some(sleeper);
            self.update_links();
        }
        let at = self.now() + TICK;
        self.plan(at, Action::Membership);
    }

    /// An honest member that is up and still a member, at the greatest height: where administrators look and
    /// submit.
    fn reference(&self) -> Option<usize> {
        (0..self.slots.len())
            .filter(|&s| {
                self.s.honest(s) && self.slots[s].is_up() && Some(s) != self.progress.removed
            })
            .max_by_key(|&s| (self.height(s), std::cmp::Reverse(s)))
    }

    pub(super) fn membership_tick(&mut self) {
        let Some(plan) = self.membership_plan().cloned() else {
            return;
        };
        if self.progress.step >= DONE {
            if let Some(sleeper) = self.progress.sleeping.take() {
                self.start_member(sleeper);
            }
            return;
        }
        let next = self.now() + TICK;
        self.plan(next, Action::Membership);
        let Some(reference) = self.reference() else {
            return;
        };
        self.settle_in_flight(reference);
        let (proposal, head, current) = {
            let ledger = self.slots[reference].driver.as_ref().expect("up").ledger();
            let store = ledger.store();
            let proposal = self
                .progress
                .proposal
                .and_then(|id| rules::membership_proposal(store, &id).map(|p| (id, p)));
            (proposal, ledger.head().height, ledger.epoch().clone())
        };
        match (self.progress.proposal, proposal) {
            (None, _) => {
                let change = self.change(&plan);
                let proposer = (0..self.s.n)
                    .find(|&v| v != plan.remove)
                    .expect("a proposer");
                let record = Record::MembershipPropose(MembershipPropose {
                    proposer: cc(proposer),
                    change,
                    reason: Text::parse("simulated change").expect("text"),
                });
                if let Some(id) = self.send_admin(reference, proposer, record) {
                    self.progress.proposal = Some(id);
                }
            }
            // Not committed yet: its record is in flight.
            (Some(_), None) => {}
            (Some(id), Some((_, state))) => match state.status {
                ProposalStatus::Open => {
                    for m in &current.members {
                        let Some(v) = fixtures::MEMBERS.iter().position(|x| *x == m.id.as_str())
                        else {
                            continue;
                        };
                        let removing = step_removes(self.progress.step, &plan) == Some(v);
                        if state.approvals.contains(&m.id) || removing {
                            continue;
                        }
                        let record = Record::MembershipApprove(MembershipApprove {
                            proposal: id,
                            member: m.id.clone(),
                        });
                        self.send_admin(reference, v, record);
                    }
                }
                ProposalStatus::Adopted { effective_height } => {
                    if head >= effective_height {
                        if self.progress.step == REMOVE {
                            self.progress.removed = Some(plan.remove);
                        }
                        if self.progress.step == ROTATE_NETWORK && plan.rotation_sleeps {
                            self.start_member(plan.rotate);
                        }
                        self.progress.step += 1;
                        self.progress.proposal = None;
                        self.progress.in_flight.clear();
                    }
                }
            },
        }
    }

    /// The change of the current step; a rotation's next key goes into the member's key files first.
    fn change(&mut self, plan: &Plan) -> MembershipChange {
        match self.progress.step {
            0 => {
                let member = fixtures::member_info(plan.candidate);
                MembershipChange::Admit(Admission {
                    member,
                    submitter_key: admin_key(plan.candidate).public_key(),
                })
            }
            1 => {
                let next = rotated_key(plan.rotate);
                for slot in &self.slots {
                    if slot.validator == plan.rotate {
                        let keys = &mut slot.keys.lock().expect("keys").validator;
                        if !keys.iter().any(|k| k.public_key() == next.public_key()) {
                            keys.push(next.clone());
                        }
                    }
                }
                MembershipChange::RotateValidatorKey {
                    member: cc(plan.rotate),
                    new_key: next.public_key(),
                }
            }
            ROTATE_NETWORK => {
                if plan.rotation_sleeps && self.slots[plan.rotate].is_up() {
                    self.slots[plan.rotate].crash();
                    self.update_links();
                }
                let next = rotated_network_key(plan.rotate);
                for slot in &self.slots {
                    if slot.validator == plan.rotate {
                        slot.keys.lock().expect("keys").next_network = Some(next.clone());
                    }
                }
                MembershipChange::RotateNetworkKey {
                    member: cc(plan.rotate),
                    new_peer_id: clearance_core::peer::PeerKey::from_key(next.public_key()),
                }
            }
            _ => MembershipChange::Remove {
                member: cc(plan.remove),
            },
        }
    }

    /// Forgets records the reference member committed, and sends again those waiting too long.
    fn settle_in_flight(&mut self, reference: usize) {
        let now = self.now();
        let committed: Vec<usize> = self
            .progress
            .in_flight
            .iter()
            .filter(|(_, (tx, _))| self.checks.committed(&self.slots[reference], &tx.id()))
            .map(|(v, _)| *v)
            .collect();
        for v in committed {
            self.progress.in_flight.remove(&v);
        }
        let stale: Vec<SignedTx> = self
            .progress
            .in_flight
            .values_mut()
            .filter(|(_, sent)| now.duration_since(*sent) >= RESEND)
            .map(|(tx, sent)| {
                *sent = now;
                tx.clone()
            })
            .collect();
        for tx in stale {
            drop(self.submit(reference, &tx));
        }
    }

    /// Signs `record` with `validator`'s administrator key at its next sequence (as the reference member's
    /// ledger has it) and submits it, unless that key already has a record in flight. Returns its id.
    fn send_admin(&mut self, reference: usize, validator: usize, record: Record) -> Option<Hash32> {
        if self.progress.in_flight.contains_key(&validator) {
            return None;
        }
        let key = admin_key(validator);
        let store = self.slots[reference].driver.as_ref()?.ledger().store();
        let sequence = rules::last_sequence(store, &key.public_key()) + 1;
        let tx = SignedTx::sign(
            &TxBody {
                chain_id: self.chain_id,
                submitter: key.public_key(),
                sequence,
                record,
            },
            &key,
        );
        let id = tx.id();
        self.submitted_ids.insert(id);
        drop(self.submit(reference, &tx));
        let now = self.now();
        self.progress.in_flight.insert(validator, (tx, now));
        Some(id)
    }
}

/// The validator the current step removes, which may not approve its own removal.
fn step_removes(step: usize, plan: &Plan) -> Option<usize> {
    (step == REMOVE).then_some(plan.remove)
}
