//! The HTTP API under random input: random bodies, content types, paths and query strings against the real
//! router, storage and mempool. Every answer must be a success or a 4xx with a JSON `{code, message}` body: never
//! a server error, never a framework's plain-text rejection. (It found the plain-text answers to badly encoded
//! paths, which the `ApiPath` extractor now turns into `BAD_PATH`.)

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clearance_core::SecretKey;
use clearance_core::genesis::{ConsensusParams, Genesis, GenesisSubmitter};
use clearance_core::ids::{ChainName, CountryCode, Text};
use clearance_core::peer::PeerKey;
use clearance_core::record::{MemberInfo, Role, Roles};
use clearance_core::time::Timestamp;
use clearance_node::api::{self, ApiState};
use clearance_node::driver::ApiRequest;
use clearance_node::mempool::Mempool;
use clearance_node::metrics::Metrics;
use clearance_node::storage::Store;
use proptest::prelude::*;
use std::sync::Arc;
use tower::ServiceExt;

fn genesis() -> Genesis {
    let ids = ["CN", "DE", "KZ", "UZ"];
    let key = |n: u8| SecretKey::from_seed([n; 32]);
    Genesis {
        chain_name: ChainName::parse("fuzz-chain").unwrap(),
        genesis_time: Timestamp::parse("2026-11-24T00:00:00Z").unwrap(),
        params: ConsensusParams::default(),
        members: ids
            .iter()
            .enumerate()
            .map(|(i, id)| MemberInfo {
                id: CountryCode::parse(id).unwrap(),
                name: Text::parse("Customs").unwrap(),
                validator_key: key(i as u8 + 1).public_key(),
                peer_id: PeerKey::from_key(key(i as u8 + 100).public_key()),
                addresses: vec![],
            })
            .collect(),
        submitters: ids
            .iter()
            .enumerate()
            .map(|(i, id)| GenesisSubmitter {
                member: CountryCode::parse(id).unwrap(),
                key: key(i as u8 + 60).public_key(),
                roles: Roles::from_roles(&Role::ALL),
                label: Text::parse("agency").unwrap(),
            })
            .collect(),
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    router: axum::Router,
    runtime: tokio::runtime::Runtime,
}

fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let genesis = genesis();
    let store = Arc::new(Store::open(dir.path(), &genesis).unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (driver, mut requests) = tokio::sync::mpsc::channel::<ApiRequest>(16);
    // The driver's admission path, with the real mempool over the real store.
    let pool_store = store.clone();
    let chain_id = genesis.chain_id();
    let ctx = clearance_core::rules::BlockContext::new(1, genesis.genesis_time, &genesis.params);
    runtime.spawn(async move {
        let mut pool = Mempool::new(chain_id, 1000, 1 << 24, 16 * 1024);
        while let Some(req) = requests.recv().await {
            match req {
                ApiRequest::Submit { bytes, tx, reply } => {
                    let committed = |id: &_| matches!(pool_store.tx_location(id), Ok(Some(_)));
                    let _ = reply.send(pool.admit_verified(
                        pool_store.as_ref(),
                        &ctx,
                        &committed,
                        &bytes,
                        *tx,
                        0,
                    ));
                }
                ApiRequest::SubmitBatch { txs, reply } => {
                    let committed = |id: &_| matches!(pool_store.tx_location(id), Ok(Some(_)));
                    let results = txs
                        .into_iter()
                        .map(|(bytes, tx)| {
                            pool.admit_verified(
                                pool_store.as_ref(),
                                &ctx,
                                &committed,
                                &bytes,
                                tx,
                                0,
                            )
                        })
                        .collect();
                    let _ = reply.send(results);
                }
                ApiRequest::IsPending { id, reply } => {
                    let _ = reply.send(pool.contains(&id));
                }
            }
        }
    });
    let status = clearance_node::status::Status {
        chain_id: chain_id.to_hex(),
        chain_name: "fuzz-chain".into(),
        moniker: "fuzz".into(),
        member: None,
        node_id: String::new(),
        height: 0,
        head_hash: String::new(),
        head_time: String::new(),
        log_size: 0,
        log_root: String::new(),
        state_root: String::new(),
        committed_txs: 0,
        consensus: clearance_node::status::ConsensusStatus {
            height: 1,
            round: 0,
            step: "propose".into(),
            waiting_for_txs: false,
        },
        peers: vec![],
        syncing: false,
        best_peer_height: 0,
        mempool_txs: 0,
        mempool_bytes: 0,
        validators: 4,
        members: vec![],
    };
    let (events, _) = tokio::sync::broadcast::channel(16);
    let router = api::router(
        ApiState {
            store,
            status: tokio::sync::watch::channel(status).1,
            driver,
            metrics: Arc::new(Metrics::default()),
            events,
            chain_id,
            keys: Default::default(),
        },
        64 * 1024,
    );
    Harness {
        _dir: dir,
        router,
        runtime,
    }
}

fn check(h: &Harness, req: Request<Body>) {
    let what = format!("{} {}", req.method(), req.uri());
    let resp = h.runtime.block_on(h.router.clone().oneshot(req)).unwrap();
    let status = resp.status();
    assert!(
        status.is_success() || status.is_client_error(),
        "{what}: HTTP {status}"
    );
    assert_eq!(
        resp.headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff"),
        "{what}: every answer, errors included, forbids content sniffing"
    );
    if status == StatusCode::OK && what.contains("/v1/events") {
        return;
    }
    let body = h
        .runtime
        .block_on(axum::body::to_bytes(resp.into_body(), 1 << 20))
        .unwrap();
    if status.is_client_error() {
        let v: serde_json::Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{what}: HTTP {status} body is not JSON ({e})"));
        assert!(
            v["code"].is_string() && v["message"].is_string(),
            "{what}: {v}"
        );
    }
}

const PATHS: [&str; 12] = [
    "/v1/txs/",
    "/v1/blocks/",
    "/v1/records/",
    "/v1/certificates/KZ/",
    "/v1/certificates/",
    "/v1/aeo/",
    "/v1/declarations?mrn=",
    "/v1/declarations?ucr=",
    "/v1/records?kind=",
    "/v1/records?member=",
    "/v1/submitters/",
    "/v1/members/",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_submissions_get_json_4xx(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        json in any::<bool>(),
    ) {
        let h = harness();
        let ct = if json { "application/json" } else { "application/octet-stream" };
        let req = Request::post("/v1/txs").header("content-type", ct).body(Body::from(body)).unwrap();
        check(&h, req);
    }

    #[test]
    fn random_batches_get_json_answers(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..8),
        lie in any::<Option<u32>>(),
        json in any::<bool>(),
    ) {
        let h = harness();
        let mut body = Vec::new();
        for frame in &frames {
            // Sometimes a length that does not match what follows.
            let len = lie.filter(|_| frame.len() % 3 == 0).unwrap_or(frame.len() as u32);
            body.extend_from_slice(&len.to_be_bytes());
            body.extend_from_slice(frame);
        }
        let ct = if json { "application/json" } else { "application/octet-stream" };
        let req = Request::post("/v1/txs/batch").header("content-type", ct).body(Body::from(body)).unwrap();
        check(&h, req);
    }

    #[test]
    fn random_paths_and_queries_get_json_answers(
        path in 0..PATHS.len(),
        tail in "[A-Za-z0-9%/&=?._-]{0,80}",
    ) {
        let h = harness();
        let uri = format!("{}{}", PATHS[path], tail);
        if let Ok(req) = Request::get(uri.as_str()).body(Body::empty()) {
            check(&h, req);
        }
    }
}

