//! The customs records of DESIGN §4. Each record is the payload of one transaction; its id is that
//! transaction's id. Types here check their own shape ([`Record::check_shape`]); the rules that need the
//! ledger's state (who may write, lifecycles) live in the rules module.

use crate::crypto::PublicKey;
use crate::hash::Hash32;
use crate::ids::{
    CertificateNumber, CountryCode, CustomsOffice, HsCode, Mrn, OperatorId, ReasonCode, Text, Ucr,
};
use crate::time::{Date, Timestamp};
use serde::{Deserialize, Serialize};

mod evidence;
mod shape;
pub use evidence::EvidenceReport;

/// A record's id: the id of the transaction that carried it.
pub type RecordId = Hash32;

/// Most HS codes one certificate may list.
pub const MAX_HS_CODES: usize = 100;
/// Most certificates one clearance decision may link.
pub const MAX_LINKED_CERTIFICATES: usize = 32;
/// Most multiaddrs one member may announce.
pub const MAX_ADDRESSES: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    CertificateIssue(CertificateIssue),
    CertificateAmend(CertificateAmend),
    CertificateRevoke(CertificateRevoke),
    ClearanceDecision(ClearanceDecision),
    AeoStatus(AeoStatus),
    MraPropose(MraPropose),
    MraAccept(MraAccept),
    MraWithdraw(MraWithdraw),
    SubmitterKeyRegister(SubmitterKeyRegister),
    SubmitterKeyRevoke(SubmitterKeyRevoke),
    MembershipPropose(MembershipPropose),
    MembershipApprove(MembershipApprove),
    /// Proof that a validator equivocated (`evidence`).
    Evidence(EvidenceReport),
}

/// What is wrong with a record's shape, independent of the ledger's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("{field}: {rule}")]
    Field { field: &'static str, rule: String },
}

fn field(field: &'static str, rule: impl Into<String>) -> ShapeError {
    ShapeError::Field {
        field,
        rule: rule.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateType {
    Origin,
    Phytosanitary,
    Aeo,
    Licence,
    Other,
}

/// Names one certificate: its issuing member and its number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateRef {
    pub issuer: CountryCode,
    pub number: CertificateNumber,
}

/// The content of a certificate, as issued or as it stands after an amendment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateBody {
    pub cert_type: CertificateType,
    pub number: CertificateNumber,
    /// The issuing member.
    pub issuer: CountryCode,
    /// The authority within the member that issued it, e.g. a chamber of commerce or plant-protection body.
    pub authority: Text,
    pub issued_on: Date,
    pub valid_until: Option<Date>,
    pub exporter: Option<OperatorId>,
    pub importer: Option<OperatorId>,
    pub origin_country: CountryCode,
    pub destination_country: CountryCode,
    pub hs_codes: Vec<HsCode>,
    /// SHA-256 of the certificate document (e.g. the PDF or the ePhyto XML), as the issuer holds it.
    pub document_sha256: Hash32,
}

impl CertificateBody {
    pub fn reference(&self) -> CertificateRef {
        CertificateRef {
            issuer: self.issuer.clone(),
            number: self.number.clone(),
        }
    }

