//! The driver follows the ledger's membership. After every commit the network learns the height being decided
//! and its validator set (so that it checks consensus messages against the right one); when the members in force
//! change, it learns who may connect, and the driver whether this node now votes.

use super::Driver;
use crate::metrics::Metrics;
use crate::network::{NetCommand, member_peers};

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
        if changed || membership || !self.peers_set {
            self.set_allowed_peers(height, &epoch);
        }
        if !changed {
            return;
        }
        self.members_from = epoch.from_height;
        self.members_by_peer = members_by_peer(&epoch.members);
        self.base_status.validators = validators.len();
        self.base_status.members = epoch.members.iter().map(|m| m.id.to_string()).collect();
        // A rotation of this node's validator key may be what changed: read the key files again.
        let keys = self.keys.load();
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
