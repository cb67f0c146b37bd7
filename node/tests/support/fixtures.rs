//! A genesis of up to seven members with one agency key per member, and certificate records: shared by the
//! seeded simulation of real nodes (`tests/sim/`) and the catch-up benchmark (`benches/catchup.rs`).

use clearance_core::Hash32;
use clearance_core::block::{Block, HeaderView};
use clearance_core::crypto::SecretKey;
use clearance_core::genesis::{ConsensusParams, Genesis, GenesisSubmitter};
use clearance_core::ids::*;
use clearance_core::peer::PeerKey;
use clearance_core::record::*;
use clearance_core::time::{Date, Timestamp};
use clearance_core::tx::{SignedTx, TxBody};
use clearance_core::vote::{CommitCertificate, SignedVote, Vote, VoteKind};

/// Sorted, as the validator set sorts members: validator `i` is member `MEMBERS[i]` with key `key(i + 1)`.
pub const MEMBERS: [&str; 7] = ["CN", "DE", "FR", "JP", "KG", "KZ", "UZ"];

pub fn key(n: u8) -> SecretKey {
    SecretKey::from_seed([n; 32])
}

/// Four members.
#[allow(dead_code)]
pub fn genesis() -> Genesis {
    genesis_of(4)
}

/// Member `MEMBERS[i]`: validator key `key(i + 1)`, network key `key(i + 100)`.
pub fn member_info(i: usize) -> MemberInfo {
    let id = MEMBERS[i];
    MemberInfo {
        id: CountryCode::parse(id).expect("id"),
        name: Text::parse(&format!("Customs of {id}")).expect("name"),
        validator_key: key(i as u8 + 1).public_key(),
        peer_id: PeerKey::from_key(key(i as u8 + 100).public_key()),
        addresses: vec![],
    }
}

/// The first `n` of [`MEMBERS`].
pub fn genesis_of(n: usize) -> Genesis {
    let members = (0..n).map(member_info).collect();
    let submitters = MEMBERS[..n]
        .iter()
        .enumerate()
        .map(|(i, id)| GenesisSubmitter {
            member: CountryCode::parse(id).expect("id"),
            key: key(i as u8 + 60).public_key(),
            roles: Roles::from_roles(&Role::ALL),
            label: Text::parse("agency").expect("label"),
        })
        .collect();
    Genesis {
        chain_name: ChainName::parse("in-process").expect("name"),
        genesis_time: Timestamp::parse("2026-11-24T00:00:00Z").expect("time"),
        params: ConsensusParams::default(),
        members,
        submitters,
    }
}

pub fn certificate_tx(chain_id: Hash32, member: usize, sequence: u64) -> SignedTx {
    let issuer = CountryCode::parse(MEMBERS[member]).expect("id");
    let record = Record::CertificateIssue(CertificateIssue {
        certificate: CertificateBody {
            cert_type: CertificateType::Origin,
            number: CertificateNumber::parse(&format!("{issuer}-CO-2026-{sequence:07}"))
                .expect("number"),
            issuer: issuer.clone(),
            authority: Text::parse("Chamber of Commerce and Industry").expect("text"),
            issued_on: Date::parse("2026-11-20").expect("date"),
            valid_until: Some(Date::parse("2027-11-20").expect("date")),
            exporter: Some(OperatorId::parse(&format!("{issuer}1234567890")).expect("operator")),
            importer: Some(OperatorId::parse("DE9876543210").expect("operator")),
            origin_country: issuer,
            destination_country: CountryCode::parse("DE").expect("country"),
            hs_codes: vec![
                HsCode::parse("520100").expect("hs"),
                HsCode::parse("100199").expect("hs"),
            ],
            document_sha256: Hash32::sha256(&sequence.to_be_bytes()),
        },
    });
    agency_tx(chain_id, member, sequence, record)
}

/// `record` signed by member `MEMBERS[member]`'s agency key, `key(member + 60)`, as its `sequence`th.
pub fn agency_tx(chain_id: Hash32, member: usize, sequence: u64, record: Record) -> SignedTx {
    let submitter = key(member as u8 + 60);
    SignedTx::sign(
        &TxBody {
            chain_id,
            submitter: submitter.public_key(),
            sequence,
            record,
        },
        &submitter,
    )
}

/// [`genesis_of`] with a second submitter key per member, `key(i + 80)`, holding only the `membership` role: the
/// simulator's membership changes use it, so that they never wait behind the agency's certificates.
#[allow(dead_code)]
pub fn genesis_with_admins(n: usize) -> Genesis {
    let mut g = genesis_of(n);
    for (i, id) in MEMBERS.iter().enumerate().take(n) {
        g.submitters.push(GenesisSubmitter {
            member: CountryCode::parse(id).expect("id"),
            key: key(i as u8 + 80).public_key(),
            roles: Roles::from_roles(&[Role::Membership]),
            label: Text::parse("ledger administrator").expect("label"),
        });
    }
    g
}

/// A commit certificate for `block`, signed by the first three validators (a quorum of four). The simulation,
/// which includes this file too, certifies through its nodes instead.
#[allow(dead_code)]
pub fn certify(chain_id: Hash32, block: &Block) -> CommitCertificate {
    let view = HeaderView::from_bytes(block.header.as_slice()).expect("header");
    let precommits = MEMBERS[..3]
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let vote = Vote {
                chain_id,
                height: view.header.height,
                round: 0,
                kind: VoteKind::Precommit,
                block: Some(view.hash),
                validator: CountryCode::parse(id).expect("id"),
            };
            SignedVote::sign(&vote, &key(i as u8 + 1))
        })
        .collect();
    CommitCertificate {
        height: view.header.height,
        round: 0,
        block_hash: view.hash,
        precommits,
    }
}
