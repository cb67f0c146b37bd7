//! `clearance-adversary`: a valid genesis member that misbehaves on purpose. For tests and benchmarks only: it
//! takes a member's home directory (its genesis, network key and validator key), listens on its p2p address,
//! connects to the other members as that member, and runs one attack until it is killed. It never stores or
//! commits anything.
//!
//! Attacks (`--attack`):
//! - `silent`: connected, acknowledges what it gets, sends nothing (the baseline of a member that does not vote);
//! - `old-votes`: a flood of validly signed votes of old heights and rounds, more distinct ones than a node
//!   remembers, so that every copy once cost a signature check;
//! - `garbage`: undecodable consensus items, sync requests and gossip messages;
//! - `lying-sync`: claims a head far ahead, in its status answers and round states, and never delivers a block;
//! - `tx-replay`: republishes every transaction batch it has seen, again and again, under fresh gossip seqnos;
//! - `sync-flood`: asks every member for blocks from height 1 and for its status, as fast as they answer, with
//!   as many requests open as a member allows one peer;
//! - `slow-loris`: opens TCP connections to every member's p2p port from its own address and sends nothing;
//! - `double-votes`: two prevotes and two precommits for different, unknown blocks at the height and round being
//!   decided, again and again;
//! - `double-proposals`: whenever it is the proposer, two valid proposals for two different blocks, one to one
//!   member and the other to the rest;
//! - `junk-blocks`: whenever it is the proposer, a block with a transaction of an unregistered key;
//! - `wrong-answers`: answers each status request with a batch of real old blocks, and each block request with a
//!   status claiming a head far ahead (an answer of the other kind than the request).

mod attacks;
mod proposals;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use clearance_core::Hash32;
use clearance_core::ids::CountryCode;
use clearance_node::network::wire::{
    self, ConsensusCodec, ConsensusRequest, SyncCodec, SyncRequest, SyncResponse,
};
use clearance_node::run::Home;
use futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, gossipsub, noise, request_response, tcp, yamux};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Attack {
    Silent,
    OldVotes,
    Garbage,
    LyingSync,
    TxReplay,
    SyncFlood,
    SlowLoris,
    DoubleVotes,
    DoubleProposals,
    JunkBlocks,
    WrongAnswers,
}

#[derive(Parser)]
#[command(
    name = "clearance-adversary",
    about = "A misbehaving member, for tests"
)]
struct Args {
    /// The home directory of the member to impersonate (as `clearance-node --home`).
    #[arg(long)]
    home: PathBuf,
    #[arg(long, value_enum)]
    attack: Attack,
    /// The local address slow-loris connections come from (another loopback address in tests, so that the
    /// members' own connections are not counted with them).
    #[arg(long, default_value = "127.0.0.2")]
    loris_from: std::net::IpAddr,
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    gossip: gossipsub::Behaviour,
    consensus: request_response::Behaviour<ConsensusCodec>,
    sync: request_response::Behaviour<SyncCodec>,
    /// Raw frames under the members' protocol names, for garbage; outbound only.
    raw_consensus: request_response::Behaviour<attacks::RawCodec>,
    raw_sync: request_response::Behaviour<attacks::RawCodec>,
}

