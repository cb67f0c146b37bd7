//! ed25519 keys and signatures with domain separation. Verification is always `verify_strict`, which rejects
//! small-order ("weak") keys, non-canonical points and malleable signatures.

use crate::bytes::fixed_bytes;
use crate::hash::tagged_message;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use std::fmt;

fixed_bytes!(
    /// An ed25519 public key (32 bytes, the RFC 8032 encoding).
    PublicKey,
    32,
    "public key"
);

fixed_bytes!(
    /// An ed25519 signature (64 bytes, R ‖ S).
    Signature,
    64,
    "signature"
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("public key {key}: not a valid, canonical ed25519 point encoding")]
    Malformed { key: PublicKey },
    #[error(
        "public key {key}: weak key (a point of small order), which proves nothing when it signs"
    )]
    Weak { key: PublicKey },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("signature does not verify under key {key} for domain {tag}")]
    Invalid { key: PublicKey, tag: &'static str },
}

impl PublicKey {
    /// Decodes the point and rejects weak keys. Used when a genesis is loaded and when a key is registered.
    pub fn validate(&self) -> Result<VerifyingKey, KeyError> {
        let vk =
            VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::Malformed { key: *self })?;
        // One point, one encoding: refuse y >= p, so that byte-wise duplicate checks are point-wise checks.
        if vk.to_edwards().compress().to_bytes() != self.0 {
            return Err(KeyError::Malformed { key: *self });
        }
        if vk.is_weak() {
            return Err(KeyError::Weak { key: *self });
        }
        Ok(vk)
    }

    /// Validates the key once, for a holder that verifies many signatures under it.
    pub fn to_checked(&self) -> Result<CheckedKey, KeyError> {
        Ok(CheckedKey {
            key: *self,
            point: self.validate()?,
        })
    }

    /// Verifies `signature` over `tag ‖ 0x00 ‖ bytes` with `verify_strict`.
    pub fn verify(
        &self,
        tag: &'static str,
        bytes: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        self.to_checked()?.verify(tag, bytes, signature)
    }
}

/// A public key that passed [`PublicKey::validate`], with its decoded point, so that verifying many signatures
/// under it does not decode and check the point each time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedKey {
    key: PublicKey,
    point: VerifyingKey,
}

impl CheckedKey {
    pub fn key(&self) -> PublicKey {
        self.key
    }

    /// Verifies `signature` over `tag ‖ 0x00 ‖ bytes` with `verify_strict`.
    pub fn verify(
        &self,
        tag: &'static str,
        bytes: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.point
            .verify_strict(&tagged_message(tag, bytes), &sig)
            .map_err(|_| SignatureError::Invalid { key: self.key, tag })
    }
}

/// A private ed25519 key. It never appears in `Debug` output and is wiped from memory on drop.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// Builds the key from its 32-byte seed (RFC 8032 private key).
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `tag ‖ 0x00 ‖ bytes`.
    pub fn sign(&self, tag: &'static str, bytes: &[u8]) -> Signature {
        Signature(self.0.sign(&tagged_message(tag, bytes)).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public {})", self.public_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::tag;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed([n; 32])
    }

    #[test]
    fn sign_and_verify_with_domain() {
        let k = key(1);
        let sig = k.sign(tag::TX, b"body");
        assert!(k.public_key().verify(tag::TX, b"body", &sig).is_ok());
        assert!(k.public_key().verify(tag::VOTE, b"body", &sig).is_err());
        assert!(k.public_key().verify(tag::TX, b"bodz", &sig).is_err());
        assert!(key(2).public_key().verify(tag::TX, b"body", &sig).is_err());
    }

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032 §7.1, TEST 1: the empty message.
        let seed = <[u8; 32]>::try_from(
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap(),
        )
        .unwrap();
        let k = SigningKey::from_bytes(&seed);
        assert_eq!(
            hex::encode(k.verifying_key().to_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(k.sign(b"").to_bytes()),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn weak_and_malformed_keys_are_rejected() {
        // The identity point (small order) encodes as 0x01 followed by zeros.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            PublicKey(identity).validate(),
            Err(KeyError::Weak { .. })
        ));
        // y = 2 is not on the curve.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert!(matches!(
            PublicKey(off_curve).validate(),
            Err(KeyError::Malformed { .. })
        ));
        assert!(key(3).public_key().validate().is_ok());
    }

    #[test]
    fn non_canonical_encodings_are_rejected() {
        // y = p + k for k < 19 still fits in 255 bits; each names the same point as y = k.
        for k in 0u8..19 {
            let mut bytes = [0xffu8; 32];
            bytes[31] = 0x7f;
            bytes[0] = 0xed + k; // p = 2^255 - 19 = 0x7fff...ffed, little-endian
            assert!(PublicKey(bytes).validate().is_err(), "y = p + {k}");
        }
    }
}
