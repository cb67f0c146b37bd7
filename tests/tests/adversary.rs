//! One member of four runs `clearance-adversary`; the three honest members must keep committing. Each test
//! measures the honest members' committed throughput under offered load with the adversary silent (a member
//! that does not vote), then with it attacking, and checks a lower bound that cannot flake on a busy machine:
//! at least half the unattacked throughput, a p99 commit latency within 4 times the unattacked one (or 10 s),
//! nothing acknowledged lost, and no honest node's memory above twice what it was. The figures for a quiet machine and 1,000 records/s are in docs/performance.md §10
//! (`scripts/bench adversary`).
//!
//! The attacks that aim at reconnection or catching up (`slow-loris`, `lying-sync`, `wrong-answers`) also restart an honest
//! member during the attack, from a copy of its ledger taken before the unattacked run: it must reconnect, catch
//! up by block sync, and the ledger move on (with one member silent, nothing commits without it).

use clearance_tests::cluster::{Cluster, get_json};
use clearance_tests::{binary, stdout};
use serde_json::Value;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Offered records per second, and seconds per run: by default low and short enough for debug builds beside other
/// tests on two cores; `scripts/bench adversary` sets 1,000/s and 20 s on release builds.
fn rate() -> u64 {
    env_or("ADVERSARY_RATE", 50)
}

