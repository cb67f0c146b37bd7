//! Evidence of equivocation as a record: a member's node reports two conflicting messages one validator signed
//! (two votes for one height, round and kind for different blocks, or two different proposals for one height and
//! round), exactly as it received them. Committed like any record, it is in
//! the record log, so a proof bundle shows that a quorum committed it, and anyone holding the validator set of
//! that height (the genesis file and the bundle's set changes) can check both signatures offline.

use super::{ShapeError, field};
use crate::equivocation::Equivocation;
use crate::ids::CountryCode;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceReport {
    /// The member whose node reports it; the transaction is signed with that member's validator key.
    pub reporter: CountryCode,
    pub equivocation: Equivocation,
}

impl EvidenceReport {
    /// What can be checked without the ledger: both messages decode, name one validator, height, round and step,
    /// and conflict. The signatures need the validator set of the messages' height (the rules).
    pub fn check_shape(&self) -> Result<(), ShapeError> {
        self.equivocation
            .claimed()
            .map(|_| ())
            .map_err(|e| field("equivocation", e.to_string()))
    }
}
