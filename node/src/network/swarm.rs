//! The libp2p swarm: transport (TCP, Noise, Yamux), its limits, and the behaviours. Built at start, and again
//! under a new identity when the node's network key is rotated.

use super::wire;
use super::{Behaviour, CONNECTION_TIMEOUT, TCP_USER_TIMEOUT};
use anyhow::{Context, Result};
use libp2p::{
    PeerId, Swarm, allow_block_list, connection_limits, gossipsub, identity, noise,
    request_response, tcp, yamux,
};
use std::time::Duration;

/// Message ids one IHAVE or IWANT lists at most (gossipsub's `max_control_messages_sent`; 5,000 by default). 400
/// ids of 34 bytes fit the 16 KiB that gossipsub reads by default, so a member still running the defaults reads
/// this node's lists during a rolling upgrade.
const MAX_IHAVE_IDS: usize = 400;
/// The control part (IHAVE, IWANT, GRAFT, PRUNE, IDONTWANT, and subscriptions) of one gossipsub RPC that a node
/// reads. gossipsub's default is 16 KiB while its own IHAVE lists up to 5,000 ids of 34 bytes: under load (about
/// 2,000 ids in the 2 s an IHAVE covers, at 1,000 records/s submitted one per request, one gossip message each), a
/// member outside the sender's mesh refused the IHAVE and dropped
/// the whole inbound stream. The sender never learns it: Yamux sends no reset for a stream closed that way, so the
/// sender's next writes go unread until its flow-control window is spent, and then it waits forever. Transaction
/// gossip to that member stopped, silently, until the connection closed (docs/performance.md §10.5). 256 KiB reads
/// the largest list of a member still on gossipsub's defaults.
const MAX_CONTROL_BYTES: usize = 256 * 1024;

/// A swarm under `keypair` that lets `allowed_ids` connect; not yet listening or subscribed.
pub(super) fn build(
    keypair: identity::Keypair,
    max_connections: u32,
    allowed_ids: &[PeerId],
) -> Result<Swarm<Behaviour>> {
    let gossip_config = gossip_config()?;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_other_transport(|key| {
            use libp2p::Transport;
            let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true)).map(
                |stream: tcp::tokio::TcpStream, _| {
                    let socket = socket2::SockRef::from(&stream.0);
                    if let Err(e) = socket.set_tcp_user_timeout(Some(TCP_USER_TIMEOUT)) {
                        tracing::warn!("cannot set TCP_USER_TIMEOUT on a peer connection: {e}");
                    }
                    stream
                },
            );
            let noise = noise::Config::new(key)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(tcp
                .upgrade(libp2p::core::upgrade::Version::V1Lazy)
                .authenticate(noise)
                .multiplex(yamux::Config::default()))
        })
        .context("TCP transport")?
        .with_behaviour(|key| {
            let mut allowed = allow_block_list::Behaviour::default();
            for peer in allowed_ids {
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
            let consensus = request_response::Behaviour::new(
                [(
                    wire::CONSENSUS_PROTOCOL,
                    request_response::ProtocolSupport::Full,
                )],
                // A peer has at most 8 requests in flight (`consensus_channel`); 32 leaves room for a reconnect.
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(10))
                    .with_max_concurrent_streams(32),
            );
            let sync = request_response::Behaviour::new(
                [(wire::SYNC_PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(30))
                    .with_max_concurrent_streams(64),
            );
            Ok(Behaviour {
                allowed,
                pending_per_ip: super::pending_per_ip::Behaviour::default(),
                limits: connection_limits::Behaviour::new(limits),
                gossip,
                consensus,
                sync,
            })
        })
        .map_err(|e| anyhow::anyhow!("network behaviour: {e}"))?
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(Duration::from_secs(3600))
                // A new stream (each consensus request is one) sends its data with its protocol's name instead of
                // waiting a round trip for the peer to confirm the protocol: every member speaks the same ones.
                // With the default, each consensus message cost a round trip more than its one-way delay.
                .with_substream_upgrade_protocol_override(libp2p::core::upgrade::Version::V1Lazy)
        })
        .with_connection_timeout(CONNECTION_TIMEOUT)
        .build();

    Ok(swarm)
}

/// Transaction gossip's settings (docs/protocol.md §12.2).
fn gossip_config() -> Result<gossipsub::Config> {
    gossipsub::ConfigBuilder::default()
        .max_transmit_size(wire::MAX_GOSSIP_TX_BYTES + 1024)
        // Unsigned gossip envelopes (see `MessageAuthenticity::Author` below); a signature, if a message has
        // one, is still checked.
        .validation_mode(gossipsub::ValidationMode::Permissive)
        .validate_messages()
        // The id is a hash of the content, not the envelope's (source, seqno): those are unsigned, and a peer
        // could republish any valid batch under a new seqno for every node to check and relay again. With the
        // content's hash, a copy of a batch seen in the last minutes is dropped before its check.
        .message_id_fn(|m: &gossipsub::Message| {
            let hash =
                clearance_core::hash::tagged_hash(clearance_core::hash::tag::GOSSIP_ID, &m.data);
            gossipsub::MessageId::from(hash.0.to_vec())
        })
        .heartbeat_interval(Duration::from_millis(700))
        .max_control_messages_sent(MAX_IHAVE_IDS)
        .max_control_message_size(MAX_CONTROL_BYTES)
        // Members are few and all connected to each other: small meshes, and flood publishing (the default)
        // sends a node's own messages to every member directly.
        .mesh_n_low(1)
        .mesh_n(3)
        .mesh_outbound_min(1)
        .mesh_n_high(12)
        .build()
        .map_err(|e| anyhow::anyhow!("gossipsub config: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest IHAVE or IWANT this node sends fits in what gossipsub reads by default (16 KiB in 0.50), and the
    /// largest that gossipsub sends by default (5,000 ids) fits in what this node reads. An IHAVE's protobuf encoding: the
    /// RPC's control field (tag, length), the control message's IHAVE field (tag, length), the topic (tag, length,
    /// the topic string), and each id (tag, length, 32 bytes). Lengths are varints, 3 bytes below 2 MiB.
    #[test]
    fn the_largest_ihave_fits_the_control_limits() {
        let id = clearance_core::hash::tagged_hash(clearance_core::hash::tag::GOSSIP_ID, b"x");
        let topic = super::super::tx_topic(&id).to_string();
        let ihave = |ids: usize| 2 * (1 + 3) + (1 + 1 + topic.len()) + ids * (1 + 1 + id.0.len());
        let defaults = gossipsub::Config::default();
        let default_read = defaults.max_control_message_size();
        let default_ids = defaults.max_control_messages_sent();
        let ours = gossip_config().expect("the gossip settings are valid");
        assert_eq!(ours.max_control_messages_sent(), MAX_IHAVE_IDS);
        assert_eq!(ours.max_control_message_size(), MAX_CONTROL_BYTES);
        assert!(
            ihave(MAX_IHAVE_IDS) <= default_read,
            "an IHAVE of {MAX_IHAVE_IDS} ids is {} bytes, above the {default_read} that gossipsub reads by default",
            ihave(MAX_IHAVE_IDS)
        );
        assert!(
            ihave(default_ids) <= MAX_CONTROL_BYTES,
            "gossipsub's default IHAVE of {default_ids} ids is {} bytes, above the {MAX_CONTROL_BYTES} read",
            ihave(default_ids)
        );
    }
}
