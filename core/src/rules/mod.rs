//! The ledger's state rules: pure functions over a read-only view of the committed state. The node's mempool
//! uses them to pre-check a transaction and its executor to decide each transaction's outcome, so that every
//! member reaches the same verdict.
//!
//! The state is a map from [`StateKey`] to [`StateValue`]. [`apply`] reads it through a [`StateView`] and returns
//! the writes an accepted transaction makes; it never writes itself. Every refusal is a [`RuleError`] with a
//! stable code (it becomes the transaction's committed result) and a sentence for people.

mod evidence;
mod membership;
mod records;
mod state;

pub use membership::{
    BlockContext, MIN_MEMBERS, approval_count, genesis_state, genesis_state_root,
};
pub use state::*;

use crate::crypto::PublicKey;
use crate::hash::Hash32;
use crate::ids::{CountryCode, ReasonCode};
use crate::record::{Record, Roles};
use crate::tx::TxBody;

/// Why a transaction was refused. [`RuleError::code`] is stable and goes into the transaction's result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("submitter key {0} is not registered on this ledger")]
    UnknownSubmitter(PublicKey),
    #[error("submitter key {0} was revoked")]
    RevokedSubmitter(PublicKey),
    #[error("submitter key belongs to member {key_member}; the record acts for member {acting}")]
    WrongMember {
        key_member: CountryCode,
        acting: CountryCode,
    },
    #[error("submitter key lacks the {0} role")]
    MissingRole(&'static str),
    #[error("sequence number {got} is not the next one for this key, {expected}")]
    BadSequence { expected: u64, got: u64 },
    #[error("key {0} is already registered")]
    KeyExists(PublicKey),
    #[error("key {0} is not an active key of member {1}")]
    KeyNotActive(PublicKey, CountryCode),
    #[error("certificate {0} already exists")]
    CertificateExists(String),
    #[error("certificate {0} is not on the ledger")]
    CertificateNotFound(String),
    #[error("certificate {0} was revoked; a revoked certificate cannot change")]
    CertificateRevoked(String),
    #[error("certificate {0} was replaced by {1}; change the replacement instead")]
    CertificateReplaced(String, String),
    #[error("decision {0} is not on the ledger")]
    DecisionNotFound(Hash32),
    #[error("decision {0} was already superseded by {1}")]
    DecisionSuperseded(Hash32, Hash32),
    #[error("decision {0} is for another declaration")]
    DecisionOtherDeclaration(Hash32),
    #[error("decision {0} was recorded by member {1}; only that member may supersede it")]
    DecisionOtherMember(Hash32, CountryCode),
    #[error("decision {0} cancelled the declaration; it cannot be superseded")]
    DecisionCancelled(Hash32),
    #[error("operator {0} has no AEO status in programme {1}")]
    AeoNotFound(String, CountryCode),
    #[error("operator {operator} is {from} in programme {programme}; it cannot be {to}")]
    AeoTransition {
        operator: String,
        programme: CountryCode,
        from: &'static str,
        to: &'static str,
    },
    #[error("mutual recognition proposal {0} is not on the ledger")]
    MraNotFound(Hash32),
    #[error("only the partner named in proposal {0}, {1}, may accept it")]
    MraNotPartner(Hash32, CountryCode),
    #[error("mutual recognition {0} is {1}; only a proposed one can be accepted")]
    MraNotPending(Hash32, &'static str),
    #[error("member {1} is not a party to mutual recognition {0}")]
    MraNotParty(Hash32, CountryCode),
    #[error("mutual recognition {0} was already withdrawn")]
    MraWithdrawn(Hash32),
    #[error("member {0} is not an active member at this height; its submitter keys cannot act")]
    MemberInactive(CountryCode),
    #[error(
        "{0} is, or was, a member (or its admission is adopted); a member id is never given again"
    )]
    MembershipMemberExists(CountryCode),
    #[error("{0} is not a member (or its removal is adopted)")]
    MembershipMemberUnknown(CountryCode),
    #[error(
        "the change would leave {0} members; at least 4 are needed to tolerate one faulty member"
    )]
    MembershipTooFew(usize),
    #[error("the change would exceed the {0} members a validator set may hold")]
    MembershipTooMany(usize),
    #[error("key {0} is already in use on this ledger")]
    MembershipDuplicateKey(PublicKey),
    #[error("network key {0} is already the peer id of a member")]
    MembershipDuplicatePeerId(PublicKey),
    #[error("key {0} was retired by {1}; a retired key is never used again")]
    MembershipKeyRetired(PublicKey, CountryCode),
    #[error("membership proposal {0} is not on the ledger")]
    MembershipProposalNotFound(Hash32),
    #[error("membership proposal {0} expired at {1}")]
    MembershipProposalExpired(Hash32, crate::time::Timestamp),
    #[error("membership proposal {0} is already adopted; it takes effect at height {1}")]
    MembershipProposalAdopted(Hash32, u64),
    #[error("member {1} already approved membership proposal {0}")]
    MembershipAlreadyApproved(Hash32, CountryCode),
    #[error("member {0} cannot approve its own removal")]
    MembershipOwnRemoval(CountryCode),
    #[error("the ledger's membership state is missing: the node's database is damaged")]
    MembershipStateMissing,
    #[error("evidence does not prove an equivocation: {0}")]
    EvidenceInvalid(String),
    #[error("the equivocation of {validator} at height {height} is already recorded by {first}")]
    EvidenceExists {
        validator: CountryCode,
        height: u64,
        first: Hash32,
    },
}

