//! The records behind a change of the validator set (`docs/audit.md` §3.4, steps 7 and 8): the membership
//! proposals adopted at the adopting height, each with the approvals the ledger accepted, proven in the record
//! log of the header that announces the new set. The verifier counts each proposal's approvals against the set in
//! force at the adopting height, as the ledger's rules do (`docs/records.md` §4), and applies the changes, in
//! adoption order, to the set before: the result must be exactly the set the certified header announces. So a
//! file names who proposed and approved each change, and cannot pass off a set change the records do not make.

use super::verdict::fail;
use super::{AdoptedChange, AuditError, LoggedRecord};
use crate::block::Header;
use crate::hash::Hash32;
use crate::ids::CountryCode;
use crate::merkle::{leaf_hash, verify_inclusion};
use crate::record::{MembershipChange, Record};
use crate::tx::{SignedTx, TxBody};
use crate::validator::{Validator, ValidatorSet, quorum_of};
use serde::Serialize;

/// Most proposals one change may carry: each changes the set, which has at most 128 members.
pub const MAX_ADOPTED: usize = 256;
/// Most approvals of one proposal: one per member that ever approved it, members being at most 128 at a time.
pub const MAX_APPROVALS: usize = 256;

/// One adopted proposal, as the verdict reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdoptedSummary {
    /// The proposal's record id.
    pub proposal: Hash32,
    /// What it changes, in words.
    pub change: String,
    pub proposer: CountryCode,
    /// The members whose approval counted (the proposer's own among them, unless it proposed its own removal),
    /// in ascending order.
    pub approved_by: Vec<CountryCode>,
}

/// Checks `adopted` for the change at `step` (`validator-set[i]`), announced by `announcing` and adopted in the
/// block of `adopting`, against the set `voters` in force at the adopting height. Returns the set the changes
/// make from `before`, and the summaries.
#[allow(clippy::too_many_arguments)]
pub(super) fn check(
    chain_id: &Hash32,
    step: &str,
    announcing: &Header,
    adopting: &Header,
    adopted: &[AdoptedChange],
    voters: &ValidatorSet,
    before: &ValidatorSet,
) -> Result<(Vec<Validator>, Vec<AdoptedSummary>), AuditError> {
    if adopted.is_empty() || adopted.len() > MAX_ADOPTED {
        return Err(fail(
            format!("{step}.adopted"),
            format!(
                "{} adopted proposals; a change carries 1 to {MAX_ADOPTED}",
                adopted.len()
            ),
        ));
    }
    let mut set: Vec<Validator> = before.validators().to_vec();
    let mut summaries = Vec::with_capacity(adopted.len());
    let mut last_adoption = None;
    for (k, a) in adopted.iter().enumerate() {
        let step = format!("{step}.adopted[{k}]");
        let (id, body) = logged(
            chain_id,
            &format!("{step}.proposal"),
            &a.proposal,
            announcing,
        )?;
        let Record::MembershipPropose(proposal) = &body.record else {
            return Err(fail(
                format!("{step}.proposal.kind"),
                format!("a {} record, not a membership_propose", body.record.kind()),
            ));
        };
        if matches!(proposal.change, MembershipChange::RotateNetworkKey { .. }) {
            return Err(fail(
                format!("{step}.proposal.kind"),
                "a rotate_network_key proposal changes no validator set",
            ));
        }
        let removed = match &proposal.change {
            MembershipChange::Remove { member } => Some(member),
            _ => None,
        };
        let mut approvers: Vec<CountryCode> = Vec::new();
        if removed != Some(&proposal.proposer) {
            approvers.push(proposal.proposer.clone());
        }
        if a.approvals.len() > MAX_APPROVALS {
            return Err(fail(
                format!("{step}.approvals"),
                format!(
                    "{} approvals; a proposal carries at most {MAX_APPROVALS}",
                    a.approvals.len()
                ),
            ));
        }
        let mut last = a.proposal.log_index;
        for (j, record) in a.approvals.iter().enumerate() {
            let step = format!("{step}.approvals[{j}]");
            let (_, body) = logged(chain_id, &step, record, announcing)?;
            match &body.record {
                Record::MembershipApprove(r) if r.proposal == id => {
                    approvers.push(r.member.clone())
                }
                other => {
                    return Err(fail(
                        format!("{step}.relation"),
                        format!(
                            "a {} record, not a membership_approve of proposal {id}",
                            other.kind()
                        ),
                    ));
                }
            }
            if record.log_index <= last {
                return Err(fail(
                    format!("{step}.order"),
                    format!(
                        "log index {} does not come after {last}: approvals follow their proposal, in log order",
                        record.log_index
                    ),
                ));
            }
            last = record.log_index;
        }
        // The adopting record is a proposal's last; proposals adopted in one block are applied in that order.
        if last_adoption.is_some_and(|previous| last <= previous) {
            return Err(fail(
                format!("{step}.order"),
                format!(
                    "adopted by the record at log index {last}, not after the previous proposal's: proposals are \
                     listed in adoption order"
                ),
            ));
        }
        last_adoption = Some(last);
        // The adopting record is one the adopting block appended to the log; every other one came before it.
        let first_of_block = adopting
            .log_size
            .saturating_sub(u64::from(adopting.tx_count));
        if last < first_of_block || last >= adopting.log_size {
            return Err(fail(
                format!("{step}.block"),
                format!(
                    "its last record is at log index {last}; the adopting block of height {} appended log entries \
                     {first_of_block} to {}",
                    adopting.height,
                    adopting.log_size.saturating_sub(1)
                ),
            ));
        }
        approvers.sort();
        approvers.dedup();
        approvers.retain(|m| voters.index_of(m).is_some() && removed != Some(m));
        let quorum = quorum_of(voters.len());
        if approvers.len() < quorum {
            return Err(fail(
                format!("{step}.quorum"),
                format!(
                    "{} counted approvals ({}) of the {} members in force at the adopting height; adoption needs {quorum}",
                    approvers.len(),
                    names(&approvers),
                    voters.len()
                ),
            ));
        }
        apply(&mut set, &proposal.change).map_err(|e| fail(format!("{step}.change"), e))?;
        summaries.push(AdoptedSummary {
            proposal: id,
            change: describe_change(&proposal.change),
            proposer: proposal.proposer.clone(),
            approved_by: approvers,
        });
    }
    Ok((set, summaries))
}

