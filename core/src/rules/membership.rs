//! Membership: who the members are at each height, and the records that change it.
//!
//! A change is proposed by one member and approved by others. The block whose approvals reach a quorum of the
//! members in force at its height *adopts* the change; it takes effect `membership_delay_blocks` heights later,
//! as a new *epoch* (the member list from that height on). The block before it announces the new set in its
//! `next_validator_set_hash`. Epochs are written once, before they are in force, and never change after, so the
//! set of any height can be read back, by the node and by an auditor following the chain from genesis.

use super::RuleError;
use super::state::*;
use crate::crypto::PublicKey;
use crate::genesis::{ConsensusParams, Genesis};
use crate::hash::Hash32;
use crate::ids::CountryCode;
use crate::record::{MembershipApprove, MembershipChange, MembershipPropose, Role, Roles};
use crate::time::Timestamp;
use crate::validator::{MAX_VALIDATORS, quorum_of};

/// A change may not leave fewer members than this: below 4, one faulty member can stop the ledger.
pub const MIN_MEMBERS: usize = 4;

/// What the rules know of the block being executed: membership depends on its height and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockContext {
    pub height: u64,
    pub time: Timestamp,
    /// Heights between the block that adopts a change and the first block the new set decides.
    pub delay_blocks: u64,
    /// How long a proposal stays open for approvals, in block time.
    pub proposal_ttl_ms: u64,
}

impl BlockContext {
    pub fn new(height: u64, time: Timestamp, params: &ConsensusParams) -> BlockContext {
        BlockContext {
            height,
            time,
            delay_blocks: params.membership_delay_blocks.into(),
            proposal_ttl_ms: u64::from(params.membership_proposal_ttl_s) * 1000,
        }
    }
}

/// The state root before the first block: the tree of [`genesis_state`].
pub fn genesis_state_root(genesis: &Genesis) -> crate::hash::Hash32 {
    let entries = genesis_state(genesis)
        .iter()
        .map(|c| (c.key.path(), c.value.hash()))
        .collect();
    crate::state_tree::root_of(&entries)
}

/// The state a new ledger starts with: the genesis submitter keys, the members (epoch 0, in force from height
/// 1) and the node keys they hold.
pub fn genesis_state(genesis: &Genesis) -> Vec<Change> {
    let mut changes = Vec::new();
    for s in &genesis.submitters {
        changes.push(write(
            StateKey::Submitter(s.key),
            StateValue::Submitter(SubmitterEntry {
                member: s.member.clone(),
                roles: s.roles,
                active: true,
            }),
        ));
    }
    let mut members = genesis.members.clone();
    members.sort_by(|a, b| a.id.cmp(&b.id));
    for m in &members {
        changes.push(write(
            StateKey::Member(m.id.clone()),
            StateValue::Member(MemberEntry {
                active_from: 1,
                active_until: None,
            }),
        ));
        changes.push(node_key_write(
            m.validator_key,
            &m.id,
            NodeKeyKind::Validator,
            false,
        ));
        changes.push(node_key_write(
            m.peer_id.key(),
            &m.id,
            NodeKeyKind::Network,
            false,
        ));
    }
    changes.push(write(
        StateKey::Epoch(0),
        StateValue::Epoch(Epoch {
            from_height: 1,
            members,
            changes: Vec::new(),
        }),
    ));
    changes.push(write(StateKey::EpochCount, StateValue::Count(1)));
    changes
}

pub(super) fn propose(
    view: &dyn StateView,
    ctx: &BlockContext,
    id: &Hash32,
    r: &MembershipPropose,
) -> Result<Vec<Change>, RuleError> {
    let (_, latest) = latest_epoch(view).ok_or(RuleError::MembershipStateMissing)?;
    check_change(view, &latest, &r.change)?;
    let mut state = ProposalState {
        proposer: r.proposer.clone(),
        change: r.change.clone(),
        expires_at: Timestamp(ctx.time.as_millis().saturating_add(ctx.proposal_ttl_ms)),
        approvals: Vec::new(),
        status: ProposalStatus::Open,
    };
    if removed_member(&r.change) != Some(&r.proposer) {
        state.approvals.push(r.proposer.clone());
    }
    adopt_if_quorum(view, ctx, id, state)
}