impl RuleError {
    /// A failure of the submitter checks (docs/records.md §1.2): the key could not have sent this transaction
    /// at this point of the ledger. A block that carries one is invalid; a correct proposer leaves it out.
    pub fn is_submitter_check(&self) -> bool {
        matches!(
            self,
            RuleError::UnknownSubmitter(_)
                | RuleError::RevokedSubmitter(_)
                | RuleError::WrongMember { .. }
                | RuleError::MemberInactive(_)
                | RuleError::MissingRole(_)
                | RuleError::BadSequence { .. }
        )
    }

    pub fn code(&self) -> &'static str {
        match self {
            RuleError::UnknownSubmitter(_) => "SUBMITTER_UNKNOWN",
            RuleError::RevokedSubmitter(_) => "SUBMITTER_REVOKED",
            RuleError::WrongMember { .. } => "SUBMITTER_WRONG_MEMBER",
            RuleError::MissingRole(_) => "SUBMITTER_MISSING_ROLE",
            RuleError::BadSequence { .. } => "BAD_SEQUENCE",
            RuleError::KeyExists(_) => "KEY_EXISTS",
            RuleError::KeyNotActive(..) => "KEY_NOT_ACTIVE",
            RuleError::CertificateExists(_) => "CERT_EXISTS",
            RuleError::CertificateNotFound(_) => "CERT_NOT_FOUND",
            RuleError::CertificateRevoked(_) => "CERT_REVOKED",
            RuleError::CertificateReplaced(..) => "CERT_REPLACED",
            RuleError::DecisionNotFound(_) => "DECISION_NOT_FOUND",
            RuleError::DecisionSuperseded(..) => "DECISION_SUPERSEDED",
            RuleError::DecisionOtherDeclaration(_) => "DECISION_OTHER_DECLARATION",
            RuleError::DecisionOtherMember(..) => "DECISION_OTHER_MEMBER",
            RuleError::DecisionCancelled(_) => "DECISION_CANCELLED",
            RuleError::AeoNotFound(..) => "AEO_NOT_FOUND",
            RuleError::AeoTransition { .. } => "AEO_BAD_TRANSITION",
            RuleError::MraNotFound(_) => "MRA_NOT_FOUND",
            RuleError::MraNotPartner(..) => "MRA_NOT_PARTNER",
            RuleError::MraNotPending(..) => "MRA_NOT_PENDING",
            RuleError::MraNotParty(..) => "MRA_NOT_PARTY",
            RuleError::MraWithdrawn(_) => "MRA_WITHDRAWN",
            RuleError::MemberInactive(_) => "SUBMITTER_MEMBER_INACTIVE",
            RuleError::MembershipMemberExists(_) => "MEMBERSHIP_MEMBER_EXISTS",
            RuleError::MembershipMemberUnknown(_) => "MEMBERSHIP_MEMBER_UNKNOWN",
            RuleError::MembershipTooFew(_) => "MEMBERSHIP_TOO_FEW_MEMBERS",
            RuleError::MembershipTooMany(_) => "MEMBERSHIP_TOO_MANY_MEMBERS",
            RuleError::MembershipDuplicateKey(_) => "MEMBERSHIP_DUPLICATE_KEY",
            RuleError::MembershipDuplicatePeerId(_) => "MEMBERSHIP_DUPLICATE_PEER_ID",
            RuleError::MembershipKeyRetired(..) => "MEMBERSHIP_KEY_RETIRED",
            RuleError::MembershipProposalNotFound(_) => "MEMBERSHIP_PROPOSAL_NOT_FOUND",
            RuleError::MembershipProposalExpired(..) => "MEMBERSHIP_PROPOSAL_EXPIRED",
            RuleError::MembershipProposalAdopted(..) => "MEMBERSHIP_PROPOSAL_ADOPTED",
            RuleError::MembershipAlreadyApproved(..) => "MEMBERSHIP_ALREADY_APPROVED",
            RuleError::MembershipOwnRemoval(_) => "MEMBERSHIP_OWN_REMOVAL",
            RuleError::MembershipStateMissing => "MEMBERSHIP_STATE_MISSING",
            RuleError::EvidenceInvalid(_) => "EVIDENCE_INVALID",
            RuleError::EvidenceExists { .. } => "EVIDENCE_EXISTS",
        }
    }

    /// Whether a transaction still pending could lift the refusal: only when the record names something not
    /// yet on the ledger (a certificate, a decision, an operator's status, an MRA proposal), which a transaction
    /// ahead of it may be creating. The mempool refuses every other rule failure at once, against the committed
    /// state, so that a client learns of it with an error and nothing is written.
    pub fn may_pass_later(&self) -> bool {
        matches!(
            self,
            RuleError::CertificateNotFound(_)
                | RuleError::DecisionNotFound(_)
                | RuleError::AeoNotFound(..)
                | RuleError::MraNotFound(_)
                | RuleError::MembershipProposalNotFound(_)
        )
    }

    pub fn reason_code(&self) -> ReasonCode {
        match ReasonCode::parse(self.code()) {
            Ok(code) => code,
            Err(e) => unreachable!("rule codes are valid reason codes: {e}"),
        }
    }
}