/// What the attacks know and hold.
pub struct Adversary {
    swarm: Swarm<Behaviour>,
    chain_id: Hash32,
    me: CountryCode,
    key: clearance_core::SecretKey,
    /// The header of the newest block a member sent by block sync.
    head: Option<clearance_core::block::HeaderView>,
    tx_topic: gossipsub::IdentTopic,
    members: Vec<(PeerId, Vec<Multiaddr>)>,
    connected: HashSet<PeerId>,
    /// Consensus requests sent to each peer and not yet acknowledged.
    in_flight: HashMap<PeerId, usize>,
    /// Sync requests to each peer not yet answered.
    sync_in_flight: HashMap<PeerId, usize>,
    /// Gossiped transaction batches seen, for `tx-replay`.
    seen_batches: Vec<Vec<u8>>,
    /// Committed blocks a member sent, for `wrong-answers`.
    old_blocks: Vec<wire::SyncedBlock>,
    /// The highest height members said they decide, and their round there.
    height: u64,
    round: u32,
    sent: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let home = Home::load(&args.home).context("member home")?;
    let chain_id = home.genesis.chain_id();
    let key = home.validator_key.secret.clone();
    let me = home
        .genesis
        .members
        .iter()
        .find(|m| m.validator_key == key.public_key())
        .map(|m| m.id.clone())
        .context("the home's validator key is no genesis member's")?;
    let mut seed = home.node_key.secret.seed();
    let keypair = libp2p::identity::Keypair::ed25519_from_bytes(&mut seed)?;
    let local = keypair.public().to_peer_id();
    let members: Vec<_> = clearance_node::network::member_peers(&home.genesis.members)
        .into_iter()
        .filter(|(p, _)| *p != local)
        .collect();
    let listen: Multiaddr = home.config.p2p.listen.parse()?;
    let mut swarm = build(keypair)?;
    swarm.listen_on(listen)?;
    let short = &chain_id.to_hex()[..16];
    let tx_topic = gossipsub::IdentTopic::new(format!("clearance/{short}/tx/2"));
    swarm.behaviour_mut().gossip.subscribe(&tx_topic)?;
    let mut adversary = Adversary {
        swarm,
        chain_id,
        me,
        key,
        head: None,
        tx_topic,
        members,
        connected: HashSet::new(),
        in_flight: HashMap::new(),
        sync_in_flight: HashMap::new(),
        seen_batches: Vec::new(),
        old_blocks: Vec::new(),
        height: 0,
        round: 0,
        sent: 0,
    };
    tracing::info!(attack = ?args.attack, member = %adversary.me, "adversary started");
    if args.attack == Attack::SlowLoris {
        tokio::spawn(attacks::slow_loris(
            adversary.members.clone(),
            args.loris_from,
        ));
    }
    let mut attack = attacks::Plan::new(args.attack);
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    let mut redial = tokio::time::interval(Duration::from_secs(1));
    let mut report = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            event = adversary.swarm.select_next_some() => adversary.on_event(event, args.attack),
            _ = tick.tick() => attack.step(&mut adversary),
            _ = redial.tick() => adversary.redial(),
            _ = report.tick() => tracing::info!(
                sent = adversary.sent,
                connected = adversary.connected.len(),
                height = adversary.height,
                "adversary"
            ),
        }
    }
}

/// The consensus channel's protocol name: this build's, or the one in `ADVERSARY_CONSENSUS_PROTOCOL`, to attack
/// nodes of an older version (whose messages, other than round states listing proposals, are the same).
fn consensus_protocol() -> libp2p::StreamProtocol {
    std::env::var("ADVERSARY_CONSENSUS_PROTOCOL")
        .ok()
        .and_then(|name| libp2p::StreamProtocol::try_from_owned(name).ok())
        .unwrap_or(wire::CONSENSUS_PROTOCOL)
}

fn build(keypair: libp2p::identity::Keypair) -> Result<Swarm<Behaviour>> {
    let gossip_config = gossipsub::ConfigBuilder::default()
        .max_transmit_size(wire::MAX_GOSSIP_TX_BYTES + 1024)
        .validation_mode(gossipsub::ValidationMode::Permissive)
        // Its own ids from (source, seqno): so that it may publish one payload again and again.
        .message_id_fn(|m: &gossipsub::Message| {
            let mut id = m.source.map(|p| p.to_bytes()).unwrap_or_default();
            id.extend_from_slice(&m.sequence_number.unwrap_or(0).to_be_bytes());
            gossipsub::MessageId::from(id)
        })
        .build()
        .map_err(|e| anyhow::anyhow!("gossipsub config: {e}"))?;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(|key| {
            let full = request_response::ProtocolSupport::Full;
            let out = request_response::ProtocolSupport::Outbound;
            let config = request_response::Config::default()
                .with_request_timeout(Duration::from_secs(30))
                .with_max_concurrent_streams(1024);
            Ok(Behaviour {
                gossip: gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Author(key.public().to_peer_id()),
                    gossip_config,
                )?,
                consensus: request_response::Behaviour::new(
                    [(consensus_protocol(), full.clone())],
                    config.clone(),
                ),
                sync: request_response::Behaviour::new(
                    [(wire::SYNC_PROTOCOL, full)],
                    config.clone(),
                ),
                raw_consensus: request_response::Behaviour::new(
                    [(consensus_protocol(), out.clone())],
                    config.clone(),
                ),
                raw_sync: request_response::Behaviour::new([(wire::SYNC_PROTOCOL, out)], config),
            })
        })
        .map_err(|e| anyhow::anyhow!("behaviour: {e}"))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    Ok(swarm)
}

