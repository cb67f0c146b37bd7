//! `clearance-loadgen`: offered load against a Clearance Ledger network, with commit latency, throughput and
//! record-query latency measured from the outside, as an agency would see them.
//!
//! It starts a local 4-member network (`--start`, real `clearance-node` processes in a temporary directory) or
//! targets running nodes (`--nodes URL,... --keys FILE,...`). Each submitter key is one client; clients sign
//! certificate records locally and submit them at a fixed total rate across the nodes. A commit is observed on
//! the first node's event stream; a query client meanwhile reads committed records by id from random nodes.

use anyhow::{Context, Result, bail};
use clap::Parser;
use clearance_client::{Client, EventItem, EventQuery, Signer};
use clearance_core::Hash32;
use clearance_core::ids::*;
use clearance_core::record::*;
use clearance_core::time::Date;
use futures::StreamExt;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod absent;
mod catchup;
mod process;
mod stuck;

use process::{cpu_time, git_commit, machine, peak_rss_mib, write_results};

#[derive(Parser, Clone)]
#[command(
    name = "clearance-loadgen",
    about = "Offered load and latency against a Clearance Ledger network"
)]
struct Args {
    /// Start a local network of this many members instead of targeting running nodes.
    #[arg(long)]
    start: Option<usize>,
    /// API URLs of running nodes, comma-separated.
    #[arg(long, value_delimiter = ',')]
    nodes: Vec<String>,
    /// Submitter key files for running nodes, comma-separated; one client per key.
    #[arg(long, value_delimiter = ',')]
    keys: Vec<PathBuf>,
    /// Offered records per second, in total.
    #[arg(long, default_value_t = 500)]
    rate: u64,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Record-by-id queries per second while the load runs.
    #[arg(long, default_value_t = 100)]
    query_rate: u64,
    /// Write the results as JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Most transactions one client keeps submitted but not yet committed; above it, it skips its turn. A
    /// node refuses sequence numbers more than 4096 ahead of its committed one, and a refused number would
    /// block the key's later transactions; pending is counted against the first node's commits, and the node
    /// submitted to may lag it by a few blocks.
    #[arg(long, default_value_t = 1000)]
    max_pending_per_client: u64,
    /// A label for the results.
    #[arg(long, default_value = "latency")]
    mode: String,
    /// Transactions per submission: 1 submits each on its own (`POST /v1/txs`); more sends each client's
    /// transactions in batches of this size (`POST /v1/txs/batch`), one every batch/rate seconds, as an agency's
    /// system that forwards what it has collected. Commit latency counts from the request.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    batch: u64,
    /// Write the ids of the transactions a node admitted (`admitted`) and of those seen committed on the first
    /// node's event stream (`committed`) as JSON here, for checks after the run (scripts/e2e).
    #[arg(long)]
    ids_out: Option<PathBuf>,
    /// Each client submits only to its own node (client k to node k mod n), as an agency submits to its member's
    /// node; by default submissions rotate over the nodes.
    #[arg(long)]
    sticky: bool,
    /// A transaction neither committed nor refused after this many seconds is counted as lost (`expired`) and no
    /// longer as pending: a node killed with it in its mempool, or one cut off when it was submitted.
    #[arg(long, default_value_t = 60)]
    expire_after: u64,
    /// Submit a transaction again, to its client's node, when it has been neither committed nor refused for this
    /// many seconds (0: never), as an agency's outbox would: a node restarted or cut off loses what its mempool
    /// held, and a lost sequence number holds back every later transaction of its key.
    #[arg(long, default_value_t = 0)]
    resubmit_after: u64,
}

#[derive(Default)]
struct Shared {
    /// Submitted, not yet committed: when, and by which client.
    submitted: HashMap<Hash32, (Instant, usize)>,
    /// Per client: submitted and not yet committed.
    pending: Vec<u64>,
    /// Turns skipped because a client had too much pending.
    skipped: u64,
    /// Submitted transactions given up on after `--expire-after` seconds.
    expired: u64,
    commit_latencies: Vec<Duration>,
    committed: Vec<Hash32>,
    /// Admitted by the node they were submitted to.
    admitted: Vec<Hash32>,
    /// With `--resubmit-after`: each pending transaction and when it was last sent.
    outbox: HashMap<Hash32, (Instant, clearance_core::tx::SignedTx)>,
    resubmitted: u64,
    query_latencies: Vec<Duration>,
    submit_errors: HashMap<String, u64>,
    /// Per submitted transaction: the node it went to and its sequence number, to name a stuck key's first
    /// missing transaction and where it went.
    origin: HashMap<Hash32, (usize, u64)>,
}