/// Checks that `body`'s submitter may write its record at `height` and that its sequence number is
/// `expected_sequence`. The mempool passes the transaction's own sequence once it has checked the window;
/// execution passes the committed one + 1.
pub fn check_submitter(
    view: &dyn StateView,
    height: u64,
    body: &TxBody,
    expected_sequence: u64,
) -> Result<SubmitterEntry, RuleError> {
    let entry = match &body.record {
        Record::Evidence(_) => reporter(view, height, &body.submitter),
        _ => submitter(view, &body.submitter),
    }
    .ok_or(RuleError::UnknownSubmitter(body.submitter))?;
    if !entry.active {
        return Err(RuleError::RevokedSubmitter(body.submitter));
    }
    let acting = body.record.acting_member();
    if entry.member != acting {
        return Err(RuleError::WrongMember {
            key_member: entry.member,
            acting,
        });
    }
    // A removed member's keys stop with its membership; an admitted member's start with it.
    if !member(view, &entry.member).is_some_and(|m| m.is_active(height)) {
        return Err(RuleError::MemberInactive(entry.member));
    }
    if let Some(role) = body.record.required_role()
        && !entry.roles.contains(role)
    {
        return Err(RuleError::MissingRole(role.name()));
    }
    if body.sequence != expected_sequence {
        return Err(RuleError::BadSequence {
            expected: expected_sequence,
            got: body.sequence,
        });
    }
    Ok(entry)
}

/// The signer of an `evidence` record: the member whose validator key, in the set in force at `height`, is `key`.
/// Evidence is reported by members' nodes, which hold no submitter key; it needs no role.
fn reporter(view: &dyn StateView, height: u64, key: &PublicKey) -> Option<SubmitterEntry> {
    let (_, epoch) = epoch_at(view, height)?;
    let member = epoch.members.iter().find(|m| m.validator_key == *key)?;
    Some(SubmitterEntry {
        member: member.id.clone(),
        roles: Roles::from_roles(&[]),
        active: true,
    })
}

/// A refused transaction: why, and the writes it still makes. A transaction its key was entitled to send (the
/// submitter checks passed) uses up its sequence number even when the record is refused, so that the key's next
/// transactions stay valid; one that fails the submitter checks writes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub error: RuleError,
    pub changes: Vec<Change>,
}

/// Decides whether the transaction `id` with `body` is accepted against `view`, and returns the state writes it
/// causes: the submitter's sequence number, then what the record itself changes.
pub fn apply(
    view: &dyn StateView,
    ctx: &BlockContext,
    id: &Hash32,
    body: &TxBody,
) -> Result<Vec<Change>, Refused> {
    let expected = last_sequence(view, &body.submitter).saturating_add(1);
    check_submitter(view, ctx.height, body, expected).map_err(|error| Refused {
        error,
        changes: Vec::new(),
    })?;
    let sequence = Change {
        key: StateKey::Sequence(body.submitter),
        value: StateValue::Sequence(body.sequence),
    };
    match apply_record(view, ctx, id, body) {
        Ok(record) => {
            let mut changes = Vec::with_capacity(1 + record.len());
            changes.push(sequence);
            changes.extend(record);
            Ok(changes)
        }
        Err(error) => Err(Refused {
            error,
            changes: vec![sequence],
        }),
    }
}

/// The record-specific part of [`apply`], for callers that check the submitter themselves.
pub fn apply_record(
    view: &dyn StateView,
    ctx: &BlockContext,
    id: &Hash32,
    body: &TxBody,
) -> Result<Vec<Change>, RuleError> {
    match &body.record {
        Record::Evidence(r) => evidence::apply(view, ctx, id, &body.chain_id, r),
        record => records::apply_record(view, ctx, id, record),
    }
}
