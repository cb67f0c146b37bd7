//! The JSON bodies of the node's HTTP API, shared by the node that writes them and the client that reads them.
//! Records inside them use the records' own JSON forms (docs/protocol.md).

use crate::crypto::PublicKey;
use crate::hash::Hash32;
use crate::ids::{CountryCode, OperatorId};
use crate::record::{AeoType, CertificateRef, Record};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// An error answer: a stable code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// The answer to a submission the mempool admitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    pub tx_id: Hash32,
    /// Always `pending`: admitted, not yet committed.
    pub status: String,
}

/// The answer to a batch submission: one item per transaction, in the order they were sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSubmitted {
    pub results: Vec<BatchItem>,
}

/// One transaction of a batch: `pending` (admitted) or `refused`, with the code and sentence a single
/// submission would have answered. `tx_id` is absent only when the bytes did not decode as a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_id: Option<Hash32>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Where a transaction stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxStatus {
    pub tx_id: Hash32,
    /// `pending`, `accepted`, `rejected` or `unknown`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A submitter key as the ledger knows it, with the sequence number its next transaction must carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitterView {
    pub key: PublicKey,
    pub member: CountryCode,
    pub roles: crate::record::Roles,
    pub active: bool,
    /// The last sequence number committed for this key; the next transaction carries this + 1.
    pub last_sequence: u64,
}

/// An accepted record and where it sits on the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordView {
    pub id: Hash32,
    pub kind: String,
    /// The member the record was written for.
    pub member: CountryCode,
    pub height: u64,
    /// Position of the transaction in its block.
    pub index: u32,
    /// Position in the global record log (the leaf index of its inclusion proof).
    pub log_index: u64,
    pub time: Timestamp,
    pub submitter: PublicKey,
    pub sequence: u64,
    pub record: Record,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateView {
    pub issuer: CountryCode,
    pub number: String,
    /// `valid`, `replaced` or `revoked`.
    pub status: String,
    pub replaced_by: Option<CertificateRef>,
    /// Issue, amendments and revocation, oldest first.
    pub history: Vec<RecordView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AeoProgrammeView {
    pub programme: CountryCode,
    /// `active`, `suspended`, `revoked`, `annulled` or `expired`.
    pub standing: String,
    pub aeo_type: AeoType,
    /// With `recognised_by`: whether that member recognises this status, itself or under an active MRA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognised: Option<bool>,
    /// The active MRA that makes it recognised, if that is how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_mra: Option<Hash32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AeoView {
    pub operator: OperatorId,
    pub programmes: Vec<AeoProgrammeView>,
    pub history: Vec<RecordView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MraView {
    pub id: Hash32,
    pub proposer: CountryCode,
    pub partner: CountryCode,
    pub covers: AeoType,
    /// `proposed`, `active` or `withdrawn`.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeclarationView {
    /// Every decision on the declaration, oldest first.
    pub decisions: Vec<RecordView>,
    /// The decisions no later decision supersedes.
    pub current: Vec<Hash32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordPage {
    pub records: Vec<RecordView>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next: Option<u64>,
}

/// `GET /v1/members`: who decides the ledger now, what is about to change, and what is proposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersView {
    /// The height being decided; `members` decide it.
    pub height: u64,
    pub members: Vec<crate::record::MemberInfo>,
    /// Member lists adopted but not yet in force, each from its first height.
    pub scheduled: Vec<ScheduledMembers>,
    /// Every membership proposal, oldest first.
    pub proposals: Vec<ProposalView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledMembers {
    pub from_height: u64,
    pub members: Vec<crate::record::MemberInfo>,
    /// The adopted proposals that make this list.
    pub changes: Vec<Hash32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalView {
    pub id: Hash32,
    pub proposer: CountryCode,
    pub change: crate::record::MembershipChange,
    /// `open`, `expired` or `adopted`.
    pub status: String,
    pub approvals: Vec<CountryCode>,
    /// Approvals that count now (from members in force, not the member being removed), and how many adopt it.
    pub counted: usize,
    pub needed: usize,
    pub expires_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_height: Option<u64>,
}
