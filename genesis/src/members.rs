//! Building a genesis from a members file:
//!
//! ```json
//! { "members":    [ { "id": "KZ", "name": "...", "validator_key": "<hex>", "peer_id": "12D3KooW...",
//!                     "addresses": ["/ip4/203.0.113.7/tcp/26656"] } ],
//!   "submitters": [ { "member": "KZ", "key": "<hex>", "roles": ["key_admin"], "label": "..." } ] }
//! ```

use clearance_core::genesis::{ConsensusParams, Genesis, GenesisError, GenesisSubmitter};
use clearance_core::ids::ChainName;
use clearance_core::record::MemberInfo;
use clearance_core::time::Timestamp;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersFile {
    pub members: Vec<MemberInfo>,
    #[serde(default)]
    pub submitters: Vec<GenesisSubmitter>,
}

/// Parses a members file and builds a validated genesis.
pub fn genesis_from_members(
    members_json: &str,
    chain_name: ChainName,
    genesis_time: Timestamp,
    params: ConsensusParams,
) -> Result<Genesis, GenesisError> {
    if members_json.len() > clearance_core::encoding::limit::GENESIS {
        return Err(GenesisError::TooLarge {
            len: members_json.len(),
            limit: clearance_core::encoding::limit::GENESIS,
        });
    }
    let file: MembersFile = serde_json::from_str(members_json)
        .map_err(|e| GenesisError::Json(format!("members file: {e}")))?;
    let genesis = Genesis {
        chain_name,
        genesis_time,
        params,
        members: file.members,
        submitters: file.submitters,
    };
    genesis.validate()?;
    Ok(genesis)
}
