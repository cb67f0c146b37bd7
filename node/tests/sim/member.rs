//! One simulated member: the real driver (machine, ledger, mempool, block sync, gossip) on RocksDB in an
//! in-memory environment, behind ports that the simulation owns: a virtual clock, an outbox it routes, no status
//! board, and background work run inline.

use super::fixtures::key;
use clearance_core::genesis::Genesis;
use clearance_core::peer::PeerKey;
use clearance_node::driver::ports::{
    Background, Clock, NetClosed, NetSink, NodeKeys, SigningRecord, StatusBoard,
};
use clearance_node::driver::{Driver, DriverParts};
use clearance_node::ledger::Ledger;
use clearance_node::mempool::Mempool;
use clearance_node::metrics::Metrics;
use clearance_node::network::{ConsensusChannel, NetCommand};
use clearance_node::status::Status;
use clearance_node::storage::{MemoryDisk, Store};
use clearance_node::validator_state::{SignedWatermark, ValidatorStateError};
use libp2p::PeerId;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The driver's housekeeping tick, as the tokio shell runs it.
pub const TICK: Duration = Duration::from_millis(100);

/// Virtual time: moves only when the simulation moves it.
pub struct SimClock {
    pub start: Instant,
    pub now: Mutex<Instant>,
    pub wall_start_ms: u64,
}

impl SimClock {
    pub fn set(&self, at: Instant) {
        let mut now = self.now.lock().expect("clock");
        *now = at.max(*now);
    }
}

impl Clock for SimClock {
    fn now(&self) -> Instant {
        *self.now.lock().expect("clock")
    }
    fn wall_ms(&self) -> u64 {
        self.wall_start_ms + self.now().duration_since(self.start).as_millis() as u64
    }
}

/// What a driver sent, collected until the simulation routes it.
#[derive(Default)]
pub struct Outbox(pub Mutex<Vec<NetCommand>>);

impl NetSink for Outbox {
    fn send(&self, cmd: NetCommand) -> Result<(), NetClosed> {
        self.0.lock().expect("outbox").push(cmd);
        Ok(())
    }
}

impl Outbox {
    pub fn take(&self) -> Vec<NetCommand> {
        std::mem::take(&mut *self.0.lock().expect("outbox"))
    }
}

struct NoStatus;
impl StatusBoard for NoStatus {
    fn publish(&self, _: Status) {}
}

/// Block-sync answers are read at once, on the simulation's thread.
/// What a simulated member's key files hold. Shared with the simulation, which adds the next key before
/// proposing its rotation, as an operator writes the next key file.
pub type KeyFiles = Arc<Mutex<HeldKeys>>;

pub struct HeldKeys {
    pub validator: Vec<clearance_core::crypto::SecretKey>,
    pub network: clearance_core::crypto::SecretKey,
    pub next_network: Option<clearance_core::crypto::SecretKey>,
}

struct Keys(KeyFiles);
impl NodeKeys for Keys {
    fn validator_keys(&self) -> Vec<clearance_core::crypto::SecretKey> {
        self.0.lock().expect("keys").validator.clone()
    }

    fn network_key(&self) -> Option<clearance_core::crypto::SecretKey> {
        Some(self.0.lock().expect("keys").network.clone())
    }

    fn next_network_key(&self) -> Option<clearance_core::crypto::SecretKey> {
        self.0.lock().expect("keys").next_network.clone()
    }
}

/// A simulated validator state file: it outlives crashes and wiped disks, as the file beside the key does.
pub type SigningFile = Arc<Mutex<Option<SignedWatermark>>>;

struct Signing(SigningFile);
impl SigningRecord for Signing {
    fn last(&self) -> Option<SignedWatermark> {
        self.0.lock().expect("signing").clone()
    }

    fn save(&mut self, mark: &SignedWatermark) -> Result<(), ValidatorStateError> {
        *self.0.lock().expect("signing") = Some(mark.clone());
        Ok(())
    }
}

struct Inline;
impl Background for Inline {
    fn spawn(&self, job: Box<dyn FnOnce() + Send>) {
        job();
    }
}

