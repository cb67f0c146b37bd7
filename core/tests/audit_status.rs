//! The status section of proof bundles and standalone status proofs (`docs/audit.md` §3.5), on a small ledger
//! built here and certified by every member: the verdict says the status first; and a missing status, a proof for
//! another certificate, an absence proof for a recorded one, a tampered value, a status set by a record the
//! bundle leaves out, and a status older than a later revocation in the same bundle each fail at their step.

mod common;

use clearance_core::audit::{
    BUNDLE_FORMAT, CertifiedHeader, ProofBundle, RecognitionProof, RecordEntryProof, RecordProof,
    STATUS_FORMAT, StateEntryProof, StatusFile, StatusSubject, VERSION, verify_bundle,
    verify_status,
};
use clearance_core::block::tx_root;
use clearance_core::bytes::Bytes;
use clearance_core::genesis::Genesis;
use clearance_core::hash::Hash32;
use clearance_core::ids::OperatorId;
use clearance_core::ids::{CertificateNumber, ReasonCode, Text};
use clearance_core::merkle::{self, MemoryLog};
use clearance_core::record::{AeoType, Decision, DeclarationId, DeclarationRef};
use clearance_core::record::{CertificateIssue, CertificateRef, CertificateRevoke, Record};
use clearance_core::rules::{
    AeoStanding, AeoState, CertificateState, CertificateStatus, DecisionState, MraState, MraStatus,
    StateKey, StateValue,
};
use clearance_core::state_tree::{self, StateProof, Terminal};
use clearance_core::time::Date;
use clearance_core::tx::{SignedTx, TxBody};
use common::*;

/// A state of these entries: its root, and the proof for `key`.
fn state(entries: &[(StateKey, StateValue)], key: &StateKey) -> (Hash32, StateEntryProof) {
    let changes = entries
        .iter()
        .map(|(k, v)| (k.path(), Some(v.hash())))
        .collect();
    let mut tree = MemoryTree::default();
    let Ok(update) = state_tree::update(&tree, &changes);
    for (at, node) in update.writes {
        if let Some(n) = node {
            tree.0.insert(at, n);
        }
    }
    let Ok(proof) = StateProof::build(&tree, &key.path());
    let value = entries
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| Bytes(v.to_bytes()));
    (update.root, StateEntryProof { value, proof })
}

fn reference(number: &str) -> CertificateRef {
    CertificateRef {
        issuer: cc("KZ"),
        number: CertificateNumber::parse(number).unwrap(),
    }
}

fn signed(g: &Genesis, sequence: u64, record: Record) -> SignedTx {
    let body = TxBody {
        chain_id: g.chain_id(),
        submitter: key(60).public_key(),
        sequence,
        record,
    };
    SignedTx::sign(&body, &key(60))
}

/// A ledger of one block holding the issue of certificate KZ-PC-2026-000123 and its revocation.
struct Ledger {
    g: Genesis,
    issue: SignedTx,
    revoke: SignedTx,
}

impl Ledger {
    fn new() -> Ledger {
        let g = genesis(4);
        let issue = signed(
            &g,
            1,
            Record::CertificateIssue(CertificateIssue {
                certificate: certificate_body("KZ-PC-2026-000123"),
            }),
        );
        let revoke = signed(
            &g,
            2,
            Record::CertificateRevoke(CertificateRevoke {
                certificate: reference("KZ-PC-2026-000123"),
                effective_on: Date::parse("2026-11-25").unwrap(),
                reason_code: ReasonCode::parse("FRAUD").unwrap(),
                reason: Text::parse("forged invoice").unwrap(),
            }),
        );
        Ledger { g, issue, revoke }
    }

    fn certificate_key(&self) -> StateKey {
        StateKey::Certificate(reference("KZ-PC-2026-000123"))
    }

    fn value(&self, status: CertificateStatus, record: Hash32) -> StateValue {
        StateValue::Certificate(CertificateState {
            status,
            record,
            replaced_by: None,
        })
    }

    /// The honest state after the block: the certificate revoked by the revocation, and another certificate.
    fn honest_entries(&self) -> Vec<(StateKey, StateValue)> {
        vec![
            (
                self.certificate_key(),
                self.value(CertificateStatus::Revoked, self.revoke.id()),
            ),
            (
                StateKey::Certificate(reference("KZ-PC-2026-000999")),
                self.value(CertificateStatus::Valid, Hash32::sha256(b"other")),
            ),
        ]
    }

