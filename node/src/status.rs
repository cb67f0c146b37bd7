//! What the node reports about itself at `/v1/status`.

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub chain_id: String,
    pub chain_name: String,
    pub moniker: String,
    /// The member this node validates for, if its validator key is in the set.
    pub member: Option<String>,
    pub node_id: String,
    /// Height of the last committed block; 0 before the first.
    pub height: u64,
    pub head_hash: String,
    pub head_time: String,
    pub log_size: u64,
    pub log_root: String,
    /// The state tree's root after the last committed block.
    pub state_root: String,
    /// Transactions committed so far, accepted or rejected.
    pub committed_txs: u64,
    pub consensus: ConsensusStatus,
    pub peers: Vec<String>,
    /// True while the node is fetching blocks it missed.
    pub syncing: bool,
    /// The highest height a peer reported.
    pub best_peer_height: u64,
    pub mempool_txs: usize,
    pub mempool_bytes: u64,
    /// The size of the validator set deciding the next height.
    pub validators: usize,
    /// The ids of the members in force at the next height.
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ConsensusStatus {
    pub height: u64,
    pub round: u32,
    pub step: String,
    /// Waiting for transactions (or the heartbeat) before starting the next height.
    pub waiting_for_txs: bool,
}
