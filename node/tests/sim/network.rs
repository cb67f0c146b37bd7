//! The simulated network: connections between members (up, not across a partition, not across twin groups),
//! each message delayed by a seeded amount with order kept per connection, consensus items and gossiped
//! transactions lost or duplicated before the heal, and what was in flight on a connection lost when it closes.
//! Block-sync requests and answers ride a stream: they are not lost at random, but fail when their connection
//! closes, as request-response reports it.

use super::{Rng, Scenario, Sim};
use clearance_core::tx::SignedTx;
use clearance_node::network::{Asked, NetCommand, NetEvent};
use libp2p::PeerId;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub enum Delivery {
    /// Checked by the receiving member's network layer before its driver sees it.
    Item(Arc<Vec<u8>>),
    Event(Box<NetEvent>),
}

pub struct Pending {
    at: Instant,
    seq: u64,
    from: usize,
    to: usize,
    /// The connection this was sent on: a message outlives neither its connection nor its receiver's process.
    epoch: u64,
    what: Delivery,
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

pub struct Network {
    rng: Rng,
    max_delay_ms: u64,
    loss: f64,
    duplication: f64,
    twin_groups: Option<(usize, usize, BTreeSet<usize>, BTreeSet<usize>)>,
    /// The partition in force, if any.
    pub groups: Option<Vec<BTreeSet<usize>>>,
    pub healed: bool,
    queue: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    /// Open connections, both directions listed, with the epoch each was opened in.
    pub links: BTreeMap<(usize, usize), u64>,
    next_epoch: u64,
    /// Per connection, when its last message arrives: later ones never overtake it.
    last_arrival: HashMap<(usize, usize), Instant>,
    /// Sync requests awaiting an answer: (answering slot, request id) -> asking slot.
    requests: BTreeMap<(usize, u64), (usize, Asked)>,
    next_request: u64,
    pub messages: u64,
}

impl Network {
    pub fn new(s: &Scenario, seed: u64) -> Network {
        Network {
            rng: Rng::new(seed),
            max_delay_ms: s.max_delay_ms,
            loss: s.loss,
            duplication: s.duplication,
            twin_groups: s
                .twin_groups
                .clone()
                .map(|(a, b)| (s.twin_of.unwrap_or(usize::MAX), s.n, a, b)),
            groups: None,
            healed: false,
            queue: BinaryHeap::new(),
            seq: 0,
            links: BTreeMap::new(),
            next_epoch: 0,
            last_arrival: HashMap::new(),
            requests: BTreeMap::new(),
            next_request: 0,
            messages: 0,
        }
    }

    pub fn next_at(&self) -> Option<Instant> {
        self.queue.peek().map(|p| p.0.at)
    }

    /// Whether the twins' separation and the partition in force let `a` and `b` connect.
    fn may_connect(&self, a: usize, b: usize) -> bool {
        if let Some((t1, t2, g1, g2)) = &self.twin_groups {
            for (twin, group) in [(*t1, g1), (*t2, g2)] {
                if (a == twin || b == twin) && !(group.contains(&a) && group.contains(&b)) {
                    return false;
                }
            }
        }
        match &self.groups {
            Some(groups) => !groups.iter().any(|g| g.contains(&a) != g.contains(&b)),
            None => true,
        }
    }

    fn push(&mut self, now: Instant, from: usize, to: usize, what: Delivery) {
        let Some(&epoch) = self.links.get(&(from, to)) else {
            return;
        };
        let delay = Duration::from_millis(self.rng.range(1, self.max_delay_ms));
        let last = self.last_arrival.entry((from, to)).or_insert(now);
        let at = (now + delay).max(*last);
        *last = at;
        self.seq += 1;
        self.messages += 1;
        self.queue.push(Reverse(Pending {
            at,
            seq: self.seq,
            from,
            to,
            epoch,
            what,
        }));
    }

