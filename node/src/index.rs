//! Secondary indexes over accepted records, written in the same batch as their block. Every key ends with the
//! record's log index (big-endian), so a prefix scan returns a key's records in commit order and a cursor is
//! simply the last log index seen. The value is always the record id (its transaction id).
//!
//! | prefix | key                                     | finds                                   |
//! |--------|-----------------------------------------|-----------------------------------------|
//! | `C`    | issuer ‖ number ‖ 0 ‖ log index          | a certificate's history (issue, amend, revoke, and the amendment that replaced it) |
//! | `A`    | operator ‖ 0 ‖ log index                | an operator's AEO history, all programmes |
//! | `N`    | MRN ‖ 0 ‖ log index                     | decisions on a declaration, by MRN      |
//! | `U`    | UCR ‖ 0 ‖ log index                     | decisions on a declaration, by UCR      |
//! | `M`    | member ‖ 0 ‖ log index                  | records written for a member            |
//! | `K`    | kind ‖ 0 ‖ log index                    | records of a kind                       |
//! | `R`    | member ‖ 0 ‖ log index                  | MRA proposals a member is party to      |
//! | `E`    | member ‖ 0 ‖ log index                  | evidence records against a member (the equivocating validator) |
//! | `D`    | document SHA-256 (hex) ‖ 0 ‖ log index  | certificate issues and amendments that commit to a document |

use clearance_core::Hash32;
use clearance_core::record::{CertificateRef, Record};

pub const CERTIFICATE: u8 = b'C';
pub const AEO: u8 = b'A';
pub const MRN: u8 = b'N';
pub const UCR: u8 = b'U';
pub const MEMBER: u8 = b'M';
pub const KIND: u8 = b'K';
pub const MRA: u8 = b'R';
pub const OFFENDER: u8 = b'E';
pub const DOCUMENT: u8 = b'D';

/// The prefix of every key of index `kind` for `value`: `kind ‖ value ‖ 0`.
pub fn prefix(kind: u8, value: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(value.len() + 2);
    k.push(kind);
    k.extend_from_slice(value.as_bytes());
    k.push(0);
    k
}

pub fn certificate_value(r: &CertificateRef) -> String {
    format!("{}{}", r.issuer, r.number)
}

fn key(kind: u8, value: &str, log_index: u64) -> Vec<u8> {
    let mut k = prefix(kind, value);
    k.extend_from_slice(&log_index.to_be_bytes());
    k
}

/// The log index a key ends with.
pub fn log_index_of(key: &[u8]) -> Option<u64> {
    let tail = key.len().checked_sub(8)?;
    Some(u64::from_be_bytes(key[tail..].try_into().ok()?))
}

/// The index entries of an accepted record.
pub fn entries(record: &Record, id: &Hash32, log_index: u64) -> Vec<(Vec<u8>, Hash32)> {
    let mut out = vec![
        (key(MEMBER, record.acting_member().as_str(), log_index), *id),
        (key(KIND, record.kind(), log_index), *id),
    ];
    let mut add = |kind, value: &str| out.push((key(kind, value, log_index), *id));
    match record {
        Record::CertificateIssue(r) => {
            add(CERTIFICATE, &certificate_value(&r.certificate.reference()));
            add(DOCUMENT, &r.certificate.document_sha256.to_hex());
        }
        Record::CertificateAmend(r) => {
            add(DOCUMENT, &r.certificate.document_sha256.to_hex());
            add(CERTIFICATE, &certificate_value(&r.replaces));
            let new = r.certificate.reference();
            if new != r.replaces {
                add(CERTIFICATE, &certificate_value(&new));
            }
        }
        Record::CertificateRevoke(r) => add(CERTIFICATE, &certificate_value(&r.certificate)),
        Record::ClearanceDecision(r) => {
            if let Some(mrn) = &r.declaration.mrn {
                add(MRN, mrn.as_str());
            }
            if let Some(ucr) = &r.declaration.ucr {
                add(UCR, ucr.as_str());
            }
        }
        Record::AeoStatus(r) => add(AEO, r.operator.as_str()),
        Record::MraPropose(r) => {
            add(MRA, r.proposer.as_str());
            add(MRA, r.partner.as_str());
        }
        // Accepted evidence names its validator in both messages, checked by the rules.
        Record::Evidence(r) => {
            if let Ok(offence) = r.equivocation.claimed() {
                add(OFFENDER, offence.validator.as_str());
            }
        }
        _ => {}
    }
    out
}
