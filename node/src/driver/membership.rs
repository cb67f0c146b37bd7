//! The driver follows the ledger's membership. After every commit the network learns the height being decided
//! and its validator set (so that it checks consensus messages against the right one); when the members in force
//! change, it learns who may connect, and the driver whether this node now votes.

use super::Driver;
use crate::metrics::Metrics;
use crate::network::{NetCommand, member_peers};

impl Driver {
    pub(super) fn follow_membership(&mut self) {
        let height = self.ledger.head().height + 1;
        let validators = self.ledger.validators().clone();
        self.net
            .send(NetCommand::Deciding {
                height,
                validators: validators.clone(),
            })
            .ok();
        let epoch = self.ledger.epoch();
        if epoch.from_height == self.members_from {
            return;
        }
        self.members_from = epoch.from_height;
        self.members_by_peer = members_by_peer(&epoch.members);
        self.net
            .send(NetCommand::SetMembers(member_peers(&epoch.members)))
            .ok();
        let me = validators
            .validators()
            .iter()
            .find(|v| v.key == self.validator_key)
            .map(|v| v.member.clone());
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
