//! The ledger's state rules: every lifecycle, every refusal code, against an in-memory state.

mod common;

use clearance_core::Hash32;
use clearance_core::ids::*;
use clearance_core::record::*;
use clearance_core::rules::{self, RuleError};
use clearance_core::time::{Date, Timestamp};
use clearance_core::tx::TxBody;
use common::ledger::Ledger;
use common::*;

fn cref(issuer: &str, number: &str) -> CertificateRef {
    CertificateRef {
        issuer: cc(issuer),
        number: CertificateNumber::parse(number).unwrap(),
    }
}

fn issue(number: &str) -> Record {
    Record::CertificateIssue(CertificateIssue {
        certificate: certificate_body(number),
    })
}

fn amend(replaces: &str, number: &str) -> Record {
    Record::CertificateAmend(CertificateAmend {
        replaces: cref("KZ", replaces),
        certificate: certificate_body(number),
        reason: Text::parse("corrected").unwrap(),
    })
}

fn revoke(number: &str) -> Record {
    Record::CertificateRevoke(CertificateRevoke {
        certificate: cref("KZ", number),
        effective_on: Date::parse("2026-11-25").unwrap(),
        reason_code: ReasonCode::parse("ISSUED_IN_ERROR").unwrap(),
        reason: Text::parse("withdrawn").unwrap(),
    })
}

fn status(l: &Ledger, number: &str) -> &'static str {
    rules::certificate(l, &cref("KZ", number))
        .map(|c| c.status.name())
        .unwrap_or("absent")
}

#[test]
fn certificates_are_issued_amended_replaced_and_revoked_by_their_issuer_only() {
    let mut l = Ledger::new();
    assert_eq!(l.code("KZ", issue("KZ-1")), "OK");
    assert_eq!(l.code("KZ", issue("KZ-1")), "CERT_EXISTS");
    // Another member cannot touch it: the acting member is the issuer.
    assert_eq!(l.code("DE", revoke("KZ-1")), "SUBMITTER_WRONG_MEMBER");
    // Amended in place keeps the number.
    assert_eq!(l.code("KZ", amend("KZ-1", "KZ-1")), "OK");
    assert_eq!(status(&l, "KZ-1"), "valid");
    // Replaced by a new number.
    assert_eq!(l.code("KZ", issue("KZ-2")), "OK");
    assert_eq!(l.code("KZ", amend("KZ-1", "KZ-2")), "CERT_EXISTS");
    assert_eq!(l.code("KZ", amend("KZ-1", "KZ-1-A")), "OK");
    assert_eq!(status(&l, "KZ-1"), "replaced");
    assert_eq!(status(&l, "KZ-1-A"), "valid");
    assert_eq!(l.code("KZ", revoke("KZ-1")), "CERT_REPLACED");
    assert_eq!(l.code("KZ", amend("KZ-1", "KZ-1-B")), "CERT_REPLACED");
    // Revoked is final.
    assert_eq!(l.code("KZ", revoke("KZ-1-A")), "OK");
    assert_eq!(status(&l, "KZ-1-A"), "revoked");
    assert_eq!(l.code("KZ", revoke("KZ-1-A")), "CERT_REVOKED");
    assert_eq!(l.code("KZ", amend("KZ-1-A", "KZ-1-C")), "CERT_REVOKED");
    assert_eq!(l.code("KZ", revoke("KZ-404")), "CERT_NOT_FOUND");
    assert_eq!(l.code("KZ", amend("KZ-404", "KZ-405")), "CERT_NOT_FOUND");
}

fn decision(office: &str, d: Decision, supersedes: Option<Hash32>, mrn_body: &str) -> Record {
    let check = iso6346_check_digit(mrn_body).unwrap();
    Record::ClearanceDecision(ClearanceDecision {
        declaration: DeclarationRef {
            mrn: Some(Mrn::parse(&format!("{mrn_body}{check}")).unwrap()),
            ucr: None,
        },
        office: CustomsOffice::parse(office).unwrap(),
        procedure: Procedure::Import,
        decision: d,
        decided_at: Timestamp::parse("2026-11-24T10:00:00Z").unwrap(),
        linked_certificates: vec![],
        supersedes,
        reason_code: None,
    })
}

