//! Counters, gauges and histograms, rendered in the Prometheus text format at `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! metrics {
    ($($name:ident: $kind:literal, $help:literal;)*) => {
        #[derive(Default)]
        pub struct Metrics {
            $(pub $name: AtomicU64,)*
            pub histograms: Histograms,
        }

        impl Metrics {
            pub fn render(&self) -> String {
                let mut out = String::new();
                $(
                    let _ = writeln!(out, "# HELP clearance_{} {}", stringify!($name), $help);
                    let _ = writeln!(out, "# TYPE clearance_{} {}", stringify!($name), $kind);
                    let _ = writeln!(out, "clearance_{} {}", stringify!($name), self.$name.load(Ordering::Relaxed));
                )*
                self.histograms.render(&mut out);
                out
            }
        }
    };
}

metrics! {
    height: "gauge", "Height of the last committed block.";
    round: "gauge", "Consensus round at the current height.";
    peers: "gauge", "Connected member peers.";
    active_proposers: "gauge", "Members the proposer rule counts as taking part at the current height (the others get round 0 only when probed).";
    mempool_txs: "gauge", "Transactions waiting in the mempool.";
    mempool_bytes: "gauge", "Bytes waiting in the mempool.";
    committed_txs_total: "counter", "Transactions committed, accepted or rejected.";
    accepted_records_total: "counter", "Records appended to the record log.";
    rejected_txs_total: "counter", "Committed transactions the rules rejected.";
    blocks_synced_total: "counter", "Blocks fetched and verified by block sync.";
    admitted_txs_total: "counter", "Transactions admitted to the mempool.";
    refused_txs_total: "counter", "Transactions refused at admission.";
    p2p_refused_connections_total: "counter", "Connections refused: the peer is not a member in force or about to be, is banned for a while for invalid messages, or a connection limit was reached.";
    p2p_invalid_messages_total: "counter", "Undecodable, oversize or wrong-chain messages from peers.";
    p2p_penalised_peers_total: "counter", "Peers disconnected for sending invalid messages.";
    consensus_ignored_messages_total: "counter", "Consensus messages ignored (bad signature, non-member, stale, duplicate).";
    evidence_total: "counter", "Equivocations detected (double votes and double proposals).";
    invalid_proposed_blocks_total: "counter", "Proposed blocks this node validated and found invalid (it prevoted nil): a proposer breaking the rules, or a node behind.";
    evidence_committed_total: "counter", "Evidence records committed (equivocations proven on the ledger, by any member's report).";
    safety_writes_total: "counter", "Synced writes of the consensus safety state.";
    dropped_gossip_events_total: "counter", "Gossiped transactions, consensus items and peer requests dropped because the consensus task was behind.";
    gossip_send_failures_total: "counter", "Gossip messages this node could not send to a peer in time (the peer's send queue was full, or a message waited past its deadline); gossipsub reports them at its heartbeat.";
    tx_gossip_peers: "gauge", "Connected peers that gossipsub knows to be subscribed to transaction gossip (the peers this node's transaction batches go to).";
    tx_publish_failures_total: "counter", "Transaction batches this node could not publish (no peer known to be subscribed, every peer's queue full, or a duplicate of a recent batch); the transactions stay in its mempool.";
    wanted_txs_total: "counter", "Missing transactions this node asked its peers for: holes in its mempool behind transactions that waited more than a second (a gossip batch it never received).";
    repaired_txs_total: "counter", "Transactions admitted from peers' answers to those requests.";
    regossiped_txs_total: "counter", "Ready transactions published again because they were still pending 2 s after they came (a peer may have missed their gossip batch, which would hold back the later transactions of their keys there).";
    gossip_stall_resets_total: "counter", "Connections to a member closed because gossip to it was stuck (many messages not sent within seconds).";
    gossip_reconnects_total: "counter", "Connections to a member reset because nothing came from it on the consensus channel for 10 s.";
    consensus_items_sent_total: "counter", "Proposals, votes, round states and commits sent to peers on the consensus channel.";
    consensus_dropped_requests_total: "counter", "Consensus requests dropped from a full per-peer outbox (their items are sent again while the peer lacks them).";
    consensus_failed_requests_total: "counter", "Consensus requests that failed or timed out (their items are sent again while the peer lacks them).";
    unreachable_proposer_rounds_total: "counter", "Rounds whose proposer this node had no connection to or had not heard from for 3 s, so it did not wait for the proposal.";
    late_decisions_total: "counter", "Heights this node decided in a round after the first (a timeout or a failed proposal).";
    consensus_out_of_window_dropped_total: "counter", "Proposals and votes for a height before the one being decided or after the next, dropped before their signature check.";
    consensus_over_budget_dropped_total: "counter", "Consensus items dropped unread because their sender had used its budget for the second (2,000 items).";
    consensus_other_set_dropped_total: "counter", "Proposals and votes for another height than the one being decided that failed the check against this height's validator set (signed by a removed member, an old rotated key, or a member whose admission this node has not reached); dropped, not penalised.";
    validator_set_changes_total: "counter", "Changes of the members in force this node has applied (admissions, removals, validator and network key rotations taking effect).";
    network_key_switches_total: "counter", "Times this node switched its network key (peer id): to the next key when the ledger's rotation to it was due, or to its other key while it heard from no member with a rotation pending.";
}