fn certificate(member: &CountryCode, run: u64, n: u64) -> Record {
    let destination = if member.as_str() == "DE" { "KZ" } else { "DE" };
    let parse = |s: &str| CountryCode::parse(s).expect("country");
    Record::CertificateIssue(CertificateIssue {
        certificate: CertificateBody {
            cert_type: CertificateType::Origin,
            number: CertificateNumber::parse(&format!("{member}-LG{run}-{n:09}")).expect("number"),
            issuer: member.clone(),
            authority: Text::parse("Chamber of Commerce and Industry").expect("text"),
            issued_on: Date::parse("2026-11-20").expect("date"),
            valid_until: Some(Date::parse("2027-11-20").expect("date")),
            exporter: Some(OperatorId::parse(&format!("{member}1234567890")).expect("operator")),
            importer: Some(OperatorId::parse("DE9876543210").expect("operator")),
            origin_country: member.clone(),
            destination_country: parse(destination),
            hs_codes: vec![HsCode::parse("520100").expect("hs")],
            document_sha256: Hash32::sha256(&n.to_be_bytes()),
        },
    })
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // The cluster (when started here) lives until the end of main, then its processes are killed.
    let (cluster, nodes, keys) = match args.start {
        Some(n) => {
            eprintln!("starting a local {n}-member network");
            let cluster = clearance_tests::cluster::Cluster::start(n);
            let nodes: Vec<String> = cluster.nodes.iter().map(|n| n.api.clone()).collect();
            let keys = (0..n)
                .map(|i| cluster.home(i).join("keys/agency.json"))
                .collect();
            (Some(cluster), nodes, keys)
        }
        None => (None, args.nodes.clone(), args.keys.clone()),
    };
    if nodes.is_empty() || keys.is_empty() {
        bail!("give --start N, or --nodes and --keys");
    }
    let pids: Vec<(String, u32)> = cluster
        .as_ref()
        .map(|c| {
            (0..c.nodes.len())
                .filter_map(|i| Some((c.nodes[i].id.clone(), c.pid(i)?)))
                .collect()
        })
        .unwrap_or_default();
    if args.mode == "catchup" {
        let Some(cluster) = cluster else {
            bail!("catchup needs --start: it stops and restarts one of the nodes");
        };
        return catchup::catchup(&runtime, &args, cluster, nodes, keys, &pids);
    }
    if args.mode == "absent" {
        let Some(cluster) = cluster else {
            bail!("absent needs --start: it stops and restarts one of the nodes");
        };
        return absent::absent(&runtime, &args, cluster, nodes, keys, &pids);
    }
    let result = runtime.block_on(run(&args, nodes, keys, &pids));
    drop(cluster);
    result
}

/// How long a submission is retried while its node cannot be reached, and how often.
const RETRY_FOR: Duration = Duration::from_secs(30);
const RETRY_EVERY: Duration = Duration::from_millis(500);

