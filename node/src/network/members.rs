//! The allow-list follows the ledger: when the members in force change, a new member's node may connect and is
//! dialled, a removed member's (or a rotated network key's) connections are closed and refused from then on.

use super::{Member, Network};
use libp2p::{Multiaddr, PeerId};
use std::collections::HashMap;
use std::time::Instant;

impl Network {
    pub(super) fn set_members(&mut self, members: Vec<(PeerId, Vec<Multiaddr>)>) {
        // This node's own peer id, and after a rotation of its network key the old one too while the members
        // still name it: never a peer to dial.
        let wanted: HashMap<PeerId, Vec<Multiaddr>> = members
            .into_iter()
            .filter(|(p, _)| !self.own_ids.contains(p))
            .collect();
        let gone: Vec<PeerId> = self
            .members
            .keys()
            .filter(|p| !wanted.contains_key(p))
            .copied()
            .collect();
        for peer in gone {
            self.members.remove(&peer);
            self.penalties.remove(&peer);
            // Closes its connections now and refuses new ones.
            self.swarm.behaviour_mut().allowed.disallow_peer(peer);
            tracing::info!(%peer, "no longer a member: connections closed and refused");
        }
        let now = Instant::now();
        for (peer, addrs) in wanted {
            for addr in &addrs {
                self.swarm.add_peer_address(peer, addr.clone());
            }
            match self.members.get_mut(&peer) {
                Some(member) => member.addrs = addrs,
                None => {
                    self.swarm.behaviour_mut().allowed.allow_peer(peer);
                    tracing::info!(%peer, "new member: may connect, dialling it");
                    self.members.insert(peer, Member::new(addrs, now));
                }
            }
        }
    }
}