    /// The block (height 1) certified with `state_root`, and the bundle of the issue with the revocation as a
    /// later record and `status` as its status section.
    fn bundle(&self, state_root: Hash32, status: Option<StateEntryProof>) -> Vec<u8> {
        let txs = vec![Bytes(self.issue.to_bytes()), Bytes(self.revoke.to_bytes())];
        let mut log = MemoryLog::new();
        for tx in &txs {
            log.append(tx.as_slice());
        }
        let log_root = merkle::root(&log, 2).unwrap();
        let mut h = header(&self.g, 1, (2, tx_root(&txs)), (2, log_root));
        h.state_root = state_root;
        let (anchor, _, _) = certified(&self.g, h);
        let proof = |i: u64| RecordProof {
            signed_tx: txs[i as usize].clone(),
            block: anchor.clone(),
            tx_index: i,
            tx_path: merkle::inclusion_proof(&log, i, 2).unwrap(),
            log_index: i,
            log_path: merkle::inclusion_proof(&log, i, 2).unwrap(),
        };
        let bundle = ProofBundle {
            format: BUNDLE_FORMAT.into(),
            version: VERSION,
            chain_id: self.g.chain_id(),
            record: proof(0),
            later: vec![proof(1)],
            anchor,
            validator_set_changes: vec![],
            status,
        };
        serde_json::to_vec(&bundle).unwrap()
    }

    fn status_file(&self, subject: StatusSubject, root: Hash32, entry: StateEntryProof) -> Vec<u8> {
        self.status_file_with(subject, root, entry, None, None)
    }

    fn status_file_with(
        &self,
        subject: StatusSubject,
        root: Hash32,
        entry: StateEntryProof,
        recognition: Option<RecognitionProof>,
        decision: Option<RecordEntryProof>,
    ) -> Vec<u8> {
        let mut h = header(
            &self.g,
            1,
            (0, merkle::empty_root()),
            (0, merkle::empty_root()),
        );
        h.state_root = root;
        let (anchor, _, _) = certified(&self.g, h);
        serde_json::to_vec(&StatusFile {
            format: STATUS_FORMAT.into(),
            version: VERSION,
            chain_id: self.g.chain_id(),
            subject,
            status: entry,
            anchor,
            validator_set_changes: vec![],
            recognition,
            decision,
        })
        .unwrap()
    }
}

fn step_of(g: &Genesis, file: &[u8]) -> String {
    match verify_bundle(g, file, None) {
        Ok(v) => panic!("verified: {:?}", v.status),
        Err(e) => {
            assert!(!e.reason.is_empty());
            e.step.0
        }
    }
}

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

#[test]
fn a_declaration_shows_the_members_current_decision() {
    let l = Ledger::new();
    let subject = StatusSubject::Declaration {
        declaration: DeclarationId::Mrn(mrn()),
        member: cc("KZ"),
    };
    let on_mrn = DeclarationRef {
        mrn: Some(mrn()),
        ucr: None,
    };
    let (held, released, foreign) = (
        Hash32::sha256(b"held"),
        Hash32::sha256(b"released"),
        Hash32::sha256(b"another member's"),
    );
    let decision = |member: &str, decision, superseded_by| {
        StateValue::Decision(DecisionState {
            declaration: on_mrn.clone(),
            member: cc(member),
            decision,
            superseded_by,
        })
    };
    let entries = |current: Hash32| {
        vec![
            (subject.key(), StateValue::Record(current)),
            (
                StateKey::Decision(held),
                decision("KZ", Decision::Hold, Some(released)),
            ),
            (
                StateKey::Decision(released),
                decision("KZ", Decision::Released, None),
            ),
            (
                StateKey::Decision(foreign),
                decision("CN", Decision::Released, None),
            ),
        ]
    };
    let verdict = |current: Hash32, shown: Option<(Hash32, Hash32)>| {
        let entries = entries(current);
        let (root, entry) = state(&entries, &subject.key());
        let decision = shown.map(|(record, proven)| RecordEntryProof {
            record,
            status: state(&entries, &StateKey::Decision(proven)).1,
        });
        verify_status(
            &l.g,
            &l.status_file_with(subject.clone(), root, entry, None, decision),
        )
    };

    let v = verdict(released, Some((released, released))).unwrap();
    assert_eq!(v.status.status, "released");
    assert_eq!(v.status.decision, Some(Decision::Released));
    assert!(v.status.good);
    assert!(
        v.status.headline.starts_with(&format!(
            "RELEASED by KZ on the declaration with MRN {} (decision ",
            mrn().as_str()
        )),
        "{}",
        v.status.headline
    );

    // The decision the entry names must be shown, and be that one, the member's, on that declaration.
    let e = verdict(released, None).unwrap_err();
    assert_eq!(e.step.0, "decision", "{e}");
    let e = verdict(released, Some((held, held))).unwrap_err();
    assert_eq!(e.step.0, "decision", "{e}");
    let e = verdict(released, Some((released, held))).unwrap_err();
    assert_eq!(e.step.0, "decision.proof", "{e}");
    let e = verdict(foreign, Some((foreign, foreign))).unwrap_err();
    assert_eq!(e.step.0, "decision.declaration", "{e}");

    // A superseded decision named as current (a state no rule writes) is not good.
    let v = verdict(held, Some((held, held))).unwrap();
    assert_eq!(v.status.status, "superseded");
    assert!(!v.status.good);

    // Never decided by that member: proven absent, and a decision shown beside an absence is refused.
    let never = StatusSubject::Declaration {
        declaration: DeclarationId::Mrn(mrn()),
        member: cc("DE"),
    };
    let entries = entries(released);
    let (root, absent) = state(&entries, &never.key());
    let v = verify_status(&l.g, &l.status_file(never.clone(), root, absent.clone())).unwrap();
    assert_eq!(v.status.status, "not_recorded");
    assert!(!v.status.good);
    assert!(
        v.status
            .headline
            .starts_with("NOT RECORDED: no decision of DE on the declaration with MRN "),
        "{}",
        v.status.headline
    );
    let shown = RecordEntryProof {
        record: released,
        status: state(&entries, &StateKey::Decision(released)).1,
    };
    let e = verify_status(
        &l.g,
        &l.status_file_with(never, root, absent, None, Some(shown)),
    )
    .unwrap_err();
    assert_eq!(e.step.0, "decision", "{e}");
}