impl Adversary {
    fn redial(&mut self) {
        for (peer, addrs) in self.members.clone() {
            if !self.connected.contains(&peer) {
                for addr in addrs {
                    let _ = self.swarm.dial(addr.with_p2p(peer).unwrap_or_else(|a| a));
                }
            }
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>, attack: Attack) {
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                self.connected.insert(peer_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.connected.remove(&peer_id);
                self.in_flight.remove(&peer_id);
                self.sync_in_flight.remove(&peer_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Consensus(event)) => self.on_consensus(event),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync(event, attack),
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message {
                message,
                ..
            })) if self.seen_batches.len() < 10_000 => {
                self.seen_batches.push(message.data);
            }
            _ => {}
        }
    }

    fn on_consensus(&mut self, event: request_response::Event<ConsensusRequest, ()>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .consensus
                        .send_response(channel, ());
                    for item in request.0 {
                        if let Ok(wire::ConsensusItem::State(state)) = wire::decode_item(&item)
                            && (state.height, state.round) > (self.height, self.round)
                        {
                            self.height = state.height;
                            self.round = state.round;
                        }
                    }
                }
                request_response::Message::Response { .. } => {
                    if let Some(n) = self.in_flight.get_mut(&peer) {
                        *n = n.saturating_sub(1);
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, .. } => {
                if let Some(n) = self.in_flight.get_mut(&peer) {
                    *n = n.saturating_sub(1);
                }
            }
            _ => {}
        }
    }

    fn on_sync(
        &mut self,
        event: request_response::Event<SyncRequest, SyncResponse>,
        attack: Attack,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let answer = match (attack, request) {
                        (Attack::LyingSync, SyncRequest::Status)
                        | (Attack::WrongAnswers, SyncRequest::Blocks { .. }) => {
                            SyncResponse::Status {
                                height: attacks::LIE_HEIGHT,
                                head: Hash32::sha256(b"a head that does not exist"),
                            }
                        }
                        (Attack::WrongAnswers, SyncRequest::Status) => {
                            SyncResponse::Blocks(self.old_blocks.clone())
                        }
                        // Never answers blocks: the request waits out its timeout.
                        (Attack::LyingSync, SyncRequest::Blocks { .. }) => {
                            attacks::hold(channel);
                            return;
                        }
                        _ => SyncResponse::Error("not serving".into()),
                    };
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(channel, answer);
                }
                request_response::Message::Response { response, .. } => {
                    if let Some(n) = self.sync_in_flight.get_mut(&peer) {
                        *n = n.saturating_sub(1);
                    }
                    if let SyncResponse::Blocks(blocks) = response
                        && let Some(last) = blocks.last().cloned()
                        && let Ok(block) =
                            clearance_core::block::Block::from_bytes(last.block.as_slice())
                        && let Ok(header) =
                            clearance_core::block::HeaderView::from_bytes(block.header.as_slice())
                    {
                        self.head = Some(header);
                        if self.old_blocks.is_empty() {
                            self.old_blocks = blocks;
                        }
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, .. } => {
                if let Some(n) = self.sync_in_flight.get_mut(&peer) {
                    *n = n.saturating_sub(1);
                }
            }
            _ => {}
        }
    }
}