/// A record proven in the log of `header`: decoded, signature checked, and a leaf of that log.
fn logged(
    chain_id: &Hash32,
    step: &str,
    record: &LoggedRecord,
    header: &Header,
) -> Result<(Hash32, TxBody), AuditError> {
    let tx = SignedTx::from_bytes(record.signed_tx.as_slice())
        .map_err(|e| fail(format!("{step}.decode"), e))?
        .verify(chain_id)
        .map_err(|e| fail(format!("{step}.decode"), e))?;
    super::verify::check_path(&format!("{step}.log-inclusion"), &record.log_path)?;
    verify_inclusion(
        &leaf_hash(record.signed_tx.as_slice()),
        record.log_index,
        header.log_size,
        &record.log_path,
        &header.log_root,
    )
    .map_err(|e| {
        fail(
            format!("{step}.log-inclusion"),
            format!(
                "not entry {} of the record log of {} entries at height {}: {e}",
                record.log_index, header.log_size, header.height
            ),
        )
    })?;
    Ok((tx.id, tx.body))
}

/// What an adopted change does to the validator set (`docs/records.md` §4.4): an admission adds the member and
/// its validator key, a removal takes the member out, a validator-key rotation replaces the member's key.
fn apply(set: &mut Vec<Validator>, change: &MembershipChange) -> Result<(), String> {
    let position = |set: &[Validator], member: &CountryCode| {
        set.iter()
            .position(|v| &v.member == member)
            .ok_or_else(|| format!("{member} is not in the validator set this change applies to"))
    };
    match change {
        MembershipChange::Admit(a) => {
            if set.iter().any(|v| v.member == a.member.id) {
                return Err(format!("{} is already in the validator set", a.member.id));
            }
            set.push(Validator {
                member: a.member.id.clone(),
                key: a.member.validator_key,
            });
        }
        MembershipChange::Remove { member } => {
            let i = position(set, member)?;
            set.remove(i);
        }
        MembershipChange::RotateValidatorKey { member, new_key } => {
            let i = position(set, member)?;
            set[i].key = *new_key;
        }
        MembershipChange::RotateNetworkKey { .. } => {}
    }
    Ok(())
}

/// A membership change in one line, for people: the verdict and the `clearance members` CLI.
pub fn describe_change(change: &MembershipChange) -> String {
    match change {
        MembershipChange::Admit(a) => format!("admit {} ({})", a.member.id, a.member.name.as_str()),
        MembershipChange::Remove { member } => format!("remove {member}"),
        MembershipChange::RotateValidatorKey { member, new_key } => {
            format!("rotate the validator key of {member} to {new_key}")
        }
        MembershipChange::RotateNetworkKey {
            member,
            new_peer_id,
        } => format!("rotate the network key of {member} to {new_peer_id}"),
    }
}

fn names(members: &[CountryCode]) -> String {
    let names: Vec<&str> = members.iter().map(|m| m.as_str()).collect();
    names.join(", ")
}