pub(super) fn approve(
    view: &dyn StateView,
    ctx: &BlockContext,
    r: &MembershipApprove,
) -> Result<Vec<Change>, RuleError> {
    let mut state = membership_proposal(view, &r.proposal)
        .ok_or(RuleError::MembershipProposalNotFound(r.proposal))?;
    if let ProposalStatus::Adopted { effective_height } = state.status {
        return Err(RuleError::MembershipProposalAdopted(
            r.proposal,
            effective_height,
        ));
    }
    if ctx.time > state.expires_at {
        return Err(RuleError::MembershipProposalExpired(
            r.proposal,
            state.expires_at,
        ));
    }
    if removed_member(&state.change) == Some(&r.member) {
        return Err(RuleError::MembershipOwnRemoval(r.member.clone()));
    }
    match state.approvals.binary_search(&r.member) {
        Ok(_) => {
            return Err(RuleError::MembershipAlreadyApproved(
                r.proposal,
                r.member.clone(),
            ));
        }
        Err(at) => state.approvals.insert(at, r.member.clone()),
    }
    adopt_if_quorum(view, ctx, &r.proposal, state)
}

/// The approvals of `state` that count under the member list `current` (members in force, never the member
/// being removed), and how many adopt it: `n − f` of `current`.
pub fn approval_count(state: &ProposalState, current: &Epoch) -> (usize, usize) {
    let removed = removed_member(&state.change);
    let counted = state
        .approvals
        .iter()
        .filter(|m| current.member(m).is_some() && removed != Some(*m))
        .count();
    (counted, quorum_of(current.members.len()))
}

fn removed_member(change: &MembershipChange) -> Option<&CountryCode> {
    match change {
        MembershipChange::Remove { member } => Some(member),
        _ => None,
    }
}

/// Approvals count only from members in force at this block's height; a quorum is `n − f` of them. Reaching
/// it adopts the change, which is checked again against the newest member list first: another change adopted
/// since the proposal may have made it impossible (the same key admitted twice, a fifth removal of five).
fn adopt_if_quorum(
    view: &dyn StateView,
    ctx: &BlockContext,
    id: &Hash32,
    mut state: ProposalState,
) -> Result<Vec<Change>, RuleError> {
    let (_, current) = epoch_at(view, ctx.height).ok_or(RuleError::MembershipStateMissing)?;
    let (counted, quorum) = approval_count(&state, &current);
    if counted < quorum {
        return Ok(vec![proposal_write(id, state)]);
    }
    let (latest_index, latest) = latest_epoch(view).ok_or(RuleError::MembershipStateMissing)?;
    check_change(view, &latest, &state.change)?;
    let effective = ctx.height.saturating_add(ctx.delay_blocks);
    // The delay is the same for every change, so the newest epoch starts at or before `effective`: at it when
    // another change was adopted in this same block, which this one joins.
    let (index, mut epoch) = if latest.from_height >= effective {
        (latest_index, latest)
    } else {
        (
            latest_index + 1,
            Epoch {
                from_height: effective,
                members: latest.members,
                changes: Vec::new(),
            },
        )
    };
    let mut changes = apply_change(view, &mut epoch, &state.change, effective)?;
    epoch.changes.push(*id);
    state.status = ProposalStatus::Adopted {
        effective_height: effective,
    };
    changes.push(proposal_write(id, state));
    changes.push(write(StateKey::Epoch(index), StateValue::Epoch(epoch)));
    changes.push(write(StateKey::EpochCount, StateValue::Count(index + 1)));
    Ok(changes)
}

/// Whether `change` can apply to the member list `next` (the newest epoch) and the keys ever used.
fn check_change(
    view: &dyn StateView,
    next: &Epoch,
    change: &MembershipChange,
) -> Result<(), RuleError> {
    let known = |member: &CountryCode| {
        next.member(member)
            .map(|_| ())
            .ok_or_else(|| RuleError::MembershipMemberUnknown(member.clone()))
    };
    match change {
        MembershipChange::Admit(a) => {
            // A former member's id is not given again: its old submitter keys would come back with it.
            if next.member(&a.member.id).is_some() || member(view, &a.member.id).is_some() {
                return Err(RuleError::MembershipMemberExists(a.member.id.clone()));
            }
            if next.members.len() >= MAX_VALIDATORS {
                return Err(RuleError::MembershipTooMany(MAX_VALIDATORS));
            }
            unused_node_key(view, &a.member.validator_key, NodeKeyKind::Validator)?;
            unused_node_key(view, &a.member.peer_id.key(), NodeKeyKind::Network)?;
            if submitter(view, &a.submitter_key).is_some() {
                return Err(RuleError::KeyExists(a.submitter_key));
            }
            if node_key(view, &a.submitter_key).is_some() {
                return Err(RuleError::MembershipDuplicateKey(a.submitter_key));
            }
            Ok(())
        }
        MembershipChange::Remove { member } => {
            known(member)?;
            let after = next.members.len() - 1;
            if after < MIN_MEMBERS {
                return Err(RuleError::MembershipTooFew(after));
            }
            Ok(())
        }
        MembershipChange::RotateValidatorKey { member, new_key } => {
            known(member)?;
            unused_node_key(view, new_key, NodeKeyKind::Validator)
        }
        MembershipChange::RotateNetworkKey {
            member,
            new_peer_id,
        } => {
            known(member)?;
            unused_node_key(view, &new_peer_id.key(), NodeKeyKind::Network)
        }
    }
}

