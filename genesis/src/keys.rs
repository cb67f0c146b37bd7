//! Key files: one JSON file per key, written with mode 0600.
//!
//! ```json
//! { "kind": "validator", "public_key": "<64 hex>", "secret_key": "<64 hex: the RFC 8032 seed>" }
//! ```
//! A network key file also carries `"peer_id"`, the libp2p peer id of the key, for operators to copy.

use clearance_core::peer::PeerKey;
use clearance_core::{PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// Signs consensus votes and proposals.
    Validator,
    /// The node's libp2p identity.
    Network,
    /// Signs transactions for a member or one of its agencies.
    Submitter,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileJson {
    kind: KeyKind,
    public_key: PublicKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    peer_id: Option<String>,
    secret_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a key file: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("{path}: holds a {found:?} key, a {expected:?} key is needed")]
    WrongKind {
        path: PathBuf,
        expected: KeyKind,
        found: KeyKind,
    },
    #[error("{path}: the public key does not belong to the secret key")]
    Mismatch { path: PathBuf },
    #[error("{path}: file is readable by group or others (mode {mode:o}); run chmod 600 on it")]
    Permissions { path: PathBuf, mode: u32 },
    #[error("{path}: already exists; refusing to overwrite a key")]
    Exists { path: PathBuf },
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

/// A key loaded from, or about to be written to, a key file.
#[derive(Debug, Clone)]
pub struct KeyFile {
    pub kind: KeyKind,
    pub secret: SecretKey,
}

impl KeyFile {
    /// A new key from the operating system's random number generator.
    pub fn generate(kind: KeyKind) -> Result<KeyFile, KeyFileError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyFileError::Random(e.to_string()))?;
        Ok(KeyFile {
            kind,
            secret: SecretKey::from_seed(seed),
        })
    }

    pub fn public_key(&self) -> PublicKey {
        self.secret.public_key()
    }

    pub fn peer_key(&self) -> PeerKey {
        PeerKey::from_key(self.public_key())
    }

    fn to_json(&self) -> String {
        let json = KeyFileJson {
            kind: self.kind,
            public_key: self.public_key(),
            peer_id: (self.kind == KeyKind::Network).then(|| self.peer_key().to_peer_id()),
            secret_key: hex::encode(self.secret.seed()),
        };
        match serde_json::to_string_pretty(&json) {
            Ok(s) => s + "\n",
            Err(e) => unreachable!("key file JSON encoding cannot fail: {e}"),
        }
    }

    /// Writes the key to a new file with mode 0600. An existing file is never overwritten.
    pub fn write_new(&self, path: &Path) -> Result<(), KeyFileError> {
        let io = |source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyFileError::Exists {
                    path: path.to_owned(),
                }
            } else {
                io(e)
            }
        })?;
        file.write_all(self.to_json().as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Loads a key file, checking its kind, its permissions and that its public key matches its secret.
    pub fn load(path: &Path, expected: KeyKind) -> Result<KeyFile, KeyFileError> {
        let io = |source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        };
        let malformed = |reason: String| KeyFileError::Malformed {
            path: path.to_owned(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyFileError::Permissions {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
        if meta.len() > 4096 {
            return Err(malformed(format!(
                "{} bytes is too large for a key file",
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let json: KeyFileJson =
            serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
        if json.kind != expected {
            return Err(KeyFileError::WrongKind {
                path: path.to_owned(),
                expected,
                found: json.kind,
            });
        }
        let mut seed = [0u8; 32];
        hex::decode_to_slice(json.secret_key.trim(), &mut seed)
            .map_err(|e| malformed(format!("secret_key must be 64 hex digits: {e}")))?;
        let key = KeyFile {
            kind: json.kind,
            secret: SecretKey::from_seed(seed),
        };
        if key.public_key() != json.public_key {
            return Err(KeyFileError::Mismatch {
                path: path.to_owned(),
            });
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_load_round_trip_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node_key.json");
        let key = KeyFile::generate(KeyKind::Network).unwrap();
        key.write_new(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let loaded = KeyFile::load(&path, KeyKind::Network).unwrap();
        assert_eq!(loaded.public_key(), key.public_key());
        assert!(matches!(
            KeyFile::load(&path, KeyKind::Validator),
            Err(KeyFileError::WrongKind { .. })
        ));
        assert!(matches!(
            key.write_new(&path),
            Err(KeyFileError::Exists { .. })
        ));
    }

    #[test]
    fn refuses_world_readable_and_tampered_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let key = KeyFile::generate(KeyKind::Validator).unwrap();
        key.write_new(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                KeyFile::load(&path, KeyKind::Validator),
                Err(KeyFileError::Permissions { .. })
            ));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let other = KeyFile::generate(KeyKind::Validator).unwrap();
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace(&key.public_key().to_hex(), &other.public_key().to_hex());
        std::fs::write(&path, text).unwrap();
        assert!(matches!(
            KeyFile::load(&path, KeyKind::Validator),
            Err(KeyFileError::Mismatch { .. })
        ));
    }
}
