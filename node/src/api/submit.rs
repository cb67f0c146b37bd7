//! Submissions: `POST /v1/txs` (one transaction) and `POST /v1/txs/batch` (up to [`MAX_BATCH_TXS`]).
//!
//! Handlers decode and verify signatures here, off the consensus task, and hand verified transactions to the
//! driver, which owns the mempool. A batch is verified as batches of signatures and admitted in one driver
//! request; each transaction in it is admitted or refused on its own, in order.

use super::{ApiError, ApiState, unavailable};
use crate::mempool::AdmitError;
use crate::requests::ApiRequest;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use clearance_core::Hash32;
use clearance_core::api::{BatchItem, BatchSubmitted, Submitted};
use clearance_core::encoding::DecodeError;
use clearance_core::tx::{SignedTx, TxError, VerifiedTx};
use tokio::sync::oneshot;

/// The most transactions one batch request may carry.
pub const MAX_BATCH_TXS: usize = 256;

enum Format {
    Json,
    Binary,
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "BODY_TOO_LARGE"
        } else {
            "BAD_BODY"
        };
        ApiError::new(status, code, e.body_text())
    })
}

fn format(headers: &HeaderMap) -> Result<Format, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") {
        Ok(Format::Json)
    } else if content_type.starts_with("application/octet-stream") {
        Ok(Format::Binary)
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send application/json or application/octet-stream",
        ))
    }
}

fn admit_status(e: &AdmitError) -> StatusCode {
    match e {
        AdmitError::Full { .. } => StatusCode::SERVICE_UNAVAILABLE,
        AdmitError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        AdmitError::Duplicate(_) | AdmitError::Committed(_) | AdmitError::SequenceTaken { .. } => {
            StatusCode::CONFLICT
        }
        AdmitError::Rule(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AdmitError::Tx(_) => StatusCode::BAD_REQUEST,
    }
}

/// `POST /v1/txs`: a signed transaction, either its canonical bytes (`application/octet-stream`) or its JSON form
/// (`{"body": base64, "signature": hex}`).
pub(super) async fn submit(
    State(s): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Submitted>), ApiError> {
    let body = body_bytes(body)?;
    let bytes = match format(&headers)? {
        Format::Json => {
            let signed: SignedTx = serde_json::from_slice(&body).map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "BAD_JSON",
                    format!("signed transaction: {e}"),
                )
            })?;
            signed.to_bytes()
        }
        Format::Binary => body.to_vec(),
    };
    // Verified here, on the handler's thread, so that the consensus task never spends time on signatures.
    let verified = verify_one(&s, &bytes).map_err(AdmitError::from);
    let admitted = match verified {
        Ok(tx) => {
            let (reply, answer) = oneshot::channel();
            s.driver
                .send(ApiRequest::Submit {
                    bytes,
                    tx: Box::new(tx),
                    reply,
                })
                .await
                .map_err(|_| unavailable())?;
            answer.await.map_err(|_| unavailable())?
        }
        Err(e) => Err(e),
    };
    match admitted {
        Ok(tx_id) => Ok((
            StatusCode::ACCEPTED,
            Json(Submitted {
                tx_id,
                status: "pending".into(),
            }),
        )),
        Err(e) => Err(ApiError::new(admit_status(&e), e.code(), e)),
    }
}

/// `POST /v1/txs/batch`: up to [`MAX_BATCH_TXS`] signed transactions, as a JSON array of their JSON forms, or
/// as `application/octet-stream` frames, each a 4-byte big-endian length and then that many bytes of one
/// transaction. The answer (200) lists one result per transaction, in order; a refusal there is that
/// transaction's alone. Only a body that cannot be split into transactions is refused as a whole.
pub(super) async fn submit_batch(
    State(s): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BatchSubmitted>, ApiError> {
    let body = body_bytes(body)?;
    let txs = match format(&headers)? {
        Format::Json => split_json(&body)?,
        Format::Binary => split_frames(&body)?,
    };
    // Signature batches are CPU work of up to a few milliseconds: off the async workers.
    let state = s.clone();
    let checked = tokio::task::spawn_blocking(move || verify_batch(&state, txs))
        .await
        .map_err(super::internal)?;
    let ids: Vec<Option<Hash32>> = checked.iter().map(|c| c.id).collect();
    // Refusals are known now; the verified transactions' results come from the driver, in the same order.
    let mut to_admit = Vec::new();
    let mut results: Vec<Option<Result<Hash32, AdmitError>>> = checked
        .into_iter()
        .map(|c| match c.verdict {
            Ok(tx) => {
                to_admit.push((c.bytes, tx));
                None
            }
            Err(e) => Some(Err(AdmitError::from(e))),
        })
        .collect();
    if !to_admit.is_empty() {
        let (reply, answer) = oneshot::channel();
        s.driver
            .send(ApiRequest::SubmitBatch {
                txs: to_admit,
                reply,
            })
            .await
            .map_err(|_| unavailable())?;
        let mut admitted = answer.await.map_err(|_| unavailable())?.into_iter();
        for slot in results.iter_mut().filter(|r| r.is_none()) {
            *slot = admitted.next();
        }
    }
    let results = results
        .into_iter()
        .zip(ids)
        .map(|(result, id)| match result {
            Some(Ok(tx_id)) => BatchItem {
                tx_id: Some(tx_id),
                status: "pending".into(),
                code: None,
                message: None,
            },
            Some(Err(e)) => BatchItem {
                tx_id: id,
                status: "refused".into(),
                code: Some(e.code().into()),
                message: Some(e.to_string()),
            },
            // The driver answers every transaction it was given; a missing answer is its failure, not the client's.
            None => BatchItem {
                tx_id: id,
                status: "refused".into(),
                code: Some("INTERNAL".into()),
                message: Some("the node did not answer for this transaction".into()),
            },
        })
        .collect();
    Ok(Json(BatchSubmitted { results }))
}

fn too_many() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "BATCH_TOO_LARGE",
        format!(
            "a batch holds at most {MAX_BATCH_TXS} transactions; send the others in another request"
        ),
    )
}

