//! A process whose network key is not in genesis can neither connect to the members nor inject messages.

use clearance_tests::cluster::Cluster;
use futures::StreamExt;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, StreamProtocol, gossipsub, identity, noise, request_response, tcp, yamux};
use std::time::Duration;

#[derive(NetworkBehaviour)]
struct Intruder {
    gossip: gossipsub::Behaviour,
}

/// The consensus channel's framing, written from docs/protocol.md: a 4-byte big-endian length, then the
/// canonical `Vec<Bytes>` of encoded items; the answer is an empty frame.
#[derive(Clone, Default)]
struct ConsensusFraming;

impl request_response::Codec for ConsensusFraming {
    type Protocol = StreamProtocol;
    type Request = Vec<Vec<u8>>;
    type Response = ();

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> std::io::Result<Vec<Vec<u8>>> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<()> {
        let mut len = [0u8; 4];
        io.read_exact(&mut len).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        items: Vec<Vec<u8>>,
    ) -> std::io::Result<()> {
        let mut body = (items.len() as u64).to_le_bytes().to_vec();
        for item in items {
            body.extend_from_slice(&(item.len() as u64).to_le_bytes());
            body.extend_from_slice(&item);
        }
        io.write_all(&(body.len() as u32).to_be_bytes()).await?;
        io.write_all(&body).await?;
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

#[derive(NetworkBehaviour)]
struct FaultyMember {
    consensus: request_response::Behaviour<ConsensusFraming>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_not_in_genesis_is_refused_and_cannot_inject() {
    let cluster = tokio::task::spawn_blocking(|| Cluster::start(4))
        .await
        .unwrap();
    let short = cluster.chain_id.to_hex()[..16].to_string();
    let tx_topic = gossipsub::IdentTopic::new(format!("clearance/{short}/tx/2"));

    let mut swarm =
        libp2p::SwarmBuilder::with_existing_identity(identity::Keypair::generate_ed25519())
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|key| {
                let config = gossipsub::ConfigBuilder::default().build().unwrap();
                Intruder {
                    gossip: gossipsub::Behaviour::new(
                        gossipsub::MessageAuthenticity::Signed(key.clone()),
                        config,
                    )
                    .unwrap(),
                }
            })
            .unwrap()
            .build();
    swarm.behaviour_mut().gossip.subscribe(&tx_topic).unwrap();
    for node in &cluster.nodes {
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{}", node.p2p_port)
            .parse()
            .unwrap();
        swarm.dial(addr).unwrap();
    }

    // A transaction that every member would accept, signed by a genesis submitter: if the intruder could inject
    // anything, this would be committed.
    let mut submitter = cluster.submitter(0, "agency");
    let tx = submitter.certificate(1);
    // The tx topic's payload: a batch of one (docs/protocol.md 12.2).
    let bytes = tx.to_bytes();
    let mut batch = 1u64.to_le_bytes().to_vec();
    batch.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    batch.extend_from_slice(&bytes);
    let mut subscribed = Vec::new();
    let mut published = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    let mut retry = tokio::time::interval(Duration::from_millis(300));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            _ = retry.tick() => {
                if swarm.behaviour_mut().gossip.publish(tx_topic.clone(), batch.clone()).is_ok() {
                    published += 1;
                }
            }
            event = swarm.select_next_some() => {
                if let SwarmEvent::Behaviour(IntruderEvent::Gossip(gossipsub::Event::Subscribed { peer_id, .. })) = event {
                    subscribed.push(peer_id);
                }
            }
        }
    }
    assert!(
        subscribed.is_empty(),
        "members talked gossip with an intruder: {subscribed:?}"
    );
    assert_eq!(published, 0, "the intruder found subscribers to publish to");