/// Submits one transaction on its own, or several as one batch, and books the refusals.
async fn submit(
    (client, node): (Client, usize),
    txs: Vec<(u64, clearance_core::tx::SignedTx)>,
    shared: Arc<Mutex<Shared>>,
    k: usize,
    keep_for_resubmission: bool,
) {
    let ids: Vec<Hash32> = txs.iter().map(|(_, tx)| tx.id()).collect();
    {
        let now = Instant::now();
        let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
        for (id, (sequence, tx)) in ids.iter().zip(&txs) {
            s.submitted.insert(*id, (now, k));
            s.origin.insert(*id, (node, *sequence));
            if keep_for_resubmission {
                s.outbox.insert(*id, (now, tx.clone()));
            }
        }
    }
    // A node that cannot be reached (killed, restarting, cut off) gets the same submission again, as an agency's
    // outbox would retry it: a signed sequence number that never arrives would hold back every later transaction
    // of its key. A node's answer, accepted or refused, is final.
    let retry_until = Instant::now() + RETRY_FOR;
    let txs: Vec<clearance_core::tx::SignedTx> = txs.into_iter().map(|(_, tx)| tx).collect();
    let refused: Vec<(Hash32, String)> = if let [tx] = txs.as_slice() {
        loop {
            match client.submit(tx).await {
                Ok(_) => break Vec::new(),
                Err(e) if e.code().is_none() && Instant::now() < retry_until => {
                    tokio::time::sleep(RETRY_EVERY).await;
                }
                Err(e) => break vec![(ids[0], e.code().unwrap_or("TRANSPORT").to_string())],
            }
        }
    } else {
        loop {
            match client.submit_batch(&txs).await {
                Ok(items) => {
                    break ids
                        .iter()
                        .zip(items)
                        .filter(|(_, item)| item.status != "pending")
                        .map(|(id, item)| (*id, item.code.unwrap_or_default()))
                        .collect();
                }
                Err(e) if e.code().is_none() && Instant::now() < retry_until => {
                    tokio::time::sleep(RETRY_EVERY).await;
                }
                Err(e) => {
                    let code = e.code().unwrap_or("TRANSPORT").to_string();
                    break ids.iter().map(|id| (*id, code.clone())).collect();
                }
            }
        }
    };
    let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
    let admitted: Vec<Hash32> = ids
        .iter()
        .filter(|id| !refused.iter().any(|(r, _)| r == *id))
        .copied()
        .collect();
    s.admitted.extend(admitted);
    for (id, code) in refused {
        if s.submitted.remove(&id).is_some() {
            s.pending[k] -= 1;
        }
        *s.submit_errors.entry(code).or_default() += 1;
    }
}