/// A decision on `mrn()` recorded from `office`, superseding `supersedes`.
fn decision_on_mrn(g: &Genesis, sequence: u64, supersedes: Option<Hash32>) -> SignedTx {
    use clearance_core::ids::CustomsOffice;
    use clearance_core::record::{ClearanceDecision, Procedure};
    use clearance_core::time::Timestamp;
    signed(
        g,
        sequence,
        Record::ClearanceDecision(ClearanceDecision {
            declaration: DeclarationRef {
                mrn: Some(mrn()),
                ucr: None,
            },
            office: CustomsOffice::parse("KZ551010").unwrap(),
            procedure: Procedure::Import,
            decision: Decision::Hold,
            decided_at: Timestamp::parse("2026-11-24T10:00:00Z").unwrap(),
            linked_certificates: vec![],
            supersedes,
            reason_code: None,
        }),
    )
}

#[test]
fn a_full_bundle_that_left_out_the_setter_still_may_not_carry_a_later_change() {
    // A decision, then 64 later decisions on the same declaration: the bundle carries all 64 (the most it may), and
    // the status proof says the decision was superseded by a record older than all of them, left out. Then none of
    // the 64 may supersede the decision too.
    let g = genesis(4);
    let first = decision_on_mrn(&g, 1, None);
    let left_out =
        Hash32::sha256(b"the superseding decision, older than every later record carried");
    let bundle = |superseding_carried: bool| {
        let mut txs = vec![Bytes(first.to_bytes())];
        for n in 0..64u64 {
            let supersedes = (superseding_carried && n == 40).then(|| first.id());
            txs.push(Bytes(decision_on_mrn(&g, n + 2, supersedes).to_bytes()));
        }
        let size = txs.len() as u64;
        let mut log = MemoryLog::new();
        for tx in &txs {
            log.append(tx.as_slice());
        }
        let key = StateKey::Decision(first.id());
        let entries = vec![(
            key.clone(),
            StateValue::Decision(DecisionState {
                declaration: DeclarationRef {
                    mrn: Some(mrn()),
                    ucr: None,
                },
                member: cc("KZ"),
                decision: Decision::Hold,
                superseded_by: Some(left_out),
            }),
        )];
        let (root, entry) = state(&entries, &key);
        let mut h = header(
            &g,
            1,
            (size, tx_root(&txs)),
            (size, merkle::root(&log, size).unwrap()),
        );
        h.state_root = root;
        let (anchor, _, _) = certified(&g, h);
        let proof = |i: u64| RecordProof {
            signed_tx: txs[i as usize].clone(),
            block: anchor.clone(),
            tx_index: i,
            tx_path: merkle::inclusion_proof(&log, i, size).unwrap(),
            log_index: i,
            log_path: merkle::inclusion_proof(&log, i, size).unwrap(),
        };
        serde_json::to_vec(&ProofBundle {
            format: BUNDLE_FORMAT.into(),
            version: VERSION,
            chain_id: g.chain_id(),
            record: proof(0),
            later: (1..size).map(proof).collect(),
            anchor,
            validator_set_changes: vec![],
            status: Some(entry),
        })
        .unwrap()
    };
    let verdict =
        verify_bundle(&g, &bundle(false), None).expect("the setter may be among those left out");
    let status = verdict.status.expect("a decision has a status");
    assert_eq!(status.status, "superseded");
    assert_eq!(status.superseded_by, Some(left_out));
    assert_eq!(step_of(&g, &bundle(true)), "status.stale");
}
