//! The driver: one task that owns the consensus machine, the ledger and the mempool, and connects them to the
//! network, the API and timers. Every input is handled to completion, outputs in order, so the one rule of the
//! consensus module holds: a safety state is synced to disk before any message it justifies is broadcast.
//!
//! The driver never awaits: `shell` runs the tokio loop that hands it events, and it reaches time, the network,
//! the status board and background threads only through the traits in `ports`, so a simulator can drive it.

use crate::consensus::peer_gossip::{Item, PeerGossip, RoundState};
use crate::consensus::{CheckedMessage, Config, Input, Machine, Output, Timeout, Timeouts};
use crate::execute::ExecError;
use crate::ledger::{InvalidBlock, Ledger};
use crate::mempool::Mempool;
use crate::metrics::Metrics;
use crate::network::wire::SyncRequest;
use crate::network::{NetCommand, NetEvent};
use crate::status::Status;
use anyhow::{Context, Result, bail};
use clearance_core::genesis::Genesis;
use clearance_core::ids::CountryCode;
use libp2p::PeerId;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod admission;
mod blocksync;
mod compact;
mod consensus_gossip;
mod evidence;
mod gossip_health;
mod liveness;
mod membership;
mod pacing;
pub mod ports;
pub mod shell;
mod sync_sources;
mod tx_repair;

pub use crate::requests::ApiRequest;
use crate::validator_state::SignedWatermark;
use ports::{Background, Clock, NetSink, NodeKeys, SigningRecord, StatusBoard};

const TICK: Duration = Duration::from_millis(100);
/// With no progress for this long, consensus here counts as stalled: a peer one block ahead is then synced from.
const STUCK_AFTER: Duration = Duration::from_millis(1500);
/// A member sends its round state at least this often, even when nothing changed: it tells peers what to send
/// again, and its silence tells them the connection is broken.
const STATE_HEARTBEAT: Duration = Duration::from_secs(1);
const STATUS_POLL: Duration = Duration::from_secs(1);
/// How long a transaction may wait in the mempool for a predecessor that has not arrived.
const MEMPOOL_GAP_TTL_MS: u64 = 60_000;

pub struct Driver {
    machine: Machine,
    ledger: Ledger,
    mempool: Mempool,
    genesis: Genesis,
    /// The member this node votes as at the height being decided, if its validator key is in that set.
    me: Option<CountryCode>,
    keys: Box<dyn NodeKeys>,
    /// What this validator last signed, outside the chain database.
    signing: Box<dyn SigningRecord>,
    /// The last messages it signed, across heights, as kept in that file.
    recent_signed: Vec<crate::consensus::Signed>,
    /// The network key files' keys, as last read: the next one is switched to once its rotation is due.
    network_key: Option<clearance_core::crypto::SecretKey>,
    next_network_key: Option<clearance_core::crypto::SecretKey>,
    /// When this node last asked its network to switch keys, and how long an isolated node waits before it
    /// tries its other key next (doubling from [`membership::ISOLATED_SWITCH`]).
    network_key_switched: Instant,
    isolated_wait: Duration,
    /// The first height of the member list the network and `members_by_peer` were last given.
    members_from: u64,
    /// The network has been given the allowed peers at least once.
    peers_set: bool,
    net: Arc<dyn NetSink>,
    metrics: Arc<Metrics>,
    status: Box<dyn StatusBoard>,
    clock: Arc<dyn Clock>,
    background: Box<dyn Background>,
    base_status: Status,
    events: crate::requests::EventSender,
    timers: BTreeMap<(Instant, u64), Timeout>,
    timer_seq: u64,
    inputs: VecDeque<Input>,
    /// Committed height whose successor has not been started yet (waiting for transactions or the heartbeat).
    pending_start: Option<u64>,
    min_block_interval: Duration,
    /// When this node last started a height.
    height_started: Instant,
    /// When a waiting height may start: transactions are ready, but the last height started too recently.
    start_at: Option<Instant>,
    /// Ordered, like every collection the driver iterates: a seeded simulation replays exactly.
    peers: BTreeSet<PeerId>,
    sync: sync_sources::SyncState,
    last_progress: (u64, u32, crate::consensus::Step, Instant),
    /// What each peer holds, and so what to send it (see `consensus::peer_gossip`).
    peer_gossip: PeerGossip<PeerId>,
    /// Consensus items of the current height encoded once for all peers; cleared when the height moves.
    encoded: HashMap<Item, Arc<Vec<u8>>>,
    encoded_height: u64,
    /// The round state last sent to peers, and when.
    state_sent: Option<(RoundState, Instant)>,
    /// Consensus may have changed since peers were last sent what they lack.
    gossip_due: bool,
    /// The origin of the milliseconds `peer_gossip` counts in.
    epoch: Instant,
    /// When this node last committed a block, for the block-interval histogram.
    last_commit: Option<Instant>,
    /// Compact proposals waiting for transactions this node lacked.
    partials: compact::Partials,
    /// (peer, round) of the current height that were sent a proof of lock because their state showed them
    /// waiting on a re-proposal: once each.
    locks_shown: BTreeSet<(PeerId, u32)>,
    /// Each member's peer id, to name members in logs.
    members_by_peer: HashMap<PeerId, CountryCode>,
    gossip_health: gossip_health::GossipHealth,
    last_status_poll: Instant,
    /// Block-sync answers being read off the driver's thread.
    serving: blocksync::Serving,
    /// When each peer's last request for missing transactions was served.
    wanted_served: HashMap<PeerId, Instant>,
}

