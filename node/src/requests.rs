//! What the HTTP API hands the driver, and what the driver hands back to the API's event stream. Both sides
//! depend on this module and not on each other.

use crate::mempool::AdmitError;
use crate::query::RecordView;
use clearance_core::Hash32;
use clearance_core::tx::VerifiedTx;
use std::sync::Arc;
use tokio::sync::{broadcast, oneshot};

/// Requests from the HTTP API.
pub enum ApiRequest {
    /// A transaction the API handler has verified (chain, signature, shape) over exactly `bytes`.
    Submit {
        bytes: Vec<u8>,
        tx: Box<VerifiedTx>,
        reply: oneshot::Sender<Result<Hash32, AdmitError>>,
    },
    /// Transactions of one batch, each verified like `Submit`; one answer per transaction, in order.
    SubmitBatch {
        txs: Vec<(Vec<u8>, VerifiedTx)>,
        reply: oneshot::Sender<Vec<Result<Hash32, AdmitError>>>,
    },
    IsPending {
        id: Hash32,
        reply: oneshot::Sender<bool>,
    },
}

/// Committed records, as the driver executes them, for the API's event stream (`GET /v1/events`).
pub type EventSender = broadcast::Sender<Arc<RecordView>>;
