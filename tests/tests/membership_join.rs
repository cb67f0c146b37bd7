//! A measurement, not a default test: how long a member admitted into a large ledger takes from starting its
//! node to voting. It loads `CLEARANCE_JOIN_RECORDS` records (default 1,000,000) into a 4-member cluster, admits
//! a fifth member, starts its node (it syncs from genesis as a follower) and times its way to its first vote.
//!
//! Run with release binaries (the figure is meant for docs/performance.md):
//! `cargo test --release -p clearance-tests --test membership_join -- --ignored --nocapture`

use clearance_core::Hash32;
use clearance_core::ids::{CountryCode, Text};
use clearance_core::record::*;
use clearance_core::tx::SignedTx;
use clearance_genesis::keys::{KeyFile, KeyKind};
use clearance_tests::cluster::{Cluster, Submitter, get_json};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Records per batch request.
const BATCH: usize = 64;

fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}

/// POSTs `txs` as one batch (length-prefixed frames); returns each transaction's status and code.
fn submit_batch(api: &str, txs: &[SignedTx]) -> Vec<(String, Option<String>)> {
    let mut body = Vec::new();
    for tx in txs {
        let bytes = tx.to_bytes();
        body.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        body.extend_from_slice(&bytes);
    }
    let answer: Value = match ureq::post(&format!("{api}/v1/txs/batch"))
        .set("Content-Type", "application/octet-stream")
        .send_bytes(&body)
    {
        Ok(resp) => resp.into_json().unwrap(),
        Err(ureq::Error::Status(_, resp)) => resp.into_json().unwrap(),
        Err(e) => panic!("batch to {api}: {e}"),
    };
    answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("batch answer: {answer}"))
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap_or("").to_string(),
                r["code"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// Sends `count` certificates signed by `submitter` to `api`, in order, waiting while the mempool is full.
fn load(api: String, mut submitter: Submitter, first: u64, count: u64) {
    let mut next = first;
    let end = first + count;
    let mut pending: Vec<SignedTx> = Vec::new();
    while next < end || !pending.is_empty() {
        while pending.len() < BATCH && next < end {
            pending.push(submitter.certificate(next));
            next += 1;
        }
        let results = submit_batch(&api, &pending);
        let refused = results.iter().position(|(status, _)| status != "pending");
        match refused {
            None => pending.clear(),
            Some(i) => {
                let code = results[i].1.clone().unwrap_or_default();
                // Full, or this key's sequence too far ahead of its last committed one: wait for commits.
                assert!(
                    [
                        "MEMPOOL_FULL",
                        "BAD_SEQUENCE",
                        "TX_DUPLICATE",
                        "SEQUENCE_TAKEN"
                    ]
                    .contains(&code.as_str()),
                    "refused: {code}"
                );
                // What was admitted stays admitted; the rest is sent again once the mempool drains.
                pending.drain(..i);
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[test]
#[ignore = "a measurement of several minutes: run it by name with --ignored"]
fn time_for_a_member_admitted_into_a_large_ledger_to_vote() {
    let records: u64 = std::env::var("CLEARANCE_JOIN_RECORDS")
        .ok()
        .map_or(1_000_000, |v| {
            v.parse().expect("CLEARANCE_JOIN_RECORDS is a number")
        });
    let mut cluster = Cluster::start(4);
    let started = Instant::now();
    let per_member = records / 4;
    let loaders: Vec<_> = (0..4)
        .map(|i| {
            let api = cluster.nodes[i].api.clone();
            let submitter = cluster.submitter(i, "agency");
            std::thread::spawn(move || load(api, submitter, 1, per_member))
        })
        .collect();
    for l in loaders {
        l.join().expect("a loader");
    }
    cluster.wait_until("every record committed", Duration::from_secs(600), |c| {
        c.status(0)
            .is_some_and(|s| s["log_size"].as_u64().unwrap_or(0) >= 4 * per_member)
    });
    let loaded = started.elapsed();
    let head = cluster.height(0).unwrap();
    println!(
        "loaded {} records in {:.0} s ({:.0}/s), head {head}",
        4 * per_member,
        loaded.as_secs_f64(),
        (4 * per_member) as f64 / loaded.as_secs_f64()
    );

    // The admission: proposed and approved (3 of 4) before the new node starts.
    let tj = cluster.add_node("TJ");
    let home = cluster.home(tj).to_path_buf();
    let validator = KeyFile::load(&home.join("validator_key.json"), KeyKind::Validator).unwrap();
    let network = KeyFile::load(&home.join("node_key.json"), KeyKind::Network).unwrap();
    let port = cluster.nodes[tj].p2p_port;
    let mut admins: Vec<Submitter> = (0..3).map(|i| cluster.submitter(i, "admin")).collect();
    let proposal = admins[0].sign(Record::MembershipPropose(MembershipPropose {
        proposer: cc("KZ"),
        change: MembershipChange::Admit(Admission {
            member: MemberInfo {
                id: cc("TJ"),
                name: Text::parse("Customs Service of Tajikistan").unwrap(),
                validator_key: validator.public_key(),
                peer_id: network.peer_key(),
                addresses: vec![Text::parse(&format!("/ip4/127.0.0.1/tcp/{port}")).unwrap()],
            },
            submitter_key: KeyFile::generate(KeyKind::Submitter).unwrap().public_key(),
        }),
        reason: Text::parse("Tajikistan joins").unwrap(),
    }));
    let id: Hash32 = proposal.id();
    let mut txs = vec![(0, proposal)];
    for (i, admin) in admins.iter_mut().enumerate().skip(1) {
        let member = admin.member.clone();
        txs.push((
            i,
            admin.sign(Record::MembershipApprove(MembershipApprove {
                proposal: id,
                member,
            })),
        ));
    }
    for (i, tx) in txs {
        let (code, body) = cluster.submit(i, &tx);
        assert_eq!(code, 202, "{body}");
        cluster.wait_until("committed", Duration::from_secs(60), |c| {
            c.tx_status(0, &tx.id())
                .is_some_and(|s| s["status"] == "accepted")
        });
    }

    // TJ's node starts now; the clock runs until its status says it votes, at the others' height.
    let start = Instant::now();
    cluster.start_node(tj);
    let mut n = 10_000_000;
    let mut agency = cluster.submitter(0, "agency");
    cluster.wait_until("TJ votes", Duration::from_secs(600), |c| {
        n += 1;
        let _ = c.submit(0, &agency.certificate(n));
        let Some(s) = c.status(tj) else {
            return false;
        };
        s["member"] == "TJ"
            && c.height(0)
                .is_some_and(|h| s["height"].as_u64().unwrap_or(0) + 1 >= h)
    });
    let to_vote = start.elapsed();
    let status = get_json(&format!("{}/v1/status", cluster.nodes[tj].api)).unwrap();
    println!(
        "TJ: from starting its node to voting {:.1} s over {} records ({:.0} records/s synced), height {}",
        to_vote.as_secs_f64(),
        status["log_size"],
        status["log_size"].as_u64().unwrap_or(0) as f64 / to_vote.as_secs_f64(),
        status["height"]
    );
}