#[test]
fn decisions_form_supersede_chains_within_one_declaration_and_member() {
    const A: &str = "26KZ0000000000042";
    const B: &str = "26KZ0000000000043";
    let mut l = Ledger::new();
    // Only the member that owns the office.
    assert_eq!(
        l.code("DE", decision("KZ551010", Decision::Hold, None, A)),
        "SUBMITTER_WRONG_MEMBER"
    );
    let hold = l
        .submit("KZ", decision("KZ551010", Decision::Hold, None, A))
        .unwrap();
    let release = l
        .submit(
            "KZ",
            decision("KZ551010", Decision::Released, Some(hold), A),
        )
        .unwrap();
    assert_eq!(
        rules::decision(&l, &hold).unwrap().superseded_by,
        Some(release)
    );
    assert_eq!(
        l.code(
            "KZ",
            decision("KZ551010", Decision::Rejected, Some(hold), A)
        ),
        "DECISION_SUPERSEDED"
    );
    assert_eq!(
        l.code(
            "KZ",
            decision("KZ551010", Decision::Rejected, Some(release), B)
        ),
        "DECISION_OTHER_DECLARATION"
    );
    assert_eq!(
        l.code(
            "KZ",
            decision("KZ551010", Decision::Rejected, Some(Hash32([99; 32])), A)
        ),
        "DECISION_NOT_FOUND"
    );
    let de = l
        .submit("DE", decision("DE004711", Decision::Hold, None, A))
        .unwrap();
    assert_eq!(
        l.code("KZ", decision("KZ551010", Decision::Released, Some(de), A)),
        "DECISION_OTHER_MEMBER"
    );
    let cancel = l
        .submit(
            "KZ",
            decision("KZ551010", Decision::Cancelled, Some(release), A),
        )
        .unwrap();
    assert_eq!(
        l.code(
            "KZ",
            decision("KZ551010", Decision::Released, Some(cancel), A)
        ),
        "DECISION_CANCELLED"
    );
}

fn aeo(t: AeoTransition) -> Record {
    Record::AeoStatus(AeoStatus {
        operator: OperatorId::parse("DE9876543210").unwrap(),
        programme: cc("DE"),
        aeo_type: AeoType::Both,
        transition: t,
        effective_on: Date::parse("2026-11-24").unwrap(),
        reason_code: match t {
            AeoTransition::Granted | AeoTransition::Reinstated => None,
            _ => Some(ReasonCode::parse("NON_COMPLIANCE").unwrap()),
        },
    })
}

#[test]
fn aeo_status_follows_its_lifecycle_and_only_the_programme_member_writes_it() {
    use AeoTransition::*;
    let mut l = Ledger::new();
    assert_eq!(l.code("DE", aeo(Suspended)), "AEO_NOT_FOUND");
    assert_eq!(l.code("KZ", aeo(Granted)), "SUBMITTER_WRONG_MEMBER");
    assert_eq!(l.code("DE", aeo(Granted)), "OK");
    assert_eq!(l.code("DE", aeo(Granted)), "AEO_BAD_TRANSITION");
    assert_eq!(l.code("DE", aeo(Reinstated)), "AEO_BAD_TRANSITION");
    assert_eq!(l.code("DE", aeo(Suspended)), "OK");
    assert_eq!(l.code("DE", aeo(Suspended)), "AEO_BAD_TRANSITION");
    assert_eq!(l.code("DE", aeo(Reinstated)), "OK");
    assert_eq!(l.code("DE", aeo(Expired)), "OK");
    // An expired authorisation may be granted again.
    assert_eq!(l.code("DE", aeo(Granted)), "OK");
    assert_eq!(l.code("DE", aeo(Revoked)), "OK");
    // Revoked is terminal: no suspending a revoked operator.
    for t in [Granted, Suspended, Reinstated, Revoked, Annulled, Expired] {
        assert_eq!(l.code("DE", aeo(t)), "AEO_BAD_TRANSITION", "{t:?}");
    }
    let err = {
        let mut l2 = Ledger::new();
        l2.submit("DE", aeo(Granted)).unwrap();
        l2.submit("DE", aeo(Annulled)).unwrap();
        l2.submit("DE", aeo(Suspended)).unwrap_err()
    };
    assert_eq!(
        err.to_string(),
        "operator DE9876543210 is annulled in programme DE; it cannot be suspended"
    );
}

#[test]
fn mutual_recognition_needs_both_sides_and_either_may_withdraw() {
    let mut l = Ledger::new();
    let propose = Record::MraPropose(MraPropose {
        proposer: cc("KZ"),
        partner: cc("CN"),
        covers: AeoType::Both,
        effective_on: Date::parse("2027-01-01").unwrap(),
    });
    let id = l.submit("KZ", propose).unwrap();
    assert_eq!(rules::mra(&l, &id).unwrap().status.name(), "proposed");
    let accept = |by: &str| {
        Record::MraAccept(MraAccept {
            proposal: id,
            acceptor: cc(by),
        })
    };
    let withdraw = |by: &str| {
        Record::MraWithdraw(MraWithdraw {
            proposal: id,
            member: cc(by),
            reason: Text::parse("review").unwrap(),
        })
    };
    assert_eq!(l.code("DE", accept("DE")), "MRA_NOT_PARTNER");
    assert_eq!(l.code("CN", accept("CN")), "OK");
    assert_eq!(rules::mra(&l, &id).unwrap().status.name(), "active");
    assert_eq!(l.code("CN", accept("CN")), "MRA_NOT_PENDING");
    assert_eq!(l.code("DE", withdraw("DE")), "MRA_NOT_PARTY");
    assert_eq!(l.code("CN", withdraw("CN")), "OK");
    assert_eq!(l.code("KZ", withdraw("KZ")), "MRA_WITHDRAWN");
    let unknown = Record::MraAccept(MraAccept {
        proposal: Hash32([77; 32]),
        acceptor: cc("CN"),
    });
    assert_eq!(l.code("CN", unknown), "MRA_NOT_FOUND");
}

