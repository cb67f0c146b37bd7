//! A process whose network key is not in genesis can neither connect to the members nor inject messages.

use clearance_tests::cluster::Cluster;
use futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, gossipsub, identity, noise, tcp, yamux};
use std::time::Duration;

#[derive(NetworkBehaviour)]
struct Intruder {
    gossip: gossipsub::Behaviour,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_not_in_genesis_is_refused_and_cannot_inject() {
    let cluster = tokio::task::spawn_blocking(|| Cluster::start(4))
        .await
        .unwrap();
    let short = cluster.chain_id.to_hex()[..16].to_string();
    let tx_topic = gossipsub::IdentTopic::new(format!("clearance/{short}/tx/1"));
    let consensus_topic = gossipsub::IdentTopic::new(format!("clearance/{short}/consensus/1"));

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
    swarm
        .behaviour_mut()
        .gossip
        .subscribe(&consensus_topic)
        .unwrap();
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
    let mut subscribed = Vec::new();
    let mut published = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    let mut retry = tokio::time::interval(Duration::from_millis(300));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            _ = retry.tick() => {
                if swarm.behaviour_mut().gossip.publish(tx_topic.clone(), tx.to_bytes()).is_ok() {
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
