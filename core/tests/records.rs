//! Records and transactions: JSON and binary forms, shape rules, signing and verification.

mod common;

use clearance_core::Hash32;
use clearance_core::encoding::{self, limit};
use clearance_core::record::*;
use clearance_core::tx::{SignedTx, TxBody, TxError};
use common::*;

#[test]
fn every_kind_round_trips_through_json_and_binary() {
    let records = every_record();
    let mut kinds = std::collections::BTreeSet::new();
    for record in &records {
        record
            .check_shape()
            .unwrap_or_else(|e| panic!("{}: {e}", record.kind()));
        assert!(kinds.insert(record.kind()));

        let json = serde_json::to_string(record).unwrap();
        assert!(
            json.starts_with(&format!("{{\"{}\":", record.kind())),
            "{json}"
        );
        let back: Record = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, record);

        let bytes = encoding::encode(record);
        let back: Record = encoding::decode(&bytes, limit::TX_BODY, "record").unwrap();
        assert_eq!(&back, record);
        // The JSON form is never the canonical form.
        assert_ne!(json.as_bytes(), bytes.as_slice());
    }
    assert_eq!(kinds.len(), 12);
}

#[test]
fn enum_tags_follow_declaration_order() {
    for (i, record) in every_record().iter().enumerate() {
        let bytes = encoding::encode(record);
        assert_eq!(&bytes[..4], &(i as u32).to_le_bytes(), "{}", record.kind());
    }
    let mut bytes = encoding::encode(&every_record()[0]);
    bytes[..4].copy_from_slice(&12u32.to_le_bytes());
    let err = encoding::decode::<Record>(&bytes, limit::TX_BODY, "record").unwrap_err();
    assert!(err.to_string().contains("record"), "{err}");
}

#[test]
fn json_rejects_unknown_fields_wrong_types_and_bad_identifiers() {
    let good = serde_json::to_value(&every_record()[4]).unwrap();

    let mut unknown = good.clone();
    unknown["aeo_status"]["colour"] = "red".into();
    let err = serde_json::from_value::<Record>(unknown)
        .unwrap_err()
        .to_string();
    assert!(err.contains("colour"), "{err}");

    let mut wrong_type = good.clone();
    wrong_type["aeo_status"]["effective_on"] = 20261124.into();
    assert!(serde_json::from_value::<Record>(wrong_type).is_err());

    let mut bad_id = good.clone();
    bad_id["aeo_status"]["operator"] = "XX123".into();
    let err = serde_json::from_value::<Record>(bad_id)
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid operator_id"), "{err}");

    let mut bad_transition = good;
    bad_transition["aeo_status"]["transition"] = "paused".into();
    assert!(serde_json::from_value::<Record>(bad_transition).is_err());
}

#[test]
fn shape_rules() {
    let mut records = every_record();
    let Record::ClearanceDecision(d) = &mut records[3] else {
        panic!()
    };
    d.declaration.mrn = None;
    d.declaration.ucr = None;
    assert!(
        records[3]
            .check_shape()
            .unwrap_err()
            .to_string()
            .contains("declaration")
    );

    let Record::CertificateIssue(c) = &mut records[0] else {
        panic!()
    };
    c.certificate
        .hs_codes
        .push(c.certificate.hs_codes[0].clone());
    assert!(
        records[0]
            .check_shape()
            .unwrap_err()
            .to_string()
            .contains("twice")
    );

    let Record::ClearanceDecision(d) = &mut records[3] else {
        panic!()
    };
    d.declaration.mrn = Some(mrn());
    d.linked_certificates.push(d.linked_certificates[0].clone());
    assert!(
        records[3]
            .check_shape()
            .unwrap_err()
            .to_string()
            .contains("twice")
    );

    let Record::MembershipPropose(m) = &mut records[10] else {
        panic!()
    };
    let MembershipChange::Admit(admission) = &mut m.change else {
        panic!()
    };
    let valid = admission.clone();
    admission.member.peer_id =
        clearance_core::peer::PeerKey::from_key(admission.member.validator_key);
    assert!(
        records[10]
            .check_shape()
            .unwrap_err()
            .to_string()
            .contains("network key")
    );
    let Record::MembershipPropose(m) = &mut records[10] else {
        panic!()
    };
    m.change = MembershipChange::Admit(Admission {
        submitter_key: valid.member.validator_key,
        ..valid
    });
    assert!(
        records[10]
            .check_shape()
            .unwrap_err()
            .to_string()
            .contains("submitter_key")
    );

    let Record::AeoStatus(a) = &mut records[4] else {
        panic!()
    };
    a.reason_code = None;
    assert!(
        records[4]
            .check_shape()
            .unwrap_err()
            .to_string()
            .contains("reason_code")
    );

    let Record::MraPropose(m) = &mut records[5] else {
        panic!()
    };
    m.partner = m.proposer.clone();
    assert!(records[5].check_shape().is_err());

    let Record::SubmitterKeyRegister(k) = &mut records[8] else {
        panic!()
    };
    let mut weak = [0u8; 32];
    weak[0] = 1;
    k.key = clearance_core::PublicKey(weak);
    assert!(
        records[8]
            .check_shape()
            .unwrap_err()
            .to_string()
            .contains("weak")
    );
}

