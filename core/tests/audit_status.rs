//! The status section of proof bundles and standalone status proofs (`docs/audit.md` §3.5), on a small ledger
//! built here and certified by every member: the verdict says the status first; and a missing status, a proof for
//! another certificate, an absence proof for a recorded one, a tampered value, a status set by a record the
//! bundle leaves out, and a status older than a later revocation in the same bundle each fail at their step.

mod common;

use clearance_core::audit::{
    CertifiedHeader, RecognitionProof, RecordEntryProof, StateEntryProof, StatusSubject,
    verify_bundle, verify_status,
};
use clearance_core::bytes::Bytes;
use clearance_core::hash::Hash32;
use clearance_core::ids::OperatorId;
use clearance_core::record::AeoType;
use clearance_core::rules::{
    AeoStanding, AeoState, CertificateStatus, MraState, MraStatus, StateKey, StateValue,
};
use clearance_core::state_tree::{StateProof, Terminal};
use common::status_ledger::*;
use common::*;

#[test]
fn the_verdict_says_revoked_first() {
    let l = Ledger::new();
    let (root, entry) = state(&l.honest_entries(), &l.certificate_key());
    let verdict = verify_bundle(&l.g, &l.bundle(root, Some(entry)), None).unwrap();
    let status = verdict.status.expect("a status");
    assert_eq!(status.status, "revoked");
    assert!(!status.good);
    assert_eq!(status.record, Some(l.revoke.id()));
    assert_eq!(status.set_by.as_ref().map(|m| m.as_str()), Some("KZ"));
    assert!(
        status.headline.starts_with(
            "REVOKED on 2026-11-25 10:00 UTC by KZ, as of 2026-11-25 10:00 UTC (height 1, certified by "
        ),
        "{}",
        status.headline
    );
}

#[test]
fn a_missing_or_foreign_status_fails_at_its_step() {
    let l = Ledger::new();
    let entries = l.honest_entries();
    let (root, entry) = state(&entries, &l.certificate_key());

    assert_eq!(step_of(&l.g, &l.bundle(root, None)), "status");

    // The proof of another certificate, present in the same tree.
    let (_, other) = state(&entries, &entries[1].0);
    assert_eq!(step_of(&l.g, &l.bundle(root, Some(other))), "status.proof");

    // An absence proof for the recorded certificate, against the same root.
    let absent = StateEntryProof {
        value: None,
        proof: StateProof {
            siblings: entry.proof.siblings.clone(),
            terminal: Terminal::Empty,
        },
    };
    assert_eq!(step_of(&l.g, &l.bundle(root, Some(absent))), "status.proof");

    // A true absence proof, from a ledger whose state lacks the certificate the bundle's record issued.
    let (lacking, absent) = state(&entries[1..], &l.certificate_key());
    assert_eq!(absent.value, None);
    assert_eq!(
        step_of(&l.g, &l.bundle(lacking, Some(absent))),
        "status.absent"
    );

    // Another value under the proof: "valid" where the tree holds "revoked".
    let mut tampered = entry.clone();
    tampered.value = Some(Bytes(
        l.value(CertificateStatus::Valid, l.revoke.id()).to_bytes(),
    ));
    assert_eq!(
        step_of(&l.g, &l.bundle(root, Some(tampered))),
        "status.value"
    );

    // A proof that holds, against another root than the certified header's.
    let (other_root, _) = state(&entries[..1], &l.certificate_key());
    assert_eq!(
        step_of(&l.g, &l.bundle(other_root, Some(entry))),
        "status.proof"
    );
}

#[test]
fn a_status_older_than_the_bundles_records_is_refused() {
    let l = Ledger::new();
    // A quorum certified a state in which the issue still stands, after a block holding the revocation.
    let stale = vec![(
        l.certificate_key(),
        l.value(CertificateStatus::Valid, l.issue.id()),
    )];
    let (root, entry) = state(&stale, &l.certificate_key());
    assert_eq!(step_of(&l.g, &l.bundle(root, Some(entry))), "status.stale");

    // A status set by a record the bundle does not carry.
    let elsewhere = vec![(
        l.certificate_key(),
        l.value(CertificateStatus::Revoked, Hash32::sha256(b"not here")),
    )];
    let (root, entry) = state(&elsewhere, &l.certificate_key());
    assert_eq!(step_of(&l.g, &l.bundle(root, Some(entry))), "status.record");
}

