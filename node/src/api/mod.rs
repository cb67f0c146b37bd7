//! The HTTP API. Errors are JSON bodies `{ "code": ..., "message": ... }` with a stable code and an HTTP status
//! that says whose fault it was. Submissions go to the driver, which owns the mempool; reads go to storage.

mod events;
mod extract;
mod proofs;
mod queries;
mod submit;
mod web;

use extract::ApiPath;

pub use crate::requests::EventSender;
pub use events::EVENT_BUFFER;
pub use submit::MAX_BATCH_TXS;

use crate::metrics::Metrics;
use crate::requests::ApiRequest;
use crate::status::Status;
use crate::storage::Store;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clearance_core::Hash32;
use clearance_core::api::{ErrorBody, TxStatus};
use clearance_core::block::Outcome;
use clearance_core::tx::SignedTx;
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<Store>,
    pub status: watch::Receiver<Status>,
    pub driver: mpsc::Sender<ApiRequest>,
    pub metrics: Arc<Metrics>,
    pub events: EventSender,
    pub chain_id: Hash32,
    /// Submitter keys already validated: the node's one cache, shared with gossip and the mempool.
    pub keys: crate::key_cache::SharedKeys,
}

/// Every route, as the OpenAPI document must list it (checked by a test).
pub const ROUTES: [(&str, &str); 27] = [
    ("get", "/v1/submitters/{key}"),
    ("get", "/v1/status"),
    ("post", "/v1/txs"),
    ("post", "/v1/txs/batch"),
    ("get", "/v1/txs/{id}"),
    ("get", "/v1/blocks/{height}"),
    ("get", "/v1/records"),
    ("get", "/v1/records/{id}"),
    ("get", "/v1/certificates/{issuer}/{number}"),
    ("get", "/v1/aeo/{operator}"),
    ("get", "/v1/declarations"),
    ("get", "/v1/members"),
    ("get", "/v1/members/{id}/mras"),
    ("get", "/v1/evidence"),
    ("get", "/v1/documents/{sha256}"),
    ("get", "/v1/events"),
    ("get", "/v1/openapi.json"),
    ("get", "/metrics"),
    ("get", "/v1/health"),
    ("get", "/v1/proofs/records/{id}"),
    ("get", "/v1/proofs/consistency"),
    ("get", "/v1/proofs/status/certificates/{issuer}/{number}"),
    ("get", "/v1/proofs/status/aeo/{operator}/{programme}"),
    ("get", "/v1/proofs/status/decisions/{id}"),
    ("get", "/v1/proofs/status/declarations/{member}/mrn/{mrn}"),
    ("get", "/v1/proofs/status/declarations/{member}/ucr/{ucr}"),
    ("get", "/v1/checkpoint"),
];

/// The OpenAPI 3 document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

pub fn router(state: ApiState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/txs", post(submit::submit))
        .route("/v1/txs/batch", post(submit::submit_batch))
        .route("/v1/txs/{id}", get(tx_status))
        .route("/v1/blocks/{height}", get(block))
        .route("/v1/records", get(queries::records))
        .route("/v1/records/{id}", get(queries::record))
        .route(
            "/v1/certificates/{issuer}/{number}",
            get(queries::certificate),
        )
        .route("/v1/aeo/{operator}", get(queries::aeo))
        .route("/v1/declarations", get(queries::declaration))
        .route("/v1/members", get(queries::members))
        .route("/v1/submitters/{key}", get(queries::submitter))
        .route("/v1/members/{id}/mras", get(queries::member_mras))
        .route("/v1/evidence", get(queries::evidence))
        .route("/v1/documents/{sha256}", get(queries::documents))
        .route("/v1/events", get(events::events))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/health", get(health))
        .route("/v1/proofs/records/{id}", get(proofs::record_bundle))
        .route("/v1/proofs/consistency", get(proofs::consistency))
        .route(
            "/v1/proofs/status/certificates/{issuer}/{number}",
            get(proofs::certificate_status),
        )
        .route(
            "/v1/proofs/status/aeo/{operator}/{programme}",
            get(proofs::aeo_status),
        )
        .route(
            "/v1/proofs/status/decisions/{id}",
            get(proofs::decision_status),
        )
        .route(
            "/v1/proofs/status/declarations/{member}/mrn/{mrn}",
            get(proofs::declaration_status_by_mrn),
        )
        .route(
            "/v1/proofs/status/declarations/{member}/ucr/{ucr}",
            get(proofs::declaration_status_by_ucr),
        )
        .route("/v1/checkpoint", get(proofs::checkpoint))
        .route("/metrics", get(metrics))
        .route(web::PATHS[0], get(web::asset))
        .route(web::PATHS[1], get(web::asset))
        .route(web::PATHS[2], get(web::asset))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), timed))
        .layer(axum::middleware::from_fn(no_sniff))
        .with_state(state)
}

