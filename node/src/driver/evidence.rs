//! Equivocations the consensus machine detects: stored locally, and reported on the ledger as an `evidence`
//! record (docs/records.md §2.6) signed with this member's validator key, so that every member's proposer can
//! include it and anyone can later show, with the genesis file, which member misbehaved.

use super::Driver;
use crate::metrics::Metrics;
use crate::network::NetCommand;
use anyhow::Result;
use clearance_core::equivocation::Equivocation;
use clearance_core::record::{EvidenceReport, Record};
use clearance_core::tx::{SignedTx, TxBody};

impl Driver {
    pub(super) fn on_evidence(&mut self, equivocation: Equivocation) -> Result<()> {
        Metrics::inc(&self.metrics.evidence_total);
        let id = self.ledger.store().save_evidence(&equivocation)?;
        tracing::warn!(evidence = %id, "equivocation detected and stored");
        // A follower, or a node whose key files lack the key the set names, has no voice on the ledger.
        let Some(me) = self.me.clone() else {
            return Ok(());
        };
        let Some(member) = self.ledger.epoch().member(&me) else {
            return Ok(());
        };
        let Some(key) = self
            .keys
            .validator_keys()
            .into_iter()
            .find(|k| k.public_key() == member.validator_key)
        else {
            return Ok(());
        };
        let submitter = key.public_key();
        let chain_id = self.genesis.chain_id();
        let sequence = self.mempool.next_sequence(self.ledger.store(), &submitter);
        let body = TxBody {
            chain_id,
            submitter,
            sequence,
            record: Record::Evidence(EvidenceReport {
                reporter: me,
                equivocation,
            }),
        };
        let signed = SignedTx::sign(&body, &key);
        let bytes = signed.to_bytes();
        let verified = match signed.verify(&chain_id) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!("the evidence transaction this node signed does not verify: {e}");
                return Ok(());
            }
        };
        match self.admit(&bytes, verified) {
            Ok(tx) => {
                tracing::info!(%tx, "equivocation reported on the ledger");
                self.net.send(NetCommand::PublishTx(bytes)).ok();
                self.maybe_start_height(false)?;
            }
            // Another member's report of it is already committed, say.
            Err(e) => tracing::info!("equivocation not reported: {} ({})", e, e.code()),
        }
        Ok(())
    }
}
