//! Status proofs of decisions and declarations (`docs/audit.md` §3.1 step 10, §3.5 step 8): a member's current
//! decision on a declaration, proven with the decision's own entry; and a full bundle that left out the record
//! that set a decision's status.

mod common;

use clearance_core::audit::{
    BUNDLE_FORMAT, ProofBundle, RecordEntryProof, RecordProof, StatusSubject, VERSION,
    verify_bundle, verify_status,
};
use clearance_core::block::tx_root;
use clearance_core::bytes::Bytes;
use clearance_core::genesis::Genesis;
use clearance_core::hash::Hash32;
use clearance_core::merkle::{self, MemoryLog};
use clearance_core::record::Record;
use clearance_core::record::{Decision, DeclarationId, DeclarationRef};
use clearance_core::rules::{DecisionState, StateKey, StateValue};
use clearance_core::tx::SignedTx;
use common::status_ledger::*;
use common::{cc, certified, genesis, header, mrn};

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
