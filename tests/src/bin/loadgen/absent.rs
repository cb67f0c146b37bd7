//! The absent mode (issue 20): one member is stopped while the others are offered the load, as when an
//! administration takes its node down for maintenance; then it is started again under load, and the time until it
//! proposes a committed block is measured.

use super::process::write_results;
use super::{Args, run};
use anyhow::{Context, Result, bail};
use clearance_core::block::Header;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Load before the measured phase: the members need `3n` heights, some of which wait for the stopped member's
/// proposal, before they count it absent (docs/consensus.md §7). The measured phase is the steady state.
const WARM_UP_SECONDS: u64 = 5;
/// The load after the restart, while the returning member is watched for its first committed proposal.
const RETURN_SECONDS: u64 = 40;

pub(super) fn absent(
    runtime: &tokio::runtime::Runtime,
    args: &Args,
    mut cluster: clearance_tests::cluster::Cluster,
    nodes: Vec<String>,
    keys: Vec<PathBuf>,
    pids: &[(String, u32)],
) -> Result<()> {
    let down = nodes.len() - 1;
    if down < 3 {
        bail!("absent needs at least 4 members, so that the others keep a quorum");
    }
    let member = cluster.nodes[down].id.clone();
    cluster.kill(down);
    let up = |a: &Args, seconds: u64, out: Option<PathBuf>, mode: &str| Args {
        seconds,
        out,
        mode: mode.into(),
        ..a.clone()
    };
    // The load goes to the members that stay up, throughout.
    let load = |a: &Args| {
        runtime.block_on(run(
            a,
            nodes[..down].to_vec(),
            keys[..down].to_vec(),
            &pids[..down],
        ))
    };
    eprintln!("stopped member {member}; {WARM_UP_SECONDS} s of load before measuring");
    load(&up(args, WARM_UP_SECONDS, None, "absent-warm-up"))?;
    // What the warm-up left pending commits before the next phase signs its next sequence numbers.
    std::thread::sleep(Duration::from_secs(3));
    load(args)?;
    std::thread::sleep(Duration::from_secs(3));

    let from_height = cluster.height(0).unwrap_or(0) + 1;
    let restarted_ms = now_ms();
    cluster.start_node(down);
    eprintln!("restarted member {member}; {RETURN_SECONDS} s of load while it comes back");
    load(&up(args, RETURN_SECONDS, None, "absent-return"))?;
    let first = first_proposal(&nodes[0], &member, from_height)?;
    let seconds = first.map(|(_, ms)| ms.saturating_sub(restarted_ms) as f64 / 1000.0);
    match (first, seconds) {
        (Some((height, _)), Some(s)) => println!(
            "returned         member {member} proposed committed block {height} {s:.1} s after its restart"
        ),
        _ => println!(
            "returned         member {member} proposed no committed block in {RETURN_SECONDS} s"
        ),
    }
    if let Some(out) = &args.out {
        let text = std::fs::read_to_string(out).context("reading the measured phase's results")?;
        let mut json: serde_json::Value = serde_json::from_str(&text)?;
        json["absent_member"] = member.clone().into();
        json["warm_up_seconds"] = WARM_UP_SECONDS.into();
        json["return"] = serde_json::json!({
            "seconds_to_first_proposal": seconds,
            "height": first.map(|(h, _)| h),
            "watched_seconds": RETURN_SECONDS,
        });
        write_results(out, &json)?;
    }
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The first committed block from `from` on that names `member` as proposer, with its time (ms).
fn first_proposal(node: &str, member: &str, from: u64) -> Result<Option<(u64, u64)>> {
    let started = Instant::now();
    let mut height = from;
    while let Some(block) =
        clearance_tests::cluster::get_json(&format!("{node}/v1/blocks/{height}"))
    {
        let header: Header = serde_json::from_value(block["header"].clone())
            .with_context(|| format!("block {height}'s header"))?;
        if header.proposer.as_str() == member {
            return Ok(Some((height, header.time.as_millis())));
        }
        height += 1;
        if started.elapsed() > Duration::from_secs(120) {
            bail!("reading blocks from {from} took more than 2 minutes");
        }
    }
    Ok(None)
}