/// Every answer, errors included, is to be read as the type it declares: a browser must not guess that an error's
/// JSON, which can echo what a client sent, is HTML or a script.
async fn no_sniff(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(req).await;
    response.headers_mut().insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    response
}

/// Observes how long each request took to answer (`clearance_api_request_duration_seconds`).
async fn timed(
    State(s): State<ApiState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let start = std::time::Instant::now();
    let response = next.run(req).await;
    s.metrics
        .histograms
        .api_request_duration_seconds
        .observe_duration(start.elapsed());
    response
}

/// An API error: HTTP status, stable code, human sentence.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl ToString) -> ApiError {
        ApiError {
            status,
            code,
            message: message.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                code: self.code.to_string(),
                message: self.message,
            }),
        )
            .into_response()
    }
}

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "NODE_STOPPING",
        "the node is shutting down",
    )
}

pub(crate) fn internal(e: impl ToString) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e)
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this route does not accept that method",
    )
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route")
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Liveness for load balancers and process supervisors: the API answers and the node is running.
async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn status(State(s): State<ApiState>) -> Json<Status> {
    Json(s.status.borrow().clone())
}

async fn metrics(State(s): State<ApiState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}

async fn tx_status(
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TxStatus>, ApiError> {
    let id = Hash32::from_hex(&id)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BAD_TX_ID", e))?;
    let mut out = TxStatus {
        tx_id: id,
        status: "unknown".into(),
        height: None,
        index: None,
        log_index: None,
        code: None,
    };
    if let Some(loc) = s.store.tx_location(&id).map_err(internal)? {
        out.height = Some(loc.height);
        out.index = Some(loc.index);
        match s
            .store
            .tx_result(&loc)
            .map_err(internal)?
            .map(|r| r.outcome)
        {
            Some(Outcome::Accepted { log_index }) => {
                out.status = "accepted".into();
                out.log_index = Some(log_index);
            }
            Some(Outcome::Rejected { code }) => {
                out.status = "rejected".into();
                out.code = Some(code.to_string());
            }
            None => return Err(internal("a committed transaction has no stored result")),
        }
        return Ok(Json(out));
    }
    let (reply, answer) = oneshot::channel();
    s.driver
        .send(ApiRequest::IsPending { id, reply })
        .await
        .map_err(|_| unavailable())?;
    if answer.await.map_err(|_| unavailable())? {
        out.status = "pending".into();
    }
    Ok(Json(out))
}

#[derive(Serialize)]
struct BlockView {
    height: u64,
    hash: Hash32,
    header: clearance_core::block::Header,
    tx_ids: Vec<Hash32>,
    /// The members whose precommits this node holds as the block's commit certificate.
    certificate: CertificateView,
}

#[derive(Serialize)]
struct CertificateView {
    round: u32,
    signers: Vec<String>,
}

/// `GET /v1/blocks/{height}`: a committed block's header, transaction ids and certificate signers.
async fn block(
    State(s): State<ApiState>,
    ApiPath(height): ApiPath<String>,
) -> Result<Json<BlockView>, ApiError> {
    let height: u64 = height.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_HEIGHT",
            "height must be an unsigned integer",
        )
    })?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "BLOCK_NOT_FOUND",
            format!("no committed block at height {height}"),
        )
    };
    let block = s
        .store
        .block(height)
        .map_err(internal)?
        .ok_or_else(not_found)?;
    let cert = s
        .store
        .certificate(height)
        .map_err(internal)?
        .ok_or_else(not_found)?;
    let view = block.verify_body().map_err(internal)?;
    let tx_ids = block
        .txs
        .iter()
        .map(|b| SignedTx::from_bytes(b.as_slice()).map(|t| t.id()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(internal)?;
    let signers = cert
        .precommits
        .iter()
        .filter_map(|v| {
            clearance_core::encoding::decode::<clearance_core::vote::Vote>(
                v.vote.as_slice(),
                clearance_core::encoding::limit::VOTE,
                "vote",
            )
            .ok()
            .map(|v| v.validator.to_string())
        })
        .collect();
    Ok(Json(BlockView {
        height,
        hash: view.hash,
        header: view.header,
        tx_ids,
        certificate: CertificateView {
            round: cert.round,
            signers,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::{OPENAPI, ROUTES};
    use std::collections::BTreeSet;

    /// The OpenAPI document lists exactly the routes the router serves.
    #[test]
    fn openapi_matches_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                documented.insert((method.clone(), path.clone()));
            }
        }
        let served: BTreeSet<_> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(documented, served);
        // Each path appears once in ROUTES and once in a `.route(...)` call.
        let source = include_str!("mod.rs");
        for (_, path) in ROUTES {
            let quoted = format!("\"{path}\"");
            assert!(source.matches(&quoted).count() >= 2, "{path} is not routed");
        }
    }
}
