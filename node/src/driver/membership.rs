//! The driver follows the ledger's membership. After every commit the network learns the height being decided
//! and its validator set (so that it checks consensus messages against the right one); when the members in force
//! change, it learns who may connect, and the driver whether this node now votes; when the rotation of this
//! node's network key is due, the network switches to the next key.

use super::Driver;
use crate::metrics::Metrics;
use crate::network::{NetCommand, member_peers};
use std::time::Duration;

/// How long a node with a pending network key rotation stays isolated before it first tries its other key.
/// Longer than the gossip silence rule and a reconnection, so a slow path is reset before the key changes.
pub(super) const ISOLATED_SWITCH: Duration = Duration::from_secs(15);
/// The longest wait between two tries.
const MAX_ISOLATED_WAIT: Duration = Duration::from_secs(600);

impl Driver {
    /// After a commit (`membership`: it recorded membership proposals or approvals), and once at start.
    pub(super) fn follow_membership(&mut self, membership: bool) {
        let height = self.ledger.head().height + 1;
        let validators = self.ledger.validators().clone();
        self.net
            .send(NetCommand::Deciding {
                height,
                validators: validators.clone(),
            })
            .ok();
        let epoch = self.ledger.epoch().clone();
        let changed = epoch.from_height != self.members_from;
        // One height after a change the previous members' peer ids leave the allow-list too.
        let after_change = epoch.from_height + 1 == height;
        if changed || after_change || membership || !self.peers_set {
            self.set_allowed_peers(height, &epoch);
            // The operator may have written the next key file since: read it again with the membership.
            self.network_key = self.keys.network_key();
            self.next_network_key = self.keys.next_network_key();
        }
        self.follow_network_key();
        if !changed {
            return;
        }
        self.members_from = epoch.from_height;
        self.members_by_peer = members_by_peer(&epoch.members);
        self.base_status.validators = validators.len();
        self.base_status.members = epoch.members.iter().map(|m| m.id.to_string()).collect();
        // A rotation of this node's validator key may be what changed: read the key files again.
        let keys = self.keys.validator_keys();
        let me = super::my_member(&validators, &keys);
        self.machine.set_keys(keys);
        Metrics::inc(&self.metrics.validator_set_changes_total);
        tracing::info!(
            height,
            members = ?epoch.members.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            changes = epoch.changes.len(),
            "the members in force changed"
        );
        if me != self.me {
            match &me {
                Some(m) => tracing::info!(height, member = %m, "this node now votes, as {m}"),
                None => tracing::warn!(
                    height,
                    "this node's validator key is not in the set in force: it follows the ledger without voting"
                ),
            }
            self.me = me;
        }
    }

    /// Once a rotation of this node's network key to the next key it holds is due
    /// ([`crate::membership::network_key_due`]), the network takes the next key on: its connections are
    /// re-established under the new peer id; nothing restarts.
    fn follow_network_key(&mut self) {
        let Some(next) = &self.next_network_key else {
            return;
        };
        let next_key = clearance_core::peer::PeerKey::from_key(next.public_key());
        let next_peer = next_key.to_peer_id();
        let head = self.ledger.head().height;
        let delay = self.genesis.params.membership_delay_blocks.into();
        if next_peer == self.base_status.node_id
            || !crate::membership::network_key_due(self.ledger.store(), head, delay, &next_key)
        {
            return;
        }
        tracing::info!(
            from = %self.base_status.node_id,
            to = %next_peer,
            "the rotation of this node's network key is adopted: the network switches to the next key"
        );
        self.use_network_key(next.clone());
    }

    /// While a rotation of this node's network key is pending and its own ledger does not have it in force,
    /// the node cannot always tell which of its two peer ids the members let connect: a node that was down or
    /// cut off while the others adopted the rotation and passed its effective height is refused under the old
    /// one, and does not know of the adoption until it syncs from them. So a node that is isolated (it has
    /// committed nothing for a while, and too few members in force are connected for a quorum with it) tries
    /// its other key; then waits twice as long before it tries again, until it commits. A member that stays
    /// connected without serving blocks does not hold it back: it counts as one connection, not a quorum.
    pub(super) fn try_other_network_key(&mut self) {
        let now = self.clock.now();
        let since = self.last_commit.map_or(self.network_key_switched, |c| {
            c.max(self.network_key_switched)
        });
        if now.duration_since(since) < self.isolated_wait {
            return;
        }
        let (Some(current), Some(next)) = (&self.network_key, &self.next_network_key) else {
            return;
        };
        let next_key = clearance_core::peer::PeerKey::from_key(next.public_key());
        let in_force = &self.ledger.epoch().members;
        if in_force.iter().any(|m| m.peer_id == next_key) {
            return;
        }
        let connected = self
            .peers
            .iter()
            .filter(|p| self.members_by_peer.contains_key(p))
            .count();
        if connected + 1 >= clearance_core::validator::quorum_of(in_force.len()) {
            return;
        }
        let other = if self.base_status.node_id == next_key.to_peer_id() {
            current.clone()
        } else {
            next.clone()
        };
        tracing::warn!(
            quiet_for = ?now.duration_since(since),
            connected_members = connected,
            "isolated while a rotation of this node's network key is pending: trying the other key"
        );
        self.use_network_key(other);
        self.isolated_wait = (self.isolated_wait * 2).min(MAX_ISOLATED_WAIT);
    }

    /// Asks the network to run under `key`; the switch counts once it reports the new identity.
    fn use_network_key(&mut self, key: clearance_core::crypto::SecretKey) {
        self.network_key_switched = self.clock.now();
        self.net.send(NetCommand::UseNetworkKey(key)).ok();
    }

    /// The network runs under `peer` now.
    pub(super) fn network_identity(&mut self, peer: libp2p::PeerId) {
        let peer = peer.to_base58();
        if peer != self.base_status.node_id {
            tracing::info!(from = %self.base_status.node_id, to = %peer, "this node's peer id changed");
            self.base_status.node_id = peer;
            Metrics::inc(&self.metrics.network_key_switches_total);
        }
    }

    /// The members in force and those about to be (see [`crate::membership::allowed_peers`]) may connect.
    fn set_allowed_peers(&mut self, height: u64, epoch: &clearance_core::rules::Epoch) {
        let now = self.ledger.head().time;
        match crate::membership::allowed_peers(self.ledger.store(), epoch, height, now) {
            Ok(members) => {
                self.net
                    .send(NetCommand::SetMembers(member_peers(&members)))
                    .ok();
                self.peers_set = true;
            }
            // The allow-list stays as it was; the next commit tries again.
            Err(e) => tracing::error!("reading the membership state for the allow-list: {e}"),
        }
    }
}

/// Each member's peer id, to name members in logs.
pub(super) fn members_by_peer(
    members: &[clearance_core::record::MemberInfo],
) -> std::collections::HashMap<libp2p::PeerId, clearance_core::ids::CountryCode> {
    members
        .iter()
        .filter_map(|m| Some((m.peer_id.to_peer_id().parse().ok()?, m.id.clone())))
        .collect()
}
