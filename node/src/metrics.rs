//! Counters and gauges, rendered in the Prometheus text format at `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! metrics {
    ($($name:ident: $kind:literal, $help:literal;)*) => {
        #[derive(Default)]
        pub struct Metrics {
            $(pub $name: AtomicU64,)*
        }

        impl Metrics {
            pub fn render(&self) -> String {
                let mut out = String::new();
                $(
                    let _ = writeln!(out, "# HELP clearance_{} {}", stringify!($name), $help);
                    let _ = writeln!(out, "# TYPE clearance_{} {}", stringify!($name), $kind);
                    let _ = writeln!(out, "clearance_{} {}", stringify!($name), self.$name.load(Ordering::Relaxed));
                )*
                out
            }
        }
    };
}

metrics! {
    height: "gauge", "Height of the last committed block.";
    round: "gauge", "Consensus round at the current height.";
    peers: "gauge", "Connected member peers.";
    mempool_txs: "gauge", "Transactions waiting in the mempool.";
    mempool_bytes: "gauge", "Bytes waiting in the mempool.";
    committed_txs_total: "counter", "Transactions committed, accepted or rejected.";
    accepted_records_total: "counter", "Records appended to the record log.";
    rejected_txs_total: "counter", "Committed transactions the rules rejected.";
    blocks_synced_total: "counter", "Blocks fetched and verified by block sync.";
    admitted_txs_total: "counter", "Transactions admitted to the mempool.";
    refused_txs_total: "counter", "Transactions refused at admission.";
    p2p_refused_connections_total: "counter", "Connections refused because the peer is not a genesis member.";
    p2p_invalid_messages_total: "counter", "Undecodable, oversize or wrong-chain messages from peers.";
    p2p_penalised_peers_total: "counter", "Peers disconnected for sending invalid messages.";
    consensus_ignored_messages_total: "counter", "Consensus messages ignored (bad signature, non-member, stale, duplicate).";
    evidence_total: "counter", "Equivocations detected.";
    safety_writes_total: "counter", "Synced writes of the consensus safety state.";
    dropped_gossip_events_total: "counter", "Gossip messages and peer requests dropped because the consensus task was behind.";
    gossip_send_failures_total: "counter", "Gossip messages this node could not send to a peer in time (the peer's send queue was full, or a message waited past its deadline); gossipsub reports them at its heartbeat.";
    gossip_reconnects_total: "counter", "Connections to a member reset because no consensus message came from it over gossip for 5 s while a height ran.";
    late_decisions_total: "counter", "Heights this node decided in a round after the first (a timeout or a failed proposal).";
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
