//! The validator sets a file proves, followed from genesis (`docs/audit.md` §3.4). Each change names the first
//! height its set decides and carries the certified header of the height before: signed by a quorum of the set
//! in force there, and announcing the new set in its `next_validator_set_hash`; and the records that adopted it
//! (`adopted`), which must make exactly that set from the one before. A forged change fails the certificate
//! check; a change certified by the wrong set, or one missing from the chain, leaves the verifier with a set
//! whose hash differs from the `validator_set_hash` of every later header it meets.

use super::AuditError;
use super::ValidatorSetChange;
use super::verdict::fail;
use crate::block::HeaderView;
use crate::hash::Hash32;
use crate::ids::CountryCode;
use crate::validator::ValidatorSet;
use crate::vote::{CommitCertificate, verify_commit};
use serde::Serialize;

/// Most changes one file may carry: far above a real ledger's history, bounded so a file cannot make the
/// verifier decode sets without end.
pub const MAX_SET_CHANGES: usize = 4096;

/// A change of the validator set, as the verdict reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetChangeSummary {
    /// The first height the new set decides.
    pub height: u64,
    pub members: Vec<CountryCode>,
    /// The members of the previous set that certified the change.
    pub certified_by: Vec<CountryCode>,
    /// The height of the block that adopted it.
    pub adopted_at: u64,
    /// The proposals that made it, in adoption order.
    pub adopted: Vec<super::AdoptedSummary>,
}

pub(super) struct SetChain {
    /// `(first height, set)`, from genesis (height 1) on, in increasing height.
    sets: Vec<(u64, ValidatorSet)>,
    pub changes: Vec<SetChangeSummary>,
}

impl SetChain {
    pub fn genesis(set: ValidatorSet) -> SetChain {
        SetChain {
            sets: vec![(1, set)],
            changes: Vec::new(),
        }
    }

    /// Follows `changes` from the genesis set, checking each against the set before it; a change takes effect
    /// `delay` heights after the block that adopted it (the genesis `membership_delay_blocks`).
    pub fn follow(
        chain_id: &Hash32,
        genesis: ValidatorSet,
        delay: u64,
        changes: &[ValidatorSetChange],
    ) -> Result<SetChain, AuditError> {
        if changes.len() > MAX_SET_CHANGES {
            return Err(fail(
                "validator-set",
                format!(
                    "{} validator-set changes; a file carries at most {MAX_SET_CHANGES}",
                    changes.len()
                ),
            ));
        }
        let mut chain = SetChain::genesis(genesis);
        for (i, change) in changes.iter().enumerate() {
            let step = format!("validator-set[{i}]");
            let (from, current) = chain
                .sets
                .last()
                .map(|(h, s)| (*h, s.clone()))
                .unwrap_or_else(|| unreachable!("a set chain starts with the genesis set"));
            if change.height <= from {
                return Err(fail(
                    format!("{step}.height"),
                    format!(
                        "height {} does not come after the previous change's {from}",
                        change.height
                    ),
                ));
            }
            if change.height <= delay {
                return Err(fail(
                    format!("{step}.height"),
                    format!(
                        "height {}: a change adopted at height 1 or later takes effect at {} or later",
                        change.height,
                        delay.saturating_add(1)
                    ),
                ));
            }
            let set = ValidatorSet::from_bytes(change.validator_set.as_slice())
                .map_err(|e| fail(format!("{step}.set"), e))?;
            let view = HeaderView::from_bytes(change.proof.header.as_slice())
                .map_err(|e| fail(format!("{step}.proof.header"), e))?;
            // `change.height` is at least 2 here (it follows genesis's 1); the header's height is the file's word.
            if view.header.height != change.height - 1 {
                return Err(fail(
                    format!("{step}.proof.header"),
                    format!(
                        "the proof is the header of height {}; a set taking effect at {} is announced by height {}",
                        view.header.height,
                        change.height,
                        change.height - 1
                    ),
                ));
            }
            let certificate = CommitCertificate::from_bytes(change.proof.certificate.as_slice())
                .map_err(|e| fail(format!("{step}.proof.certificate"), e))?;
            let signers = verify_commit(chain_id, &current, &view, &certificate)
                .map_err(|e| fail(format!("{step}.proof.certificate"), e))?;
            if view.header.next_validator_set_hash != set.hash() {
                return Err(fail(
                    format!("{step}.set"),
                    format!(
                        "the certified header announces set {} for height {}; the file gives set {}",
                        view.header.next_validator_set_hash,
                        change.height,
                        set.hash()
                    ),
                ));
            }
            if set.hash() == current.hash() {
                return Err(fail(
                    format!("{step}.set"),
                    "the set is the one already in force: not a change",
                ));
            }
            let adopting_height = change.height - delay;
            let adopting = HeaderView::from_bytes(change.adopting.header.as_slice())
                .map_err(|e| fail(format!("{step}.adopting.header"), e))?;
            if adopting.header.height != adopting_height {
                return Err(fail(
                    format!("{step}.adopting.header"),
                    format!(
                        "the header of height {}; a set taking effect at {} is adopted at height {adopting_height}",
                        adopting.header.height, change.height
                    ),
                ));
            }
            let voters = chain.at(adopting_height);
            let adopting_cert =
                CommitCertificate::from_bytes(change.adopting.certificate.as_slice())
                    .map_err(|e| fail(format!("{step}.adopting.certificate"), e))?;
            verify_commit(chain_id, voters, &adopting, &adopting_cert)
                .map_err(|e| fail(format!("{step}.adopting.certificate"), e))?;
            let (made, adopted) = super::adopted::check(
                chain_id,
                &step,
                &view.header,
                &adopting.header,
                &change.adopted,
                voters,
                &current,
            )?;
            let made = ValidatorSet::new(made).map_err(|e| {
                fail(
                    format!("{step}.set"),
                    format!("the adopted changes make no valid set: {e}"),
                )
            })?;
            if made.hash() != set.hash() {
                return Err(fail(
                    format!("{step}.set"),
                    format!(
                        "the adopted changes applied to the set before give set {}; the certified header \
                         announces set {}",
                        made.hash(),
                        set.hash()
                    ),
                ));
            }
            chain.changes.push(SetChangeSummary {
                height: change.height,
                members: set.validators().iter().map(|v| v.member.clone()).collect(),
                certified_by: signers,
                adopted_at: adopting_height,
                adopted,
            });
            chain.sets.push((change.height, set));
        }
        Ok(chain)
    }

    /// The set that decides `height`.
    pub fn at(&self, height: u64) -> &ValidatorSet {
        let i = self.sets.partition_point(|(from, _)| *from <= height);
        &self.sets[i.saturating_sub(1)].1
    }
}