pub struct DriverParts {
    pub ledger: Ledger,
    pub mempool: Mempool,
    pub genesis: Genesis,
    pub keys: Box<dyn NodeKeys>,
    pub signing: Box<dyn SigningRecord>,
    pub net: Arc<dyn NetSink>,
    pub metrics: Arc<Metrics>,
    pub status: Box<dyn StatusBoard>,
    pub clock: Arc<dyn Clock>,
    pub background: Box<dyn Background>,
    pub base_status: Status,
    pub events: crate::requests::EventSender,
    /// See `PacingConfig::min_block_interval_ms`.
    pub min_block_interval: Duration,
}

impl Driver {
    pub fn new(parts: DriverParts) -> Result<Driver> {
        let chain_id = parts.genesis.chain_id();
        let validators = parts.ledger.validators().clone();
        let keys = parts.keys.validator_keys();
        let me = my_member(&validators, &keys);
        let mut signing = parts.signing;
        let from_db = parts
            .ledger
            .store()
            .load_safety()
            .context("reading the consensus safety state")?;
        let from_file = signing.last();
        // The last messages this validator signed, across heights: the file's, then the database's of its height.
        let mut recent_signed = from_file
            .as_ref()
            .map(|m| m.messages.clone())
            .unwrap_or_default();
        for m in from_db.iter().flat_map(|s| &s.signed) {
            crate::validator_state::remember(&mut recent_signed, m);
        }
        let persisted = SignedWatermark::merge(from_db, from_file.clone());
        // The file was missing or behind the database (a node from before the file existed): bring it level
        // before anything is signed.
        let mark = persisted
            .as_ref()
            .and_then(SignedWatermark::of)
            .map(|mark| SignedWatermark {
                messages: recent_signed.clone(),
                ..mark
            });
        if let Some(mark) = mark
            && from_file.as_ref() != Some(&mark)
        {
            signing
                .save(&mark)
                .context("syncing the validator state file")?;
        }
        let height = parts.ledger.head().height + 1;
        let mut machine = Machine::new(
            Config {
                chain_id,
                timeouts: Timeouts::from_params(&parts.genesis.params),
                keys,
            },
            validators,
            parts.ledger.proposers().clone(),
            height,
            persisted,
        );
        machine.send_again(&recent_signed);
        let members_by_peer = membership::members_by_peer(&parts.ledger.epoch().members);
        let members_from = parts.ledger.epoch().from_height;
        let now = parts.clock.now();
        Ok(Driver {
            machine,
            ledger: parts.ledger,
            mempool: parts.mempool,
            genesis: parts.genesis,
            me,
            keys: parts.keys,
            signing,
            recent_signed,
            network_key: None,
            next_network_key: None,
            network_key_switched: now,
            isolated_wait: membership::ISOLATED_SWITCH,
            members_from,
            peers_set: false,
            net: parts.net,
            metrics: parts.metrics,
            status: parts.status,
            clock: parts.clock,
            background: parts.background,
            base_status: parts.base_status,
            events: parts.events,
            timers: BTreeMap::new(),
            timer_seq: 0,
            inputs: VecDeque::new(),
            pending_start: None,
            min_block_interval: parts.min_block_interval,
            height_started: now,
            start_at: None,
            peers: BTreeSet::new(),
            sync: sync_sources::SyncState::new(now),
            last_progress: (height, 0, crate::consensus::Step::Propose, now),
            peer_gossip: PeerGossip::default(),
            encoded: HashMap::new(),
            encoded_height: height,
            state_sent: None,
            gossip_due: true,
            epoch: now,
            last_commit: None,
            partials: compact::Partials::new(),
            locks_shown: BTreeSet::new(),
            members_by_peer,
            gossip_health: gossip_health::GossipHealth::default(),
            last_status_poll: now,
            serving: blocksync::Serving::default(),
            wanted_served: HashMap::new(),
        })
    }

