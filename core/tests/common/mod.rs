//! Sample values of every protocol type, shared by the core integration tests.
#![allow(dead_code)]

pub mod ledger;
pub mod status_ledger;

use clearance_core::Hash32;
use clearance_core::audit::CertifiedHeader;
use clearance_core::block::{Header, HeaderView};
use clearance_core::bytes::Bytes;
use clearance_core::crypto::SecretKey;
use clearance_core::genesis::{ConsensusParams, Genesis, GenesisSubmitter};
use clearance_core::ids::*;
use clearance_core::merkle;
use clearance_core::peer::PeerKey;
use clearance_core::record::*;
use clearance_core::state_tree::{Node, NodeSource, Position};
use clearance_core::time::{Date, Timestamp};
use clearance_core::vote::{CommitCertificate, SignedVote, Vote, VoteKind};

pub fn key(n: u8) -> SecretKey {
    SecretKey::from_seed([n; 32])
}

fn t(s: &str) -> Text {
    Text::parse(s).unwrap()
}

pub fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}

pub fn mrn() -> Mrn {
    let body = "26KZ0000000000042";
    let check = iso6346_check_digit(body).unwrap();
    Mrn::parse(&format!("{body}{check}")).unwrap()
}

pub fn certificate_body(number: &str) -> CertificateBody {
    CertificateBody {
        cert_type: CertificateType::Phytosanitary,
        number: CertificateNumber::parse(number).unwrap(),
        issuer: cc("KZ"),
        authority: t("Committee of State Inspection in the Agro-Industrial Complex"),
        issued_on: Date::parse("2026-11-20").unwrap(),
        valid_until: Some(Date::parse("2027-02-20").unwrap()),
        exporter: Some(OperatorId::parse("KZ123456789012").unwrap()),
        importer: Some(OperatorId::parse("DE9876543210").unwrap()),
        origin_country: cc("KZ"),
        destination_country: cc("DE"),
        hs_codes: vec![
            HsCode::parse("100199").unwrap(),
            HsCode::parse("10019900").unwrap(),
        ],
        document_sha256: Hash32::sha256(b"ePhyto KZ-PC-2026-000123"),
    }
}

/// One record of every kind, in `Record` declaration order.
pub fn every_record() -> Vec<Record> {
    let cert_ref = CertificateRef {
        issuer: cc("KZ"),
        number: CertificateNumber::parse("KZ-PC-2026-000123").unwrap(),
    };
    let proposal_id = Hash32::sha256(b"mra proposal");
    vec![
        Record::CertificateIssue(CertificateIssue {
            certificate: certificate_body("KZ-PC-2026-000123"),
        }),
        Record::CertificateAmend(CertificateAmend {
            replaces: cert_ref.clone(),
            certificate: certificate_body("KZ-PC-2026-000123-A1"),
            reason: t("Quantity corrected after re-weighing"),
        }),
        Record::CertificateRevoke(CertificateRevoke {
            certificate: cert_ref.clone(),
            effective_on: Date::parse("2026-11-25").unwrap(),
            reason_code: ReasonCode::parse("ISSUED_IN_ERROR").unwrap(),
            reason: t("Consignment withdrawn by the exporter"),
        }),
        Record::ClearanceDecision(ClearanceDecision {
            declaration: DeclarationRef {
                mrn: Some(mrn()),
                ucr: Some(Ucr::parse("6KZ123456789-2026-0001").unwrap()),
            },
            office: CustomsOffice::parse("KZ551010").unwrap(),
            procedure: Procedure::Export,
            decision: Decision::Released,
            decided_at: Timestamp::parse("2026-11-24T10:15:00Z").unwrap(),
            linked_certificates: vec![cert_ref],
            supersedes: Some(Hash32::sha256(b"earlier hold")),
            reason_code: None,
        }),
        Record::AeoStatus(AeoStatus {
            operator: OperatorId::parse("DE9876543210").unwrap(),
            programme: cc("DE"),
            aeo_type: AeoType::Both,
            transition: AeoTransition::Suspended,
            effective_on: Date::parse("2026-11-24").unwrap(),
            reason_code: Some(ReasonCode::parse("NON_COMPLIANCE").unwrap()),
        }),
        Record::MraPropose(MraPropose {
            proposer: cc("KZ"),
            partner: cc("CN"),
            covers: AeoType::Both,
            effective_on: Date::parse("2027-01-01").unwrap(),
        }),
        Record::MraAccept(MraAccept {
            proposal: proposal_id,
            acceptor: cc("CN"),
        }),
        Record::MraWithdraw(MraWithdraw {
            proposal: proposal_id,
            member: cc("KZ"),
            reason: t("Programme under review"),
        }),
        Record::SubmitterKeyRegister(SubmitterKeyRegister {
            member: cc("KZ"),
            key: key(40).public_key(),
            roles: Roles::from_roles(&[Role::Certificates, Role::Aeo]),
            label: t("Plant Protection Service, export desk"),
        }),
        Record::SubmitterKeyRevoke(SubmitterKeyRevoke {
            member: cc("KZ"),
            key: key(40).public_key(),
            reason: t("Key rotated"),
        }),
        Record::MembershipPropose(MembershipPropose {
            proposer: cc("KZ"),
            change: MembershipChange::Admit(Admission {
                member: member("UZ", 50),
                submitter_key: key(51).public_key(),
            }),
            reason: t("Uzbekistan joins the CAREC pilot"),
        }),
        Record::MembershipApprove(MembershipApprove {
            proposal: Hash32::sha256(b"membership proposal"),
            member: cc("DE"),
        }),
    ]
}

