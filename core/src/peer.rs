//! A member node's libp2p identity. The node key is ed25519 and is not the validator key.
//!
//! libp2p names an ed25519 key by its peer id: base58btc of the identity multihash
//! `0x00 0x24` of the protobuf public key `0x08 0x01 0x12 0x20 ‖ key`. This crate computes it without libp2p,
//! so that `core` stays free of networking; the node checks it against libp2p's own `PeerId` in its tests.

use crate::crypto::PublicKey;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

const PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

/// A node's ed25519 network key. Binary: the 32 key bytes. JSON: the libp2p peer id text (`12D3KooW...`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey(PublicKey);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid peer_id {value:?}: {rule}")]
pub struct PeerIdError {
    pub value: String,
    pub rule: &'static str,
}

impl PeerKey {
    pub fn from_key(key: PublicKey) -> PeerKey {
        PeerKey(key)
    }

    pub fn key(&self) -> PublicKey {
        self.0
    }

    /// The libp2p peer id text.
    pub fn to_peer_id(&self) -> String {
        let mut bytes = PREFIX.to_vec();
        bytes.extend_from_slice(self.0.as_bytes());
        bs58::encode(bytes).into_string()
    }

    pub fn parse(text: &str) -> Result<PeerKey, PeerIdError> {
        let err = |rule| PeerIdError {
            value: text.chars().take(64).collect(),
            rule,
        };
        if text.len() > 64 {
            return Err(err("too long for an ed25519 peer id"));
        }
        let bytes = bs58::decode(text)
            .into_vec()
            .map_err(|_| err("not base58btc"))?;
        if bytes.len() != PREFIX.len() + 32 || bytes[..PREFIX.len()] != PREFIX {
            return Err(err("not the identity multihash of an ed25519 public key"));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[PREFIX.len()..]);
        Ok(PeerKey(PublicKey(key)))
    }
}

impl fmt::Display for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_peer_id())
    }
}

impl fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerKey({})", self.to_peer_id())
    }
}

impl Serialize for PeerKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for PeerKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PeerKey, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            PeerKey::parse(&text).map_err(serde::de::Error::custom)
        } else {
            PublicKey::deserialize(d).map(PeerKey)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;

    #[test]
    fn peer_id_round_trip_and_shape() {
        let key = SecretKey::from_seed([9; 32]).public_key();
        let p = PeerKey::from_key(key);
        let text = p.to_peer_id();
        assert!(text.starts_with("12D3KooW"), "{text}");
        assert_eq!(PeerKey::parse(&text).unwrap(), p);
        assert!(PeerKey::parse("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N").is_err());
        assert!(PeerKey::parse("0OIl").is_err());
    }
}