    /// Resumes consensus where the persisted state left it; the shell calls it once before any event.
    pub fn start(&mut self) -> Result<()> {
        tracing::info!(
            height = self.ledger.head().height,
            member = ?self.me,
            "resuming consensus at height {}",
            self.machine.height()
        );
        self.follow_membership(false);
        let outputs = self.machine.start();
        self.process(outputs)?;
        self.publish_status();
        self.settle()
    }

    /// The committed chain, for the simulator's checks and for tests.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Where consensus stands, what it ignored, and what the driver waits for: for a simulator's failure report.
    pub fn describe(&self) -> String {
        format!(
            "{}\n  ignored {:?}\n  peers {}, pending start {:?}, mempool {} txs",
            self.machine.describe(),
            self.machine.ignored(),
            self.peers.len(),
            self.pending_start,
            self.mempool.len(),
        )
    }

    pub fn stop(&self) {
        tracing::info!(height = self.ledger.head().height, "shutting down");
    }

    /// When the driver wants `on_wake`: its earliest round timer, or the paced start of the next height.
    pub fn next_wake(&self) -> Option<Instant> {
        let next_timer = self.timers.keys().next().map(|(at, _)| *at);
        next_timer.into_iter().chain(self.start_at).min()
    }

    pub fn on_wake(&mut self) -> Result<()> {
        self.fire_timers()?;
        self.maybe_start_height(false)
    }

    /// After each event: the machine's queued inputs, then what peers lack.
    pub fn settle(&mut self) -> Result<()> {
        self.drain_inputs()?;
        self.gossip_consensus();
        Ok(())
    }

