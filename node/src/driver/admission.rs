//! Transactions from the API into the mempool: admitted, answered, and gossiped to the other members.

use super::{ApiRequest, Driver};
use crate::mempool::AdmitError;
use crate::metrics::Metrics;
use crate::network::NetCommand;
use anyhow::Result;
use clearance_core::Hash32;
use clearance_core::tx::VerifiedTx;

impl Driver {
    pub fn on_api(&mut self, req: ApiRequest) -> Result<()> {
        match req {
            ApiRequest::Submit { bytes, tx, reply } => {
                let mut results = self.admit_submitted(vec![(bytes, *tx)])?;
                if let Some(result) = results.pop() {
                    reply.send(result).ok();
                }
            }
            ApiRequest::SubmitBatch { txs, reply } => {
                reply.send(self.admit_submitted(txs)?).ok();
            }
            ApiRequest::IsPending { id, reply } => {
                reply.send(self.mempool.contains(&id)).ok();
            }
        }
        Ok(())
    }

    /// Admits transactions the API verified, gossips the admitted ones (the network batches them) and starts a
    /// waiting height if there is now something to decide. One result per transaction, in order.
    pub(super) fn admit_submitted(
        &mut self,
        txs: Vec<(Vec<u8>, VerifiedTx)>,
    ) -> Result<Vec<Result<Hash32, AdmitError>>> {
        let mut results = Vec::with_capacity(txs.len());
        for (bytes, tx) in txs {
            let result = self.admit(&bytes, tx);
            if result.is_ok() {
                self.net.send(NetCommand::PublishTx(bytes)).ok();
            }
            results.push(result);
        }
        if results.iter().any(Result::is_ok) {
            self.maybe_start_height(false)?;
        }
        Ok(results)
    }

    /// Admits signed bytes whose signature nobody has checked yet (a peer's answer to a request for missing
    /// transactions): the mempool checks them before anything else.
    pub(super) fn admit_signed(&mut self, bytes: &[u8]) -> Result<Hash32, AdmitError> {
        let store = self.ledger.store();
        let committed = |id: &Hash32| matches!(store.tx_location(id), Ok(Some(_)));
        let ctx = self.ledger.next_context();
        let result = self
            .mempool
            .admit(store, &ctx, &committed, bytes, self.clock.wall_ms());
        self.count_admission(result)
    }

    pub(super) fn admit(&mut self, bytes: &[u8], tx: VerifiedTx) -> Result<Hash32, AdmitError> {
        let store = self.ledger.store();
        let committed = |id: &Hash32| matches!(store.tx_location(id), Ok(Some(_)));
        let ctx = self.ledger.next_context();
        let result =
            self.mempool
                .admit_verified(store, &ctx, &committed, bytes, tx, self.clock.wall_ms());
        self.count_admission(result)
    }

    fn count_admission(&self, result: Result<Hash32, AdmitError>) -> Result<Hash32, AdmitError> {
        match &result {
            Ok(_) => Metrics::inc(&self.metrics.admitted_txs_total),
            Err(_) => Metrics::inc(&self.metrics.refused_txs_total),
        }
        Metrics::set(&self.metrics.mempool_txs, self.mempool.len() as u64);
        Metrics::set(&self.metrics.mempool_bytes, self.mempool.bytes());
        result
    }
}