/// The web page and its files, the event stream, and a path that is none of them, answer under the same
/// headers as the API.
#[test]
fn web_files_events_and_unknown_paths_forbid_sniffing() {
    let h = harness();
    for path in [
        "/",
        "/app/app.js",
        "/verifier/verify.js",
        "/app/none.js",
        "/nothing/here",
        "/v1/events",
    ] {
        check(&h, Request::get(path).body(Body::empty()).unwrap());
    }
    let resp = h
        .runtime
        .block_on(
            h.router
                .clone()
                .oneshot(Request::get("/").body(Body::empty()).unwrap()),
        )
        .unwrap();
    let csp = resp.headers().get("content-security-policy");
    assert!(
        csp.and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("default-src 'self'")),
        "the page's CSP: {csp:?}"
    );
}

fn post_batch(h: &Harness, body: Vec<u8>) -> (StatusCode, serde_json::Value) {
    let req = Request::post("/v1/txs/batch")
        .header("content-type", "application/octet-stream")
        .body(Body::from(body))
        .unwrap();
    let resp = h.runtime.block_on(h.router.clone().oneshot(req)).unwrap();
    let status = resp.status();
    let body = h
        .runtime
        .block_on(axum::body::to_bytes(resp.into_body(), 1 << 20))
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

fn frames(txs: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    for tx in txs {
        body.extend_from_slice(&(tx.len() as u32).to_be_bytes());
        body.extend_from_slice(tx);
    }
    body
}

#[test]
fn a_batch_answers_per_transaction_and_refuses_only_what_it_cannot_split() {
    let h = harness();
    // Two frames that split but are not transactions: each refused on its own, in order.
    let (status, v) = post_batch(&h, frames(&[b"not a tx", b""]));
    assert_eq!(status, StatusCode::OK, "{v}");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{v}");
    for item in results {
        assert_eq!(item["status"], "refused", "{v}");
        assert_eq!(item["code"], "TX_MALFORMED", "{v}");
        assert!(
            item["message"].is_string() && item.get("tx_id").is_none(),
            "{v}"
        );
    }
    // A length that runs past the end, a partial length, an empty body, one frame too many.
    let mut past_end = frames(&[b"abc"]);
    past_end.truncate(past_end.len() - 1);
    for (body, status, code) in [
        (past_end, StatusCode::BAD_REQUEST, "BAD_BATCH"),
        (vec![0, 0, 1], StatusCode::BAD_REQUEST, "BAD_BATCH"),
        (Vec::new(), StatusCode::BAD_REQUEST, "BAD_BATCH"),
        (
            frames(&vec![&b"x"[..]; api::MAX_BATCH_TXS + 1]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "BATCH_TOO_LARGE",
        ),
    ] {
        let (got, v) = post_batch(&h, body);
        assert_eq!((got, v["code"].as_str().unwrap()), (status, code), "{v}");
        assert!(v["message"].is_string(), "{v}");
    }
    let (status, _) = post_batch(&h, frames(&vec![&b"x"[..]; api::MAX_BATCH_TXS]));
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn oversize_bodies_and_wrong_methods_get_json_errors() {
    let h = harness();
    let big = vec![0u8; 65 * 1024];
    let req = Request::post("/v1/txs")
        .header("content-type", "application/octet-stream")
        .body(Body::from(big))
        .unwrap();
    let resp = h.runtime.block_on(h.router.clone().oneshot(req)).unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        resp.headers().get("x-content-type-options"),
        Some(&axum::http::HeaderValue::from_static("nosniff"))
    );
    check(&h, Request::post("/v1/status").body(Body::empty()).unwrap());
    check(&h, Request::get("/v1/nope").body(Body::empty()).unwrap());
    check(
        &h,
        Request::post("/v1/txs")
            .header("content-type", "text/plain")
            .body(Body::from("hello"))
            .unwrap(),
    );
}

/// Percent-encodes everything but ASCII letters and digits, so that a generated identifier (a certificate number
/// with '/', a UCR with '+') reaches the node as itself.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The status of `GET uri`.
fn status_of(h: &Harness, uri: &str) -> (StatusCode, String) {
    let req = Request::get(uri).body(Body::empty()).unwrap();
    let resp = h.runtime.block_on(h.router.clone().oneshot(req)).unwrap();
    let status = resp.status();
    if uri.starts_with("/v1/events") && status == StatusCode::OK {
        return (status, String::new());
    }
    let body = h
        .runtime
        .block_on(axum::body::to_bytes(resp.into_body(), 1 << 20))
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Every string parameter of the OpenAPI document names an identifier schema with a pattern and lengths (or an
/// enum), and values generated from those patterns are accepted by the node: a client generated from the document
/// never sends an id the node refuses as malformed. Three schemas say more than a pattern can (an MRN's check
/// digit, a public key being a curve point, a timestamp's calendar); for them the document's example is sent.
#[test]
fn values_generated_from_the_openapi_patterns_are_accepted() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;
    let doc: serde_json::Value = serde_json::from_str(api::OPENAPI).unwrap();
    let schemas = &doc["components"]["schemas"];
    let h = harness();
    let mut runner = TestRunner::deterministic();
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let params = ops["get"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let schema_of = |p: &serde_json::Value| -> Option<(String, serde_json::Value)> {
            let name = p["schema"]["$ref"]
                .as_str()?
                .rsplit('/')
                .next()?
                .to_string();
            Some((name.clone(), schemas[&name].clone()))
        };
        for p in &params {
            if p["schema"]["type"] == "string" {
                panic!(
                    "{path} {}: a plain string; give it an identifier schema",
                    p["name"]
                );
            }
        }
        let example = |p: &serde_json::Value| -> String {
            match schema_of(p) {
                Some((_, s)) => s["example"].as_str().unwrap().to_string(),
                None => "1".to_string(),
            }
        };
        for tested in &params {
            let Some((name, schema)) = schema_of(tested) else {
                continue;
            };
            if schema["enum"].is_null() {
                assert!(
                    schema["pattern"].is_string()
                        && schema["minLength"].is_u64()
                        && schema["maxLength"].is_u64(),
                    "{name} lacks a pattern or lengths"
                );
            }
            let values: Vec<String> = match (name.as_str(), schema["pattern"].as_str()) {
                ("Mrn" | "PublicKey" | "Timestamp", _) | (_, None) => {
                    let mut v = vec![schema["example"].as_str().unwrap().to_string()];
                    v.extend(
                        schema["enum"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|e| e.as_str().unwrap().to_string()),
                    );
                    v
                }
                (_, Some(pattern)) => {
                    let anchored = pattern.trim_start_matches('^').trim_end_matches('$');
                    let strategy = proptest::string::string_regex(anchored).unwrap();
                    (0..24)
                        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
                        .collect()
                }
            };
            for value in values {
                let min = schema["minLength"].as_u64().unwrap_or(0) as usize;
                let max = schema["maxLength"].as_u64().unwrap_or(u64::MAX) as usize;
                assert!(
                    (min..=max).contains(&value.len()),
                    "{name}: {value:?} outside its lengths"
                );
                let mut uri = path.clone();
                let mut query = Vec::new();
                for p in &params {
                    let v = if p == tested {
                        value.clone()
                    } else {
                        example(p)
                    };
                    let n = p["name"].as_str().unwrap();
                    if p["in"] == "path" {
                        uri = uri.replace(&format!("{{{n}}}"), &encode(&v));
                    } else if p == tested {
                        query.push(format!("{n}={}", encode(&v)));
                    }
                }
                if !query.is_empty() {
                    uri = format!("{uri}?{}", query.join("&"));
                }
                let (status, body) = status_of(&h, &uri);
                assert_ne!(
                    status,
                    StatusCode::BAD_REQUEST,
                    "{uri}: the node refuses a value the document allows: {body}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 300, "{checked} values");
}
