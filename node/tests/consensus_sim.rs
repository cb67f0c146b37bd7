//! Seeded simulation of real nodes (see `sim/mod.rs`): thousands of random scenarios per run, each checked for
//! agreement, validity, no double signing by honest members, liveness after the network heals, every
//! acknowledged record committed everywhere, and equal heads.
//!
//! - `SIM_SEEDS=N` runs N seeds per test instead of the defaults below; `SIM_SEEDS=100000` for a long run.
//! - `SIM_SEED=S SIM_N=n SIM_BYZANTINE=b` replays exactly one run, as a failure prints it;
//!   `SIM_SEED=S SIM_MEMBERSHIP=1` one run of the membership scenario.

mod sim;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}"))
    })
}

/// Runs `count` seeds from `first` (or `SIM_SEEDS` of them) for `n` validators with `byzantine` faulty ones;
/// panics on the first failing seed with the command that replays it.
fn run_seeds(n: usize, byzantine: usize, first: u64, count: u64) {
    if let Some(seed) = env_u64("SIM_SEED") {
        let wanted_n = env_u64("SIM_N").unwrap_or(n as u64) as usize;
        let wanted_b = env_u64("SIM_BYZANTINE").unwrap_or(byzantine as u64) as usize;
        if (wanted_n, wanted_b) != (n, byzantine) || env_u64("SIM_MEMBERSHIP") == Some(1) {
            return;
        }
        let (scenario, result) = sim::run_seed(seed, n, byzantine);
        println!("{scenario:#?}");
        match result {
            Ok(report) => println!("seed {seed}: ok {report:?}"),
            Err(e) => panic!("seed {seed}: {e}"),
        }
        return;
    }
    let label = format!("n = {n}, byzantine = {byzantine}");
    let replay = format!("SIM_N={n} SIM_BYZANTINE={byzantine}");
    let (evidence, proposal_evidence, repaired) = run_many(&label, &replay, first, count, |seed| {
        sim::run_seed(seed, n, byzantine)
    });
    let seeds = env_u64("SIM_SEEDS").unwrap_or(count);
    // Gossip loses transactions in these runs; members must have fetched some of the missing ones from peers
    // (`SyncRequest::Txs`), or the repair path is dead.
    if seeds >= 200 {
        assert!(
            repaired > 0,
            "no missing transaction fetched from a peer in {seeds} runs"
        );
    }
    if byzantine > 0 && seeds >= 200 {
        // Double voters and equivocating proposers appear in about two fifths of these runs; their
        // equivocation must be detected, and a double proposal committed as evidence.
        assert!(
            evidence > 0,
            "no equivocation evidence in {count} runs with Byzantine members"
        );
        assert!(
            proposal_evidence > 0,
            "no double proposal committed as evidence in {count} runs with Byzantine members"
        );
    }
}