    /// A datagram-like send (consensus items, gossiped transactions): lost or duplicated before the heal.
    fn send_lossy(&mut self, now: Instant, from: usize, to: usize, what: impl Fn() -> Delivery) {
        if !self.healed && self.rng.chance(self.loss) {
            return;
        }
        let copies = if !self.healed && self.rng.chance(self.duplication) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            self.push(now, from, to, what());
        }
    }
}

impl Sim {
    /// The slot `from` reaches when it addresses `peer`: a twin's peer id names whichever twin `from` is
    /// connected to.
    fn slot_of(&self, from: usize, peer: &PeerId) -> Option<usize> {
        (0..self.slots.len())
            .find(|&s| self.slots[s].peer == *peer && self.net.links.contains_key(&(from, s)))
    }

    /// Whether `a`'s node lets `b`'s connect: the members in force and about to be, as its ledger says.
    fn allow(&self, a: usize, b: usize) -> bool {
        self.slots[a]
            .allowed
            .as_ref()
            .is_none_or(|peers| peers.contains(&self.slots[b].peer))
    }

    /// Opens and closes connections to match who is up, the partition in force and the twins' groups. A closed
    /// connection loses what was on it, its requests fail, and both ends hear of it.
    pub(super) fn update_links(&mut self) {
        let n = self.slots.len();
        let mut wanted = BTreeSet::new();
        for a in 0..n {
            for b in 0..n {
                let up = self.slots[a].is_up() && self.slots[b].is_up();
                if a != b
                    && up
                    && self.net.may_connect(a, b)
                    && self.allow(a, b)
                    && self.allow(b, a)
                {
                    wanted.insert((a, b));
                }
            }
        }
        let closed: Vec<(usize, usize)> = self
            .net
            .links
            .keys()
            .filter(|l| !wanted.contains(l))
            .copied()
            .collect();
        let opened: Vec<(usize, usize)> = wanted
            .iter()
            .filter(|l| !self.net.links.contains_key(l))
            .copied()
            .collect();
        for (a, b) in closed {
            self.close(a, b);
        }
        for (a, b) in opened {
            self.net.next_epoch += 1;
            self.net.links.insert((a, b), self.net.next_epoch);
            let peer = self.slots[b].peer;
            self.slots[a]
                .driver()
                .on_net(NetEvent::Connected(peer))
                .expect("driver");
            self.settle(a);
        }
    }

    /// Closes the connection from `a` to `b`: what is on it is lost, `a`'s requests to `b` fail, and `a` (if
    /// up) hears that `b` is gone.
    fn close(&mut self, a: usize, b: usize) {
        if self.net.links.remove(&(a, b)).is_none() {
            return;
        }
        self.net.last_arrival.remove(&(a, b));
        let failed: Vec<(u64, Asked)> = self
            .net
            .requests
            .iter()
            .filter(|((answering, _), (asking, _))| *answering == b && *asking == a)
            .map(|((_, id), (_, asked))| (*id, *asked))
            .collect();
        for (id, _) in &failed {
            self.net.requests.remove(&(b, *id));
        }
        if !self.slots[a].is_up() {
            return;
        }
        let peer = self.slots[b].peer;
        for (_, asked) in failed {
            let event = NetEvent::RequestFailed { peer, asked };
            self.slots[a].driver().on_net(event).expect("driver");
        }
        let event = NetEvent::Disconnected(peer);
        self.slots[a].driver().on_net(event).expect("driver");
        self.settle(a);
    }

