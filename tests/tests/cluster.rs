//! Clusters of real `clearance-node` processes: commit, crash and restart, loss of quorum, full restart.

use clearance_core::Hash32;
use clearance_tests::cluster::Cluster;
use std::collections::BTreeSet;
use std::time::Duration;

const COMMIT_WAIT: Duration = Duration::from_secs(60);

fn accepted(cluster: &Cluster, node: usize, id: &Hash32) -> bool {
    cluster
        .tx_status(node, id)
        .is_some_and(|s| s["status"] == "accepted")
}

fn head(cluster: &Cluster, node: usize) -> Option<(u64, String)> {
    let s = cluster.status(node)?;
    Some((s["height"].as_u64()?, s["head_hash"].as_str()?.to_string()))
}

/// Every node in `nodes` reports a height of at least `height`, and they agree on the block at the lowest
/// height any of them reports (the others may be one block ahead while the last commit propagates).
fn wait_same_head(cluster: &Cluster, nodes: &[usize]) -> (u64, String) {
    let mut agreed = None;
    cluster.wait_until("all nodes at the same head", COMMIT_WAIT, |c| {
        let heads: Vec<_> = nodes.iter().map(|&i| head(c, i)).collect();
        if heads.iter().any(Option::is_none) {
            return false;
        }
        let heads: BTreeSet<_> = heads.into_iter().flatten().collect();
        if heads.len() == 1 {
            agreed = heads.into_iter().next();
            return true;
        }
        false
    });
    agreed.expect("set when the wait succeeds")
}

#[test]
fn four_nodes_commit_submitted_transactions_and_agree() {
    let cluster = Cluster::start(4);
    let mut ids = Vec::new();
    for node in 0..4 {
        let mut submitter = cluster.submitter(node, "agency");
        for n in 0..5 {
            let tx = submitter.certificate(n);
            let (code, body) = cluster.submit(node, &tx);
            assert_eq!(code, 202, "submit to node {node}: {body}");
            assert_eq!(body["tx_id"], tx.id().to_hex());
            ids.push(tx.id());
        }
    }
    cluster.wait_until(
        "every transaction accepted on every node",
        COMMIT_WAIT,
        |c| {
            ids.iter()
                .all(|id| (0..4).all(|node| accepted(c, node, id)))
        },
    );
    let (height, _) = wait_same_head(&cluster, &[0, 1, 2, 3]);
    assert!(height >= 1);
    // Same log position for the same transaction everywhere.
    for id in &ids {
        let first = cluster.tx_status(0, id).unwrap();
        for node in 1..4 {
            assert_eq!(cluster.tx_status(node, id).unwrap(), first);
        }
    }
    let status = cluster.status(0).unwrap();
    assert_eq!(status["log_size"].as_u64(), Some(20));
    assert_eq!(status["peers"].as_array().map(Vec::len), Some(3));

    // A replayed transaction is refused with a stable code, and a garbage body too.
    let mut replay = cluster.submitter(0, "agency");
    let (code, body) = cluster.submit(0, &replay.certificate(0));
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["code"], "TX_ALREADY_COMMITTED");
    let (code, body) = clearance_tests::cluster::post_bytes(
        &format!("{}/v1/txs", cluster.nodes[0].api),
        b"not a transaction",
    );
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["code"], "TX_MALFORMED");
}

#[test]
fn a_node_killed_under_load_restarts_and_catches_up_losing_nothing() {
    let mut cluster = Cluster::start(4);
    let mut submitter = cluster.submitter(0, "agency");
    let mut ids = Vec::new();
    for n in 0..60 {
        if n == 20 {
            cluster.kill(3);
        }
        let tx = submitter.certificate(n);
        let (code, body) = cluster.submit(n as usize % 3, &tx);
        assert_eq!(code, 202, "{body}");
        ids.push(tx.id());
        std::thread::sleep(Duration::from_millis(30));
    }
    cluster.wait_until("the survivors commit everything", COMMIT_WAIT, |c| {
        ids.iter().all(|id| accepted(c, 0, id))
    });
    // Several more blocks while it is down, so that it can only catch up by block sync.
    let mut n = 1000;
    for _ in 0..4 {
        let burst: Vec<_> = (0..5)
            .map(|_| {
                n += 1;
                let tx = submitter.certificate(n);
                assert_eq!(cluster.submit(1, &tx).0, 202);
                tx.id()
            })
            .collect();
        cluster.wait_until("a burst commits", COMMIT_WAIT, |c| {
            burst.iter().all(|id| accepted(c, 1, id))
        });
        ids.extend(burst);
    }
    cluster.start_node(3);
    cluster.wait_until("the restarted node has every record", COMMIT_WAIT, |c| {
        ids.iter().all(|id| accepted(c, 3, id))
    });
    assert!(
        cluster.logs(3).contains("block sync"),
        "the restarted node caught up by block sync:\n{}",
        cluster.logs(3)
    );
    // Load continues after the restart, and all four agree.
    let mut later = Vec::new();
    for n in 60..70 {
        let tx = submitter.certificate(n);
        let (code, body) = cluster.submit(3, &tx);
        assert_eq!(code, 202, "{body}");
        later.push(tx.id());
    }
    cluster.wait_until("post-restart transactions accepted", COMMIT_WAIT, |c| {
        later
            .iter()
            .all(|id| (0..4).all(|node| accepted(c, node, id)))
    });
    wait_same_head(&cluster, &[0, 1, 2, 3]);
}

