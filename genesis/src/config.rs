//! The node's `config.toml`: what one member's operator may tune locally. What all members must agree on
//! (timeouts, block limits) lives in the genesis document instead, so that a config can never split the chain.
//!
//! The schema lives here, beside the testnet layout that writes it, and the node reads it through this module.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// A name for logs and metrics; usually the member id.
    pub moniker: String,
    /// `tracing` filter, e.g. `info` or `info,clearance_node::consensus=debug`.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// `text` (one human-readable line per event) or `json` (one JSON object per line, for log shippers).
    #[serde(default)]
    pub log_format: LogFormat,
    /// Paths below are relative to the home directory unless absolute.
    #[serde(default = "default_genesis_file")]
    pub genesis_file: PathBuf,
    #[serde(default = "default_validator_key_file")]
    pub validator_key_file: PathBuf,
    /// The next validator key while a rotation is pending (`clearance-node rotate-validator-key` writes it). The
    /// node reads both files whenever the members in force change, and signs with the one the set names.
    #[serde(default = "default_next_validator_key_file")]
    pub next_validator_key_file: PathBuf,
    #[serde(default = "default_node_key_file")]
    pub node_key_file: PathBuf,
    /// The next network key while a rotation of the node's peer id is pending (`clearance-node
    /// rotate-network-key` writes it). The running node switches to it one block after the rotation is adopted.
    #[serde(default = "default_next_node_key_file")]
    pub next_node_key_file: PathBuf,
    /// What this validator last signed (height, round, step and lock), synced before each signature is sent.
    /// It lives beside the validator key, outside `data_dir`, so that wiping the chain database to resync can
    /// never make the validator sign twice. Never delete it while the validator key is in use.
    #[serde(default = "default_validator_state_file")]
    pub validator_state_file: PathBuf,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    pub p2p: P2pConfig,
    pub api: ApiConfig,
    #[serde(default)]
    pub mempool: MempoolConfig,
    #[serde(default)]
    pub consensus: PacingConfig,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pConfig {
    /// libp2p multiaddr to listen on, e.g. `/ip4/0.0.0.0/tcp/26656`.
    pub listen: String,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Longest wait between reconnection attempts to a member. Members are few and named in genesis, so the
    /// wait stays short: a link that comes back is used again within about this long.
    #[serde(default = "default_max_backoff_ms")]
    pub max_redial_backoff_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// HTTP API address, e.g. `127.0.0.1:26657`.
    pub listen: SocketAddr,
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MempoolConfig {
    pub max_txs: u32,
    pub max_bytes: u64,
}

/// Local pacing of heights. It is not a consensus rule: members may set it differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacingConfig {
    /// Shortest time from the start of one height to the start of the next when transactions are waiting.
    /// Under load, each height's fixed cost (votes, synced writes) is then shared by more records; an idle
    /// network is unaffected, since the first transaction after a pause starts its height at once.
    pub min_block_interval_ms: u32,
}

impl Default for PacingConfig {
    fn default() -> Self {
        PacingConfig {
            min_block_interval_ms: 50,
        }
    }
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_txs: 50_000,
            max_bytes: 128 * 1024 * 1024,
        }
    }
}

fn default_log_level() -> String {
    "info".into()
}
fn default_genesis_file() -> PathBuf {
    "genesis.json".into()
}
fn default_validator_key_file() -> PathBuf {
    "validator_key.json".into()
}
fn default_next_validator_key_file() -> PathBuf {
    "validator_key.next.json".into()
}
fn default_next_node_key_file() -> PathBuf {
    "node_key.next.json".into()
}
fn default_node_key_file() -> PathBuf {
    "node_key.json".into()
}
fn default_validator_state_file() -> PathBuf {
    "validator_state.bin".into()
}
fn default_data_dir() -> PathBuf {
    "data".into()
}
fn default_max_connections() -> u32 {
    64
}
fn default_max_backoff_ms() -> u32 {
    1_000
}
fn default_max_body_bytes() -> u32 {
    1024 * 1024
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl NodeConfig {
    /// A config for a node listening on the given addresses, with defaults elsewhere.
    pub fn new(moniker: &str, p2p_listen: String, api_listen: SocketAddr) -> NodeConfig {
        NodeConfig {
            moniker: moniker.into(),
            log_level: default_log_level(),
            log_format: LogFormat::Text,
            genesis_file: default_genesis_file(),
            validator_key_file: default_validator_key_file(),
            next_validator_key_file: default_next_validator_key_file(),
            node_key_file: default_node_key_file(),
            next_node_key_file: default_next_node_key_file(),
            validator_state_file: default_validator_state_file(),
            data_dir: default_data_dir(),
            p2p: P2pConfig {
                listen: p2p_listen,
                max_connections: default_max_connections(),
                max_redial_backoff_ms: default_max_backoff_ms(),
            },
            api: ApiConfig {
                listen: api_listen,
                max_body_bytes: default_max_body_bytes(),
            },
            mempool: MempoolConfig::default(),
            consensus: PacingConfig::default(),
        }
    }

    pub fn to_toml(&self) -> String {
        let body = match toml::to_string_pretty(self) {
            Ok(s) => s,
            Err(e) => unreachable!("config TOML encoding cannot fail: {e}"),
        };
        format!(
            "# Clearance Ledger node configuration. Relative paths are relative to this directory.\n\
             # Parameters every member must share (timeouts, block limits) are in the genesis file.\n\n{body}"
        )
    }

    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        let config: NodeConfig = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        config.validate().map_err(invalid)?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if !self.p2p.listen.starts_with('/') {
            return Err(format!(
                "p2p.listen {:?} is not a multiaddr such as /ip4/0.0.0.0/tcp/26656",
                self.p2p.listen
            ));
        }
        if self.p2p.max_connections == 0 {
            return Err("p2p.max_connections must be at least 1".into());
        }
        if !(250..=60_000).contains(&self.p2p.max_redial_backoff_ms) {
            return Err("p2p.max_redial_backoff_ms must be 250 to 60000".into());
        }
        if self.api.max_body_bytes < 1024 {
            return Err("api.max_body_bytes must be at least 1024".into());
        }
        if self.mempool.max_txs == 0 || self.mempool.max_bytes == 0 {
            return Err("mempool.max_txs and mempool.max_bytes must be above 0".into());
        }
        if self.consensus.min_block_interval_ms > 10_000 {
            return Err("consensus.min_block_interval_ms must be at most 10000".into());
        }
        Ok(())
    }

    /// `path` resolved against the home directory.
    pub fn resolve(home: &Path, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            home.join(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trip_and_validation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let config = NodeConfig::new(
            "KZ",
            "/ip4/127.0.0.1/tcp/26600".into(),
            "127.0.0.1:26601".parse().unwrap(),
        );
        std::fs::write(&path, config.to_toml()).unwrap();
        assert_eq!(NodeConfig::load(&path).unwrap(), config);

        std::fs::write(
            &path,
            config
                .to_toml()
                .replace("/ip4/127.0.0.1/tcp/26600", "127.0.0.1:1"),
        )
        .unwrap();
        let err = NodeConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("p2p.listen"), "{err}");

        std::fs::write(&path, format!("{}\nunknown_key = 1\n", config.to_toml())).unwrap();
        assert!(NodeConfig::load(&path).is_err());
    }
}
