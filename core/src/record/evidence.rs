//! Evidence of equivocation as a record: a member's node reports two votes one validator signed for the same
//! height, round and kind, for different blocks, exactly as it received them. Committed like any record, it is in
//! the record log, so a proof bundle shows that a quorum committed it, and anyone holding the validator set of
//! that height (the genesis file and the bundle's set changes) can check both signatures offline.

use super::{ShapeError, field};
use crate::ids::CountryCode;
use crate::vote::Equivocation;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceReport {
    /// The member whose node reports it; the transaction is signed with that member's validator key.
    pub reporter: CountryCode,
    pub equivocation: Equivocation,
}

impl EvidenceReport {
    /// What can be checked without the ledger: both votes decode, name one validator, height, round and kind,
    /// and name different blocks. The signatures need the validator set of the votes' height (the rules).
    pub fn check_shape(&self) -> Result<(), ShapeError> {
        let decode = |which: &'static str, v: &crate::vote::SignedVote| {
            v.decode().map_err(|e| field(which, e.to_string()))
        };
        let a = decode("equivocation.first", &self.equivocation.first)?;
        let b = decode("equivocation.second", &self.equivocation.second)?;
        Equivocation::conflict(&a, &b).map_err(|e| field("equivocation", e.to_string()))?;
        Ok(())
    }
}
