//! The genesis document: the chain's founding members, consensus parameters and first submitter keys.
//! The chain id is `SHA-256("clearance/v1/genesis" ‖ 0x00 ‖ canonical bytes)`. The JSON file is only a
//! carrier: it is parsed, validated and re-encoded canonically, so whitespace and key order in the file do
//! not change the chain id.

use crate::crypto::PublicKey;
use crate::encoding::{self, DecodeError, limit};
use crate::hash::{Hash32, tag, tagged_hash};
use crate::ids::{ChainName, CountryCode, Text};
use crate::record::{MemberInfo, Roles, ShapeError};
use crate::time::Timestamp;
use crate::validator::{MAX_VALIDATORS, ValidatorSet};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Timing and size parameters every member must share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusParams {
    /// Round-0 timeouts; each later round adds `timeout_delta_ms` to each.
    pub timeout_propose_ms: u32,
    pub timeout_prevote_ms: u32,
    pub timeout_precommit_ms: u32,
    pub timeout_delta_ms: u32,
    /// With an empty mempool, a block is still proposed this often, so that liveness stays visible.
    pub heartbeat_ms: u32,
    /// How far ahead of a validator's clock a proposed block's time may be.
    pub max_clock_drift_ms: u32,
    pub max_block_txs: u32,
    pub max_block_bytes: u32,
    pub max_tx_bytes: u32,
    /// Heights between the block that approves a membership change and the first block it applies to.
    pub membership_delay_blocks: u32,
    /// Seconds a membership proposal stays open for approvals, counted in block time from the block that
    /// recorded it.
    pub membership_proposal_ttl_s: u32,
}

impl Default for ConsensusParams {
    fn default() -> Self {
        ConsensusParams {
            timeout_propose_ms: 1000,
            timeout_prevote_ms: 500,
            timeout_precommit_ms: 500,
            timeout_delta_ms: 500,
            heartbeat_ms: 10_000,
            max_clock_drift_ms: 2000,
            max_block_txs: 10_000,
            max_block_bytes: 8 * 1024 * 1024,
            max_tx_bytes: 16 * 1024,
            membership_delay_blocks: 2,
            membership_proposal_ttl_s: 7 * 24 * 3600,
        }
    }
}

/// A submitter key registered at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisSubmitter {
    pub member: CountryCode,
    pub key: PublicKey,
    pub roles: Roles,
    pub label: Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub chain_name: ChainName,
    pub genesis_time: Timestamp,
    pub params: ConsensusParams,
    pub members: Vec<MemberInfo>,
    pub submitters: Vec<GenesisSubmitter>,
}

/// Most submitter keys a genesis may register.
pub const MAX_GENESIS_SUBMITTERS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    #[error("genesis file is {len} bytes, the limit is {limit}")]
    TooLarge { len: usize, limit: usize },
    #[error("genesis JSON: {0}")]
    Json(String),
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("genesis has no members")]
    NoMembers,
    #[error("genesis has {0} members, at most {MAX_VALIDATORS} are allowed")]
    TooManyMembers(usize),
    #[error("genesis lists member {0} more than once")]
    DuplicateMember(CountryCode),
    #[error("members {first} and {second} share the validator key {key}")]
    DuplicateValidatorKey {
        key: PublicKey,
        first: CountryCode,
        second: CountryCode,
    },
    #[error("members {first} and {second} share the peer id {peer_id}")]
    DuplicatePeerId {
        peer_id: String,
        first: CountryCode,
        second: CountryCode,
    },
    #[error("member {member}: {error}")]
    Member {
        member: CountryCode,
        error: ShapeError,
    },
    #[error("submitter key {key} belongs to {member}, which is not a member")]
    SubmitterUnknownMember { key: PublicKey, member: CountryCode },
    #[error("submitter key {key} is listed more than once")]
    DuplicateSubmitterKey { key: PublicKey },
    #[error("submitter key {key} of {member}: {error}")]
    SubmitterKey {
        key: PublicKey,
        member: CountryCode,
        error: String,
    },
    #[error("genesis has {0} submitter keys, at most {MAX_GENESIS_SUBMITTERS} are allowed")]
    TooManySubmitters(usize),
    #[error("params.{field}: {rule}")]
    Param { field: &'static str, rule: String },
}