pub fn member(id: &str, seed: u8) -> MemberInfo {
    MemberInfo {
        id: cc(id),
        name: t(&format!("Customs of {id}")),
        validator_key: key(seed).public_key(),
        peer_id: PeerKey::from_key(key(seed + 100).public_key()),
        addresses: vec![t(&format!(
            "/ip4/127.0.0.1/tcp/{}",
            26600 + u16::from(seed)
        ))],
    }
}

pub const MEMBER_IDS: [&str; 10] = ["KZ", "DE", "CN", "UZ", "FR", "JP", "KG", "TJ", "MN", "AZ"];

/// A valid genesis of `n` members; member i's validator key is `key(i + 1)`, its agency key `key(i + 60)`.
pub fn genesis(n: usize) -> Genesis {
    let members: Vec<MemberInfo> = MEMBER_IDS[..n]
        .iter()
        .enumerate()
        .map(|(i, id)| member(id, i as u8 + 1))
        .collect();
    let submitters = MEMBER_IDS[..n]
        .iter()
        .enumerate()
        .map(|(i, id)| GenesisSubmitter {
            member: cc(id),
            key: key(i as u8 + 60).public_key(),
            roles: Roles::from_roles(&Role::ALL),
            label: t("Sample agency"),
        })
        .collect();
    Genesis {
        chain_name: ChainName::parse("test-chain").unwrap(),
        genesis_time: Timestamp::parse("2026-11-24T00:00:00Z").unwrap(),
        params: ConsensusParams::default(),
        members,
        submitters,
    }
}

/// A header certified by the precommits of every member of `genesis(n)` (member i signs with `key(i + 1)`).
pub fn certified(g: &Genesis, header: Header) -> (CertifiedHeader, HeaderView, CommitCertificate) {
    let view = HeaderView::from_header(header);
    let precommits = (0..g.members.len())
        .map(|i| {
            let vote = Vote {
                chain_id: g.chain_id(),
                height: view.header.height,
                round: 0,
                kind: VoteKind::Precommit,
                block: Some(view.hash),
                validator: cc(MEMBER_IDS[i]),
            };
            SignedVote::sign(&vote, &key(i as u8 + 1))
        })
        .collect();
    let cert = CommitCertificate {
        height: view.header.height,
        round: 0,
        block_hash: view.hash,
        precommits,
    };
    (
        CertifiedHeader {
            header: view.bytes.clone(),
            certificate: Bytes(cert.to_bytes()),
        },
        view,
        cert,
    )
}

pub fn header(g: &Genesis, height: u64, txs: (u64, Hash32), log: (u64, Hash32)) -> Header {
    let set = g.validator_set().expect("set");
    Header {
        chain_id: g.chain_id(),
        height,
        time: Timestamp::parse("2026-11-25T10:00:00Z").expect("time"),
        parent_hash: Hash32::sha256(&height.to_be_bytes()),
        proposer: cc("KZ"),
        tx_count: txs.0 as u32,
        tx_root: txs.1,
        results_root: merkle::empty_root(),
        log_size: log.0,
        log_root: log.1,
        validator_set_hash: set.hash(),
        next_validator_set_hash: set.hash(),
        state_root: Hash32::sha256(b"state"),
    }
}

/// A state tree held in memory.
#[derive(Default)]
pub struct MemoryTree(pub std::collections::BTreeMap<Position, Node>);

impl NodeSource for MemoryTree {
    type Error = std::convert::Infallible;
    fn node(&self, at: &Position) -> Result<Option<Node>, Self::Error> {
        Ok(self.0.get(at).copied())
    }
}
