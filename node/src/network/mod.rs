//! libp2p networking: TCP, Noise and Yamux; gossipsub for transactions; a consensus channel of its own
//! (request-response, `consensus_channel`); request-response for block sync.
//!
//! Only the peer ids of the members in force may connect (genesis's, then as the ledger's membership changes
//! say, `members`); every other peer is refused after the Noise handshake and logged. The swarm runs in its own task and talks to the node's driver through channels: it decodes what
//! arrives (bounded, rejecting garbage and penalising its sender) and never interprets consensus or ledger state.

mod consensus_channel;
mod identity;
mod inbound;
mod members;
mod messages;
mod pending_per_ip;
mod slow_peers;
mod swarm;
mod tx_gossip;
pub mod wire;

use crate::log_limit::LogLimiter;
use crate::metrics::Metrics;
use anyhow::{Context, Result};
use clearance_core::bytes::Bytes;
pub use consensus_channel::ProposalPart;
pub use consensus_channel::{ConsensusChannel, Received};
use futures::{FutureExt, StreamExt};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent, dial_opts::DialOpts};
use libp2p::{
    Multiaddr, PeerId, Swarm, allow_block_list, connection_limits, gossipsub, request_response,
};
pub use messages::{Asked, NetCommand, NetEvent, NetworkConfig, member_peers};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use wire::{ConsensusCodec, SyncCodec, SyncResponse};

/// Invalid messages a peer may send within [`PENALTY_WINDOW`] before it is disconnected.
const PENALTY_THRESHOLD: u32 = 20;
const PENALTY_WINDOW: Duration = Duration::from_secs(60);
/// How long a penalised peer stays disconnected.
const PENALTY_BAN: Duration = Duration::from_secs(30);
const MIN_REDIAL: Duration = Duration::from_millis(250);
/// A dial (TCP, Noise, Yamux) that has not completed in this long is abandoned, and the redial loop tries again
/// with a fresh connection attempt: after a partition heals, a member reconnects within about this long instead
/// of waiting out the kernel's SYN back-off (minutes).
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(3);
/// Data a peer leaves unacknowledged this long closes the connection (TCP_USER_TIMEOUT). Without it, a connection
/// across a partition lives on for many minutes of TCP retransmission back-off, and even closing it waits for its
/// full send buffer: the member is neither usable nor redialled, and after the heal the first retransmission may
/// come seconds late. Round states flow every second, so a live path never leaves data unacknowledged this long.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(4);

#[derive(NetworkBehaviour)]
struct Behaviour {
    allowed: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    pending_per_ip: pending_per_ip::Behaviour,
    limits: connection_limits::Behaviour,
    gossip: gossipsub::Behaviour,
    consensus: request_response::Behaviour<ConsensusCodec>,
    sync: request_response::Behaviour<SyncCodec>,
}

struct Member {
    addrs: Vec<Multiaddr>,
    backoff: Duration,
    next_dial: Instant,
    banned_until: Option<Instant>,
}

impl Member {
    /// A member to dial at once.
    fn new(addrs: Vec<Multiaddr>, now: Instant) -> Member {
        Member {
            addrs,
            backoff: MIN_REDIAL,
            next_dial: now,
            banned_until: None,
        }
    }
}

struct Penalty {
    since: Instant,
    count: u32,
}