impl GenesisError {
    /// A stable code for tools and logs.
    pub fn code(&self) -> &'static str {
        match self {
            GenesisError::TooLarge { .. } => "GENESIS_TOO_LARGE",
            GenesisError::Json(_) | GenesisError::Decode(_) => "GENESIS_MALFORMED",
            GenesisError::NoMembers | GenesisError::TooManyMembers(_) => "GENESIS_MEMBER_COUNT",
            GenesisError::DuplicateMember(_)
            | GenesisError::DuplicateValidatorKey { .. }
            | GenesisError::DuplicatePeerId { .. }
            | GenesisError::DuplicateSubmitterKey { .. } => "GENESIS_DUPLICATE",
            GenesisError::Member { .. } => "GENESIS_BAD_MEMBER",
            GenesisError::SubmitterUnknownMember { .. }
            | GenesisError::SubmitterKey { .. }
            | GenesisError::TooManySubmitters(_) => "GENESIS_BAD_SUBMITTER",
            GenesisError::Param { .. } => "GENESIS_BAD_PARAMS",
        }
    }
}

fn param(field: &'static str, rule: impl Into<String>) -> GenesisError {
    GenesisError::Param {
        field,
        rule: rule.into(),
    }
}

impl ConsensusParams {
    pub fn validate(&self) -> Result<(), GenesisError> {
        const MINUTE: u32 = 60_000;
        for (field, v) in [
            ("timeout_propose_ms", self.timeout_propose_ms),
            ("timeout_prevote_ms", self.timeout_prevote_ms),
            ("timeout_precommit_ms", self.timeout_precommit_ms),
        ] {
            if !(10..=10 * MINUTE).contains(&v) {
                return Err(param(
                    field,
                    format!("{v} ms is outside 10 ms to 10 minutes"),
                ));
            }
        }
        if self.timeout_delta_ms > 10 * MINUTE {
            return Err(param("timeout_delta_ms", "must be at most 10 minutes"));
        }
        if self.heartbeat_ms < self.timeout_propose_ms || self.heartbeat_ms > 60 * MINUTE {
            return Err(param(
                "heartbeat_ms",
                "must be at least timeout_propose_ms and at most one hour",
            ));
        }
        if self.max_clock_drift_ms > 10 * MINUTE {
            return Err(param("max_clock_drift_ms", "must be at most 10 minutes"));
        }
        if self.max_tx_bytes == 0 || self.max_tx_bytes as usize > limit::SIGNED_TX {
            return Err(param(
                "max_tx_bytes",
                format!("must be 1 to {} bytes", limit::SIGNED_TX),
            ));
        }
        if self.max_block_bytes < self.max_tx_bytes {
            return Err(param(
                "max_block_bytes",
                format!(
                    "{} is smaller than max_tx_bytes {}: no block could hold a full-size transaction",
                    self.max_block_bytes, self.max_tx_bytes
                ),
            ));
        }
        // Half the decode limit leaves room for framing: 8 bytes per transaction at most 100000 transactions.
        if self.max_block_bytes as usize > limit::BLOCK / 2 {
            return Err(param(
                "max_block_bytes",
                format!(
                    "must be at most {} bytes, half the block decode limit",
                    limit::BLOCK / 2
                ),
            ));
        }
        if self.max_block_txs == 0 || self.max_block_txs > 100_000 {
            return Err(param("max_block_txs", "must be 1 to 100000"));
        }
        // Two heights at least: a member whose network key rotation is adopted at `h` switches its peer id
        // after committing `h + 1`, when every member deciding has the adopting block and lets the new peer id
        // connect, and before `h + delay` refuses the old one (docs/node.md, network key rotation).
        if self.membership_delay_blocks < 2 {
            return Err(param(
                "membership_delay_blocks",
                "must be at least 2, so that a member rotating its network key can switch to it between the \
                 adoption and the height the change takes effect",
            ));
        }
        if self.membership_delay_blocks > 10_000 {
            return Err(param("membership_delay_blocks", "must be at most 10000"));
        }
        if !(60..=366 * 24 * 3600).contains(&self.membership_proposal_ttl_s) {
            return Err(param(
                "membership_proposal_ttl_s",
                "must be one minute to one year",
            ));
        }
        Ok(())
    }
}

