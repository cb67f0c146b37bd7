//! Query routes: records, certificates, AEO status, declarations, members and MRAs.

use super::extract::{ApiPath, ApiQuery};
use super::{ApiError, ApiState, internal};
use crate::query::{self, Lookup, RecordFilter};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use clearance_core::Hash32;
use clearance_core::ids::{CertificateNumber, CountryCode, IdError, Mrn, OperatorId, Ucr};
use clearance_core::record::CertificateRef;
use clearance_core::time::Timestamp;
use serde::Deserialize;

pub(super) fn bad_id(e: IdError) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_IDENTIFIER", e)
}

/// A certificate named by the path segments `{issuer}/{number}`.
pub(super) fn certificate_ref(issuer: &str, number: &str) -> Result<CertificateRef, ApiError> {
    Ok(CertificateRef {
        issuer: CountryCode::parse(issuer).map_err(bad_id)?,
        number: CertificateNumber::parse(number).map_err(bad_id)?,
    })
}

fn not_found(code: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, code, message)
}

/// `GET /v1/records/{id}`
pub async fn record(
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<query::RecordView>, ApiError> {
    let id = Hash32::from_hex(&id)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BAD_RECORD_ID", e))?;
    match query::record(&s.store, &id).map_err(internal)? {
        Lookup::Record(r) => Ok(Json(*r)),
        Lookup::Rejected { code, height } => Err(not_found(
            "RECORD_REJECTED",
            format!(
                "transaction {id} was committed at height {height} but rejected with {code}; it is not a record"
            ),
        )),
        Lookup::Unknown => Err(not_found("RECORD_NOT_FOUND", format!("no record {id}"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    member: Option<String>,
    kind: Option<String>,
    from_height: Option<u64>,
    to_height: Option<u64>,
    from_time: Option<String>,
    to_time: Option<String>,
    after: Option<u64>,
    limit: Option<usize>,
}

const KINDS: [&str; 13] = [
    "certificate_issue",
    "certificate_amend",
    "certificate_revoke",
    "clearance_decision",
    "aeo_status",
    "mra_propose",
    "mra_accept",
    "mra_withdraw",
    "submitter_key_register",
    "submitter_key_revoke",
    "membership_propose",
    "membership_approve",
    "evidence",
];

fn time(field: &'static str, value: Option<String>) -> Result<Option<Timestamp>, ApiError> {
    value
        .map(|t| {
            Timestamp::parse(&t).map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "BAD_QUERY",
                    format!("{field}: {e}"),
                )
            })
        })
        .transpose()
}

/// `GET /v1/records?member=&kind=&from_height=&to_height=&from_time=&to_time=&after=&limit=`
pub async fn records(
    State(s): State<ApiState>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<query::RecordPage>, ApiError> {
    if let Some(kind) = &p.kind
        && !KINDS.contains(&kind.as_str())
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_QUERY",
            format!(
                "kind {kind:?} is not a record kind; one of {}",
                KINDS.join(", ")
            ),
        ));
    }
    let filter = RecordFilter {
        member: p
            .member
            .map(|m| CountryCode::parse(&m))
            .transpose()
            .map_err(bad_id)?,
        kind: p.kind,
        from_height: p.from_height,
        to_height: p.to_height,
        from_time: time("from_time", p.from_time)?,
        to_time: time("to_time", p.to_time)?,
        after: p.after,
        limit: p.limit.unwrap_or(100),
    };
    let store = s.store.clone();
    let page = tokio::task::spawn_blocking(move || query::list(&store, &filter))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    Ok(Json(page))
}

