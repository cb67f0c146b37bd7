//! The validator set: one member, one vote. With `n` members, `f = ⌊(n−1)/3⌋` and a quorum is
//! `n − f = ⌊2n/3⌋ + 1`, Tendermint's "more than two thirds". It equals `2f+1` when `n = 3f+1`; for other `n`,
//! `2f+1` is too small (n = 5: two quorums of 3 may share only one member, who may be faulty).

use crate::crypto::{CheckedKey, PublicKey, Signature, SignatureError};
use crate::encoding::{self, DecodeError, limit};
use crate::hash::{Hash32, tag, tagged_hash};
use crate::ids::CountryCode;
use serde::{Deserialize, Serialize};

/// Most validators a set may hold; bounds certificates and vote bookkeeping.
pub const MAX_VALIDATORS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validator {
    pub member: CountryCode,
    pub key: PublicKey,
}

/// Validators sorted by member id, each member and key once. The position in this order is the
/// validator's index, which the proposer rule (`crate::proposer`) uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Validator>", into = "Vec<Validator>")]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    /// The validators' keys, validated once when the set is built; same order as `validators`.
    checked: Vec<CheckedKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidatorSetError {
    #[error("a validator set needs at least one validator")]
    Empty,
    #[error("a validator set holds at most {MAX_VALIDATORS} validators, got {0}")]
    TooMany(usize),
    #[error("member {0} appears twice in the validator set")]
    DuplicateMember(CountryCode),
    #[error("validator key {key} is used by both {first} and {second}")]
    DuplicateKey {
        key: PublicKey,
        first: CountryCode,
        second: CountryCode,
    },
    #[error("validators must be listed in ascending order of member id")]
    NotSorted,
    #[error("validator {member}: {error}")]
    BadKey {
        member: CountryCode,
        error: crate::crypto::KeyError,
    },
}

impl ValidatorSet {
    /// Builds a set in canonical order, rejecting duplicates and weak keys.
    pub fn new(mut validators: Vec<Validator>) -> Result<ValidatorSet, ValidatorSetError> {
        if validators.is_empty() {
            return Err(ValidatorSetError::Empty);
        }
        if validators.len() > MAX_VALIDATORS {
            return Err(ValidatorSetError::TooMany(validators.len()));
        }
        validators.sort_by(|a, b| a.member.cmp(&b.member));
        for w in validators.windows(2) {
            if w[0].member == w[1].member {
                return Err(ValidatorSetError::DuplicateMember(w[0].member.clone()));
            }
        }
        let mut keys = std::collections::BTreeMap::new();
        let mut checked = Vec::with_capacity(validators.len());
        for v in &validators {
            checked.push(
                v.key
                    .to_checked()
                    .map_err(|error| ValidatorSetError::BadKey {
                        member: v.member.clone(),
                        error,
                    })?,
            );
            if let Some(first) = keys.insert(v.key, v.member.clone()) {
                return Err(ValidatorSetError::DuplicateKey {
                    key: v.key,
                    first,
                    second: v.member.clone(),
                });
            }
        }
        Ok(ValidatorSet {
            validators,
            checked,
        })
    }

    /// The set of `members`' validator keys.
    pub fn of_members(
        members: &[crate::record::MemberInfo],
    ) -> Result<ValidatorSet, ValidatorSetError> {
        ValidatorSet::new(
            members
                .iter()
                .map(|m| Validator {
                    member: m.id.clone(),
                    key: m.validator_key,
                })
                .collect(),
        )
    }

    /// Verifies a signature by the validator at `index` (as returned by [`ValidatorSet::index_of`]).
    pub fn verify(
        &self,
        index: usize,
        tag: &'static str,
        bytes: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        match self.checked.get(index) {
            Some(key) => key.verify(tag, bytes, signature),
            None => Err(SignatureError::Invalid {
                key: PublicKey([0; 32]),
                tag,
            }),
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<ValidatorSet, DecodeError> {
        encoding::decode(bytes, limit::VALIDATOR_SET, "validator set")
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// `SHA-256("clearance/v1/validator-set" ‖ 0x00 ‖ canonical bytes)`.
    pub fn hash(&self) -> Hash32 {
        tagged_hash(tag::VALIDATOR_SET, &self.to_bytes())
    }

    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    pub fn len(&self) -> usize {
        self.validators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// The most members that may be faulty: `⌊(n−1)/3⌋`.
    pub fn max_faulty(&self) -> usize {
        (self.len() - 1) / 3
    }

    /// Votes needed to decide: `n − f`.
    pub fn quorum(&self) -> usize {
        quorum_of(self.len())
    }

    /// Votes that prove at least one honest member: `f + 1`.
    pub fn honest_threshold(&self) -> usize {
        self.max_faulty() + 1
    }

    pub fn index_of(&self, member: &CountryCode) -> Option<usize> {
        self.validators
            .binary_search_by(|v| v.member.cmp(member))
            .ok()
    }

    pub fn get(&self, member: &CountryCode) -> Option<&Validator> {
        self.index_of(member).map(|i| &self.validators[i])
    }
}

/// `n − f` for `n` members, `f = ⌊(n−1)/3⌋`: the votes that decide a block and the approvals that adopt a
/// membership change.
pub fn quorum_of(n: usize) -> usize {
    n - n.saturating_sub(1) / 3
}

impl TryFrom<Vec<Validator>> for ValidatorSet {
    type Error = ValidatorSetError;
    fn try_from(validators: Vec<Validator>) -> Result<Self, Self::Error> {
        let is_sorted = validators.windows(2).all(|w| w[0].member < w[1].member);
        let set = ValidatorSet::new(validators)?;
        if !is_sorted {
            // Only one encoding per set: the canonical order is part of the format.
            return Err(ValidatorSetError::NotSorted);
        }
        Ok(set)
    }
}

impl From<ValidatorSet> for Vec<Validator> {
    fn from(set: ValidatorSet) -> Self {
        set.validators
    }
}
