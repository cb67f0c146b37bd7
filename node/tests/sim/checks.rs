//! What every run must satisfy, recorded as it goes (signatures, penalties) and checked at its end (agreement,
//! validity, acknowledged records, equal heads).

use super::member::Member;
use super::{Behavior, Scenario};
use clearance_core::Hash32;
use clearance_core::block::Block;
use clearance_core::equivocation::EquivocationStep;
use clearance_core::genesis::Genesis;
use clearance_core::tx::SignedTx;
use clearance_core::vote::VoteKind;
use clearance_node::consensus::{Message, Signed, Step};
use clearance_node::network::wire::{self, ConsensusItem};
use libp2p::PeerId;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;

pub struct Checks {
    chain_id: Hash32,
    /// Validators whose every slot is honest: only their signatures must never conflict.
    honest_validators: BTreeSet<usize>,
    honest_slots: BTreeSet<usize>,
    peers: Vec<PeerId>,
    /// (validator, height, round, step) -> the bytes it signed there.
    signed: HashMap<(usize, u64, u32, Step), Vec<u8>>,
    /// Each slot's last signed (height, round, step), as persisted.
    last_signed: Vec<Option<(u64, u32, Step)>>,
    /// Each slot's count of safety-state writes at the last look: the state is read again only when it moved.
    safety_writes: Vec<u64>,
    /// Acknowledged records (a prefix of the list) already found committed at the reference member.
    confirmed: std::cell::Cell<usize>,
    /// The block hash each height was committed with, as the first honest member committed it.
    committed: HashMap<u64, Hash32>,
    /// Penalties an honest member gave an honest member.
    penalties: Vec<String>,
}

impl Checks {
    pub fn new(s: &Scenario, genesis: &Genesis) -> Checks {
        let slots = 0..s.behaviors.len();
        // A validator is honest when every slot signing as it is (a twin's two slots are not).
        let honest_validators = slots
            .clone()
            .map(|slot| s.validator_of(slot))
            .filter(|&v| {
                (0..s.behaviors.len())
                    .filter(|&slot| s.validator_of(slot) == v)
                    .all(|slot| s.behaviors[slot] == Behavior::Honest)
            })
            .collect();
        Checks {
            chain_id: genesis.chain_id(),
            honest_validators,
            honest_slots: slots.filter(|x| s.honest(*x)).collect(),
            peers: (0..super::fixtures::MEMBERS.len())
                .map(|i| {
                    super::fixtures::member_info(i)
                        .peer_id
                        .to_peer_id()
                        .parse()
                        .expect("peer id")
                })
                .collect(),
            signed: HashMap::new(),
            committed: HashMap::new(),
            last_signed: vec![None; s.behaviors.len()],
            safety_writes: vec![0; s.behaviors.len()],
            confirmed: std::cell::Cell::new(0),
            penalties: Vec::new(),
        }
    }

    /// Records what a member's persisted safety state says it signed; true if it signed since the last look.
    pub fn after_settle(&mut self, slot: usize, member: &Member) -> bool {
        let Some(driver) = member.driver.as_ref() else {
            return false;
        };
        // Agreement, at once: the head of an honest member is the block every other one committed there.
        let head = driver.ledger().head();
        if self.honest_slots.contains(&slot) && head.height > 0 {
            let first = *self.committed.entry(head.height).or_insert(head.hash);
            assert!(
                first == head.hash,
                "agreement: slot {slot} committed {} at height {}, another honest member {first}",
                head.hash,
                head.height
            );
        }
        let writes = member.metrics.safety_writes_total.load(Ordering::Relaxed);
        if std::mem::replace(&mut self.safety_writes[slot], writes) == writes {
            return false;
        }
        let persisted = driver.ledger().store().load_safety().expect("safety state");
        for signed in persisted.iter().flat_map(|state| &state.signed) {
            match signed {
                Signed::Vote(vote) => self.record_vote(&vote.vote.0),
                Signed::Proposal(p) => self.record_proposal(&p.proposal.0),
            }
        }
        let last = persisted.as_ref().and_then(|state| state.last_signed);
        std::mem::replace(&mut self.last_signed[slot], last) != last
    }

    /// Records a consensus item as it leaves a member (its own message or a relay: the signer is named inside).
    pub fn on_wire(&mut self, item: &[u8]) {
        match wire::decode_item(item) {
            Ok(ConsensusItem::Message(Message::Vote(v))) => self.record_vote(&v.vote.0),
            Ok(ConsensusItem::Message(Message::Proposal { proposal, .. })) => {
                self.record_proposal(&proposal.proposal.0)
            }
            Ok(ConsensusItem::CompactProposal(c)) => self.record_proposal(&c.proposal.proposal.0),
            _ => {}
        }
    }