async fn run(
    args: &Args,
    nodes: Vec<String>,
    keys: Vec<PathBuf>,
    pids: &[(String, u32)],
) -> Result<()> {
    let clients: Vec<Client> = nodes.iter().map(|n| Client::new(n)).collect();
    let shared = Arc::new(Mutex::new(Shared {
        pending: vec![0; keys.len()],
        ..Shared::default()
    }));
    let max_pending = args.max_pending_per_client;
    let run_id = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() % 1_000_000;

    // Commits, as the first node's event stream shows them. Should that node go away (an e2e run kills it), the
    // watcher follows the next one; commits made while it reconnects are not timed.
    let mut events = Box::pin(clients[0].events(&EventQuery::default()).await?);
    let watcher = {
        let shared = shared.clone();
        let clients = clients.clone();
        tokio::spawn(async move {
            let mut next = 0usize;
            loop {
                while let Some(item) = events.next().await {
                    let Ok(EventItem::Record(r)) = item else {
                        continue;
                    };
                    let now = Instant::now();
                    let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some((at, client)) = s.submitted.remove(&r.id) {
                        s.commit_latencies.push(now - at);
                        s.committed.push(r.id);
                        s.pending[client] -= 1;
                    }
                }
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    next = (next + 1) % clients.len();
                    if let Ok(stream) = clients[next].events(&EventQuery::default()).await {
                        events = Box::pin(stream);
                        break;
                    }
                }
            }
        })
    };

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let per_client = (args.rate as f64 / keys.len() as f64).max(0.001);
    let args_batch = args.batch;
    let sticky = args.sticky;
    let resubmit = args.resubmit_after > 0;
    let expirer = {
        let shared = shared.clone();
        let max_age = Duration::from_secs(args.expire_after);
        let resubmit_after = Duration::from_secs(args.resubmit_after);
        let resubmit_clients = clients.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let now = Instant::now();
                let mut guard = shared.lock().unwrap_or_else(|e| e.into_inner());
                let s = &mut *guard;
                let old: Vec<(Hash32, usize)> = s
                    .submitted
                    .iter()
                    .filter(|(_, (at, _))| now.duration_since(*at) > max_age)
                    .map(|(id, (_, k))| (*id, *k))
                    .collect();
                for (id, k) in old {
                    s.submitted.remove(&id);
                    s.outbox.remove(&id);
                    s.pending[k] -= 1;
                    s.expired += 1;
                }
                if resubmit_after.is_zero() {
                    continue;
                }
                let stale: Vec<(Hash32, clearance_core::tx::SignedTx, usize)> = s
                    .outbox
                    .iter()
                    .filter(|(id, (sent, _))| {
                        now.duration_since(*sent) > resubmit_after && s.submitted.contains_key(*id)
                    })
                    .filter_map(|(id, (_, tx))| Some((*id, tx.clone(), s.submitted.get(id)?.1)))
                    .collect();
                s.outbox.retain(|id, _| s.submitted.contains_key(id));
                for (id, tx, k) in stale {
                    if let Some(entry) = s.outbox.get_mut(&id) {
                        entry.0 = now;
                    }
                    s.resubmitted += 1;
                    let client = resubmit_clients[k % resubmit_clients.len()].clone();
                    // Its first answer was booked; this one only puts it back in a mempool.
                    tokio::spawn(async move {
                        let _ = client.submit(&tx).await;
                    });
                }
            }
        })
    };
    let stuck_reporter = tokio::spawn(stuck::report_stuck_keys(shared.clone(), clients.clone()));
    let mut tasks = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        let node = clients[k % clients.len()].clone();
        let mut signer = Signer::connect(&node, key)
            .await
            .with_context(|| format!("key {}", key.display()))?;
        let member = node.submitter(&signer.public_key()).await?.member;
        let shared = shared.clone();
        let clients = clients.clone();
        tasks.push(tokio::spawn(async move {
            let batch = args_batch;
            let mut tick =
                tokio::time::interval(Duration::from_secs_f64(batch as f64 / per_client));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut n = 0u64;
            while Instant::now() < deadline {
                tick.tick().await;
                {
                    let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                    if max_pending.saturating_sub(s.pending[k]) < batch {
                        s.skipped += 1;
                        continue;
                    }
                    s.pending[k] += batch;
                }
                let txs: Vec<_> = (0..batch)
                    .map(|_| {
                        n += 1;
                        let sequence = signer.next_sequence();
                        (
                            sequence,
                            signer.sign(certificate(&member, run_id, n * 100 + k as u64)),
                        )
                    })
                    .collect();
                let at = (if sticky { k } else { n as usize + k }) % clients.len();
                let client = (clients[at].clone(), at);
                let shared = shared.clone();
                // Open loop: the next submission does not wait for this one.
                tokio::spawn(submit(client, txs, shared, k, resubmit));
            }
        }));
    }

    // Record-by-id queries against random nodes while the load runs, from their own thread and runtime: an
    // agency that queries is not the process that generates the load, so the generator's own work must not
    // delay the query futures and inflate their latency.
    let querier = {
        let shared = shared.clone();
        let nodes = nodes.clone();
        let rate = args.query_rate.max(1);
        std::thread::spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let clients: Vec<Client> = nodes.iter().map(|n| Client::new(n)).collect();
                let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
                let mut i = 0usize;
                while Instant::now() < deadline {
                    tick.tick().await;
                    i += 1;
                    let id = {
                        let s = shared.lock().unwrap_or_else(|e| e.into_inner());
                        if s.committed.is_empty() {
                            continue;
                        }
                        s.committed[(i * 7919) % s.committed.len()]
                    };
                    let client = &clients[i % clients.len()];
                    let start = Instant::now();
                    if client.record(&id).await.is_ok() {
                        let took = start.elapsed();
                        shared
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .query_latencies
                            .push(took);
                    }
                }
            });
            Ok(())
        })
    };

    let started = Instant::now();
    let cpu_before: Vec<Option<Duration>> = pids.iter().map(|(_, pid)| cpu_time(*pid)).collect();
    for t in tasks {
        t.await?;
    }
    let offered_for = started.elapsed();
    // Each node's share of one core over the offered period, and its peak memory so far.
    let node_usage: Vec<(String, Option<f64>, Option<f64>)> = pids
        .iter()
        .zip(&cpu_before)
        .map(|((id, pid), before)| {
            let share = before.zip(cpu_time(*pid)).map(|(b, a)| {
                100.0 * (a.saturating_sub(b)).as_secs_f64() / offered_for.as_secs_f64()
            });
            (id.clone(), share, peak_rss_mib(*pid))
        })
        .collect();
    querier
        .join()
        .map_err(|_| anyhow::anyhow!("the query thread panicked"))??;
    // Let what was submitted commit.
    let drain = Instant::now() + Duration::from_secs(15);
    while Instant::now() < drain {
        if shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .submitted
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watcher.abort();
    expirer.abort();
    stuck_reporter.abort();

    let s = shared.lock().unwrap_or_else(|e| e.into_inner());
    let mut commits = s.commit_latencies.clone();
    commits.sort();
    let mut queries = s.query_latencies.clone();
    queries.sort();
    let committed = commits.len();
    let throughput = committed as f64 / offered_for.as_secs_f64();
    println!(
        "mode {}  offered {} records/s for {:.1} s by {} clients over {} nodes, {} per request",
        args.mode,
        args.rate,
        offered_for.as_secs_f64(),
        keys.len(),
        nodes.len(),
        args.batch
    );
    println!(
        "committed        {committed} records ({throughput:.0}/s), not committed {}",
        s.submitted.len()
    );
    println!(
        "commit latency   p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        percentile(&commits, 0.5),
        percentile(&commits, 0.9),
        percentile(&commits, 0.99),
        percentile(&commits, 1.0)
    );
    println!(
        "record by id     p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} queries)",
        percentile(&queries, 0.5),
        percentile(&queries, 0.99),
        percentile(&queries, 1.0),
        queries.len()
    );
    for (id, cpu, rss) in &node_usage {
        println!(
            "node {id:<10} cpu {}  peak RSS {}",
            cpu.map_or("?".into(), |c| format!("{c:.0}% of a core")),
            rss.map_or("?".into(), |r| format!("{r:.0} MiB"))
        );
    }
    if s.resubmitted > 0 {
        println!(
            "resubmitted      {} (pending {} s or more)",
            s.resubmitted, args.resubmit_after
        );
    }
    if s.expired > 0 {
        println!(
            "expired          {} (neither committed nor refused within {} s)",
            s.expired, args.expire_after
        );
    }
    if s.skipped > 0 {
        println!(
            "skipped turns    {} (a client had {} records pending)",
            s.skipped, args.max_pending_per_client
        );
    }
    if !s.submit_errors.is_empty() {
        println!("submit errors    {:?}", s.submit_errors);
    }
    if let Some(out) = &args.ids_out {
        let hex = |ids: &[Hash32]| ids.iter().map(|id| id.to_hex()).collect::<Vec<_>>();
        let json = serde_json::json!({
            "admitted": hex(&s.admitted),
            "committed": hex(&s.committed),
        });
        write_results(out, &json)?;
    }
    if let Some(out) = &args.out {
        let json = serde_json::json!({
            "mode": args.mode,
            "commit": git_commit(),
            "machine": machine(),
            "params": {
                "rate": args.rate, "seconds": args.seconds, "clients": keys.len(),
                "nodes": nodes.len(), "query_rate": args.query_rate, "batch": args.batch,
            },
            "committed": committed,
            "committed_per_s": throughput,
            "nodes": node_usage.iter().map(|(id, cpu, rss)| serde_json::json!({
                "member": id, "cpu_percent_of_core": cpu, "peak_rss_mib": rss,
            })).collect::<Vec<_>>(),
            "not_committed": s.submitted.len(),
            "commit_latency_ms": {
                "p50": percentile(&commits, 0.5), "p90": percentile(&commits, 0.9),
                "p99": percentile(&commits, 0.99), "max": percentile(&commits, 1.0),
            },
            "record_query_latency_ms": {
                "p50": percentile(&queries, 0.5), "p99": percentile(&queries, 0.99),
                "max": percentile(&queries, 1.0), "count": queries.len(),
            },
            "submit_errors": s.submit_errors,
            "skipped_turns": s.skipped,
            "expired": s.expired,
            "resubmitted": s.resubmitted,
        });
        write_results(out, &json)?;
    }
    Ok(())
}