fn bad_batch(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_BATCH", message)
}

fn split_json(body: &[u8]) -> Result<Vec<Vec<u8>>, ApiError> {
    let txs: Vec<SignedTx> = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_JSON",
            format!("a JSON array of signed transactions: {e}"),
        )
    })?;
    if txs.len() > MAX_BATCH_TXS {
        return Err(too_many());
    }
    if txs.is_empty() {
        return Err(bad_batch("the batch is empty".into()));
    }
    Ok(txs.iter().map(SignedTx::to_bytes).collect())
}

fn split_frames(mut body: &[u8]) -> Result<Vec<Vec<u8>>, ApiError> {
    let mut txs = Vec::new();
    while !body.is_empty() {
        let Some((len, rest)) = body.split_first_chunk::<4>() else {
            return Err(bad_batch(format!(
                "frame {}: {} bytes left, too few for a 4-byte length",
                txs.len(),
                body.len()
            )));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len > rest.len() {
            return Err(bad_batch(format!(
                "frame {}: length {len} but {} bytes left",
                txs.len(),
                rest.len()
            )));
        }
        if txs.len() == MAX_BATCH_TXS {
            return Err(too_many());
        }
        let (tx, rest) = rest.split_at(len);
        txs.push(tx.to_vec());
        body = rest;
    }
    if txs.is_empty() {
        return Err(bad_batch("the batch is empty".into()));
    }
    Ok(txs)
}

/// Decodes and verifies a submitted transaction. The submitter's key is validated once per node and then cached;
/// the cache's lock is held only to look it up, so concurrent submissions verify their signatures in parallel.
fn verify_one(s: &ApiState, bytes: &[u8]) -> Result<VerifiedTx, TxError> {
    SignedTx::from_bytes(bytes)?.verify_cached(&s.chain_id, &mut s.keys.clone())
}

/// Decodes and verifies a batch, its signatures in batches; each transaction keeps its own verdict and, when it
/// decodes, its id. Keys come from the node's cache, locked only for each lookup.
fn verify_batch(s: &ApiState, txs: Vec<Vec<u8>>) -> Vec<Checked> {
    let mut signed = Vec::with_capacity(txs.len());
    let mut failures = Vec::with_capacity(txs.len());
    for bytes in &txs {
        match SignedTx::from_bytes(bytes) {
            Ok(tx) => {
                signed.push(tx);
                failures.push(None);
            }
            Err(e) => failures.push(Some(e)),
        }
    }
    let ids: Vec<Hash32> = signed.iter().map(SignedTx::id).collect();
    let verdicts = clearance_core::tx::verify_many(&s.chain_id, &signed, &mut s.keys.clone());
    // verify_many answers once per transaction, in order.
    let mut verified = ids.into_iter().zip(verdicts);
    txs.into_iter()
        .zip(failures)
        .map(|(bytes, failure)| {
            let (id, verdict) = match failure {
                Some(e) => (None, Err(e.into())),
                None => match verified.next() {
                    Some((id, verdict)) => (Some(id), verdict),
                    None => (None, Err(unverified())),
                },
            };
            Checked { id, bytes, verdict }
        })
        .collect()
}

fn unverified() -> TxError {
    TxError::Decode(DecodeError::Malformed {
        what: "transaction",
        reason: "no verdict".into(),
    })
}

struct Checked {
    id: Option<Hash32>,
    bytes: Vec<u8>,
    verdict: Result<VerifiedTx, TxError>,
}
