//! The ledger state the rules read and write: keys, values and the read-only view.

use crate::crypto::PublicKey;
use crate::hash::Hash32;
use crate::ids::{CountryCode, OperatorId};
use crate::record::{AeoType, CertificateRef, Decision, DeclarationRef, RecordId, Roles};
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
}

/// A state write that an accepted transaction causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: StateKey,
    pub value: StateValue,
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
