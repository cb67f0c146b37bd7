//! # clearance-client
//!
//! What agencies and their systems run: a typed async SDK over a node's HTTP API ([`Client`]) that builds and
//! signs transactions locally ([`Signer`]), submits them, waits for commit, queries and streams events; and the
//! `clearance` CLI built on it.
//!
//! It never opens a database and never joins the peer-to-peer network. Keys stay on the caller's machine:
//! only signed transactions leave it.

mod sse;

pub use sse::EventItem;

use clearance_core::Hash32;
use clearance_core::api::{
    AeoView, BatchItem, BatchSubmitted, CertificateView, DeclarationView, ErrorBody, RecordPage,
    RecordView, Submitted, SubmitterView, TxStatus,
};
use clearance_core::crypto::{PublicKey, SecretKey};
use clearance_core::ids::{CertificateNumber, CountryCode, Mrn, OperatorId, Ucr};
use clearance_core::record::{DeclarationId, Record};
use clearance_core::tx::{SignedTx, TxBody};
use futures::Stream;
use serde::de::DeserializeOwned;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the node at {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The node answered with an error body.
    #[error("{code}: {message} (HTTP {status})")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("unexpected answer from {url}: {detail}")]
    Decode { url: String, detail: String },
    #[error("transaction {id} was not committed within {waited:?}; it may still be")]
    Timeout { id: Hash32, waited: Duration },
    #[error("key file {path}: {detail}")]
    Key { path: String, detail: String },
    /// Refused before sending: a batch the node's API cannot take.
    #[error("batch: {detail}")]
    Batch { detail: String },
}

impl ClientError {
    /// The node's error code, for an error answer.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// Filters of a record listing; see `GET /v1/records`.
#[derive(Debug, Clone, Default)]
pub struct RecordQuery {
    pub member: Option<CountryCode>,
    pub kind: Option<String>,
    pub from_height: Option<u64>,
    pub to_height: Option<u64>,
    pub from_time: Option<String>,
    pub to_time: Option<String>,
    pub after: Option<u64>,
    pub limit: Option<usize>,
}

/// Filters of the event stream; see `GET /v1/events`.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub kind: Option<String>,
    pub member: Option<CountryCode>,
    pub operator: Option<OperatorId>,
}

