//! Seeded simulation of the consensus state machine: thousands of random scenarios per run, each checked for
//! agreement, validity, no double signing by honest nodes, and liveness after the network heals.
//!
//! - `SIM_SEEDS=N` runs N seeds per configuration (default below); `SIM_SEEDS=100000` for a long run.
//! - `SIM_SEED=S SIM_N=n SIM_BYZANTINE=b` replays exactly one run, as a failure prints it.

mod sim;

const DEFAULT_SEEDS: u64 = 2500;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}"))
    })
}

/// Runs `count` seeds from `first` for `n` validators with `byzantine` faulty ones; panics on the first
/// failing seed with the command that replays it.
fn run_seeds(n: usize, byzantine: usize, first: u64) {
    if let Some(seed) = env_u64("SIM_SEED") {
        let wanted_n = env_u64("SIM_N").unwrap_or(n as u64) as usize;
        let wanted_b = env_u64("SIM_BYZANTINE").unwrap_or(byzantine as u64) as usize;
        if (wanted_n, wanted_b) != (n, byzantine) {
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
    let count = env_u64("SIM_SEEDS").unwrap_or(DEFAULT_SEEDS);
    let mut messages = 0;
    let mut evidence = 0;
    let mut heights = 0;
    for seed in first..first + count {
        let (scenario, result) = sim::run_seed(seed, n, byzantine);
        match result {
            Ok(report) => {
                messages += report.messages;
                evidence += report.evidence;
                heights += report.decided_heights;
            }
            Err(e) => panic!(
                "simulation failed: n = {n}, byzantine = {byzantine}, seed = {seed}: {e}\n\
                 replay: SIM_SEED={seed} SIM_N={n} SIM_BYZANTINE={byzantine} \
                 cargo test -p clearance-node --test consensus_sim -- --nocapture\n{scenario:#?}"
            ),
        }
    }
    println!(
        "n = {n}, byzantine = {byzantine}: {count} seeds passed, {heights} heights decided, {messages} messages, \
         {evidence} equivocations detected"
    );
    if byzantine > 0 && count >= 200 {
        // Double voters appear in about a fifth of these runs; their equivocation must be detected.
        assert!(evidence > 0, "no equivocation evidence in {count} runs with Byzantine members");
    }
}

#[test]
fn n4_honest_with_crashes_and_partitions() {
    run_seeds(4, 0, 1_000_000);
}

#[test]
fn n4_one_byzantine() {
    run_seeds(4, 1, 2_000_000);
}

#[test]
fn n7_two_byzantine() {
    run_seeds(7, 2, 3_000_000);
}

#[test]
fn n7_one_byzantine() {
    run_seeds(7, 1, 4_000_000);
}
