//! What the node reads of the ledger's membership: the members in force, the changes adopted but not yet in
//! force, the open proposals, and from these the peers allowed to connect. The rules that write it are in
//! `clearance_core::rules`; nothing here writes.

use crate::index;
use crate::storage::{StorageError, Store};
use clearance_core::Hash32;
use clearance_core::api::{MembersView, ProposalView, ScheduledMembers};
use clearance_core::peer::PeerKey;
use clearance_core::record::{MemberInfo, MembershipChange};
use clearance_core::rules::{self, Epoch, ProposalState, ProposalStatus};
use clearance_core::time::Timestamp;

/// Every membership proposal on the ledger with its state, oldest first.
pub fn proposals(store: &Store) -> Result<Vec<(Hash32, ProposalState)>, StorageError> {
    let mut ids = Vec::new();
    store.scan_index(
        &index::prefix(index::KIND, "membership_propose"),
        None,
        |_, id| {
            ids.push(id);
            true
        },
    )?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(state) = rules::membership_proposal(store, &id) {
            out.push((id, state));
        }
    }
    Ok(out)
}

/// Whether an open proposal still takes approvals at block time `now`.
pub fn is_open(state: &ProposalState, now: Timestamp) -> bool {
    state.status == ProposalStatus::Open && now <= state.expires_at
}

/// The peers a member's node lets connect while deciding `height` (head time `now`): the members in force, those
/// of the height before, the members of epochs adopted but not yet in force, and members named by open
/// admission proposals. The height before's: a member that missed the last commit before a change (its old
/// peer id, or a member just removed) can still fetch that block, and so learn of the change, instead of being
/// cut off one block short. The last two are not voters yet: they connect to sync the ledger from genesis as
/// followers, so that they can vote from the height their admission takes effect rather than start syncing then.
pub fn allowed_peers(
    store: &Store,
    in_force: &Epoch,
    height: u64,
    now: Timestamp,
) -> Result<Vec<MemberInfo>, StorageError> {
    let mut peers: Vec<MemberInfo> = in_force.members.clone();
    let mut add = |m: &MemberInfo| {
        if !peers.iter().any(|p| p.peer_id == m.peer_id) {
            peers.push(m.clone());
        }
    };
    if let Some((_, before)) = rules::epoch_at(store, height.saturating_sub(1)) {
        before.members.iter().for_each(&mut add);
    }
    let mut index = rules::epoch_count(store);
    while index > 0 {
        index -= 1;
        match rules::epoch(store, index) {
            Some(epoch) if epoch.from_height > height => epoch.members.iter().for_each(&mut add),
            _ => break,
        }
    }
    for (_, state) in proposals(store)? {
        if let MembershipChange::Admit(a) = &state.change
            && is_open(&state, now)
        {
            add(&a.member);
        }
    }
    Ok(peers)
}

/// Whether a node whose ledger head is `head` switches to the network key `next` now: the ledger has adopted a
/// rotation to it, in a block before the head. From the block after the adoption every member that decides has
/// the adoption and lets the new peer id connect; from the effective height, at least two heights after it
/// (`membership_delay_blocks`), they refuse the old one. Switching at the adoption itself could cut the node
/// off from members that are still deciding the adopting block and need its vote for it.
pub fn network_key_due(store: &Store, head: u64, delay_blocks: u64, next: &PeerKey) -> bool {
    let named = |e: &Epoch| e.members.iter().any(|m| m.peer_id == *next);
    let Some((mut index, latest)) = rules::latest_epoch(store) else {
        return false;
    };
    if !named(&latest) {
        return false;
    }
    // The first epoch of the run that names it: its adoption is the rotation's.
    let mut first = latest;
    while index > 0 {
        index -= 1;
        match rules::epoch(store, index) {
            Some(e) if named(&e) => first = e,
            _ => break,
        }
    }
    first.from_height.saturating_sub(delay_blocks) < head
}

/// `GET /v1/members`: the members deciding `height` (the head's successor, head time `now`), the lists adopted
/// for later heights, and every proposal with its standing.
pub fn view(store: &Store, height: u64, now: Timestamp) -> Result<MembersView, StorageError> {
    let missing = || StorageError::Corrupt {
        what: "membership state",
        detail: format!("no epoch in force at height {height}"),
    };
    let (current_index, current) = rules::epoch_at(store, height).ok_or_else(missing)?;
    let mut scheduled = Vec::new();
    for index in current_index + 1..rules::epoch_count(store) {
        let epoch = rules::epoch(store, index).ok_or_else(missing)?;
        scheduled.push(ScheduledMembers {
            from_height: epoch.from_height,
            members: epoch.members,
            changes: epoch.changes,
        });
    }
    let proposals = proposals(store)?
        .into_iter()
        .map(|(id, p)| {
            let (counted, needed) = rules::approval_count(&p, &current);
            let (status, effective_height) = match p.status {
                ProposalStatus::Adopted { effective_height } => ("adopted", Some(effective_height)),
                ProposalStatus::Open if is_open(&p, now) => ("open", None),
                ProposalStatus::Open => ("expired", None),
            };
            ProposalView {
                id,
                proposer: p.proposer,
                change: p.change,
                status: status.into(),
                approvals: p.approvals,
                counted,
                needed,
                expires_at: p.expires_at,
                effective_height,
            }
        })
        .collect();
    Ok(MembersView {
        height,
        members: current.members,
        scheduled,
        proposals,
    })
}