/// `GET /v1/certificates/{issuer}/{number}`
pub async fn certificate(
    State(s): State<ApiState>,
    ApiPath((issuer, number)): ApiPath<(String, String)>,
) -> Result<Json<query::CertificateView>, ApiError> {
    let r = certificate_ref(&issuer, &number)?;
    query::certificate(&s.store, &r)
        .map_err(internal)?
        .map(Json)
        .ok_or_else(|| {
            not_found(
                "CERT_NOT_FOUND",
                format!("certificate {issuer} {number} is not on the ledger"),
            )
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AeoParams {
    recognised_by: Option<String>,
}

/// `GET /v1/aeo/{operator}?recognised_by=`
pub async fn aeo(
    State(s): State<ApiState>,
    ApiPath(operator): ApiPath<String>,
    ApiQuery(p): ApiQuery<AeoParams>,
) -> Result<Json<query::AeoView>, ApiError> {
    let operator = OperatorId::parse(&operator).map_err(bad_id)?;
    let member = p
        .recognised_by
        .map(|m| CountryCode::parse(&m))
        .transpose()
        .map_err(bad_id)?;
    query::aeo(&s.store, &operator, member.as_ref())
        .map_err(internal)?
        .map(Json)
        .ok_or_else(|| {
            not_found(
                "AEO_NOT_FOUND",
                format!("operator {operator} has no AEO status on the ledger"),
            )
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclarationParams {
    mrn: Option<String>,
    ucr: Option<String>,
}

/// `GET /v1/declarations?mrn=&ucr=`
pub async fn declaration(
    State(s): State<ApiState>,
    ApiQuery(p): ApiQuery<DeclarationParams>,
) -> Result<Json<query::DeclarationView>, ApiError> {
    let mrn = p.mrn.map(|m| Mrn::parse(&m)).transpose().map_err(bad_id)?;
    let ucr = p.ucr.map(|u| Ucr::parse(&u)).transpose().map_err(bad_id)?;
    if mrn.is_none() && ucr.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_QUERY",
            "give mrn, ucr, or both",
        ));
    }
    let view = query::declaration(&s.store, mrn.as_ref(), ucr.as_ref()).map_err(internal)?;
    if view.decisions.is_empty() {
        return Err(not_found(
            "DECLARATION_NOT_FOUND",
            "no decision on the ledger for this declaration".into(),
        ));
    }
    Ok(Json(view))
}

/// `GET /v1/members`: the members in force, changes adopted for later heights, and proposals.
pub async fn members(
    State(s): State<ApiState>,
) -> Result<Json<clearance_core::api::MembersView>, ApiError> {
    let head = s.store.head().map_err(internal)?;
    let view = crate::membership::view(&s.store, head.height + 1, head.time).map_err(internal)?;
    Ok(Json(view))
}

/// `GET /v1/members/{id}/mras`
pub async fn member_mras(
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let member = CountryCode::parse(&id).map_err(bad_id)?;
    let mras = query::mras(&s.store, &member).map_err(internal)?;
    Ok(Json(serde_json::json!({ "member": member, "mras": mras })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceParams {
    offender: Option<String>,
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /v1/evidence?offender=&after=&limit=`: committed evidence of equivocation, oldest first.
pub async fn evidence(
    State(s): State<ApiState>,
    ApiQuery(p): ApiQuery<EvidenceParams>,
) -> Result<Json<query::RecordPage>, ApiError> {
    let offender = p
        .offender
        .map(|m| CountryCode::parse(&m))
        .transpose()
        .map_err(bad_id)?;
    let store = s.store.clone();
    let limit = p.limit.unwrap_or(100);
    let page = tokio::task::spawn_blocking(move || {
        query::evidence(&store, offender.as_ref(), p.after, limit)
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    Ok(Json(page))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /v1/documents/{sha256}?after=&limit=`: the records that commit to a document, oldest first. A document
/// no record names gets an empty list: its absence is an answer, not an error.
pub async fn documents(
    State(s): State<ApiState>,
    ApiPath(sha256): ApiPath<String>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<query::RecordPage>, ApiError> {
    let sha256 = Hash32::from_hex(&sha256)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BAD_DOCUMENT_HASH", e))?;
    let store = s.store.clone();
    let limit = p.limit.unwrap_or(100);
    let page =
        tokio::task::spawn_blocking(move || query::documents(&store, &sha256, p.after, limit))
            .await
            .map_err(internal)?
            .map_err(internal)?;
    Ok(Json(page))
}

/// `GET /v1/submitters/{key}`: a submitter key's member, roles and state, and its last committed sequence.
pub async fn submitter(
    State(s): State<ApiState>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<clearance_core::api::SubmitterView>, ApiError> {
    let key = clearance_core::crypto::PublicKey::from_hex(&key)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BAD_KEY", e))?;
    let entry = clearance_core::rules::submitter(s.store.as_ref(), &key).ok_or_else(|| {
        not_found(
            "SUBMITTER_UNKNOWN",
            format!("submitter key {key} is not registered on this ledger"),
        )
    })?;
    Ok(Json(clearance_core::api::SubmitterView {
        key,
        member: entry.member,
        roles: entry.roles,
        active: entry.active,
        last_sequence: clearance_core::rules::last_sequence(s.store.as_ref(), &key),
    }))
}
