//! Offline verification for auditors: proof bundles and checkpoints, checked with nothing but the genesis.
//!
//! A **proof bundle** shows that a record was committed by a quorum of members: the record's signed bytes, their
//! inclusion in the certified block that carries them (height and time), and their inclusion in the global
//! record log under a later certified head (the *anchor*). It may carry later records about the same
//! certificate, AEO operator or declaration, each proven the same way, so that the verdict tells the current
//! status. A **checkpoint** is a certified head an auditor keeps; a consistency proof shows a newer checkpoint
//! extends it, so the ledger only ever grew.
//!
//! Everything here is synchronous and pure: no I/O, no clock. The formats and the algorithm are in
//! `docs/audit.md`.

mod adopted;
mod describe;
mod sets;
mod status;
mod verdict;
mod verify;

pub use adopted::{AdoptedSummary, MAX_ADOPTED, MAX_APPROVALS, describe_change};
pub use sets::{MAX_SET_CHANGES, SetChangeSummary};
pub use status::{
    RecognitionProof, RecordEntryProof, StateEntryProof, StatusSubject, StatusSummary,
};
pub use verdict::{
    AuditError, CheckpointVerdict, DocumentCheck, HeadSummary, RecordSummary, Signer,
    StatusVerdict, Step, Verdict,
};
pub use verify::{
    certificate_refs, concerns, verify_bundle, verify_checkpoint, verify_extension, verify_status,
};

use crate::bytes::Bytes;
use crate::hash::Hash32;
use serde::{Deserialize, Serialize};

/// The `format` field of a proof bundle.
pub const BUNDLE_FORMAT: &str = "clearance-proof-bundle";
/// The `format` field of a checkpoint.
pub const CHECKPOINT_FORMAT: &str = "clearance-checkpoint";
/// The `format` field of a status proof.
pub const STATUS_FORMAT: &str = "clearance-status-proof";
/// The `format` field of a consistency proof.
pub const CONSISTENCY_FORMAT: &str = "clearance-consistency-proof";
/// The version this code writes and reads.
pub const VERSION: u32 = 1;
/// Largest file a verifier reads: far above a real bundle (a few KB), far below what could exhaust memory.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// Most later records one bundle carries.
pub const MAX_LATER_RECORDS: usize = 64;
/// Longest Merkle path: a log of 2^64 leaves.
pub const MAX_PATH: usize = 64;

/// A block header's exact bytes and the commit certificate that signs it, both base64 in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertifiedHeader {
    /// Canonical `Header` bytes (`docs/protocol.md` §5.4).
    pub header: Bytes,
    /// Canonical `CommitCertificate` bytes for that header.
    pub certificate: Bytes,
}

/// One record with its two inclusion proofs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordProof {
    /// The canonical `SignedTx` bytes: the leaf of both the block's transaction tree and the record log.
    pub signed_tx: Bytes,
    /// The block that carries the record.
    pub block: CertifiedHeader,
    /// Position in the block, and the RFC 9162 path to the header's `tx_root`.
    pub tx_index: u64,
    pub tx_path: Vec<Hash32>,
    /// Position in the record log, and the RFC 9162 path to the anchor's `log_root`.
    pub log_index: u64,
    pub log_path: Vec<Hash32>,
}

/// A change of the validator set, certified by a quorum of the previous set (`docs/audit.md` §3.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorSetChange {
    /// The first height the new set decides.
    pub height: u64,
    /// The new set's canonical `ValidatorSet` bytes.
    pub validator_set: Bytes,
    /// The certified header of `height − 1`: signed by the set before, its `next_validator_set_hash` is the
    /// hash of `validator_set`.
    pub proof: CertifiedHeader,
    /// The certified header of the adopting block, `height − membership_delay_blocks`: the record that adopted
    /// each proposal is one of the log entries this block appended.
    pub adopting: CertifiedHeader,
    /// The membership proposals adopted in that block that make the new set from the one before, in adoption
    /// order, each with its approvals: proven in the record log of `proof`'s header.
    pub adopted: Vec<AdoptedChange>,
}

/// A membership proposal and every approval of it the ledger accepted (`docs/audit.md` §3.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdoptedChange {
    pub proposal: LoggedRecord,
    /// In log order.
    pub approvals: Vec<LoggedRecord>,
}

/// A record proven by its place in the record log of a certified header (the one the enclosing object names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggedRecord {
    /// The canonical `SignedTx` bytes: the log's leaf.
    pub signed_tx: Bytes,
    pub log_index: u64,
    /// The RFC 9162 path to the header's `log_root`.
    pub log_path: Vec<Hash32>,
}

/// `GET /v1/proofs/records/{id}`: everything needed to check one record offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofBundle {
    pub format: String,
    pub version: u32,
    pub chain_id: Hash32,
    pub record: RecordProof,
    /// Later records about the same certificate, operator or declaration, in log order.
    pub later: Vec<RecordProof>,
    /// The certified head whose log root every `log_path` leads to.
    pub anchor: CertifiedHeader,
    /// Every change of the validator set from genesis up to the anchor's height, oldest first.
    pub validator_set_changes: Vec<ValidatorSetChange>,
    /// Where the record's certificate, operator or decision stands at the anchor: its state entry, proven
    /// against the anchor's `state_root`. Absent only for records that have no status (MRAs, keys, membership,
    /// evidence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StateEntryProof>,
}

/// `GET /v1/proofs/status/...`: where one certificate, AEO standing or decision stands at a certified head, or
/// that it was never recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusFile {
    pub format: String,
    pub version: u32,
    pub chain_id: Hash32,
    pub subject: StatusSubject,
    /// The subject's state entry (or its absence), proven against the anchor's `state_root`.
    pub status: StateEntryProof,
    pub anchor: CertifiedHeader,
    /// Every change of the validator set from genesis up to the anchor's height, oldest first.
    pub validator_set_changes: Vec<ValidatorSetChange>,
    /// For an AEO standing asked about with `recognised_by`: whether that member recognises it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognition: Option<RecognitionProof>,
    /// For a declaration: the decision its entry names, proven under the same root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<RecordEntryProof>,
}

/// `GET /v1/checkpoint`: a certified head to keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub format: String,
    pub version: u32,
    pub chain_id: Hash32,
    /// Copies of the header's fields, for people reading the file; the verifier checks they match.
    pub height: u64,
    pub log_size: u64,
    pub log_root: Hash32,
    pub head: CertifiedHeader,
    /// Every change of the validator set from genesis up to the head's height; omitted when there is none, so
    /// that a checkpoint of a ledger that never changed its set reads as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validator_set_changes: Vec<ValidatorSetChange>,
}

/// `GET /v1/proofs/consistency?from=A&to=B`: the log at the head of height B extends the log at height A.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    pub format: String,
    pub version: u32,
    pub chain_id: Hash32,
    pub old: CertifiedHeader,
    pub new: CertifiedHeader,
    /// RFC 9162 consistency proof from the old log size to the new one.
    pub proof: Vec<Hash32>,
    /// Every change of the validator set from genesis up to the new head's height (see [`Checkpoint`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validator_set_changes: Vec<ValidatorSetChange>,
}
