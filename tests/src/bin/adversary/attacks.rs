//! The attacks: what the adversary sends on each tick, and the pieces that need more than the swarm.

use super::proposals::{Mode, Proposer};
use super::{Adversary, Attack};
use clearance_core::Hash32;
use clearance_core::vote::{SignedVote, Vote, VoteKind};
use clearance_node::consensus::Message;
use clearance_node::network::wire::{self, ConsensusItem, ConsensusRequest, SyncRequest};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{Multiaddr, PeerId, StreamProtocol, multiaddr::Protocol, request_response};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The head a lying member claims.
pub const LIE_HEIGHT: u64 = 1 << 40;
/// Distinct old votes signed for the flood: more than a node remembers as checked (16,384).
const OLD_VOTES: u64 = 20_000;
/// Items per consensus request, and requests kept in flight per peer.
const ITEMS_PER_REQUEST: usize = 512;
const REQUESTS_IN_FLIGHT: usize = 8;
/// Concurrent silent connections per member.
const LORIS_PER_MEMBER: usize = 256;

pub struct Plan {
    attack: Attack,
    /// Encoded items to cycle through.
    items: Vec<Arc<Vec<u8>>>,
    next: usize,
    ticks: u64,
    rng: u64,
    proposer: Option<super::proposals::Proposer>,
}

impl Plan {
    pub fn new(attack: Attack) -> Plan {
        Plan {
            attack,
            items: Vec::new(),
            next: 0,
            ticks: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
            proposer: match attack {
                Attack::DoubleProposals => Some(Proposer::new(Mode::DoubleProposals)),
                Attack::JunkBlocks => Some(Proposer::new(Mode::JunkBlocks)),
                _ => None,
            },
        }
    }

    pub fn step(&mut self, a: &mut Adversary) {
        match self.attack {
            Attack::Silent | Attack::SlowLoris => {}
            Attack::OldVotes => self.flood_items(a),
            Attack::Garbage => self.garbage(a),
            Attack::LyingSync => self.lie(a),
            Attack::WrongAnswers => self.fetch_old_blocks(a),
            Attack::TxReplay => self.replay(a),
            Attack::SyncFlood => sync_flood(a),
            Attack::DoubleVotes => self.double_votes(a),
            Attack::DoubleProposals | Attack::JunkBlocks => {
                if let Some(p) = &mut self.proposer {
                    p.step(a)
                }
            }
        }
    }

    /// Every 50 ms, two prevotes and two precommits for different blocks nobody proposed, at the height and round
    /// the members are deciding: equivocation, and votes for unknown blocks, sent to every member.
    fn double_votes(&mut self, a: &mut Adversary) {
        self.ticks += 1;
        if a.height == 0 || !self.ticks.is_multiple_of(10) {
            return;
        }
        let mut items = Vec::new();
        for kind in [VoteKind::Prevote, VoteKind::Precommit] {
            for _ in 0..2 {
                let block = Hash32::sha256(&self.random_bytes(32));
                let vote = Vote {
                    chain_id: a.chain_id,
                    height: a.height,
                    round: a.round,
                    kind,
                    block: Some(block),
                    validator: a.me.clone(),
                };
                let signed = SignedVote::sign(&vote, &a.key);
                items.push(Arc::new(wire::encode_item(&ConsensusItem::Message(
                    Message::Vote(signed),
                ))));
            }
        }
        for peer in a.connected.clone() {
            a.swarm
                .behaviour_mut()
                .consensus
                .send_request(&peer, ConsensusRequest(items.clone()));
            a.sent += items.len() as u64;
        }
    }

    /// Sends every member a request of [`ITEMS_PER_REQUEST`] pre-signed items every 10 ticks (10,240 items a
    /// second, five times a member's budget for one peer, and more signature checks than a member could make),
    /// up to [`REQUESTS_IN_FLIGHT`] unacknowledged. Faster would only spend this machine's cores, which the
    /// members share in tests.
    fn flood_items(&mut self, a: &mut Adversary) {
        self.ticks += 1;
        if self.items.is_empty() && a.height > 2 {
            // Signed once the members' height is known, all below it: old, not future.
            self.items = old_votes(a, a.height - 1);
        }
        if self.items.is_empty() || !self.ticks.is_multiple_of(10) {
            return;
        }
        for peer in a.connected.clone() {
            if a.in_flight.get(&peer).copied().unwrap_or(0) < REQUESTS_IN_FLIGHT {
                let mut request = ConsensusRequest::default();
                for _ in 0..ITEMS_PER_REQUEST {
                    request.0.push(self.items[self.next].clone());
                    self.next = (self.next + 1) % self.items.len();
                }
                a.swarm
                    .behaviour_mut()
                    .consensus
                    .send_request(&peer, request);
                *a.in_flight.entry(peer).or_default() += 1;
                a.sent += ITEMS_PER_REQUEST as u64;
            }
        }
    }

