//! The node's network identity follows the ledger: when the rotation of its network key is adopted, the swarm is
//! built again under the next key, listens on the same address and dials every member under the new peer id.
//! The members let both peer ids connect from the adoption until the rotation takes effect, so the switch costs
//! one reconnection, never a restart.

use super::{Member, NetEvent, Network, swarm};
use crate::metrics::Metrics;
use libp2p::PeerId;
use std::time::Instant;

impl Network {
    pub(super) fn use_network_key(&mut self, secret: &clearance_core::crypto::SecretKey) {
        let mut seed = secret.seed();
        let keypair = match libp2p::identity::Keypair::ed25519_from_bytes(&mut seed) {
            Ok(keypair) => keypair,
            Err(e) => {
                tracing::error!("the next network key is not a usable ed25519 key: {e}");
                return;
            }
        };
        let old = *self.swarm.local_peer_id();
        let new = keypair.public().to_peer_id();
        if new == old {
            self.emit(NetEvent::Identity(new));
            return;
        }
        let allowed: Vec<PeerId> = self
            .members
            .iter()
            .filter(|(_, m)| m.banned_until.is_none())
            .map(|(p, _)| *p)
            .collect();
        let mut swarm = match swarm::build(keypair, self.max_connections, &allowed) {
            Ok(swarm) => swarm,
            // The node stays reachable under its old peer id; the driver, told of no new identity, asks again
            // after the next commit.
            Err(e) => {
                tracing::error!("building the network under the next key: {e:#}");
                return;
            }
        };
        if let Err(e) = swarm.behaviour_mut().gossip.subscribe(&self.tx_topic) {
            tracing::error!("subscribing to transactions under the next key: {e}");
            return;
        }
        // Dropping the old swarm closes its listener and every connection; what the driver and the consensus
        // channel held about them goes with it.
        drop(std::mem::replace(&mut self.swarm, swarm));
        for peer in std::mem::take(&mut self.connected) {
            self.consensus.disconnected(&peer);
            self.emit(NetEvent::Disconnected(peer));
        }
        Metrics::set(&self.metrics.peers, 0);
        self.pending_responses.clear();
        self.unchecked_txs.clear();
        self.own_ids.insert(new);
        let now = Instant::now();
        for (peer, member) in &mut self.members {
            for addr in &member.addrs {
                self.swarm.add_peer_address(*peer, addr.clone());
            }
            *member = Member {
                banned_until: member.banned_until,
                ..Member::new(std::mem::take(&mut member.addrs), now)
            };
        }
        tracing::info!(%old, %new, "network key rotated: listening and dialling the members as {new}");
        self.listen();
        self.emit(NetEvent::Identity(new));
    }

    /// Listens on the configured address; on failure, tries again at the next redial tick.
    pub(super) fn listen(&mut self) {
        match self.swarm.listen_on(self.listen.clone()) {
            Ok(_) => self.relisten = false,
            Err(e) => {
                if !self.relisten {
                    tracing::error!(address = %self.listen, "listening after the network key rotation: {e}");
                }
                self.relisten = true;
            }
        }
    }
}