    fn record_vote(&mut self, bytes: &[u8]) {
        let vote: clearance_core::vote::Vote =
            clearance_core::encoding::decode(bytes, 512, "vote").expect("a signed vote decodes");
        let Some(signer) = self.index_of(&vote.validator) else {
            return;
        };
        let step = match vote.kind {
            VoteKind::Prevote => Step::Prevote,
            VoteKind::Precommit => Step::Precommit,
        };
        self.record(signer, vote.height, vote.round, step, bytes);
    }

    fn record_proposal(&mut self, bytes: &[u8]) {
        let p: clearance_core::vote::Proposal =
            clearance_core::encoding::decode(bytes, 512, "proposal")
                .expect("a signed proposal decodes");
        let Some(signer) = self.index_of(&p.proposer) else {
            return;
        };
        self.record(signer, p.height, p.round, Step::Propose, bytes);
    }

    fn index_of(&self, member: &clearance_core::ids::CountryCode) -> Option<usize> {
        let index = super::fixtures::MEMBERS
            .iter()
            .position(|m| *m == member.as_str())?;
        self.honest_validators.contains(&index).then_some(index)
    }

    fn record(&mut self, validator: usize, height: u64, round: u32, step: Step, bytes: &[u8]) {
        let key = (validator, height, round, step);
        if let Some(previous) = self.signed.get(&key) {
            assert!(
                previous.as_slice() == bytes,
                "honest validator {} signed two different messages at height {height}, round {round}, \
                 step {step:?}",
                super::fixtures::MEMBERS[validator]
            );
            return;
        }
        self.signed.insert(key, bytes.to_vec());
    }

    pub fn penalised(&mut self, by: usize, peer: &PeerId, reason: &str) {
        let Some(validator) = self.peers.iter().position(|p| p == peer) else {
            return;
        };
        if self.honest_slots.contains(&by) && self.honest_validators.contains(&validator) {
            self.penalties.push(format!(
                "slot {by} penalised honest {}: {reason}",
                super::fixtures::MEMBERS[validator]
            ));
        }
    }

    pub fn committed(&self, member: &Member, id: &Hash32) -> bool {
        member
            .driver
            .as_ref()
            .is_some_and(|d| d.ledger().store().tx_location(id).expect("read").is_some())
    }

    /// Every honest member up, at one head, holding every acknowledged record.
    pub fn settled(
        &self,
        slots: &[Member],
        honest: &[usize],
        acknowledged: &[(Hash32, SignedTx)],
    ) -> bool {
        let Some(first) = slots[honest[0]].driver.as_ref() else {
            return false;
        };
        let head = first.ledger().head();
        let one_head = honest.iter().all(|&s| {
            slots[s]
                .driver
                .as_ref()
                .is_some_and(|d| d.ledger().head() == head)
        });
        if !one_head {
            return false;
        }
        // A record committed stays committed: each is looked up until it is found, then never again.
        let mut confirmed = self.confirmed.get();
        while confirmed < acknowledged.len()
            && self.committed(&slots[honest[0]], &acknowledged[confirmed].0)
        {
            confirmed += 1;
        }
        self.confirmed.set(confirmed);
        confirmed == acknowledged.len()
    }