impl Genesis {
    /// Parses a genesis JSON file and validates it.
    pub fn from_json(text: &str) -> Result<Genesis, GenesisError> {
        if text.len() > limit::GENESIS {
            return Err(GenesisError::TooLarge {
                len: text.len(),
                limit: limit::GENESIS,
            });
        }
        let genesis: Genesis =
            serde_json::from_str(text).map_err(|e| GenesisError::Json(e.to_string()))?;
        genesis.validate()?;
        Ok(genesis)
    }

    pub fn to_json(&self) -> String {
        match serde_json::to_string_pretty(self) {
            Ok(s) => s,
            Err(e) => unreachable!("genesis JSON encoding cannot fail: {e}"),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Genesis, GenesisError> {
        let genesis: Genesis = encoding::decode(bytes, limit::GENESIS, "genesis")?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// The chain id: the domain-separated hash of the canonical bytes.
    pub fn chain_id(&self) -> Hash32 {
        tagged_hash(tag::GENESIS, &self.to_bytes())
    }

    /// Checks members, keys, submitters and parameters; the first problem found is reported.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.members.is_empty() {
            return Err(GenesisError::NoMembers);
        }
        if self.members.len() > MAX_VALIDATORS {
            return Err(GenesisError::TooManyMembers(self.members.len()));
        }
        let mut ids = BTreeMap::new();
        let mut validator_keys: BTreeMap<PublicKey, CountryCode> = BTreeMap::new();
        let mut peer_ids: BTreeMap<PublicKey, CountryCode> = BTreeMap::new();
        for m in &self.members {
            if ids.insert(m.id.clone(), ()).is_some() {
                return Err(GenesisError::DuplicateMember(m.id.clone()));
            }
            m.check_shape().map_err(|error| GenesisError::Member {
                member: m.id.clone(),
                error,
            })?;
            if let Some(first) = validator_keys.insert(m.validator_key, m.id.clone()) {
                return Err(GenesisError::DuplicateValidatorKey {
                    key: m.validator_key,
                    first,
                    second: m.id.clone(),
                });
            }
            if let Some(first) = peer_ids.insert(m.peer_id.key(), m.id.clone()) {
                return Err(GenesisError::DuplicatePeerId {
                    peer_id: m.peer_id.to_peer_id(),
                    first,
                    second: m.id.clone(),
                });
            }
        }
        for (key, member) in &peer_ids {
            if let Some(owner) = validator_keys.get(key) {
                return Err(GenesisError::Member {
                    member: member.clone(),
                    error: ShapeError::Field {
                        field: "peer_id",
                        rule: format!(
                            "its key is the validator key of {owner}; network and validator keys must differ"
                        ),
                    },
                });
            }
        }
        if self.submitters.len() > MAX_GENESIS_SUBMITTERS {
            return Err(GenesisError::TooManySubmitters(self.submitters.len()));
        }
        let mut submitter_keys = BTreeMap::new();
        for s in &self.submitters {
            if !ids.contains_key(&s.member) {
                return Err(GenesisError::SubmitterUnknownMember {
                    key: s.key,
                    member: s.member.clone(),
                });
            }
            let bad = |error: String| GenesisError::SubmitterKey {
                key: s.key,
                member: s.member.clone(),
                error,
            };
            s.key.validate().map_err(|e| bad(e.to_string()))?;
            if s.roles.is_empty() {
                return Err(bad("has no roles".into()));
            }
            if validator_keys.contains_key(&s.key) || peer_ids.contains_key(&s.key) {
                return Err(bad(
                    "is also a validator or network key; submitter keys must be separate".into(),
                ));
            }
            if submitter_keys.insert(s.key, ()).is_some() {
                return Err(GenesisError::DuplicateSubmitterKey { key: s.key });
            }
        }
        self.params.validate()
    }

    /// The validator set at height 1.
    pub fn validator_set(&self) -> Result<ValidatorSet, crate::validator::ValidatorSetError> {
        ValidatorSet::of_members(&self.members)
    }
}
