//! The ledger state the rules read and write: keys, values and the read-only view.

use crate::crypto::PublicKey;
use crate::hash::{Hash32, tag, tagged_hash};
use crate::ids::{CountryCode, OperatorId};
use crate::record::{
    AeoType, CertificateRef, Decision, DeclarationId, DeclarationRef, MemberInfo, MembershipChange,
    RecordId, Roles,
};
use crate::time::Timestamp;
use crate::validator::{ValidatorSet, ValidatorSetError};
use serde::{Deserialize, Serialize};

/// One entry of the ledger state. Stored under its canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StateKey {
    Submitter(PublicKey),
    Sequence(PublicKey),
    Certificate(CertificateRef),
    Decision(RecordId),
    Aeo {
        operator: OperatorId,
        programme: CountryCode,
    },
    Mra(RecordId),
    /// Whether a member is active, and from which height to which.
    Member(CountryCode),
    /// The `n`th member list, counted from genesis (0).
    Epoch(u64),
    /// How many epochs exist, including ones adopted but not yet in force.
    EpochCount,
    MembershipProposal(RecordId),
    /// A validator or network key that a member holds or once held: never given to anyone else.
    NodeKey(PublicKey),
    /// An equivocation recorded by an `evidence` record.
    Evidence {
        validator: CountryCode,
        height: u64,
        round: u32,
        kind: crate::equivocation::EquivocationStep,
    },
    /// The decision a member recorded last on a declaration, by one of its identifiers: a
    /// [`StateValue::Record`] naming the decision.
    Declaration {
        declaration: DeclarationId,
        member: CountryCode,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateValue {
    Submitter(SubmitterEntry),
    /// The last sequence number a key used: its last committed transaction that passed the submitter checks,
    /// whether its record was accepted or refused.
    Sequence(u64),
    Certificate(CertificateState),
    Decision(DecisionState),
    Aeo(AeoState),
    Mra(MraState),
    Member(MemberEntry),
    Epoch(Epoch),
    Count(u64),
    MembershipProposal(ProposalState),
    NodeKey(NodeKeyUse),
    /// The record that wrote this entry.
    Record(RecordId),
}

/// A state write that an accepted transaction causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: StateKey,
    pub value: StateValue,
}

impl StateKey {
    /// The canonical bytes the entry is stored under.
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::encoding::encode(self)
    }

    /// The entry's path in the state tree: `tagged_hash("clearance/v1/state-key", key bytes)`.
    pub fn path(&self) -> Hash32 {
        tagged_hash(tag::STATE_KEY, &self.to_bytes())
    }
}

impl StateValue {
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::encoding::encode(self)
    }

    /// The value hash the state tree holds: `tagged_hash("clearance/v1/state-value", value bytes)`.
    pub fn hash(&self) -> Hash32 {
        value_hash(&self.to_bytes())
    }
}

/// The value hash of a state value's canonical bytes, as received (a proof carries them).
pub fn value_hash(value_bytes: &[u8]) -> Hash32 {
    tagged_hash(tag::STATE_VALUE, value_bytes)
}

/// A block's state writes as state tree changes: path → value hash.
pub fn tree_changes(changes: &[Change]) -> std::collections::BTreeMap<Hash32, Option<Hash32>> {
    changes
        .iter()
        .map(|c| (c.key.path(), Some(c.value.hash())))
        .collect()
}

/// What the rules read: the committed state, plus, during execution, the block's earlier writes.
pub trait StateView {
    fn get(&self, key: &StateKey) -> Option<StateValue>;
}

/// A submitter key as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitterEntry {
    pub member: CountryCode,
    pub roles: Roles,
    /// False once revoked; a revoked key is never active again.
    pub active: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateStatus {
    Valid,
    Replaced,
    Revoked,
}

