//! The rule of the `evidence` record: both votes verify under the validator set in force at their height, and
//! each equivocation (validator, height, round, kind) is recorded once.

use super::RuleError;
use super::state::{Change, StateKey, StateValue, StateView, epoch_at};
use crate::hash::Hash32;
use crate::record::EvidenceReport;

pub(super) fn apply(
    view: &dyn StateView,
    ctx: &super::BlockContext,
    id: &Hash32,
    chain_id: &Hash32,
    r: &EvidenceReport,
) -> Result<Vec<Change>, RuleError> {
    let invalid = |why: String| RuleError::EvidenceInvalid(why);
    let vote = r
        .equivocation
        .first
        .decode()
        .map_err(|e| invalid(e.to_string()))?;
    if vote.height > ctx.height {
        return Err(invalid(format!(
            "the votes are for height {}, not yet decided",
            vote.height
        )));
    }
    let (_, epoch) = epoch_at(view, vote.height).ok_or(RuleError::MembershipStateMissing)?;
    let set = epoch
        .validator_set()
        .map_err(|_| RuleError::MembershipStateMissing)?;
    let offender = r
        .equivocation
        .verify(chain_id, &set)
        .map_err(|e| invalid(e.to_string()))?;
    let key = StateKey::Evidence {
        validator: offender.clone(),
        height: vote.height,
        round: vote.round,
        kind: vote.kind,
    };
    if let Some(StateValue::Record(first)) = view.get(&key) {
        return Err(RuleError::EvidenceExists {
            validator: offender,
            height: vote.height,
            first,
        });
    }
    Ok(vec![Change {
        key,
        value: StateValue::Record(*id),
    }])
}
