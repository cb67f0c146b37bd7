//! The simulation around the real drivers: a virtual clock, the drivers' ports, a network of seeded delays
//! with partitions, crashes and restarts, and the double-sign check.

use super::fixtures::{MEMBERS, key};
use super::rng::Rng;
use clearance_core::Hash32;
use clearance_core::genesis::Genesis;
use clearance_core::ids::*;
use clearance_core::tx::SignedTx;
use clearance_core::vote::{SignedVote, VoteKind};
use clearance_node::consensus::{Message, Signed, Step};
use clearance_node::driver::ports::{Background, Clock, NetClosed, NetSink, StatusBoard};
use clearance_node::driver::{ApiRequest, Driver, DriverParts};
use clearance_node::ledger::Ledger;
use clearance_node::mempool::{AdmitError, Mempool};
use clearance_node::metrics::Metrics;
use clearance_node::network::wire::{self, ConsensusItem};
use clearance_node::network::{ConsensusChannel, NetCommand, NetEvent};
use clearance_node::status::Status;
use clearance_node::storage::Store;
use libp2p::PeerId;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

pub const TICK: Duration = Duration::from_millis(100);

/// Virtual time: moves only when the simulation moves it.
pub struct SimClock {
    pub start: Instant,
    pub now: Mutex<Instant>,
    pub wall_start_ms: u64,
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

pub struct NoStatus;
impl StatusBoard for NoStatus {
    fn publish(&self, _: Status) {}
}

/// Block-sync answers are read at once, on the simulation's thread.
pub struct Inline;
impl Background for Inline {
    fn spawn(&self, job: Box<dyn FnOnce() + Send>) {
        job();
    }
}

pub struct Member {
    /// `None` while the member is down.
    pub driver: Option<Driver>,
    pub outbox: Arc<Outbox>,
    pub peer: PeerId,
    pub checker: ConsensusChannel,
    pub next_tick: Instant,
    pub dir: tempfile::TempDir,
}

impl Member {
    pub fn driver(&mut self) -> &mut Driver {
        self.driver.as_mut().expect("a running member")
    }
}

/// A member's node over the data directory it had before: what a restart after `kill -9` finds.
pub fn open_driver(
    genesis: &Genesis,
    i: usize,
    dir: &std::path::Path,
    clock: Arc<SimClock>,
    outbox: Arc<Outbox>,
) -> Driver {
    let chain_id = genesis.chain_id();
    let validators = genesis.validator_set().expect("validator set");
    let store = Arc::new(Store::open(dir, genesis).expect("store"));
    let ledger = Ledger::new(store, chain_id, genesis.params.clone(), validators).expect("ledger");
    let mempool = Mempool::new(
        chain_id,
        50_000,
        128 << 20,
        genesis.params.max_tx_bytes as usize,
    );
    let (events, _) = tokio::sync::broadcast::channel(16);
    Driver::new(DriverParts {
        ledger,
        mempool,
        genesis: genesis.clone(),
        key: key(i as u8 + 1),
        net: outbox,
        metrics: Arc::new(Metrics::default()),
        status: Box::new(NoStatus),
        clock,
        background: Box::new(Inline),
        base_status: Status::default(),
        events,
        min_block_interval: Duration::from_millis(50),
    })
    .expect("driver")
}

pub enum Delivery {
    Item { from: usize, bytes: Arc<Vec<u8>> },
    Event(Box<NetEvent>),
}

pub struct Pending {
    pub at: Instant,
    pub seq: u64,
    pub from: usize,
    pub to: usize,
    pub what: Delivery,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

pub struct Sim {
    pub clock: Arc<SimClock>,
    pub members: Vec<Member>,
    pub queue: BinaryHeap<Reverse<Pending>>,
    pub seq: u64,
    pub rng: Rng,
    pub max_delay_ms: u64,
    /// Per link, when its last message arrives: later ones never overtake it.
    pub last_arrival: HashMap<(usize, usize), Instant>,
    /// Sync requests awaiting an answer: (answering member, request id) -> asking member.
    pub requests: HashMap<(usize, u64), usize>,
    pub next_request: u64,
    pub penalties: Vec<String>,
    pub chain_id: Hash32,
    pub genesis: Genesis,
    /// Every vote seen on the wire, by signer, height, round and kind: a second value is a double sign.
    pub votes: HashMap<(CountryCode, u64, u32, VoteKind), Option<Hash32>>,
    pub seed: u64,
    /// Each member's last signed (height, round, step), as persisted.
    pub last_signed: Vec<Option<(u64, u32, Step)>>,
    /// Links a partition cuts, both directions listed: what is sent on them is lost.
    pub cut: std::collections::BTreeSet<(usize, usize)>,
    /// The next crash: the member crashes the first time it signs from then on, and stays down this long.
    pub crash_at: Option<(usize, Instant, Duration)>,
    /// When a crashed member starts again.
    pub restart_at: Option<(usize, Instant)>,
}

impl Sim {
    pub fn new(seed: u64, genesis: &Genesis) -> Sim {
        let start = Instant::now();
        let clock = Arc::new(SimClock {
            start,
            now: Mutex::new(start),
            wall_start_ms: genesis.genesis_time.as_millis() + 1_000,
        });
        let chain_id = genesis.chain_id();
        let validators = genesis.validator_set().expect("validator set");
        let mut members = Vec::new();
        for (i, m) in genesis.members.iter().enumerate() {
            let dir = tempfile::tempdir().expect("temp dir");
            let outbox = Arc::new(Outbox::default());
            let driver = open_driver(genesis, i, dir.path(), clock.clone(), outbox.clone());
            members.push(Member {
                driver: Some(driver),
                outbox,
                peer: m.peer_id.to_peer_id().parse().expect("peer id"),
                checker: ConsensusChannel::new(
                    chain_id,
                    validators.clone(),
                    Arc::new(Metrics::default()),
                ),
                next_tick: start + TICK * (i as u32 + 1) / 4,
                dir,
            });
        }
        let mut rng = Rng::new(seed);
        let max_delay_ms = rng.range(1, 150);
        Sim {
            clock,
            members,
            genesis: genesis.clone(),
            votes: HashMap::new(),
            seed,
            last_signed: vec![None; 4],
            cut: std::collections::BTreeSet::new(),
            crash_at: None,
            restart_at: None,
            queue: BinaryHeap::new(),
            seq: 0,
            rng,
            max_delay_ms,
            last_arrival: HashMap::new(),
            requests: HashMap::new(),
            next_request: 0,
            penalties: Vec::new(),
            chain_id,
        }
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    pub fn send(&mut self, from: usize, to: usize, what: Delivery) {
        if self.cut.contains(&(from, to)) {
            return;
        }
        let delay = Duration::from_millis(self.rng.range(1, self.max_delay_ms));
        let last = self
            .last_arrival
            .entry((from, to))
            .or_insert(self.clock.now());
        let at = (self.clock.now() + delay).max(*last);
        *last = at;
        self.seq += 1;
        self.queue.push(Reverse(Pending {
            at,
            seq: self.seq,
            from,
            to,
            what,
        }));
    }

    /// Lets a member finish what the last event started, then routes what it sent.
    pub fn settle(&mut self, i: usize) {
        self.members[i].driver().settle().expect("driver");
        let persisted = self.members[i]
            .driver()
            .ledger()
            .store()
            .load_safety()
            .expect("safety state");
        for signed in persisted.iter().flat_map(|state| &state.signed) {
            if let Signed::Vote(vote) = signed {
                self.record_signed(vote);
            }
        }
        let last_signed = persisted.as_ref().and_then(|state| state.last_signed);
        let just_signed = last_signed != self.last_signed[i];
        self.last_signed[i] = last_signed;
        if just_signed
            && self
                .crash_at
                .is_some_and(|(m, at, _)| m == i && self.now() >= at)
        {
            // Right after signing, between persisting and sending: the vote is on disk and on no wire, the
            // moment a restart that forgot its safety state would sign differently.
            if let Some((_, _, down)) = self.crash_at.take() {
                self.restart_at = Some((i, self.now() + down));
            }
            self.crash(i);
            return;
        }
        let sent = std::mem::take(&mut *self.members[i].outbox.0.lock().expect("outbox"));
        for cmd in sent {
            self.route(i, cmd);
        }
    }

    pub fn member_of(&self, peer: &PeerId) -> usize {
        self.members
            .iter()
            .position(|m| m.peer == *peer)
            .expect("a member's peer id")
    }

    pub fn route(&mut self, from: usize, cmd: NetCommand) {
        let sender = self.members[from].peer;
        match cmd {
            NetCommand::SendConsensus { peer, items } => {
                let to = self.member_of(&peer);
                for bytes in &items {
                    self.record_vote(bytes);
                }
                for bytes in items {
                    self.send(from, to, Delivery::Item { from, bytes });
                }
            }
            NetCommand::PublishTx(bytes) => {
                let tx = SignedTx::from_bytes(&bytes)
                    .expect("a member gossips only well-formed transactions")
                    .verify(&self.chain_id)
                    .expect("a member gossips only valid transactions");
                for to in (0..self.members.len()).filter(|&to| to != from) {
                    let event = NetEvent::Tx {
                        from: sender,
                        bytes: bytes.clone(),
                        tx: Box::new(tx.clone()),
                    };
                    self.send(from, to, Delivery::Event(Box::new(event)));
                }
            }
            NetCommand::Request { peer, req } => {
                let to = self.member_of(&peer);
                self.next_request += 1;
                self.requests.insert((to, self.next_request), from);
                let event = NetEvent::Request {
                    from: sender,
                    id: self.next_request,
                    req,
                };
                self.send(from, to, Delivery::Event(Box::new(event)));
            }
            NetCommand::Respond { id, resp } => {
                if let Some(to) = self.requests.remove(&(from, id)) {
                    self.send(
                        from,
                        to,
                        Delivery::Event(Box::new(NetEvent::Response { from: sender, resp })),
                    );
                }
            }
            NetCommand::Penalise { peer, reason } => {
                self.penalties
                    .push(format!("{} penalised {}: {reason}", MEMBERS[from], peer));
            }
            NetCommand::Reconnect(_) => {}
        }
    }

    pub fn record_vote(&mut self, bytes: &[u8]) {
        if let Ok(ConsensusItem::Message(Message::Vote(signed))) = wire::decode_item(bytes) {
            self.record_signed(&signed);
        }
    }

    /// Every vote signed (as persisted in a member's safety state) or seen on the wire: a second value for one
    /// signer, height, round and kind is a double sign.
    pub fn record_signed(&mut self, signed: &SignedVote) {
        let vote = signed.claimed().expect("a vote a member signed decodes");
        let key = (vote.validator.clone(), vote.height, vote.round, vote.kind);
        let first = *self.votes.entry(key).or_insert(vote.block);
        assert_eq!(
            first, vote.block,
            "seed {}: {} signed two votes for height {} round {} {:?}",
            self.seed, vote.validator, vote.height, vote.round, vote.kind
        );
    }

    pub fn deliver(&mut self, p: Pending) {
        // A member that is down, or a connection a partition closed, loses what was on its way.
        if self.members[p.to].driver.is_none() || self.cut.contains(&(p.from, p.to)) {
            return;
        }
        let event = match p.what {
            Delivery::Event(event) => *event,
            Delivery::Item { from, bytes } => {
                let peer = self.members[from].peer;
                match self.members[p.to].checker.check(&bytes) {
                    Ok(received) => received.into_event(peer),
                    Err(e) => {
                        self.penalties
                            .push(format!("{} sent an invalid item: {e}", MEMBERS[from]));
                        return;
                    }
                }
            }
        };
        self.members[p.to].driver().on_net(event).expect("driver");
        self.settle(p.to);
    }

    /// Runs every event due up to `until`, in time order.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            let next_delivery = self.queue.peek().map(|p| p.0.at);
            let next_wake = self
                .members
                .iter()
                .filter_map(|m| m.driver.as_ref()?.next_wake())
                .min();
            let next_tick = self
                .members
                .iter()
                .filter(|m| m.driver.is_some())
                .map(|m| m.next_tick)
                .min();
            let next_restart = self.restart_at.map(|(_, at)| at);
            let Some(at) = [next_delivery, next_wake, next_tick, next_restart]
                .into_iter()
                .flatten()
                .min()
            else {
                break;
            };
            if at > until {
                break;
            }
            *self.clock.now.lock().expect("clock") = at.max(self.now());
            if let Some((i, _)) = self.restart_at.filter(|(_, t)| *t == at) {
                self.restart_at = None;
                self.restart(i);
                continue;
            }
            if next_delivery == Some(at) {
                let Some(Reverse(p)) = self.queue.pop() else {
                    break;
                };
                self.deliver(p);
                continue;
            }
            if let Some(i) = self
                .members
                .iter()
                .position(|m| m.driver.as_ref().and_then(Driver::next_wake) == Some(at))
            {
                self.members[i].driver().on_wake().expect("driver");
                self.settle(i);
                continue;
            }
            if let Some(i) = self
                .members
                .iter()
                .position(|m| m.driver.is_some() && m.next_tick == at)
            {
                self.members[i].next_tick = at + TICK;
                self.members[i].driver().on_tick().expect("driver");
                self.settle(i);
            }
        }
        *self.clock.now.lock().expect("clock") = until.max(self.now());
    }