/// Latencies from milliseconds to tens of seconds.
const SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// API requests, from a cached lookup to a slow proof.
const API_SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
const ROUNDS: &[f64] = &[1.0, 2.0, 3.0, 5.0, 10.0, 20.0];
const BLOCKS_PER_SECOND: &[f64] = &[1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0];

macro_rules! histograms {
    ($($name:ident: $buckets:expr, $help:literal;)*) => {
        pub struct Histograms {
            $(pub $name: Histogram,)*
        }

        impl Default for Histograms {
            fn default() -> Self {
                Histograms { $($name: Histogram::new($buckets),)* }
            }
        }

        impl Histograms {
            fn render(&self, out: &mut String) {
                $(self.$name.render(out, concat!("clearance_", stringify!($name)), $help);)*
            }
        }
    };
}

histograms! {
    commit_latency_seconds: SECONDS, "Time from a transaction's admission to this node's mempool (from a client or from gossip) to its commit here.";
    block_interval_seconds: SECONDS, "Time between two blocks committed by this node (consensus or block sync).";
    consensus_rounds_per_height: ROUNDS, "Rounds consensus needed to decide a height here (1 = decided in the first round).";
    block_sync_blocks_per_second: BLOCKS_PER_SECOND, "Block sync speed: blocks per second of each response, from the request to the last block committed.";
    api_request_duration_seconds: API_SECONDS, "Time the HTTP API took to produce a response (for the event stream, its headers).";
}

/// A Prometheus histogram: cumulative bucket counts are computed when rendered.
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket, the last one above every bound.
    counts: Vec<AtomicU64>,
    /// Sum of observations in millionths, so that it stays an integer.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        let value = if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        };
        let bucket = self
            .bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((value * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn observe_duration(&self, d: std::time::Duration) {
        self.observe(d.as_secs_f64());
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            match self.bounds.get(i) {
                Some(b) => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn set(gauge: &AtomicU64, value: u64) {
        gauge.store(value, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_renders_cumulative_buckets_sum_and_count() {
        let h = Histogram::new(&[0.1, 1.0]);
        for v in [0.05, 0.1, 0.5, 7.0, f64::NAN] {
            h.observe(v);
        }
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "help");
        let want = "# HELP x_seconds help\n# TYPE x_seconds histogram\n\
                    x_seconds_bucket{le=\"0.1\"} 3\nx_seconds_bucket{le=\"1\"} 4\n\
                    x_seconds_bucket{le=\"+Inf\"} 5\nx_seconds_sum 7.65\nx_seconds_count 5\n";
        assert_eq!(out, want);
    }
}
