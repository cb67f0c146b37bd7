//! ed25519 keys and signatures with domain separation.
//!
//! One verification rule holds everywhere, for single signatures and batches alike (`docs/protocol.md` §3.4):
//! canonical, non-small-order `A` and `R`, canonical `S`, and the *cofactored* equation
//! `[8]([S]B − R − [k]A) = 0`. With the cofactored equation a batch accepts exactly the signatures that one by
//! one verification accepts (up to a 2^-128 chance over its coefficients), so every node reaches the same
//! verdict whichever way it checked. The cofactorless equation of `verify_strict` lacks that property: a
//! crafted `R` with a small-order component can pass or fail a batch depending on its random coefficients.

use crate::bytes::fixed_bytes;
use crate::hash::tagged_message;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha512};
use std::collections::HashMap;
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
        // One point, one encoding: refuse y >= p, so that byte-wise duplicate checks are point-wise checks.
        if !is_canonical_y(&self.0) {
            return Err(KeyError::Malformed { key: *self });
        }
        let vk =
            VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::Malformed { key: *self })?;
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
            point: self.validate()?.to_edwards(),
        })
    }

    /// Verifies `signature` over `tag ‖ 0x00 ‖ bytes` (see the module doc for the rule).
    pub fn verify(
        &self,
        tag: &'static str,
        bytes: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        self.to_checked()?.verify(tag, bytes, signature)
    }
}

/// Whether the low 255 bits, read little-endian, are below p = 2^255 − 19 (the canonical range of `y`).
fn is_canonical_y(bytes: &[u8; 32]) -> bool {
    let top_is_max = bytes[31] & 0x7f == 0x7f && bytes[1..31].iter().all(|b| *b == 0xff);
    !(top_is_max && bytes[0] >= 0xed)
}

/// A public key that passed [`PublicKey::validate`], with its decoded point, so that verifying many signatures
/// under it does not decode and check the point each time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedKey {
    key: PublicKey,
    point: EdwardsPoint,
}

impl CheckedKey {
    pub fn key(&self) -> PublicKey {
        self.key
    }

    /// Verifies `signature` over `tag ‖ 0x00 ‖ bytes` (see the module doc for the rule).
    pub fn verify(
        &self,
        tag: &'static str,
        bytes: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        let invalid = || SignatureError::Invalid { key: self.key, tag };
        let parts = Parts::parse(self, tag, bytes, signature).ok_or_else(invalid)?;
        // [8]([S]B − [k]A − R) = 0
        let sb_minus_ka =
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&parts.k, &-self.point, &parts.s);
        if (sb_minus_ka - parts.r).mul_by_cofactor().is_identity() {
            Ok(())
        } else {
            Err(invalid())
        }
    }
}

/// The decoded pieces of one signature: the checks that come before the equation.
struct Parts {
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

impl Parts {
    /// `R` canonical, on the curve and not of small order; `S` below the group order; `k = SHA-512(R ‖ A ‖ M)`.
    fn parse(key: &CheckedKey, tag: &str, bytes: &[u8], signature: &Signature) -> Option<Parts> {
        let mut r_bytes = [0u8; 32];
        r_bytes.copy_from_slice(&signature.0[..32]);
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(&signature.0[32..]);
        if !is_canonical_y(&r_bytes) {
            return None;
        }
        let r = CompressedEdwardsY(r_bytes).decompress()?;
        if r.is_small_order() {
            return None;
        }
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
        let digest = Sha512::new()
            .chain_update(r_bytes)
            .chain_update(key.key.0)
            .chain_update(tag.as_bytes())
            .chain_update([0u8])
            .chain_update(bytes)
            .finalize();
        let mut wide = [0u8; 64];
        wide.copy_from_slice(&digest);
        Some(Parts {
            r,
            s,
            k: Scalar::from_bytes_mod_order_wide(&wide),
        })
    }
}

/// One signature to check in a batch: `signature` by `key` over `tag ‖ 0x00 ‖ bytes`.
pub struct BatchItem<'a> {
    pub key: &'a CheckedKey,
    pub tag: &'static str,
    pub bytes: &'a [u8],
    pub signature: &'a Signature,
}

/// Domain of the hash that derives a batch's coefficients.
const BATCH_TAG: &str = "clearance/v1/ed25519-batch";

/// Verifies many signatures at once and returns each one's verdict, which is the verdict of
/// [`CheckedKey::verify`] for that signature.
///
/// All signatures are checked with one multi-scalar multiplication,
/// `[8]([Σ zᵢSᵢ]B − Σ zᵢRᵢ − Σ_A [Σ_{i: Aᵢ = A} zᵢkᵢ]A) = 0`, with 128-bit coefficients `zᵢ`. They are derived
/// by hashing every signature, key and `k` of the batch, so the check is reproducible and no signer can choose
/// its coefficient without changing it. When the batch fails, every signature is checked on its own, so a bad
/// one costs the batch its speed, never another signature its verdict.
pub fn verify_batch(items: &[BatchItem<'_>]) -> Vec<Result<(), SignatureError>> {
    let single = || {
        items
            .iter()
            .map(|i| i.key.verify(i.tag, i.bytes, i.signature))
            .collect()
    };
    if items.len() < 2 {
        return single();
    }
    let mut parts = Vec::with_capacity(items.len());
    for item in items {
        match Parts::parse(item.key, item.tag, item.bytes, item.signature) {
            Some(p) => parts.push(p),
            None => return single(),
        }
    }
    let mut seed = Sha512::new();
    seed.update(BATCH_TAG.as_bytes());
    seed.update([0u8]);
    for (item, p) in items.iter().zip(&parts) {
        seed.update(item.key.key.0);
        seed.update(item.signature.0);
        seed.update(p.k.as_bytes());
    }
    let seed = seed.finalize();

    let mut b_coefficient = Scalar::ZERO;
    let mut scalars = Vec::with_capacity(items.len() + 8);
    let mut points = Vec::with_capacity(items.len() + 8);
    // Signatures by one key share its term, so a block of few submitters costs little more than its R points.
    let mut key_terms: HashMap<PublicKey, (Scalar, EdwardsPoint)> = HashMap::new();
    for (i, (item, p)) in items.iter().zip(&parts).enumerate() {
        let z = coefficient(&seed, i as u64);
        b_coefficient += z * p.s;
        scalars.push(-z);
        points.push(p.r);
        let term = key_terms
            .entry(item.key.key)
            .or_insert((Scalar::ZERO, item.key.point));
        term.0 -= z * p.k;
    }
    for (scalar, point) in key_terms.into_values() {
        scalars.push(scalar);
        points.push(point);
    }
    scalars.push(b_coefficient);
    points.push(ED25519_BASEPOINT_POINT);
    let sum = EdwardsPoint::vartime_multiscalar_mul(&scalars, &points);
    if sum.mul_by_cofactor().is_identity() {
        vec![Ok(()); items.len()]
    } else {
        single()
    }
}

/// The `i`-th coefficient: the first 128 bits of `SHA-512(seed ‖ i)`, never zero.
fn coefficient(seed: &[u8], i: u64) -> Scalar {
    let digest = Sha512::new()
        .chain_update(seed)
        .chain_update(i.to_le_bytes())
        .finalize();
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(&digest[..16]);
    bytes[0] |= 1;
    Scalar::from_bytes_mod_order(bytes)
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