    /// `kill -9`: the process and everything in memory are gone, and so is what it had not sent yet; the
    /// others see the connection close, and requests to or from it fail.
    pub fn crash(&mut self, i: usize) {
        self.members[i].driver = None;
        self.members[i].outbox.0.lock().expect("outbox").clear();
        let peer = self.members[i].peer;
        let failed: Vec<usize> = self
            .requests
            .iter()
            .filter(|((answering, _), _)| *answering == i)
            .map(|(_, asking)| *asking)
            .collect();
        self.requests
            .retain(|(answering, _), asking| *answering != i && *asking != i);
        for asking in failed {
            if self.members[asking].driver.is_some() {
                self.members[asking]
                    .driver()
                    .on_net(NetEvent::RequestFailed { peer })
                    .expect("driver");
                self.settle(asking);
            }
        }
        for j in 0..self.members.len() {
            if j != i && self.members[j].driver.is_some() {
                self.members[j]
                    .driver()
                    .on_net(NetEvent::Disconnected(peer))
                    .expect("driver");
                self.settle(j);
            }
        }
    }

    /// Starts the member again from its data directory, and connects it to the members that are up.
    pub fn restart(&mut self, i: usize) {
        let outbox = self.members[i].outbox.clone();
        let driver = open_driver(
            &self.genesis,
            i,
            self.members[i].dir.path(),
            self.clock.clone(),
            outbox,
        );
        self.members[i].driver = Some(driver);
        self.members[i].next_tick = self.now() + TICK;
        self.members[i].driver().start().expect("start");
        self.settle(i);
        let me = self.members[i].peer;
        for j in 0..self.members.len() {
            if j == i || self.members[j].driver.is_none() || self.cut.contains(&(i, j)) {
                continue;
            }
            let other = self.members[j].peer;
            self.members[i]
                .driver()
                .on_net(NetEvent::Connected(other))
                .expect("driver");
            self.settle(i);
            self.members[j]
                .driver()
                .on_net(NetEvent::Connected(me))
                .expect("driver");
            self.settle(j);
        }
    }

