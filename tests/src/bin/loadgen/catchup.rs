//! The catch-up mode: block sync measured on a member restarted behind a loaded network.

use super::process::{git_commit, machine, peak_rss_mib, write_results};
use super::{Args, run};
use anyhow::{Result, bail};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The last node is stopped while the others commit the offered load, then restarted: how fast does block sync
/// bring it back to the head?
pub(super) fn catchup(
    runtime: &tokio::runtime::Runtime,
    args: &Args,
    mut cluster: clearance_tests::cluster::Cluster,
    nodes: Vec<String>,
    keys: Vec<PathBuf>,
    pids: &[(String, u32)],
) -> Result<()> {
    let lagging = nodes.len() - 1;
    if lagging < 3 {
        bail!("catchup needs at least 4 members, so that the others keep a quorum");
    }
    let log_size = |c: &clearance_tests::cluster::Cluster, i: usize| {
        c.status(i).and_then(|s| s["log_size"].as_u64())
    };
    let before = log_size(&cluster, lagging).unwrap_or(0);
    cluster.kill(lagging);
    eprintln!(
        "stopped member {}; loading the others",
        cluster.nodes[lagging].id
    );
    runtime.block_on(run(
        args,
        nodes[..lagging].to_vec(),
        keys[..lagging].to_vec(),
        &pids[..lagging],
    ))?;
    let target_height = cluster.height(0).unwrap_or(0);
    let target_log = log_size(&cluster, 0).unwrap_or(0);
    let missed = target_log.saturating_sub(before);
    eprintln!(
        "restarting member {}: {missed} records behind",
        cluster.nodes[lagging].id
    );
    cluster.start_node(lagging);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(900);
    while cluster.height(lagging).unwrap_or(0) < target_height {
        if Instant::now() > deadline {
            bail!("the restarted node did not reach height {target_height} in 15 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = started.elapsed();
    let rate = missed as f64 / took.as_secs_f64();
    let rss = cluster.pid(lagging).and_then(peak_rss_mib);
    println!(
        "catch-up         {missed} records (height {target_height}) in {:.1} s: {rate:.0} records/s, \
         counting the node's start; its peak RSS {}",
        took.as_secs_f64(),
        rss.map_or("?".into(), |r| format!("{r:.0} MiB"))
    );
    if let Some(out) = &args.out {
        let json = serde_json::json!({
            "mode": "catchup",
            "commit": git_commit(),
            "machine": machine(),
            "params": { "rate": args.rate, "seconds": args.seconds, "nodes": nodes.len() },
            "missed_records": missed,
            "target_height": target_height,
            "seconds": took.as_secs_f64(),
            "records_per_s": rate,
            "peak_rss_mib": rss,
        });
        write_results(out, &json)?;
    }
    Ok(())
}