    pub fn final_checks(
        &self,
        slots: &[Member],
        honest: &[usize],
        acknowledged: &[(Hash32, SignedTx)],
        submitted: &BTreeSet<Hash32>,
        settled: bool,
    ) -> Result<u64, String> {
        if !self.penalties.is_empty() {
            return Err(format!("honest members penalised: {:?}", self.penalties));
        }
        let heads: Vec<String> = honest
            .iter()
            .map(|&s| match slots[s].driver.as_ref() {
                Some(d) => format!("slot {s}: {:?}", d.ledger().head()),
                None => format!("slot {s}: down"),
            })
            .collect();
        if !settled {
            let missing = acknowledged
                .iter()
                .filter(|(id, _)| !self.committed(&slots[honest[0]], id))
                .count();
            return Err(format!(
                "30 s after the agencies stopped, the honest members are not at one head with every \
                 acknowledged record ({missing} of {} missing at slot {}): {heads:?}",
                acknowledged.len(),
                honest[0]
            ));
        }
        let stores: Vec<_> = honest
            .iter()
            .map(|&s| slots[s].driver.as_ref().expect("up").ledger().store())
            .collect();
        let height = slots[honest[0]]
            .driver
            .as_ref()
            .expect("up")
            .ledger()
            .head()
            .height;
        let mut proposal_evidence = 0;
        for h in 1..=height {
            let blocks: Vec<Vec<u8>> = stores
                .iter()
                .map(|st| st.block_bytes(h).expect("read").expect("a block").block)
                .collect();
            if blocks.iter().any(|b| *b != blocks[0]) {
                return Err(format!(
                    "agreement: honest members hold different blocks at {h}"
                ));
            }
            let block = Block::from_bytes(&blocks[0]).expect("a stored block decodes");
            self.certified_by_its_set(stores[0], h, &block)?;
            for tx in &block.txs {
                let signed =
                    SignedTx::from_bytes(tx.as_slice()).expect("a committed transaction decodes");
                let id = signed.id();
                if !submitted.contains(&id)
                    && let Some(step) = self.evidence_against_byzantine(&signed, h)?
                {
                    proposal_evidence += u64::from(step == EquivocationStep::Proposal);
                    continue;
                }
                if !submitted.contains(&id) {
                    return Err(format!(
                        "validity: height {h} commits transaction {id}, which no agency submitted"
                    ));
                }
            }
        }
        for (id, _) in acknowledged {
            for (k, store) in stores.iter().enumerate() {
                let location = store.tx_location(id).expect("read");
                let result = location.and_then(|l| store.tx_result(&l).expect("read"));
                if result.is_none() {
                    return Err(format!(
                        "acknowledged record {id} has no result at slot {}",
                        honest[k]
                    ));
                }
            }
        }
        Ok(proposal_evidence)
    }

    /// The certificate of height `h` counts only members of the set in force at `h` (as the ledger's epochs
    /// say), each once, a quorum of them, and the header names that set. Signatures were checked by whoever
    /// built or accepted the certificate; here it is who signed that matters.
    fn certified_by_its_set(
        &self,
        store: &clearance_node::storage::Store,
        h: u64,
        block: &Block,
    ) -> Result<(), String> {
        let (_, epoch) = clearance_core::rules::epoch_at(store, h)
            .ok_or_else(|| format!("no member list in force at height {h}"))?;
        let set = epoch.validator_set().map_err(|e| e.to_string())?;
        let header = clearance_core::block::HeaderView::from_bytes(block.header.as_slice())
            .map_err(|e| e.to_string())?;
        if header.header.validator_set_hash != set.hash() {
            return Err(format!(
                "height {h}: the header names another validator set than the one in force"
            ));
        }
        let stored = store.block_bytes(h).expect("read").expect("a block");
        let cert = clearance_core::vote::CommitCertificate::from_bytes(&stored.certificate)
            .map_err(|e| e.to_string())?;
        let mut signers = BTreeSet::new();
        for signed in &cert.precommits {
            let vote = signed.decode().map_err(|e| e.to_string())?;
            if set.index_of(&vote.validator).is_none() {
                return Err(format!(
                    "height {h}: the certificate counts {}, not a member of the set in force",
                    vote.validator
                ));
            }
            if vote.chain_id != self.chain_id || vote.height != h || !signers.insert(vote.validator)
            {
                return Err(format!(
                    "height {h}: a precommit of the certificate does not belong"
                ));
            }
        }
        if signers.len() < set.quorum() {
            return Err(format!(
                "height {h}: the certificate has {} precommits, the set in force needs {}",
                signers.len(),
                set.quorum()
            ));
        }
        Ok(())
    }

    /// The step of the equivocation `tx` records, if it is an evidence record (which members' nodes submit, not
    /// agencies). Evidence against a member whose every slot is honest is a failure: an honest validator never
    /// signs two conflicting messages.
    fn evidence_against_byzantine(
        &self,
        tx: &SignedTx,
        height: u64,
    ) -> Result<Option<EquivocationStep>, String> {
        let Ok(verified) = tx.verify(&self.chain_id) else {
            return Ok(None);
        };
        let clearance_core::record::Record::Evidence(report) = &verified.body.record else {
            return Ok(None);
        };
        let claimed = report.equivocation.claimed().ok();
        let offender = claimed
            .as_ref()
            .map(|o| o.validator.to_string())
            .unwrap_or_default();
        if self
            .honest_validators
            .iter()
            .any(|&v| super::fixtures::MEMBERS[v] == offender)
        {
            return Err(format!(
                "validity: height {height} commits evidence against {offender}, an honest validator"
            ));
        }
        Ok(claimed.map(|o| o.step))
    }

    pub fn evidence(&self, slots: &[Member]) -> u64 {
        slots
            .iter()
            .map(|m| m.metrics.evidence_total.load(Ordering::Relaxed))
            .sum()
    }
}