impl CertificateStatus {
    pub fn name(self) -> &'static str {
        match self {
            CertificateStatus::Valid => "valid",
            CertificateStatus::Replaced => "replaced",
            CertificateStatus::Revoked => "revoked",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateState {
    pub status: CertificateStatus,
    /// The record that last changed the certificate: its issue, amendment or revocation.
    pub record: RecordId,
    /// The certificate that replaced it, once replaced.
    pub replaced_by: Option<CertificateRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionState {
    pub declaration: DeclarationRef,
    pub member: CountryCode,
    pub decision: Decision,
    pub superseded_by: Option<RecordId>,
}

/// Where an operator stands in a member's AEO programme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AeoStanding {
    Active,
    Suspended,
    Revoked,
    Annulled,
    Expired,
}

impl AeoStanding {
    pub fn name(self) -> &'static str {
        match self {
            AeoStanding::Active => "active",
            AeoStanding::Suspended => "suspended",
            AeoStanding::Revoked => "revoked",
            AeoStanding::Annulled => "annulled",
            AeoStanding::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AeoState {
    pub standing: AeoStanding,
    pub aeo_type: AeoType,
    /// The record of the last transition.
    pub record: RecordId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MraStatus {
    Proposed,
    Active,
    Withdrawn,
}

impl MraStatus {
    pub fn name(self) -> &'static str {
        match self {
            MraStatus::Proposed => "proposed",
            MraStatus::Active => "active",
            MraStatus::Withdrawn => "withdrawn",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MraState {
    pub proposer: CountryCode,
    pub partner: CountryCode,
    pub covers: AeoType,
    pub status: MraStatus,
}

impl MraState {
    /// Whether, under this arrangement, `member` recognises an operator that `programme` authorised as `held`:
    /// the arrangement is active, between the two, and covers the type (`both` on either side covers all).
    pub fn recognises(&self, member: &CountryCode, programme: &CountryCode, held: AeoType) -> bool {
        let parties = (&self.proposer == member && &self.partner == programme)
            || (&self.proposer == programme && &self.partner == member);
        self.status == MraStatus::Active
            && parties
            && (self.covers == AeoType::Both || held == AeoType::Both || self.covers == held)
    }
}

/// Typed reads over a [`StateView`]. A value of the wrong kind under a key reads as absent; keys and values are
/// written only by [`super::apply`], which never does that.
pub fn submitter(view: &dyn StateView, key: &PublicKey) -> Option<SubmitterEntry> {
    match view.get(&StateKey::Submitter(*key)) {
        Some(StateValue::Submitter(e)) => Some(e),
        _ => None,
    }
}

/// The last sequence number accepted from `key`; 0 before its first transaction.
pub fn last_sequence(view: &dyn StateView, key: &PublicKey) -> u64 {
    match view.get(&StateKey::Sequence(*key)) {
        Some(StateValue::Sequence(s)) => s,
        _ => 0,
    }
}

pub fn certificate(view: &dyn StateView, r: &CertificateRef) -> Option<CertificateState> {
    match view.get(&StateKey::Certificate(r.clone())) {
        Some(StateValue::Certificate(c)) => Some(c),
        _ => None,
    }
}

pub fn decision(view: &dyn StateView, id: &Hash32) -> Option<DecisionState> {
    match view.get(&StateKey::Decision(*id)) {
        Some(StateValue::Decision(d)) => Some(d),
        _ => None,
    }
}

pub fn aeo(
    view: &dyn StateView,
    operator: &OperatorId,
    programme: &CountryCode,
) -> Option<AeoState> {
    match view.get(&StateKey::Aeo {
        operator: operator.clone(),
        programme: programme.clone(),
    }) {
        Some(StateValue::Aeo(a)) => Some(a),
        _ => None,
    }
}

pub fn mra(view: &dyn StateView, id: &Hash32) -> Option<MraState> {
    match view.get(&StateKey::Mra(*id)) {
        Some(StateValue::Mra(m)) => Some(m),
        _ => None,
    }
}

/// When a member may act: its submitter keys work, and it votes, at heights in `[active_from, active_until)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberEntry {
    pub active_from: u64,
    /// Set once its removal is adopted: the first height it is no longer a member.
    pub active_until: Option<u64>,
}

impl MemberEntry {
    pub fn is_active(&self, height: u64) -> bool {
        self.active_from <= height && self.active_until.is_none_or(|until| height < until)
    }
}

/// The members from one height on, until the next epoch's `from_height`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Epoch {
    /// The first height this member list decides; 1 for genesis.
    pub from_height: u64,
    /// Sorted by member id.
    pub members: Vec<MemberInfo>,
    /// The adopted proposals that made this list from the previous one, in adoption order; empty for genesis.
    pub changes: Vec<RecordId>,
}

impl Epoch {
    pub fn member(&self, id: &CountryCode) -> Option<&MemberInfo> {
        self.members
            .binary_search_by(|m| m.id.cmp(id))
            .ok()
            .map(|i| &self.members[i])
    }

    /// The validator set of this epoch's heights.
    pub fn validator_set(&self) -> Result<ValidatorSet, ValidatorSetError> {
        ValidatorSet::of_members(&self.members)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Open for approvals until it expires.
    Open,
    /// Approved by a quorum; the change decides blocks from `effective_height` on.
    Adopted { effective_height: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalState {
    pub proposer: CountryCode,
    pub change: MembershipChange,
    /// Approvals recorded after this block time are refused.
    pub expires_at: Timestamp,
    /// The members that approved, sorted; the proposer is the first approver unless it proposes its own removal.
    pub approvals: Vec<CountryCode>,
    pub status: ProposalStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKeyKind {
    Validator,
    Network,
}

/// Who holds (or held) a validator or network key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeKeyUse {
    pub member: CountryCode,
    pub kind: NodeKeyKind,
    /// Replaced by a rotation or given up by a removal (from the adoption on): it can never be used again.
    pub retired: bool,
}

pub fn member(view: &dyn StateView, id: &CountryCode) -> Option<MemberEntry> {
    match view.get(&StateKey::Member(id.clone())) {
        Some(StateValue::Member(m)) => Some(m),
        _ => None,
    }
}

pub fn epoch_count(view: &dyn StateView) -> u64 {
    match view.get(&StateKey::EpochCount) {
        Some(StateValue::Count(n)) => n,
        _ => 0,
    }
}

pub fn epoch(view: &dyn StateView, index: u64) -> Option<Epoch> {
    match view.get(&StateKey::Epoch(index)) {
        Some(StateValue::Epoch(e)) => Some(e),
        _ => None,
    }
}

/// The epoch in force at `height`, with its index: the last one whose `from_height` is at most `height`.
/// Later epochs are adopted but not yet in force; there are at most `membership_delay_blocks` of them.
pub fn epoch_at(view: &dyn StateView, height: u64) -> Option<(u64, Epoch)> {
    let mut index = epoch_count(view);
    while index > 0 {
        index -= 1;
        let e = epoch(view, index)?;
        if e.from_height <= height {
            return Some((index, e));
        }
    }
    None
}

/// The newest epoch, in force or not: the member list that changes being adopted now apply to.
pub fn latest_epoch(view: &dyn StateView) -> Option<(u64, Epoch)> {
    let index = epoch_count(view).checked_sub(1)?;
    Some((index, epoch(view, index)?))
}

pub fn membership_proposal(view: &dyn StateView, id: &Hash32) -> Option<ProposalState> {
    match view.get(&StateKey::MembershipProposal(*id)) {
        Some(StateValue::MembershipProposal(p)) => Some(p),
        _ => None,
    }
}

pub fn node_key(view: &dyn StateView, key: &PublicKey) -> Option<NodeKeyUse> {
    match view.get(&StateKey::NodeKey(*key)) {
        Some(StateValue::NodeKey(k)) => Some(k),
        _ => None,
    }
}