    fn random_bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                self.rng as u8
            })
            .collect()
    }

    /// Undecodable frames on every channel, a few a tick.
    fn garbage(&mut self, a: &mut Adversary) {
        for peer in a.connected.clone() {
            let items: Vec<_> = (0..16)
                .map(|i| Arc::new(self.random_bytes(8 + i * 37)))
                .collect();
            a.swarm
                .behaviour_mut()
                .consensus
                .send_request(&peer, ConsensusRequest(items));
            let frame = self.random_bytes(300);
            a.swarm
                .behaviour_mut()
                .raw_consensus
                .send_request(&peer, frame);
            let frame = self.random_bytes(40);
            a.swarm.behaviour_mut().raw_sync.send_request(&peer, frame);
            a.sent += 18;
        }
        let data = self.random_bytes(500);
        let topic = a.tx_topic.clone();
        let _ = a.swarm.behaviour_mut().gossip.publish(topic, data);
    }

    /// Asks a member for its first blocks (every second until it has them), to send back as wrong answers.
    fn fetch_old_blocks(&mut self, a: &mut Adversary) {
        self.ticks += 1;
        if !a.old_blocks.is_empty() || !self.ticks.is_multiple_of(200) {
            return;
        }
        if let Some(peer) = a.connected.iter().min().copied() {
            a.swarm.behaviour_mut().sync.send_request(
                &peer,
                SyncRequest::Blocks {
                    from: 1,
                    max: wire::SYNC_BATCH_BLOCKS,
                },
            );
        }
    }

    /// A round state far ahead, every 200 ms, to every member.
    fn lie(&mut self, a: &mut Adversary) {
        self.next += 1;
        if !self.next.is_multiple_of(40) {
            return;
        }
        let state = clearance_node::consensus::peer_gossip::RoundState {
            height: LIE_HEIGHT,
            round: 0,
            step: clearance_node::consensus::Step::Propose,
            proposals: Vec::new(),
            votes: Vec::new(),
        };
        let item = Arc::new(wire::encode_item(&ConsensusItem::State(state)));
        for peer in a.connected.clone() {
            a.swarm
                .behaviour_mut()
                .consensus
                .send_request(&peer, ConsensusRequest(vec![item.clone()]));
            a.sent += 1;
        }
    }

    /// Every batch seen, published again: 4 a tick (800 a second), cycling.
    fn replay(&mut self, a: &mut Adversary) {
        if a.seen_batches.is_empty() {
            return;
        }
        let topic = a.tx_topic.clone();
        for _ in 0..4 {
            self.next %= a.seen_batches.len();
            let data = a.seen_batches[self.next].clone();
            self.next += 1;
            if a.swarm
                .behaviour_mut()
                .gossip
                .publish(topic.clone(), data)
                .is_ok()
            {
                a.sent += 1;
            }
        }
    }
}

/// Requests for every block from height 1 and for the status, as many as a member lets one peer have open (4,
/// docs/node.md §8): each answered request is made again at once.
fn sync_flood(a: &mut Adversary) {
    for peer in a.connected.clone() {
        let open = a.sync_in_flight.entry(peer).or_default();
        while *open < 4 {
            let req = if a.sent.is_multiple_of(2) {
                SyncRequest::Blocks { from: 1, max: 512 }
            } else {
                SyncRequest::Status
            };
            a.swarm.behaviour_mut().sync.send_request(&peer, req);
            *open += 1;
            a.sent += 1;
        }
    }
}

/// Validly signed, distinct votes of heights below `below` (already decided), over as many rounds as it takes.
fn old_votes(a: &Adversary, below: u64) -> Vec<Arc<Vec<u8>>> {
    let heights = below.saturating_sub(1).max(1);
    (0..OLD_VOTES)
        .map(|i| {
            let vote = Vote {
                chain_id: a.chain_id,
                height: 1 + i % heights,
                round: (i / heights / 2) as u32,
                kind: if (i / heights).is_multiple_of(2) {
                    VoteKind::Prevote
                } else {
                    VoteKind::Precommit
                },
                block: Some(Hash32::sha256(&i.to_be_bytes())),
                validator: a.me.clone(),
            };
            let signed = SignedVote::sign(&vote, &a.key);
            Arc::new(wire::encode_item(&ConsensusItem::Message(Message::Vote(
                signed,
            ))))
        })
        .collect()
}

/// Keeps an inbound request unanswered until its stream times out.
pub fn hold<T>(channel: request_response::ResponseChannel<T>) {
    std::mem::forget(channel);
}

/// Opens [`LORIS_PER_MEMBER`] TCP connections to every member's p2p port from `from`, sends nothing, and opens
/// a new one whenever one is closed.
pub async fn slow_loris(members: Vec<(PeerId, Vec<Multiaddr>)>, from: IpAddr) {
    let targets: Vec<SocketAddr> = members
        .iter()
        .flat_map(|(_, addrs)| addrs.iter().filter_map(socket_addr))
        .collect();
    for target in targets {
        for _ in 0..LORIS_PER_MEMBER {
            tokio::spawn(async move {
                loop {
                    if let Ok(stream) = connect_from(from, target).await {
                        let mut buf = [0u8; 1024];
                        let mut stream = stream;
                        // Read (and drop) until the member closes the connection.
                        use tokio::io::AsyncReadExt;
                        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
        }
    }
}

async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = if to.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

fn socket_addr(addr: &Multiaddr) -> Option<SocketAddr> {
    let mut ip = None;
    let mut port = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(IpAddr::V4(a)),
            Protocol::Ip6(a) => ip = Some(IpAddr::V6(a)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    Some(SocketAddr::new(ip?, port?))
}

/// Raw bytes as a request frame (a 4-byte big-endian length, then the bytes) under a member's protocol name.
#[derive(Clone, Default)]
pub struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = ();

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<()> {
        let mut any = Vec::new();
        io.read_to_end(&mut any).await.map(|_| ())
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        bytes: Vec<u8>,
    ) -> std::io::Result<()> {
        io.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
        io.write_all(&bytes).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: (),
    ) -> std::io::Result<()> {
        Err(std::io::ErrorKind::Unsupported.into())
    }
}
