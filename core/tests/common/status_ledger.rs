//! One certified block holding a certificate's issue and revocation, and the status proofs and bundles built on it,
//! for the status tests (`audit_status.rs`, `audit_decisions.rs`).

use super::*;
use clearance_core::audit::{
    BUNDLE_FORMAT, ProofBundle, RecognitionProof, RecordEntryProof, RecordProof, STATUS_FORMAT,
    StateEntryProof, StatusFile, StatusSubject, VERSION, verify_bundle,
};
use clearance_core::block::tx_root;
use clearance_core::bytes::Bytes;
use clearance_core::genesis::Genesis;
use clearance_core::hash::Hash32;
use clearance_core::ids::{CertificateNumber, ReasonCode, Text};
use clearance_core::merkle::{self, MemoryLog};
use clearance_core::record::{CertificateIssue, CertificateRef, CertificateRevoke, Record};
use clearance_core::rules::{CertificateState, CertificateStatus, StateKey, StateValue};
use clearance_core::state_tree::{self, StateProof};
use clearance_core::time::Date;
use clearance_core::tx::{SignedTx, TxBody};

/// A state of these entries: its root, and the proof for `key`.
pub fn state(entries: &[(StateKey, StateValue)], key: &StateKey) -> (Hash32, StateEntryProof) {
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

pub fn reference(number: &str) -> CertificateRef {
    CertificateRef {
        issuer: cc("KZ"),
        number: CertificateNumber::parse(number).unwrap(),
    }
}

pub fn signed(g: &Genesis, sequence: u64, record: Record) -> SignedTx {
    let body = TxBody {
        chain_id: g.chain_id(),
        submitter: key(60).public_key(),
        sequence,
        record,
    };
    SignedTx::sign(&body, &key(60))
}

/// A ledger of one block holding the issue of certificate KZ-PC-2026-000123 and its revocation.
pub struct Ledger {
    pub g: Genesis,
    pub issue: SignedTx,
    pub revoke: SignedTx,
}

impl Ledger {
    pub fn new() -> Ledger {
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

    pub fn certificate_key(&self) -> StateKey {
        StateKey::Certificate(reference("KZ-PC-2026-000123"))
    }

    pub fn value(&self, status: CertificateStatus, record: Hash32) -> StateValue {
        StateValue::Certificate(CertificateState {
            status,
            record,
            replaced_by: None,
        })
    }

    /// The honest state after the block: the certificate revoked by the revocation, and another certificate.
    pub fn honest_entries(&self) -> Vec<(StateKey, StateValue)> {
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
    pub fn bundle(&self, state_root: Hash32, status: Option<StateEntryProof>) -> Vec<u8> {
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

    pub fn status_file(
        &self,
        subject: StatusSubject,
        root: Hash32,
        entry: StateEntryProof,
    ) -> Vec<u8> {
        self.status_file_with(subject, root, entry, None, None)
    }

    pub fn status_file_with(
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

pub fn step_of(g: &Genesis, file: &[u8]) -> String {
    match verify_bundle(g, file, None) {
        Ok(v) => panic!("verified: {:?}", v.status),
        Err(e) => {
            assert!(!e.reason.is_empty());
            e.step.0
        }
    }
}