#[test]
fn a_status_file_proves_valid_or_never_recorded() {
    let l = Ledger::new();
    let entries = l.honest_entries();
    let other = StatusSubject::Certificate(reference("KZ-PC-2026-000999"));
    let (root, entry) = state(&entries, &other.key());
    let verdict = verify_status(&l.g, &l.status_file(other.clone(), root, entry.clone())).unwrap();
    assert_eq!(verdict.status.status, "valid");
    assert!(verdict.status.good);
    assert!(
        verdict
            .status
            .headline
            .starts_with("VALID as of 2026-11-25 10:00 UTC (height 1, certified by "),
        "{}",
        verdict.status.headline
    );

    let never = StatusSubject::Certificate(reference("KZ-PC-2026-000555"));
    let (_, absent) = state(&entries, &never.key());
    let verdict = verify_status(&l.g, &l.status_file(never.clone(), root, absent)).unwrap();
    assert_eq!(verdict.status.status, "not_recorded");
    assert!(!verdict.status.good);
    assert!(
        verdict.status.headline.starts_with(
            "NOT RECORDED: no certificate KZ-PC-2026-000555 of KZ as of 2026-11-25 10:00 UTC"
        ),
        "{}",
        verdict.status.headline
    );

    // The proof of one certificate offered for another: an absence claim for a recorded one fails.
    let e = verify_status(&l.g, &l.status_file(never, root, entry)).unwrap_err();
    assert_eq!(e.step.0, "status.proof", "{e}");
    // A status file whose anchor is not certified by a quorum.
    let mut file: serde_json::Value =
        serde_json::from_slice(&l.status_file(other, root, state(&entries, &entries[1].0).1))
            .unwrap();
    let cert: CertifiedHeader = serde_json::from_value(file["anchor"].clone()).unwrap();
    let mut bytes = cert.certificate.0.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    file["anchor"]["certificate"] = serde_json::to_value(Bytes(bytes)).unwrap();
    let e = verify_status(&l.g, &serde_json::to_vec(&file).unwrap()).unwrap_err();
    assert!(e.step.0.starts_with("anchor"), "{e}");
}

#[test]
fn an_aeo_standing_is_recognised_only_under_an_active_mra_that_covers_it() {
    let l = Ledger::new();
    let subject = StatusSubject::Aeo {
        operator: OperatorId::parse("KZ123456789012").unwrap(),
        programme: cc("KZ"),
    };
    let standing = StateValue::Aeo(AeoState {
        standing: AeoStanding::Active,
        aeo_type: AeoType::Aeos,
        record: Hash32::sha256(b"granted"),
    });
    let mra_id = Hash32::sha256(b"mra");
    let mra = |status, covers| {
        StateValue::Mra(MraState {
            proposer: cc("KZ"),
            partner: cc("DE"),
            covers,
            status,
        })
    };
    let verdict = |mra_value: StateValue, member: &str, shown: Option<Hash32>| {
        let entries = vec![
            (subject.key(), standing.clone()),
            (StateKey::Mra(mra_id), mra_value),
        ];
        let (root, entry) = state(&entries, &subject.key());
        let recognition = RecognitionProof {
            member: cc(member),
            mra: shown.map(|record| RecordEntryProof {
                record,
                status: state(&entries, &StateKey::Mra(mra_id)).1,
            }),
        };
        verify_status(
            &l.g,
            &l.status_file_with(subject.clone(), root, entry, Some(recognition), None),
        )
    };

    let v = verdict(mra(MraStatus::Active, AeoType::Both), "DE", Some(mra_id)).unwrap();
    assert_eq!(v.status.recognised, Some(true));
    assert_eq!(v.status.via_mra, Some(mra_id));
    assert!(v.status.good);
    assert!(
        v.status
            .headline
            .starts_with("AEO ACTIVE in KZ's programme; recognised by DE under MRA "),
        "{}",
        v.status.headline
    );

    // Not shown: recognition is not proven, so not good for DE.
    let v = verdict(mra(MraStatus::Active, AeoType::Both), "DE", None).unwrap();
    assert_eq!(v.status.recognised, Some(false));
    assert!(!v.status.good);
    assert!(v.status.headline.contains("NOT shown recognised by DE"));

    // Its own programme needs no MRA.
    let v = verdict(mra(MraStatus::Withdrawn, AeoType::Both), "KZ", None).unwrap();
    assert_eq!(v.status.recognised, Some(true));

    // A withdrawn MRA, one covering another type, or one between other members, does not recognise.
    for (value, member) in [
        (mra(MraStatus::Withdrawn, AeoType::Both), "DE"),
        (mra(MraStatus::Active, AeoType::Aeoc), "DE"),
        (mra(MraStatus::Active, AeoType::Both), "CN"),
    ] {
        let e = verdict(value, member, Some(mra_id)).unwrap_err();
        assert_eq!(e.step.0, "recognition.mra", "{e}");
    }
    // The proof of one MRA offered as another's.
    let e = verdict(
        mra(MraStatus::Active, AeoType::Both),
        "DE",
        Some(Hash32::sha256(b"another mra")),
    )
    .unwrap_err();
    assert_eq!(e.step.0, "recognition.proof", "{e}");
}