/// A node key must be new to the ledger: not a validator or network key anyone holds or held, nor a submitter key.
fn unused_node_key(
    view: &dyn StateView,
    key: &PublicKey,
    kind: NodeKeyKind,
) -> Result<(), RuleError> {
    match node_key(view, key) {
        Some(used) if used.retired => Err(RuleError::MembershipKeyRetired(*key, used.member)),
        Some(_) if kind == NodeKeyKind::Network => Err(RuleError::MembershipDuplicatePeerId(*key)),
        Some(_) => Err(RuleError::MembershipDuplicateKey(*key)),
        None if submitter(view, key).is_some() => Err(RuleError::MembershipDuplicateKey(*key)),
        None => Ok(()),
    }
}

/// Applies a checked change to `epoch`'s member list and returns the other state it writes.
fn apply_change(
    view: &dyn StateView,
    epoch: &mut Epoch,
    change: &MembershipChange,
    effective: u64,
) -> Result<Vec<Change>, RuleError> {
    let position = |epoch: &Epoch, member: &CountryCode| {
        epoch
            .members
            .binary_search_by(|m| m.id.cmp(member))
            .map_err(|_| RuleError::MembershipMemberUnknown(member.clone()))
    };
    let mut changes = Vec::new();
    match change {
        MembershipChange::Admit(a) => {
            let id = &a.member.id;
            let at = match epoch.members.binary_search_by(|m| m.id.cmp(id)) {
                Ok(_) => return Err(RuleError::MembershipMemberExists(id.clone())),
                Err(at) => at,
            };
            epoch.members.insert(at, a.member.clone());
            changes.push(write(
                StateKey::Member(id.clone()),
                StateValue::Member(MemberEntry {
                    active_from: effective,
                    active_until: None,
                }),
            ));
            changes.push(node_key_write(
                a.member.validator_key,
                id,
                NodeKeyKind::Validator,
                false,
            ));
            changes.push(node_key_write(
                a.member.peer_id.key(),
                id,
                NodeKeyKind::Network,
                false,
            ));
            changes.push(write(
                StateKey::Submitter(a.submitter_key),
                StateValue::Submitter(SubmitterEntry {
                    member: id.clone(),
                    roles: Roles::from_roles(&[Role::KeyAdmin, Role::Membership]),
                    active: true,
                }),
            ));
        }
        MembershipChange::Remove { member } => {
            let old = epoch.members.remove(position(epoch, member)?);
            let active_from = super::state::member(view, member).map_or(1, |e| e.active_from);
            changes.push(write(
                StateKey::Member(member.clone()),
                StateValue::Member(MemberEntry {
                    active_from,
                    active_until: Some(effective),
                }),
            ));
            changes.push(node_key_write(
                old.validator_key,
                member,
                NodeKeyKind::Validator,
                true,
            ));
            changes.push(node_key_write(
                old.peer_id.key(),
                member,
                NodeKeyKind::Network,
                true,
            ));
        }
        MembershipChange::RotateValidatorKey { member, new_key } => {
            let at = position(epoch, member)?;
            let old = std::mem::replace(&mut epoch.members[at].validator_key, *new_key);
            changes.push(node_key_write(old, member, NodeKeyKind::Validator, true));
            changes.push(node_key_write(
                *new_key,
                member,
                NodeKeyKind::Validator,
                false,
            ));
        }
        MembershipChange::RotateNetworkKey {
            member,
            new_peer_id,
        } => {
            let at = position(epoch, member)?;
            let old = std::mem::replace(&mut epoch.members[at].peer_id, *new_peer_id);
            changes.push(node_key_write(
                old.key(),
                member,
                NodeKeyKind::Network,
                true,
            ));
            changes.push(node_key_write(
                new_peer_id.key(),
                member,
                NodeKeyKind::Network,
                false,
            ));
        }
    }
    Ok(changes)
}

fn write(key: StateKey, value: StateValue) -> Change {
    Change { key, value }
}

fn proposal_write(id: &Hash32, state: ProposalState) -> Change {
    write(
        StateKey::MembershipProposal(*id),
        StateValue::MembershipProposal(state),
    )
}

fn node_key_write(
    key: PublicKey,
    member: &CountryCode,
    kind: NodeKeyKind,
    retired: bool,
) -> Change {
    write(
        StateKey::NodeKey(key),
        StateValue::NodeKey(NodeKeyUse {
            member: member.clone(),
            kind,
            retired,
        }),
    )
}