#[test]
fn roles_binary_rejects_unknown_bits() {
    let roles = Roles::from_roles(&[Role::Aeo, Role::KeyAdmin]);
    let bytes = encoding::encode(&roles);
    assert_eq!(bytes, (roles.bits()).to_le_bytes());
    assert!(encoding::decode::<Roles>(&(1u32 << 20).to_le_bytes(), 4, "roles").is_err());
    assert_eq!(
        serde_json::to_string(&roles).unwrap(),
        r#"["aeo","key_admin"]"#
    );
    assert!(serde_json::from_str::<Roles>(r#"["aeo","aeo"]"#).is_err());
}

fn body(record: Record, chain_id: Hash32) -> TxBody {
    TxBody {
        chain_id,
        submitter: key(60).public_key(),
        sequence: 1,
        record,
    }
}

#[test]
fn transactions_sign_and_verify_over_exact_bytes() {
    let chain = Hash32::sha256(b"chain");
    for record in every_record() {
        let tx = SignedTx::sign(&body(record.clone(), chain), &key(60));
        let verified = tx.verify(&chain).unwrap();
        assert_eq!(verified.body.record, record);
        assert_eq!(verified.id, tx.id());
        let back = SignedTx::from_bytes(&tx.to_bytes()).unwrap();
        assert_eq!(back, tx);
        let json: SignedTx = serde_json::from_str(&serde_json::to_string(&tx).unwrap()).unwrap();
        assert_eq!(json, tx);
    }
}

#[test]
fn transaction_rejections_carry_codes() {
    let chain = Hash32::sha256(b"chain");
    let tx = SignedTx::sign(&body(every_record()[0].clone(), chain), &key(60));

    let err = tx.verify(&Hash32::sha256(b"other")).unwrap_err();
    assert_eq!(err.code(), "TX_WRONG_CHAIN");

    let mut tampered = tx.clone();
    let last = tampered.body.0.len() - 1;
    tampered.body.0[last] ^= 1;
    assert!(tampered.verify(&chain).is_err());

    let mut resigned = tx.clone();
    resigned.signature = key(61).sign(clearance_core::hash::tag::TX, tx.body.as_slice());
    assert_eq!(
        resigned.verify(&chain).unwrap_err().code(),
        "TX_BAD_SIGNATURE"
    );

    let mut trailing = tx.clone();
    trailing.body.0.push(0);
    assert_eq!(trailing.verify(&chain).unwrap_err().code(), "TX_MALFORMED");

    let mut zero = body(every_record()[0].clone(), chain);
    zero.sequence = 0;
    let err = SignedTx::sign(&zero, &key(60)).verify(&chain).unwrap_err();
    assert!(matches!(err, TxError::ZeroSequence));

    let mut bad_shape = every_record();
    let Record::MraPropose(m) = &mut bad_shape[5] else {
        panic!()
    };
    m.partner = m.proposer.clone();
    let tx = SignedTx::sign(&body(bad_shape[5].clone(), chain), &key(60));
    assert_eq!(tx.verify(&chain).unwrap_err().code(), "TX_INVALID_RECORD");

    let mut bytes = tx.to_bytes();
    bytes.push(7);
    assert!(SignedTx::from_bytes(&bytes).is_err());
}