    fn fire_timers(&mut self) -> Result<()> {
        let now = self.clock.now();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let timeout = entry.remove();
            self.inputs.push_back(Input::Timeout(timeout));
        }
        Ok(())
    }

    fn drain_inputs(&mut self) -> Result<()> {
        // No gossip pass per input: what the machine says (its outputs) or a step that moved calls for one at
        // once; the rest (relays, resends) waits for the tick. With 31 members a pass per received vote cost
        // most of a node's CPU.
        while let Some(input) = self.inputs.pop_front() {
            let outputs = self.machine.handle(input);
            self.process(outputs)?;
        }
        Ok(())
    }

    fn feed(&mut self, input: Input) -> Result<()> {
        self.inputs.push_back(input);
        self.drain_inputs()
    }

    fn process(&mut self, outputs: Vec<Output>) -> Result<()> {
        for output in outputs {
            match output {
                Output::PersistSafetyState(state) => {
                    // The watermark is what keeps the validator from signing twice: synced first. The database
                    // copy (with the valid block and what to send again) serves liveness after a restart.
                    if let Some(m) = state.signed.last() {
                        crate::validator_state::remember(&mut self.recent_signed, m);
                    }
                    if let Some(mut mark) = SignedWatermark::of(&state) {
                        mark.messages = self.recent_signed.clone();
                        self.signing
                            .save(&mark)
                            .context("syncing the validator state file")?;
                    }
                    self.ledger
                        .store()
                        .save_safety(&state)
                        .context("writing the consensus safety state")?;
                    Metrics::inc(&self.metrics.safety_writes_total);
                }
                // The machine holds what it signed: peer-state gossip sends it to every peer that lacks it, after
                // this output list (and so the safety state before it) is processed.
                Output::Broadcast(_) => self.gossip_due = true,
                Output::ScheduleTimeout { timeout, after_ms } => {
                    let after_ms = match self.proposer_unreachable(&timeout) {
                        true => 0,
                        false => after_ms,
                    };
                    let at = self.clock.now() + Duration::from_millis(after_ms);
                    self.timer_seq += 1;
                    self.timers.insert((at, self.timer_seq), timeout);
                }
                Output::ValidateBlock { height, block } => {
                    let valid = if height == self.ledger.head().height + 1 {
                        let mempool = &self.mempool;
                        match self
                            .ledger
                            .validate(&block, self.clock.wall_ms(), &|id, b| mempool.holds(id, b))
                        {
                            Ok(_) => true,
                            Err(InvalidBlock::Exec(ExecError::Storage(e))) => {
                                return Err(e).context("reading state to validate a block");
                            }
                            Err(e) => {
                                tracing::warn!(height, "proposed block is invalid: {e}");
                                Metrics::inc(&self.metrics.invalid_proposed_blocks_total);
                                false
                            }
                        }
                    } else {
                        false
                    };
                    let block_hash = clearance_core::block::block_hash(block.header.as_slice());
                    self.inputs.push_back(Input::BlockVerdict {
                        height,
                        block_hash,
                        valid,
                    });
                }
                Output::BuildBlock { height, round } => self.build_block(height, round)?,
                Output::Decide {
                    height,
                    round,
                    block,
                    certificate,
                } => {
                    if height != self.ledger.head().height + 1 {
                        // Block sync committed it first.
                        continue;
                    }
                    let committed = match self.ledger.commit(&block, &certificate) {
                        Ok(c) => c,
                        Err(e) => bail!("cannot commit decided block {height}: {e}"),
                    };
                    tracing::debug!(height, round, "decided");
                    self.metrics
                        .histograms
                        .consensus_rounds_per_height
                        .observe(f64::from(round) + 1.0);
                    if round > 0 {
                        Metrics::inc(&self.metrics.late_decisions_total);
                    }
                    self.after_commit(&committed);
                }
                Output::Evidence(evidence) => self.on_evidence(evidence)?,
            }
        }
        Ok(())
    }

    pub fn on_net(&mut self, event: NetEvent) -> Result<()> {
        match event {
            // The network verified it before relaying it. Duplicates are normal with gossip, and rule failures
            // can be ordering between nodes, so a refusal here is no fault of the sender.
            NetEvent::Tx { bytes, tx, .. } => {
                if self.admit(&bytes, *tx).is_ok() {
                    self.maybe_start_height(false)?;
                }
            }
            NetEvent::Consensus { from, msg } => {
                self.gossip_health.heard_from(from, self.clock.now());
                if let Some((height, item)) = self.machine.item_of(&msg) {
                    self.peer_gossip.on_received(from, height, item);
                }
                self.on_consensus(from, *msg)?
            }
            NetEvent::PeerState { from, state } => {
                self.gossip_health.heard_from(from, self.clock.now());
                self.on_peer_state(from, state)?;
            }
            NetEvent::Commit { from, block } => {
                self.gossip_health.heard_from(from, self.clock.now());
                self.on_peer_commit(from, block)?;
            }
            NetEvent::ProposalPart { from, part } => {
                self.gossip_health.heard_from(from, self.clock.now());
                self.on_proposal_part(from, part)?;
            }
            NetEvent::Request {
                from: peer,
                id,
                req: SyncRequest::Blocks { from, max },
            } => self.serve_blocks(peer, id, from, max),
            NetEvent::Request {
                from,
                id,
                req: SyncRequest::Txs { wanted },
            } => {
                let resp = self.answer_wanted(from, &wanted);
                self.net.send(NetCommand::Respond { id, resp }).ok();
            }
            NetEvent::Request { from, id, req } => {
                let resp = self.answer(&req);
                tracing::trace!(peer = %from, ?req, "answered sync request");
                self.net.send(NetCommand::Respond { id, resp }).ok();
            }
            NetEvent::Response { from, asked, resp } => self.on_response(from, asked, resp)?,
            NetEvent::RequestFailed { peer, asked } => {
                if asked == crate::network::Asked::Blocks {
                    self.sync.request_failed(peer, self.clock.now());
                    self.request_blocks_if_behind();
                }
            }
            NetEvent::Connected(peer) => {
                self.peers.insert(peer);
                self.gossip_health.connected(peer, self.clock.now());
                self.peer_gossip.connected(peer);
                // It learns where this node is at once, not at the next heartbeat.
                self.state_sent = None;
                self.gossip_due = true;
                self.net
                    .send(NetCommand::Request {
                        peer,
                        req: SyncRequest::Status,
                    })
                    .ok();
            }
            NetEvent::Identity(peer) => self.network_identity(peer),
            NetEvent::Disconnected(peer) => {
                self.peers.remove(&peer);
                self.gossip_health.disconnected(&peer);
                self.peer_gossip.disconnected(&peer);
                self.sync.peer_gone(peer);
            }
        }
        Ok(())
    }

    fn on_consensus(&mut self, from: PeerId, msg: CheckedMessage) -> Result<()> {
        let height = Some(msg.height());
        let machine_height = self.machine.height();
        if let Some(h) = height {
            // The network has verified the member's signature; a member at the next height means there is
            // something to decide.
            if self.pending_start.is_some() && h > machine_height {
                self.maybe_start_height(true)?;
            }
            if h > self.machine.height() + 1 && self.sync.may_ask_status(from, self.clock.now()) {
                // The network is ahead by more than the machine buffers: ask where the peer's head is, and
                // block sync closes the gap. Heights come only from a peer's own status answer; one question
                // per peer per second, however many messages show the gap.
                self.net
                    .send(NetCommand::Request {
                        peer: from,
                        req: SyncRequest::Status,
                    })
                    .ok();
            }
        }
        let input = match msg {
            CheckedMessage::Proposal(proposal) => Input::Proposal(proposal),
            CheckedMessage::Vote(vote) => Input::Vote(vote),
        };
        self.feed(input)
    }
}

/// The member whose validator key in `set` is one of `keys`.
fn my_member(
    set: &clearance_core::validator::ValidatorSet,
    keys: &[clearance_core::crypto::SecretKey],
) -> Option<CountryCode> {
    set.validators()
        .iter()
        .find(|v| keys.iter().any(|k| k.public_key() == v.key))
        .map(|v| v.member.clone())
}