fn seconds() -> u64 {
    env_or("ADVERSARY_SECONDS", 12)
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Adversary(Child);

impl Adversary {
    fn start(cluster: &Cluster, attack: &str) -> Adversary {
        let log = std::fs::File::create(cluster.home(3).join(format!("adversary-{attack}.log")))
            .expect("log file");
        let child = Command::new(binary("clearance-adversary"))
            .args(["--attack", attack, "--home"])
            .arg(cluster.home(3))
            .stdout(log.try_clone().expect("log file handle"))
            .stderr(log)
            .spawn()
            .expect("starting clearance-adversary");
        Adversary(child)
    }
}

impl Drop for Adversary {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the members' mempools are empty: a backlog left by a load run would hold sequence numbers the
/// next run signs again. Only while no attack runs: an equivocating adversary keeps the honest members reporting
/// evidence (signed with their validator keys, not the load's), so their mempools are seldom empty all at once.
fn drain(cluster: &Cluster) {
    let drained = |c: &Cluster| {
        (0..3).all(|i| {
            c.status(i)
                .and_then(|s| s["mempool_txs"].as_u64())
                .is_some_and(|n| n == 0)
        })
    };
    cluster.wait_until("the mempools drained", Duration::from_secs(120), drained);
}

/// Offered load against the honest members; the load generator's results.
fn load(cluster: &Cluster, label: &str) -> Value {
    let out = cluster.dir.path().join(format!("{label}.json"));
    let nodes: Vec<String> = (0..3).map(|i| cluster.nodes[i].api.clone()).collect();
    let keys: Vec<String> = (0..3)
        .map(|i| {
            cluster
                .home(i)
                .join("keys/agency.json")
                .display()
                .to_string()
        })
        .collect();
    let output = Command::new(binary("clearance-loadgen"))
        .args(["--nodes", &nodes.join(","), "--keys", &keys.join(",")])
        .args([
            "--rate",
            &rate().to_string(),
            "--seconds",
            &seconds().to_string(),
        ])
        .args(["--query-rate", "10", "--mode", label, "--out"])
        .arg(&out)
        .output()
        .expect("running clearance-loadgen");
    assert!(
        output.status.success(),
        "loadgen: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        cluster.all_logs()
    );
    eprintln!(
        "{label}: {}{}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&out).expect("loadgen results"))
        .expect("loadgen JSON")
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("creating a directory");
    for entry in std::fs::read_dir(from).expect("reading a directory") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copying a file");
        }
    }
}

/// Peak resident memory of node `i` so far, in KiB.
fn peak_rss_kib(cluster: &Cluster, i: usize) -> u64 {
    let pid = cluster.pid(i).expect("node runs");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn honest_connected(cluster: &Cluster) -> bool {
    (0..3).all(|i| {
        cluster
            .status(i)
            .and_then(|s| s["peers"].as_array().map(Vec::len))
            .is_some_and(|n| n >= 2)
    })
}

/// Starts the three honest members and the silent adversary, measures, then the attack, and measures again.
/// `restart` restarts honest member 2 during the attack, which must rejoin.
fn under_attack(attack: &str, restart: bool) -> (Cluster, Adversary) {
    let mut cluster = Cluster::create(4);
    for i in 0..3 {
        cluster.start_node(i);
    }
    let silent = Adversary::start(&cluster, "silent");
    cluster.wait_until(
        "the honest members connected",
        Duration::from_secs(30),
        honest_connected,
    );
    let data = cluster.home(2).join("data");
    let old_data = cluster.home(2).join("data.old");
    if restart {
        // A copy of member 2's ledger from before the baseline's records: restored during the attack, it leaves
        // the member hundreds of blocks behind, to catch up by block sync. Its validator state file (beside its
        // key, not in data/) stays, so it never signs twice.
        cluster.stop(2);
        copy_dir(&data, &old_data);
        cluster.start_node(2);
        cluster.wait_until("member 2 back", Duration::from_secs(30), honest_connected);
    }
    drain(&cluster);
    let baseline = load(&cluster, "baseline");
    let rss_before: Vec<u64> = (0..3).map(|i| peak_rss_kib(&cluster, i)).collect();
    drain(&cluster);
    drop(silent);
    let adversary = Adversary::start(&cluster, attack);
    std::thread::sleep(Duration::from_secs(3));
    if restart {
        cluster.kill(2);
        let target = cluster.height(0).unwrap_or(0);
        std::fs::remove_dir_all(&data).expect("removing member 2's data");
        std::fs::rename(&old_data, &data).expect("restoring member 2's old data");
        cluster.start_node(2);
        let since = Instant::now();
        // Well above the second or so it takes unattacked; before the per-address handshake limit, slow-loris
        // connections kept it out for 19–40 s.
        cluster.wait_until(
            "the restarted member connected and caught up",
            Duration::from_secs(15),
            |c| honest_connected(c) && c.height(2).is_some_and(|h| h >= target),
        );
        eprintln!(
            "{attack}: restarted member caught up to height {target} in {:?}",
            since.elapsed()
        );
    }
    let attacked = load(&cluster, attack);
    let before = baseline["committed_per_s"].as_f64().unwrap_or(0.0);
    let after = attacked["committed_per_s"].as_f64().unwrap_or(0.0);
    let p99 = attacked["commit_latency_ms"]["p99"]
        .as_f64()
        .unwrap_or(f64::MAX);
    eprintln!(
        "{attack}: {before:.0}/s unattacked, {after:.0}/s attacked ({:.0} %), p99 {p99:.0} ms",
        100.0 * after / before.max(1e-9)
    );
    let rss_after: Vec<u64> = (0..3).map(|i| peak_rss_kib(&cluster, i)).collect();
    if let Ok(report) = std::env::var("ADVERSARY_REPORT") {
        let line = serde_json::json!({
            "attack": attack, "offered_per_s": rate(), "seconds": seconds(),
            "unattacked_per_s": before, "attacked_per_s": after,
            "unattacked_p99_ms": baseline["commit_latency_ms"]["p99"], "attacked_p99_ms": p99,
            "peak_rss_kib_before": rss_before, "peak_rss_kib_after": rss_after,
            "restarted_member": restart,
        });
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(report)
            .expect("report file");
        writeln!(file, "{line}").expect("writing the report");
    }
    // The silent member is left out of round 0 after its first three turns (docs/consensus.md §7), but each of
    // those waited for its proposer's timeout; this only checks that the network works at all.
    assert!(
        before > 0.2 * rate() as f64,
        "the unattacked run committed {before:.0}/s"
    );
    assert!(
        after >= 0.5 * before,
        "{attack}: {after:.0}/s under attack, less than half of {before:.0}/s\n{}",
        cluster.all_logs()
    );
    // Commit latency: the target is 2 s at 1,000/s on release builds; here a bound a busy machine cannot break.
    // (Before the fixes, floods of old votes or sync requests left throughput intact but p99 at 15–25 s, or
    // stopped the ledger.)
    let p99_before = baseline["commit_latency_ms"]["p99"].as_f64().unwrap_or(0.0);
    let p99_limit = (4.0 * p99_before).max(10_000.0);
    assert!(
        p99 <= p99_limit,
        "{attack}: p99 commit latency {p99:.0} ms under attack, above {p99_limit:.0} ms (unattacked {p99_before:.0} ms)\n{}",
        cluster.all_logs()
    );
    for run in [&baseline, &attacked] {
        assert_eq!(
            run["expired"].as_u64(),
            Some(0),
            "acknowledged records lost: {run}"
        );
    }
    for (i, (before, now)) in rss_before.iter().zip(&rss_after).enumerate() {
        if restart && i == 2 {
            continue;
        }
        assert!(
            *now <= 2 * before.max(&(64 * 1024)),
            "{attack}: member {i} peak RSS {now} KiB, from {before} KiB"
        );
    }
    (cluster, adversary)
}

/// A counter from node `i`'s metrics.
fn counter(cluster: &Cluster, i: usize, name: &str) -> u64 {
    let text = ureq::get(&format!("{}/metrics", cluster.nodes[i].api))
        .call()
        .ok()
        .and_then(|r| r.into_string().ok())
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn garbage_on_every_channel_does_not_slow_the_others() {
    let _ = under_attack("garbage", false);
}

#[test]
fn replayed_transaction_gossip_does_not_slow_the_others() {
    let _ = under_attack("tx-replay", false);
}

#[test]
fn a_flood_of_sync_requests_does_not_slow_the_others() {
    let _ = under_attack("sync-flood", false);
}

#[test]
fn double_votes_for_unknown_blocks_do_not_slow_the_others_and_are_detected() {
    let (cluster, _adversary) = under_attack("double-votes", false);
    evidence_against_uz_verifies(&cluster, "double_vote", "UZ signed two conflicting pre");
}

#[test]
fn equivocating_proposals_do_not_slow_the_others_and_are_recorded() {
    let (cluster, _adversary) = under_attack("double-proposals", false);
    evidence_against_uz_verifies(
        &cluster,
        "double_proposal",
        "UZ signed two conflicting proposals",
    );
}

#[test]
fn blocks_with_an_unregistered_keys_transaction_are_refused_and_do_not_slow_the_others() {
    let (cluster, _adversary) = under_attack("junk-blocks", false);
    // The adversary proposes nothing but junk: no block of UZ's may be on the ledger.
    let head = cluster.height(0).expect("member 0's height");
    for h in 1..=head {
        let block = get_json(&format!("{}/v1/blocks/{h}", cluster.nodes[0].api))
            .unwrap_or_else(|| panic!("block {h}"));
        assert_ne!(
            block["header"]["proposer"], "UZ",
            "a junk block of UZ's was committed at height {h}: {block}"
        );
    }
    // The adversary proposes at its probes (see evidence_against_uz_verifies).
    cluster.wait_until(
        "every honest member refused a junk block",
        Duration::from_secs(60),
        |c| (0..3).all(|i| counter(c, i, "clearance_invalid_proposed_blocks_total") > 0),
    );
}

/// Every honest member detected an equivocation of UZ (the adversary's member) of `variant`, and the evidence is
/// committed on every honest node, listed by the CLI, and verifies offline with nothing but the genesis file.
fn evidence_against_uz_verifies(cluster: &Cluster, variant: &str, summary: &str) {
    // The adversary, still running, proposes whenever it is the proposer: once it has been left out of round 0
    // (it was silent before the attack), that is at its probes, about every 20 s of block time.
    cluster.wait_until(
        "every honest member detected an equivocation",
        Duration::from_secs(60),
        |c| (0..3).all(|i| counter(c, i, "clearance_evidence_total") > 0),
    );
    let against_uz = |c: &Cluster, i: usize| {
        get_json(&format!(
            "{}/v1/evidence?offender=UZ&limit=100",
            c.nodes[i].api
        ))
        .and_then(|page| page["records"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|r| !r["record"]["evidence"]["equivocation"][variant].is_null())
        .collect::<Vec<_>>()
    };
    cluster.wait_until(
        "evidence against UZ committed",
        Duration::from_secs(30),
        |c| (0..3).all(|i| !against_uz(c, i).is_empty()),
    );
    let record = against_uz(cluster, 0)[0].clone();
    assert_eq!(record["kind"], "evidence", "{record}");
    let id = record["id"].as_str().expect("record id").to_string();
    // Verified offline, with nothing but the genesis file: committed by a quorum, both votes signed by UZ.
    let bundle = cluster.dir.path().join("evidence-bundle.json");
    let genesis = cluster.home(0).join("genesis.json");
    let api = cluster.nodes[0].api.clone();
    let out = clearance_tests::run(
        "clearance",
        &[
            "--node",
            &api,
            "proof",
            &id,
            "-o",
            &bundle.display().to_string(),
        ],
    );
    assert!(
        out.status.success(),
        "proof: {}",
        clearance_tests::stderr(&out)
    );
    let out = clearance_tests::run(
        "clearance",
        &[
            "--node",
            "http://127.0.0.1:9",
            "verify",
            "--genesis",
            &genesis.display().to_string(),
            "--bundle",
            &bundle.display().to_string(),
        ],
    );
    let said = stdout(&out);
    assert!(
        out.status.success(),
        "verify: {said}{}",
        clearance_tests::stderr(&out)
    );
    assert!(said.contains(summary), "{said}");
    let listed = stdout(&clearance_tests::run(
        "clearance",
        &["--node", &api, "evidence"],
    ));
    assert!(listed.contains("UZ"), "{listed}");
}

#[test]
fn a_flood_of_validly_signed_old_votes_is_dropped_before_its_signature_check() {
    let (cluster, _adversary) = under_attack("old-votes", false);
    for i in 0..3 {
        // Within its budget (2,000 a second), each was decoded and dropped for its height, not checked.
        let dropped = counter(
            &cluster,
            i,
            "clearance_consensus_out_of_window_dropped_total",
        );
        assert!(
            dropped > 5_000,
            "member {i} dropped only {dropped} old votes unchecked"
        );
    }
}

#[test]
fn a_member_lying_about_its_height_does_not_keep_a_restarted_member_behind() {
    let _ = under_attack("lying-sync", true);
}

#[test]
fn a_member_answering_with_the_wrong_kind_does_not_keep_a_restarted_member_behind() {
    let _ = under_attack("wrong-answers", true);
}

#[test]
fn slow_loris_connections_do_not_keep_a_restarted_member_out() {
    let _ = under_attack("slow-loris", true);
}