    /// Carries out what a member's driver asked of its network.
    pub(super) fn route(&mut self, from: usize, cmd: NetCommand) {
        let now = self.now();
        let sender = self.slots[from].peer;
        match cmd {
            NetCommand::SendConsensus { peer, items } => {
                let Some(to) = self.slot_of(from, &peer) else {
                    return;
                };
                for item in items {
                    self.checks.on_wire(&item);
                    let Some(item) = self.twist(from, to, item) else {
                        continue;
                    };
                    self.net
                        .send_lossy(now, from, to, || Delivery::Item(item.clone()));
                }
            }
            NetCommand::PublishTx(bytes) => {
                let tx = SignedTx::from_bytes(&bytes)
                    .expect("a member gossips only well-formed transactions")
                    .verify(&self.chain_id)
                    .expect("a member gossips only valid transactions");
                let peers: Vec<usize> = self
                    .net
                    .links
                    .keys()
                    .filter(|(a, _)| *a == from)
                    .map(|(_, b)| *b)
                    .collect();
                for to in peers {
                    if self.drops(from) {
                        continue;
                    }
                    self.net.send_lossy(now, from, to, || {
                        Delivery::Event(Box::new(NetEvent::Tx {
                            from: sender,
                            bytes: bytes.clone(),
                            tx: Box::new(tx.clone()),
                        }))
                    });
                }
            }
            NetCommand::Request { peer, req } => {
                let asked = Asked::of(&req);
                let Some(to) = self.slot_of(from, &peer) else {
                    // Not connected: request-response fails the request at once.
                    let event = NetEvent::RequestFailed { peer, asked };
                    self.slots[from].driver().on_net(event).expect("driver");
                    return;
                };
                self.net.next_request += 1;
                let id = self.net.next_request;
                self.net.requests.insert((to, id), (from, asked));
                let event = NetEvent::Request {
                    from: sender,
                    id,
                    req,
                };
                self.net
                    .push(now, from, to, Delivery::Event(Box::new(event)));
            }
            NetCommand::Respond { id, resp } => {
                if let Some((to, asked)) = self.net.requests.remove(&(from, id)) {
                    let event = NetEvent::Response {
                        from: sender,
                        asked,
                        resp,
                    };
                    self.net
                        .push(now, from, to, Delivery::Event(Box::new(event)));
                }
            }
            NetCommand::Penalise { peer, reason } => self.checks.penalised(from, &peer, &reason),
            NetCommand::Reconnect(peer) => {
                // The connection closes and is dialled again at once.
                if let Some(to) = self.slot_of(from, &peer) {
                    self.close(from, to);
                    self.close(to, from);
                    self.update_links();
                }
            }
            NetCommand::Deciding { height, validators } => {
                self.slots[from].checker.deciding(height, validators)
            }
            NetCommand::UseNetworkKey(secret) => {
                // Every connection closes, and those the members allow open again under the new peer id.
                let linked: Vec<usize> = (0..self.slots.len())
                    .filter(|&b| self.net.links.contains_key(&(from, b)))
                    .collect();
                for b in linked {
                    self.close(from, b);
                    self.close(b, from);
                }
                let peer = clearance_core::peer::PeerKey::from_key(secret.public_key());
                let peer: libp2p::PeerId = peer.to_peer_id().parse().expect("peer id");
                self.slots[from].peer = peer;
                self.slots[from]
                    .driver()
                    .on_net(NetEvent::Identity(peer))
                    .expect("driver");
                self.update_links();
            }
            NetCommand::SetMembers(members) => {
                let before: Vec<bool> =
                    (0..self.slots.len()).map(|b| self.allow(from, b)).collect();
                self.slots[from].allowed =
                    Some(members.into_iter().map(|(peer, _)| peer).collect());
                // Only a change for some slot touches the links (and so the run's course).
                if (0..self.slots.len()).any(|b| self.allow(from, b) != before[b]) {
                    self.update_links();
                }
            }
        }
    }

    /// Delivers the next message, if its connection is still the one it was sent on.
    pub(super) fn deliver_next(&mut self) {
        let Some(Reverse(p)) = self.net.queue.pop() else {
            return;
        };
        if self.net.links.get(&(p.from, p.to)) != Some(&p.epoch) {
            return;
        }
        let event = match p.what {
            Delivery::Event(event) => *event,
            Delivery::Item(bytes) => {
                let peer = self.slots[p.from].peer;
                match self.slots[p.to].checker.check(peer, &bytes, p.at) {
                    Ok(Some(received)) => received.into_event(peer),
                    Ok(None) => return,
                    Err(e) => {
                        self.checks.penalised(p.to, &peer, &e);
                        return;
                    }
                }
            }
        };
        self.slots[p.to].driver().on_net(event).expect("driver");
        self.settle(p.to);
    }
}