#[test]
fn submitter_keys_are_registered_revoked_and_checked() {
    let mut l = Ledger::new();
    let agency = key(40);
    let register = Record::SubmitterKeyRegister(SubmitterKeyRegister {
        member: cc("KZ"),
        key: agency.public_key(),
        roles: Roles::from_roles(&[Role::Aeo]),
        label: Text::parse("AEO desk").unwrap(),
    });
    assert_eq!(l.code("DE", register.clone()), "SUBMITTER_WRONG_MEMBER");
    assert_eq!(l.code("KZ", register.clone()), "OK");
    assert_eq!(l.code("KZ", register), "KEY_EXISTS");
    // The new key may write AEO records of KZ, not certificates.
    l.keys.insert("KZ-agency".into(), agency.clone());
    let body = |record, sequence| TxBody {
        chain_id: Hash32([1; 32]),
        submitter: agency.public_key(),
        sequence,
        record,
    };
    let err = rules::apply(&l, &l.ctx, &Hash32([50; 32]), &body(issue("KZ-9"), 1))
        .unwrap_err()
        .error;
    assert_eq!(err.code(), "SUBMITTER_MISSING_ROLE");
    let err = rules::apply(&l, &l.ctx, &Hash32([50; 32]), &body(issue("KZ-9"), 2))
        .unwrap_err()
        .error;
    assert_eq!(
        err.code(),
        "SUBMITTER_MISSING_ROLE",
        "roles are checked before sequences"
    );
    let revoke = Record::SubmitterKeyRevoke(SubmitterKeyRevoke {
        member: cc("KZ"),
        key: agency.public_key(),
        reason: Text::parse("rotated").unwrap(),
    });
    assert_eq!(l.code("DE", revoke.clone()), "SUBMITTER_WRONG_MEMBER");
    assert_eq!(l.code("KZ", revoke.clone()), "OK");
    assert_eq!(l.code("KZ", revoke), "KEY_NOT_ACTIVE");
    let grant = Record::AeoStatus(AeoStatus {
        operator: OperatorId::parse("KZ123456789012").unwrap(),
        programme: cc("KZ"),
        aeo_type: AeoType::Aeoc,
        transition: AeoTransition::Granted,
        effective_on: Date::parse("2026-11-24").unwrap(),
        reason_code: None,
    });
    let err = rules::apply(&l, &l.ctx, &Hash32([51; 32]), &body(grant, 1))
        .unwrap_err()
        .error;
    assert_eq!(err.code(), "SUBMITTER_REVOKED");
    let unknown = TxBody {
        submitter: key(41).public_key(),
        ..body(issue("KZ-9"), 1)
    };
    assert_eq!(
        rules::apply(&l, &l.ctx, &Hash32([52; 32]), &unknown)
            .unwrap_err()
            .error
            .code(),
        "SUBMITTER_UNKNOWN"
    );
}

#[test]
fn sequence_numbers_must_follow_on_and_a_refused_record_uses_its_number() {
    let mut l = Ledger::new();
    assert_eq!(l.code("KZ", issue("KZ-1")), "OK");
    let key = l.keys["KZ"].public_key();
    let body = TxBody {
        chain_id: Hash32([1; 32]),
        submitter: key,
        sequence: 3,
        record: issue("KZ-2"),
    };
    let refused = rules::apply(&l, &l.ctx, &Hash32([60; 32]), &body).unwrap_err();
    assert_eq!(
        refused.error,
        RuleError::BadSequence {
            expected: 2,
            got: 3
        }
    );
    assert!(
        refused.changes.is_empty(),
        "a submitter refusal writes nothing"
    );
    // A refused record still uses its sequence number, so the key's next transaction stays valid.
    assert_eq!(l.code("KZ", issue("KZ-1")), "CERT_EXISTS");
    assert_eq!(rules::last_sequence(&l, &key), 2);
    assert_eq!(l.code("KZ", issue("KZ-2")), "OK");
    assert_eq!(rules::last_sequence(&l, &key), 3);
}