/// Equivocations a node has detected, from its metrics.
fn evidence(cluster: &Cluster, node: usize) -> Option<u64> {
    let text = ureq::get(&format!("{}/metrics", cluster.nodes[node].api))
        .call()
        .ok()?
        .into_string()
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("clearance_evidence_total "))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn a_validator_whose_data_directory_is_deleted_resyncs_and_never_signs_twice() {
    let mut cluster = Cluster::start(4);
    let mut submitter = cluster.submitter(0, "agency");
    let mut ids = Vec::new();
    for n in 0..40 {
        if n == 20 {
            // Killed while it votes, then its operator deletes the chain database to resync from scratch.
            cluster.kill(3);
            std::fs::remove_dir_all(cluster.home(3).join("data")).unwrap();
        }
        let tx = submitter.certificate(n);
        assert_eq!(cluster.submit(n as usize % 3, &tx).0, 202);
        ids.push(tx.id());
        std::thread::sleep(Duration::from_millis(20));
    }
    let state = std::fs::metadata(cluster.home(3).join("validator_state.bin")).unwrap();
    assert_eq!(state.len(), 2048, "two slots of the validator state file");
    cluster.start_node(3);
    cluster.wait_until("the wiped node has every record again", COMMIT_WAIT, |c| {
        ids.iter().all(|id| accepted(c, 3, id))
    });
    // It votes again: with node 0 stopped, nothing commits without it.
    cluster.kill(0);
    let tx = submitter.certificate(100);
    assert_eq!(cluster.submit(3, &tx).0, 202);
    cluster.wait_until(
        "a block that needs the wiped node's vote",
        COMMIT_WAIT,
        |c| accepted(c, 1, &tx.id()),
    );
    for node in 1..4 {
        assert_eq!(
            evidence(&cluster, node),
            Some(0),
            "no member saw a double signature"
        );
    }
}

#[test]
fn without_a_quorum_nothing_commits_and_progress_resumes_with_one() {
    let mut cluster = Cluster::start(4);
    cluster.wait_until("first block", COMMIT_WAIT, |c| c.height(0) >= Some(1));
    cluster.kill(2);
    cluster.kill(3);
    // Let any block decided before the kills settle.
    std::thread::sleep(Duration::from_secs(2));
    let before = cluster.height(0).unwrap();
    let mut submitter = cluster.submitter(0, "agency");
    let tx = submitter.certificate(1);
    let (code, body) = cluster.submit(0, &tx);
    assert_eq!(code, 202, "{body}");
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        cluster.height(0),
        Some(before),
        "committed without a quorum"
    );
    assert_eq!(
        cluster.height(1),
        Some(before),
        "committed without a quorum"
    );
    assert_eq!(cluster.tx_status(0, &tx.id()).unwrap()["status"], "pending");

    cluster.start_node(2);
    cluster.wait_until("commit after the quorum is back", COMMIT_WAIT, |c| {
        (0..3).all(|node| accepted(c, node, &tx.id()))
    });
}

#[test]
fn all_nodes_restart_at_once_and_the_ledger_continues() {
    let mut cluster = Cluster::start(4);
    let mut submitter = cluster.submitter(1, "agency");
    let mut ids = Vec::new();
    for n in 0..10 {
        let tx = submitter.certificate(n);
        assert_eq!(cluster.submit(1, &tx).0, 202);
        ids.push(tx.id());
    }
    cluster.wait_until("first batch accepted", COMMIT_WAIT, |c| {
        ids.iter()
            .all(|id| (0..4).all(|node| accepted(c, node, id)))
    });
    let (height, hash) = wait_same_head(&cluster, &[0, 1, 2, 3]);
    // Half stop cleanly, half are killed: both must resume.
    assert!(cluster.stop(0).success(), "SIGTERM exit status");
    assert!(cluster.stop(1).success(), "SIGTERM exit status");
    cluster.kill(2);
    cluster.kill(3);
    for i in 0..4 {
        cluster.start_node(i);
    }
    cluster.wait_until("restarted nodes serve the old head", COMMIT_WAIT, |c| {
        (0..4).all(|i| c.height(i).is_some_and(|h| h >= height))
    });
    for id in &ids {
        assert!(accepted(&cluster, 2, id));
    }
    let mut more = Vec::new();
    for n in 10..15 {
        let tx = submitter.certificate(n);
        let (code, body) = cluster.submit(2, &tx);
        assert_eq!(code, 202, "{body}");
        more.push(tx.id());
    }
    cluster.wait_until("the ledger continues", COMMIT_WAIT, |c| {
        more.iter()
            .all(|id| (0..4).all(|node| accepted(c, node, id)))
    });
    let (new_height, _) = wait_same_head(&cluster, &[0, 1, 2, 3]);
    assert!(new_height > height);
    // The block at the old head is unchanged on every node.
    for i in 0..4 {
        let block = clearance_tests::cluster::get_json(&format!(
            "{}/v1/blocks/{height}",
            cluster.nodes[i].api
        ))
        .unwrap();
        assert_eq!(
            block["hash"].as_str(),
            Some(hash.as_str()),
            "node {i}: {block}"
        );
    }
}