/// Runs `count` seeds from `first` (or `SIM_SEEDS` of them) through `run`; panics on the first failing seed
/// with the command that replays it. Returns the equivocations detected, and the double proposals committed as
/// evidence.
fn run_many(
    label: &str,
    replay: &str,
    first: u64,
    count: u64,
    run: impl Fn(u64) -> (sim::Scenario, Result<sim::Report, String>),
) -> (u64, u64, u64) {
    let count = env_u64("SIM_SEEDS").unwrap_or(count);
    let (mut messages, mut evidence, mut heights, mut acknowledged, mut virtual_ms) =
        (0, 0, 0, 0, 0);
    let mut proposal_evidence = 0;
    let mut key_switches = 0;
    let mut repaired = 0;
    let started = std::time::Instant::now();
    for seed in first..first + count {
        let (scenario, result) = run(seed);
        match result {
            Ok(report) => {
                messages += report.messages;
                evidence += report.evidence;
                proposal_evidence += report.proposal_evidence;
                heights += report.heights;
                acknowledged += report.acknowledged;
                virtual_ms += report.virtual_ms;
                key_switches += report.key_switches;
                repaired += report.repaired;
            }
            Err(e) => panic!(
                "simulation failed: {label}, seed = {seed}: {e}\n\
                 replay: SIM_SEED={seed} {replay} \
                 cargo test -p clearance-node --test consensus_sim -- --nocapture\n{scenario:#?}"
            ),
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{label}: {count} seeds passed in {:.1} s ({:.1} ms per seed), {:.0} s of simulated time, {heights} \
         heights committed, {acknowledged} records acknowledged, {messages} messages, {evidence} equivocations \
         detected, {proposal_evidence} double proposals committed as evidence, {key_switches} network key switches, \
         {repaired} missing transactions fetched from peers",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / count.max(1) as f64,
        virtual_ms as f64 / 1000.0,
    );
    (evidence, proposal_evidence, repaired)
}

// The default run, sized so that the whole of scripts/test stays near 6 minutes on 2 cores: 1,000 seeds at n = 4
// and 600 at n = 7 with f Byzantine members (the n = 7 ones in four parts so that the test runner spreads them
// over the cores), plus shorter runs with fewer faults. CI adds a longer campaign (.ci/run, SIM_SEEDS).

#[test]
fn n4_f1_byzantine_a() {
    run_seeds(4, 1, 2_000_000, 500);
}

#[test]
fn n4_f1_byzantine_b() {
    run_seeds(4, 1, 2_005_000, 500);
}

#[test]
fn n7_f2_byzantine_a() {
    run_seeds(7, 2, 3_000_000, 150);
}

#[test]
fn n7_f2_byzantine_b() {
    run_seeds(7, 2, 3_002_500, 150);
}

#[test]
fn n7_f2_byzantine_c() {
    run_seeds(7, 2, 3_005_000, 150);
}

#[test]
fn n7_f2_byzantine_d() {
    run_seeds(7, 2, 3_007_500, 150);
}

#[test]
fn n4_honest_with_crashes_and_partitions() {
    run_seeds(4, 0, 1_000_000, 200);
}

#[test]
fn n7_one_byzantine() {
    run_seeds(7, 1, 4_000_000, 200);
}

/// A fifth member admitted, a validator key rotated and a member removed during runs with crashes, partitions,
/// loss and delays; in half of them one member sleeps through every change and catches up.
#[test]
fn membership_changes_with_crashes_and_partitions() {
    if let Some(seed) = env_u64("SIM_SEED") {
        if env_u64("SIM_MEMBERSHIP") != Some(1) {
            return;
        }
        let byzantine = env_u64("SIM_BYZANTINE").unwrap_or(0) as usize;
        let (scenario, result) = sim::run_membership_seed(seed, byzantine);
        println!("{scenario:#?}");
        match result {
            Ok(report) => println!("seed {seed}: ok {report:?}"),
            Err(e) => panic!("seed {seed}: {e}"),
        }
        return;
    }
    run_many(
        "membership changes",
        "SIM_MEMBERSHIP=1",
        5_000_000,
        100,
        |seed| sim::run_membership_seed(seed, 0),
    );
}

/// The same with one Byzantine member of the four (silent, equivocating proposer, double voter, or selective then
/// silent), which may be the one removed or the one rotating its key.
#[test]
fn membership_changes_with_a_byzantine_member() {
    if env_u64("SIM_SEED").is_some() {
        return;
    }
    run_many(
        "membership changes, 1 byzantine",
        "SIM_MEMBERSHIP=1 SIM_BYZANTINE=1",
        6_000_000,
        100,
        |seed| sim::run_membership_seed(seed, 1),
    );
}

/// Issue 20: f members away for 30–45 s while the others commit under load, then back: crashed (the others see
/// them disconnected), or stuck (connected and voting, but no proposal of theirs arrives). While they are away,
/// the heights that wait out a proposal timeout (a gap of 900 ms or more between blocks) are only the probes of
/// stuck members, about one per member per 20 s (a crashed member's probe costs nothing: nobody is connected to
/// it, so nobody waits); each returning member proposes a committed block within 30 s; and at the end every
/// member proposes its share.
#[test]
fn absent_members_are_skipped_and_taken_back() {
    let configurations = [
        (4, false, 7_000_000, 3),
        (4, true, 7_100_000, 3),
        (7, false, 7_200_000, 1),
        (7, true, 7_300_000, 1),
    ];
    for (n, stuck, first, count) in configurations {
        let label = format!("absent members, n = {n}, stuck = {stuck}");
        let replay = format!("SIM_ABSENT={n} SIM_STUCK={}", u8::from(stuck));
        if let Some(seed) = env_u64("SIM_SEED") {
            if env_u64("SIM_ABSENT") == Some(n as u64) && env_u64("SIM_STUCK") == Some(stuck.into())
            {
                let (scenario, result) = sim::run_absent_seed(seed, n, stuck);
                let result = result.and_then(|r| check_absent(&scenario, &r).map(|()| r));
                println!("{scenario:#?}\nseed {seed}: {result:?}");
                result.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            }
            continue;
        }
        // Each seed simulates about 80 s under steady load (2–6 s of CPU): SIM_SEEDS, meant for the randomised
        // runs, does not apply; SIM_ABSENT_SEEDS does.
        let count = env_u64("SIM_ABSENT_SEEDS").unwrap_or(count);
        let started = std::time::Instant::now();
        for seed in first..first + count {
            let (scenario, result) = sim::run_absent_seed(seed, n, stuck);
            if let Err(e) = result.and_then(|r| check_absent(&scenario, &r)) {
                panic!(
                    "simulation failed: {label}, seed = {seed}: {e}\n\
                     replay: SIM_SEED={seed} {replay} \
                     cargo test -p clearance-node --test consensus_sim absent -- --nocapture\n{scenario:#?}"
                );
            }
        }
        println!(
            "{label}: {count} seeds passed in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
}

fn check_absent(s: &sim::Scenario, report: &sim::Report) -> Result<(), String> {
    use clearance_core::proposer::PROBE_INTERVAL_MS;
    let (away, back) = s.away();
    let stuck = !s.mutes.is_empty();
    let blocks = &report.blocks;
    // From 10 s after they went away (the window has filled), to their return.
    let from = sim::DOWN_AT_MS + 10_000;
    let stalls = blocks
        .windows(2)
        .filter(|w| w[0].at_ms >= from && w[1].at_ms <= back && w[1].at_ms - w[0].at_ms >= 900)
        .count() as u64;
    let allowed = match stuck {
        true => (back - from) * away.len() as u64 / PROBE_INTERVAL_MS + away.len() as u64 + 1,
        false => 1,
    };
    if stalls > allowed {
        return Err(format!(
            "{stalls} heights waited out a timeout in {} ms with {} members away; at most {allowed} expected",
            back - from,
            away.len()
        ));
    }
    for &x in &away {
        match blocks.iter().find(|b| b.proposer == x && b.at_ms >= back) {
            Some(b) if b.at_ms - back <= 30_000 => {}
            Some(b) => {
                return Err(format!(
                    "member {x} back at {back} ms first proposed at {} ms (height {})",
                    b.at_ms, b.height
                ));
            }
            None => return Err(format!("member {x} back at {back} ms never proposed again")),
        }
    }
    let last: Vec<_> = blocks
        .iter()
        .filter(|b| b.at_ms + 10_000 >= s.heal_at && b.at_ms < s.heal_at)
        .collect();
    for member in 0..s.n {
        let share = last.iter().filter(|b| b.proposer == member).count();
        if share * 2 * s.n < last.len() {
            return Err(format!(
                "member {member} proposed {share} of the last {} blocks before the heal",
                last.len()
            ));
        }
    }
    Ok(())
}