struct Network {
    swarm: Swarm<Behaviour>,
    tx_topic: gossipsub::IdentTopic,
    consensus: ConsensusChannel,
    members: HashMap<PeerId, Member>,
    connected: HashSet<PeerId>,
    penalties: HashMap<PeerId, Penalty>,
    /// Peers that gossip no longer reaches, and when their connections were last reset for it.
    slow_peers: slow_peers::SlowPeers,
    /// Peers' sync requests handed to the driver, by the id of its answer.
    pending_responses: HashMap<u64, (PeerId, request_response::ResponseChannel<SyncResponse>)>,
    sync_requests: inbound::SyncRequestLimit,
    /// This node's sync requests awaiting an answer or a failure (libp2p reports exactly one of them for each).
    outbound: HashMap<request_response::OutboundRequestId, Asked>,
    next_response_id: u64,
    /// Gossiped transactions and peers' requests: bounded, dropped when the driver falls behind.
    events: mpsc::Sender<NetEvent>,
    /// The consensus channel's messages: bounded and dropped the same way (peer-state gossip sends them again),
    /// but a queue of their own that the driver serves first, so transactions never delay a vote.
    consensus_events: mpsc::Sender<NetEvent>,
    /// Connections, and answers to this node's own requests: few, and never dropped.
    control: mpsc::UnboundedSender<NetEvent>,
    chain_id: clearance_core::Hash32,
    metrics: Arc<Metrics>,
    max_backoff: Duration,
    /// Submitter keys already validated (the node's shared cache), for checking gossiped transactions.
    keys: crate::key_cache::SharedKeys,
    /// Gossiped transactions already verified here: a replay is neither checked nor handed on again.
    verified_txs: tx_gossip::VerifiedTxs,
    /// Gossiped transaction batches waiting for their signatures to be checked together.
    unchecked_txs: Vec<(PeerId, gossipsub::MessageId, Vec<Bytes>)>,
    /// Transactions the driver asked to publish, gossiped as one batch when its burst of commands ends.
    outgoing_txs: Vec<Vec<u8>>,
    outgoing_bytes: usize,
    /// Repetitive warnings about a peer, and about a refused address or peer.
    log_limit: LogLimiter<(&'static str, PeerId)>,
    log_limit_refused: LogLimiter<String>,
    /// Kept to build the swarm again under a rotated network key (`identity`).
    listen: Multiaddr,
    max_connections: u32,
    /// Every peer id this node has had: a member list naming an old one is not a peer to dial.
    own_ids: HashSet<PeerId>,
    /// Listening failed after a network key rotation: tried again on each redial tick.
    relisten: bool,
}

/// How many swarm events are handled in a row before the gossiped transactions among them are checked: a burst
/// of arrivals becomes one signature batch, while a lone transaction waits for nothing.
const EVENT_BURST: usize = 64;
/// How many driver commands are handled in a row before the transactions among them are published: the
/// transactions of one submitted batch, or of one re-gossip, leave as few gossip messages.
const COMMAND_BURST: usize = 1024;

/// The gossipsub topic of a chain's transaction batches (docs/protocol.md §12.2).
fn tx_topic(chain_id: &clearance_core::Hash32) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(format!("clearance/{}/tx/2", &chain_id.to_hex()[..16]))
}

/// The channels on which the network hands events to the driver.
pub struct NetEvents {
    pub consensus: mpsc::Receiver<NetEvent>,
    pub gossip: mpsc::Receiver<NetEvent>,
    pub control: mpsc::UnboundedReceiver<NetEvent>,
}

/// Starts the swarm in its own task. Returns the command sender and the event receivers.
pub fn spawn(
    config: NetworkConfig,
    metrics: Arc<Metrics>,
) -> Result<(mpsc::UnboundedSender<NetCommand>, NetEvents)> {
    let (events, gossip_rx) = mpsc::channel(16 * 1024);
    let (consensus_events, consensus_rx) = mpsc::channel(4 * 1024);
    let (control, control_rx) = mpsc::unbounded_channel();
    let allowed_ids: Vec<PeerId> = config
        .members
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !config.own_ids.contains(p))
        .collect();
    let mut swarm = swarm::build(config.keypair, config.max_connections, &allowed_ids)?;
    let tx_topic = tx_topic(&config.chain_id);
    swarm
        .behaviour_mut()
        .gossip
        .subscribe(&tx_topic)
        .context("subscribe to transactions")?;
    swarm
        .listen_on(config.listen.clone())
        .with_context(|| format!("listen on {}", config.listen))?;
    let mut own_ids: HashSet<PeerId> = config.own_ids.into_iter().collect();
    own_ids.insert(*swarm.local_peer_id());

    let now = Instant::now();
    let members = config
        .members
        .into_iter()
        .filter(|(peer, _)| !own_ids.contains(peer))
        .map(|(peer, addrs)| {
            for addr in &addrs {
                swarm.add_peer_address(peer, addr.clone());
            }
            (peer, Member::new(addrs, now))
        })
        .collect();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let network = Network {
        swarm,
        tx_topic,
        consensus: ConsensusChannel::new(config.chain_id, config.validators, metrics.clone()),
        members,
        connected: HashSet::new(),
        penalties: HashMap::new(),
        slow_peers: slow_peers::SlowPeers::default(),
        pending_responses: HashMap::new(),
        next_response_id: 0,
        events,
        consensus_events,
        control,
        chain_id: config.chain_id,
        metrics,
        max_backoff: config.max_redial_backoff,
        keys: config.keys,
        unchecked_txs: Vec::new(),
        sync_requests: inbound::SyncRequestLimit::default(),
        outbound: HashMap::new(),
        verified_txs: tx_gossip::VerifiedTxs::default(),
        outgoing_txs: Vec::new(),
        outgoing_bytes: 0,
        log_limit: LogLimiter::default(),
        log_limit_refused: LogLimiter::default(),
        listen: config.listen,
        max_connections: config.max_connections,
        own_ids,
        relisten: false,
    };
    tokio::spawn(network.run(cmd_rx));
    Ok((
        cmd_tx,
        NetEvents {
            consensus: consensus_rx,
            gossip: gossip_rx,
            control: control_rx,
        },
    ))
}

