//! The driver's ports: what it needs from outside its task (time, the network, the status board, work off its
//! thread) goes through these small traits. The node plugs in tokio, the system clock and the libp2p task
//! (`shell.rs`); a simulator can plug in a virtual clock and a simulated network and run the same driver.

use crate::network::NetCommand;
use crate::status::Status;
use std::time::Instant;

/// The driver's time.
pub trait Clock: Send + Sync {
    /// Monotonic time, for timeouts, pacing and intervals.
    fn now(&self) -> Instant;
    /// Milliseconds since the Unix epoch, for block times and mempool ages.
    fn wall_ms(&self) -> u64;
}

/// The network task has stopped: only while the node shuts down.
#[derive(Debug, thiserror::Error)]
#[error("the network task has stopped")]
pub struct NetClosed;

/// Where the driver's network commands go.
pub trait NetSink: Send + Sync {
    fn send(&self, cmd: NetCommand) -> Result<(), NetClosed>;
}

/// Where the driver publishes its status for the API.
pub trait StatusBoard: Send {
    fn publish(&self, status: Status);
}

/// Runs work that must not hold up the driver (reading blocks for a peer) elsewhere: the node on a blocking
/// thread; a simulator may run it inline.
pub trait Background: Send {
    fn spawn(&self, job: Box<dyn FnOnce() + Send>);
}

/// What this validator last signed, kept outside the chain database and synced before each signature leaves
/// the node (`crate::validator_state`): the node plugs in its `validator_state_file`, a simulator a record
/// that outlives a wiped disk.
pub trait SigningRecord: Send {
    /// The watermark as last synced.
    fn last(&self) -> Option<crate::validator_state::SignedWatermark>;
    /// Syncs `mark`; only then may the signature it covers leave the node.
    fn save(
        &mut self,
        mark: &crate::validator_state::SignedWatermark,
    ) -> Result<(), crate::validator_state::ValidatorStateError>;
}

impl SigningRecord for crate::validator_state::ValidatorStateFile {
    fn last(&self) -> Option<crate::validator_state::SignedWatermark> {
        self.current()
    }

    fn save(
        &mut self,
        mark: &crate::validator_state::SignedWatermark,
    ) -> Result<(), crate::validator_state::ValidatorStateError> {
        crate::validator_state::ValidatorStateFile::save(self, mark)
    }
}

/// The keys the node holds in its key files. Read at start and again whenever the membership changes: an
/// operator rotating a key puts the next one beside the current one while the node runs, and the node switches
/// to it when the ledger says so, without a restart.
pub trait NodeKeys: Send {
    /// The validator keys: the one in force, and the next while a rotation is pending. The node signs with
    /// whichever of them the set in force names.
    fn validator_keys(&self) -> Vec<clearance_core::crypto::SecretKey>;
    /// The network key the node was configured with.
    fn network_key(&self) -> Option<clearance_core::crypto::SecretKey>;
    /// The next network key, while a rotation of the node's peer id is pending. The node's network takes it on
    /// once the rotation is adopted.
    fn next_network_key(&self) -> Option<clearance_core::crypto::SecretKey>;
}