    fn check_shape(&self) -> Result<(), ShapeError> {
        if self.hs_codes.len() > MAX_HS_CODES {
            return Err(field("hs_codes", format!("at most {MAX_HS_CODES} codes")));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = self.hs_codes.iter().find(|c| !seen.insert(*c)) {
            return Err(field("hs_codes", format!("{dup} is listed twice")));
        }
        if let Some(until) = self.valid_until
            && until < self.issued_on
        {
            return Err(field(
                "valid_until",
                format!("{until} is before issued_on {}", self.issued_on),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateIssue {
    pub certificate: CertificateBody,
}

/// Amends a certificate by replacing it: `certificate` is the new content, which may keep the number
/// (an amendment) or carry a new one (a replacement). The replaced certificate stays in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateAmend {
    pub replaces: CertificateRef,
    pub certificate: CertificateBody,
    pub reason: Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateRevoke {
    pub certificate: CertificateRef,
    pub effective_on: Date,
    pub reason_code: ReasonCode,
    pub reason: Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Procedure {
    Import,
    Export,
    Transit,
    Warehousing,
    TemporaryAdmission,
    InwardProcessing,
    OutwardProcessing,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Accepted,
    Released,
    Hold,
    DocumentsRequired,
    InspectPhysical,
    InspectDocumentary,
    Rejected,
    Cancelled,
}

impl Decision {
    /// The name as records and status proofs write it (`released`, `hold`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Decision::Accepted => "accepted",
            Decision::Released => "released",
            Decision::Hold => "hold",
            Decision::DocumentsRequired => "documents_required",
            Decision::InspectPhysical => "inspect_physical",
            Decision::InspectDocumentary => "inspect_documentary",
            Decision::Rejected => "rejected",
            Decision::Cancelled => "cancelled",
        }
    }
}

/// A declaration is named by its MRN, its UCR, or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclarationRef {
    pub mrn: Option<Mrn>,
    pub ucr: Option<Ucr>,
}

impl DeclarationRef {
    /// Each identifier the reference gives.
    pub fn ids(&self) -> Vec<DeclarationId> {
        let mrn = self.mrn.clone().map(DeclarationId::Mrn);
        let ucr = self.ucr.clone().map(DeclarationId::Ucr);
        mrn.into_iter().chain(ucr).collect()
    }

    pub fn names(&self, id: &DeclarationId) -> bool {
        match id {
            DeclarationId::Mrn(m) => self.mrn.as_ref() == Some(m),
            DeclarationId::Ucr(u) => self.ucr.as_ref() == Some(u),
        }
    }
}

/// One identifier of a declaration: the current decision is kept by each (`docs/protocol.md` §2.8).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DeclarationId {
    Mrn(Mrn),
    Ucr(Ucr),
}

impl std::fmt::Display for DeclarationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeclarationId::Mrn(m) => write!(f, "MRN {}", m.as_str()),
            DeclarationId::Ucr(u) => write!(f, "UCR {}", u.as_str()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearanceDecision {
    pub declaration: DeclarationRef,
    /// The office of clearance; its country is the member that may record the decision.
    pub office: CustomsOffice,
    pub procedure: Procedure,
    pub decision: Decision,
    pub decided_at: Timestamp,
    pub linked_certificates: Vec<CertificateRef>,
    /// The decision on the same declaration that this one supersedes, if any.
    pub supersedes: Option<RecordId>,
    pub reason_code: Option<ReasonCode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AeoType {
    /// AEO customs simplifications.
    Aeoc,
    /// AEO security and safety.
    Aeos,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AeoTransition {
    Granted,
    Suspended,
    Reinstated,
    Revoked,
    Annulled,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AeoStatus {
    pub operator: OperatorId,
    /// The member whose AEO programme this is; only that member may record transitions.
    pub programme: CountryCode,
    pub aeo_type: AeoType,
    pub transition: AeoTransition,
    pub effective_on: Date,
    pub reason_code: Option<ReasonCode>,
}

/// One side proposes mutual recognition of AEO programmes; it is active once the partner accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MraPropose {
    pub proposer: CountryCode,
    pub partner: CountryCode,
    /// Which AEO types each side recognises of the other.
    pub covers: AeoType,
    pub effective_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MraAccept {
    /// The `mra_propose` record being accepted.
    pub proposal: RecordId,
    pub acceptor: CountryCode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MraWithdraw {
    /// The `mra_propose` record of the arrangement being withdrawn from.
    pub proposal: RecordId,
    pub member: CountryCode,
    pub reason: Text,
}

/// What a submitter key may write. Binary: a `u32` bit set (unknown bits rejected). JSON: a list of names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Certificates,
    Clearance,
    Aeo,
    Mra,
    /// Register and revoke the member's submitter keys.
    KeyAdmin,
    /// Propose and approve membership changes.
    Membership,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Certificates,
        Role::Clearance,
        Role::Aeo,
        Role::Mra,
        Role::KeyAdmin,
        Role::Membership,
    ];

    fn bit(self) -> u32 {
        1 << (self as u32)
    }

    /// The role's name as written in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Role::Certificates => "certificates",
            Role::Clearance => "clearance",
            Role::Aeo => "aeo",
            Role::Mra => "mra",
            Role::KeyAdmin => "key_admin",
            Role::Membership => "membership",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Roles(u32);

impl Roles {
    pub fn from_roles(roles: &[Role]) -> Roles {
        Roles(roles.iter().fold(0, |acc, r| acc | r.bit()))
    }

    pub fn contains(&self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        Role::ALL.into_iter().filter(|r| self.contains(*r))
    }

    pub fn bits(&self) -> u32 {
        self.0
    }

    pub fn from_bits(bits: u32) -> Result<Roles, String> {
        let known = Roles::from_roles(&Role::ALL).0;
        if bits & !known != 0 {
            return Err(format!("unknown role bits {:#x}", bits & !known));
        }
        Ok(Roles(bits))
    }
}

impl std::fmt::Debug for Roles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Roles {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_seq(self.iter())
        } else {
            s.serialize_u32(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Roles {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Roles, D::Error> {
        if d.is_human_readable() {
            let list = Vec::<Role>::deserialize(d)?;
            let roles = Roles::from_roles(&list);
            if roles.iter().count() != list.len() {
                return Err(serde::de::Error::custom("a role is listed more than once"));
            }
            Ok(roles)
        } else {
            Roles::from_bits(u32::deserialize(d)?).map_err(serde::de::Error::custom)
        }
    }
}

/// Registers a submitter key for a member, with the roles it may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitterKeyRegister {
    pub member: CountryCode,
    pub key: PublicKey,
    pub roles: Roles,
    /// Who holds the key, e.g. "Plant Protection Service, import desk".
    pub label: Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitterKeyRevoke {
    pub member: CountryCode,
    pub key: PublicKey,
    pub reason: Text,
}

/// A member as the validator set and the network know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberInfo {
    pub id: CountryCode,
    pub name: Text,
    /// Signs votes and proposals.
    pub validator_key: PublicKey,
    /// The libp2p identity (ed25519) of the member's node; JSON shows it as the libp2p peer id.
    pub peer_id: crate::peer::PeerKey,
    /// libp2p multiaddrs where the member's node listens, e.g. `/ip4/203.0.113.7/tcp/26656`.
    pub addresses: Vec<Text>,
}

impl MemberInfo {
    pub fn check_shape(&self) -> Result<(), ShapeError> {
        self.validator_key
            .validate()
            .map_err(|e| field("validator_key", e.to_string()))?;
        self.peer_id
            .key()
            .validate()
            .map_err(|e| field("peer_id", e.to_string()))?;
        if self.addresses.len() > MAX_ADDRESSES {
            return Err(field(
                "addresses",
                format!("at most {MAX_ADDRESSES} addresses"),
            ));
        }
        if let Some(bad) = self.addresses.iter().find(|a| !a.as_str().starts_with('/')) {
            return Err(field(
                "addresses",
                format!("{bad} is not a multiaddr (must start with /)"),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = self.addresses.iter().find(|a| !seen.insert(*a)) {
            return Err(field("addresses", format!("{dup} is listed twice")));
        }
        if self.validator_key == self.peer_id.key() {
            return Err(field(
                "peer_id",
                "the network key must not be the validator key",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MembershipChange {
    Admit(Admission),
    Remove {
        member: CountryCode,
    },
    RotateValidatorKey {
        member: CountryCode,
        new_key: PublicKey,
    },
    RotateNetworkKey {
        member: CountryCode,
        new_peer_id: crate::peer::PeerKey,
    },
}

/// A new member: how the validator set and the network will know it, and its first submitter key, registered
/// with the `key_admin` and `membership` roles when the admission is adopted (usable from the height it takes
/// effect), so that the new member can register its other keys itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admission {
    pub member: MemberInfo,
    pub submitter_key: PublicKey,
}

/// Proposes a membership change. It takes effect once a quorum of the current members has approved it
/// (the proposer's own proposal counts as its approval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipPropose {
    pub proposer: CountryCode,
    pub change: MembershipChange,
    pub reason: Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipApprove {
    pub proposal: RecordId,
    pub member: CountryCode,
}

impl Record {
    /// The stable kind name, as used in JSON, the API and event filters.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::CertificateIssue(_) => "certificate_issue",
            Record::CertificateAmend(_) => "certificate_amend",
            Record::CertificateRevoke(_) => "certificate_revoke",
            Record::ClearanceDecision(_) => "clearance_decision",
            Record::AeoStatus(_) => "aeo_status",
            Record::MraPropose(_) => "mra_propose",
            Record::MraAccept(_) => "mra_accept",
            Record::MraWithdraw(_) => "mra_withdraw",
            Record::SubmitterKeyRegister(_) => "submitter_key_register",
            Record::SubmitterKeyRevoke(_) => "submitter_key_revoke",
            Record::MembershipPropose(_) => "membership_propose",
            Record::MembershipApprove(_) => "membership_approve",
            Record::Evidence(_) => "evidence",
        }
    }

    /// The role a submitter key needs to write this record; `None` for evidence, which no submitter key writes:
    /// a member's node signs it with the member's validator key.
    pub fn required_role(&self) -> Option<Role> {
        Some(match self {
            Record::CertificateIssue(_)
            | Record::CertificateAmend(_)
            | Record::CertificateRevoke(_) => Role::Certificates,
            Record::ClearanceDecision(_) => Role::Clearance,
            Record::AeoStatus(_) => Role::Aeo,
            Record::MraPropose(_) | Record::MraAccept(_) | Record::MraWithdraw(_) => Role::Mra,
            Record::SubmitterKeyRegister(_) | Record::SubmitterKeyRevoke(_) => Role::KeyAdmin,
            Record::MembershipPropose(_) | Record::MembershipApprove(_) => Role::Membership,
            Record::Evidence(_) => return None,
        })
    }

    /// The member on whose behalf this record is written: the submitter key must belong to it.
    pub fn acting_member(&self) -> CountryCode {
        match self {
            Record::CertificateIssue(r) => r.certificate.issuer.clone(),
            Record::CertificateAmend(r) => r.replaces.issuer.clone(),
            Record::CertificateRevoke(r) => r.certificate.issuer.clone(),
            Record::ClearanceDecision(r) => r.office.country(),
            Record::AeoStatus(r) => r.programme.clone(),
            Record::MraPropose(r) => r.proposer.clone(),
            Record::MraAccept(r) => r.acceptor.clone(),
            Record::MraWithdraw(r) => r.member.clone(),
            Record::SubmitterKeyRegister(r) => r.member.clone(),
            Record::SubmitterKeyRevoke(r) => r.member.clone(),
            Record::MembershipPropose(r) => r.proposer.clone(),
            Record::MembershipApprove(r) => r.member.clone(),
            Record::Evidence(r) => r.reporter.clone(),
        }
    }
}
