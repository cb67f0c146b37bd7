//! Handlers for auditors: proof bundles, checkpoints and consistency proofs (`crate::proofs`).

use super::extract::{ApiPath, ApiQuery};
use super::queries::{bad_id, certificate_ref};
use super::{ApiError, ApiState, internal};
use crate::proofs::{self, ProofError};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use clearance_core::Hash32;
use clearance_core::audit::{Checkpoint, ConsistencyProof, ProofBundle, StatusFile, StatusSubject};
use clearance_core::ids::{CountryCode, Mrn, OperatorId, Ucr};
use clearance_core::record::DeclarationId;
use serde::Deserialize;

fn proof_error(e: ProofError) -> ApiError {
    match e {
        ProofError::Unknown(_) => ApiError::new(StatusCode::NOT_FOUND, "RECORD_NOT_FOUND", e),
        ProofError::Rejected { .. } => ApiError::new(StatusCode::NOT_FOUND, "RECORD_REJECTED", e),
        ProofError::Empty => ApiError::new(StatusCode::NOT_FOUND, "NO_BLOCKS", e),
        ProofError::BadRange(_) => ApiError::new(StatusCode::BAD_REQUEST, "BAD_RANGE", e),
        ProofError::Busy(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "LEDGER_BUSY", e),
        ProofError::Storage(e) => internal(e),
    }
}

/// `GET /v1/proofs/records/{id}`. Building a bundle reads a few dozen keys, so it runs on the blocking pool.
pub async fn record_bundle(
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ProofBundle>, ApiError> {
    let id = Hash32::from_hex(&id)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BAD_RECORD_ID", e))?;
    let bundle = tokio::task::spawn_blocking(move || proofs::bundle(&s.store, &s.chain_id, &id))
        .await
        .map_err(internal)?
        .map_err(proof_error)?;
    Ok(Json(bundle))
}

async fn status_proof(
    s: ApiState,
    subject: StatusSubject,
    recognised_by: Option<CountryCode>,
) -> Result<Json<StatusFile>, ApiError> {
    let file = tokio::task::spawn_blocking(move || {
        proofs::status(&s.store, &s.chain_id, &subject, recognised_by.as_ref())
    })
    .await
    .map_err(internal)?
    .map_err(proof_error)?;
    Ok(Json(file))
}

/// `GET /v1/proofs/status/certificates/{issuer}/{number}`: a never-recorded certificate gets a proof of
/// absence, not a 404: that answer is what an officer needs proven.
pub async fn certificate_status(
    State(s): State<ApiState>,
    ApiPath((issuer, number)): ApiPath<(String, String)>,
) -> Result<Json<StatusFile>, ApiError> {
    let subject = StatusSubject::Certificate(certificate_ref(&issuer, &number)?);
    status_proof(s, subject, None).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecognitionParams {
    recognised_by: Option<String>,
}

/// `GET /v1/proofs/status/aeo/{operator}/{programme}?recognised_by=M`.
pub async fn aeo_status(
    State(s): State<ApiState>,
    ApiPath((operator, programme)): ApiPath<(String, String)>,
    ApiQuery(p): ApiQuery<RecognitionParams>,
) -> Result<Json<StatusFile>, ApiError> {
    let subject = StatusSubject::Aeo {
        operator: OperatorId::parse(&operator).map_err(bad_id)?,
        programme: CountryCode::parse(&programme).map_err(bad_id)?,
    };
    let member = p
        .recognised_by
        .map(|m| CountryCode::parse(&m))
        .transpose()
        .map_err(bad_id)?;
    status_proof(s, subject, member).await
}

/// `GET /v1/proofs/status/decisions/{id}`.
pub async fn decision_status(
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<StatusFile>, ApiError> {
    let record = Hash32::from_hex(&id)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BAD_RECORD_ID", e))?;
    status_proof(s, StatusSubject::Decision { record }, None).await
}

/// `GET /v1/proofs/status/declarations/{member}/mrn/{mrn}`: the member's current decision on the declaration,
/// or a proof that it recorded none.
pub async fn declaration_status_by_mrn(
    State(s): State<ApiState>,
    ApiPath((member, mrn)): ApiPath<(String, String)>,
) -> Result<Json<StatusFile>, ApiError> {
    let declaration = DeclarationId::Mrn(Mrn::parse(&mrn).map_err(bad_id)?);
    declaration_status(s, &member, declaration).await
}

/// `GET /v1/proofs/status/declarations/{member}/ucr/{ucr}`, as by MRN.
pub async fn declaration_status_by_ucr(
    State(s): State<ApiState>,
    ApiPath((member, ucr)): ApiPath<(String, String)>,
) -> Result<Json<StatusFile>, ApiError> {
    let declaration = DeclarationId::Ucr(Ucr::parse(&ucr).map_err(bad_id)?);
    declaration_status(s, &member, declaration).await
}

async fn declaration_status(
    s: ApiState,
    member: &str,
    declaration: DeclarationId,
) -> Result<Json<StatusFile>, ApiError> {
    let subject = StatusSubject::Declaration {
        declaration,
        member: CountryCode::parse(member).map_err(bad_id)?,
    };
    status_proof(s, subject, None).await
}

/// `GET /v1/checkpoint`.
pub async fn checkpoint(State(s): State<ApiState>) -> Result<Json<Checkpoint>, ApiError> {
    let checkpoint = tokio::task::spawn_blocking(move || proofs::checkpoint(&s.store, &s.chain_id))
        .await
        .map_err(internal)?
        .map_err(proof_error)?;
    Ok(Json(checkpoint))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeParams {
    from: u64,
    to: Option<u64>,
}

/// `GET /v1/proofs/consistency?from=A[&to=B]`.
pub async fn consistency(
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<RangeParams>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    let proof = tokio::task::spawn_blocking(move || {
        proofs::consistency(&s.store, &s.chain_id, q.from, q.to)
    })
    .await
    .map_err(internal)?
    .map_err(proof_error)?;
    Ok(Json(proof))
}
