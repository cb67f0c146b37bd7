//! The rule of the `evidence` record: both messages verify under the validator set in force at their height, and
//! each equivocation (validator, height, round, step) is recorded once.

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
    let claimed = r
        .equivocation
        .claimed()
        .map_err(|e| invalid(e.to_string()))?;
    if claimed.height > ctx.height {
        return Err(invalid(format!(
            "the messages are for height {}, not yet decided",
            claimed.height
        )));
    }
    let (_, epoch) = epoch_at(view, claimed.height).ok_or(RuleError::MembershipStateMissing)?;
    let set = epoch
        .validator_set()
        .map_err(|_| RuleError::MembershipStateMissing)?;
    let offender = r
        .equivocation
        .verify(chain_id, &set)
        .map_err(|e| invalid(e.to_string()))?;
    let key = StateKey::Evidence {
        validator: offender.validator.clone(),
        height: offender.height,
        round: offender.round,
        kind: offender.step,
    };
    if let Some(StateValue::Record(first)) = view.get(&key) {
        return Err(RuleError::EvidenceExists {
            validator: offender.validator,
            height: offender.height,
            first,
        });
    }
    Ok(vec![Change {
        key,
        value: StateValue::Record(*id),
    }])
}