    let cluster = tokio::task::spawn_blocking(move || {
        // The members still commit, and never saw the intruder's transaction.
        let mut own = cluster.submitter(1, "agency");
        let ok = own.certificate(1);
        assert_eq!(cluster.submit(1, &ok).0, 202);
        cluster.wait_until(
            "a member's transaction commits",
            Duration::from_secs(60),
            |c| {
                c.tx_status(0, &ok.id())
                    .is_some_and(|s| s["status"] == "accepted")
            },
        );
        for i in 0..4 {
            assert_eq!(cluster.tx_status(i, &tx.id()).unwrap()["status"], "unknown");
        }
        cluster
    })
    .await
    .unwrap();
    let refused: u64 = (0..4)
        .map(|i| {
            let text = ureq::get(&format!("{}/metrics", cluster.nodes[i].api))
                .call()
                .unwrap()
                .into_string()
                .unwrap();
            text.lines()
                .find_map(|l| l.strip_prefix("clearance_p2p_refused_connections_total "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap()
        })
        .sum();
    assert!(
        refused >= 4,
        "each member refuses and counts the intruder, got {refused}"
    );
    let logs = cluster.all_logs();
    assert!(
        logs.contains("refused connection"),
        "refusals are logged:\n{logs}"
    );
}

/// A member's own key is allowed in, but garbage from it is dropped, logged, counted, and the peer cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_a_member_is_dropped_counted_and_penalised() {
    let cluster = tokio::task::spawn_blocking(|| {
        let mut c = Cluster::create(4);
        for i in 0..3 {
            c.start_node(i);
        }
        c.wait_until("three members connected", Duration::from_secs(30), |c| {
            (0..3).all(|i| {
                c.status(i)
                    .and_then(|s| s["peers"].as_array().map(Vec::len))
                    .is_some_and(|n| n == 2)
            })
        });
        c
    })
    .await
    .unwrap();
    // The fourth member's network key, in the hands of a faulty process.
    let key = clearance_genesis::keys::KeyFile::load(
        &cluster.home(3).join("node_key.json"),
        clearance_genesis::keys::KeyKind::Network,
    )
    .unwrap();
    let mut seed = key.secret.seed();
    let keypair = identity::Keypair::ed25519_from_bytes(&mut seed).unwrap();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| FaultyMember {
            consensus: request_response::Behaviour::new(
                [(
                    StreamProtocol::new("/clearance/consensus/4"), // protocol.md §12.6
                    request_response::ProtocolSupport::Outbound,
                )],
                request_response::Config::default(),
            ),
        })
        .unwrap()
        .build();
    let mut peers = Vec::new();
    for node in &cluster.nodes[..3] {
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{}", node.p2p_port)
            .parse()
            .unwrap();
        swarm.dial(addr).unwrap();
    }
    let mut connected = std::collections::HashSet::new();
    let mut acknowledged = 0u32;
    let mut sent = 0u32;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            _ = tick.tick() => {
                if connected.len() == 3 && sent < 30 {
                    for peer in &peers {
                        let garbage = format!("not a consensus item {sent}").into_bytes();
                        swarm.behaviour_mut().consensus.send_request(peer, vec![garbage]);
                    }
                    sent += 1;
                }
            }
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } if connected.insert(peer_id) => {
                    peers.push(peer_id);
                }
                SwarmEvent::Behaviour(FaultyMemberEvent::Consensus(
                    request_response::Event::Message { .. },
                )) => acknowledged += 1,
                _ => {}
            }
        }
    }
    let subscribed = connected;
    assert!(
        acknowledged >= 1,
        "members read the faulty member's requests"
    );
    assert_eq!(subscribed.len(), 3, "a member's key is allowed to connect");
    assert!(sent >= 20, "sent {sent} rounds of garbage");
    let metric = |i: usize, name: &str| -> u64 {
        let text = ureq::get(&format!("{}/metrics", cluster.nodes[i].api))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("clearance_{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    for i in 0..3 {
        assert!(
            metric(i, "p2p_invalid_messages_total") >= 1,
            "node {i} counts garbage"
        );
        assert!(
            metric(i, "p2p_penalised_peers_total") >= 1,
            "node {i} cut the peer off"
        );
    }
    let logs = cluster.all_logs();
    assert!(logs.contains("invalid message from peer"), "{logs}");
    assert!(logs.contains("too many invalid messages"), "{logs}");
    // The three honest members still commit.
    tokio::task::spawn_blocking(move || {
        let mut own = cluster.submitter(0, "agency");
        let tx = own.certificate(1);
        assert_eq!(cluster.submit(0, &tx).0, 202);
        cluster.wait_until("commit after the garbage", Duration::from_secs(60), |c| {
            (0..3).all(|i| {
                c.tx_status(i, &tx.id())
                    .is_some_and(|s| s["status"] == "accepted")
            })
        });
    })
    .await
    .unwrap();
}