    /// Cuts `side` off from the other members: the connections across close (TCP_USER_TIMEOUT does that on the
    /// real network) and requests across fail.
    pub fn partition(&mut self, side: &[usize]) {
        let n = self.members.len();
        for i in side.iter().copied() {
            for j in (0..n).filter(|j| !side.contains(j)) {
                self.cut.insert((i, j));
                self.cut.insert((j, i));
            }
        }
        let cut: Vec<(usize, usize)> = self.cut.iter().copied().collect();
        for (i, j) in cut {
            if self.members[i].driver.is_none() || self.members[j].driver.is_none() {
                continue;
            }
            let peer = self.members[j].peer;
            let asked: Vec<u64> = self
                .requests
                .iter()
                .filter(|((answering, _), asking)| *answering == j && **asking == i)
                .map(|((_, id), _)| *id)
                .collect();
            for id in asked {
                self.requests.remove(&(j, id));
                self.members[i]
                    .driver()
                    .on_net(NetEvent::RequestFailed { peer })
                    .expect("driver");
            }
            self.members[i]
                .driver()
                .on_net(NetEvent::Disconnected(peer))
                .expect("driver");
            self.settle(i);
        }
    }

    pub fn heal(&mut self) {
        let cut = std::mem::take(&mut self.cut);
        for (i, j) in cut {
            if self.members[i].driver.is_none() || self.members[j].driver.is_none() {
                continue;
            }
            let peer = self.members[j].peer;
            self.members[i]
                .driver()
                .on_net(NetEvent::Connected(peer))
                .expect("driver");
            self.settle(i);
        }
    }

    pub fn submit(
        &mut self,
        to: usize,
        tx: &SignedTx,
    ) -> oneshot::Receiver<Result<Hash32, AdmitError>> {
        let bytes = tx.to_bytes();
        let verified = tx.verify(&self.chain_id).expect("valid transaction");
        let (reply, answer) = oneshot::channel();
        self.members[to]
            .driver()
            .on_api(ApiRequest::Submit {
                bytes,
                tx: Box::new(verified),
                reply,
            })
            .expect("driver");
        self.settle(to);
        answer
    }
}
