//! What verification returns: the verdicts for people and scripts, and the error that names the failing step.

use crate::PublicKey;
use crate::hash::Hash32;
use crate::ids::CountryCode;
use crate::record::RecordId;
use crate::time::Timestamp;
use serde::Serialize;
use std::fmt;

/// Why a file does not verify: the step (a stable name, `docs/audit.md` §4) and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{step}: {reason}")]
pub struct AuditError {
    pub step: Step,
    pub reason: String,
}

/// Where verification stopped: a stable, dotted name such as `record.log-inclusion` or `later[1].block.certificate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step(pub String);

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(super) fn fail(step: impl Into<String>, reason: impl fmt::Display) -> AuditError {
    AuditError {
        step: Step(step.into()),
        reason: reason.to_string(),
    }
}

/// A member that signed a commit certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signer {
    pub member: CountryCode,
    pub name: String,
}

/// A certified head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeadSummary {
    pub height: u64,
    pub time: Timestamp,
    pub block_hash: Hash32,
    pub log_size: u64,
    pub log_root: Hash32,
    pub signers: Vec<Signer>,
}

/// A verified record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordSummary {
    pub id: RecordId,
    pub kind: String,
    /// One line for people: what the record says.
    pub summary: String,
    /// The member that recorded it, and its name in the genesis.
    pub member: CountryCode,
    pub member_name: String,
    pub submitter: PublicKey,
    pub sequence: u64,
    /// The block that carries it.
    pub height: u64,
    pub time: Timestamp,
    pub log_index: u64,
    /// The members whose precommits certify that block.
    pub signers: Vec<Signer>,
}

/// The document a user gave, checked against the record's `document_sha256`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentCheck {
    pub sha256: Hash32,
    pub matches: bool,
}

/// What a bundle proves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub chain_id: Hash32,
    pub chain_name: String,
    pub record: RecordSummary,
    pub document: Option<DocumentCheck>,
    /// Later records about the same certificate, operator or declaration, oldest first.
    pub later: Vec<RecordSummary>,
    pub anchor: HeadSummary,
    /// The changes of the validator set since genesis that the file proves, oldest first.
    pub validator_set_changes: Vec<super::sets::SetChangeSummary>,
    /// Where the record's certificate, operator or decision stands at the anchor; `None` for records without
    /// a status.
    pub status: Option<super::status::StatusSummary>,
}

/// What a status proof proves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusVerdict {
    pub chain_id: Hash32,
    pub chain_name: String,
    pub status: super::status::StatusSummary,
    pub validator_set_changes: Vec<super::sets::SetChangeSummary>,
}

/// What a checkpoint, or a checkpoint and a consistency proof, prove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointVerdict {
    pub chain_id: Hash32,
    pub chain_name: String,
    /// The checkpoint kept before, when checking an extension.
    pub old: Option<HeadSummary>,
    pub head: HeadSummary,
    pub validator_set_changes: Vec<super::sets::SetChangeSummary>,
}