impl Network {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<NetCommand>) {
        let mut redial = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => {
                    self.on_swarm_event(event);
                    for _ in 1..EVENT_BURST {
                        match self.swarm.next().now_or_never() {
                            Some(Some(event)) => self.on_swarm_event(event),
                            _ => break,
                        }
                    }
                    self.check_txs();
                }
                cmd = commands.recv() => match cmd {
                    Some(cmd) => {
                        self.on_command(cmd);
                        for _ in 1..COMMAND_BURST {
                            match commands.try_recv() {
                                Ok(cmd) => self.on_command(cmd),
                                Err(_) => break,
                            }
                        }
                        self.publish_txs();
                    }
                    // The driver has stopped: so does the network.
                    None => return,
                },
                _ = redial.tick() => self.redial(),
            }
        }
    }

    fn emit(&self, event: NetEvent) {
        match event {
            NetEvent::Consensus { .. }
            | NetEvent::PeerState { .. }
            | NetEvent::Commit { .. }
            | NetEvent::ProposalPart { .. } => {
                // Sent again by the peer while this node's states lack it.
                if self.consensus_events.try_send(event).is_err() {
                    Metrics::inc(&self.metrics.dropped_gossip_events_total);
                    tracing::debug!("driver busy: dropped a consensus message");
                }
            }
            NetEvent::Tx { .. } | NetEvent::Request { .. } => {
                // A driver that falls behind loses gossip, never its own state: transactions are re-submitted,
                // while an unbounded queue could exhaust memory under a flood.
                if self.events.try_send(event).is_err() {
                    Metrics::inc(&self.metrics.dropped_gossip_events_total);
                    tracing::debug!("driver busy: dropped a network event");
                }
            }
            _ => {
                // The driver has stopped only when the node is shutting down.
                let _ = self.control.send(event);
            }
        }
    }

    fn redial(&mut self) {
        if self.relisten {
            self.listen();
        }
        let now = Instant::now();
        for (peer, member) in &mut self.members {
            if let Some(until) = member.banned_until {
                if now < until {
                    continue;
                }
                member.banned_until = None;
                self.swarm.behaviour_mut().allowed.allow_peer(*peer);
                tracing::info!(%peer, "penalty over: member may connect again");
            }
            if self.connected.contains(peer) || now < member.next_dial {
                continue;
            }
            // A dial still pending (its SYN lost to a partition) must not hold back a fresh one.
            let opts = DialOpts::peer_id(*peer)
                .condition(libp2p::swarm::dial_opts::PeerCondition::Disconnected)
                .addresses(member.addrs.clone())
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, "dial: {e}");
            }
            member.next_dial = now + member.backoff;
            member.backoff = (member.backoff * 2).min(self.max_backoff);
        }
    }

    fn on_command(&mut self, cmd: NetCommand) {
        match cmd {
            NetCommand::PublishTx(bytes) => {
                if self.outgoing_txs.len() == wire::MAX_GOSSIP_TXS
                    || self.outgoing_bytes + bytes.len() > wire::GOSSIP_TX_BATCH_BYTES
                {
                    self.publish_txs();
                }
                self.outgoing_bytes += bytes.len();
                self.outgoing_txs.push(bytes);
            }
            NetCommand::SendConsensus { peer, items } => {
                if self.connected.contains(&peer) {
                    let rr = &mut self.swarm.behaviour_mut().consensus;
                    self.consensus.send(rr, peer, items);
                }
            }
            NetCommand::Request { peer, req } => {
                let asked = Asked::of(&req);
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, req);
                self.outbound.insert(id, asked);
            }
            NetCommand::Respond { id, resp } => {
                if let Some((_, channel)) = self.pending_responses.remove(&id) {
                    // The peer may have gone; nothing to do then.
                    let _ = self.swarm.behaviour_mut().sync.send_response(channel, resp);
                }
            }
            NetCommand::Penalise { peer, reason } => self.penalise(peer, &reason),
            NetCommand::Reconnect(peer) => {
                if let Some(member) = self.members.get_mut(&peer) {
                    member.backoff = MIN_REDIAL;
                    member.next_dial = Instant::now();
                }
                // The redial loop dials it again once the connections are closed.
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            NetCommand::Deciding { height, validators } => {
                self.consensus.deciding(height, validators)
            }
            NetCommand::SetMembers(members) => self.set_members(members),
            NetCommand::UseNetworkKey(secret) => self.use_network_key(&secret),
        }
    }

    fn penalise(&mut self, peer: PeerId, reason: &str) {
        Metrics::inc(&self.metrics.p2p_invalid_messages_total);
        if let Some(suppressed) = self.log_limit.allow(("invalid", peer), Instant::now()) {
            tracing::warn!(%peer, suppressed, "invalid message from peer: {reason}");
        }
        let now = Instant::now();
        let entry = self.penalties.entry(peer).or_insert(Penalty {
            since: now,
            count: 0,
        });
        if now.duration_since(entry.since) > PENALTY_WINDOW {
            *entry = Penalty {
                since: now,
                count: 0,
            };
        }
        entry.count += 1;
        if entry.count >= PENALTY_THRESHOLD {
            self.penalties.remove(&peer);
            Metrics::inc(&self.metrics.p2p_penalised_peers_total);
            tracing::warn!(%peer, "too many invalid messages: disconnecting peer for {PENALTY_BAN:?}");
            self.swarm.behaviour_mut().allowed.disallow_peer(peer);
            if let Some(member) = self.members.get_mut(&peer) {
                member.banned_until = Some(now + PENALTY_BAN);
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening for peers");
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                if let Some(member) = self.members.get_mut(&peer_id) {
                    member.backoff = MIN_REDIAL;
                }
                if num_established.get() == 1 && self.connected.insert(peer_id) {
                    tracing::info!(peer = %peer_id, "member connected");
                    Metrics::set(&self.metrics.peers, self.connected.len() as u64);
                    self.emit(NetEvent::Connected(peer_id));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                cause,
                ..
            } if self.connected.remove(&peer_id) => {
                let cause = cause.map(|c| c.to_string()).unwrap_or_default();
                tracing::info!(peer = %peer_id, "member disconnected {cause}");
                Metrics::set(&self.metrics.peers, self.connected.len() as u64);
                self.consensus.disconnected(&peer_id);
                self.slow_peers.disconnected(&peer_id);
                self.emit(NetEvent::Disconnected(peer_id));
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                if let libp2p::swarm::ListenError::Denied { cause } = &error {
                    Metrics::inc(&self.metrics.p2p_refused_connections_total);
                    // One line per address and period: an unknown peer retries every few seconds.
                    let ip = send_back_addr.iter().next().map(|p| p.to_string());
                    let key = ip.unwrap_or_default();
                    if let Some(suppressed) = self.log_limit_refused.allow(key, Instant::now()) {
                        tracing::warn!(from = %send_back_addr, suppressed, "refused connection: {cause}");
                    }
                } else {
                    tracing::debug!(from = %send_back_addr, "incoming connection failed: {error}");
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                if let libp2p::swarm::DialError::Denied { cause } = &error {
                    Metrics::inc(&self.metrics.p2p_refused_connections_total);
                    let key = format!("{peer_id:?}");
                    if let Some(suppressed) = self.log_limit_refused.allow(key, Instant::now()) {
                        tracing::warn!(peer = ?peer_id, suppressed, "refused connection: {cause}");
                    }
                } else {
                    tracing::debug!(peer = ?peer_id, "dial failed: {error}");
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_gossip(propagation_source, message_id, message),
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages,
            })) => {
                let failed = failed_messages.priority + failed_messages.non_priority;
                Metrics::add(&self.metrics.gossip_send_failures_total, failed as u64);
                if self
                    .slow_peers
                    .failed(peer_id, failed as u64, Instant::now())
                {
                    Metrics::inc(&self.metrics.gossip_stall_resets_total);
                    tracing::warn!(
                        peer = %peer_id,
                        "gossip to this peer is stuck ({} or more messages not sent within {:?}): closing its \
                         connections to start afresh",
                        slow_peers::STUCK_FAILURES,
                        slow_peers::WINDOW
                    );
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                }
                // Control messages (priority) fail only when their queue is full; publications and forwards
                // also when they waited in the queue past gossipsub's deadline.
                if let Some(suppressed) = self.log_limit.allow(("slow", peer_id), Instant::now()) {
                    tracing::warn!(
                        peer = %peer_id,
                        control = failed_messages.priority,
                        messages = failed_messages.non_priority,
                        suppressed,
                        "gossip to a slow peer: messages not sent"
                    );
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync(event),
            SwarmEvent::Behaviour(BehaviourEvent::Consensus(event)) => self.on_consensus(event),
            _ => {}
        }
    }
}