/// A node's HTTP API.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client of the node at `base`, such as `http://127.0.0.1:26601`.
    pub fn new(base: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn answer<T: DeserializeOwned>(&self, url: &str, resp: reqwest::Response) -> Result<T> {
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|source| ClientError::Transport {
                url: url.to_string(),
                source,
            })?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(e) => ClientError::Api {
                    status: status.as_u16(),
                    code: e.code,
                    message: e.message,
                },
                Err(_) => ClientError::Api {
                    status: status.as_u16(),
                    code: "HTTP_ERROR".into(),
                    message: String::from_utf8_lossy(&bytes).into_owned(),
                },
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            url: url.to_string(),
            detail: e.to_string(),
        })
    }

    /// Sends a request; a failure to reach the node names the URL.
    async fn send(url: &str, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        request
            .send()
            .await
            .map_err(|source| ClientError::Transport {
                url: url.to_string(),
                source,
            })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        let url = format!("{}{path}", self.base);
        let request = self
            .http
            .get(&url)
            .query(query)
            .timeout(Duration::from_secs(30));
        let resp = Self::send(&url, request).await?;
        self.answer(&url, resp).await
    }

    /// `GET /v1/status`, as JSON.
    pub async fn status(&self) -> Result<serde_json::Value> {
        self.get("/v1/status", &[]).await
    }

    /// The chain id the node serves.
    pub async fn chain_id(&self) -> Result<Hash32> {
        let status = self.status().await?;
        status["chain_id"]
            .as_str()
            .and_then(|s| Hash32::from_hex(s).ok())
            .ok_or_else(|| ClientError::Decode {
                url: format!("{}/v1/status", self.base),
                detail: "no chain_id".into(),
            })
    }

    /// Submits a signed transaction; the answer means the node's mempool admitted it.
    pub async fn submit(&self, tx: &SignedTx) -> Result<Submitted> {
        let url = format!("{}/v1/txs", self.base);
        let request = self
            .http
            .post(&url)
            .header("Content-Type", "application/octet-stream")
            .body(tx.to_bytes())
            .timeout(Duration::from_secs(30));
        let resp = Self::send(&url, request).await?;
        self.answer(&url, resp).await
    }

    /// Submits up to 256 signed transactions in one request (`POST /v1/txs/batch`). The answer has one item per
    /// transaction, in order: each was admitted (`pending`) or refused with its own code.
    pub async fn submit_batch(&self, txs: &[SignedTx]) -> Result<Vec<BatchItem>> {
        let url = format!("{}/v1/txs/batch", self.base);
        let mut body = Vec::new();
        for (i, tx) in txs.iter().enumerate() {
            let bytes = tx.to_bytes();
            let len = u32::try_from(bytes.len()).map_err(|_| ClientError::Batch {
                detail: format!(
                    "transaction {i} is {} bytes, too long for a frame",
                    bytes.len()
                ),
            })?;
            body.extend_from_slice(&len.to_be_bytes());
            body.extend_from_slice(&bytes);
        }
        let request = self
            .http
            .post(&url)
            .header("Content-Type", "application/octet-stream")
            .body(body)
            .timeout(Duration::from_secs(30));
        let resp = Self::send(&url, request).await?;
        let answer: BatchSubmitted = self.answer(&url, resp).await?;
        Ok(answer.results)
    }

    pub async fn tx(&self, id: &Hash32) -> Result<TxStatus> {
        self.get(&format!("/v1/txs/{id}"), &[]).await
    }

    /// Polls until the transaction is committed (accepted or rejected) or `timeout` passes.
    pub async fn wait(&self, id: &Hash32, timeout: Duration) -> Result<TxStatus> {
        let start = Instant::now();
        loop {
            let status = self.tx(id).await?;
            if status.status == "accepted" || status.status == "rejected" {
                return Ok(status);
            }
            if start.elapsed() >= timeout {
                return Err(ClientError::Timeout {
                    id: *id,
                    waited: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `GET /v1/proofs/records/{id}`: a proof bundle to verify offline with `clearance_core::audit`.
    pub async fn proof(&self, id: &Hash32) -> Result<clearance_core::audit::ProofBundle> {
        self.get(&format!("/v1/proofs/records/{id}"), &[]).await
    }

    /// `GET /v1/checkpoint`: the node's certified head.
    pub async fn checkpoint(&self) -> Result<clearance_core::audit::Checkpoint> {
        self.get("/v1/checkpoint", &[]).await
    }

    /// `GET /v1/proofs/consistency`: the log at height `to` (the head if `None`) extends the log at `from`.
    pub async fn consistency(
        &self,
        from: u64,
        to: Option<u64>,
    ) -> Result<clearance_core::audit::ConsistencyProof> {
        let mut query = vec![("from", from.to_string())];
        if let Some(to) = to {
            query.push(("to", to.to_string()));
        }
        self.get("/v1/proofs/consistency", &query).await
    }

    pub async fn record(&self, id: &Hash32) -> Result<RecordView> {
        self.get(&format!("/v1/records/{id}"), &[]).await
    }

    pub async fn records(&self, q: &RecordQuery) -> Result<RecordPage> {
        let mut query = Vec::new();
        let mut add = |k, v: Option<String>| {
            if let Some(v) = v {
                query.push((k, v));
            }
        };
        add("member", q.member.as_ref().map(|m| m.to_string()));
        add("kind", q.kind.clone());
        add("from_height", q.from_height.map(|v| v.to_string()));
        add("to_height", q.to_height.map(|v| v.to_string()));
        add("from_time", q.from_time.clone());
        add("to_time", q.to_time.clone());
        add("after", q.after.map(|v| v.to_string()));
        add("limit", q.limit.map(|v| v.to_string()));
        self.get("/v1/records", &query).await
    }

    pub async fn certificate(
        &self,
        issuer: &CountryCode,
        number: &CertificateNumber,
    ) -> Result<CertificateView> {
        self.get(&format!("/v1/certificates/{issuer}/{number}"), &[])
            .await
    }

    pub async fn aeo(
        &self,
        operator: &OperatorId,
        recognised_by: Option<&CountryCode>,
    ) -> Result<AeoView> {
        let query: Vec<(&str, String)> = recognised_by
            .map(|m| vec![("recognised_by", m.to_string())])
            .unwrap_or_default();
        self.get(&format!("/v1/aeo/{operator}"), &query).await
    }

    pub async fn declaration(
        &self,
        mrn: Option<&Mrn>,
        ucr: Option<&Ucr>,
    ) -> Result<DeclarationView> {
        let mut query = Vec::new();
        if let Some(m) = mrn {
            query.push(("mrn", m.to_string()));
        }
        if let Some(u) = ucr {
            query.push(("ucr", u.to_string()));
        }
        self.get("/v1/declarations", &query).await
    }

    /// `GET /v1/members`: the members in force, lists adopted for later heights, and proposals.
    /// Committed evidence of equivocation, oldest first: against `offender` only, or all.
    pub async fn evidence(
        &self,
        offender: Option<&CountryCode>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<RecordPage> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(m) = offender {
            query.push(("offender", m.to_string()));
        }
        if let Some(a) = after {
            query.push(("after", a.to_string()));
        }
        self.get("/v1/evidence", &query).await
    }

    /// `GET /v1/documents/{sha256}`: the records that commit to a document, oldest first.
    pub async fn documents(&self, sha256: &Hash32, after: Option<u64>) -> Result<RecordPage> {
        let mut query = vec![("limit", "500".to_string())];
        if let Some(a) = after {
            query.push(("after", a.to_string()));
        }
        self.get(&format!("/v1/documents/{sha256}"), &query).await
    }

    /// `GET /v1/proofs/status/...`: where a certificate, AEO standing or decision stands at the node's head,
    /// with its proof.
    pub async fn status_proof(
        &self,
        subject: &clearance_core::audit::StatusSubject,
        recognised_by: Option<&CountryCode>,
    ) -> Result<clearance_core::audit::StatusFile> {
        use clearance_core::audit::StatusSubject;
        let path = match subject {
            StatusSubject::Certificate(r) => {
                format!("/v1/proofs/status/certificates/{}/{}", r.issuer, r.number)
            }
            StatusSubject::Aeo {
                operator,
                programme,
            } => format!("/v1/proofs/status/aeo/{operator}/{programme}"),
            StatusSubject::Decision { record } => format!("/v1/proofs/status/decisions/{record}"),
            StatusSubject::Declaration {
                declaration,
                member,
            } => match declaration {
                DeclarationId::Mrn(mrn) => {
                    format!(
                        "/v1/proofs/status/declarations/{member}/mrn/{}",
                        mrn.as_str()
                    )
                }
                // A UCR may hold '/' and '+', which a path segment must carry encoded.
                DeclarationId::Ucr(ucr) => format!(
                    "/v1/proofs/status/declarations/{member}/ucr/{}",
                    ucr.as_str().replace('+', "%2B").replace('/', "%2F")
                ),
            },
        };
        let query: Vec<(&str, String)> = recognised_by
            .map(|m| ("recognised_by", m.to_string()))
            .into_iter()
            .collect();
        self.get(&path, &query).await
    }

    pub async fn members(&self) -> Result<clearance_core::api::MembersView> {
        self.get("/v1/members", &[]).await
    }

    pub async fn submitter(&self, key: &PublicKey) -> Result<SubmitterView> {
        self.get(&format!("/v1/submitters/{key}"), &[]).await
    }

    /// Committed records as they happen, filtered.
    pub async fn events(
        &self,
        q: &EventQuery,
    ) -> Result<impl Stream<Item = Result<EventItem>> + use<>> {
        let url = format!("{}/v1/events", self.base);
        let mut query = Vec::new();
        if let Some(k) = &q.kind {
            query.push(("kind", k.clone()));
        }
        if let Some(m) = &q.member {
            query.push(("member", m.to_string()));
        }
        if let Some(o) = &q.operator {
            query.push(("operator", o.to_string()));
        }
        let resp = Self::send(&url, self.http.get(&url).query(&query)).await?;
        if !resp.status().is_success() {
            return Err(self
                .answer::<serde_json::Value>(&url, resp)
                .await
                .err()
                .unwrap_or(ClientError::Decode {
                    url,
                    detail: "error status with a success body".into(),
                }));
        }
        Ok(sse::records(url, resp.bytes_stream()))
    }
}

/// Signs transactions for one submitter key, numbering them from the ledger's last committed sequence.
pub struct Signer {
    key: SecretKey,
    chain_id: Hash32,
    next_sequence: u64,
    /// The member the ledger registered the key for, once asked (`connect`).
    member: Option<clearance_core::ids::CountryCode>,
}

impl Signer {
    /// Loads a submitter key file and asks the node for the chain id and the key's next sequence number.
    pub async fn connect(client: &Client, key_file: &Path) -> Result<Signer> {
        let file = clearance_genesis::keys::KeyFile::load(
            key_file,
            clearance_genesis::keys::KeyKind::Submitter,
        )
        .map_err(|e| ClientError::Key {
            path: key_file.display().to_string(),
            detail: e.to_string(),
        })?;
        let chain_id = client.chain_id().await?;
        let view = client.submitter(&file.public_key()).await?;
        Ok(Signer {
            key: file.secret,
            chain_id,
            next_sequence: view.last_sequence + 1,
            member: Some(view.member),
        })
    }

    /// A signer that numbers from `next_sequence`, for callers that track sequences themselves.
    pub fn new(key: SecretKey, chain_id: Hash32, next_sequence: u64) -> Signer {
        Signer {
            key,
            chain_id,
            next_sequence,
            member: None,
        }
    }

    /// The member the key acts for, as the node reported it when the signer connected.
    pub fn member(&self) -> Option<&clearance_core::ids::CountryCode> {
        self.member.as_ref()
    }

    /// Asks the node again for the key's next sequence number, e.g. after a refused submission (which used none).
    pub async fn resync(&mut self, client: &Client) -> Result<()> {
        self.next_sequence = client
            .submitter(&self.key.public_key())
            .await?
            .last_sequence
            + 1;
        Ok(())
    }

    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// Signs `record` with the next sequence number.
    pub fn sign(&mut self, record: Record) -> SignedTx {
        let body = TxBody {
            chain_id: self.chain_id,
            submitter: self.key.public_key(),
            sequence: self.next_sequence,
            record,
        };
        self.next_sequence += 1;
        SignedTx::sign(&body, &self.key)
    }
}