/// A slot of the simulation: a validator's node, or the second instance of a twin.
pub struct Member {
    /// The validator this slot signs as.
    pub validator: usize,
    /// `None` while the member is down.
    pub driver: Option<Driver>,
    pub outbox: Arc<Outbox>,
    pub peer: PeerId,
    /// What the network layer checks before the driver sees an item (signatures, limits).
    pub checker: ConsensusChannel,
    pub next_tick: Instant,
    /// Survives crashes, like a data directory.
    pub disk: MemoryDisk,
    /// The store on `disk`, kept open across simulated crashes: everything it acknowledged is in the in-memory
    /// disk already, so reopening would only repeat RocksDB's own recovery (a quarter of a seed's time) while
    /// the node's recovery (head, safety state, mempool) runs in full at every start.
    store: Option<Arc<Store>>,
    /// Kept across restarts, like a scraper's view of the counters.
    pub metrics: Arc<Metrics>,
    pub keys: KeyFiles,
    pub signing: SigningFile,
    /// The peers this member's node lets connect, as its driver last set them; `None` before it first did.
    pub allowed: Option<std::collections::BTreeSet<PeerId>>,
}

impl Member {
    pub fn new(genesis: &Genesis, validator: usize, first_tick: Instant) -> Member {
        let metrics = Arc::new(Metrics::default());
        let peer = super::fixtures::member_info(validator)
            .peer_id
            .to_peer_id()
            .parse()
            .expect("peer id");
        Member {
            validator,
            driver: None,
            outbox: Arc::new(Outbox::default()),
            peer,
            checker: ConsensusChannel::new(
                genesis.chain_id(),
                genesis.validator_set().expect("validator set"),
                metrics.clone(),
            ),
            next_tick: first_tick,
            disk: MemoryDisk::new().expect("in-memory disk"),
            store: None,
            metrics,
            keys: Arc::new(Mutex::new(HeldKeys {
                validator: vec![key(validator as u8 + 1)],
                network: key(validator as u8 + 100),
                next_network: None,
            })),
            signing: Arc::new(Mutex::new(None)),
            allowed: None,
        }
    }

    pub fn driver(&mut self) -> &mut Driver {
        self.driver.as_mut().expect("a running member")
    }

    pub fn is_up(&self) -> bool {
        self.driver.is_some()
    }

    /// Starts the node over what its disk holds: what a restart after `kill -9` finds.
    pub fn start(&mut self, genesis: &Genesis, clock: Arc<SimClock>) {
        let chain_id = genesis.chain_id();
        let store = match &self.store {
            Some(store) => store.clone(),
            None => {
                let store =
                    Arc::new(Store::open_in_memory(&self.disk, "node", genesis).expect("store"));
                self.store = Some(store.clone());
                store
            }
        };
        // The peer id a restarted node takes, by the rule `clearance-node` starts with.
        let next_network = self.keys.lock().expect("keys").next_network.clone();
        let delay = genesis.params.membership_delay_blocks.into();
        let head = store.head().expect("head").height;
        let identity = match next_network {
            Some(next)
                if clearance_node::membership::network_key_due(
                    &store,
                    head,
                    delay,
                    &PeerKey::from_key(next.public_key()),
                ) =>
            {
                next
            }
            _ => key(self.validator as u8 + 100),
        };
        self.peer = PeerKey::from_key(identity.public_key())
            .to_peer_id()
            .parse()
            .expect("peer id");
        let ledger = Ledger::new(store, chain_id, genesis.params.clone()).expect("ledger");
        let mempool = Mempool::new(
            chain_id,
            50_000,
            128 << 20,
            genesis.params.max_tx_bytes as usize,
        );
        let (events, _) = tokio::sync::broadcast::channel(16);
        let mut driver = Driver::new(DriverParts {
            ledger,
            mempool,
            genesis: genesis.clone(),
            keys: Box::new(Keys(self.keys.clone())),
            signing: Box::new(Signing(self.signing.clone())),
            net: self.outbox.clone(),
            metrics: self.metrics.clone(),
            status: Box::new(NoStatus),
            clock: clock.clone(),
            background: Box::new(Inline),
            // The peer id it has: its genesis one, or the next one once its driver switched to it.
            base_status: Status {
                node_id: self.peer.to_base58(),
                ..Status::default()
            },
            events,
            min_block_interval: Duration::from_millis(50),
        })
        .expect("driver");
        driver.start().expect("start");
        self.next_tick = clock.now.lock().expect("clock").to_owned() + TICK;
        self.driver = Some(driver);
    }

    /// `kill -9`: the process and everything in memory are gone, and so is what it had not sent yet.
    pub fn crash(&mut self) {
        self.driver = None;
        self.outbox.take();
    }

    /// The operator deletes the data directory of a crashed member to resync it: a fresh disk, while the keys
    /// and the validator state file beside them stay.
    pub fn wipe(&mut self) {
        self.disk = MemoryDisk::new().expect("in-memory disk");
        self.store = None;
    }
}
