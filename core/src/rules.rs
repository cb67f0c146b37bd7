//! The ledger's state rules: pure functions over a read-only view of the committed state. The node's mempool
//! uses them to pre-check a transaction and its executor to decide each transaction's outcome, so both always
//! agree with what every other member decides.
//!
//! This module covers what every record needs (a registered, active submitter key of the acting member with the
//! required role, and the next sequence number) and the submitter-key governance records. The lifecycle rules of
//! certificates, decisions, AEO status and MRAs build on the same [`StateView`].

use crate::crypto::PublicKey;
use crate::ids::{CountryCode, ReasonCode};
use crate::record::{Record, Roles};
use crate::tx::TxBody;
use serde::{Deserialize, Serialize};

/// A submitter key as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitterEntry {
    pub member: CountryCode,
    pub roles: Roles,
    /// False once revoked; a revoked key is never active again.
    pub active: bool,
}

/// What the rules read.
pub trait StateView {
    fn submitter(&self, key: &PublicKey) -> Option<SubmitterEntry>;
    /// The last sequence number accepted from `key`; 0 before its first transaction.
    fn last_sequence(&self, key: &PublicKey) -> u64;
}

/// A state write that an accepted transaction causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Sequence {
        key: PublicKey,
        sequence: u64,
    },
    Submitter {
        key: PublicKey,
        entry: SubmitterEntry,
    },
}

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
}

impl RuleError {
    pub fn code(&self) -> &'static str {
        match self {
            RuleError::UnknownSubmitter(_) => "SUBMITTER_UNKNOWN",
            RuleError::RevokedSubmitter(_) => "SUBMITTER_REVOKED",
            RuleError::WrongMember { .. } => "SUBMITTER_WRONG_MEMBER",
            RuleError::MissingRole(_) => "SUBMITTER_MISSING_ROLE",
            RuleError::BadSequence { .. } => "BAD_SEQUENCE",
            RuleError::KeyExists(_) => "KEY_EXISTS",
            RuleError::KeyNotActive(..) => "KEY_NOT_ACTIVE",
        }
    }

    pub fn reason_code(&self) -> ReasonCode {
        match ReasonCode::parse(self.code()) {
            Ok(code) => code,
            Err(e) => unreachable!("rule codes are valid reason codes: {e}"),
        }
    }
}

/// Checks that `body`'s submitter may write its record and that its sequence number is `expected_sequence`.
/// The mempool passes the next sequence after what it already holds; execution passes the committed one + 1.
pub fn check_submitter(
    view: &dyn StateView,
    body: &TxBody,
    expected_sequence: u64,
) -> Result<SubmitterEntry, RuleError> {
    let entry = view
        .submitter(&body.submitter)
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
    let role = body.record.required_role();
    if !entry.roles.contains(role) {
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

/// Decides whether `body` is accepted against `view` and returns the state writes it causes.
pub fn apply(view: &dyn StateView, body: &TxBody) -> Result<Vec<Change>, RuleError> {
    let expected = view.last_sequence(&body.submitter).saturating_add(1);
    check_submitter(view, body, expected)?;
    let mut changes = vec![Change::Sequence {
        key: body.submitter,
        sequence: body.sequence,
    }];
    match &body.record {
        Record::SubmitterKeyRegister(r) => {
            if view.submitter(&r.key).is_some() {
                return Err(RuleError::KeyExists(r.key));
            }
            changes.push(Change::Submitter {
                key: r.key,
                entry: SubmitterEntry {
                    member: r.member.clone(),
                    roles: r.roles,
                    active: true,
                },
            });
        }
        Record::SubmitterKeyRevoke(r) => match view.submitter(&r.key) {
            Some(entry) if entry.active && entry.member == r.member => {
                changes.push(Change::Submitter {
                    key: r.key,
                    entry: SubmitterEntry {
                        active: false,
                        ..entry
                    },
                });
            }
            _ => return Err(RuleError::KeyNotActive(r.key, r.member.clone())),
        },
        _ => {}
    }
    Ok(changes)
}
