//! libp2p networking: TCP, Noise and Yamux; gossipsub for transactions and consensus messages;
//! request-response for block sync and missing proposals.
//!
//! Only the peer ids listed in genesis may connect; every other peer is refused after the Noise handshake and
//! logged. The swarm runs in its own task and talks to the node's driver through channels: it decodes what
//! arrives (bounded, rejecting garbage and penalising its sender) and never interprets consensus or ledger state.

pub mod wire;

use crate::metrics::Metrics;
use anyhow::{Context, Result};
use clearance_core::bytes::Bytes;
use clearance_core::tx::VerifiedTx;
use futures::{FutureExt, StreamExt};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent, dial_opts::DialOpts};
use libp2p::{
    Multiaddr, PeerId, Swarm, allow_block_list, connection_limits, gossipsub, identity, noise,
    request_response, tcp, yamux,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use wire::{SyncCodec, SyncRequest, SyncResponse};

/// Invalid messages a peer may send within [`PENALTY_WINDOW`] before it is disconnected.
const PENALTY_THRESHOLD: u32 = 20;
const PENALTY_WINDOW: Duration = Duration::from_secs(60);
/// How long a penalised peer stays disconnected.
const PENALTY_BAN: Duration = Duration::from_secs(30);
const MIN_REDIAL: Duration = Duration::from_millis(250);

pub struct NetworkConfig {
    pub keypair: identity::Keypair,
    pub listen: Multiaddr,
    /// The other members' peer ids and addresses, from genesis.
    pub members: Vec<(PeerId, Vec<Multiaddr>)>,
    pub chain_id: clearance_core::Hash32,
    /// Consensus messages are checked against this set before they are relayed.
    pub validators: clearance_core::validator::ValidatorSet,
    pub max_connections: u32,
    pub max_redial_backoff: Duration,
}

/// What the network hands to the driver.
#[derive(Debug)]
pub enum NetEvent {
    /// A gossiped transaction, verified (chain, signature, shape) over exactly `bytes`.
    Tx {
        from: PeerId,
        bytes: Vec<u8>,
        tx: Box<VerifiedTx>,
    },
    Consensus {
        from: PeerId,
        msg: crate::consensus::Message,
    },
    Request {
        from: PeerId,
        id: u64,
        req: SyncRequest,
    },
    Response {
        from: PeerId,
        resp: SyncResponse,
    },
    RequestFailed {
        peer: PeerId,
    },
    Connected(PeerId),
    Disconnected(PeerId),
}

/// What the driver asks of the network.
#[derive(Debug)]
pub enum NetCommand {
    PublishTx(Vec<u8>),
    PublishConsensus(Vec<u8>),
    Request {
        peer: PeerId,
        req: SyncRequest,
    },
    Respond {
        id: u64,
        resp: SyncResponse,
    },
    Penalise {
        peer: PeerId,
        reason: String,
    },
    /// Close the connections to a member and dial it again at once: gossip over them has stopped.
    Reconnect(PeerId),
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    allowed: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    limits: connection_limits::Behaviour,
    gossip: gossipsub::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
}

struct Member {
    addrs: Vec<Multiaddr>,
    backoff: Duration,
    next_dial: Instant,
    banned_until: Option<Instant>,
}

struct Penalty {
    since: Instant,
    count: u32,
}

struct Network {
    swarm: Swarm<Behaviour>,
    tx_topic: gossipsub::IdentTopic,
    consensus_topic: gossipsub::IdentTopic,
    members: HashMap<PeerId, Member>,
    connected: HashSet<PeerId>,
    penalties: HashMap<PeerId, Penalty>,
    pending_responses: HashMap<u64, request_response::ResponseChannel<SyncResponse>>,
    next_response_id: u64,
    /// Gossip and peers' requests: bounded, dropped when the driver falls behind.
    events: mpsc::Sender<NetEvent>,
    /// Connections, and answers to this node's own requests: few, and never dropped.
    control: mpsc::UnboundedSender<NetEvent>,
    chain_id: clearance_core::Hash32,
    validators: clearance_core::validator::ValidatorSet,
    metrics: Arc<Metrics>,
    max_backoff: Duration,
    /// Submitter keys already validated, for checking gossiped transactions.
    keys: HashMap<clearance_core::crypto::PublicKey, clearance_core::crypto::CheckedKey>,
    /// Gossiped transaction batches waiting for their signatures to be checked together.
    unchecked_txs: Vec<(PeerId, gossipsub::MessageId, Vec<Bytes>)>,
    /// Transactions the driver asked to publish, gossiped as one batch when its burst of commands ends.
    outgoing_txs: Vec<Vec<u8>>,
    outgoing_bytes: usize,
}

/// How many swarm events are handled in a row before the gossiped transactions among them are checked: a burst
/// of arrivals becomes one signature batch, while a lone transaction waits for nothing.
const EVENT_BURST: usize = 64;
/// How many driver commands are handled in a row before the transactions among them are published: the
/// transactions of one submitted batch, or of one re-gossip, leave as few gossip messages.
const COMMAND_BURST: usize = 1024;

/// The channels on which the network hands events to the driver.
pub struct NetEvents {
    pub gossip: mpsc::Receiver<NetEvent>,
    pub control: mpsc::UnboundedReceiver<NetEvent>,
}

/// Starts the swarm in its own task. Returns the command sender and the event receivers.
pub fn spawn(
    config: NetworkConfig,
    metrics: Arc<Metrics>,
) -> Result<(mpsc::UnboundedSender<NetCommand>, NetEvents)> {
    let (events, gossip_rx) = mpsc::channel(16 * 1024);
    let (control, control_rx) = mpsc::unbounded_channel();
    let allowed_ids: Vec<PeerId> = config.members.iter().map(|(p, _)| *p).collect();
    let gossip_config = gossipsub::ConfigBuilder::default()
        .max_transmit_size(wire::MAX_CONSENSUS_BYTES + 1024)
        // Unsigned gossip envelopes (see `MessageAuthenticity::Author` below); a signature, if a message has
        // one, is still checked.
        .validation_mode(gossipsub::ValidationMode::Permissive)
        .validate_messages()
        // The id is the envelope's `from` bytes and `seqno`, as raw bytes: the library's default formats the
        // peer id in base58 for every copy of every message, a few percent of a node's CPU under load.
        .message_id_fn(|m: &gossipsub::Message| {
            let mut id = m.source.map(|p| p.to_bytes()).unwrap_or_default();
            id.extend_from_slice(&m.sequence_number.unwrap_or(0).to_be_bytes());
            gossipsub::MessageId::from(id)
        })
        .heartbeat_interval(Duration::from_millis(700))
        // Members are few and all connected to each other: small meshes, and flood publishing (the default)
        // sends a node's own messages to every member directly.
        .mesh_n_low(1)
        .mesh_n(3)
        .mesh_outbound_min(1)
        .mesh_n_high(12)
        .build()
        .map_err(|e| anyhow::anyhow!("gossipsub config: {e}"))?;
    let max_connections = config.max_connections;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(config.keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .context("TCP transport")?
        .with_behaviour(|key| {
            let mut allowed = allow_block_list::Behaviour::default();
            for peer in &allowed_ids {
                allowed.allow_peer(*peer);
            }
            let limits = connection_limits::ConnectionLimits::default()
                .with_max_established(Some(max_connections))
                .with_max_established_per_peer(Some(2))
                .with_max_pending_incoming(Some(max_connections));
            // No gossipsub signatures: every payload carries its own (a submitter's or a validator's), and a
            // penalty goes to the Noise-authenticated peer that sent the message, never to the envelope's
            // author. A signed envelope cost one more ed25519 check for every copy of every message received,
            // duplicates included: about a third of a node's CPU under load.
            let gossip = gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Author(key.public().to_peer_id()),
                gossip_config,
            )?;
            let sync = request_response::Behaviour::new(
                [(wire::SYNC_PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(30))
                    .with_max_concurrent_streams(64),
            );
            Ok(Behaviour {
                allowed,
                limits: connection_limits::Behaviour::new(limits),
                gossip,
                sync,
            })
        })
        .map_err(|e| anyhow::anyhow!("network behaviour: {e}"))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();

    let short = &config.chain_id.to_hex()[..16];
    let tx_topic = gossipsub::IdentTopic::new(format!("clearance/{short}/tx/2"));
    let consensus_topic = gossipsub::IdentTopic::new(format!("clearance/{short}/consensus/1"));
    swarm
        .behaviour_mut()
        .gossip
        .subscribe(&tx_topic)
        .context("subscribe to transactions")?;
    swarm
        .behaviour_mut()
        .gossip
        .subscribe(&consensus_topic)
        .context("subscribe to consensus")?;
    swarm
        .listen_on(config.listen.clone())
        .with_context(|| format!("listen on {}", config.listen))?;

    let now = Instant::now();
    let members = config
        .members
        .into_iter()
        .map(|(peer, addrs)| {
            for addr in &addrs {
                swarm.add_peer_address(peer, addr.clone());
            }
            (
                peer,
                Member {
                    addrs,
                    backoff: MIN_REDIAL,
                    next_dial: now,
                    banned_until: None,
                },
            )
        })
        .collect();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let network = Network {
        swarm,
        tx_topic,
        consensus_topic,
        members,
        connected: HashSet::new(),
        penalties: HashMap::new(),
        pending_responses: HashMap::new(),
        next_response_id: 0,
        events,
        control,
        chain_id: config.chain_id,
        validators: config.validators,
        metrics,
        max_backoff: config.max_redial_backoff,
        keys: HashMap::new(),
        unchecked_txs: Vec::new(),
        outgoing_txs: Vec::new(),
        outgoing_bytes: 0,
    };
    tokio::spawn(network.run(cmd_rx));
    Ok((
        cmd_tx,
        NetEvents {
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
            NetEvent::Tx { .. } | NetEvent::Consensus { .. } | NetEvent::Request { .. } => {
                // A driver that falls behind loses gossip, never its own state: consensus messages are
                // re-gossiped and transactions re-submitted, while an unbounded queue could exhaust memory
                // under a flood.
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
            let opts = DialOpts::peer_id(*peer)
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
            NetCommand::PublishConsensus(bytes) => self.publish(false, bytes),
            NetCommand::Request { peer, req } => {
                self.swarm.behaviour_mut().sync.send_request(&peer, req);
            }
            NetCommand::Respond { id, resp } => {
                if let Some(channel) = self.pending_responses.remove(&id) {
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
        }
    }

    fn publish(&mut self, tx: bool, bytes: Vec<u8>) {
        let topic = if tx {
            self.tx_topic.clone()
        } else {
            self.consensus_topic.clone()
        };
        match self.swarm.behaviour_mut().gossip.publish(topic, bytes) {
            Ok(_) => {}
            // Alone, or before the mesh forms: consensus re-gossips and transactions were admitted locally.
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
            Err(e) => tracing::debug!("publish: {e}"),
        }
    }

    fn publish_txs(&mut self) {
        if self.outgoing_txs.is_empty() {
            return;
        }
        let batch = wire::encode_txs(&self.outgoing_txs);
        self.outgoing_txs.clear();
        self.outgoing_bytes = 0;
        self.publish(true, batch);
    }

    fn penalise(&mut self, peer: PeerId, reason: &str) {
        Metrics::inc(&self.metrics.p2p_invalid_messages_total);
        tracing::warn!(%peer, "invalid message from peer: {reason}");
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
                self.emit(NetEvent::Disconnected(peer_id));
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                if let libp2p::swarm::ListenError::Denied { cause } = &error {
                    Metrics::inc(&self.metrics.p2p_refused_connections_total);
                    tracing::warn!(from = %send_back_addr, "refused connection: {cause}");
                } else {
                    tracing::debug!(from = %send_back_addr, "incoming connection failed: {error}");
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                if let libp2p::swarm::DialError::Denied { cause } = &error {
                    Metrics::inc(&self.metrics.p2p_refused_connections_total);
                    tracing::warn!(peer = ?peer_id, "refused connection: {cause}");
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
                // Control messages (priority) fail only when their queue is full; publications and forwards
                // also when they waited in the queue past gossipsub's deadline.
                tracing::warn!(
                    peer = %peer_id,
                    control = failed_messages.priority,
                    messages = failed_messages.non_priority,
                    "gossip to a slow peer: messages not sent"
                );
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync(event),
            _ => {}
        }
    }

    /// Checks a gossiped message before it is relayed: it must decode within its limit and carry a valid
    /// signature for this chain (a submitter's for a transaction, a member's for a consensus message). Only the
    /// direct sender of an invalid message is penalised: correct members never relay one.
    fn on_gossip(&mut self, source: PeerId, id: gossipsub::MessageId, message: gossipsub::Message) {
        if message.topic == self.tx_topic.hash() {
            match wire::decode_txs(&message.data) {
                Ok(txs) => self.unchecked_txs.push((source, id, txs)),
                Err(e) => self.report(source, &id, Err(format!("gossiped transactions: {e}"))),
            }
            return;
        }
        let verdict = if message.topic == self.consensus_topic.hash() {
            self.check_consensus(&message.data)
                .map(|msg| self.emit(NetEvent::Consensus { from: source, msg }))
        } else {
            Err(format!("unknown topic {}", message.topic))
        };
        self.report(source, &id, verdict);
    }

    /// Checks the gossiped transaction batches received since the last call, all their signatures as batches,
    /// and hands the valid transactions to the driver. A batch with any invalid transaction is not relayed, and
    /// its sender is penalised: a correct member gossips only transactions it verified.
    fn check_txs(&mut self) {
        if self.unchecked_txs.is_empty() {
            return;
        }
        let mut reports = Vec::new();
        let mut signed = Vec::new();
        let mut owners = Vec::new();
        let mut raw = Vec::new();
        for (m, (source, id, txs)) in std::mem::take(&mut self.unchecked_txs)
            .into_iter()
            .enumerate()
        {
            let mut fault = None;
            for Bytes(data) in txs {
                match clearance_core::tx::SignedTx::from_bytes(&data) {
                    Ok(tx) => {
                        signed.push(tx);
                        owners.push(m);
                        raw.push(data);
                    }
                    Err(e) => {
                        fault.get_or_insert(format!("gossiped transaction: {e}"));
                    }
                }
            }
            reports.push((source, id, fault));
        }
        if self.keys.len() >= 4096 {
            self.keys.clear();
        }
        let results = clearance_core::tx::verify_many(&self.chain_id, &signed, &mut self.keys);
        for ((m, bytes), result) in owners.into_iter().zip(raw).zip(results) {
            match result {
                Ok(tx) => self.emit(NetEvent::Tx {
                    from: reports[m].0,
                    bytes,
                    tx: Box::new(tx),
                }),
                Err(e) => {
                    reports[m]
                        .2
                        .get_or_insert(format!("gossiped transaction: {e}"));
                }
            }
        }
        for (source, id, fault) in reports {
            self.report(source, &id, fault.map_or(Ok(()), Err));
        }
    }

    /// Tells gossipsub whether to relay a message, and penalises the direct sender of an invalid one.
    fn report(&mut self, source: PeerId, id: &gossipsub::MessageId, verdict: Result<(), String>) {
        let acceptance = match verdict {
            Ok(()) => gossipsub::MessageAcceptance::Accept,
            Err(reason) => {
                self.penalise(source, &reason);
                gossipsub::MessageAcceptance::Reject
            }
        };
        self.swarm
            .behaviour_mut()
            .gossip
            .report_message_validation_result(id, &source, acceptance);
    }

    fn check_consensus(&self, data: &[u8]) -> Result<crate::consensus::Message, String> {
        let msg = wire::decode_consensus(data).map_err(|e| format!("consensus message: {e}"))?;
        match &msg {
            crate::consensus::Message::Vote(vote) => {
                vote.verify(&self.chain_id, &self.validators)
                    .map_err(|e| format!("vote: {e}"))?;
            }
            crate::consensus::Message::Proposal { proposal, block } => {
                proposal
                    .verify(&self.chain_id, &self.validators)
                    .map_err(|e| format!("proposal: {e}"))?;
                block
                    .verify_body()
                    .map_err(|e| format!("proposed block: {e}"))?;
            }
        }
        Ok(msg)
    }

    fn on_sync(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let id = self.next_response_id;
                    self.next_response_id += 1;
                    self.pending_responses.insert(id, channel);
                    self.emit(NetEvent::Request {
                        from: peer,
                        id,
                        req: request,
                    });
                }
                request_response::Message::Response { response, .. } => {
                    self.emit(NetEvent::Response {
                        from: peer,
                        resp: response,
                    });
                }
            },
            request_response::Event::OutboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, "sync request failed: {error}");
                self.emit(NetEvent::RequestFailed { peer });
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, "sync request from peer failed: {error}");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
        // Responses the driver never answered (a dropped event) must not pile up.
        if self.pending_responses.len() > 1024 {
            self.pending_responses.clear();
        }
    }
}
